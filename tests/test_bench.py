"""The Performance page shows a run of today's benchmark on today's code."""
import ast
import json

from harness import REPO
from harness.catalogue import VARIANTS
from harness.digest import code_digest, recipe_digest

RESULTS = json.loads((REPO / "bench" / "results.json").read_text(encoding="utf-8"))


def assigned(script, name):
    """The value given to `name` in one of bench/'s scripts, read from its source (bench/ holds scripts,
    not a package)."""
    for node in ast.parse((REPO / "bench" / script).read_text()).body:
        if isinstance(node, ast.Assign) and [target.id for target in node.targets] == [name]:
            return node.value
    raise AssertionError(f"bench/{script} has no {name}")


def stock_cases():
    """The names of bench/run.py's STOCK_CASES."""
    return [ast.literal_eval(key) for key in assigned("run.py", "STOCK_CASES").keys]


def test_the_results_cover_every_case_of_the_benchmark():
    """Each of web.py's stores on bench/stock.py, and each variant the catalogue benchmarks, on its recipe."""
    measured = [(result["name"], result["app"]["path"]) for result in RESULTS["results"]]
    cases = [(name, "bench/stock.py") for name in stock_cases()] + [
        (variant.bench, variant.recipe.app.relative_to(REPO).as_posix()) for variant in VARIANTS.values() if variant.bench]
    assert sorted(measured) == sorted(cases)


def test_the_results_were_measured_on_the_code_as_it_is():
    """A recipe changed since `make bench` ran: run it again (the page's figures would be stale)."""
    stale = [result["name"] for result in RESULTS["results"]
             if recipe_digest(REPO / result["app"]["path"]) != result["app"]["code_sha256"]]
    assert stale == []


def test_a_reworded_comment_or_new_layout_leaves_the_code_digest_as_it_is():
    source = "x = 1  # one\n\ndef total(a, b):\n    return a + b\n"
    assert code_digest(source) == code_digest("# Two lines.\nx = 1\n\n\ndef total(a,\n          b):\n    return a + b  # the sum\n")
    assert code_digest(source) != code_digest(source.replace("a + b", "b + a"))


def test_a_change_in_a_module_beside_the_app_changes_the_recipes_digest(tmp_path):
    (tmp_path / "app.py").write_text("from store import Store\n")
    (tmp_path / "store.py").write_text("class Store:\n    size = 1\n")
    before = recipe_digest(tmp_path / "app.py")
    (tmp_path / "store.py").write_text("class Store:  # reworded\n    size = 1\n")
    assert recipe_digest(tmp_path / "app.py") == before
    (tmp_path / "store.py").write_text("class Store:\n    size = 2\n")
    assert recipe_digest(tmp_path / "app.py") != before


def by_name():
    return {result["name"]: result for result in RESULTS["results"]}


def test_what_the_performance_page_says_in_words_holds_in_the_results():
    """The page computes its figures from bench/results.json; the words around them must hold too:
    a session costs requests/s on every store, the recipes serve more of them than DBStore on the
    same PostgreSQL server ("take a recipe's store rather than DBStore"), and the cleanups that cost
    the most with the most sessions stored cost more than with the fewest ("what grows")."""
    results = by_name()
    assert all(result["ratio"] < 1 for name, result in results.items() if name != "no session")
    dbstore = results["DBStore, PostgreSQL"]["http"]["requests_per_second"]
    assert all(results[name]["http"]["requests_per_second"] > dbstore for name in ["postgres recipe", "redis recipe"])
    cleanups = sorted((result["in_process"] for result in results.values()), key=lambda sizes: sizes[-1]["cleanup_ms"])
    assert all(sizes[-1]["cleanup_ms"] > sizes[0]["cleanup_ms"] for sizes in cleanups[-2:])


def test_each_store_on_postgresql_or_redis_has_its_floor():
    """bench/measure.py sends again what the store sent for a changed and an unchanged request: the floor
    row of each recipe benchmarked on PostgreSQL or Redis has as many statements or commands, measured at
    the same numbers of sessions, against the aim that bench/report.py states."""
    results = by_name()
    benchmarked = [variant.bench for variant in VARIANTS.values()
                   if variant.bench and {"postgres", "redis"} & set(variant.recipe.services)]
    floors = {floor["store"]: floor for floor in RESULTS["floors"]}
    assert sorted(floors) == sorted(benchmarked)
    for name, floor in floors.items():
        assert [size["sessions"] for size in floor["in_process"]] == RESULTS["sizes"]
        store = results[name]["in_process"][0]
        assert (len(floor["changed"]), len(floor["unchanged"])) == (store["calls_changed"], store["calls_unchanged"])
    assert RESULTS["floor_aim"] == ast.literal_eval(assigned("report.py", "FLOOR_AIM"))
