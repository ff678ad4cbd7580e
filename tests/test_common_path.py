"""The common call (fastki/_api.py, "the fills"; fastki/_native.pyx, "the common call").

fastki.uniform/normal/truncated_normal are the Python functions of fastki._api, in a source
tree and in an installed build alike (one build of the front door). A common call is served by the compiled helper _native.fill_accepted when the validator has already
accepted its distribution arguments; every other call goes through _api._generate. These
tests check that the two routes give the same bytes and errors, that the common route is
really taken, that `out=` takes it too, and that the parameter cache tells -0.0 from 0.0.
"""
import contextlib
import random

import numpy as np
import pytest

import fastki
from fastki import _api, _params

from conftest import native_available

pytestmark = pytest.mark.skipif(not native_available(), reason="the common path is compiled")

DISTS = ("uniform", "normal", "truncated_normal")


@contextlib.contextmanager
def validated_route():
    """Every call through _api._generate (the validator), as without the compiled helper."""
    saved = _api._FAST_NATIVE
    _api._FAST_NATIVE = False
    try:
        yield
    finally:
        _api._FAST_NATIVE = saved


def general(dist, *args, **kwargs):
    with validated_route():
        return getattr(fastki, dist)(*args, **kwargs)


@pytest.fixture
def general_calls(monkeypatch):
    """Counts the calls that reach _api._generate, by distribution."""
    counts = {name: 0 for name in DISTS}
    original = _api._generate

    def counting(dist, *args, **kwargs):
        counts[dist] += 1
        return original(dist, *args, **kwargs)

    monkeypatch.setattr(_api, "_generate", counting)
    return counts


def _clear_accepted():
    """Forget every accepted parameter set (fastki/_params.py, params_for)."""
    _params.forget_params()


def test_the_public_functions_live_in_the_front_door():
    """The compiled kernel module holds kernels only: the public fills are _api's functions,
    and _native has no entry point of its own and imports no module of fastki."""
    import types

    from fastki import _native
    for name in DISTS:
        fn = getattr(fastki, name)
        assert fn.__module__ == "fastki._api" and fn is getattr(_api, name)
        assert not hasattr(_native, name)
    assert not hasattr(_native, "bind_api")
    fastki_modules = sorted(v.__name__ for v in vars(_native).values()
                            if isinstance(v, types.ModuleType) and v.__name__.startswith("fastki"))
    assert fastki_modules == []


def test_front_door_is_python_with_its_source_and_signatures():
    """One build of the front door: installed or in a source tree, fastki/_api.py runs as
    Python, so tracebacks show its source lines and inspect finds them. The public
    signatures have keyword-only seed, stream, dtype, out and block."""
    import inspect
    import traceback
    import types

    assert _api.__file__.endswith(".py"), f"fastki._api runs from {_api.__file__}"
    for name in DISTS:
        fn = getattr(fastki, name)
        assert isinstance(fn, types.FunctionType)
        assert inspect.getsource(fn).lstrip().startswith(f"def {name}(")
        params = inspect.signature(fn).parameters
        keyword_only = [p for p, v in params.items() if v.kind is v.KEYWORD_ONLY]
        assert keyword_only[-5:] == ["seed", "stream", "dtype", "out", "block"]
        assert params["seed"].default is None and params["dtype"].default == "float32"
        with pytest.raises(TypeError):
            fn(3, 0.0, 1.0, 7)  # seed is keyword-only
    with pytest.raises(ValueError) as info:
        fastki.normal((2,), stddev=-1)
    frames = traceback.extract_tb(info.tb)
    assert [f.name for f in frames if f.filename == _api.__file__][:1] == ["normal"]
    assert frames[-1].filename.endswith(("_params.py", "_api.py")), frames[-1].filename
    assert frames[-1].line.startswith('raise ValueError(f"stddev must be non-negative'), \
        frames[-1].line


