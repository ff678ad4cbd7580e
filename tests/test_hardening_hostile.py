"""Hostile input: property-based tests over every public entry point (docs/hardening.md,
"Hostile input").

For each call, one argument (or, in the "all at once" tests, every argument) is drawn from a
pool of hostile values: wrong types, NaN and infinities, huge and negative integers, numpy
scalars, bools, malformed dtypes, out-of-range and stepped blocks, unusable out= arrays.
The properties:

* the call either succeeds, with a result equal to the same call made with plain Python
  values, or raises ValueError, TypeError or MemoryError (subclasses such as NumPy's
  _ArrayMemoryError included) -- never anything else, never a crash;
* the message names the parameter at fault;
* an out= that was refused is left byte-for-byte untouched;
* successful fills hold no NaN, and uniform / truncated-normal values stay inside their
  interval (checked exactly, with fractions).

Sizes are kept small: "huge" shapes are chosen so large that allocation fails at once
(>= 2**44 elements) or so that only a small block of them is asked for.
The number of inputs tried is counted and printed by test_zz_report (run with -s)."""
import collections
import math
import operator
from decimal import Decimal
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastki
from fastki import _api, _params

ml_dtypes = pytest.importorskip("ml_dtypes")

ALLOWED = (ValueError, TypeError, MemoryError)
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")  # np.matrix
TRIED = collections.Counter()
SETTINGS = settings(max_examples=500, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
FILLS = ("uniform", "normal", "truncated_normal")
PARAM_NAMES = {"uniform": ("minval", "maxval"), "normal": ("mean", "stddev"),
               "truncated_normal": ("mean", "stddev", "lower", "upper")}
DEFAULTS = {"minval": 0.0, "maxval": 1.0, "mean": 0.0, "stddev": 1.0, "lower": -2.0, "upper": 2.0}


class Weird:
    """An object whose special methods misbehave in the ways the validator can meet."""

    def __init__(self, kind):
        self.kind = kind

    def __index__(self):
        if self.kind == "index_huge":
            return 1 << 80
        if self.kind == "index_neg":
            return -3
        if self.kind == "index_ok":
            return 3
        raise TypeError("no index")

    def __float__(self):
        return 0.5

    def __repr__(self):
        if self.kind == "repr_raises":
            raise ValueError("repr")
        return f"Weird({self.kind})"


WEIRD = [Weird(k) for k in ("index_huge", "index_neg", "index_ok", "plain")]

# ------------------------------------------------------------------------- value pools

HUGE_INTS = [2**31, 2**32, 2**44, 2**62, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1, 2**65,
             10**30, 10**400, 10**5000]
MISC = [None, "3", b"3", "", [], {}, (), object(), 1 + 2j, Decimal("2.5"), Fraction(1, 3),
        np.array([1, 2]), np.array(3), np.array(2.5), Ellipsis, slice(1, 2), float, int,
        bytearray(b"1")] + WEIRD
NP_INTS = [t(v) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                          np.uint32, np.uint64) for v in (0, 1, 5)] + \
          [np.int64(-1), np.int64(-(2**63)), np.uint64(2**64 - 1), np.int32(2**31 - 1)]
BOOLS = [True, False, np.bool_(True), np.bool_(False)]
FLOAT_SPECIALS = [math.nan, -math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1e-300, 1e308,
                  -1e308, 1.7976931348623157e308, 3.4e38, 3.5e38, 6.6e4, 7e4, 2.0, 0.5, -2.0,
                  np.float32("nan"), np.float16("inf"), np.float64(-1e308), np.float32(3e38),
                  np.longdouble("1e4000"), np.longdouble("-1e4000"), np.float16(2.0)]


@pytest.fixture(autouse=True, scope="module")
def address_space_guard():
    """A safety net, not a property: should a generated case ever ask for a multi-GiB output
    that the OS would grant, it fails with MemoryError (a documented outcome) instead of
    filling GiBs. The limit is this process's current address space plus 4 GiB."""
    resource = pytest.importorskip("resource")
    old = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    limit = size + (4 << 30)
    if old[1] != resource.RLIM_INFINITY:
        limit = min(limit, old[1])
    resource.setrlimit(resource.RLIMIT_AS, (limit, old[1]))
    yield
    resource.setrlimit(resource.RLIMIT_AS, old)


