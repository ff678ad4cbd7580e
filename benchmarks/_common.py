"""What the benchmark modules share: the parameter grid, the timing settings (Timed), and the
feature checks that turn "this commit of fastki lacks that" into asv's skip
(NotImplementedError in setup)."""
import inspect
import os

DISTRIBUTIONS = ("uniform", "normal", "truncated_normal")
DTYPES = ("float32", "float64")
SIZES = (2**12, 2**20, 2**24)
THREADS = (1, 2)
SEED = 20240607


class Timed:
    """asv's timing settings for every benchmark class here (each inherits them).

    Chosen so that two runs of the same code on a shared 2-core machine report no change
    (docs/benchmarks.md, "Comparing two commits"; checked by ci/asv_noise.sh):
    - rounds: each benchmark is timed in 4 separate rounds (fresh processes), so that a
      neighbour's burst lands in one round, not in every sample; with
      `asv continuous --interleave-rounds` the rounds alternate between the two commits;
    - repeat (min, max, seconds): 6 to 12 samples per round, 20 to 48 in all, enough for
      asv's test of whether two results differ;
    - warmup_time: half a second of untimed calls first (page faults, the OpenMP pool);
    - min_run_count: at least 6 samples per round even for a slow benchmark;
    - sample_time: each sample at least 20 ms, so a 1-element call is timed over thousands
      of calls, not one (the timer's resolution and one interrupt would dominate).
    """
    rounds = 4
    repeat = (6, 12, 8.0)
    warmup_time = 0.5
    min_run_count = 6
    sample_time = 0.02


def fastki_or_skip():
    try:
        import fastki
    except ImportError as exc:  # not installed in this environment
        raise NotImplementedError(f"fastki is not importable: {exc}") from None
    # Timing the NumPy fallback under fastki's name would be a silent lie: an extension
    # that did not load is a failure, unless the NumPy backend was asked for.
    info = fastki.info() if hasattr(fastki, "info") else {}
    if info.get("backend", "native") != "native" and os.environ.get("FASTKI_BACKEND") != "numpy":
        raise RuntimeError(f"fastki's compiled extension did not load ({fastki.__file__}): "
                           f"info() = {info}")
    return fastki


def fill_or_skip(fastki, dist, *keywords):
    """fastki.<dist>, if this commit has it and it accepts the given keywords."""
    fn = getattr(fastki, dist, None)
    if fn is None:
        raise NotImplementedError(f"this fastki has no {dist}")
    try:
        accepted = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature: assume the keywords
        return fn
    missing = [k for k in keywords if k not in accepted]
    if missing:
        raise NotImplementedError(f"this fastki's {dist} lacks {', '.join(missing)}")
    return fn


def threads_or_skip(fastki, threads):
    """A context manager fixing fastki's thread count, or skip where the commit cannot."""
    options = getattr(fastki, "options", None)
    if options is None:
        if threads == 1:
            raise NotImplementedError("this fastki has no options(num_threads=)")
        raise NotImplementedError("this fastki cannot set its thread count")
    info = fastki.info() if hasattr(fastki, "info") else {}
    if threads > 1 and not info.get("openmp", False):
        raise NotImplementedError("this fastki was built without OpenMP")
    return options(num_threads=threads)
