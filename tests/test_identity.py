"""The contract: a value depends only on (seed, stream, element index, parameters, dtype).

Bytes must be identical between the compiled kernel and the NumPy backend, for every SIMD
path, thread count, block and out=. The NumPy backend is the oracle; its outputs are
computed once per case (functools.lru_cache) and kept small so the file stays fast.
"""
import functools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastki

from conftest import THREAD_COUNTS, native_available

pytestmark = pytest.mark.skipif(not native_available(),
                                reason="native backend not loaded: nothing to compare")

DISTS = ("uniform", "normal", "truncated_normal")
DTYPES = ("float32", "float64")
SEED, STREAM = 0x5EED_0F_FA57_C1, 3

# Non-default parameters per distribution, each as keyword arguments.
PARAMS = {
    "uniform": [dict(), dict(minval=-3.5, maxval=0.25), dict(minval=1e-3, maxval=1e-3 + 1e-6),
                dict(minval=7.0, maxval=7.0), dict(minval=-1e30, maxval=1e30)],
    "normal": [dict(), dict(mean=2.5, stddev=0.01), dict(mean=-1e3, stddev=40.0),
               dict(mean=0.5, stddev=0.0)],
    "truncated_normal": [dict(), dict(mean=1.0, stddev=3.0, lower=-0.5, upper=0.75),
                         dict(lower=1.0, upper=3.0),          # mirrored: the upper side
                         dict(lower=-3.0, upper=-1.0),
                         dict(lower=0.0, upper=math.inf),     # half-infinite
                         dict(lower=-math.inf, upper=0.0),
                         dict(lower=-math.inf, upper=math.inf),
                         dict(lower=3.0, upper=5.0), dict(lower=-12.0, upper=-11.0),
                         dict(mean=-2.0, stddev=0.5, lower=-0.1, upper=0.1)],
}


def gen(dist, shape, backend, dtype="float32", seed=SEED, stream=STREAM, simd=None,
        num_threads=None, **kw):
    with fastki.options(backend=backend, simd=simd, num_threads=num_threads):
        return getattr(fastki, dist)(shape, seed=seed, stream=stream, dtype=dtype, **kw)


@functools.lru_cache(maxsize=None)
def oracle(dist, n, dtype="float32", params=(), seed=SEED, stream=STREAM):
    """NumPy-backend values of elements 0 .. n-1 (read-only, cached)."""
    a = gen(dist, n, "numpy", dtype, seed=seed, stream=stream, **dict(params))
    a.flags.writeable = False
    return a


def assert_same_bytes(got, expect, what=""):
    assert got.dtype == expect.dtype, what
    assert got.shape == expect.shape, what
    if got.tobytes() != expect.tobytes():
        g = got.reshape(-1).view(np.uint8 if got.dtype.itemsize == 1 else f"u{got.dtype.itemsize}")
        e = expect.reshape(-1).view(g.dtype)
        bad = np.flatnonzero(g != e)
        raise AssertionError(f"{what}: {bad.size} of {g.size} elements differ, first at flat "
                             f"index {bad[0]}: got {got.reshape(-1)[bad[0]]!r}, expected "
                             f"{expect.reshape(-1)[bad[0]]!r}")


# --------------------------------------------------------------------------- sizes


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7, 15, 16, 17, 31, 32, 33, 79, 80, 81, 4097])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", DISTS)
def test_small_sizes_match(dist, dtype, n):
    native = gen(dist, n, "native", dtype)
    numpy = gen(dist, n, "numpy", dtype)
    assert_same_bytes(native, numpy, f"{dist} {dtype} n={n}")
    if n:
        assert np.isfinite(native).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", DISTS)
