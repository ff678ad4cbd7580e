"""Bad input: the exact exception type, a message naming the parameter, and a refused out=
left byte-for-byte untouched. Every case runs in both backends (validation is shared, but
a backend must never be reached with an argument the validator should have refused)."""
import math

import numpy as np
import pytest

import fastki

from conftest import backends

U64 = 2**64
DISTS = ("uniform", "normal", "truncated_normal")


@pytest.fixture(params=backends(), autouse=True)
def each_backend(request):
    with fastki.options(backend=request.param):
        yield request.param


def call(dist, shape=5, **kw):
    kw.setdefault("seed", 0)
    return getattr(fastki, dist)(shape, **kw)


# --------------------------------------------------------------------------- shape

BAD_SHAPES = [
    (-1, ValueError), ((2, -1), ValueError), ((-3,), ValueError),
    (2.0, TypeError), ((2.0, 3), TypeError), ((2, "3"), TypeError), ("3", TypeError),
    (None, TypeError), (True, TypeError), ((True, 2), TypeError), ((2, np.bool_(True)), TypeError),
    (((2,), 3), TypeError), ({2: 3}, TypeError), (np.array([2, 3]), TypeError),
    ((2**62, 2**62), ValueError), ((2**64 + 1,), ValueError), ((2**33, 2**33), ValueError),
    ((0, 2**70), ValueError), ((2**32, 2**32), ValueError), ((1,) * 65, ValueError),
]


@pytest.mark.parametrize("dist", DISTS)
@pytest.mark.parametrize("shape,exc", BAD_SHAPES, ids=lambda x: repr(x)[:40])
def test_bad_shape(dist, shape, exc):
    with pytest.raises(exc, match="shape"):
        call(dist, shape)


@pytest.mark.parametrize("shape,expect", [(0, (0,)), ((0,), (0,)), ((3, 0), (3, 0)), ((), ()),
                                          ([2, 3], (2, 3)), (np.int64(3), (3,)),
                                          ((np.uint8(2), 3), (2, 3))])
def test_good_shapes(shape, expect):
    assert fastki.normal(shape, seed=1).shape == expect


# --------------------------------------------------------------------------- dtype


@pytest.mark.parametrize("dtype", ["int32", np.int64, object, "float128", np.longdouble,
                                   "complex64", ">f4", ">f8", "U3", "bool", None, "nope", [1],
                                   np.dtype("uint8"), "float8"])
def test_bad_dtype(dtype):
    for dist in DISTS:
        with pytest.raises(TypeError, match="dtype"):
            call(dist, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float32", "f4", np.float32, "float64", "d", float,
                                   np.dtype("float16")])
def test_good_dtypes(dtype):
    a = fastki.uniform(3, seed=0, dtype=dtype)
    assert a.dtype == np.dtype(dtype)


# --------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("dist", ["normal", "truncated_normal"])
@pytest.mark.parametrize("value,exc", [(math.nan, ValueError), (math.inf, ValueError),
                                       (-math.inf, ValueError), (-1.0, ValueError),
                                       (-1e-300, ValueError), (np.float32("nan"), ValueError),
                                       ("1", TypeError), (None, TypeError), (True, TypeError),
                                       (1 + 0j, TypeError), (np.array([1.0]), TypeError)])
def test_bad_stddev(dist, value, exc):
    with pytest.raises(exc, match="stddev"):
        call(dist, stddev=value)


@pytest.mark.parametrize("dist", ["normal", "truncated_normal"])
@pytest.mark.parametrize("value,exc", [(math.nan, ValueError), (math.inf, ValueError),
                                       (-math.inf, ValueError), ("0", TypeError),
                                       (None, TypeError), (np.bool_(False), TypeError),
                                       (10**400, ValueError)])
def test_bad_mean(dist, value, exc):
    with pytest.raises(exc, match="mean"):
        call(dist, mean=value)


