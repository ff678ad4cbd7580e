"""``jax.nn.initializers``-style factories on fastki's catalogue (docs/jax.md).

Each factory takes ``jax.nn.initializers``' arguments in JAX's positional order and
returns ``init(key, shape, dtype=<the factory's dtype>, out_sharding=None)`` returning a
``jax.Array``.  ``dtype=None`` (the default) is JAX's default float at call time: float64
under ``jax_enable_x64``, else float32.

The values are a documented function of the key's data: ``data = jax.random.key_data(key)``
(a raw ``uint32[2]`` key is its own data) and fastki's seed is ``data[0] * 2**32 +
data[1]``, so ``jax.random.key(42)`` and ``jax.random.PRNGKey(42)`` (data ``[0, 42]``) give
the values of ``fastki.initializers.<Class>(seed=42)``.  Only two-word keys (threefry2x32,
JAX's default) are accepted.

With a concrete key the array is made on the host (fastki/jax/_shards.py); with a traced
key (jax.jit, jax.eval_shape, jax.vmap, nnx.jit) it is one custom call to the same C
kernel (fastki/jax/_traced.py), partitioned block by block.  Both make the same bytes.

The fans are those of ``jax.nn.initializers``: ``in_axis``, ``out_axis`` and ``batch_axis``
name dimensions; the receptive field is the number of elements divided by the product of
those dimensions (so an axis named twice is divided out twice, as in JAX), fan_in is the
input size times the receptive field and fan_out the output size times it.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

import jax
import jax.numpy as jnp
from jax.core import Tracer

from .. import initializers as _fi
from .._validate import _shape_arg, _show
from ._shards import _check_dtype, _from_source
from ._traced import traced_array

__all__ = ["key_seed", "zeros", "ones", "constant", "normal", "uniform", "truncated_normal",
           "variance_scaling", "glorot_uniform", "glorot_normal", "xavier_uniform",
           "xavier_normal", "he_uniform", "he_normal", "kaiming_uniform", "kaiming_normal",
           "lecun_uniform", "lecun_normal", "orthogonal", "delta_orthogonal"]

DTypeLike = Any  # anything np.dtype takes (a name, a NumPy or JAX scalar type), or None
Shape = Sequence[int]
Axes = int | Sequence[int]


class Initializer(Protocol):
    """What every factory returns, as ``jax.nn.initializers.Initializer``."""

    def __call__(self, key: jax.Array, shape: Shape, dtype: DTypeLike = None,
                 out_sharding: Any = None) -> jax.Array: ...


def _key_words(key):
    """The key's data as uint32[2], concrete (NumPy) or traced (jax.Array)."""
    try:
        data = jax.random.key_data(key)
    except (TypeError, ValueError):
        raise TypeError(f"key must be a JAX PRNG key, got {_show(key)}") from None
    if data.shape != (2,) or data.dtype != np.uint32:
        raise ValueError("key must be a single two-word (threefry2x32) PRNG key, got key "
                         f"data of shape {data.shape} and dtype {data.dtype}")
    return data


def key_seed(key: jax.Array) -> int:
    """fastki's 64-bit seed of a concrete JAX PRNG key.

    Parameters
    ----------
    key : jax.Array
        A single two-word key (``jax.random.key``, ``jax.random.PRNGKey`` or its raw
        ``uint32[2]`` data), not traced.

    Returns
    -------
    int
        ``data[0] * 2**32 + data[1]`` with ``data = jax.random.key_data(key)``.

    Raises
    ------
    TypeError
        ``key`` is not a PRNG key, or is traced (its value is not known yet).
    ValueError
        ``key`` is a batch of keys or a key of more than two words.
    """
    words = _key_words(key)
    if isinstance(words, Tracer):  # a traced key, or any key inside a trace
        raise TypeError("key_seed needs a concrete key, got a traced one; the factories "
                        "take traced keys themselves")
    data = np.asarray(words)
    return (int(data[0]) << 32) | int(data[1])


def _default_float(dtype):
    """JAX's rule: dtype None is the default float (float64 under jax_enable_x64)."""
    if dtype is None:
        return np.dtype(jax.dtypes.canonicalize_dtype(np.float64))
    try:
        return np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be a NumPy or JAX dtype, got {_show(dtype)}") from None


