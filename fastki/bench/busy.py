"""`python -m fastki bench --busy`: threads on a machine that is doing other things.

1. The thread-scaling line (normal float32, --size elements, 1 vs 2 threads, medians) on the
   machine as it is, then again while a child process of this run keeps one core busy (a plain
   Python loop at normal priority, ended by its process id when the measurement ends, on
   Ctrl-C and on SIGTERM; it also stops by itself once this process is gone).
2. The loaded table (docs/benchmarks.md, "Threads on a loaded machine"): normal float32 into
   existing memory, --loaded-sizes elements (2**20, 2**24), with --loaded-busy processes
   (0, 2, 5) each running `while True: pass`, the default fill against one thread, one fill
   of each kind per round in a shuffled order; the mean (what a program waits for, stalls included) and the
   median time per fill.
3. The Dask threaded-scheduler line: a normal float32 Dask array (--dask-bytes, default 2 GiB,
   in --dask-chunk-bytes chunks, default 64 MiB) written by `da.store` into a preallocated
   NumPy array, each setting in a fresh child process: fastki's defaults and OMP_NUM_THREADS=1.
4. With --splits: every piece size, streaming and load-signal setting timed 1 vs 2 threads quiet and busy,
   each setting in a child process of its own (the settings are read once per process).

Timings use fastki/bench/timing.py's rule (median after a warm-up run). Nothing here is asserted:
the figures are printed (and returned in --json) for a person to judge on a quiet machine."""
import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from typing import Optional

from .options import counts_from_zero, whole_number, whole_numbers
from .timing import median_seconds
from .timing import progress as _progress

# The busy loop. It checks now and then that the bench is still its parent, so that it cannot
# outlive a bench killed with SIGKILL; between checks it is `while True: pass`.
SPINNER = (
    "import os, sys\n"
    "parent = os.getppid()\n"
    "sys.stdout.write('spinning\\n'); sys.stdout.flush()\n"
    "i = 0\n"
    "while True:\n"
    "    i += 1\n"
    "    if not i & 0xFFFFF and os.getppid() != parent:\n"
    "        break\n"
)

# Each split setting: a label and the environment it runs with.
SPLITS = (
    ("default (pieces of up to 256 groups)", {}),
    ("pieces of up to 16 groups", {"FASTKI_CHUNK_GROUPS": "16"}),
    ("pieces of up to 64 groups", {"FASTKI_CHUNK_GROUPS": "64"}),
    ("pieces of up to 1024 groups", {"FASTKI_CHUNK_GROUPS": "1024"}),
    ("pieces of up to 4096 groups", {"FASTKI_CHUNK_GROUPS": "4096"}),
    ("default, streaming stores on", {"FASTKI_STREAMING": "on"}),
    ("default, streaming stores off", {"FASTKI_STREAMING": "off"}),
    ("default, load signal off", {"FASTKI_LOAD_SIGNAL": "off"}),
)
# The variables a setting may set: removed from every child's environment first, so that each
# row runs with exactly what it names.
_SPLIT_VARS = ("FASTKI_CHUNK_GROUPS", "FASTKI_STREAMING", "FASTKI_LOAD_SIGNAL")

SCALING_CHILD = """
import json, sys
import numpy as np
import fastki
from fastki.bench.timing import median_seconds
n, repeat, threads = {n}, {repeat}, {threads}
out = np.empty(n, np.float32)
with fastki.options(num_threads=1):
    one = median_seconds(lambda: fastki.normal(n, seed=1, out=out), repeat)
with fastki.options(num_threads=threads):
    many = median_seconds(lambda: fastki.normal(n, seed=1, out=out), repeat)
json.dump({{"one": one, "many": many, "settings": fastki._native.thread_settings()}}, sys.stdout)
"""

DASK_CHILD = """
import json, sys
import numpy as np
import dask.array as da
import fastki
import fastki.dask
from fastki.bench.timing import median_seconds
n, chunk, repeat = {n}, {chunk}, {repeat}
target = np.empty(n, np.float32)
lazy = fastki.dask.normal((n,), seed=1, chunks=(chunk,))
seconds = median_seconds(lambda: da.store(lazy, target, lock=False, scheduler="threads"), repeat)
ok = target[:1000].tobytes() == fastki.normal(n, seed=1, block=(slice(0, 1000),)).tobytes()
json.dump({{"seconds": seconds, "first_chunk_ok": ok,
           "max_threads": fastki._native.max_threads()}}, sys.stdout)
"""

DASK_SETTINGS = (
    ("default", {}),
    ("OMP_NUM_THREADS=1", {"OMP_NUM_THREADS": "1"}),
)


