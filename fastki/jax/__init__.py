"""fastki for JAX: the functional fills and every initializer as ``jax.Array``, optionally
distributed by a ``jax.sharding.Sharding`` (docs/jax.md).

With ``sharding=``, every addressable shard is made alone, on the host, with fastki's
``block=`` into a buffer put on its device, and the shards are assembled with
``jax.make_array_from_single_device_arrays``; the whole tensor is never made on the host.
Every element is a function of its index alone (docs/algorithm.md, section 2: each element
comes from the words of one group), so each shard equals that block of the whole and a
sharded array is byte for byte the unsharded one, for every mesh and partition spec.  The
initializers that need the whole tensor (Orthogonal, STFT, a Constant of an array, a
callable fastki does not know) compute it once and hand out its slices.

Under tracing (jax.jit, jax.vmap, nnx.jit) the key-taking factories of
:mod:`fastki.jax.initializers` are one custom call to the same kernel (fastki/jax/_traced.py).

``import fastki`` never imports this module, nor JAX.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import jax

from .. import _api
from .. import initializers as _fi
from .._validate import _dtype_arg, _shape_arg

from ._shards import _from_source

__all__ = ["uniform", "normal", "truncated_normal", "initialize", "initializers"]

Shape = int | Sequence[int]
DTypeLike = Any  # a dtype name, or a NumPy / JAX scalar type


def initialize(initializer: Any, shape: Shape, dtype: DTypeLike = None,
               sharding: Any = None) -> jax.Array:
    """``initializer(shape, dtype)`` as a ``jax.Array``, optionally sharded.

    Parameters
    ----------
    initializer : object
        Anything ``fastki.initializers.get`` accepts: an instance, a class, a name such as
        ``"glorot_uniform"``, a config dict, a NumPy array.
    shape : int or sequence of int
        The array's shape.
    dtype : dtype, optional
        Default None: Keras' floatx when Keras is loaded, else float32.  float64 needs
        ``jax_enable_x64``.
    sharding : jax.sharding.Sharding or keras.distribution.TensorLayout, optional
        Each addressable shard is then made alone from its block, except for Orthogonal,
        STFT, an array Constant and callables fastki does not know, which are made whole
        once and sliced.

    Returns
    -------
    jax.Array
        The initializer's values (a SeedGenerator seed advances once per call, as by
        ``initializer(shape)``).

    Raises
    ------
    ValueError
        ``initializer`` is None, or an argument the initializer refuses.
    TypeError
        A bad ``sharding``, or float64 without ``jax_enable_x64``.
    """
    init = _fi.get(initializer)
    if init is None:
        raise ValueError("initializer must not be None")
    return _from_source(_fi._block_source(init, shape, dtype), sharding)


def _fill_source(fn, shape, dtype, kwargs):
    """A _BlockSource for one of fastki's functional fills (validated by a call on the
    empty block, which makes no values)."""
    shape = _shape_arg(shape)
    dt = _dtype_arg(dtype)[0]

    def make(block=None, out=None):
        return fn(shape, **kwargs, dtype=dt.name, block=block, out=out)

    if shape:  # an empty block makes no values but checks every argument
        make(block=(slice(0, 0),) * len(shape))
    return _fi._BlockSource(make, shape, dt, True)


def _fixed_seed(seed):
    """The functional fills' seed=None is fresh OS entropy per call: drawn once here, so
    that every shard of one call shares it."""
    if seed is None:
        return int.from_bytes(np.random.SeedSequence().generate_state(2, np.uint32)
                              .tobytes(), "little")
    return seed


def uniform(shape: Shape, minval: float = 0.0, maxval: float = 1.0, *, seed: int | None = None,
            stream: int = 0, dtype: DTypeLike = "float32", sharding: Any = None) -> jax.Array:
    """:func:`fastki.uniform` as a ``jax.Array`` (same values), optionally sharded.

    Parameters
    ----------
    shape : int or sequence of int
        The array's shape.
    minval, maxval : float
        The interval ``[minval, maxval)``.
    seed : int, optional
        fastki's 64-bit seed; None draws one from the operating system, once per call
        (every shard of the call shares it).
    stream : int
        fastki's stream number.
    dtype : str or dtype
        float32 (default), float64 (needs ``jax_enable_x64``), bfloat16 or float16.
    sharding : jax.sharding.Sharding, optional
        Each addressable shard is made alone from its block.

    Returns
    -------
    jax.Array
        The values of :func:`fastki.uniform` with the same arguments.

    Raises
    ------
    ValueError, TypeError
        An argument :func:`fastki.uniform` refuses (naming it), a bad ``sharding``, or
        float64 without ``jax_enable_x64``.
    """
    kwargs = dict(minval=minval, maxval=maxval, seed=_fixed_seed(seed), stream=stream)
    return _from_source(_fill_source(_api.uniform, shape, dtype, kwargs), sharding)


def normal(shape: Shape, mean: float = 0.0, stddev: float = 1.0, *, seed: int | None = None,
           stream: int = 0, dtype: DTypeLike = "float32", sharding: Any = None) -> jax.Array:
    """:func:`fastki.normal` as a ``jax.Array`` (same values), optionally sharded.

    Parameters
    ----------
    shape : int or sequence of int
        The array's shape.
    mean, stddev : float
        The normal's parameters.
    seed : int, optional
        fastki's 64-bit seed; None draws one from the operating system, once per call
        (every shard of the call shares it).
    stream : int
        fastki's stream number.
    dtype : str or dtype
        float32 (default), float64 (needs ``jax_enable_x64``), bfloat16 or float16.
    sharding : jax.sharding.Sharding, optional
        Each addressable shard is made alone from its block.

    Returns
    -------
    jax.Array
        The values of :func:`fastki.normal` with the same arguments.

    Raises
    ------
    ValueError, TypeError
        An argument :func:`fastki.normal` refuses (naming it), a bad ``sharding``, or
        float64 without ``jax_enable_x64``.
    """
    kwargs = dict(mean=mean, stddev=stddev, seed=_fixed_seed(seed), stream=stream)
    return _from_source(_fill_source(_api.normal, shape, dtype, kwargs), sharding)


def truncated_normal(shape: Shape, mean: float = 0.0, stddev: float = 1.0, *,
                     lower: float = -2.0, upper: float = 2.0, seed: int | None = None,
                     stream: int = 0, dtype: DTypeLike = "float32",
                     sharding: Any = None) -> jax.Array:
    """:func:`fastki.truncated_normal` as a ``jax.Array`` (same values), optionally sharded.

    Parameters
    ----------
    shape : int or sequence of int
        The array's shape.
    mean, stddev : float
        The parameters of the normal before truncation.
    lower, upper : float
        The bounds, in standard deviations from the mean.
    seed : int, optional
        fastki's 64-bit seed; None draws one from the operating system, once per call
        (every shard of the call shares it).
    stream : int
        fastki's stream number.
    dtype : str or dtype
        float32 (default), float64 (needs ``jax_enable_x64``), bfloat16 or float16.
    sharding : jax.sharding.Sharding, optional
        Each addressable shard is made alone from its block.

    Returns
    -------
    jax.Array
        The values of :func:`fastki.truncated_normal` with the same arguments.

    Raises
    ------
    ValueError, TypeError
        An argument :func:`fastki.truncated_normal` refuses (naming it), a bad ``sharding``, or
        float64 without ``jax_enable_x64``.
    """
    kwargs = dict(mean=mean, stddev=stddev, lower=lower, upper=upper,
                  seed=_fixed_seed(seed), stream=stream)
    return _from_source(_fill_source(_api.truncated_normal, shape, dtype, kwargs), sharding)


from . import initializers  # noqa: E402  (jax.nn.initializers-style factories)