@pytest.mark.parametrize("dist", DISTS)
def test_second_call_takes_the_common_path(dist, general_calls):
    fn = getattr(fastki, dist)
    fresh = 1.0 + random.random()  # parameters no earlier test can have had accepted
    first = fn(17, -fresh, fresh, seed=3, dtype="float64")  # not yet accepted: _generate
    assert general_calls[dist] == 1
    second = fn(17, -fresh, fresh, seed=3, dtype="float64")
    assert general_calls[dist] == 1, "the repeated call went to _generate"
    out = np.full(17, np.nan)
    third = fn(17, -fresh, fresh, seed=3, dtype="float64", out=out)
    assert general_calls[dist] == 1, "the call with out= went to _generate"
    assert third is out
    assert first.tobytes() == second.tobytes() == out.tobytes()


@pytest.mark.parametrize("kwargs", [
    {"out": np.empty(5, np.float32)},               # wrong shape: refused by _generate
    {"out": np.empty(4, np.float64)},               # wrong dtype
    {"out": np.empty(8, np.float32)[::2]},          # not contiguous
    {"out": np.empty(4, np.float32).view(np.matrix)},  # a subclass
    {"out": np.empty(4, ">f4")},                    # byte-swapped
    {"block": (slice(0, 4),)},
    {"dtype": "float16"},
    {"dtype": "<f4"},
    {"seed": np.uint64(3)},
    {"stream": True},
    {"mean": np.float32(0.0)},
])
def test_uncommon_calls_go_to_the_validator(kwargs, general_calls):
    fastki.normal(4, seed=3)  # accepted once
    before = general_calls["normal"]
    kwargs.setdefault("seed", 3)
    out = kwargs.get("out")
    saved = None if out is None else out.copy()
    try:
        fastki.normal(4, **kwargs)
    except (TypeError, ValueError):  # refused by _generate; a refused out= is untouched
        assert saved is None or saved.tobytes() == out.tobytes()
    assert general_calls["normal"] == before + 1


def test_options_go_to_the_validator(general_calls):
    fastki.normal(5, seed=1)
    before = general_calls["normal"]
    with fastki.options(backend="numpy"):
        via_numpy = fastki.normal(5, seed=1)
    with fastki.options(num_threads=1, simd="scalar"):
        scalar = fastki.normal(5, seed=1)
    assert general_calls["normal"] == before + 2
    assert via_numpy.tobytes() == scalar.tobytes() == fastki.normal(5, seed=1).tobytes()


SHAPES = [0, 1, 79, 80, 81, 1000, (), (0,), (3, 0), (2, 3), (4, 5, 6), (1,) * 8, (1,) * 9,
          (2**31 - 1, 0)]
DTYPES = ["float32", "float64", np.float32, np.float64, np.dtype("float32"),
          np.dtype("float64")]


@pytest.mark.parametrize("shape", SHAPES, ids=repr)
@pytest.mark.parametrize("dtype", DTYPES, ids=repr)
@pytest.mark.parametrize("dist", DISTS)
def test_same_bytes_as_the_validated_route(dist, dtype, shape):
    for _ in range(2):  # once to have the parameters accepted, once on the common path
        got = getattr(fastki, dist)(shape, seed=2**64 - 1, stream=5, dtype=dtype)
    want = general(dist, shape, seed=2**64 - 1, stream=5, dtype=dtype)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.flags.c_contiguous and got.flags.writeable and got.flags.owndata
    assert got.tobytes() == want.tobytes()
    out = np.full(want.shape, np.nan, dtype=want.dtype)
    assert getattr(fastki, dist)(shape, seed=2**64 - 1, stream=5, dtype=dtype, out=out) is out
    assert out.tobytes() == want.tobytes()


def test_many_parameter_sets_share_the_cache_without_mixing():
    """More parameter sets than cache slots, called in a random order: collisions evict
    entries, and every value still equals _api's."""
    rng = random.Random(7)
    sets = [(rng.choice(["uniform", "normal", "truncated_normal"]), rng.uniform(-3, 3),
             rng.uniform(0.5, 3), rng.choice(["float32", "float64"])) for _ in range(600)]
    for _ in range(3):
        rng.shuffle(sets)
        for dist, a, b, dtype in sets:
            args = (min(a, b), max(a, b)) if dist == "uniform" else (a, b)
            got = getattr(fastki, dist)(7, *args, seed=11, dtype=dtype)
            want = general(dist, 7, *args, seed=11, dtype=dtype)
            assert got.tobytes() == want.tobytes(), (dist, args, dtype)