# --dask-bytes and --dask-chunk-bytes when not given
DASK_BYTES = 2 << 30
DASK_CHUNK_BYTES = 64 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--busy", action="store_true",
                        help="also time 1 vs 2 threads with one core kept busy by a child "
                             "process, the loaded table, and a Dask threaded-scheduler write")
    parser.add_argument("--only-busy", action="store_true",
                        help="with --busy: skip the fill table and the other checks")
    parser.add_argument("--splits", action="store_true",
                        help="with --busy: time every split setting quiet and busy "
                             "(docs/benchmarks.md, 'Threads on a busy machine')")
    parser.add_argument("--thread-counts", type=whole_numbers, default=None, metavar="N,N,...",
                        help="with --busy: also time normal float32 --size elements with each "
                             "of these thread counts, and check every SIMD path's bytes with "
                             "the largest count against 1 thread (e.g. 1,2,4,8,16)")
    parser.add_argument("--loaded-busy", type=counts_from_zero, default=None, metavar="N,N,...",
                        help="with --busy: busy processes of each row of the loaded table "
                             f"(default {','.join(map(str, LOADED_BUSY))})")
    parser.add_argument("--loaded-sizes", type=whole_numbers, default=None, metavar="N,N,...",
                        help="with --busy: elements per fill in the loaded table "
                             f"(default {','.join(map(str, LOADED_SIZES))})")
    parser.add_argument("--loaded-fills", type=whole_number, default=None, metavar="N",
                        help="with --busy: fills of each kind per row of the loaded table "
                             "(default: 2**28 / elements, from 10 to 200)")
    parser.add_argument("--dask-bytes", type=whole_number, default=None, metavar="BYTES",
                        help=f"with --busy: bytes of the Dask array (default {DASK_BYTES})")
    parser.add_argument("--dask-chunk-bytes", type=whole_number, default=None, metavar="BYTES",
                        help=f"with --busy: bytes per Dask chunk (default {DASK_CHUNK_BYTES})")


LOADED_BUSY = (0, 2, 5)
LOADED_SIZES = (1 << 20, 1 << 24)


def flag_missing_busy(args: argparse.Namespace) -> Optional[str]:
    """The first option given that only --busy uses, when --busy is not given; else None."""
    if args.busy:
        return None
    for flag, given in (("--only-busy", args.only_busy), ("--splits", args.splits),
                        ("--thread-counts", args.thread_counts is not None),
                        ("--loaded-busy", args.loaded_busy is not None),
                        ("--loaded-sizes", args.loaded_sizes is not None),
                        ("--loaded-fills", args.loaded_fills is not None),
                        ("--dask-bytes", args.dask_bytes is not None),
                        ("--dask-chunk-bytes", args.dask_chunk_bytes is not None)):
        if given:
            return flag
    return None


@contextlib.contextmanager
def busy_core():
    """One core kept busy by a child process for the duration; yields its process id."""
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER], stdout=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
    installed, previous = False, None
    if threading.current_thread() is threading.main_thread():
        def on_term(signum, frame):
            raise SystemExit(128 + signum)
        previous, installed = signal.signal(signal.SIGTERM, on_term), True
    try:
        if spinner.stdout.readline() != b"spinning\n":
            raise RuntimeError("the busy-core child process did not start")
        _progress(f"  one core kept busy by process {spinner.pid}")
        yield spinner.pid
    finally:
        spinner.kill()  # by its process id; it is our own child, so the id is still ours
        spinner.wait()
        spinner.stdout.close()
        _progress(f"  process {spinner.pid} ended")
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