@pytest.mark.parametrize("kw,exc,name", [
    (dict(minval=2.0, maxval=1.0), ValueError, "minval"),
    (dict(minval=math.nan), ValueError, "minval"),
    (dict(maxval=math.nan), ValueError, "maxval"),
    (dict(maxval=math.inf), ValueError, "maxval"),
    (dict(minval=-math.inf), ValueError, "minval"),
    (dict(minval="0"), TypeError, "minval"),
    (dict(maxval=None), TypeError, "maxval"),
    (dict(maxval=1e39), ValueError, "maxval"),                       # beyond float32
    (dict(minval=-3e38, maxval=3e38), ValueError, "maxval - minval"),  # span beyond float32
    (dict(minval=-1e308, maxval=1e308, dtype="float64"), ValueError, "maxval - minval"),
    (dict(maxval=1e5, dtype="float16"), ValueError, "maxval"),       # beyond float16
])
def test_bad_uniform_params(kw, exc, name):
    with pytest.raises(exc, match=name):
        call("uniform", **kw)


@pytest.mark.parametrize("kw,exc,name", [
    (dict(lower=1.0, upper=1.0), ValueError, "lower"),
    (dict(lower=2.0, upper=1.0), ValueError, "lower"),
    (dict(lower=math.inf, upper=math.inf), ValueError, "lower"),
    (dict(lower=-math.inf, upper=-math.inf), ValueError, "lower"),
    (dict(lower=math.nan), ValueError, "lower"),
    (dict(upper=math.nan), ValueError, "upper"),
    (dict(lower="a"), TypeError, "lower"),
    (dict(upper=None), TypeError, "upper"),
    (dict(lower=40.0, upper=41.0), ValueError, "lower"),              # negligible mass
    (dict(lower=-41.0, upper=-40.0), ValueError, "lower"),
    (dict(lower=40.0, upper=41.0, dtype="float64"), ValueError, "lower"),
    (dict(lower=0.0, upper=1e-300), ValueError, "upper"),
])
def test_bad_truncated_params(kw, exc, name):
    with pytest.raises(exc, match=name):
        call("truncated_normal", **kw)


@pytest.mark.parametrize("dist,kw,dtype", [
    ("normal", dict(mean=1e308, stddev=1e308), "float64"),
    ("normal", dict(stddev=1e38), "float32"),
    ("normal", dict(mean=3e38, stddev=1e37), "float32"),
    ("normal", dict(stddev=6e4), "float16"),
    ("truncated_normal", dict(stddev=3e38, lower=-math.inf, upper=math.inf), "float32"),
    ("truncated_normal", dict(stddev=1e5, lower=-5.0, upper=5.0), "float16"),
    ("uniform", dict(maxval=3.4e38), "bfloat16"),
])
def test_values_that_would_overflow_are_refused(dist, kw, dtype):
    """Parameters for which some values would be inf in the output dtype."""
    if dtype == "bfloat16":
        ml_dtypes = pytest.importorskip("ml_dtypes")
        dtype = ml_dtypes.bfloat16
    with pytest.raises(ValueError, match="stddev" if "stddev" in kw else "maxval"):
        call(dist, dtype=dtype, **kw)


# the NumPy backend computes mean + stddev * z before clamping to the bounds, which may
# overflow (harmlessly: the clamp brings it back) and warn; the values are what is tested
@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_large_but_safe_params_give_finite_values():
    assert np.isfinite(fastki.normal(10**5, stddev=5e37, seed=1)).all()
    assert np.isfinite(fastki.truncated_normal(10**5, stddev=3e38, lower=-5, upper=5,
                                               seed=1)).all()
    assert np.isfinite(fastki.uniform(10**5, minval=-65504, maxval=65504, seed=1,
                                      dtype="float16")).all()
    assert np.isfinite(fastki.normal(10**5, stddev=1e4, seed=1, dtype="float16")).all()


