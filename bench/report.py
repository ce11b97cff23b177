"""The benchmark's results as a table and against its targets, printed by bench/run.py for the
maintainers (the Performance page makes its own: docs/production/benchmark.py).

The targets are what the production recipes set out to reach; they are stated here, beside the
code that checks them, because a reader of the repository has no issue tracker to look them up in.
"""


def targets(results):
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
                      f"within 10%: {growth:+.0%}", growth <= 0.10))
    return lines


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
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows)