def ints(lo=-(2**70), hi=2**70):
    return st.one_of(st.integers(lo, hi), st.sampled_from(HUGE_INTS + [-h for h in HUGE_INTS]))


any_scalar = st.one_of(ints(), st.floats(allow_nan=True, allow_infinity=True),
                       st.sampled_from(FLOAT_SPECIALS), st.sampled_from(NP_INTS),
                       st.sampled_from(BOOLS), st.sampled_from(MISC))

# numpy ints for dimensions: no mid-size values, whose output would allocate and fill GiBs
DIM_NP_INTS = [v for v in NP_INTS if abs(int(v)) < 2**20 or abs(int(v)) >= 2**44]
small_dim = st.integers(0, 9)
valid_shapes = st.one_of(st.integers(0, 40), st.tuples(), st.tuples(small_dim),
                         st.tuples(small_dim, small_dim),
                         st.tuples(small_dim, small_dim, st.integers(0, 4)))
hostile_dim = st.one_of(small_dim, st.integers(-5, -1), st.sampled_from(HUGE_INTS[2:]),
                        st.sampled_from(DIM_NP_INTS), st.sampled_from(BOOLS),
                        st.floats(allow_nan=True), st.sampled_from(MISC))
hostile_shapes = st.one_of(
    hostile_dim,
    st.lists(hostile_dim, max_size=3).map(tuple),
    st.lists(hostile_dim, max_size=3),
    st.lists(st.integers(0, 1), min_size=60, max_size=70).map(tuple),  # about NumPy's 64 dims
    st.tuples(st.sampled_from(HUGE_INTS[2:]), st.just(0)),
    st.tuples(st.sampled_from([2**22, 2**32, 2**40]), st.sampled_from([2**22, 2**32, 2**40])),
    st.sampled_from([np.array([2, 3]), np.array([[2]]), (2, (3,)), ((),), "2,3", range(3)]),
)

hostile_dtypes = st.sampled_from([
    "float32", "float64", "float16", "bfloat16", "f4", "<f8", "=f2", ">f4", ">f8", "|f4",
    "int32", "uint8", "complex64", "longdouble", "float128", "object", "O", "S5", "U3",
    "M8[s]", "m8", "V8", "", "floaty", "f4,(", "f4,f4)", "(2)f4", "i4,", "bf16", b"f4", b"float32", None, np.float32, np.float64,
    np.float16, np.int32, np.complex128, float, int, complex, object, str, bool,
    np.dtype(">f8"), np.dtype("f4").newbyteorder(), ("f4", 2), ("f4", -1), [("a", "f4")],
    {"names": ["a"], "formats": ["f4"]}, {"names": ["a"], "formats": ["f4"], "offsets": [-1]},
    ml_dtypes.bfloat16, ml_dtypes.float8_e4m3fn, np.dtype(ml_dtypes.bfloat16), "float8_e5m2",
    object(), 3, 3.5, [], Weird("repr_raises"), np.dtype([("a", "f4")]), "f4,f4",
])

seed_like = st.one_of(ints(), st.sampled_from([-1, 2**64 - 1, 2**64, 0, None, 1.0, 1e20, math.nan,
                                               np.uint64(2**64 - 1), np.int64(-1), np.float64(3),
                                               "5", b"5", True, np.bool_(False), 10**5000]),
                      st.sampled_from(MISC), st.sampled_from(NP_INTS))


@st.composite
def hostile_block(draw, shape):
    """Blocks for a valid shape: mostly plausible, often wrong in one way."""
    rank = len(shape)

    def bound(dim):
        return draw(st.one_of(st.none(), st.integers(-dim - 3, dim + 3),
                              st.sampled_from([10**30, -(10**30), 2**64, np.int64(1),
                                               np.uint8(0), True, 1.0, "1", math.nan,
                                               np.array([1, 2])] + WEIRD)))

    def one_slice(dim):
        step = draw(st.one_of(st.none(), st.sampled_from(
            [1, 2, -1, 0, 1.0, np.int8(1), True, "1", np.array([1, 1]), 2**64 + 1])))
        return slice(bound(dim), bound(dim), step)

    kind = draw(st.sampled_from(["tuple", "tuple", "tuple", "list", "bare", "rank+1", "rank-1",
                                 "ints", "junk"]))
    slices = [one_slice(d) for d in shape]
    if kind == "tuple":
        return tuple(slices)
    if kind == "list":
        return slices
    if kind == "bare":
        return slices[0] if slices else slice(None)
    if kind == "rank+1":
        return tuple(slices) + (slice(0, 1),)
    if kind == "rank-1":
        return tuple(slices[:-1])
    if kind == "ints":
        return tuple(draw(st.integers(-2, 5)) for _ in range(rank))
    return draw(st.sampled_from([None, Ellipsis, 3, "0:2", (Ellipsis,), (None,), [0, 1],
                                 np.s_[...], (slice(None), Ellipsis), object()] + WEIRD))


