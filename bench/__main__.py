"""`make bench`: every benchmark, printed as one table.

Each part's rows are also printed as soon as it finishes, and a part that crashes is a MISSED
row with its error, so a long run never loses what it measured before.
`python -m bench PART ...` (e.g. `python -m bench pi_budget`) runs only those parts."""

import importlib
import sys
import time
import traceback

MODULES = ["bench.device_bench", "bench.oled_traffic", "bench.log_bench", "bench.sync_bench",
           "bench.hostile_device", "bench.crash_drill", "bench.toml_fuzz", "bench.year_drill",
           "bench.pi_budget"]


def run_part(name: str) -> list[dict]:
    started = time.perf_counter()
    print(f"running {name} ...", file=sys.stderr, flush=True)
    try:
        rows = importlib.import_module(name).run()
    except Exception as error:   # one broken part must not cost the others' figures
        traceback.print_exc()
        rows = [{"name": f"{name} crashed", "value": type(error).__name__, "target": "runs", "ok": False}]
    for row in rows:
        print(f"  {row['name']}: {row['value']} (target {row['target']})", file=sys.stderr)
    print(f"  {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return rows


def main(parts: list[str]) -> int:
    names = [f"bench.{part}" for part in parts] or MODULES
    unknown = [part for part in parts if f"bench.{part}" not in MODULES]
    if unknown:
        print(f"no such part: {', '.join(unknown)}; the parts are {', '.join(m[6:] for m in MODULES)}",
              file=sys.stderr)
        return 2
    rows = [row for name in names for row in run_part(name)]
    width = max(len(r["name"]) for r in rows)
    vwidth = max(len(str(r["value"])) for r in rows)
    print(f"{'benchmark':<{width}}  {'measured':<{vwidth}}  {'target':<14} result")
    print("-" * (width + vwidth + 30))
    for r in rows:
        print(f"{r['name']:<{width}}  {str(r['value']):<{vwidth}}  {r['target']:<14} {'ok' if r['ok'] else 'MISSED'}")
    return 1 if any(not r["ok"] for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