@contextlib.contextmanager
def busy_processes(count):
    """count busy_core() children at once, for the duration; yields their process ids."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(busy_core()) for _ in range(count)]


def loaded_table(sizes, busy_counts, fills=None):
    """The loaded table: per (busy processes, elements), the default fill and one-thread
    fills of normal float32 into existing memory taken in turn; mean and median seconds."""
    import random
    import statistics
    import time

    import numpy as np

    import fastki

    rows = []
    for busy in busy_counts:
        with busy_processes(busy):
            for n in sizes:
                out = np.empty(n, np.float32)
                count = fills or max(10, min(200, (1 << 28) // n))
                _progress(f"  loaded: {busy} busy processes, {n} elements, {count} fills each ...")
                times = {"default": [], "one thread": []}
                fastki.normal(n, seed=1, out=out)  # warm-up: pages, helpers
                order = random.Random(n + busy)  # each round in a shuffled order: no aliasing
                for _ in range(count):      # with the scheduler's time slices
                    for kind in order.sample(list(times), 2):
                        with fastki.options(num_threads=1 if kind == "one thread" else None):
                            start = time.perf_counter()
                            fastki.normal(n, seed=1, out=out)
                            times[kind].append(time.perf_counter() - start)
                row = {"busy": busy, "elements": n, "fills": count}
                for kind, t in times.items():
                    row[kind] = {"mean_s": statistics.fmean(t), "median_s": statistics.median(t)}
                row["default_vs_one_mean"] = row["default"]["mean_s"] / row["one thread"]["mean_s"]
                row["default_vs_one_median"] = (row["default"]["median_s"]
                                                / row["one thread"]["median_s"])
                rows.append(row)
                print(_loaded_line(row), flush=True)
    print("loaded: normal float32 into existing memory, ns per element per fill, "
          "mean / median", flush=True)
    print("| busy processes | elements | default | one thread | default / one thread (mean) |",
          flush=True)
    print("| --- | --- | --- | --- | --- |", flush=True)
    for row in rows:
        n = row["elements"]
        size = f"2**{n.bit_length() - 1}" if n & (n - 1) == 0 else str(n)
        print(f"| {row['busy']} | {size} | {_ns(row, 'default')} | {_ns(row, 'one thread')} | "
              f"{row['default_vs_one_mean']:.2f} |", flush=True)
    return rows


def _ns(row, kind):
    n = row["elements"]
    return f"{row[kind]['mean_s'] * 1e9 / n:.2f} / {row[kind]['median_s'] * 1e9 / n:.2f}"


def _loaded_line(row):
    return (f"loaded: {row['busy']} busy processes, {row['elements']} elements, {row['fills']} "
            f"fills each: default {_ns(row, 'default')} ns/el, one thread "
            f"{_ns(row, 'one thread')} ns/el (mean / median); default / one thread: mean "
            f"{row['default_vs_one_mean']:.2f}, median {row['default_vs_one_median']:.2f}")


def _child_env(setting):
    env = {k: v for k, v in os.environ.items() if k not in _SPLIT_VARS}
    env.update(setting)
    return env


def _child(code, setting):
    proc = subprocess.run([sys.executable, "-c", code], env=_child_env(setting),
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"child with {setting} failed:\n{proc.stderr}")
    return json.loads(proc.stdout)


def scaling(n, repeat, threads):
    """(one-thread seconds, many-thread seconds): normal float32 of n elements, in this process."""
    import numpy as np

    import fastki

    out = np.empty(n, np.float32)
    with fastki.options(num_threads=1):
        one = median_seconds(lambda: fastki.normal(n, seed=1, out=out), repeat)
    with fastki.options(num_threads=threads):
        many = median_seconds(lambda: fastki.normal(n, seed=1, out=out), repeat)
    return one, many


def thread_table(n, counts, repeat):
    """ns per element of normal float32 with each thread count, then every SIMD path's bytes
    with the largest count against its own 1-thread fill and against the first path's."""
    import numpy as np

    import fastki

    out = np.empty(n, np.float32)
    rows, first = [], None
    for t in counts:
        _progress(f"  threads: {t} ...")
        with fastki.options(num_threads=t):
            s = median_seconds(lambda: fastki.normal(n, seed=1, out=out), repeat)
        first = s if first is None else first
        rows.append({"threads": t, "ns_per_element": s * 1e9 / n, "speedup": first / s})
        print(f"threads: normal float32 {n} elements, {t} threads: {s * 1e9 / n:.3f} ns/el, "
              f"{first / s:.2f}x {counts[0]} thread(s)", flush=True)
    most = max(counts)
    paths = fastki.info()["simd_available"]
    ref = np.empty(n, np.float32)
    with fastki.options(simd=paths[0], num_threads=1):
        fastki.normal(n, seed=1, out=ref)
    equal = True
    for simd in paths:
        for t in sorted({1, most}):
            _progress(f"  bits: {simd}, {t} threads ...")
            with fastki.options(simd=simd, num_threads=t):
                fastki.normal(n, seed=1, out=out)
            equal = equal and out.tobytes() == ref.tobytes()
    print(f"threads: bits equal across SIMD paths {', '.join(paths)} x threads 1 and {most} "
          f"({n} elements): {'yes' if equal else 'NO'}", flush=True)
    return {"rows": rows, "bits_equal": equal, "paths": paths}