# ------------------------------------------------------------------------- out= arrays


def make_out(kind, shape, dtype):
    """An out= array (or not) of a given kind for a call whose result is shape x dtype."""
    dtype = np.dtype(dtype)
    n = math.prod(shape)
    if kind == "good":
        return np.full(shape, 7, dtype=dtype)
    if kind == "readonly":
        a = np.full(shape, 7, dtype=dtype)
        a.setflags(write=False)
        return a
    if kind == "dtype_float64" or kind == "dtype_float32":
        other = np.float64 if kind == "dtype_float64" else np.float32
        return np.full(shape, 7, dtype=other)
    if kind == "dtype_int":
        return np.full(shape, 7, dtype=np.int32)
    if kind == "byteswapped":
        return np.full(shape, 7, dtype=dtype.newbyteorder())
    if kind == "shape_extra":
        return np.full(shape + (1,), 7, dtype=dtype)
    if kind == "shape_flat":
        return np.full((n + 1,), 7, dtype=dtype)
    if kind == "shape_transposed":
        return np.full(tuple(reversed(shape)) + ((2,) if len(shape) < 2 else ()), 7, dtype=dtype)
    if kind == "strided":
        return np.full(shape[:-1] + (2 * shape[-1] if shape else 2,), 7, dtype=dtype)[..., ::2] \
            if shape else np.full(2, 7, dtype=dtype)[::2]
    if kind == "fortran":
        return np.asfortranarray(np.full(shape, 7, dtype=dtype))
    if kind == "reversed":
        return np.full(shape, 7, dtype=dtype)[::-1] if shape else np.full(shape, 7, dtype=dtype)
    if kind == "misaligned":
        raw = np.full(n * dtype.itemsize + 1, 0xAB, dtype=np.uint8)
        return np.frombuffer(raw.data, dtype=dtype, count=n, offset=1).reshape(shape) \
            if dtype.itemsize > 1 else raw
    if kind == "frombytes_readonly":
        return np.frombuffer(bytes(n * dtype.itemsize), dtype=dtype).reshape(shape)
    if kind == "list":
        return np.full(shape, 7, dtype=dtype).tolist()
    if kind == "memoryview":
        return memoryview(np.full(shape, 7, dtype=dtype).reshape(-1).view(np.uint8))
    if kind == "bytearray":
        return bytearray(n * dtype.itemsize)
    if kind == "matrix":
        return np.asmatrix(np.full(shape, 7, dtype=dtype)) if len(shape) == 2 else None
    if kind == "masked":
        return np.ma.masked_array(np.full(shape, 7, dtype=dtype))
    if kind == "scalar":
        return dtype.type(7)
    return None


OUT_KINDS = ["good", "readonly", "dtype_float64", "dtype_float32", "dtype_int", "byteswapped",
             "shape_extra", "shape_flat", "shape_transposed", "strided", "fortran", "reversed",
             "misaligned", "frombytes_readonly", "list", "memoryview", "bytearray", "matrix",
             "masked", "scalar", "none"]


def snapshot(out):
    if isinstance(out, np.ndarray):
        return out.tobytes() if out.size else b"", out.__array_interface__["data"][0]
    if isinstance(out, (bytearray, memoryview)):
        return bytes(out), None
    return None


# ------------------------------------------------------------------------- checks


def check_exception(exc, names):
    assert isinstance(exc, ALLOWED), f"{type(exc).__name__} is not a documented exception: {exc!r}"
    msg = str(exc)
    assert any(name in msg for name in names), \
        f"{type(exc).__name__} message names none of {names}: {msg!r}"


