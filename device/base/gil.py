"""How long one thread may keep Python's interpreter lock while another waits for it.

CPython's default is 5 ms: while the display thread renders (12-35 ms of a Pi's CPU) or the sync
builds a batch, a cue or a click due on the loop thread waits up to 5 ms for the lock, the whole
of pacing's p99 budget (issue 12); with the interval at 0.5 ms it waits at most about that.
Measured with `python -m bench.pi_gil` on a 2-core machine at load 7 (noisy: a repeat at 0.5 ms
gave 6.0), a thread waking every 10 ms beside one that never lets go woke a median 13.1, 10.0,
5.6, 1.3 and 2.0 ms late at 5, 2, 1, 0.5 and 0.2 ms (0.1 ms alone), the busy thread's
throughput not lowered. Below 0.5 ms nothing more is gained; a forced hand-over (tens of
microseconds on a Pi) happens only while two threads both want to run, so idle costs nothing.
"""

import os
import sys
import threading

SWITCH_INTERVAL = 0.0005
# A worker thread's nice value above the loop's (Linux gives each thread its own): when the CPU is
# scarce (a Pi's core; the bench's quota) and the loop wakes for a cue beside a render or a log
# read, the scheduler gives it the CPU first (weight 1024 against 110 at +10).
BACKGROUND_NICE = 10


def share_the_interpreter_quickly() -> None:
    """For the firmware's and the sync's processes, before their threads start."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def in_the_background() -> None:
    """Lower the calling thread's priority (a display or log worker: never the loop's)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE))
    except (OSError, AttributeError):   # not Linux: threads share the process's priority
        pass
