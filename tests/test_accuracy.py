"""The accuracy docs/algorithm.md states: each approximation within its ulp bound, and each
distribution's reach, measured by tools/accuracy.py on a subsample of its inputs.

The subsample (``--fast``) is a subset of the inputs of the full run the document quotes,
so its maxima can only be smaller; the bounds are the full run's maxima plus a small
margin, so a changed coefficient or reordered operation that costs accuracy fails here.
"""
import importlib.util
import math
import pathlib

import numpy as np
import pytest

pytest.importorskip("mpmath")
pytest.importorskip("scipy")

_TOOL = pathlib.Path(__file__).resolve().parent.parent / "tools" / "accuracy.py"


@pytest.fixture(scope="module")
def accuracy():
    spec = importlib.util.spec_from_file_location("fastki_accuracy_tool", _TOOL)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def rows(accuracy):
    return {r.key: r for r in accuracy.measure(fast=True)}


# The bounds docs/algorithm.md states, in ulp ("Accuracy"); kept here too so that a change
# of the tool's table alone cannot loosen them.
STATED = {
    "log_f32_radius": 0.85, "log_f32_all": 0.85, "radius_f32": 1.0, "cos_f32": 1.55,
    "sin_f32": 2.0, "ppnd7_central": 6.0, "ppnd7_near": 6.5, "ppnd7_far": 4.6,
    "normal_z_f32": 3.5,
    "log_f64_radius": 0.85, "log_f64_all": 0.85, "radius_f64": 1.0, "cos_f64": 1.5,
    "sin_f64": 1.8, "ppnd16_central": 5.0, "ppnd16_near": 5.5, "ppnd16_far": 6.5,
}


def test_every_stated_bound_is_measured(accuracy, rows):
    assert set(rows) == set(STATED)
    assert accuracy.BOUNDS == STATED


@pytest.mark.parametrize("key", sorted(STATED))
def test_ulp_bound(rows, key):
    r = rows[key]
    assert r.n > 1000, f"{key}: only {r.n} inputs measured"
    assert r.max_ulp <= STATED[key], (
        f"{r.function}: {r.max_ulp:.3f} ulp at {r.where} exceeds the stated {STATED[key]} ulp")


def test_errors_are_not_vacuous(rows):
    # a broken reference (or a measurement of nothing) would report 0: every function
    # rounds somewhere, so its largest error is at least a quarter ulp
    for key, r in rows.items():
        assert r.max_ulp > 0.25, f"{key}: largest error {r.max_ulp} ulp is implausibly small"


def _reach(accuracy):
    return {name: got for name, got, _ in accuracy.reach()}


def test_reach(accuracy):
    got = _reach(accuracy)

    def find(prefix):
        (value,) = [v for k, v in got.items() if k.startswith(prefix)]
        return value

    # normal: the largest radius times cos = 1.0 exactly, sqrt(-2 ln 2**-k) to the last bit
    assert find("normal float32: largest") == np.float32(5.7681074142456055)
    assert find("normal float64: largest") == 8.571674348652905
    assert math.isclose(find("normal float32: largest"), math.sqrt(48 * math.log(2)),
                        rel_tol=2 ** -23)
    # truncated normal: symmetric reach at the extreme u, inside the bounds when bounded
    assert find("truncated float32 [-inf, inf]: largest") == -find(
        "truncated float32 [-inf, inf]: smallest") == np.float32(5.294704437255859)
    assert find("truncated float64 [-inf, inf]: largest") == 8.209536151601386
    assert -2.0 < find("truncated float32 [-2.0, 2.0]: smallest") < -2.0 + 2e-6
    assert 2.0 - 2e-6 < find("truncated float32 [-2.0, 2.0]: largest") < 2.0
    assert math.isclose(find("truncated float32 farthest"), 12.8430929, rel_tol=1e-6)
    assert math.isclose(find("truncated float64 farthest"), 37.3528588, rel_tol=1e-8)
    assert find("uniform float32 [0, 1): largest") == 1 - 2.0 ** -24
    assert find("uniform float64 [0, 1): largest") == 1 - 2.0 ** -53