def _constrain(array, out_sharding):
    """A traced result placed by ``out_sharding`` (a NamedSharding or, under a mesh, a
    PartitionSpec), as jax.nn.initializers' ``out_sharding``."""
    if out_sharding is None:
        return array
    mesh = getattr(out_sharding, "mesh", None) or jax.sharding.get_abstract_mesh()
    if not getattr(mesh, "empty", True) and mesh.are_all_axes_explicit:
        return jax.sharding.reshard(array, out_sharding)
    return jax.lax.with_sharding_constraint(array, out_sharding)


def _mesh_replicated():
    """Under ``jax.set_mesh``, JAX's eager initializers give arrays replicated over the
    mesh (Flax then constrains them to a partitioned variable's sharding): the same."""
    try:
        mesh = jax.sharding.get_mesh()
    except ValueError:  # inside a trace (a concrete key under jax.vmap): no concrete mesh
        return None
    if isinstance(mesh, jax.sharding.Mesh) and not mesh.empty:
        return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    return None


def _make(build, key, shape, dtype, out_sharding, keyed=True):
    """``build()`` (a fresh fastki initializer), seeded by the key, as a jax.Array.

    A traced key (or, for the initializers that take no key, a traced call) goes to the
    custom call; the recipe it runs is ``build``'s values for the shape and dtype."""
    shape = _shape_arg(shape)
    dtype = _default_float(dtype)
    _check_dtype(dtype)
    # inside a trace even a concrete key's data is a traced value: the data decides
    words = _key_words(key) if keyed else None
    traced = isinstance(words if keyed else key, Tracer)
    if not traced:
        if out_sharding is None:
            out_sharding = _mesh_replicated()
        initializer = build()
        if keyed:
            data = np.asarray(words)
            initializer.seed = initializer._init_seed = (int(data[0]) << 32) | int(data[1])
        return _from_source(_fi._block_source(initializer, shape, dtype.name), out_sharding,
                            "out_sharding")
    if not keyed:
        words = jnp.zeros((2,), jnp.uint32)
    source = _fi._block_source(build(), shape, dtype.name)  # the eager call's checks
    if source.blockwise and shape and math.prod(shape):  # the parameters' checks
        source.make(block=(slice(0, 0),) * len(shape))
    array = traced_array((build, shape, source.dtype.name),
                         functools.partial(_make_block, build, shape, source.dtype.name),
                         shape, source.dtype, words)
    return _constrain(array, out_sharding)


def _make_block(build, shape, dtype, seed, block, out):
    """The custom call's recipe: the block of ``build()``'s values for ``seed``, into out."""
    initializer = build()
    if hasattr(initializer, "seed"):
        initializer.seed = initializer._init_seed = seed
    _fi._block_source(initializer, shape, dtype).make(block=block, out=out)


def _factory(build, default_dtype, keyed=True):
    """``init(key, shape, dtype, out_sharding)`` calling ``build()`` for a fresh fastki
    initializer (its seed then set from the key)."""
    def init(key: jax.Array, shape: Shape, dtype: DTypeLike = default_dtype,
             out_sharding: Any = None) -> jax.Array:
        return _make(build, key, shape, dtype, out_sharding, keyed)
    return init


def zeros(key: jax.Array, shape: Shape, dtype: DTypeLike = None,
          out_sharding: Any = None) -> jax.Array:
    """All zeros, as ``jax.nn.initializers.zeros`` (the key is not used).

    Parameters
    ----------
    key : jax.Array
        Not used (a traced key makes the call traced).
    shape : sequence of int
        The array's shape.
    dtype : dtype, optional
        Default None: JAX's default float.
    out_sharding : jax.sharding.Sharding, optional
        Where the array lives.

    Returns
    -------
    jax.Array
        Zeros of ``shape`` and ``dtype``.

    Raises
    ------
    TypeError, ValueError
        A bad shape or dtype, naming it.
    """
    return _make(_fi.Zeros, key, shape, dtype, out_sharding, keyed=False)


