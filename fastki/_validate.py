"""Argument validation: the one place where fastki decides what a call may pass.

Every public entry point (fastki's fills, the Keras catalogue, fastki.torch, fastki.dask,
fastki.jax) checks its arguments with these functions, so a refused argument gets the same
exception type and message whichever door it came through. Each returns the value in the
form the next layer takes (an int, a float, a tuple of ints, NumPy's own dtype object)."""
import math
import operator
import secrets

import numpy as np

_U64 = 1 << 64
_NATIVE_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


def _fresh_seed():
    """A new 64-bit seed from the operating system (seed=None)."""
    return secrets.randbits(64)


def _show(value, limit=120):
    """repr for error messages, bounded and never failing: a hostile argument's repr may
    raise, or be huge (ints beyond Python's 4300-digit str limit raise ValueError)."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - any failure: fall back to the type
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit] + "..."


def _int_arg(value, name, lo, hi):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got a bool ({value!r})")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} ({_show(value)})") from None
    if not lo <= v < hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}), got {_show(v)}")
    return v


def _seed_arg(seed):
    if type(seed) is int and 0 <= seed < _U64:
        return seed
    if seed is None:
        return _fresh_seed()
    return _int_arg(seed, "seed", 0, _U64)


def _shape_arg(shape):
    if type(shape) is int and 0 <= shape <= _U64:  # the common cases first: this runs on every call
        return (shape,)
    if type(shape) is tuple and len(shape) <= 2 and all(type(d) is int and 0 <= d < 1 << 31 for d in shape):
        return shape
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape,)
    if not isinstance(shape, (tuple, list)):
        raise TypeError(f"shape must be an int or a tuple of ints, got {type(shape).__name__}")
    dims = []
    for d in shape:
        if isinstance(d, (bool, np.bool_)):
            raise TypeError(f"shape must hold ints, got a bool in {_show(tuple(shape))}")
        try:
            d = operator.index(d)
        except TypeError:
            raise TypeError(f"shape must hold ints, got {type(d).__name__} in {_show(tuple(shape))}") from None
        if d < 0:
            raise ValueError(f"shape must not be negative, got {_show(tuple(shape))}")
        if d > _U64:  # possible only beside a 0 (no elements), and no array could have it
            raise ValueError(f"shape dimensions must not exceed 2**64, got {_show(tuple(shape))}")
        dims.append(d)
    if math.prod(dims) > _U64:
        raise ValueError(f"shape {_show(tuple(dims))} has more than 2**64 elements")
    if len(dims) > _MAX_DIMS:
        raise ValueError(f"shape has {len(dims)} dimensions, more than NumPy's {_MAX_DIMS}")
    return tuple(dims)


_MAX_DIMS = 64 if np.lib.NumpyVersion(np.__version__) >= "2.0.0" else 32


def _dtype_arg(dtype):
    """(output dtype, name of the dtype the kernel computes in) for an accepted dtype."""
    try:
        return _DTYPE_CACHE[dtype]
    except (KeyError, TypeError):  # TypeError: unhashable, rejected below
        pass
    if dtype is None:  # np.dtype(None) would silently mean float64, not the float32 default
        raise TypeError("dtype must be float32, float64, float16 or bfloat16, got None")
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError, SyntaxError):  # SyntaxError: numpy parses "f4,(" as code
        try:
            name = getattr(dtype, "__name__", None) or str(dtype)
        except Exception:  # noqa: BLE001 - a hostile object: not bfloat16
            name = None
        if name != "bfloat16":
            raise TypeError(f"dtype must be float32, float64, float16 or bfloat16, "
                            f"got {_show(dtype)}") from None
        dt = _bfloat16()
    if not dt.isnative or dt.name not in ("float32", "float64", "float16", "bfloat16"):
        raise TypeError(f"dtype must be float32, float64, float16 or bfloat16, got {dt}")
    if dt.name in _NATIVE_DTYPES:
        # NumPy's own object: _generate tells native from rounded dtypes by identity, and an
        # equal float64 dtype can be another object (unpickled in a worker, newbyteorder("="))
        result = (_NATIVE_DTYPES[dt.name], dt.name)
    else:
        result = (dt, "float32")
    if len(_DTYPE_CACHE) < 64:  # numpy's dtype.name is slow: remember the answer
        _DTYPE_CACHE[dtype] = result
    return result


_DTYPE_CACHE = {}


def _bfloat16():
    try:
        import ml_dtypes
    except ImportError:
        raise TypeError("dtype bfloat16 needs the ml_dtypes package (pip install ml_dtypes)") from None
    return np.dtype(ml_dtypes.bfloat16)


def _float_arg(value, name):
    if type(value) is float and value == value:
        return value
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({_show(value)})")
    try:
        v = float(value)
    except OverflowError:
        raise ValueError(f"{name}={_show(value)} is out of range for float64") from None
    if math.isnan(v):
        raise ValueError(f"{name} must not be NaN")
    return v


def _finite_arg(value, name):
    if type(value) is float and -math.inf < value < math.inf:
        return value
    v = _float_arg(value, name)
    if math.isinf(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def _block_arg(block, shape):
    """Normalize block to ((start, stop), ...) with 0 <= start <= stop <= dim."""
    if not isinstance(block, tuple):
        block = (block,) if isinstance(block, slice) else block
    if not isinstance(block, (tuple, list)) or not all(isinstance(s, slice) for s in block):
        raise TypeError(f"block must be a tuple of slices, got {_show(block)}")
    if len(block) != len(shape):
        raise ValueError(f"block must have one slice per dimension of shape {shape}, "
                         f"got {len(block)}")
    bounds = []
    for s, dim in zip(block, shape):
        if s.step is not None and _int_arg(s.step, "block step", -_U64, _U64) != 1:
            raise ValueError(f"block slices must have step 1, got {_show(s)}")
        start = 0 if s.start is None else _int_arg(s.start, "block start", -dim, dim + 1)
        stop = dim if s.stop is None else _int_arg(s.stop, "block stop", -dim, dim + 1)
        start += dim if start < 0 else 0
        stop += dim if stop < 0 else 0
        if start > stop:
            raise ValueError(f"block slice {_show(s)} starts after it stops in a dimension of size {dim}")
        bounds.append((start, stop))
    return tuple(bounds)


def _out_arg(out, dtype, shape):
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.dtype != dtype:
        raise TypeError(f"out has dtype {out.dtype}, expected {dtype}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {shape}")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.writeable:
        raise ValueError("out is read-only")
    if not out.flags.aligned:
        raise ValueError("out is not aligned to its dtype")
    return out