# --------------------------------------------------------------------------- seed and stream

BAD_INTS = [(-1, ValueError), (U64, ValueError), (U64 + 5, ValueError), (2**200, ValueError),
            (np.int64(-1), ValueError), (1.0, TypeError), (1.5, TypeError),
            (np.float64(2.0), TypeError), (True, TypeError), (np.bool_(False), TypeError),
            ("3", TypeError), (b"3", TypeError), ([1], TypeError)]


@pytest.mark.parametrize("dist", DISTS)
@pytest.mark.parametrize("name", ["seed", "stream"])
@pytest.mark.parametrize("value,exc", BAD_INTS, ids=lambda x: repr(x)[:20])
def test_bad_seed_and_stream(dist, name, value, exc):
    with pytest.raises(exc, match=name):
        call(dist, **{name: value})


@pytest.mark.parametrize("name", ["seed", "stream"])
@pytest.mark.parametrize("value,exc", BAD_INTS, ids=lambda x: repr(x)[:20])
def test_bad_random_raw_seed_and_stream(name, value, exc):
    kw = {"seed": 0, "stream": 0, name: value}
    with pytest.raises(exc, match=name):
        fastki.random_raw(3, **kw)


def test_extreme_seed_and_stream_accepted():
    a = fastki.uniform(3, seed=np.uint64(U64 - 1), stream=np.uint64(U64 - 1))
    b = fastki.uniform(3, seed=U64 - 1, stream=U64 - 1)
    assert a.tobytes() == b.tobytes()


# --------------------------------------------------------------------------- out=


def _misaligned(n, dtype):
    raw = np.zeros(n * np.dtype(dtype).itemsize + 1, dtype=np.uint8)
    a = raw[1:].view(dtype)
    assert not a.flags.aligned
    return a


def _readonly(n, dtype):
    a = np.full(n, 7.0, dtype=dtype)
    a.flags.writeable = False
    return a


BAD_OUTS = [
    ("read-only", lambda: _readonly(6, "float32"), ValueError, "read-only"),
    ("wrong dtype", lambda: np.full(6, 7.0, dtype="float64"), TypeError, "dtype"),
    ("float16 for float32", lambda: np.full(6, 7.0, dtype="float16"), TypeError, "dtype"),
    ("wrong shape", lambda: np.full(7, 7.0, dtype="float32"), ValueError, "shape"),
    ("wrong rank", lambda: np.full((2, 3), 7.0, dtype="float32"), ValueError, "shape"),
    ("non-contiguous", lambda: np.full(12, 7.0, dtype="float32")[::2], ValueError, "contiguous"),
    ("byte-swapped", lambda: np.full(6, 7.0, dtype=">f4"), TypeError, "dtype"),
    ("misaligned", lambda: _misaligned(6, "float32"), ValueError, "aligned"),
]


@pytest.mark.parametrize("dist", DISTS)
@pytest.mark.parametrize("what,make,exc,word", BAD_OUTS, ids=[b[0] for b in BAD_OUTS])
def test_bad_out_refused_and_untouched(dist, what, make, exc, word):
    out = make()
    before = out.tobytes()
    with pytest.raises(exc, match=r"\bout\b"):
        call(dist, 6, out=out)
    with pytest.raises(exc, match=word):
        call(dist, 6, out=out)
    assert out.tobytes() == before, f"refused {what} out= was written"


@pytest.mark.parametrize("out", [[0.0] * 6, (0.0,) * 6, memoryview(np.zeros(6, np.float32)),
                                 np.float32(0.0), 3], ids=lambda x: type(x).__name__)
def test_out_not_an_ndarray(out):
    with pytest.raises(TypeError, match="out must be a numpy.ndarray"):
        fastki.normal(6, seed=0, out=out)


def test_fortran_ordered_out_refused():
    out = np.full((3, 4), 7.0, dtype=np.float32, order="F")
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        fastki.normal((3, 4), seed=0, out=out)
    assert (out == 7.0).all()