def call(fn, *args, names, out=None, **kwargs):
    """Call fn; return (result, None) or (None, exception), checking the exception contract
    and that a refused out= is untouched."""
    before = snapshot(out)
    TRIED[fn.__name__] += 1
    try:
        if out is not None:
            kwargs["out"] = out
        return fn(*args, **kwargs), None
    except ALLOWED as exc:
        check_exception(exc, names)
        if before is not None:
            assert snapshot(out) == before, "a refused out= was written to"
        return None, exc
    except Exception as exc:  # noqa: BLE001 - the property under test
        raise AssertionError(f"{fn.__name__} raised undocumented {type(exc).__name__}: {exc!r} "
                             f"(args={args!r}, kwargs={ {k: type(v).__name__ for k, v in kwargs.items()} })") from exc


def plain_shape(shape):
    """The tuple of Python ints a successful call must have used."""
    if isinstance(shape, (list, tuple)):
        return tuple(operator.index(d) for d in shape)
    return (operator.index(shape),)


def check_values(fill, res, dtype, params):
    if res.size == 0:
        return
    dt, compute = _api._dtype_arg(dtype)
    vals = res.astype(np.float64)
    assert not np.isnan(vals).any(), f"{fill} returned NaN for {params}"
    if compute != dt.name:  # float16/bfloat16: rounded float32 values; NaN-free is the check
        return
    if fill == "uniform":
        p = _params._uniform_params(float(params["minval"]), float(params["maxval"]), compute)
        assert vals.min() >= float(p.loc) and vals.max() <= max(float(p.loc), float(p.value_max))
    elif fill == "truncated_normal":
        lo, hi = float(params["lower"]), float(params["upper"])
        p = _params._truncated_params(float(params["mean"]), float(params["stddev"]), lo, hi, compute)
        vmin, vmax = float(p.value_min), float(p.value_max)
        assert vals.min() >= vmin and vals.max() <= vmax, (vals.min(), vals.max(), vmin, vmax)
        m, s = Fraction(float(p.loc)), Fraction(float(p.scale))
        # the clamp interval lies inside the mathematical one (rounded inward, exactly checked)
        if math.isfinite(lo) and math.isfinite(vmin):
            assert Fraction(vmin) >= m + s * Fraction(lo)
        if math.isfinite(hi) and math.isfinite(vmax):
            assert Fraction(vmax) <= m + s * Fraction(hi)


# ------------------------------------------------------------------------- one hostile argument


@st.composite
def fill_case(draw):
    """(fill, which argument is hostile, kwargs, shape, block, out kind)."""
    fill = draw(st.sampled_from(FILLS))
    which = draw(st.sampled_from(["shape", "dtype", "seed", "stream", "block", "out"]
                                 + list(PARAM_NAMES[fill])))
    shape = draw(hostile_shapes if which == "shape" else valid_shapes)
    kwargs = {"seed": draw(seed_like) if which == "seed" else draw(st.integers(0, 2**64 - 1)),
              "stream": draw(seed_like) if which == "stream" else draw(st.integers(0, 3)),
              "dtype": draw(hostile_dtypes) if which == "dtype" else
              draw(st.sampled_from(["float32", "float64", "float16", "bfloat16"]))}
    for name in PARAM_NAMES[fill]:
        kwargs[name] = draw(any_scalar) if which == name else DEFAULTS[name]
    block = None
    if which == "block":
        block = draw(hostile_block(plain_shape(shape)))
    elif which != "shape" and draw(st.booleans()):
        dims = plain_shape(shape)
        block = tuple(slice(a, a + draw(st.integers(0, d - a))) for d in dims
                      for a in [draw(st.integers(0, d))])
    out_kind = draw(st.sampled_from(OUT_KINDS)) if which == "out" else \
        draw(st.sampled_from(["none", "good"]))
    return fill, which, kwargs, shape, block, out_kind


