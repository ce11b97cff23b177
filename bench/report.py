"""The benchmark's results as a table and against its targets, printed by bench/run.py for the
maintainers (the Performance page makes its own: docs/production/benchmark.py).

The targets are what the production recipes set out to reach; they are stated here, beside the
code that checks them, because a reader of the repository has no issue tracker to look them up in.
"""

#: A recipe's store on PostgreSQL or Redis costs, in-process, at most this many times the same app on
#: MemoryStore with each request followed by its floor (the same statements or commands with the same
#: client, no web.py), timed together.
FLOOR_AIM = 1.25



def above_floor(results, floor):
    """Per number of sessions: (store µs, floor µs, the app on MemoryStore then the floor µs, store / that)."""
    by_name = {result["name"]: result for result in results}
    rows = []
    for store, alone in zip(by_name[floor["store"]]["in_process"], floor["in_process"]):
        assert store["sessions"] == alone["sessions"]
        costs = store["us_per_request"], alone["us_changed"], alone["us_memory_store_then_floor"]
        rows.append((*costs, alone["ratio_to_memory_store_then_floor"]))  # measured in turn: see measure.py
    return rows


def targets(results, floors):
    """The targets, each with what was measured: (text, met)."""
    by_name = {result["name"]: result for result in results}
    smallest = lambda name: by_name[name]["in_process"][0]  # noqa: E731
    lines = []
    speedup = smallest("DBStore, PostgreSQL")["us_per_request"] / smallest("postgres recipe")["us_per_request"]
    lines.append((f"postgres recipe at least 10x cheaper in-process than DBStore on PostgreSQL: {speedup:.1f}x", speedup >= 10))
    for name, floor in [("postgres recipe", 0.6), ("redis recipe", 0.65)]:
        ratio = by_name[name]["ratio"]
        lines.append((f"{name} at least {floor} of the no-session requests/s: {ratio:.2f}", ratio >= floor))
    for name in ["postgres recipe", "redis recipe"]:
        changed, unchanged = smallest(name)["calls_changed"], smallest(name)["calls_unchanged"]
        lines.append((f"{name}: at most 2 store calls per changed request ({changed}) and 1 per unchanged ({unchanged})",
                      changed <= 2 and unchanged <= 1))
        first, last = by_name[name]["in_process"][0], by_name[name]["in_process"][-1]
        growth = last["us_per_request"] / first["us_per_request"] - 1
        lines.append((f"{name}: per-request cost from {first['sessions']:,} to {last['sessions']:,} stored sessions "
                      f"grows by at most 10%: {growth:+.0%}", growth <= 0.10))
    for name, result in by_name.items():  # what the rewritten stores keep at least: their recipe before it
        if "before" in result:
            commit, ratios = result["before"]["commit"], [size["before"]["ratio_to_before"] for size in result["in_process"]]
            lines.append((f"{name} kept: in-process, at most the µs of the same app on the store it had at {commit} "
                          f"(before the rewrite), timed in turn, at every number of sessions: "
                          f"{' / '.join(f'{r:.2f}' for r in ratios)}", max(ratios) <= 1))
            share = result["before"]["http_ratio"]
            lines.append((f"{name} kept: over HTTP, at least the requests/s of the same app on the store it had at "
                          f"{commit}, measured right after it, median of {len(result['before']['http_pairs'])} pairs: "
                          f"{share:.2f}", share >= 1))
    for floor in floors:
        ratios = [row[-1] for row in above_floor(results, floor)]
        lines.append((f"{floor['store']} within {FLOOR_AIM}x of its app on MemoryStore then its floor, in-process, "
                      f"at every number of sessions: {' / '.join(f'{ratio:.2f}' for ratio in ratios)}",
                      max(ratios) <= FLOOR_AIM))
    return lines


def floor_table(results, floors):
    """Each store on PostgreSQL or Redis against its floor and its app on MemoryStore then the floor, µs
    per request in-process."""
    header = ("store", "sessions", "store µs", "floor µs chg/unchg", "MemoryStore then floor µs", "added µs (in turn)",
              f"store / (MemoryStore then floor), aim {FLOOR_AIM}")
    rows = [header]
    for floor in floors:
        for (store, alone, together, ratio), size in zip(above_floor(results, floor), floor["in_process"]):
            rows.append((floor["store"], f"{size['sessions']:,}", f"{store:.0f}", f"{alone:.0f}/{size['us_unchanged']:.0f}",
                         f"{together:.0f}", f"{together * (ratio - 1):+.0f}", f"{ratio:.2f}"))
    return aligned(rows)


def table(results, sizes):
    header = ("store", "µs/req", "req/s", "ratio", "p99 ms", "calls chg/unchg/new",
              *(f"µs @{size // 1000}k" for size in sizes), f"cleanup ms @{sizes[-1] // 1000}k")
    rows = [header]
    for result in results:
        first, http = result["in_process"][0], result["http"]
        calls = "-" if not result["calls"] else (
            f"{first['calls_changed']}/{first['calls_unchanged']}/{first['calls_new_visitor']} {result['calls']}")
        rows.append((result["name"], f"{first['us_per_request']:.0f}", f"{http['requests_per_second']:.0f}",
                     f"{result['ratio']:.2f}", f"{http['p99_ms']:.1f}", calls,
                     *(f"{size['us_per_request']:.0f}" for size in result["in_process"]),
                     f"{result['in_process'][-1]['cleanup_ms']:.0f}"))
    return aligned(rows)


def aligned(rows):
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows)