def ones(key: jax.Array, shape: Shape, dtype: DTypeLike = None,
         out_sharding: Any = None) -> jax.Array:
    """All ones, as ``jax.nn.initializers.ones`` (the key is not used).

    Parameters
    ----------
    key : jax.Array
        Not used (a traced key makes the call traced).
    shape : sequence of int
        The array's shape.
    dtype : dtype, optional
        Default None: JAX's default float.
    out_sharding : jax.sharding.Sharding, optional
        Where the array lives.

    Returns
    -------
    jax.Array
        Ones of ``shape`` and ``dtype``.

    Raises
    ------
    TypeError, ValueError
        A bad shape or dtype, naming it.
    """
    return _make(_fi.Ones, key, shape, dtype, out_sharding, keyed=False)


def constant(value: Any, dtype: DTypeLike = None) -> Initializer:
    """Every element ``value``, as ``jax.nn.initializers.constant``.

    Parameters
    ----------
    value : scalar or array_like
        The value, or an array broadcasting to the shape.
    dtype : dtype, optional
        Default None: JAX's default float at call time.

    Returns
    -------
    Initializer
        ``init(key, shape, dtype, out_sharding)``; the key is not used.

    Raises
    ------
    ValueError, TypeError
        (From ``init``) a value that does not broadcast to the shape or does not fit the
        dtype exactly, as fastki's Constant.
    """
    return _factory(functools.partial(_fi.Constant, value), dtype, keyed=False)


def uniform(scale: float = 1e-2, dtype: DTypeLike = None) -> Initializer:
    """Uniform in ``[0, scale)``, as ``jax.nn.initializers.uniform``.

    Parameters
    ----------
    scale : float
        The upper bound.
    dtype : dtype, optional
        Default None: JAX's default float at call time.

    Returns
    -------
    Initializer
        ``init(key, shape, dtype, out_sharding)``.

    Raises
    ------
    ValueError
        (From ``init``) a scale fastki's RandomUniform refuses.
    """
    return _factory(functools.partial(_fi.RandomUniform, minval=0.0, maxval=scale, seed=0),
                    dtype)


def normal(stddev: float = 1e-2, dtype: DTypeLike = None) -> Initializer:
    """Normal, mean 0, standard deviation ``stddev``, as ``jax.nn.initializers.normal``.

    Parameters
    ----------
    stddev : float
        The standard deviation.
    dtype : dtype, optional
        Default None: JAX's default float at call time.

    Returns
    -------
    Initializer
        ``init(key, shape, dtype, out_sharding)``.

    Raises
    ------
    ValueError
        (From ``init``) a standard deviation fastki refuses.
    """
    return _factory(functools.partial(_fi.RandomNormal, mean=0.0, stddev=stddev, seed=0),
                    dtype)


class _TruncatedNormal(_fi.TruncatedNormal):
    """TruncatedNormal with JAX's bounds (in standard deviations) instead of Keras' +-2."""

    def __init__(self, stddev, lower, upper):
        super().__init__(mean=0.0, stddev=stddev, seed=0)
        self.lower, self.upper = lower, upper

    def _distribution(self, shape):
        fn, params = super()._distribution(shape)
        return fn, {**params, "lower": self.lower, "upper": self.upper}


def truncated_normal(stddev: float = 1e-2, dtype: DTypeLike = None, lower: float = -2.0,
                     upper: float = 2.0) -> Initializer:
    """``stddev`` times a unit normal truncated to ``[lower, upper]``, as
    ``jax.nn.initializers.truncated_normal`` (same positional order: stddev, dtype, lower,
    upper).

    Parameters
    ----------
    stddev : float
        The scale (not the standard deviation of the truncated values).
    dtype : dtype, optional
        Default None: JAX's default float at call time.
    lower, upper : float
        The bounds, in units of ``stddev``.

    Returns
    -------
    Initializer
        ``init(key, shape, dtype, out_sharding)``.

    Raises
    ------
    ValueError
        (From ``init``) bounds or a scale fastki refuses.
    """
    return _factory(functools.partial(_TruncatedNormal, stddev, lower, upper), dtype)


def _axes(axis, rank, name):
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -rank <= int(a) < rank:
            raise ValueError(f"{name}={axis!r} is out of range for a shape of rank {rank}")
        out.append(int(a) % rank)
    return out


