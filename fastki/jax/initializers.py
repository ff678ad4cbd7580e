"""``jax.nn.initializers``-style factories on fastki's catalogue (docs/jax.md).

Each factory returns ``init(key, shape, dtype=<the factory's dtype>, out_sharding=None)``
returning a ``jax.Array``.  The values are a documented function of the key's data:
``data = jax.random.key_data(key)`` (a raw ``uint32[2]`` key is its own data) and fastki's
seed is ``data[0] * 2**32 + data[1]``, so ``jax.random.key(42)`` and
``jax.random.PRNGKey(42)`` (data ``[0, 42]``) give the values of
``fastki.initializers.<Class>(seed=42)``.  Only two-word keys (threefry2x32, JAX's default)
are accepted.  ``out_sharding`` (a ``jax.sharding.Sharding``) makes the array shard by
shard, as :func:`fastki.jax.initialize` does.

The fans follow ``jax.nn.initializers``: ``in_axis``, ``out_axis`` and ``batch_axis`` name
dimensions, every other dimension is receptive field, fan_in is the product of the input
and receptive dimensions, fan_out of the output and receptive ones; ``distribution="normal"``
means an untruncated normal, as in JAX.  They are computed by fastki's own VarianceScaling
with ``input_axes``/``output_axes`` set to those dimensions.
"""
import numpy as np

import jax

from .. import _api
from .. import initializers as _fi
from ._shards import _from_source

__all__ = ["key_seed", "zeros", "ones", "constant", "normal", "uniform", "truncated_normal",
           "variance_scaling", "glorot_uniform", "glorot_normal", "xavier_uniform",
           "xavier_normal", "he_uniform", "he_normal", "kaiming_uniform", "kaiming_normal",
           "lecun_uniform", "lecun_normal", "orthogonal"]


def key_seed(key):
    """fastki's 64-bit seed of a JAX PRNG key: ``data[0] * 2**32 + data[1]`` with ``data``
    the key's two uint32 words (``jax.random.key_data``)."""
    try:
        data = np.asarray(jax.random.key_data(key))
    except (TypeError, ValueError):
        raise TypeError(f"key must be a JAX PRNG key, got {_api._show(key)}") from None
    if data.shape != (2,) or data.dtype != np.uint32:
        raise ValueError("key must be a single two-word (threefry2x32) PRNG key, got key "
                         f"data of shape {data.shape} and dtype {data.dtype}")
    return (int(data[0]) << 32) | int(data[1])


def _make(initializer, key, shape, dtype, out_sharding):
    seed = key_seed(key) if key is not None else None
    if seed is not None and hasattr(initializer, "seed"):
        initializer.seed = initializer._init_seed = seed
    return _from_source(_fi._block_source(initializer, shape, dtype), out_sharding)


def _factory(build, default_dtype):
    """init(key, shape, dtype, out_sharding) calling build() for a fresh fastki initializer
    (its seed then set from the key)."""
    def init(key, shape, dtype=default_dtype, out_sharding=None):
        return _make(build(), key, shape, np.dtype(dtype).name if dtype is not None else None,
                     out_sharding)
    return init


def _dtype(dtype):
    return "float32" if dtype is None else dtype


def zeros(key, shape, dtype="float32", out_sharding=None):
    """All zeros (the key is not used), as ``jax.nn.initializers.zeros``."""
    return _make(_fi.Zeros(), None, shape, np.dtype(dtype).name, out_sharding)


def ones(key, shape, dtype="float32", out_sharding=None):
    """All ones (the key is not used), as ``jax.nn.initializers.ones``."""
    return _make(_fi.Ones(), None, shape, np.dtype(dtype).name, out_sharding)


def constant(value, dtype="float32"):
    """Every element ``value`` (a scalar or an array broadcasting to the shape)."""
    return _factory(lambda: _fi.Constant(value), _dtype(dtype))


def normal(stddev=1e-2, dtype="float32"):
    """Normal, mean 0, standard deviation ``stddev``."""
    return _factory(lambda: _fi.RandomNormal(mean=0.0, stddev=stddev, seed=0), _dtype(dtype))


def uniform(scale=1e-2, dtype="float32"):
    """Uniform in ``[0, scale)``, as ``jax.nn.initializers.uniform``."""
    return _factory(lambda: _fi.RandomUniform(minval=0.0, maxval=scale, seed=0), _dtype(dtype))


class _TruncatedNormal(_fi.TruncatedNormal):
    """TruncatedNormal with JAX's bounds (in standard deviations) instead of Keras' +-2."""

    def __init__(self, stddev, lower, upper):
        super().__init__(mean=0.0, stddev=stddev, seed=0)
        self.lower, self.upper = lower, upper

    def _distribution(self, shape):
        fn, params = super()._distribution(shape)
        return fn, {**params, "lower": self.lower, "upper": self.upper}