@settings(SETTINGS, max_examples=2500)
@given(fill_case())
def test_one_hostile_argument(case):
    fill, which, kwargs, shape, block, out_kind = case
    fn = getattr(fastki, fill)
    out = None
    if out_kind != "none" and which not in ("shape", "dtype", "block"):
        dims = plain_shape(shape)
        res_shape = dims if block is None else tuple(b.stop - b.start for b in block)
        out = make_out(out_kind, res_shape, _api._dtype_arg(kwargs["dtype"])[0])
    if block is not None:
        kwargs["block"] = block
    names = {which}
    if which in ("minval", "maxval"):
        names = {"minval", "maxval"}
    res, exc = call(fn, shape, names=names, out=out, **kwargs)
    if exc is not None:
        return
    # success: the result equals the same call with plain Python values
    if out is not None:
        assert res is out
    plain = dict(kwargs, seed=operator.index(kwargs["seed"]) if kwargs["seed"] is not None
                 else None, stream=operator.index(kwargs["stream"]))
    for name in PARAM_NAMES[fill]:
        plain[name] = float(kwargs[name])
    check_values(fill, res, kwargs["dtype"], plain)
    if plain["seed"] is None:
        return
    plain.pop("block", None)
    full = fn(plain_shape(shape), **plain)
    if block is not None:
        b = block if isinstance(block, (tuple, list)) else (block,)
        expected = full[tuple(b)]
    else:
        expected = full
    assert res.shape == expected.shape
    assert res.tobytes() == expected.tobytes()


# ------------------------------------------------------------------------- everything hostile


@settings(SETTINGS, max_examples=1500)
@given(fill=st.sampled_from(FILLS), shape=hostile_shapes, dtype=hostile_dtypes, seed=seed_like,
       stream=seed_like, p=st.lists(any_scalar, min_size=4, max_size=4),
       block=st.one_of(st.none(), hostile_block((3, 4))),
       out_kind=st.sampled_from(OUT_KINDS))
def test_all_arguments_hostile(fill, shape, dtype, seed, stream, p, block, out_kind):
    fn = getattr(fastki, fill)
    kwargs = dict(zip(PARAM_NAMES[fill], p), seed=seed, stream=stream, dtype=dtype)
    if block is not None:
        kwargs["block"] = block
    try:
        out_dtype = _api._dtype_arg(dtype)[0]
    except ALLOWED:
        out_dtype = np.dtype(np.float32)
    out = make_out(out_kind, (3, 4), out_dtype)
    names = ("shape", "dtype", "seed", "stream", "block", "out") + PARAM_NAMES[fill]
    call(fn, shape, names=names, out=out, **kwargs)


# ------------------------------------------------------------------------- random_raw


@SETTINGS
@given(n=st.one_of(st.integers(0, 100), ints(), st.sampled_from(MISC + NP_INTS + BOOLS)),
       seed=seed_like, stream=seed_like, offset=st.one_of(ints(), seed_like),
       which=st.sampled_from(["n", "seed", "stream", "offset", "all"]))
def test_random_raw_hostile(n, seed, stream, offset, which):
    args = {"n": n, "seed": seed, "stream": stream, "offset": offset}
    valid = {"n": 17, "seed": 5, "stream": 0, "offset": 3}
    if which != "all":
        args = dict(valid, **{which: args[which]})
    try:
        if 2**20 < operator.index(args["n"]) < 2**40 and not isinstance(args["n"], bool):
            args["n"] = 2**44  # keep successful allocations small; this one fails at once
    except TypeError:
        pass
    names = tuple(args) if which == "all" else (which,)
    n_ = args.pop("n")
    res, exc = call(fastki.random_raw, n_, names=names, **args)
    if exc is None and which != "all":
        plain = {k: operator.index(v) for k, v in args.items()}
        ref = fastki.random_raw(operator.index(n_), **plain)
        assert res.dtype == np.uint32 and res.tobytes() == ref.tobytes()


# ------------------------------------------------------------------------- philox4x32_10

array_like = st.one_of(
    st.sampled_from([[0, 1, 2, 3], [[0, 1, 2, 3]], [0, 1], [[1, 2], [3, 4]], [[1, 2, 3, 4], [1, 2]],
                     [2**32, 0, 0, 0], [-1, 0, 0, 0], [2**70, 1, 2, 3], [0.5, 1, 2, 3],
                     [True, False, True, False], "abcd", b"abcd", [], [[]], None, 3]),
    st.sampled_from(MISC),
    st.builds(lambda shape, dt: np.zeros(shape, dtype=dt),
              st.sampled_from([(4,), (2,), (3, 4), (3, 2), (0, 4), (0, 2), (2, 1, 4), (1, 3, 2),
                               (5,), (), (4, 4), (2, 2)]),
              st.sampled_from([np.uint32, np.uint64, np.int64, np.int8, np.float32, np.bool_,
                               object, ">u4", "U1"])),
)


