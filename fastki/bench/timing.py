"""The timing rule shared by `python -m fastki bench` (fastki/bench/fills.py) and
`python -m fastki scale` (fastki/bench/scale.py). Both import it; neither imports the other.
Standard library and NumPy only, so it imports on every platform."""
import sys
import time

import numpy as np


def progress(msg):
    """A progress line on stderr (stdout carries the results)."""
    print(msg, file=sys.stderr, flush=True)


def median_seconds(fn, repeat, budget=None):
    """Median of repeat timed runs after one warm-up run (page faults, thread start, JIT).
    With a budget in seconds, slow functions get fewer runs (at least one)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    if budget is not None and first * repeat > budget:
        repeat = max(1, int(budget / first))
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))
