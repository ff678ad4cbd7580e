"""float16 and bfloat16 keep the intervals of float32: rounding a float32 value to the narrower
type could reach maxval (uniform) or step past an end of a truncated interval (0.3 in float16
is 0.30005), so values are clamped, before rounding, to bounds the narrow type holds."""
from fractions import Fraction

import numpy as np
import pytest

import fastki

ml_dtypes = pytest.importorskip("ml_dtypes")

NARROW = {"float16": np.dtype(np.float16), "bfloat16": np.dtype(ml_dtypes.bfloat16)}
BACKENDS = ["native", "numpy"]


def _as_float64(x):
    return np.asarray(x).astype(np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", sorted(NARROW))
@pytest.mark.parametrize("minval, maxval", [(0.0, 1.0), (-0.3, 0.3), (1.0, 1.001), (0.1, 0.7),
                                            (-4.618716679195063, -4.28538334586173)])
def test_uniform_stays_in_the_interval_asked_for(backend, dtype, minval, maxval):
    """2**20 draws: before the clamp about 2.4e-4 (float16) and 2e-3 (bfloat16) of them on
    [0, 1) rounded up to 1.0, i.e. hundreds of hits, and minval rounded to nearest could lie
    below minval (bfloat16 -4.625 < -4.6187); now every value lies in [minval, maxval) of the
    exact arguments."""
    with fastki.options(backend=backend):
        x = _as_float64(fastki.uniform(1 << 20, minval, maxval, seed=5, dtype=dtype))
    assert x.min() >= minval
    assert x.max() < maxval
    t = NARROW[dtype].type
    up = t(np.inf)
    inside = {float(v) for v in (t(minval), np.nextafter(t(minval), up),
                                 np.nextafter(np.nextafter(t(minval), up), up))
              if minval <= float(v) < maxval}
    if len(inside) > 1:  # more than one narrow value in the interval: more than one drawn
        assert len(np.unique(x)) > 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", sorted(NARROW))
@pytest.mark.parametrize("mean, stddev, lower, upper", [
    (0.0, 1.0, -0.3, 0.3), (0.0, 1.0, -2.0, 2.0), (0.1, 0.02, -2.0, 2.0),
    (1.0, 3.0, 0.0, np.inf), (5.0, 0.7, -np.inf, -1.1)])
def test_truncated_normal_stays_inside(backend, dtype, mean, stddev, lower, upper):
    with fastki.options(backend=backend):
        x = _as_float64(fastki.truncated_normal(1 << 18, mean, stddev, lower=lower,
                                                upper=upper, seed=9, dtype=dtype))
    exact = lambda z: Fraction(mean) + Fraction(stddev) * Fraction(z)  # noqa: E731
    if np.isfinite(lower):
        assert Fraction(x.min()) >= exact(lower)
    if np.isfinite(upper):
        assert Fraction(x.max()) <= exact(upper)
    assert np.isfinite(x).all()


@pytest.mark.parametrize("dtype", sorted(NARROW))
def test_clamp_is_blockwise_and_backend_independent(dtype):
    args = dict(lower=-0.3, upper=0.3, seed=2, dtype=dtype)
    whole = fastki.truncated_normal((300, 7), **args)
    block = (slice(11, 200), slice(2, 5))
    with fastki.options(backend="numpy"):
        assert fastki.truncated_normal((300, 7), **args).tobytes() == whole.tobytes()
    assert fastki.truncated_normal((300, 7), block=block, **args).tobytes() == whole[block].tobytes()


@pytest.mark.parametrize("dtype", sorted(NARROW))
def test_interval_without_a_narrow_value_is_refused(dtype):
    with pytest.raises(ValueError, match=rf"mean, stddev, lower, upper: the interval "
                                         rf"\[1\.0000001\d*, 1\.0000002\d*\] holds no {dtype} value"):
        fastki.truncated_normal(4, 1.0, 1e-6, lower=0.1, upper=0.2, seed=1, dtype=dtype)


@pytest.mark.parametrize("name", ["float32", "float64"])
def test_equal_dtype_objects_are_not_narrow_dtypes(name):
    """A float64 dtype equal to NumPy's but another object (one unpickled in a worker
    process, or made by newbyteorder('=')) used to be taken for a rounded dtype: values made
    in float32, and cached so that later calls with NumPy's own dtype got them too."""
    import pickle

    twins = [pickle.loads(pickle.dumps(np.dtype(name))), np.dtype(name).newbyteorder("=")]
    want = fastki.normal(50, seed=1, dtype=name).tobytes()
    for twin in twins:
        assert fastki.normal(50, seed=1, dtype=twin).tobytes() == want
        assert fastki.uniform(50, seed=1, dtype=twin, block=(slice(3, 9),)).tobytes() == \
            fastki.uniform(50, seed=1, dtype=name)[3:9].tobytes()
    assert fastki.normal(50, seed=1, dtype=np.dtype(name)).tobytes() == want