@SETTINGS
@given(counter=array_like, key=array_like)
def test_philox_hostile(counter, key):
    res, exc = call(fastki.philox4x32_10, counter, key, names=("counter", "key"))
    if exc is None:
        assert res.dtype == np.uint32 and res.shape[-1] == 4


# ------------------------------------------------------------------------- options


@SETTINGS
@given(backend=st.one_of(st.sampled_from(["native", "numpy", "NATIVE", "", "torch"]),
                         st.sampled_from(MISC + BOOLS)),
       simd=st.one_of(st.sampled_from(["scalar", "sse2", "avx2", "avx512", "neon", "AVX2", ""]),
                      st.sampled_from(MISC + BOOLS)),
       num_threads=st.one_of(st.none(), ints(), st.sampled_from(MISC + NP_INTS + BOOLS + [2.0])),
       which=st.sampled_from(["backend", "simd", "num_threads"]))
def test_options_hostile(backend, simd, num_threads, which):
    args = {"backend": None, "simd": None, "num_threads": None}
    args[which] = {"backend": backend, "simd": simd, "num_threads": num_threads}[which]
    TRIED["options"] += 1
    try:
        with fastki.options(**args):
            # a SIMD path this CPU lacks is refused at the fill, naming simd
            call(fastki.uniform, 5, names=("simd",), seed=1)
    except ALLOWED as exc:
        check_exception(exc, (which,))


# ------------------------------------------------------------------------- fixed cases


REGRESSIONS = [
    # each was a crash or an undocumented exception before the hardening fixes
    (lambda: fastki.uniform(3, 10**400, 10**401, seed=1), "minval"),           # OverflowError
    (lambda: fastki.truncated_normal(3, lower=-10**400, seed=1), "lower"),     # OverflowError
    (lambda: fastki.uniform((1,) * 100, seed=1), "shape"),                     # MemoryError
    (lambda: fastki.uniform(3, dtype=("f4", -1)), "dtype"),                    # numpy ValueError
    (lambda: fastki.uniform(3, seed=1, block=(slice(0, 2, np.array([1, 1])),)), "block"),
    (lambda: fastki.philox4x32_10([[1, 2, 3, 4], [1, 2]], [1, 2]), "counter"),
    (lambda: fastki.random_raw(2**62 - 1, seed=1), "n"),                       # ValueError w/o "n"
    (lambda: fastki.options(backend=np.array([1, 2])).__enter__(), "backend"),
    (lambda: fastki.uniform(1000, -1e308, 1e308, seed=1, dtype="float64"), "maxval"),  # constant
    (lambda: fastki.uniform(3, seed=10**5000), "seed"),                        # str() limit
    (lambda: fastki.uniform((10**5000,)), "shape"),
    (lambda: fastki.uniform((0, 10**5000), seed=1, block=(slice(0, 1), slice(0, 1))), "shape"),
    (lambda: fastki.normal(3, seed=1, dtype="f4,("), "dtype"),  # SyntaxError (found by atheris)
    # an int shape above 2**64 skipped the check (fast path); a block then overflowed the
    # kernel's uint64 index: OverflowError (found by atheris)
    (lambda: fastki.uniform(2**65, seed=1, block=(slice(-5, None),)), "shape"),
]


@pytest.mark.parametrize("index", range(len(REGRESSIONS)))
def test_regressions(index):
    fn, name = REGRESSIONS[index]
    TRIED["regressions"] += 1
    with pytest.raises(ALLOWED) as info:
        fn()
    check_exception(info.value, (name,))


def test_zero_d_block_and_huge_truncated_bounds():
    TRIED["regressions"] += 2
    a = fastki.uniform((), seed=1, block=())         # was IndexError
    assert a.shape == () and a.tobytes() == fastki.uniform((), seed=1).tobytes()
    t = fastki.truncated_normal(1000, 1e308, 1e308, seed=1, dtype="float64")  # was -inf
    assert np.isfinite(t).all() and t.min() >= -1e308


def test_zz_report():
    """Prints how many hostile inputs the tests above tried (pytest -s shows it)."""
    total = sum(TRIED.values())
    print(f"\nhostile inputs tried: {total} ({dict(sorted(TRIED.items()))})")
    if TRIED:
        assert total > 0
