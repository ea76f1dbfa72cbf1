"""`make bench`: every benchmark, printed as one table.

Each part's rows are also printed as soon as it finishes, and a part that crashes is a MISSED
row with its error, so a long run never loses what it measured before.
`python -m bench PART ...` (e.g. `python -m bench pi_budget`) runs only those parts."""

import sys
import time
import traceback

from bench import (app_bench, crash_drill, device_bench, hostile_device, log_bench, oled_traffic, owner_bench,
                   pi_budget, sync_bench, sync_isolation, toml_fuzz, year_drill)

PARTS = [device_bench, oled_traffic, log_bench, sync_bench, sync_isolation, hostile_device, owner_bench, app_bench,
         crash_drill, toml_fuzz, year_drill, pi_budget]


def run_part(part) -> list[dict]:
    name = part.__name__
    started = time.perf_counter()
    print(f"running {name} ...", file=sys.stderr, flush=True)
    try:
        rows = part.run()
    except Exception as error:   # one broken part must not cost the others' figures
        traceback.print_exc()
        rows = [{"name": f"{name} crashed", "value": type(error).__name__, "target": "runs", "ok": False}]
    for row in rows:
        print(f"  {row['name']}: {row['value']} (target {row['target']})", file=sys.stderr)
    print(f"  {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return rows


def main(names: list[str]) -> int:
    by_name = {part.__name__.removeprefix("bench."): part for part in PARTS}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        print(f"no such part: {', '.join(unknown)}; the parts are {', '.join(by_name)}", file=sys.stderr)
        return 2
    rows = [row for part in ([by_name[name] for name in names] or PARTS) for row in run_part(part)]
    width = max(len(r["name"]) for r in rows)
    vwidth = max(len(str(r["value"])) for r in rows)
    print(f"{'benchmark':<{width}}  {'measured':<{vwidth}}  {'target':<14} result")
    print("-" * (width + vwidth + 30))
    for r in rows:
        print(f"{r['name']:<{width}}  {str(r['value']):<{vwidth}}  {r['target']:<14} {'ok' if r['ok'] else 'MISSED'}")
    return 1 if any(not r["ok"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
