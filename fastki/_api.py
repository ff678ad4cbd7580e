"""The functional API, fastki's one front door: uniform, normal, truncated_normal,
random_raw, philox4x32_10, options and info.

Arguments are checked by fastki/_validate.py and turned into kernel parameters by
fastki/_params.py; this module chooses the backend, cuts blocks into runs and hands
fully resolved requests to the compiled kernel (fastki/_native.pyx) or to the NumPy
backend (fastki/_numpy.py). Neither of those calls back into this module."""
from __future__ import annotations  # signatures show the names of fastki/_typing.py

import contextlib
import contextvars
import os
import warnings
from typing import Iterator

import numpy as np
import numpy.typing as npt

from . import _numpy, _settings
from ._constants import STREAM_VERSION
from ._params import DIST_CODES, _check_reach, _narrow_bounds, params_for
from ._typing import (BlockLike, DTypeLike, FloatArray, Info, Integer, OutArray, Real,
                      SeedLike, Setting, ShapeLike, ThreadCount, UInt32Array)
from ._validate import (_NATIVE_DTYPES, _U64, _block_arg, _dtype_arg, _finite_arg, _float_arg,
                        _fresh_seed, _int_arg, _out_arg, _seed_arg, _shape_arg, _show)

try:
    from . import _native
except ImportError as exc:  # pragma: no cover - exercised by the no-extension test
    _native = None
    _NATIVE_IMPORT_ERROR = exc
else:
    _NATIVE_IMPORT_ERROR = None

__all__ = ["uniform", "normal", "truncated_normal", "random_raw", "philox4x32_10", "info",
           "options"]

_SIMD_NAMES = _settings.SIMD_NAMES
_BACKENDS = _settings.BACKENDS

# --------------------------------------------------------------------------- configuration


def _default_backend(requested):
    if requested is None and _native is None:
        here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        hint = ""
        if os.path.exists(os.path.join(here, "setup.py")):
            hint = (f" This fastki was imported from the source checkout {here}, whose "
                    "extension is not built; to use an installed fastki, run from another "
                    "directory or with `python -I`.")
        warnings.warn(f"fastki: the compiled extension did not load ({_NATIVE_IMPORT_ERROR}); "
                      f"using the NumPy backend, which gives the same values more slowly.{hint}",
                      RuntimeWarning, stacklevel=3)
        return "numpy"
    return requested or "native"


# Every setting is read once, here, by fastki/_settings.py; the kernel gets its thread settings
# from it, and a FASTKI_SIMD path this CPU or build lacks is refused now, not at the first fill.
_SETTINGS = _settings.read()
_ENV_BACKEND = _default_backend(_SETTINGS.backend)
_ENV_SIMD = _SETTINGS.simd
if _native is not None:
    _native.configure_threads(_SETTINGS.chunk_groups, _SETTINGS.streaming,
                              _settings.cpu_limit(_SETTINGS), _SETTINGS.load_signal)
    if _ENV_SIMD is not None and _ENV_SIMD not in _native.simd_available():
        raise ValueError(f"FASTKI_SIMD={_ENV_SIMD!r} names a simd path this CPU or build lacks; "
                         f"available: {', '.join(_native.simd_available())}")
_MAX_NUM_THREADS = 2**31 - 1
_options = contextvars.ContextVar("fastki_options", default=(None, None, None))


@contextlib.contextmanager
def options(backend: Setting = None, simd: Setting = None,
            num_threads: ThreadCount = None) -> Iterator[None]:
    """Choose the backend, SIMD path and thread count for the fills inside a ``with`` block.

    The choice holds in this thread or asyncio task only, and ends with the block. None
    keeps the setting in force (at first: the environment variables FASTKI_BACKEND,
    FASTKI_SIMD and OMP_NUM_THREADS). None of the three changes a value: the bytes are the
    same whatever is chosen (the contract), only the speed differs.

    Parameters
    ----------
    backend : {"native", "numpy"}, optional
        "native" is the compiled kernel; "numpy" the NumPy implementation of the same
        algorithm (slower, and the reference the kernel is tested against).
    simd : {"scalar", "sse2", "avx2", "avx512", "neon"}, optional
        The kernel's instruction set; ``info()["simd_available"]`` lists this CPU's.
        A path the CPU lacks is refused at the first fill inside the block.
    num_threads : int, optional
        Threads a large fill may use, from 1 to 2**31 - 1.

    Yields
    ------
    None

    Raises
    ------
    TypeError
        If backend or simd is not a str, or num_threads not an int.
    ValueError
        If a value is not one of those listed, or num_threads is below 1 or too large.

    Examples
    --------
    >>> import fastki
    >>> with fastki.options(backend="numpy"):
    ...     slow = fastki.normal(1000, seed=3)
    >>> bool((fastki.normal(1000, seed=3) == slow).all())
    True
    """
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