def test_multi_megabyte_matches(dist, dtype):
    n = 3_000_001  # 12 or 24 MB; crosses the NumPy backend's chunks and many thread splits
    assert_same_bytes(gen(dist, n, "native", dtype), oracle(dist, n, dtype), f"{dist} {dtype}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_streaming_store_size_matches_with_offset_out(dtype):
    """Over 32 MiB (streaming stores), more than one Ctrl-C slice, an out= that starts off
    any 16/32/64-byte boundary, and a first element in the middle of a group."""
    n = (9_000_003 if dtype == "float32" else 4_500_001)
    start = 37
    buf = np.full(n + 1, np.nan, dtype=dtype)
    out = buf[1:]  # aligned to the dtype only
    got = gen("normal", (n + start,), "native", dtype, out=out, block=(slice(start, None),))
    assert got is out
    assert not np.isnan(buf[1:]).any()
    # the NumPy side: the same elements, generated as a block of the whole
    expect = gen("normal", (n + start,), "numpy", dtype, block=(slice(start, None),))
    assert_same_bytes(got, expect, dtype)


# --------------------------------------------------------------------------- SIMD x threads

N_THREADED = 300_007  # enough work that thread counts up to 7 are all used


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", DISTS)
def test_every_simd_path_and_thread_count(dist, dtype, simd):
    expect = oracle(dist, N_THREADED, dtype)
    lo, hi = 13, N_THREADED - 7  # odd first index: thread splits fall mid-group
    for threads in THREAD_COUNTS:
        whole = gen(dist, N_THREADED, "native", dtype, simd=simd, num_threads=threads)
        assert_same_bytes(whole, expect, f"{dist} {dtype} simd={simd} threads={threads}")
        part = gen(dist, N_THREADED, "native", dtype, simd=simd, num_threads=threads,
                   block=(slice(lo, hi),))
        assert_same_bytes(part, expect[lo:hi], f"{dist} {dtype} simd={simd} threads={threads} "
                                               f"block")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", DISTS)
def test_simd_paths_small_unaligned_fills(dist, dtype, simd):
    """Fills shorter than a group, starting and ending anywhere inside one."""
    expect = oracle(dist, 200, dtype)
    for lo, hi in [(0, 1), (1, 2), (3, 20), (15, 17), (31, 33), (79, 81), (5, 165), (1, 199)]:
        got = gen(dist, 200, "native", dtype, simd=simd, block=(slice(lo, hi),))
        assert_same_bytes(got, expect[lo:hi], f"{dist} {dtype} simd={simd} [{lo}:{hi}]")


@pytest.mark.parametrize("dist", DISTS)
def test_simd_paths_with_params(dist, simd):
    for params in PARAMS[dist][1:]:
        for dtype in DTYPES:
            key = tuple(sorted(params.items()))
            expect = oracle(dist, 1003, dtype, key)
            got = gen(dist, 1003, "native", dtype, simd=simd, **params)
            assert_same_bytes(got, expect, f"{dist} {dtype} simd={simd} {params}")


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist,params", [(d, p) for d in DISTS for p in PARAMS[d][1:]],
                         ids=lambda x: str(x).replace(" ", ""))
def test_non_default_params_match(dist, params, dtype):
    n = 20_011
    native = gen(dist, n, "native", dtype, **params)
    numpy = gen(dist, n, "numpy", dtype, **params)
    assert_same_bytes(native, numpy, f"{dist} {dtype} {params}")
    assert np.isfinite(native).all()


def test_seed_and_stream_extremes_match():
    for seed, stream in [(0, 0), (2**64 - 1, 2**64 - 1), (2**32, 2**32 - 1), (1, 2**63)]:
        for dist in DISTS:
            for dtype in DTYPES:
                a = gen(dist, 333, "native", dtype, seed=seed, stream=stream)
                b = gen(dist, 333, "numpy", dtype, seed=seed, stream=stream)
                assert_same_bytes(a, b, f"{dist} {dtype} seed={seed} stream={stream}")


# --------------------------------------------------------------------------- blocks