def truncated_normal(stddev=1e-2, dtype="float32", lower=-2.0, upper=2.0):
    """``stddev`` times a unit normal truncated to ``[lower, upper]``, as
    ``jax.nn.initializers.truncated_normal``."""
    return _factory(lambda: _TruncatedNormal(stddev, lower, upper), _dtype(dtype))


def _axes(axis, rank, name):
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -rank <= int(a) < rank:
            raise ValueError(f"{name}={axis!r} is out of range for a shape of rank {rank}")
        out.append(int(a) % rank)
    return out


class _JaxFans(_fi.VarianceScaling):
    """fastki's VarianceScaling with the fans of jax.nn.initializers: the axes are resolved
    against each call's shape into input_axes/output_axes."""

    def __init__(self, scale, mode, distribution, in_axis, out_axis, batch_axis):
        if distribution == "normal":  # JAX's "normal" is untruncated (Keras': truncated)
            distribution = "untruncated_normal"
        elif distribution not in ("truncated_normal", "uniform"):
            raise ValueError(f"invalid distribution for variance scaling initializer: "
                             f"{_api._show(distribution)}")
        super().__init__(scale=scale, mode=mode, distribution=distribution, seed=0)
        self._jax_axes = (in_axis, out_axis, batch_axis)

    def _distribution(self, shape):
        rank = len(shape)
        in_axis, out_axis, batch_axis = self._jax_axes
        ins = _axes(in_axis, rank, "in_axis")
        outs = _axes(out_axis, rank, "out_axis")
        batch = _axes(batch_axis, rank, "batch_axis")
        receptive = [a for a in range(rank) if a not in ins + outs + batch]
        self.input_axes, self.output_axes = ins + receptive, outs + receptive
        return super()._distribution(shape)


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(),
                     dtype="float32"):
    """Variance ``scale / n`` (n: fan_in, fan_out or fan_avg, by ``mode``), with
    ``distribution`` "truncated_normal", "normal" (untruncated) or "uniform", as
    ``jax.nn.initializers.variance_scaling``."""
    _JaxFans(scale, mode, distribution, in_axis, out_axis, batch_axis)  # check the arguments
    return _factory(lambda: _JaxFans(scale, mode, distribution, in_axis, out_axis, batch_axis),
                    _dtype(dtype))


def _named(scale, mode, distribution, doc):
    def factory(in_axis=-2, out_axis=-1, batch_axis=(), dtype="float32"):
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis,
                                dtype)
    factory.__doc__ = doc
    return factory


glorot_uniform = xavier_uniform = _named(1.0, "fan_avg", "uniform",
                                         "Uniform, variance 1 / fan_avg.")
glorot_normal = xavier_normal = _named(1.0, "fan_avg", "truncated_normal",
                                       "Truncated normal, variance 1 / fan_avg.")
lecun_uniform = _named(1.0, "fan_in", "uniform", "Uniform, variance 1 / fan_in.")
lecun_normal = _named(1.0, "fan_in", "truncated_normal", "Truncated normal, variance 1 / fan_in.")
he_uniform = kaiming_uniform = _named(2.0, "fan_in", "uniform", "Uniform, variance 2 / fan_in.")
he_normal = kaiming_normal = _named(2.0, "fan_in", "truncated_normal",
                                    "Truncated normal, variance 2 / fan_in.")


class _Orthogonal(_fi.Orthogonal):
    """fastki's Orthogonal with JAX's column_axis: the orthonormal columns lie along that
    axis (fastki's are along the last)."""

    def __init__(self, scale, column_axis):
        super().__init__(gain=scale, seed=0)
        self.column_axis = column_axis

    def __call__(self, shape, dtype=None):
        shape = _api._shape_arg(shape)
        if len(shape) < 2:
            return super().__call__(shape, dtype)  # fastki's error for rank < 2
        axis = _axes(self.column_axis, len(shape), "column_axis")[0]
        moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
        return np.moveaxis(super().__call__(moved, dtype), -1, axis)

    def _blocks(self, shape, dtype=None):
        shape, dt = self._checked(shape, dtype)
        return _fi._whole_source(self, shape, dt)


def orthogonal(scale=1.0, column_axis=-1, dtype="float32"):
    """``scale`` times a matrix with orthonormal columns along ``column_axis`` (or rows,
    when wide), as ``jax.nn.initializers.orthogonal``; made whole, then sharded."""
    return _factory(lambda: _Orthogonal(scale, column_axis), _dtype(dtype))