def info() -> Info:
    """What fastki runs on here: version, stream version, backend, SIMD path, threads.

    Returns
    -------
    dict
        ``version`` (str), ``stream_version`` (int: the version of the values; a fastki
        with the same stream version gives the same bytes), ``backend`` ("native" or
        "numpy"), ``native_loaded`` (bool), ``simd`` (the path in use, "numpy" on the NumPy
        backend, None when the kernel is not loaded), ``simd_available`` (list of str),
        ``openmp`` (bool), ``num_threads`` (the threads a large default fill may use) and
        ``num_threads_source`` (which limit set that number: the affinity mask, the CPU
        quota, OMP_NUM_THREADS or options). The settings of an enclosing :func:`options`
        block count.

    Examples
    --------
    >>> import fastki
    >>> fastki.info()["stream_version"]
    2
    >>> with fastki.options(backend="numpy"):
    ...     fastki.info()["simd"]
    'numpy'
    """
    from ._version import __version__

    backend, simd, threads = _config()
    result = {"version": __version__, "stream_version": STREAM_VERSION, "backend": backend,
              "native_loaded": _native is not None}
    if _native is not None:
        budget = _native.thread_count(threads, 1 << 40)
        result.update(
            simd=_native.simd_best() if simd < 0 else _SIMD_NAMES[simd],
            simd_available=_native.simd_available(),
            openmp=_native.openmp_enabled(),
            num_threads=budget,
            num_threads_source=_settings.budget_source(_SETTINGS, budget, threads),
        )
    else:
        result.update(simd=None, simd_available=[], openmp=False, num_threads=1,
                      num_threads_source="no compiled extension")
    if backend == "numpy":
        result.update(simd="numpy", num_threads=1, num_threads_source="NumPy backend")
    return result


# --------------------------------------------------------------------------- generation


def _generate(dist, args, shape, seed, stream, dtype, out, block):
    """The values of distribution dist with the validated float parameters args, computed
    (parameters, and NumPy-backend values) in the default floating-point environment."""
    token = _fp_environment_begin()
    try:
        return _generate_values(dist, args, shape, seed, stream, dtype, out, block)
    finally:
        _fp_environment_end(token)


def _fp_environment_probe():
    """Without the extension the environment cannot be set from Python: refuse a
    non-default one (docs/algorithm.md, "Floating-point environment"), found by arithmetic
    whose result each setting changes."""
    one, quarter_ulp = np.array([1.0]), np.array([2.0 ** -54])
    tiny = np.array([2.0 ** -126], dtype=np.float32)
    nearest = (one + quarter_ulp)[0] == 1.0 and (one + 3 * quarter_ulp)[0] > 1.0 \
        and (-one - 3 * quarter_ulp)[0] < -1.0
    subnormals = (tiny * np.float32(0.5))[0] != 0 and (tiny * np.float32(0.5) * np.float32(2))[0] == tiny[0]
    if not (nearest and subnormals):
        raise FloatingPointError(
            "fastki: this thread's floating-point environment is not the default "
            "(round to nearest-even, no flush-to-zero): fastki's values are defined in it "
            "(docs/algorithm.md, \"Floating-point environment\")")


if _native is not None:
    _fp_environment_begin = _native.fp_environment_begin
    _fp_environment_end = _native.fp_environment_end
else:
    _fp_environment_begin, _fp_environment_end = _fp_environment_probe, lambda token: None


def _generate_values(dist, args, shape, seed, stream, dtype, out, block):
    shape = _shape_arg(shape)
    dtype, compute = _dtype_arg(dtype)
    params = params_for(dist, args, compute)  # checked, and remembered for the common path
    rounded = dtype is not _NATIVE_DTYPES[compute]  # float16, bfloat16 (dtype.name is slow)
    if rounded:  # the float32 values must fit them too, and stay inside once rounded
        _check_reach(params.reach, dtype.name, dist)
        narrow_bounds = _narrow_bounds(dist, params, dtype)
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
    code = DIST_CODES[dist]
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
            _numpy.clamp(part, bounds[0], bounds[1])
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


# --------------------------------------------------------------------------- the fills
# The common call -- float32/float64 by name or NumPy dtype, no block=, default options, the
# native backend -- goes straight to _native.fill_accepted, which serves it when
# _params.params_for has already accepted these exact distribution arguments (their bits, so
# -0.0 is not 0.0) and otherwise returns None without side effects. Everything else, and every error, goes
# through _generate. Both routes give the same bytes (tests/test_common_path.py).


