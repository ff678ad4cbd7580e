"""The random initializers of the catalogue: RandomNormal, TruncatedNormal, RandomUniform,
the VarianceScaling family and Orthogonal, drawing from fastki.uniform, normal and
truncated_normal."""
import copy
import math
import numbers

import numpy as np

from .. import _api
from .._validate import _show
from .initializer import (_RandomInitializer, _cast_exact, _float_dtype, _shape, _whole_source,
                          compute_fans)

# after truncation at two standard deviations, have the standard deviation sqrt(scale / n).
# Keras uses the same number (as a bare literal); tests/test_initializers.py recomputes it.
TRUNCATED_UNIT_NORMAL_STD = 0.87962566103423978

# Truncated draws keep values within this many standard deviations of the mean, as in Keras.
_TRUNCATION_BOUND = 2.0


class RandomNormal(_RandomInitializer):
    """Normal values with mean ``mean`` and standard deviation ``stddev``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None, stream=0):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed, stream=stream)

    def _distribution(self, shape):
        return _api.normal, {"mean": self.mean, "stddev": self.stddev}

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(_RandomInitializer):
    """Normal values restricted to two standard deviations around the mean (sampled by
    inverse CDF, so no value is clipped).  ``stddev`` is the parameter before truncation,
    as in Keras: the values' standard deviation is ``TRUNCATED_UNIT_NORMAL_STD * stddev``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None, stream=0):
        self.mean = mean
        self.stddev = stddev
        super().__init__(seed=seed, stream=stream)

    def _distribution(self, shape):
        return _api.truncated_normal, {"mean": self.mean, "stddev": self.stddev,
                                       "lower": -_TRUNCATION_BOUND, "upper": _TRUNCATION_BOUND}

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class RandomUniform(_RandomInitializer):
    """Uniform values in ``[minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None, stream=0):
        self.minval = minval
        self.maxval = maxval
        super().__init__(seed=seed, stream=stream)

    def _distribution(self, shape):
        return _api.uniform, {"minval": self.minval, "maxval": self.maxval}

    def get_config(self):
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")
# what the constructor accepts: "normal" is Keras' alias of "truncated_normal"
_DISTRIBUTION_NAMES = ("truncated_normal", "normal", "untruncated_normal", "uniform")


class VarianceScaling(_RandomInitializer):
    """Values whose variance is ``scale / max(1, n)``, with n the fan given by ``mode``
    (fan_in, fan_out or their mean fan_avg; see :func:`compute_fans`).

    distribution="truncated_normal" (or "normal"): a normal truncated to two standard
    deviations, its parameter enlarged by ``1 / TRUNCATED_UNIT_NORMAL_STD`` so that the
    values have the target standard deviation; "untruncated_normal": a plain normal;
    "uniform": uniform in ``[-limit, limit)`` with ``limit = sqrt(3 * scale / max(1, n))``.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 input_axes=None, output_axes=None, stream=0):
        if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
            raise TypeError("Argument `scale` must be positive float. "
                            f"Received: scale={_show(scale)}")
        if not 0.0 < scale < math.inf:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in _MODES:
            raise ValueError(f"Invalid `mode` argument: {_show(mode)}. "
                             f"Please use one of {list(_MODES)}")
        if not isinstance(distribution, str):
            raise TypeError(f"Invalid `distribution` argument: {_show(distribution)}. "
                            f"Please use one of {list(_DISTRIBUTION_NAMES)}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` argument: {distribution}. "
                             f"Please use one of {list(_DISTRIBUTION_NAMES)}")
        self.scale = scale
        self.mode = mode
        self.distribution = distribution
        self.input_axes = input_axes
        self.output_axes = output_axes
        super().__init__(seed=seed, stream=stream)

    def _variance(self, shape):
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, fan)

    def _distribution(self, shape):
        variance = self._variance(shape)
        if self.distribution == "truncated_normal":
            return _api.truncated_normal, {
                "mean": 0.0, "stddev": math.sqrt(variance) / TRUNCATED_UNIT_NORMAL_STD,
                "lower": -_TRUNCATION_BOUND, "upper": _TRUNCATION_BOUND}
        if self.distribution == "untruncated_normal":
            return _api.normal, {"mean": 0.0, "stddev": math.sqrt(variance)}
        limit = math.sqrt(3.0 * variance)
        return _api.uniform, {"minval": -limit, "maxval": limit}

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


