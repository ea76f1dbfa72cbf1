"""The switch interval's figures (device/base/gil.py): a thread waking every 10 ms (the loop's
cue) beside one that never lets go of the interpreter (a render, a sync batch). How late does it
wake at each interval, and does the busy thread lose throughput for it?

    python -m bench.pi_gil          # one process per interval; a few seconds each
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

INTERVALS = (0.005, 0.002, 0.001, 0.0005, 0.0002)
SECONDS = 6.0


def probe(interval: float, busy_threads: int) -> dict:
    sys.setswitchinterval(interval)
    stopping, work = threading.Event(), []

    def busy() -> None:
        n = 0
        while not stopping.is_set():
            n += 1
        work.append(n)

    threads = [threading.Thread(target=busy) for _ in range(busy_threads)]
    for thread in threads:
        thread.start()
    late, end = [], time.perf_counter() + SECONDS
    while time.perf_counter() < end:
        due = time.perf_counter() + 0.01
        time.sleep(0.01)
        late.append((time.perf_counter() - due) * 1000)
    stopping.set()
    for thread in threads:
        thread.join()
    late.sort()
    return {"interval_ms": interval * 1000, "busy_threads": busy_threads,
            "late_p50_ms": round(late[len(late) // 2], 2), "late_p90_ms": round(late[int(.9 * (len(late) - 1))], 2),
            "busy_loops_per_s": round(sum(work) / SECONDS)}


def main() -> None:
    if len(sys.argv) == 3:
        print(json.dumps(probe(float(sys.argv[1]), int(sys.argv[2]))))
        return
    for busy_threads in (0, 1):
        for interval in INTERVALS:
            subprocess.run([sys.executable, "-m", "bench.pi_gil", str(interval), str(busy_threads)], check=True)


if __name__ == "__main__":
    main()