def test_reach_matches_the_validator(accuracy):
    # fastki._api refuses parameters whose values would overflow, using these reaches
    from fastki import _params

    got = _reach(accuracy)
    z32 = [v for k, v in got.items() if k.startswith("normal float32: largest")][0]
    z64 = [v for k, v in got.items() if k.startswith("normal float64: largest")][0]
    assert z32 <= _params._Z_REACH["normal"]["float32"]
    assert z64 <= _params._Z_REACH["normal"]["float64"]
    t32 = [v for k, v in got.items() if k.startswith("truncated float32 farthest")][0]
    t64 = [v for k, v in got.items() if k.startswith("truncated float64 farthest")][0]
    assert t32 <= _params._Z_REACH["truncated_normal"]["float32"]
    assert t64 <= _params._Z_REACH["truncated_normal"]["float64"]


# --------------------------------------------------------------------------- pinned bits
# A coefficient changed in its last digit can leave every maximum above unchanged; the bits
# of each approximation on fixed inputs cannot. (Inputs built from integers and bit
# patterns only, so they are the same on every platform.) Changing these values is
# changing the specification, docs/algorithm.md §6 (and CHANGELOG.md).

def _bits(lo, hi, n, dtype):
    """n values of dtype evenly spaced in bit pattern from lo to hi."""
    u = {4: np.uint32, 8: np.uint64}[np.dtype(dtype).itemsize]
    a, b = int(np.array(lo, dtype).view(u)), int(np.array(hi, dtype).view(u))
    return np.array([a + (b - a) * i // (n - 1) for i in range(n)], dtype=u).view(dtype)


def _pinned_outputs():
    from fastki import _constants as K
    from fastki import _numpy as N

    f = np.arange(0, 1 << 24, 4099, dtype=np.uint32)
    y32 = ((2 * np.arange(0, 1 << 22, 1031) + 1 - (1 << 22)) * 2.0 ** -23).astype(np.float32)
    y64 = (2 * np.arange(0, 1 << 51, (1 << 51) // 4001 + 1) + 1 - 2.0 ** 51) * 2.0 ** -52
    p64 = np.concatenate([_bits(2.0 ** -1013, 0.5, 2001, np.float64),
                          _bits(0.5, 1 - 2.0 ** -53, 2001, np.float64)])
    return {
        "log_f32": N.log_f32(np.arange(1, (1 << 24) + 1, 4099).astype(np.float32), 24),
        "radius_f32": N._radius_f32(f),
        "sincos_f32": np.concatenate(N._sincos_quadrant_f32(y32, np.zeros(y32.size, np.uint32))),
        "ppnd7": N._ppnd(_bits(2.0 ** -124, 1 - 2.0 ** -24, 4001, np.float32), K.AS241_PPND7,
                         N.log_f32, np.dtype(np.float32)),
        "log_f64": N.log_f64(_bits(2.0 ** -1022, 2.0 ** 53, 4001, np.float64)),
        "sincos_f64": np.concatenate(N._sincos_quadrant_f64(y64, np.zeros(y64.size, np.int64))),
        "ppnd16": N._ppnd(p64, K.AS241_PPND16, N.log_f64, np.dtype(np.float64)),
    }


PINNED = {  # first 32 hex digits of SHA-256 of the little-endian output bytes
    "log_f32": "c715403dc49a36ec24423ba3a83b0caa",
    "radius_f32": "c86e37341767268c15db021a2b2f0eff",
    "sincos_f32": "f90ebfcc073e55c04b7a378407f50726",
    "ppnd7": "f876b9e6ece844cc91da2eef56050691",
    "log_f64": "f2fdd3450df4f7ee9de3dbeae47aee20",
    "sincos_f64": "f88620e7f8b65c500cc3271529bea2d9",
    "ppnd16": "2fbd611ae2d1fdbddc5fe6187b3c5ef4",
}


def test_approximation_bits_pinned():
    import hashlib

    got = {k: hashlib.sha256(v.astype(v.dtype.newbyteorder("<")).tobytes()).hexdigest()[:32]
           for k, v in _pinned_outputs().items()}
    changed = sorted(k for k in PINNED if got[k] != PINNED[k])
    assert not changed, f"approximations whose values changed: {changed} (now {got})"
