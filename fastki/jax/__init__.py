"""fastki for JAX: the functional fills and every initializer as ``jax.Array``, optionally
distributed by a ``jax.sharding.Sharding`` (docs/jax.md).

With ``sharding=``, every addressable shard is made alone, on the host, with fastki's
``block=`` into a buffer put on its device, and the shards are assembled with
``jax.make_array_from_single_device_arrays``; the whole tensor is never made on the host.
Every element is a function of its index alone (docs/algorithm.md, section 2: each element
comes from the words of one group), so each shard equals that block of the whole and a
sharded array is byte for byte the unsharded one, for every mesh and partition spec.  The initializers that need the whole tensor (Orthogonal, STFT, a Constant
of an array, a callable fastki does not know) compute it once and hand out its slices.

``import fastki`` never imports this module, nor JAX.
"""
import numpy as np

from .. import _api
from .. import initializers as _fi
from .._validate import _dtype_arg, _shape_arg

from ._shards import _from_source

__all__ = ["uniform", "normal", "truncated_normal", "initialize", "initializers"]


def initialize(initializer, shape, dtype=None, sharding=None):
    """``initializer(shape, dtype)`` as a ``jax.Array``.

    ``initializer``: anything ``fastki.initializers.get`` accepts (an instance, a class, a
    name such as ``"glorot_uniform"``, a config dict, a NumPy array).  ``dtype=None`` is
    Keras' floatx when Keras is loaded, else float32.  ``sharding``: a
    ``jax.sharding.Sharding`` (or a ``keras.distribution.TensorLayout``); each addressable
    shard is then made alone from its block, except for Orthogonal, STFT, an array
    Constant and callables fastki does not know, which are made whole once and sliced.
    A SeedGenerator seed is advanced once per call, as by ``initializer(shape)``.
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


def uniform(shape, minval=0.0, maxval=1.0, *, seed=None, stream=0, dtype="float32",
            sharding=None):
    """:func:`fastki.uniform` as a ``jax.Array`` (same values), optionally sharded."""
    kwargs = dict(minval=minval, maxval=maxval, seed=_fixed_seed(seed), stream=stream)
    return _from_source(_fill_source(_api.uniform, shape, dtype, kwargs), sharding)


def normal(shape, mean=0.0, stddev=1.0, *, seed=None, stream=0, dtype="float32",
           sharding=None):
    """:func:`fastki.normal` as a ``jax.Array`` (same values), optionally sharded."""
    kwargs = dict(mean=mean, stddev=stddev, seed=_fixed_seed(seed), stream=stream)
    return _from_source(_fill_source(_api.normal, shape, dtype, kwargs), sharding)


def truncated_normal(shape, mean=0.0, stddev=1.0, *, lower=-2.0, upper=2.0, seed=None,
                     stream=0, dtype="float32", sharding=None):
    """:func:`fastki.truncated_normal` as a ``jax.Array`` (same values), optionally sharded."""
    kwargs = dict(mean=mean, stddev=stddev, lower=lower, upper=upper,
                  seed=_fixed_seed(seed), stream=stream)
    return _from_source(_fill_source(_api.truncated_normal, shape, dtype, kwargs), sharding)


from . import initializers  # noqa: E402  (jax.nn.initializers-style factories)