SHAPES_AND_BLOCKS = [
    ((37, 101), (slice(3, 36), slice(5, 98))),
    ((37, 101), (slice(1, 2), slice(1, 100))),
    ((37, 101), (slice(0, 37), slice(17, 82))),
    ((37, 101), (slice(11, 30), slice(None))),      # whole rows: one run
    ((37, 101), (slice(-9, -2), slice(-50, -1))),
    ((40, 80), (slice(1, 39), slice(3, 79))),
    ((64, 32), (slice(7, 57), slice(1, 31))),
    ((5, 13, 41), (slice(1, 4), slice(3, 12), slice(5, 40))),
    ((5, 13, 41), (slice(1, 4), slice(None), slice(None))),
    ((5, 13, 41), (slice(3, 4), slice(7, 8), slice(9, 10))),
    ((5, 13, 41), (slice(0, 5), slice(1, 12), slice(None))),
    ((3, 7, 11, 13), (slice(1, 2), slice(1, 6), slice(3, 9), slice(1, 12))),
    ((4097,), (slice(1, 4095),)),
    ((23, 19), (slice(5, 5), slice(0, 19))),         # empty block
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", DISTS)
@pytest.mark.parametrize("shape,block", SHAPES_AND_BLOCKS, ids=lambda x: str(x).replace(" ", ""))
def test_block_equals_block_of_whole(dist, dtype, shape, block):
    whole_np = gen(dist, shape, "numpy", dtype)
    whole_native = gen(dist, shape, "native", dtype)
    assert_same_bytes(whole_native, whole_np, f"{dist} {dtype} {shape}")
    expect = whole_np[block]
    assert_same_bytes(gen(dist, shape, "numpy", dtype, block=block), expect, "numpy block")
    assert_same_bytes(gen(dist, shape, "native", dtype, block=block), expect, "native block")
    assert_same_bytes(gen(dist, shape, "native", dtype, block=block, num_threads=3),
                      expect, "native block, 3 threads")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", DISTS)
def test_large_2d_block_threads(dist, dtype, num_threads):
    """A block of many long rows, filled with threads: run starts off group boundaries."""
    shape = (61, 10_007)
    block = (slice(3, 60), slice(9, 10_001))
    expect = oracle(dist, 61 * 10_007, dtype).reshape(shape)[block]
    got = gen(dist, shape, "native", dtype, block=block, num_threads=num_threads)
    assert_same_bytes(got, expect, f"{dist} {dtype} threads={num_threads}")


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_block_equals_block_of_whole(data):
    ndim = data.draw(st.integers(1, 3))
    shape = tuple(data.draw(st.lists(st.integers(0, 40), min_size=ndim, max_size=ndim)))
    block = []
    for d in shape:
        a = data.draw(st.integers(0, d))
        b = data.draw(st.integers(a, d))
        block.append(slice(a, b))
    block = tuple(block)
    dist = data.draw(st.sampled_from(DISTS))
    dtype = data.draw(st.sampled_from(DTYPES))
    seed = data.draw(st.integers(0, 2**64 - 1))
    stream = data.draw(st.integers(0, 2**64 - 1))
    whole = gen(dist, shape, "native", dtype, seed=seed, stream=stream)
    for backend in ("native", "numpy"):
        got = gen(dist, shape, backend, dtype, seed=seed, stream=stream, block=block)
        assert_same_bytes(got, whole[block], f"{backend} {dist} {dtype} {shape} {block}")
    assert_same_bytes(gen(dist, shape, "numpy", dtype, seed=seed, stream=stream), whole,
                      f"whole {dist} {dtype} {shape}")


# --------------------------------------------------------------------------- out=


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", DISTS)
def test_out_is_filled_completely(dist, dtype, backend):
    shape = (33, 49)
    out = np.full(shape, np.nan, dtype=dtype)
    got = gen(dist, shape, backend, dtype, out=out)
    assert got is out
    assert not np.isnan(out).any(), f"{np.isnan(out).sum()} elements never written"
    assert_same_bytes(out, oracle(dist, 33 * 49, dtype).reshape(shape), f"{dist} {dtype}")


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", DISTS)
def test_out_with_block_writes_only_out(dist, dtype, backend):
    shape = (29, 83)
    block = (slice(3, 26), slice(7, 80))
    big = np.full(23 * 73 + 2, np.nan, dtype=dtype)
    out = big[1:-1].reshape(23, 73)
    got = gen(dist, shape, backend, dtype, out=out, block=block)
    assert got is out
    assert not np.isnan(out).any()
    assert np.isnan(big[0]) and np.isnan(big[-1]), "wrote outside out"
    assert_same_bytes(out, oracle(dist, 29 * 83, dtype).reshape(shape)[block], dist)


@pytest.mark.parametrize("dtype", DTYPES)
def test_out_threaded_every_simd(dtype, simd):
    n = N_THREADED
    for dist in DISTS:
        for threads in (1, 7):
            out = np.full(n, np.nan, dtype=dtype)
            gen(dist, n, "native", dtype, simd=simd, num_threads=threads, out=out)
            assert not np.isnan(out).any()
            assert_same_bytes(out, oracle(dist, n, dtype), f"{dist} simd={simd} t={threads}")


# --------------------------------------------------------------------------- float16, bfloat16


def _half_dtypes():
    out = [pytest.param("float16", id="float16")]
    try:
        import ml_dtypes

        out.append(pytest.param(np.dtype(ml_dtypes.bfloat16), id="bfloat16"))
    except ImportError:
        out.append(pytest.param("bfloat16", id="bfloat16",
                                marks=pytest.mark.skip(reason="ml_dtypes not installed")))
    return out


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("half", _half_dtypes())
@pytest.mark.parametrize("dist", DISTS)
def test_half_precision_is_float32_rounded(dist, half, backend):
    """float16/bfloat16 values are the float32 values clamped to bounds the narrow type
    holds, then rounded once (docs/algorithm.md, section 7); the bounds are derived here from
    the parameters, independently of fastki's own code."""
    half = np.dtype(half)
    for params in PARAMS[dist][:3] + PARAMS[dist][3:][-1:] * (dist != "uniform"):
        if params.get("maxval") == 1e-3 + 1e-6:
            continue  # holds no float16/bfloat16 value: test_narrow_interval_without_a_value
        key = tuple(sorted(params.items()))
        f32 = oracle(dist, 4097, "float32", key)
        got = gen(dist, 4097, backend, half, **params)
        expect = _narrow_clamp(f32, dist, half, params).astype(half)
        assert_same_bytes(got, expect, f"{dist} {half} {params}")
    # blocks and out= too, with a block that crosses the internal rounding slices
    shape = (3, 700_001)
    block = (slice(1, 3), slice(3, 699_999))
    f32 = gen(dist, shape, "native", "float32", block=block)
    expect = _narrow_clamp(f32, dist, half, {}).astype(half)
    out = np.zeros(expect.shape, dtype=half)
    got = gen(dist, shape, backend, half, block=block, out=out)
    assert got is out
    assert_same_bytes(out, expect, f"{dist} {half} block")


def _narrow_clamp(f32, dist, half, params):
    """f32 clamped to the bounds of docs/algorithm.md section 7 for the narrow dtype half:
    the values of half inside the interval the caller asked for, from the exact (unrounded)
    parameters; derived here with Fractions, independently of fastki's own code."""
    t = half.type

    def inward(end, up, strict=False):
        v = t(float(end))
        if up and Fraction(float(v)) < end:
            v = np.nextafter(v, t(np.inf))
        if not up and (Fraction(float(v)) > end or (strict and Fraction(float(v)) == end)):
            v = np.nextafter(v, t(-np.inf))
        return np.float32(v)

    if dist == "uniform":
        lo, hi = params.get("minval", 0.0), params.get("maxval", 1.0)
        if lo == hi:
            return np.clip(f32, np.float32(t(lo)), np.float32(t(lo)))
        return _where_clamp(f32, inward(Fraction(lo), True), inward(Fraction(hi), False, True))
    if dist == "normal":
        return f32
    m, sd = Fraction(params.get("mean", 0.0)), Fraction(params.get("stddev", 1.0))
    bounds = []
    for z, up in ((params.get("lower", -2.0), True), (params.get("upper", 2.0), False)):
        bounds.append(np.float32(z) if math.isinf(z) else inward(m + sd * Fraction(z), up))
    return _where_clamp(f32, *bounds)


def _where_clamp(x, lo, hi):
    """The clamp of docs/algorithm.md: only values strictly beyond a bound are replaced."""
    x = x.copy()
    x[x < lo] = lo
    x[x > hi] = hi
    return x


def test_narrow_interval_without_a_value_is_refused():
    """uniform on [1.0001, 1.0002) holds no float16 value (they are 2**-10 apart there):
    refused, on both backends, rather than returning values outside it."""
    for backend in ("native", "numpy"):
        with pytest.raises(ValueError, match=r"^minval, maxval: the interval \[1.0001, "
                                             r"1.0002\) holds no float16 value$"):
            gen("uniform", 10, backend, "float16", minval=1.0001, maxval=1.0002)


def test_half_precision_every_simd_and_threads(simd):
    f32 = oracle("normal", N_THREADED)
    for threads in (1, 3):
        got = gen("normal", N_THREADED, "native", "float16", simd=simd, num_threads=threads)
        assert_same_bytes(got, f32.astype(np.float16), f"simd={simd} threads={threads}")


# --------------------------------------------------------------------------- random_raw


@pytest.mark.parametrize("offset", [0, 1, 3, 4, 63, 64, 65, 2**32 * 4 - 3, 2**40 + 1,
                                    2**64 - 1000])
def test_random_raw_offsets_are_slices_of_one_stream(offset):
    seed, stream = 0xA5A5A5A5_5A5A5A5A, 2**64 - 2
    n = 1000
    with fastki.options(backend="native"):
        whole = fastki.random_raw(n, seed=seed, stream=stream, offset=offset)
        for a, b in [(0, 1), (1, 7), (5, 700), (63, 129), (999, 1000)]:
            part = fastki.random_raw(b - a, seed=seed, stream=stream, offset=offset + a)
            np.testing.assert_array_equal(part, whole[a:b])
    with fastki.options(backend="numpy"):
        np.testing.assert_array_equal(
            fastki.random_raw(n, seed=seed, stream=stream, offset=offset), whole)


def test_random_raw_long_run_matches():
    n = 2_000_003
    with fastki.options(backend="native"):
        a = fastki.random_raw(n, seed=7, stream=1, offset=5)
    with fastki.options(backend="numpy"):
        b = fastki.random_raw(n, seed=7, stream=1, offset=5)
    np.testing.assert_array_equal(a, b)