def _jax_fans(shape, in_axis, out_axis, batch_axis):
    """(fan_in, fan_out) by jax.nn.initializers' rule (module docstring): the receptive
    field is the element count over the named sizes, even where the axes coincide."""
    rank = len(shape)
    if isinstance(in_axis, (int, np.integer)) and in_axis == -2 and rank <= 1:
        raise ValueError(f"Can't compute input and output sizes of a {rank}-dimensional "
                         "weights tensor with default in_axis. Must be at least 2D or specify "
                         "in_axis explicitly.")
    in_size = math.prod(shape[a] for a in _axes(in_axis, rank, "in_axis"))
    out_size = math.prod(shape[a] for a in _axes(out_axis, rank, "out_axis"))
    batch_size = math.prod(shape[a] for a in _axes(batch_axis, rank, "batch_axis"))
    if in_size * out_size * batch_size == 0:
        return 0.0, 0.0
    receptive = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive, out_size * receptive


_JAX_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")


class _JaxFans(_fi.VarianceScaling):
    """fastki's VarianceScaling with jax.nn.initializers' fans, modes (fan_geo_avg) and
    variance ``scale / fan`` (fastki's own is ``scale / max(1, fan)``)."""

    def __init__(self, scale, mode, distribution, in_axis, out_axis, batch_axis):
        if mode not in _JAX_MODES:
            raise ValueError(f"invalid mode for variance scaling initializer: {_show(mode)}")
        if distribution == "normal":  # JAX's "normal" is untruncated (Keras': truncated)
            distribution = "untruncated_normal"
        elif distribution not in ("truncated_normal", "uniform"):
            raise ValueError(f"invalid distribution for variance scaling initializer: "
                             f"{_show(distribution)}")
        super().__init__(scale=scale, mode="fan_in", distribution=distribution, seed=0)
        self._jax_mode = mode
        self._jax_axes = (in_axis, out_axis, batch_axis)

    def _variance(self, shape):
        fan_in, fan_out = _jax_fans(shape, *self._jax_axes)
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
               "fan_geo_avg": math.sqrt(fan_in * fan_out)}[self._jax_mode]
        return self.scale / fan if fan > 0 else self.scale  # fan 0: no elements


def variance_scaling(scale: float, mode: str, distribution: str, in_axis: Axes = -2,
                     out_axis: Axes = -1, batch_axis: Axes = (),
                     dtype: DTypeLike = None) -> Initializer:
    """Variance ``scale / n``, as ``jax.nn.initializers.variance_scaling``.

    Parameters
    ----------
    scale : float
        Positive scaling factor.
    mode : {"fan_in", "fan_out", "fan_avg", "fan_geo_avg"}
        Which fan is ``n``: fan_in, fan_out, their mean or their geometric mean.
    distribution : {"truncated_normal", "normal", "uniform"}
        "normal" is untruncated, as in JAX; "truncated_normal" is truncated to two
        standard deviations and rescaled to the target variance.
    in_axis, out_axis, batch_axis : int or sequence of int
        The dimensions of the input, output and batch (module docstring: the fans).
    dtype : dtype, optional
        Default None: JAX's default float at call time.

    Returns
    -------
    Initializer
        ``init(key, shape, dtype, out_sharding)``.

    Raises
    ------
    TypeError, ValueError
        A bad scale, mode or distribution (here); axes out of range for the shape (from
        ``init``).
    """
    build = functools.partial(_JaxFans, scale, mode, distribution, in_axis, out_axis,
                              batch_axis)
    build()  # check the arguments now
    return _factory(build, dtype)


def _named(scale, mode, distribution, name, doc):
    def factory(in_axis: Axes = -2, out_axis: Axes = -1, batch_axis: Axes = (),
                dtype: DTypeLike = None) -> Initializer:
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis,
                                dtype)
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = f"""{doc}, as ``jax.nn.initializers.{name}``.

    Parameters
    ----------
    in_axis, out_axis, batch_axis : int or sequence of int
        The dimensions of the input, output and batch (module docstring: the fans).
    dtype : dtype, optional
        Default None: JAX's default float at call time.

    Returns
    -------
    Initializer
        ``init(key, shape, dtype, out_sharding)``.

    Raises
    ------
    ValueError
        (From ``init``) axes out of range for the shape.
    """
    return factory


glorot_uniform = _named(1.0, "fan_avg", "uniform", "glorot_uniform",
                        "Uniform, variance 1 / fan_avg")
glorot_normal = _named(1.0, "fan_avg", "truncated_normal", "glorot_normal",
                       "Truncated normal, variance 1 / fan_avg")