_NO_OPTIONS = _options.get()
_FAST_NATIVE = _native is not None and _ENV_BACKEND == "native"
_ENV_SIMD_INDEX = -1 if _ENV_SIMD is None else _SIMD_NAMES.index(_ENV_SIMD)
# bound once: a 1-element call is a few hundred nanoseconds, and each lookup counts
_current_options = _options.get
_fill_accepted = None if _native is None else _native.fill_accepted


def uniform(shape: ShapeLike, minval: Real = 0.0, maxval: Real = 1.0, *, seed: SeedLike = None,
            stream: Integer = 0, dtype: DTypeLike = "float32", out: OutArray = None,
            block: BlockLike = None) -> FloatArray:
    """Uniform values in [minval, maxval).

    Every value lies in the interval asked for, in the dtype asked for, even where minval
    or maxval rounded to the dtype would fall outside it. When minval == maxval every value
    is that point rounded to nearest, except that a zero is +0.0 whatever the sign of the
    arguments (``uniform(3, -0.0, -0.0)`` gives +0.0: -0.0 + 0.0 is +0.0 in IEEE arithmetic).
    The values depend only on (seed, stream, element index, minval, maxval, dtype): the same
    bytes on every machine, thread count, SIMD path, block and backend. The algorithm is
    specified in docs/algorithm.md of the source distribution, section 3.

    Parameters
    ----------
    shape : int or sequence of int
        The shape of the full tensor.
    minval, maxval : float, optional
        The interval (default [0, 1)); finite, minval <= maxval.
    seed : int or None, optional
        The seed, a whole number in [0, 2**64). None draws a fresh one from the operating
        system (the values then differ at every call). Keyword only, as are the rest.
    stream : int, optional
        One of 2**64 independent streams of the same seed (default 0).
    dtype : str or numpy dtype, optional
        "float32" (default), "float64", "float16" or "bfloat16" (needs ml_dtypes); float16
        and bfloat16 are the float32 values rounded once.
    out : numpy.ndarray, optional
        A C-contiguous, writeable array of that dtype and of the result's shape, filled in
        place and returned.
    block : tuple of slice, optional
        One slice per dimension (step 1): only that block of the full tensor is made, with
        the values the full tensor has there (for sharded or out-of-core tensors).

    Returns
    -------
    numpy.ndarray
        Of the dtype asked for and of shape `shape` (or of the block). Typed as
        ``numpy.typing.NDArray[numpy.floating]``; a bfloat16 array's dtype is ml_dtypes'
        bfloat16, which NumPy does not count as floating.

    Raises
    ------
    ValueError
        If minval or maxval is not finite, minval > maxval, the seed or stream is outside
        [0, 2**64), or the shape, block or out= does not fit.
    TypeError
        If an argument has the wrong type (a float shape, a str seed, an out= of another
        dtype, ...).

    Examples
    --------
    >>> import fastki
    >>> fastki.uniform((2, 3), seed=0)
    array([[0.39904642, 0.97224116, 0.01944941],
           [0.78736776, 0.93453616, 0.45032614]], dtype=float32)
    >>> x = fastki.uniform(1000, -0.1, 0.1, seed=0, dtype="float64")
    >>> bool(x.min() >= -0.1 and x.max() < 0.1)
    True
    """
    if block is None and _FAST_NATIVE and _current_options() is _NO_OPTIONS:
        if seed is None:
            seed = _fresh_seed()
        result = _fill_accepted(0, shape, minval, maxval, 0.0, 0.0, seed, stream, dtype, out,
                                _ENV_SIMD_INDEX)
        if result is not None:
            return result
    args = (_finite_arg(minval, "minval"), _finite_arg(maxval, "maxval"))
    return _generate("uniform", args, shape, seed, stream, dtype, out, block)


