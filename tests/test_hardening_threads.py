"""Many Python threads calling every fill at once, each fill possibly running OpenMP threads
inside: every result equals the serial one byte for byte, and nothing deadlocks
(docs/hardening.md, "Threads")."""
import hashlib
import random
import threading
import time

import numpy as np
import pytest

import fastki

N_THREADS = 16
CALLS_PER_THREAD = 200
JOIN_BOUND_S = 120  # the whole run takes a few seconds on 2 cores; a deadlock fails here

SIZES = (0, 1, 3, 31, 80, 257, 1000, 4099, 20000, 65536, 200003, 1000003)
DTYPES = ("float32", "float64", "float16", "bfloat16")
FILLS = ("uniform", "normal", "truncated_normal", "random_raw", "philox4x32_10")
SIMDS = tuple(fastki.info()["simd_available"]) + ("numpy",)


def make_spec(rng):
    """One call: (fill, size, dtype, seed, stream, how the output is given, options)."""
    fill = rng.choice(FILLS)
    size = rng.choice(SIZES)
    dtype = rng.choice(DTYPES)
    seed = rng.randrange(1 << 64)
    stream = rng.choice((0, 1, rng.randrange(1 << 64)))
    mode = rng.choice(("new", "out", "block", "block_out"))
    opts = {}
    path = rng.choice(SIMDS)
    if path == "numpy":
        if size <= 4099:  # the NumPy backend is slow; keep it to small calls
            opts["backend"] = "numpy"
    else:
        opts["simd"] = path
    threads = rng.choice((None, 1, 2))
    if threads:
        opts["num_threads"] = threads
    return fill, size, dtype, seed, stream, mode, opts


def run_spec(spec):
    fill, size, dtype, seed, stream, mode, opts = spec
    with fastki.options(**opts):
        if fill == "random_raw":
            return fastki.random_raw(size, seed=seed, stream=stream, offset=stream % 1000).tobytes()
        if fill == "philox4x32_10":
            ctr = np.arange(4 * (size % 1000), dtype=np.uint32).reshape(-1, 4) ^ np.uint32(seed & 0xFFFFFFFF)
            key = np.array([seed & 0xFFFFFFFF, seed >> 32], dtype=np.uint32)
            return fastki.philox4x32_10(ctr, key).tobytes()
        fn = getattr(fastki, fill)
        kwargs = dict(seed=seed, stream=stream, dtype=dtype)
        shape = (size,)
        if mode.startswith("block"):
            # a 2-D virtual tensor; the block is a window of it
            cols = 97
            shape = (size // cols + 3, cols)
            r0 = size % shape[0]
            kwargs["block"] = (slice(r0 // 2, r0 // 2 + 2), slice(5, 90))
            res_shape = (2, 85)
        else:
            res_shape = shape
        if mode.endswith("out"):
            out = np.full(res_shape, 7, dtype=fastki._validate._dtype_arg(dtype)[0])
            got = fn(shape, out=out, **kwargs)
            assert got is out
        else:
            got = fn(shape, **kwargs)
        assert got.shape == res_shape
        return got.tobytes()


def digest(b):
    return hashlib.sha256(b).hexdigest()


def test_many_threads_match_serial():
    pytest.importorskip("ml_dtypes")
    specs = [[make_spec(random.Random(1000 * t + i)) for i in range(CALLS_PER_THREAD)]
             for t in range(N_THREADS)]
    # the serial reference: same calls, one thread, default options
    t0 = time.perf_counter()
    expected = [[digest(run_spec(s[:6] + ({},))) for s in row] for row in specs]
    serial_s = time.perf_counter() - t0

    results = [[None] * CALLS_PER_THREAD for _ in range(N_THREADS)]
    errors = []
    barrier = threading.Barrier(N_THREADS)

    def worker(t):
        try:
            barrier.wait(timeout=30)
            for i, spec in enumerate(specs[t]):
                results[t][i] = digest(run_spec(spec))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append((t, repr(exc)))

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in range(N_THREADS)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    deadline = time.monotonic() + JOIN_BOUND_S
    for th in threads:
        th.join(timeout=max(0.0, deadline - time.monotonic()))
    parallel_s = time.perf_counter() - t0
    alive = [th.name for th in threads if th.is_alive()]
    assert not alive, f"threads still running after {JOIN_BOUND_S} s (deadlock?): {alive}"
    assert not errors, errors[:5]
    mismatches = [(t, i, specs[t][i]) for t in range(N_THREADS) for i in range(CALLS_PER_THREAD)
                  if results[t][i] != expected[t][i]]
    assert not mismatches, f"{len(mismatches)} results differ from serial, e.g. {mismatches[:3]}"
    total = N_THREADS * CALLS_PER_THREAD
    kinds = {(s[0], s[2], s[5]) for row in specs for s in row}
    print(f"\nthreads: {N_THREADS} Python threads x {CALLS_PER_THREAD} calls = {total} calls "
          f"({len(kinds)} fill x dtype x output-mode kinds), all equal to serial; "
          f"serial {serial_s:.2f} s, concurrent {parallel_s:.2f} s")


def test_shared_out_buffers_disjoint_slices():
    """Threads filling disjoint rows of one shared array via out= views and block=."""
    rows, cols = 64, 4096
    full = fastki.normal((rows, cols), seed=99, dtype="float32")
    shared = np.full((rows, cols), np.nan, dtype=np.float32)
    errors = []

    def worker(r):
        try:
            with fastki.options(num_threads=2):
                fastki.normal((rows, cols), seed=99, out=shared[r:r + 1],
                              block=(slice(r, r + 1), slice(None)))
        except BaseException as exc:  # noqa: BLE001
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(r,), daemon=True) for r in range(rows)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    assert not any(th.is_alive() for th in threads)
    assert not errors, errors
    assert shared.tobytes() == full.tobytes()