def test_out_with_block_must_have_the_block_shape():
    out = np.full((4, 4), 7.0, dtype=np.float32)
    with pytest.raises(ValueError, match=r"out has shape \(4, 4\), expected \(2, 2\)"):
        fastki.uniform((4, 4), seed=0, block=(slice(1, 3), slice(0, 2)), out=out)
    assert (out == 7.0).all()


# every other bad argument, given with a good out=: the out must come back untouched
OTHER_BAD = [
    ("uniform", dict(minval=2.0, maxval=1.0)),
    ("normal", dict(stddev=-1.0)),
    ("normal", dict(mean=math.nan)),
    ("truncated_normal", dict(lower=40.0, upper=41.0)),
    ("truncated_normal", dict(lower=1.0, upper=0.0)),
    ("normal", dict(seed=-1)),
    ("normal", dict(stream=U64)),
    ("normal", dict(seed=1.0)),
    ("uniform", dict(block=(slice(0, 6, 2),))),
    ("uniform", dict(dtype="float64")),
    ("normal", dict(stddev=1e38)),
]


@pytest.mark.parametrize("dist,kw", OTHER_BAD, ids=lambda x: str(x)[:30])
def test_good_out_untouched_when_other_argument_refused(dist, kw):
    out = np.full(6, 7.0, dtype=np.float32)
    with pytest.raises((ValueError, TypeError)):
        call(dist, 6, out=out, **kw)
    assert (out == 7.0).all()


# --------------------------------------------------------------------------- block=

BAD_BLOCKS = [
    ((slice(0, 4, 2),), ValueError, "step 1"),
    ((slice(None, None, -1),), ValueError, "step 1"),
    ((slice(0, 4, 0),), ValueError, "step 1"),
    ((slice(0, 7),), ValueError, "block stop"),
    ((slice(-7, 2),), ValueError, "block start"),
    ((slice(8, None),), ValueError, "block start"),
    ((slice(4, 2),), ValueError, "block slice"),
    ((slice(0, 2), slice(0, 1)), ValueError, "block must have one slice per dimension"),
    ((), ValueError, "block must have one slice per dimension"),
    ((0,), TypeError, "block must be a tuple of slices"),
    (((0, 2),), TypeError, "block must be a tuple of slices"),
    ((Ellipsis,), TypeError, "block must be a tuple of slices"),
    (3, TypeError, "block must be a tuple of slices"),
    ("0:2", TypeError, "block must be a tuple of slices"),
    ((slice("a", 2),), TypeError, "block start"),
    ((slice(1.0, 2),), TypeError, "block start"),
    ((slice(0, 2.0),), TypeError, "block stop"),
    ((slice(True, 2),), TypeError, "block start"),
]


@pytest.mark.parametrize("dist", DISTS)
@pytest.mark.parametrize("block,exc,msg", BAD_BLOCKS, ids=lambda x: repr(x)[:30])
def test_bad_block(dist, block, exc, msg):
    with pytest.raises(exc, match=msg):
        call(dist, 6, block=block)


def test_bad_block_2d_rank():
    with pytest.raises(ValueError, match="block must have one slice per dimension"):
        fastki.uniform((3, 3), seed=0, block=(slice(0, 2),))
    with pytest.raises(ValueError, match="block must have one slice per dimension"):
        fastki.uniform((3, 3), seed=0, block=(slice(0, 2),) * 3)


@pytest.mark.parametrize("block,expect", [
    (slice(1, 4), (3,)), ([slice(0, 2)], (2,)), ((slice(-3, None),), (3,)),
    ((slice(2, 2),), (0,)), ((slice(0, 6, 1),), (6,)), ((slice(None, None, None),), (6,)),
])
def test_good_blocks(block, expect):
    whole = fastki.uniform(6, seed=4)
    got = fastki.uniform(6, seed=4, block=block)
    assert got.shape == expect
    norm = block if isinstance(block, slice) else block[0]
    assert got.tobytes() == whole[norm].tobytes()