def normal(shape: ShapeLike, mean: Real = 0.0, stddev: Real = 1.0, *, seed: SeedLike = None,
           stream: Integer = 0, dtype: DTypeLike = "float32", out: OutArray = None,
           block: BlockLike = None) -> FloatArray:
    """Normal values with the given mean and standard deviation.

    By the Box-Muller transform, with its own sine, cosine and logarithm (no libm), so that
    the values depend only on (seed, stream, element index, mean, stddev, dtype): the same
    bytes on every machine, thread count, SIMD path, block and backend. Specified in
    docs/algorithm.md of the source distribution, section 4.

    Parameters
    ----------
    shape : int or sequence of int
        The shape of the full tensor.
    mean : float, optional
        The mean (default 0); finite.
    stddev : float, optional
        The standard deviation (default 1); finite and not negative.
    seed : int or None, optional
        The seed, a whole number in [0, 2**64). None draws a fresh one from the operating
        system (the values then differ at every call). Keyword only, as are the rest.
    stream : int, optional
        One of 2**64 independent streams of the same seed (default 0).
    dtype : str or numpy dtype, optional
        "float32" (default), "float64", "float16" or "bfloat16" (needs ml_dtypes); float16
        and bfloat16 are the float32 values rounded once.
    out : numpy.ndarray, optional
        A C-contiguous, writeable array of that dtype and of the result's shape, filled in
        place and returned.
    block : tuple of slice, optional
        One slice per dimension (step 1): only that block of the full tensor is made, with
        the values the full tensor has there (for sharded or out-of-core tensors).

    Returns
    -------
    numpy.ndarray
        Of the dtype asked for and of shape `shape` (or of the block). Typed as
        ``numpy.typing.NDArray[numpy.floating]``; a bfloat16 array's dtype is ml_dtypes'
        bfloat16, which NumPy does not count as floating.

    Raises
    ------
    ValueError
        If mean or stddev is not finite, stddev is negative, the seed or stream is outside
        [0, 2**64), or the shape, block or out= does not fit.
    TypeError
        If an argument has the wrong type (a float shape, a str seed, an out= of another
        dtype, ...).

    Examples
    --------
    >>> import fastki
    >>> fastki.normal((2, 2), seed=0)
    array([[ 0.73792577, -1.7335876 ],
           [-0.08376319, -1.5152103 ]], dtype=float32)
    >>> full = fastki.normal((4, 6), seed=7)
    >>> part = fastki.normal((4, 6), seed=7, block=(slice(1, 3), slice(None)))
    >>> bool((part == full[1:3]).all())
    True
    """
    if block is None and _FAST_NATIVE and _current_options() is _NO_OPTIONS:
        if seed is None:
            seed = _fresh_seed()
        result = _fill_accepted(1, shape, mean, stddev, 0.0, 0.0, seed, stream, dtype, out,
                                _ENV_SIMD_INDEX)
        if result is not None:
            return result
    args = (_finite_arg(mean, "mean"), _finite_arg(stddev, "stddev"))
    return _generate("normal", args, shape, seed, stream, dtype, out, block)


def truncated_normal(shape: ShapeLike, mean: Real = 0.0, stddev: Real = 1.0, *,
                     lower: Real = -2.0, upper: Real = 2.0, seed: SeedLike = None,
                     stream: Integer = 0, dtype: DTypeLike = "float32", out: OutArray = None,
                     block: BlockLike = None) -> FloatArray:
    """Normal values restricted to [mean + lower*stddev, mean + upper*stddev].

    By the inverse of the normal CDF: never a value outside the interval asked for, no
    resampling, every element from one fixed draw, so that the values depend only on (seed,
    stream, element index, mean, stddev, lower, upper, dtype): the same bytes on every
    machine, thread count, SIMD path, block and backend. Specified in docs/algorithm.md of
    the source distribution, section 5. The bounds are in standard deviations (keyword only),
    as in Keras' TruncatedNormal (-2, 2), not absolute as in ``torch.nn.init.trunc_normal_``.

    Parameters
    ----------
    shape : int or sequence of int
        The shape of the full tensor.
    mean : float, optional
        The mean of the normal before truncation (default 0); finite.
    stddev : float, optional
        Its standard deviation (default 1); finite and not negative.
    lower, upper : float, optional
        The bounds in standard deviations from the mean (default -2 and 2); lower < upper.
    seed : int or None, optional
        The seed, a whole number in [0, 2**64). None draws a fresh one from the operating
        system (the values then differ at every call). Keyword only, as are the rest.
    stream : int, optional
        One of 2**64 independent streams of the same seed (default 0).
    dtype : str or numpy dtype, optional
        "float32" (default), "float64", "float16" or "bfloat16" (needs ml_dtypes); float16
        and bfloat16 are the float32 values rounded once.
    out : numpy.ndarray, optional
        A C-contiguous, writeable array of that dtype and of the result's shape, filled in
        place and returned.
    block : tuple of slice, optional
        One slice per dimension (step 1): only that block of the full tensor is made, with
        the values the full tensor has there (for sharded or out-of-core tensors).

    Returns
    -------
    numpy.ndarray
        Of the dtype asked for and of shape `shape` (or of the block). Typed as
        ``numpy.typing.NDArray[numpy.floating]``; a bfloat16 array's dtype is ml_dtypes'
        bfloat16, which NumPy does not count as floating.

    Raises
    ------
    ValueError
        If mean or stddev is not finite, stddev is negative, lower >= upper, the seed or
        stream is outside [0, 2**64), or the shape, block or out= does not fit.
    TypeError
        If an argument has the wrong type (a float shape, a str seed, an out= of another
        dtype, ...).

    Examples
    --------
    >>> import fastki
    >>> fastki.truncated_normal(4, seed=0)
    array([-0.24393678,  1.6522096 , -1.7356305 ,  0.753058  ], dtype=float32)
    >>> x = fastki.truncated_normal(10000, stddev=0.02, lower=-1.0, upper=1.0, seed=1)
    >>> bool(abs(x).max() <= 0.02)
    True
    """
    if block is None and _FAST_NATIVE and _current_options() is _NO_OPTIONS:
        if seed is None:
            seed = _fresh_seed()
        result = _fill_accepted(2, shape, mean, stddev, lower, upper, seed, stream, dtype,
                                out, _ENV_SIMD_INDEX)
        if result is not None:
            return result
    args = (_finite_arg(mean, "mean"), _finite_arg(stddev, "stddev"), _float_arg(lower, "lower"),
            _float_arg(upper, "upper"))
    return _generate("truncated_normal", args, shape, seed, stream, dtype, out, block)


