"""The functional API: argument validation (the one place it happens), parameters rounded
to the output dtype, block handling, and the choice of backend."""
import contextlib
import decimal
import contextvars
import functools
import math
import operator
import os
import secrets
import sys
import warnings
from decimal import Decimal
from fractions import Fraction

import numpy as np

from . import _numpy

try:
    from . import _native
except ImportError as exc:  # pragma: no cover - exercised by the no-extension test
    _native = None
    _NATIVE_IMPORT_ERROR = exc
else:
    _NATIVE_IMPORT_ERROR = None

__all__ = ["uniform", "normal", "truncated_normal", "random_raw", "philox4x32_10", "info",
           "options"]

_U64 = 1 << 64
_DISTS = {"uniform": 0, "normal": 1, "truncated_normal": 2}
_SIMD_NAMES = ("scalar", "sse2", "avx2", "avx512")
_BACKENDS = ("native", "numpy")
_NATIVE_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}
# Smallest Phi(upper) - Phi(lower) a dtype can sample: the smallest probability drawn,
# 2**-24 (float32) or 2**-53 (float64) of it, must stay a normal number.
_MIN_TRUNCATED_MASS = {"float32": 2.0 ** -100, "float64": 2.0 ** -960}

# --------------------------------------------------------------------------- configuration


def _env_choice(name, allowed):
    value = os.environ.get(name, "").strip().lower()
    if value and value not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value or None


def _default_backend():
    requested = _env_choice("FASTKI_BACKEND", _BACKENDS)
    if requested is None and _native is None:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        hint = ""
        if os.path.exists(os.path.join(here, "setup.py")):
            hint = (f" This fastki was imported from the source checkout {here}, whose "
                    "extension is not built; to use an installed fastki, run from another "
                    "directory or with `python -P`.")
        warnings.warn(f"fastki: the compiled extension did not load ({_NATIVE_IMPORT_ERROR}); "
                      f"using the NumPy backend, which gives the same values more slowly.{hint}",
                      RuntimeWarning, stacklevel=3)
        return "numpy"
    return requested or "native"


_ENV_BACKEND = _default_backend()
_ENV_SIMD = _env_choice("FASTKI_SIMD", _SIMD_NAMES)
_MAX_NUM_THREADS = 2**31 - 1
_options = contextvars.ContextVar("fastki_options", default=(None, None, None))


