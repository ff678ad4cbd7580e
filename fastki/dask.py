"""fastki tensors as lazy Dask arrays, made chunk by chunk (docs/dask.md).

A fastki value depends only on (seed, stream, element index, parameters, dtype), so the
task of a chunk makes that chunk with the kernel's ``block=`` and nothing else: no task
reads another's data, and the computed array equals the in-memory result byte for byte
whatever the chunking, the scheduler or the machines.  A tensor larger than memory can
be streamed to storage (``.to_zarr()``) a chunk at a time::

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
from __future__ import annotations  # signatures show the names of fastki/_typing.py

import functools
from typing import Any, Callable, Dict, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

try:
    import dask.array as da
    from dask.array.core import normalize_chunks
    from dask.base import tokenize
    from dask.delayed import delayed
except ImportError as exc:  # pragma: no cover - exercised only without Dask
    raise ImportError(f"fastki.dask needs Dask's arrays: pip install 'dask[array]' ({exc})") from exc

from . import _api
from . import initializers as _initializers
from .initializers.initializer import _block_source
from ._typing import DTypeLike, Integer, Real, SeedLike, ShapeLike
from ._validate import _dtype_arg, _seed_arg, _shape_arg

#: Dask's chunks: "auto", a number of elements per chunk, a chunk shape, or the sizes of
#: every chunk along each dimension (dask.array.core.normalize_chunks reads them).
Chunks = Union[str, int, Tuple[Any, ...], Dict[int, Any]]

__all__ = ["uniform", "normal", "truncated_normal", "initialize"]


# --------------------------------------------------------------------------- public API


def uniform(shape: ShapeLike, minval: Real = 0.0, maxval: Real = 1.0, *, seed: SeedLike = None,
            stream: Integer = 0, dtype: DTypeLike = "float32", chunks: Chunks = "auto") -> da.Array:
    """:func:`fastki.uniform` as a lazy Dask array split into ``chunks``.

    Parameters
    ----------
    shape : int or sequence of int
        The shape of the whole array.
    minval, maxval : float, optional
        The interval [minval, maxval) (default [0, 1)).
    seed : int or None, optional
        As in the in-memory call; None draws a seed once, now, so that every compute of
        the array gives the same values.
    stream : int, optional
        The stream (default 0).
    dtype : str or numpy dtype, optional
        "float32" (default), "float64", "float16" or "bfloat16".
    chunks : str, int or tuple, optional
        Dask's chunks ("auto" by default, sized for the dtype).

    Returns
    -------
    dask.array.Array
        Lazy: each chunk's task makes that block alone; computed, it equals the in-memory
        call's result byte for byte, whatever the chunks and the scheduler.

    Raises
    ------
    ValueError, TypeError
        What the in-memory call raises for these arguments, now rather than at compute.

    Examples
    --------
    >>> import fastki, fastki.dask
    >>> x = fastki.dask.uniform((6, 4), seed=1, chunks=(2, 4))
    >>> bool((x.compute() == fastki.uniform((6, 4), seed=1)).all())
    True
    """
    return _distribution_array(_api.uniform, shape, {"minval": minval, "maxval": maxval},
                               seed, stream, dtype, chunks)


def normal(shape: ShapeLike, mean: Real = 0.0, stddev: Real = 1.0, *, seed: SeedLike = None,
           stream: Integer = 0, dtype: DTypeLike = "float32", chunks: Chunks = "auto") -> da.Array:
    """:func:`fastki.normal` as a lazy Dask array split into ``chunks``.

    Parameters
    ----------
    shape : int or sequence of int
        The shape of the whole array.
    mean, stddev : float, optional
        The mean (default 0) and standard deviation (default 1).
    seed : int or None, optional
        As in the in-memory call; None draws a seed once, now, so that every compute of
        the array gives the same values.
    stream : int, optional
        The stream (default 0).
    dtype : str or numpy dtype, optional
        "float32" (default), "float64", "float16" or "bfloat16".
    chunks : str, int or tuple, optional
        Dask's chunks ("auto" by default, sized for the dtype).

    Returns
    -------
    dask.array.Array
        Lazy: each chunk's task makes that block alone; computed, it equals the in-memory
        call's result byte for byte, whatever the chunks and the scheduler.

    Raises
    ------
    ValueError, TypeError
        What the in-memory call raises for these arguments, now rather than at compute.

    Examples
    --------
    >>> import fastki, fastki.dask
    >>> x = fastki.dask.normal((1000, 10), seed=0, chunks=(100, 10))
    >>> bool((x[250:260].compute() == fastki.normal((1000, 10), seed=0)[250:260]).all())
    True
    """
    return _distribution_array(_api.normal, shape, {"mean": mean, "stddev": stddev},
                               seed, stream, dtype, chunks)


def truncated_normal(shape: ShapeLike, mean: Real = 0.0, stddev: Real = 1.0, *,
                     lower: Real = -2.0, upper: Real = 2.0, seed: SeedLike = None,
                     stream: Integer = 0, dtype: DTypeLike = "float32",
                     chunks: Chunks = "auto") -> da.Array:
    """:func:`fastki.truncated_normal` as a lazy Dask array split into ``chunks``.

    Parameters
    ----------
    shape : int or sequence of int
        The shape of the whole array.
    mean, stddev : float, optional
        The normal before truncation (default 0 and 1).
    lower, upper : float, optional
        The bounds in standard deviations from the mean (default -2 and 2).
    seed : int or None, optional
        As in the in-memory call; None draws a seed once, now, so that every compute of
        the array gives the same values.
    stream : int, optional
        The stream (default 0).
    dtype : str or numpy dtype, optional
        "float32" (default), "float64", "float16" or "bfloat16".
    chunks : str, int or tuple, optional
        Dask's chunks ("auto" by default, sized for the dtype).

    Returns
    -------
    dask.array.Array
        Lazy: each chunk's task makes that block alone; computed, it equals the in-memory
        call's result byte for byte, whatever the chunks and the scheduler.

    Raises
    ------
    ValueError, TypeError
        What the in-memory call raises for these arguments, now rather than at compute.

    Examples
    --------
    >>> import fastki, fastki.dask
    >>> x = fastki.dask.truncated_normal(100, stddev=0.02, seed=2, chunks=30)
    >>> bool(abs(x).max().compute() <= 0.04)
    True
    """
    params = {"mean": mean, "stddev": stddev, "lower": lower, "upper": upper}
    return _distribution_array(_api.truncated_normal, shape, params, seed, stream, dtype,
                               chunks)


def initialize(initializer: Any, shape: ShapeLike, dtype: Optional[DTypeLike] = None,
               chunks: Chunks = "auto") -> da.Array:
    """``initializer(shape, dtype)`` as a lazy Dask array split into ``chunks``.

    Parameters
    ----------
    initializer : fastki.initializers.Initializer, str, dict, type or callable
        An initializer instance or anything :func:`fastki.initializers.get` accepts (a
        name such as ``"he_normal"``, a config dict, a class, a callable
        ``f(shape, dtype=None)``).
    shape : int or sequence of int
        The shape of the whole array.
    dtype : str or numpy dtype, optional
        None means Keras' floatx when Keras is loaded here, else float32, resolved now.
    chunks : str, int or tuple, optional
        Dask's chunks ("auto" by default).

    Returns
    -------
    dask.array.Array
        Lazy. The random initializers, Zeros, Ones, a scalar Constant and Identity make
        each chunk alone; Orthogonal, STFT, an array-valued Constant and a callable fastki
        does not know are made whole by one task, and the chunks are slices of it.

    Raises
    ------
    ValueError
        If ``initializer`` is None or cannot be interpreted, or the initializer refuses
        the shape or dtype (now, not at compute).

    Notes
    -----
    The call's seed is drawn now, once: a ``keras.random.SeedGenerator`` seed advances once
    per array.

    Examples
    --------
    >>> import fastki, fastki.dask
    >>> w = fastki.dask.initialize(fastki.HeNormal(seed=3), (64, 32), chunks=(16, 32))
    >>> bool((w.compute() == fastki.HeNormal(seed=3)((64, 32))).all())
    True
    """
    init = _initializers.get(initializer)
    if init is None:
        raise ValueError("Could not interpret initializer identifier: None")
    source = _block_source(init, shape, dtype)
    prefix = (_initializers._snake_case(type(init).__name__)
              if isinstance(init, _initializers.Initializer) else "initialize")
    if source.blockwise:
        source.make(block=_empty_block(source.shape))  # the values' own checks, now
        return _blockwise_array(prefix, source.make, source.shape, source.dtype, chunks)
    return _whole_array(prefix, source.make, source.shape, source.dtype, chunks)


# --------------------------------------------------------------------------- graphs


def _distribution_array(fn: Callable[..., npt.NDArray[Any]], shape: ShapeLike,
                        params: Dict[str, Real], seed: SeedLike, stream: Integer,
                        dtype: DTypeLike, chunks: Chunks) -> da.Array:
    dims: Tuple[int, ...] = _shape_arg(shape)
    # every check of the in-memory call, in its order, the caller's seed included
    fn(dims, **params, seed=seed, stream=stream, dtype=dtype, block=_empty_block(dims))
    fixed_seed: int = _seed_arg(seed)  # None: drawn here, once, so every compute repeats it
    np_dtype: np.dtype[Any] = _dtype_arg(dtype)[0]
    # dtype by name: see the note on blocks in fastki/initializers/initializer.py
    make = functools.partial(fn, dims, **params, seed=fixed_seed, stream=stream,
                             dtype=np_dtype.name)
    return _blockwise_array(fn.__name__, make, dims, np_dtype, chunks)


def _empty_block(shape: Tuple[int, ...]) -> Tuple[slice, ...]:
    """A block of no elements (of one element for a 0-d shape): the functional API runs
    every check of its arguments on it, here rather than later in a worker, and generates
    nothing."""
    return tuple(slice(0, 0) for _ in shape)


def _blockwise_array(prefix: str, make: Callable[..., npt.NDArray[Any]],
                     shape: Tuple[int, ...], dtype: np.dtype[Any], chunks: Chunks) -> da.Array:
    """One task per chunk, each ``make(block=<its slices>)``, none depending on another
    (Dask's map_blocks with no input array: each call learns its place from block_info)."""
    name, sizes = _name_and_chunks(prefix, make, shape, dtype, chunks)
    array: da.Array = da.map_blocks(_make_block, make, name=name, chunks=sizes, dtype=dtype,
                                    meta=_meta(shape, dtype))
    return array


def _whole_array(prefix: str, make: Callable[..., npt.NDArray[Any]], shape: Tuple[int, ...],
                 dtype: np.dtype[Any], chunks: Chunks) -> da.Array:
    """One task makes the whole tensor; each chunk's task slices its block from it."""
    name, sizes = _name_and_chunks(prefix, make, shape, dtype, chunks)
    whole: da.Array = da.from_delayed(delayed(make, pure=True)(dask_key_name=f"whole-{name}"),
                                      shape, dtype=dtype, meta=_meta(shape, dtype), name=name)
    rechunked: da.Array = whole.rechunk(sizes)
    return rechunked


def _name_and_chunks(prefix: str, make: Callable[..., npt.NDArray[Any]],
                     shape: Tuple[int, ...], dtype: np.dtype[Any],
                     chunks: Chunks) -> Tuple[str, Tuple[Tuple[int, ...], ...]]:
    """Dask's chunks (checked, "auto" sized for the dtype), and a name that hashes
    everything the values depend on: make holds the shape, parameters, seed and dtype."""
    sizes: Tuple[Tuple[int, ...], ...] = normalize_chunks(chunks, shape, dtype=dtype)
    return f"{prefix}-{tokenize(make, dtype.name, sizes)}", sizes


def _meta(shape: Tuple[int, ...], dtype: np.dtype[Any]) -> npt.NDArray[Any]:
    return np.empty((0,) * len(shape), dtype=dtype)


# The function tasks call: module-level, so that it pickles by name for the process
# scheduler and dask.distributed.


def _make_block(make: Callable[..., npt.NDArray[Any]],
                block_info: Optional[Dict[Any, Any]] = None) -> npt.NDArray[Any]:
    """make(block=<this chunk's slices>), the chunk's place from Dask's block_info."""
    assert block_info is not None, "Dask passes block_info to a function that names it"
    location = block_info[None]["array-location"]
    return make(block=tuple(slice(start, stop) for start, stop in location))