# --------------------------------------------------------------------------- options()


@pytest.mark.parametrize("kw,exc,name", [
    (dict(backend="gpu"), ValueError, "backend"),
    (dict(backend="Native"), ValueError, "backend"),
    (dict(backend=1), TypeError, "backend"),
    (dict(simd="sve"), ValueError, "simd"),
    (dict(simd="AVX2"), ValueError, "simd"),
    (dict(simd=2), TypeError, "simd"),
    (dict(num_threads=0), ValueError, "num_threads"),
    (dict(num_threads=-1), ValueError, "num_threads"),
    (dict(num_threads=2**40), ValueError, "num_threads"),
    (dict(num_threads=1.0), TypeError, "num_threads"),
    (dict(num_threads=True), TypeError, "num_threads"),
    (dict(num_threads="2"), TypeError, "num_threads"),
])
def test_bad_options(kw, exc, name):
    before = fastki.info()
    with pytest.raises(exc, match=name):
        with fastki.options(**kw):
            pass
    assert fastki.info() == before


# --------------------------------------------------------------------------- random_raw


@pytest.mark.parametrize("kw,exc,name", [
    (dict(n=5, offset=U64 - 4), ValueError, "offset"),
    (dict(n=2, offset=U64 - 1), ValueError, "offset"),
    (dict(n=-1), ValueError, "n must"),
    (dict(n=1.0), TypeError, "n must"),
    (dict(n=True), TypeError, "n must"),
    (dict(n="3"), TypeError, "n must"),
    (dict(n=3, offset=-1), ValueError, "offset"),
    (dict(n=3, offset=U64), ValueError, "offset"),
    (dict(n=3, offset=2.0), TypeError, "offset"),
    (dict(n=2**62), (ValueError, MemoryError), "n"),
    (dict(n=3, seed=None), TypeError, "seed"),
])
def test_bad_random_raw(kw, exc, name):
    kw.setdefault("seed", 0)
    with pytest.raises(exc, match=name):
        fastki.random_raw(**kw)


def test_random_raw_last_word_allowed():
    assert fastki.random_raw(4, seed=0, offset=U64 - 4).shape == (4,)
    assert fastki.random_raw(1, seed=0, offset=U64 - 1).shape == (1,)


def test_random_raw_seed_is_required():
    with pytest.raises(TypeError, match="seed"):
        fastki.random_raw(3)


# --------------------------------------------------------------------------- philox4x32_10

Z2 = np.zeros(2, np.uint32)


@pytest.mark.parametrize("counter,key,exc,name", [
    (np.full(4, -1, np.int64), Z2, ValueError, "counter"),
    ([2**32, 0, 0, 0], Z2, ValueError, "counter"),
    (np.zeros(4, np.float32), Z2, TypeError, "counter"),
    (np.zeros(4, bool), Z2, TypeError, "counter"),
    (np.zeros(4, object), Z2, TypeError, "counter"),
    (np.zeros(3, np.uint32), Z2, ValueError, "counter"),
    (0, Z2, ValueError, "counter"),
    ([[0, 0], [0]], Z2, ValueError, "counter"),
    (np.zeros(4, np.uint32), np.zeros(3, np.uint32), ValueError, "key"),
    (np.zeros(4, np.uint32), np.full(2, 2**32, np.int64), ValueError, "key"),
    (np.zeros(4, np.uint32), np.zeros(2, np.float64), TypeError, "key"),
    (np.zeros((2, 4), np.uint32), np.zeros((3, 2), np.uint32), ValueError, "broadcast"),
])
def test_bad_philox_input(counter, key, exc, name):
    with pytest.raises(exc, match=name):
        fastki.philox4x32_10(counter, key)
