"""`make bench`: every benchmark, printed as one table."""

import importlib
import sys
import time

MODULES = ["bench.device_bench", "bench.oled_traffic", "bench.log_bench", "bench.sync_bench",
           "bench.hostile_device", "bench.crash_drill", "bench.toml_fuzz", "bench.year_drill"]


def main() -> int:
    rows, failed = [], 0
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
            continue
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        rows += module.run()
        print(f"  {time.perf_counter() - started:.1f} s", file=sys.stderr)
    width = max(len(r["name"]) for r in rows)
    vwidth = max(len(str(r["value"])) for r in rows)
    print(f"{'benchmark':<{width}}  {'measured':<{vwidth}}  {'target':<14} result")
    print("-" * (width + vwidth + 30))
    for r in rows:
        failed += not r["ok"]
        print(f"{r['name']:<{width}}  {str(r['value']):<{vwidth}}  {r['target']:<14} {'ok' if r['ok'] else 'MISSED'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