lecun_uniform = _named(1.0, "fan_in", "uniform", "lecun_uniform",
                       "Uniform, variance 1 / fan_in")
lecun_normal = _named(1.0, "fan_in", "truncated_normal", "lecun_normal",
                      "Truncated normal, variance 1 / fan_in")
he_uniform = _named(2.0, "fan_in", "uniform", "he_uniform", "Uniform, variance 2 / fan_in")
he_normal = _named(2.0, "fan_in", "truncated_normal", "he_normal",
                   "Truncated normal, variance 2 / fan_in")
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal


class _Orthogonal(_fi.Orthogonal):
    """fastki's Orthogonal with JAX's column_axis: the orthonormal columns lie along that
    axis (fastki's are along the last)."""

    def __init__(self, scale, column_axis):
        super().__init__(gain=scale, seed=0)
        self.column_axis = column_axis

    def __call__(self, shape, dtype=None):
        shape = _shape_arg(shape)
        if len(shape) < 2:
            return super().__call__(shape, dtype)  # fastki's error for rank < 2
        axis = _axes(self.column_axis, len(shape), "column_axis")[0]
        moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)
        return np.moveaxis(super().__call__(moved, dtype), -1, axis)

    def _blocks(self, shape, dtype=None):
        shape, dt = self._checked(shape, dtype)
        return _fi._whole_source(self, shape, dt)


def orthogonal(scale: float = 1.0, column_axis: int = -1,
               dtype: DTypeLike = None) -> Initializer:
    """``scale`` times a matrix with orthonormal columns along ``column_axis`` (or rows,
    when wide), as ``jax.nn.initializers.orthogonal``; made whole, then sharded.

    Parameters
    ----------
    scale : float
        The gain.
    column_axis : int
        The dimension holding the columns; the others are flattened into rows.
    dtype : dtype, optional
        Default None: JAX's default float at call time.

    Returns
    -------
    Initializer
        ``init(key, shape, dtype, out_sharding)``.

    Raises
    ------
    ValueError
        (From ``init``) a shape of rank < 2, or column_axis out of range.
    """
    return _factory(functools.partial(_Orthogonal, scale, column_axis), dtype)


class _DeltaOrthogonal(_Orthogonal):
    """Zeros, with an orthogonal matrix of shape ``shape[-2:]`` (from _Orthogonal) at the
    centre of the spatial dimensions, as jax.nn.initializers.delta_orthogonal."""

    def _checked(self, shape, dtype):
        shape, dt = super()._checked(shape, dtype)
        if len(shape) not in (3, 4, 5):
            raise ValueError("Delta orthogonal initializer requires a 3D, 4D or 5D shape, "
                             f"got shape={shape}")
        if shape[-1] < shape[-2]:
            raise ValueError("`fan_in` must be less or equal than `fan_out`, got "
                             f"shape={shape}")
        return shape, dt

    def __call__(self, shape, dtype=None):
        shape, dt = self._checked(shape, dtype)
        centre = _Orthogonal(self.gain, self.column_axis)
        centre.seed, centre._init_seed, centre.stream = self.seed, self._init_seed, self.stream
        out = np.zeros(shape, dt)
        out[tuple((k - 1) // 2 for k in shape[:-2])] = centre(shape[-2:], dt.name)
        return out

    def _blocks(self, shape, dtype=None):  # beside __call__: fastki's classes' rule
        shape, dt = self._checked(shape, dtype)
        return _fi._whole_source(self, shape, dt)


def delta_orthogonal(scale: float = 1.0, column_axis: int = -1,
                     dtype: DTypeLike = None) -> Initializer:
    """The delta-orthogonal convolution kernel, as ``jax.nn.initializers.delta_orthogonal``:
    zero except at the spatial centre, which holds ``orthogonal(scale, column_axis)`` of
    the last two dimensions.

    Parameters
    ----------
    scale : float
        The gain.
    column_axis : int
        The column dimension of the centre matrix.
    dtype : dtype, optional
        Default None: JAX's default float at call time.

    Returns
    -------
    Initializer
        ``init(key, shape, dtype, out_sharding)``.

    Raises
    ------
    ValueError
        (From ``init``) a shape not of rank 3, 4 or 5, or ``shape[-1] < shape[-2]``.
    """
    return _factory(functools.partial(_DeltaOrthogonal, scale, column_axis), dtype)