@contextlib.contextmanager
def options(backend=None, simd=None, num_threads=None):
    """Temporarily choose the backend ("native", "numpy"), the SIMD path ("scalar", "sse2",
    "avx2", "avx512") and the thread count for fills in this thread or task. None keeps the
    current setting (environment: FASTKI_BACKEND, FASTKI_SIMD, OMP_NUM_THREADS)."""
    for name, value, allowed in (("backend", backend, _BACKENDS), ("simd", simd, _SIMD_NAMES)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be one of {allowed}, got {type(value).__name__}")
        if value is not None and value not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    if num_threads is not None:
        if isinstance(num_threads, bool) or not isinstance(num_threads, (int, np.integer)):
            raise TypeError(f"num_threads must be a positive int, got {_show(num_threads)}")
        if not 1 <= num_threads <= _MAX_NUM_THREADS:  # the kernel takes a C int
            raise ValueError(f"num_threads must be a positive int of at most {_MAX_NUM_THREADS}, "
                             f"got {_show(num_threads)}")
        num_threads = int(num_threads)
    old = _options.get()
    new = tuple(o if n is None else n for n, o in zip((backend, simd, num_threads), old))
    token = _options.set(new)
    try:
        yield
    finally:
        _options.reset(token)


def _config():
    """(backend, simd index or -1 for the best, threads or 0 for OpenMP's default)."""
    backend, simd, threads = _options.get()
    backend = backend or _ENV_BACKEND
    if backend == "native" and _native is None:
        raise ImportError(f"fastki: backend 'native' was asked for but the compiled extension "
                          f"did not load: {_NATIVE_IMPORT_ERROR}")
    simd = simd or _ENV_SIMD
    return backend, (-1 if simd is None else _SIMD_NAMES.index(simd)), threads or 0


def info():
    """What fastki runs on: version, backend, SIMD path and the threads a large fill uses."""
    from ._version import __version__

    backend, simd, threads = _config()
    result = {"version": __version__, "backend": backend, "native_loaded": _native is not None}
    if _native is not None:
        result.update(
            simd=_native.simd_best() if simd < 0 else _SIMD_NAMES[simd],
            simd_available=_native.simd_available(),
            openmp=_native.openmp_enabled(),
            num_threads=_native.thread_count(threads, 1 << 40),
        )
    else:
        result.update(simd=None, simd_available=[], openmp=False, num_threads=1)
    if backend == "numpy":
        result.update(simd="numpy", num_threads=1)
    return result


# --------------------------------------------------------------------------- validation


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
        return secrets.randbits(64)
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


# --------------------------------------------------------------------------- parameters


class _Params:
    """Distribution parameters as both backends consume them (docs/algorithm.md)."""

    __slots__ = ("loc", "scale", "value_min", "value_max", "p_low", "p_width", "mirror",
                 "astuple", "reach", "ends")

    def __init__(self, loc, scale, value_min=0.0, value_max=0.0, p_low=0.0, p_width=0.0,
                 mirror=0):
        self.loc, self.scale, self.value_min, self.value_max = loc, scale, value_min, value_max
        self.p_low, self.p_width, self.mirror = p_low, p_width, mirror
        self.reach = math.inf  # largest |value| returned; set by the _*_params functions
        # the interval values must stay in, before rounding to the dtype (None: unbounded);
        # set by the _*_params functions, used to keep float16/bfloat16 values inside it
        self.ends = None
        # what the C kernel takes: doubles that hold the dtype-rounded values exactly
        self.astuple = (float(loc), float(scale), float(value_min), float(value_max),
                        float(p_low), float(p_width), int(mirror))

    def as_dtype(self, dtype):
        t = dtype.type
        return _Params(t(self.loc), t(self.scale), t(self.value_min), t(self.value_max),
                       t(self.p_low), t(self.p_width), self.mirror)


def _to_dtype(value, t, name):
    with np.errstate(over="ignore"):
        v = t(value)
    if math.isinf(v) and not math.isinf(value):
        raise ValueError(f"{name}={value!r} is out of range for {np.dtype(t).name}")
    return v


def _round_inward(value, t, up):
    """value (a float or an exact Fraction) rounded to dtype t, moved one step inward if
    rounding went outward. (Through float64 first, as numpy does for float32: ml_dtypes'
    bfloat16 takes no Fraction. A double rounding can only land on a neighbour, which the
    exact comparison below then corrects.)"""
    with np.errstate(over="ignore"):
        v = t(float(value))
    if up and float(v) < value:
        v = np.nextafter(v, t(np.inf))
    elif not up and float(v) > value:
        v = np.nextafter(v, t(-np.inf))
    return v


def _phi(x):
    """The standard normal CDF at the float x, as an exact-enough Decimal (50 digits).

    Computed with Python's decimal module, not libm's erfc: libm differs between platforms
    in the last bit, and these probabilities are parameters of the kernel, so the values
    of truncated_normal would too. Decimal arithmetic is the same everywhere."""
    if math.isinf(x):
        return Decimal(0) if x < 0 else Decimal(1)
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        z = Decimal(x)  # exact
        density = (-(z * z) / 2).exp() / _SQRT_2PI
        if abs(z) <= 5:
            # Marsaglia: Phi(z) = 1/2 + density * (z + z^3/3 + z^5/(3*5) + ...)
            term = total = z
            z2, k = z * z, 1
            while abs(term) > total.copy_abs() * Decimal("1e-52") or k < 3:
                k += 2
                term = term * z2 / k
                total += term
            result = Decimal("0.5") + density * total
        else:
            # upper tail Q(|z|) = density / (|z| + 1/(|z| + 2/(|z| + 3/(|z| + ...)))), from
            # the back; 200 terms are far past convergence for |z| > 5
            a, fraction = abs(z), Decimal(0)
            for k in range(200, 0, -1):
                fraction = k / (a + fraction)
            tail = density / (a + fraction)
            result = tail if z < 0 else 1 - tail
        return +result


def _params_cache(fn):
    """functools.lru_cache keyed by the floats' signs as well: a dict holds 0.0 == -0.0 as
    one key, but mean=-0.0 and mean=0.0 give different bits (-0.0 + -0.0 is -0.0)."""
    cached = functools.lru_cache(maxsize=256)(lambda signs, *args: fn(*args))

    @functools.wraps(fn)
    def lookup(*args):
        return cached(tuple(math.copysign(1.0, a) for a in args if type(a) is float), *args)

    lookup.cache_clear = cached.cache_clear
    return lookup


with decimal.localcontext() as _ctx:
    _ctx.prec = 60
    _SQRT_2PI = (2 * Decimal(
        "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899"
    )).sqrt()


@_params_cache
def _uniform_params(minval, maxval, dtname):
    t = _NATIVE_DTYPES[dtname].type
    lo, hi = _to_dtype(minval, t, "minval"), _to_dtype(maxval, t, "maxval")
    span = float(hi) - float(lo)
    if math.isinf(span):
        raise ValueError(f"maxval - minval = {maxval!r} - {minval!r} is out of range for {dtname}")
    scale = _to_dtype(span, t, "maxval - minval")
    top = max(lo, np.nextafter(hi, t(-np.inf))) if hi > lo else lo
    p = _Params(lo, scale, lo, top)
    p.reach = max(abs(float(lo)), abs(float(hi)))
    p.ends = (float(lo), float(hi))
    return p


@_params_cache
def _normal_params(mean, stddev, dtname):
    t = _NATIVE_DTYPES[dtname].type
    p = _Params(_to_dtype(mean, t, "mean"), _to_dtype(stddev, t, "stddev"))
    p.reach = abs(float(p.loc)) + float(p.scale) * _Z_REACH["normal"][dtname]
    _check_reach(p.reach, dtname, "normal")
    return p


# Largest |z| each transform returns (docs/algorithm.md), rounded up: Box-Muller's radius at
# the smallest u, sqrt(-2 ln 2**-24) = 5.768 (float32) and sqrt(-2 ln 2**-53) = 8.572
# (float64); the inverse normal CDF at the smallest probability a truncated interval samples
# (_MIN_TRUNCATED_MASS times 2**-24 or 2**-53): |z| = 12.84 and 37.35.
_Z_REACH = {"normal": {"float32": 5.77, "float64": 8.58},
            "truncated_normal": {"float32": 12.9, "float64": 37.4}}
# Largest finite value of each output dtype (bfloat16: (2 - 2**-7) * 2**127)
_DTYPE_MAX = {"float32": float(np.finfo(np.float32).max), "float64": float(np.finfo(np.float64).max),
              "float16": float(np.finfo(np.float16).max), "bfloat16": (2 - 2**-7) * 2.0**127}
_PARAM_NAMES = {"uniform": "minval, maxval", "normal": "mean, stddev",
                "truncated_normal": "mean, stddev, lower, upper"}


def _check_reach(reach, dtname, dist):
    """Refuse parameters for which some values would overflow dtname to inf."""
    if not reach <= _DTYPE_MAX[dtname]:
        raise ValueError(f"{_PARAM_NAMES[dist]}: values would reach {reach:.4g} in magnitude, "
                         f"beyond the largest {dtname} ({_DTYPE_MAX[dtname]:.4g})")


def _interval_end(m, s, z):
    """m + s * z for finite z, exactly (a Fraction), so that _round_inward rounds the true end
    inward: float arithmetic could round it half an ulp outward, or overflow in s * z although
    the sum is finite (1e308 + 1e308 * -2). An end beyond float64's range becomes float64's
    largest value, which is inside it; the kernel's clamp then never lets a value out."""
    v = Fraction(m) + Fraction(s) * Fraction(z)
    return v if abs(v) <= _F64_MAX else (_F64_MAX if v > 0 else -_F64_MAX)


_F64_MAX = float(np.finfo(np.float64).max)


@_params_cache
def _truncated_params(mean, stddev, lower, upper, dtname):
    t = _NATIVE_DTYPES[dtname].type
    m, s = _to_dtype(mean, t, "mean"), _to_dtype(stddev, t, "stddev")
    mirror = lower + upper > 0  # sample the side where probabilities keep their precision
    a, b = (-upper, -lower) if mirror else (lower, upper)
    phi_a = _phi(a)
    p_low = float(phi_a)  # Decimal -> float rounds correctly
    p_width = float(_phi(b) - phi_a)
    if not p_width >= _MIN_TRUNCATED_MASS[dtname]:
        raise ValueError(
            f"lower={lower!r}, upper={upper!r}: the interval holds probability {p_width:.3g} "
            f"under the standard normal, below the {_MIN_TRUNCATED_MASS[dtname]:.3g} that "
            f"{dtname} can sample")
    vmin = _interval_end(float(m), float(s), lower) if math.isfinite(lower) else -math.inf
    vmax = _interval_end(float(m), float(s), upper) if math.isfinite(upper) else math.inf
    p = _Params(m, s, _round_inward(vmin, t, True), _round_inward(vmax, t, False),
                t(p_low), t(p_width), int(mirror))
    # an infinite end leaves m + s * z unclamped on that side
    far = abs(float(m)) + float(s) * _Z_REACH["truncated_normal"][dtname]
    p.ends = (vmin, vmax)
    p.reach = max(abs(float(p.value_min)) if math.isfinite(lower) else far,
                  abs(float(p.value_max)) if math.isfinite(upper) else far)
    _check_reach(p.reach, dtname, "truncated_normal")
    return p


_PARAMS_FOR = {"uniform": _uniform_params, "normal": _normal_params,
               "truncated_normal": _truncated_params}

# --------------------------------------------------------------------------- generation


def _generate(dist, args, shape, seed, stream, dtype, out, block):
    """The values of distribution dist with the validated float parameters args."""
    shape = _shape_arg(shape)
    dtype, compute = _dtype_arg(dtype)
    params = _PARAMS_FOR[dist](*args, compute)
    rounded = dtype is not _NATIVE_DTYPES[compute]  # float16, bfloat16 (dtype.name is slow)
    if rounded:  # the float32 values must fit them too, and stay inside once rounded
        _check_reach(params.reach, dtype.name, dist)
        narrow_bounds = _narrow_bounds(dist, params, dtype)
    elif _native is not None:  # later calls with these parameters may take the common path
        _native.accept_params(_DISTS[dist], compute == "float64", args, params.astuple)
    seed = _seed_arg(seed)
    stream = _int_arg(stream, "stream", 0, _U64)
    if block is not None:
        bounds = _block_arg(block, shape)
        result_shape = tuple(b - a for a, b in bounds)
    else:
        bounds = None
        result_shape = shape
    if out is not None:
        out = _out_arg(out, dtype, result_shape)
    backend, simd, threads = _config()
    if out is None:
        try:
            out = np.empty(result_shape, dtype=dtype)
        except ValueError as exc:  # "array is too big", "Maximum allowed dimension exceeded"
            raise ValueError(f"shape {_show(result_shape)}: too large for a NumPy array of "
                             f"{dtype} ({exc})") from None
        except MemoryError as exc:
            raise MemoryError(f"shape {_show(result_shape)}: cannot allocate the {dtype} result "
                              f"({exc})") from None
    if out.size == 0:
        return out
    runs = _runs(shape, bounds, out.size)
    if not rounded:
        _fill_runs(backend, dist, out.reshape(-1), seed, stream, runs, params, simd, threads)
    else:
        _fill_rounded(backend, dist, out.reshape(-1), seed, stream, runs, params, simd, threads,
                      narrow_bounds)
    return out


def _narrow_bounds(dist, params, dtype):
    """(lo, hi) as float32 values, or None: the clamp that keeps a float16/bfloat16 value of
    dist inside its interval. Rounding a float32 value to the narrower type can reach maxval
    (uniform's [minval, maxval)) or step past an end of the truncated interval (0.3 in
    float16 is 0.30005); a float32 value first clamped to bounds that the narrow type holds
    exactly rounds to a value within them (rounding is monotonic)."""
    if params.ends is None:
        return None
    t = dtype.type
    if dist == "uniform":  # ends: float32 minval, maxval
        lo, hi = t(params.ends[0]), t(params.ends[1])
        top = max(lo, np.nextafter(hi, t(-np.inf))) if hi > lo else lo
        return np.float32(lo), np.float32(top)
    vmin, vmax = params.ends  # truncated normal: the exact ends (Fractions) or infinities
    lo = -np.inf if vmin == -math.inf else _round_inward(vmin, t, True)
    hi = np.inf if vmax == math.inf else _round_inward(vmax, t, False)
    if not lo <= hi:
        raise ValueError(f"mean, stddev, lower, upper: the interval [{float(vmin)!r}, "
                         f"{float(vmax)!r}] holds no {dtype.name} value")
    return np.float32(lo), np.float32(hi)


def _runs(shape, bounds, size):
    """Describe the elements to fill as (first_index, run_length, n_runs, starts_fn)."""
    if not bounds:  # no block, or the block () of a 0-d shape
        return 0, size, 1, None
    # merge trailing dimensions the block covers whole into one run
    k = len(shape) - 1
    run = bounds[k][1] - bounds[k][0]
    while k > 0 and bounds[k] == (0, shape[k]):
        k -= 1
        run *= bounds[k][1] - bounds[k][0]
    strides = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        strides[i] = strides[i + 1] * shape[i + 1]
    first = sum(b[0] * st for b, st in zip(bounds, strides))
    outer = bounds[:k]
    n_runs = size // run
    if n_runs == 1:
        return first, run, 1, None
    outer_shape = tuple(b - a for a, b in outer)
    outer_strides = np.array(strides[:k], dtype=np.uint64)

    def starts(lo, hi):
        idx = np.unravel_index(np.arange(lo, hi), outer_shape)
        s = np.full(hi - lo, first, dtype=np.uint64)
        for i, st in zip(idx, outer_strides):
            s += i.astype(np.uint64) * st
        return s

    return first, run, n_runs, starts


_RUN_BATCH = 1 << 16


def _fill_runs(backend, dist, flat, seed, stream, runs, params, simd, threads):
    first, run, n_runs, starts = runs
    code = _DISTS[dist]
    if backend == "native":
        ptuple = params.astuple
        if starts is None:
            _native.fill(code, flat, seed, stream, first, ptuple, simd, threads)
            return
        for lo in range(0, n_runs, _RUN_BATCH):
            hi = min(n_runs, lo + _RUN_BATCH)
            _native.fill_runs(code, flat[lo * run:hi * run], seed, stream, starts(lo, hi), run,
                              ptuple, simd, threads)
        return
    if starts is None:
        _numpy.fill(dist, flat, seed, stream, first, params)
        return
    for lo in range(0, n_runs, _RUN_BATCH):
        hi = min(n_runs, lo + _RUN_BATCH)
        for i, s in enumerate(starts(lo, hi).tolist(), start=lo):
            _numpy.fill(dist, flat[i * run:(i + 1) * run], seed, stream, s, params)


# float16 and bfloat16 are float32 values rounded once; the float32 values are made in
# slices of this many elements so that no float32 temporary grows with the output.
_ROUND_SLICE = 1 << 20


def _fill_rounded(backend, dist, flat, seed, stream, runs, params, simd, threads, bounds):
    """float16/bfloat16: float32 values made in one reused slice of at most _ROUND_SLICE
    elements, clamped to bounds (_narrow_bounds) and rounded once into flat."""
    first, run, n_runs, starts = runs
    tmp = np.empty(min(flat.size, _ROUND_SLICE), dtype=np.float32)

    def store(dst, part):
        if bounds is not None:
            np.clip(part, bounds[0], bounds[1], out=part)
        dst[...] = part

    def contiguous(first_index, dst):  # one run of consecutive elements, slice by slice
        for lo in range(0, dst.size, _ROUND_SLICE):
            hi = min(dst.size, lo + _ROUND_SLICE)
            part = tmp[:hi - lo]
            _fill_runs(backend, dist, part, seed, stream, (first_index + lo, hi - lo, 1, None),
                       params, simd, threads)
            store(dst[lo:hi], part)

    if starts is None:
        contiguous(first, flat)
        return
    if run >= _ROUND_SLICE:  # long runs: one at a time
        for lo in range(0, n_runs, _RUN_BATCH):
            hi = min(n_runs, lo + _RUN_BATCH)
            for i, s in enumerate(starts(lo, hi).tolist(), start=lo):
                contiguous(s, flat[i * run:(i + 1) * run])
        return
    per = _ROUND_SLICE // run  # short runs: as many as fill the slice
    for lo in range(0, n_runs, per):
        hi = min(n_runs, lo + per)
        part = tmp[:(hi - lo) * run]
        sub = (0, run, hi - lo, lambda a, b, lo=lo: starts(lo + a, lo + b))
        _fill_runs(backend, dist, part, seed, stream, sub, params, simd, threads)
        store(flat[lo * run:hi * run], part)


def _uniform(shape, minval=0.0, maxval=1.0, *, seed=None, stream=0, dtype="float32", out=None,
            block=None):
    """Uniform values in [minval, maxval) (docs/algorithm.md); equal bounds give minval."""
    lo, hi = _finite_arg(minval, "minval"), _finite_arg(maxval, "maxval")
    if lo > hi:
        raise ValueError(f"minval must not exceed maxval, got minval={lo!r} > maxval={hi!r}")
    return _generate("uniform", (lo, hi), shape, seed, stream, dtype, out, block)


def _normal(shape, mean=0.0, stddev=1.0, *, seed=None, stream=0, dtype="float32", out=None,
           block=None):
    """Normal values with the given mean and standard deviation (Box-Muller, docs/algorithm.md)."""
    m, s = _finite_arg(mean, "mean"), _finite_arg(stddev, "stddev")
    if s < 0:
        raise ValueError(f"stddev must be non-negative, got {s!r}")
    return _generate("normal", (m, s), shape, seed, stream, dtype, out, block)


def _truncated_normal(shape, mean=0.0, stddev=1.0, *, lower=-2.0, upper=2.0, seed=None, stream=0,
                     dtype="float32", out=None, block=None):
    """Normal values restricted to [mean + lower*stddev, mean + upper*stddev], by inverse CDF:
    never a value outside, no resampling, every element from one fixed draw."""
    m, s = _finite_arg(mean, "mean"), _finite_arg(stddev, "stddev")
    if s < 0:
        raise ValueError(f"stddev must be non-negative, got {s!r}")
    a, b = _float_arg(lower, "lower"), _float_arg(upper, "upper")
    if not a < b:
        raise ValueError(f"lower must be less than upper, got lower={a!r}, upper={b!r}")
    return _generate("truncated_normal", (m, s, a, b), shape, seed, stream, dtype, out, block)


def random_raw(n, *, seed, stream=0, offset=0):
    """Words offset .. offset + n - 1 of the Philox stream (seed, stream), as uint32."""
    n = _int_arg(n, "n", 0, 1 << 62)
    seed = _int_arg(seed, "seed", 0, _U64)
    stream = _int_arg(stream, "stream", 0, _U64)
    offset = _int_arg(offset, "offset", 0, _U64)
    if offset + n > _U64:
        raise ValueError(f"offset + n must not exceed 2**64, got {offset} + {n}")
    if n * 4 > np.iinfo(np.intp).max:  # as for shapes: too large for any NumPy array
        raise ValueError(f"n={n}: too large for a NumPy array of uint32")
    backend, _, _ = _config()
    try:
        if backend == "native":
            return _native.random_raw(np.empty(n, dtype=np.uint32), seed, stream, offset)
        return _numpy.random_raw(n, seed, stream, offset)
    except MemoryError as exc:  # NumPy's own names no parameter
        raise MemoryError(f"n={n}: cannot allocate {n} uint32 words ({exc})") from None


def _uint32_array(x, name, last):
    try:
        a = np.asarray(x)
    except ValueError as exc:  # ragged nested sequences
        raise ValueError(f"{name} must be an array of shape (..., {last}): {exc}") from None
    if a.dtype.kind not in "ui":
        raise TypeError(f"{name} must hold unsigned 32-bit integers, got dtype {a.dtype}")
    if a.size and (a.min() < 0 or a.max() > 0xFFFFFFFF):
        raise ValueError(f"{name} values must be in [0, 2**32)")
    if a.ndim == 0 or a.shape[-1] != last:
        raise ValueError(f"{name} must have shape (..., {last}), got {a.shape}")
    return np.ascontiguousarray(a, dtype=np.uint32)


def philox4x32_10(counter, key):
    """Philox4x32-10 of Random123: counter (..., 4) and key (..., 2) uint32 -> (..., 4)."""
    c = _uint32_array(counter, "counter", 4)
    k = _uint32_array(key, "key", 2)
    try:
        shape = np.broadcast_shapes(c.shape[:-1], k.shape[:-1])
    except ValueError:
        raise ValueError(f"counter {c.shape} and key {k.shape} do not broadcast") from None
    c = np.ascontiguousarray(np.broadcast_to(c, shape + (4,))).reshape(-1, 4)
    k = np.ascontiguousarray(np.broadcast_to(k, shape + (2,))).reshape(-1, 2)
    backend, _, _ = _config()
    if backend == "native":
        out = _native.philox4x32_10(c, k, np.empty_like(c))
    else:
        out = _numpy.philox4x32_10(c, k)
    return out.reshape(shape + (4,))


# The public fills: compiled entry points that serve calls _api has already accepted at C
# speed and hand every other call to the functions above (fastki/_native.pyx, "the common
# call"). Without the extension, the functions above themselves.
if _native is not None:
    _native.bind_api(sys.modules[__name__])
    uniform, normal, truncated_normal = _native.uniform, _native.normal, _native.truncated_normal
else:
    uniform, normal, truncated_normal = _uniform, _normal, _truncated_normal
for _public, _general in ((uniform, _uniform), (normal, _normal),
                          (truncated_normal, _truncated_normal)):
    _public.__doc__, _public.__module__ = _general.__doc__, "fastki"
del _public, _general
