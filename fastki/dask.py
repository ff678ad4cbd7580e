"""fastki tensors as lazy Dask arrays, made chunk by chunk (docs/dask.md).

A fastki value depends only on (seed, stream, element index, parameters, dtype), so the
task of a chunk makes that chunk with the kernel's ``block=`` and nothing else: no task
reads another's data, and the computed array equals the in-memory result byte for byte
whatever the chunking, the scheduler or the machines.  A tensor larger than memory can
be streamed to storage (``.to_zarr()``) a chunk at a time.

    fastki.dask.uniform(shape, minval=0.0, maxval=1.0, *, seed=None, stream=0,
                        dtype="float32", chunks="auto")
    fastki.dask.normal(shape, mean=0.0, stddev=1.0, *, ...same...)
    fastki.dask.truncated_normal(shape, mean=0.0, stddev=1.0, *, lower=-2.0, upper=2.0, ...)
    fastki.dask.initialize(initializer, shape, dtype=None, chunks="auto")

Arguments are checked when the array is built, with the exceptions the in-memory call
raises.  ``seed=None`` draws the seed once, then: computing the array twice gives the
same values.  Orthogonal, STFT, an array-valued Constant and callables fastki does not
know cannot make a block alone; their tensor is made whole by one task and the chunks
are slices of it.

``import fastki`` does not import this module, nor Dask.
"""
import functools

import numpy as np

try:
    import dask
    import dask.array as da
    from dask.array.core import normalize_chunks
    from dask.base import tokenize
except ImportError as exc:  # pragma: no cover - exercised only without Dask
    raise ImportError(f"fastki.dask needs Dask's arrays: pip install 'dask[array]' ({exc})") from exc

from . import _api
from . import initializers as _initializers
from ._validate import _dtype_arg, _seed_arg, _shape_arg

__all__ = ["uniform", "normal", "truncated_normal", "initialize"]


# --------------------------------------------------------------------------- public API


def uniform(shape, minval=0.0, maxval=1.0, *, seed=None, stream=0, dtype="float32",
            chunks="auto"):
    """:func:`fastki.uniform` as a lazy Dask array split into ``chunks``."""
    return _distribution_array(_api.uniform, shape, {"minval": minval, "maxval": maxval},
                               seed, stream, dtype, chunks)


def normal(shape, mean=0.0, stddev=1.0, *, seed=None, stream=0, dtype="float32",
           chunks="auto"):
    """:func:`fastki.normal` as a lazy Dask array split into ``chunks``."""
    return _distribution_array(_api.normal, shape, {"mean": mean, "stddev": stddev},
                               seed, stream, dtype, chunks)


def truncated_normal(shape, mean=0.0, stddev=1.0, *, lower=-2.0, upper=2.0, seed=None,
                     stream=0, dtype="float32", chunks="auto"):
    """:func:`fastki.truncated_normal` as a lazy Dask array split into ``chunks``."""
    params = {"mean": mean, "stddev": stddev, "lower": lower, "upper": upper}
    return _distribution_array(_api.truncated_normal, shape, params, seed, stream, dtype,
                               chunks)


def initialize(initializer, shape, dtype=None, chunks="auto"):
    """``initializer(shape, dtype)`` as a lazy Dask array split into ``chunks``.

    ``initializer`` is an initializer instance or anything
    :func:`fastki.initializers.get` accepts (a name such as ``"he_normal"``, a config
    dict, a class, a callable ``f(shape, dtype=None)``).  ``dtype=None`` means Keras'
    floatx when Keras is loaded here, else float32, resolved now.  The call's seed is
    drawn now, once: a ``keras.random.SeedGenerator`` seed advances once per array.
    """
    init = _initializers.get(initializer)
    if init is None:
        raise ValueError("Could not interpret initializer identifier: None")
    source = _initializers._block_source(init, shape, dtype)
    prefix = (_initializers._snake_case(type(init).__name__)
              if isinstance(init, _initializers.Initializer) else "initialize")
    if source.blockwise:
        source.make(block=_empty_block(source.shape))  # the values' own checks, now
        return _blockwise_array(prefix, source.make, source.shape, source.dtype, chunks)
    return _whole_array(prefix, source.make, source.shape, source.dtype, chunks)


# --------------------------------------------------------------------------- graphs


def _distribution_array(fn, shape, params, seed, stream, dtype, chunks):
    shape = _shape_arg(shape)
    # every check of the in-memory call, in its order, the caller's seed included
    fn(shape, **params, seed=seed, stream=stream, dtype=dtype, block=_empty_block(shape))
    seed = _seed_arg(seed)  # None: drawn here, once, so every compute repeats it
    dtype = _dtype_arg(dtype)[0]
    # dtype by name: see the note on blocks in fastki/initializers/initializer.py
    make = functools.partial(fn, shape, **params, seed=seed, stream=stream, dtype=dtype.name)
    return _blockwise_array(fn.__name__, make, shape, dtype, chunks)


def _empty_block(shape):
    """A block of no elements (of one element for a 0-d shape): the functional API runs
    every check of its arguments on it, here rather than later in a worker, and generates
    nothing."""
    return tuple(slice(0, 0) for _ in shape)


def _blockwise_array(prefix, make, shape, dtype, chunks):
    """One task per chunk, each ``make(block=<its slices>)``, none depending on another
    (Dask's map_blocks with no input array: each call learns its place from block_info)."""
    name, chunks = _name_and_chunks(prefix, make, shape, dtype, chunks)
    return da.map_blocks(_make_block, make, name=name, chunks=chunks, dtype=dtype,
                         meta=_meta(shape, dtype))


def _whole_array(prefix, make, shape, dtype, chunks):
    """One task makes the whole tensor; each chunk's task slices its block from it."""
    name, chunks = _name_and_chunks(prefix, make, shape, dtype, chunks)
    whole = da.from_delayed(dask.delayed(make, pure=True)(dask_key_name=f"whole-{name}"),
                            shape, dtype=dtype, meta=_meta(shape, dtype), name=name)
    return whole.rechunk(chunks)


def _name_and_chunks(prefix, make, shape, dtype, chunks):
    """Dask's chunks (checked, "auto" sized for the dtype), and a name that hashes
    everything the values depend on: make holds the shape, parameters, seed and dtype."""
    chunks = normalize_chunks(chunks, shape, dtype=dtype)
    return f"{prefix}-{tokenize(make, dtype.name, chunks)}", chunks


def _meta(shape, dtype):
    return np.empty((0,) * len(shape), dtype=dtype)


# The function tasks call: module-level, so that it pickles by name for the process
# scheduler and dask.distributed.


def _make_block(make, block_info=None):
    """make(block=<this chunk's slices>), the chunk's place from Dask's block_info."""
    location = block_info[None]["array-location"]
    return make(block=tuple(slice(start, stop) for start, stop in location))