def random_raw(n: Integer, *, seed: Integer, stream: Integer = 0,
               offset: Integer = 0) -> UInt32Array:
    """The raw 32-bit words of the Philox stream (seed, stream), from word `offset` on.

    Word j is word j mod 4 of :func:`philox4x32_10` of block b = j // 4, whose counter is
    (b mod 2**32, b >> 32, stream mod 2**32, stream >> 32) and key (seed mod 2**32,
    seed >> 32) (docs/algorithm.md of the source distribution, section 1): the bits every
    distribution is made from.

    Parameters
    ----------
    n : int
        How many words, from 0 to 2**62.
    seed : int
        The seed, in [0, 2**64). Required, keyword only.
    stream : int, optional
        The stream, in [0, 2**64) (default 0).
    offset : int, optional
        The index of the first word (default 0); offset + n must not exceed 2**64.

    Returns
    -------
    numpy.ndarray
        n words of dtype uint32.

    Raises
    ------
    ValueError
        If a value is out of its range.
    TypeError
        If an argument is not an int.

    Examples
    --------
    >>> import fastki
    >>> fastki.random_raw(4, seed=0)
    array([1713891541, 3781805453, 3159862348, 2600524760], dtype=uint32)
    >>> bool((fastki.random_raw(2, seed=0, offset=2) == fastki.random_raw(4, seed=0)[2:]).all())
    True
    """
    n = _int_arg(n, "n", 0, 1 << 62)
    seed = _int_arg(seed, "seed", 0, _U64)
    stream = _int_arg(stream, "stream", 0, _U64)
    offset = _int_arg(offset, "offset", 0, _U64)
    if offset + n > _U64:
        raise ValueError(f"offset + n must not exceed 2**64, got {offset} + {n}")
    if n * 4 > np.iinfo(np.intp).max:  # as for shapes: too large for any NumPy array
        raise ValueError(f"n={n}: too large for a NumPy array of uint32")
    backend, simd, threads = _config()
    try:
        if backend == "native":
            return _native.random_raw(np.empty(n, dtype=np.uint32), seed, stream, offset, simd,
                                      threads)
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


def philox4x32_10(counter: npt.ArrayLike, key: npt.ArrayLike) -> UInt32Array:
    """The Philox4x32-10 block function: 4 words from a counter and a key.

    The function every value of fastki is made from (docs/algorithm.md of the source
    distribution, section 1), given here for checks against other implementations.

    Parameters
    ----------
    counter : array_like of shape (..., 4)
        Unsigned 32-bit counters (any integer dtype whose values fit).
    key : array_like of shape (..., 2)
        Unsigned 32-bit keys; broadcast against counter.

    Returns
    -------
    numpy.ndarray
        uint32 of shape (broadcast leading dimensions..., 4).

    Raises
    ------
    ValueError
        If a value is outside [0, 2**32), the last dimension is not 4 (2 for key), or the
        leading dimensions do not broadcast.
    TypeError
        If counter or key is not of an integer dtype.

    Examples
    --------
    >>> import fastki
    >>> fastki.philox4x32_10([0, 0, 0, 0], [0, 0])
    array([1713891541, 3781805453, 3159862348, 2600524760], dtype=uint32)
    """
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