def _line(label, n, threads, one, many):
    return (f"busy: normal float32 {n} elements, {threads} threads vs 1, {label}: "
            f"{one / many:.2f}x (1 thread {one * 1e9 / n:.2f} ns/el, {threads} threads "
            f"{many * 1e9 / n:.2f} ns/el)")


def run_busy(args, results):
    """The --busy section; adds results["checks"]["busy"]."""
    from .. import _api

    if _api._native is None:
        print("busy: skipped (the compiled kernel is not loaded)", flush=True)
        return
    n = args.size
    threads = args.threads or 2
    repeat = max(args.repeat, 9)  # ratios of two medians: more runs, less noise
    out = results["checks"].setdefault("busy", {})
    settings = _api._native.thread_settings()
    info = _api.info()
    print(f"busy: settings: pieces of up to {settings['chunk_groups']} groups, streaming "
          f"{settings['streaming']}; {info['num_threads']} threads by default "
          f"({info['num_threads_source']})", flush=True)
    if args.thread_counts:
        out["thread_counts"] = thread_table(n, args.thread_counts, repeat)
    _progress("  busy: thread scaling on the machine as it is ...")
    one, many = scaling(n, repeat, threads)
    print(_line("quiet", n, threads, one, many), flush=True)
    out["quiet"] = {"threads": threads, "one_s": one, "many_s": many, "speedup": one / many}
    with busy_core() as pid:
        one, many = scaling(n, repeat, threads)
        print(_line(f"one core kept busy (process {pid})", n, threads, one, many), flush=True)
    out["busy"] = {"threads": threads, "one_s": one, "many_s": many, "speedup": one / many}
    out["settings"] = settings
    out["loaded"] = loaded_table(args.loaded_sizes or LOADED_SIZES,
                                 args.loaded_busy or LOADED_BUSY, args.loaded_fills)

    _dask_line(args, out)
    if args.splits:
        _splits_table(n, repeat, threads, out)


def _dask_line(args, out):
    try:
        import dask  # noqa: F401
    except ImportError:
        print("busy: Dask line skipped (dask is not installed)", flush=True)
        return
    item = 4
    n = max(1, (args.dask_bytes or DASK_BYTES) // item)
    chunk = max(1, min(n, (args.dask_chunk_bytes or DASK_CHUNK_BYTES) // item))
    rows = {}
    for label, setting in DASK_SETTINGS:
        _progress(f"  busy: Dask threaded scheduler, {label} ...")
        got = _child(DASK_CHILD.format(n=n, chunk=chunk, repeat=args.repeat), setting)
        if not got["first_chunk_ok"]:
            raise RuntimeError(f"Dask store with {setting} wrote other bytes than fastki.normal")
        rows[label] = got["seconds"]
    default = rows["default"]
    others = [s for label, s in rows.items() if label != "default"]
    best = min(others)
    print(f"busy: Dask threaded scheduler, {n * item} bytes normal float32 in {chunk * item}-byte "
          f"chunks via da.store: " + ", ".join(f"{label} {s:.3f} s" for label, s in rows.items())
          + f"; default / faster of the others: {default / best:.2f}", flush=True)
    out["dask"] = {"bytes": n * item, "chunk_bytes": chunk * item, "seconds": rows,
                   "default_vs_best_other": default / best}


def _splits_table(n, repeat, threads, out):
    code = SCALING_CHILD.format(n=n, repeat=repeat, threads=threads)
    quiet = {}
    for label, setting in SPLITS:
        _progress(f"  splits, quiet: {label} ...")
        quiet[label] = _child(code, setting)
    busy = {}
    with busy_core():
        for label, setting in SPLITS:
            _progress(f"  splits, one core busy: {label} ...")
            busy[label] = _child(code, setting)
    header = (f"{'split setting':<36}{'quiet 1t':>10}{'quiet ' + str(threads) + 't':>10}"
              f"{'ratio':>7}{'busy 1t':>10}{'busy ' + str(threads) + 't':>10}{'ratio':>7}")
    print(f"splits: normal float32 {n} elements, ns per element, medians of {repeat}", flush=True)
    print(header, flush=True)
    table = []
    for label, _ in SPLITS:
        q, b = quiet[label], busy[label]
        print(f"{label:<36}{q['one'] * 1e9 / n:>10.2f}{q['many'] * 1e9 / n:>10.2f}"
              f"{q['one'] / q['many']:>6.2f}x{b['one'] * 1e9 / n:>10.2f}"
              f"{b['many'] * 1e9 / n:>10.2f}{b['one'] / b['many']:>6.2f}x", flush=True)
        table.append({"setting": label, "quiet": q, "busy": b})
    out["splits"] = table