class _FixedVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are fixed by the class."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "truncated_normal"

    def __init__(self, seed=None, input_axes=None, output_axes=None, stream=0):
        super().__init__(scale=self._SCALE, mode=self._MODE, distribution=self._DISTRIBUTION,
                         seed=seed, input_axes=input_axes, output_axes=output_axes,
                         stream=stream)

    def get_config(self):
        config = super().get_config()
        for fixed in ("scale", "mode", "distribution"):
            del config[fixed]
        return config


class GlorotNormal(_FixedVarianceScaling):
    """Truncated normal, standard deviation ``sqrt(2 / (fan_in + fan_out))``
    (Glorot & Bengio, 2010)."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_avg", "truncated_normal"


class GlorotUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``
    (Glorot & Bengio, 2010)."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_avg", "uniform"


class HeNormal(_FixedVarianceScaling):
    """Truncated normal, standard deviation ``sqrt(2 / fan_in)`` (He et al., 2015)."""

    _SCALE, _MODE, _DISTRIBUTION = 2.0, "fan_in", "truncated_normal"


class HeUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(6 / fan_in)`` (He et al., 2015)."""

    _SCALE, _MODE, _DISTRIBUTION = 2.0, "fan_in", "uniform"


class LecunNormal(_FixedVarianceScaling):
    """Truncated normal, standard deviation ``sqrt(1 / fan_in)`` (Klambauer et al., 2017)."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "truncated_normal"


class LecunUniform(_FixedVarianceScaling):
    """Uniform in ``[-limit, limit)``, ``limit = sqrt(3 / fan_in)`` (Klambauer et al., 2017)."""

    _SCALE, _MODE, _DISTRIBUTION = 1.0, "fan_in", "uniform"


def _orthonormal(tall):
    """Q of the QR decomposition of a tall (or square) matrix, with R's diagonal made
    positive: Q's columns are unique only up to sign, and this choice makes Q
    Haar-distributed.  (Keras and torch multiply by sign(d), which would zero a column where
    d == 0; here such a column keeps its sign.)  Shared by Orthogonal and
    fastki.torch.orthogonal_."""
    q, r = np.linalg.qr(tall)
    q *= np.where(np.diagonal(r) < 0, -1.0, 1.0)
    return q


class Orthogonal(_RandomInitializer):
    """``gain`` times an orthogonal matrix (Saxe et al., 2014), from the QR decomposition of
    a normal matrix with the signs fixed by R's diagonal.

    Shapes of rank > 2 are flattened to ``(prod(shape[:-1]), shape[-1])``.  A tall (or
    square) result has orthonormal columns, a wide one orthonormal rows.  The normal matrix
    is drawn and factored in float64, then rounded to the dtype.
    """

    def __init__(self, gain=1.0, seed=None, stream=0):
        self.gain = gain
        super().__init__(seed=seed, stream=stream)

    def _checked(self, shape, dtype):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        return shape, _float_dtype(dtype)

    def __call__(self, shape, dtype=None):
        shape, dt = self._checked(shape, dtype)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        if rows == 0 or cols == 0:
            return np.zeros(shape, dtype=dt)
        a = _api.normal((max(rows, cols), min(rows, cols)), seed=self._call_seed(),
                        stream=self.stream, dtype="float64")
        q = _orthonormal(a)
        if rows < cols:
            q = q.T
        return _cast_exact(float(self.gain) * q.reshape(shape), dt, "gain * values")

    def _blocks(self, shape, dtype=None):
        # Every value depends on the whole normal matrix through the QR decomposition: made
        # whole, in one place, by a copy of this initializer whose seed is this call's.
        shape, dt = self._checked(shape, dtype)
        pinned = copy.copy(self)
        pinned.seed = pinned._init_seed = self._call_seed()  # an int: picklable, repeatable
        return _whole_source(pinned, shape, dt)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}

