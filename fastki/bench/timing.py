"""The timing rule shared by `python -m fastki bench` (fastki/bench/fills.py, busy.py) and
`python -m fastki scale` (fastki/bench/scale.py). They import it; none imports another.
Standard library and NumPy only, so it imports on every platform."""
import statistics
import sys
import timeit
from typing import Callable, Optional


def progress(msg: str) -> None:
    """A progress line on stderr (stdout carries the results)."""
    print(msg, file=sys.stderr, flush=True)


def median_seconds(fn: Callable[[], object], repeat: int,
                   budget: Optional[float] = None) -> float:
    """Median seconds of one call of fn over `repeat` timed calls, after one untimed warm-up
    call (page faults, thread start, JIT). With a budget in seconds, a slow fn gets fewer
    timed calls (at least one) so that the whole measurement stays near the budget.

    timeit does the timing (its clock, and the garbage collector off while it times)."""
    timer = timeit.Timer(fn)
    first = timer.timeit(number=1)
    if budget is not None and first * repeat > budget:
        repeat = max(1, int(budget / first))
    return float(statistics.median(timer.repeat(repeat=repeat, number=1)))