@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_negative_zero_parameters_are_not_zero(backend):
    """mean=-0.0 with stddev=0 gives -0.0 where z is negative, mean=0.0 gives +0.0 there;
    a memo keyed by value (0.0 == -0.0) would return whichever came first."""
    with fastki.options(backend=backend):
        _clear_accepted()
        plus = fastki.normal(64, 0.0, 0.0, seed=1, dtype="float64")
        minus = fastki.normal(64, -0.0, 0.0, seed=1, dtype="float64")
        plus_again = fastki.normal(64, 0.0, 0.0, seed=1, dtype="float64")
    assert not np.signbit(plus).any() and not np.signbit(plus_again).any()
    assert np.signbit(minus).any() and not np.signbit(minus).all()
    # the same -0.0 pattern as computed with nothing cached, by the other backend
    _clear_accepted()
    with fastki.options(backend="numpy" if backend == "native" else "native"):
        fresh = fastki.normal(64, -0.0, 0.0, seed=1, dtype="float64")
    assert minus.tobytes() == fresh.tobytes()


def test_int_parameters_equal_their_floats():
    assert fastki.normal(9, 1, 2, seed=4).tobytes() == fastki.normal(9, 1.0, 2.0, seed=4).tobytes()
    assert (fastki.truncated_normal(9, 0, 1, lower=-1, upper=3, seed=4).tobytes()
            == fastki.truncated_normal(9, 0.0, 1.0, lower=-1.0, upper=3.0, seed=4).tobytes())


@pytest.mark.parametrize("call, exc, match", [
    (lambda: fastki.normal(-1, seed=1), ValueError, "shape must not be negative"),
    (lambda: fastki.normal(2**64 + 1, seed=1), ValueError, "shape"),
    (lambda: fastki.normal(3, seed=-1), ValueError, r"seed must be in \[0, "),
    (lambda: fastki.normal(3, seed=2**64), ValueError, r"seed must be in \[0, "),
    (lambda: fastki.normal(3, seed=1, stream=-1), ValueError, r"stream must be in \[0, "),
    (lambda: fastki.normal(3, 0.0, float("nan"), seed=1), ValueError, "stddev must not be NaN"),
    (lambda: fastki.normal(3, 0.0, -1.0, seed=1), ValueError, "stddev must be non-negative"),
    (lambda: fastki.normal(3, 10**400, 1.0, seed=1), ValueError, "out of range for float64"),
    (lambda: fastki.uniform(3, 2.0, 1.0, seed=1), ValueError, "minval must not exceed maxval"),
    (lambda: fastki.normal(3, seed=1, dtype="int32"), TypeError, "dtype must be float32"),
    (lambda: fastki.normal((2**40, 2**40), seed=1), ValueError, "too large|more than"),
])
def test_errors_after_the_parameters_were_accepted(call, exc, match):
    """A call the common path does not take reaches the validator, even when the same
    distribution parameters were accepted before."""
    fastki.normal(3, seed=1)
    fastki.uniform(3, seed=1)
    fastki.normal(3, 10.0, 1.0, seed=1)
    with pytest.raises(exc, match=match):
        call()


def test_huge_allocation_fails_with_the_validator_message():
    fastki.normal(3, seed=1)
    with pytest.raises((MemoryError, ValueError), match=r"shape \(2147483647, 2147483647\)"):
        fastki.normal((2**31 - 1, 2**31 - 1), seed=1)


def test_seed_none_draws_a_fresh_seed_each_call():
    fastki.normal(64, seed=1)
    a, b = fastki.normal(64), fastki.normal(64)
    assert a.dtype == np.float32 and a.shape == (64,)
    assert a.tobytes() != b.tobytes()
