"""Keras 3's initializer catalogue on fastki's generators.

Every class takes the constructor arguments of its Keras 3 namesake, with the same
defaults, and its ``get_config()`` returns exactly those arguments, so configs move
between fastki and Keras unchanged.  Values come from :func:`fastki.uniform`,
:func:`fastki.normal` and :func:`fastki.truncated_normal`: for a given integer seed they
are the same on every machine, thread count and backend (but they are not Keras' values:
the generators differ).

Nothing here imports Keras.  A ``keras.random.SeedGenerator`` seed and a serialized one
(a dict) are handled through whichever Keras the caller already has.  To load a model
saved with fastki initializers, ``import fastki.keras`` first (docs/initializers.md).
These classes are not Keras classes: ``fastki.keras`` has each one as a subclass of both
this class and its Keras namesake, for the layers that check an initializer's class.
"""
import copy
import functools
import importlib
import math
import numbers
import random
import re
import sys
from typing import Callable, NamedTuple

import numpy as np

from . import _api

__all__ = [
    "Initializer",
    "Constant",
    "Zeros",
    "Ones",
    "Identity",
    "STFT",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "LecunNormal",
    "LecunUniform",
    "Orthogonal",
    "compute_fans",
    "get",
    "serialize",
    "deserialize",
]

# Standard deviation of a unit normal truncated to [-2, 2]:
#     sqrt(1 - 4 * phi(2) / (Phi(2) - Phi(-2)))    (phi, Phi: the unit normal pdf and cdf)
# = scipy.stats.truncnorm(-2, 2).std().  VarianceScaling divides by it so that the values,
# after truncation at two standard deviations, have the standard deviation sqrt(scale / n).
# Keras uses the same number (as a bare literal); tests/test_initializers.py recomputes it.
TRUNCATED_UNIT_NORMAL_STD = 0.87962566103423978

# Truncated draws keep values within this many standard deviations of the mean, as in Keras.
_TRUNCATION_BOUND = 2.0

# Registered name prefix, as keras.saving.register_keras_serializable(package="fastki")
# spells it ("fastki>GlorotUniform").
_PACKAGE = "fastki"

_U32_MASK = 0xFFFFFFFF
_U64 = 1 << 64


# --------------------------------------------------------------------------- Keras helpers
# Keras is touched only when the caller has already imported it (a SeedGenerator seed, a
# serialized one, floatx, registration).


def _loaded_keras():
    """The Keras module if the process has imported it, else None; never imports it."""
    return sys.modules.get("keras")


def _keras_registered():
    mod = sys.modules.get("fastki.keras")
    return mod is not None and getattr(mod, "REGISTERED", False)


def _register_with_loaded_keras():
    """Register the classes as Keras serializables once Keras is around, so that a model
    saved without ``import fastki.keras`` still records loadable names
    ("fastki>GlorotUniform").  Loading needs the import: nothing runs before Keras looks
    the names up."""
    if _keras_registered() or _loaded_keras() is None:
        return
    try:
        importlib.import_module("fastki.keras")
    except ImportError:  # a Keras that cannot finish importing: nothing to register with
        pass


def _floatx():
    """Keras' default float type when Keras is loaded (keras.config.floatx()), else float32."""
    keras = _loaded_keras()
    config = getattr(keras, "config", None)
    floatx = getattr(config, "floatx", None)
    return floatx() if callable(floatx) else "float32"


def _is_seed_generator(obj):
    keras = _loaded_keras()
    random = getattr(keras, "random", None)
    cls = getattr(random, "SeedGenerator", None)
    return isinstance(cls, type) and isinstance(obj, cls)


def _keras_saving():
    """keras.saving, imported on demand: only configs that came from Keras need it."""
    return importlib.import_module("keras").saving


# --------------------------------------------------------------------------- shapes, fans


def compute_fans(shape, input_axes=None, output_axes=None):
    """``(fan_in, fan_out)`` of a weight shape, by Keras' rules.

    With both ``input_axes`` and ``output_axes``, the fans are the products of those
    dimensions.  Otherwise: rank 0 gives (1, 1); rank 1 gives (n, n); rank 2 is
    ``(in, out)``; higher ranks are convolution kernels ``(*receptive_field, in, out)``
    whose fans are ``in`` and ``out`` times the receptive field size.
    """
    shape = tuple(int(d) for d in shape)
    if input_axes is not None and output_axes is not None:
        return (math.prod(shape[axis] for axis in input_axes),
                math.prod(shape[axis] for axis in output_axes))
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field


# --------------------------------------------------------------------------- dtypes

_CONSTANT_DTYPE_KINDS = "biu"  # bool, signed and unsigned integers, besides the floats


def _float_dtype(dtype):
    """numpy dtype for a random or computed initializer: fastki's float dtypes only."""
    return _api._dtype_arg(_floatx() if dtype is None else dtype)[0]


def _constant_dtype(dtype):
    """numpy dtype for Zeros/Ones/Constant/Identity: the float dtypes plus bool and integers."""
    if dtype is None:
        dtype = _floatx()
    try:
        return _api._dtype_arg(dtype)[0]
    except TypeError:
        pass
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    if dt is None or dt.kind not in _CONSTANT_DTYPE_KINDS or not dt.isnative:
        raise TypeError("dtype must be a float (float32, float64, float16, bfloat16), bool or "
                        f"integer dtype, got {_api._show(dtype)}")
    return dt


def _cast_exact(values, dt, what):
    """``values`` (a numpy array) cast to ``dt``, refusing what ``dt`` cannot hold: finite
    values that would become inf, and for bool/integer dtypes values that are not whole
    or lie outside the dtype's range."""
    values = np.asarray(values)
    if dt.kind == "f" or dt.name == "bfloat16":
        with np.errstate(over="ignore", invalid="ignore"):
            out = values.astype(dt)
        if values.dtype.kind in "fiu" and values.size:
            bad = np.isinf(out.astype(np.float64)) & np.isfinite(values.astype(np.float64))
            if bad.any():
                first = _api._show(_item(values[bad][0]))
                raise ValueError(f"dtype={dt.name} cannot hold {what}={first}: it overflows to inf")
        return out
    if dt.kind == "b":
        lo, hi = 0, 1
    else:
        info = np.iinfo(dt)
        lo, hi = int(info.min), int(info.max)
    if values.size:
        if values.dtype.kind == "f":
            flat = values.astype(np.float64).ravel()
            whole = np.isfinite(flat) & (flat == np.floor(flat))
            if not whole.all():
                raise ValueError(f"dtype={dt.name} cannot hold {what}="
                                 f"{_api._show(_item(flat[~whole][0]))}: not a whole number")
            # compare as floats against bounds that are exact powers of two
            inside = (flat >= float(lo)) & (flat < float(hi) + 1.0)
        else:
            flat = values.astype(object).ravel()
            inside = np.array([lo <= int(v) <= hi for v in flat], dtype=bool)
        if not inside.all():
            first = _api._show(_item(flat[~inside][0]))
            raise ValueError(f"dtype={dt.name} cannot hold {what}={first}: outside [{lo}, {hi}]")
    return values.astype(dt)


def _item(v):
    return v.item() if hasattr(v, "item") else v


def _shape(shape):
    return _api._shape_arg(shape)


# --------------------------------------------------------------------------- blocks
# fastki.dask makes an initializer's values chunk by chunk from _block_source(): each chunk
# is made by a task of its own, in another thread, process or machine, so what a task
# calls must be picklable (module-level functions and functools.partial of them) and carry
# everything the values depend on, the call's seed included (drawn once, when the source is
# made: a SeedGenerator is advanced once per source, as it is once per call).
#
# What a task passes to fastki's functions carries the dtype by name, which every process
# resolves to NumPy's own dtype object.  A dtype object unpickled in a worker is equal to
# NumPy's but another object, which fastki._api takes for a rounded dtype (float64 values
# made in float32).


class _BlockSource(NamedTuple):
    """How to make ``initializer(shape, dtype)`` piece by piece.

    ``make(block=None)`` returns the values of ``shape`` (validated) and ``dtype`` (a numpy
    dtype, floatx resolved); ``make(block=b)``, with ``b`` a tuple of step-1 slices as the
    functional API's ``block=``, returns the values of that block.  ``make(block=b, out=o)``
    writes them into ``o`` (a C-contiguous array of the block's shape and the dtype) and
    returns it, with no temporary of the block's size beside it (fastki.jax hands such
    buffers to JAX without a copy).  ``blockwise`` says
    whether ``make`` computes only the block asked for (True) or computes the whole tensor
    first (False: Orthogonal's QR, STFT, an array Constant, a callable fastki does not
    know), in which case a caller should call ``make()`` once and slice the result.
    """
    make: Callable
    shape: tuple
    dtype: np.dtype
    blockwise: bool


def _block_source(initializer, shape, dtype=None):
    """The _BlockSource of any initializer ``get`` returns: fastki's classes know how to
    make their blocks; anything else (a user's subclass that overrides ``__call__``, a
    function) is called once for the whole tensor.  Argument errors of fastki's classes
    are raised here, as the call would raise them; a blockwise ``make`` checks the values'
    parameters only when it runs (``make(block=<an empty block>)`` runs it for free)."""
    if isinstance(initializer, Initializer) and not _call_overrides_blocks(type(initializer)):
        return initializer._blocks(shape, dtype)
    return _opaque_source(initializer, shape, dtype)


def _call_overrides_blocks(cls):
    """Whether a subclass redefines ``__call__`` below the class that defines ``_blocks``:
    its values are then its own, which the inherited ``_blocks`` does not know."""
    mro = cls.__mro__
    defining = [next(c for c in mro if name in vars(c)) for name in ("__call__", "_blocks")]
    return mro.index(defining[0]) < mro.index(defining[1])


def _opaque_source(initializer, shape, dtype):
    shape = _shape(shape)
    dt = _constant_dtype(dtype)
    compute = functools.partial(_called_as_declared, initializer, shape, dt)
    return _BlockSource(functools.partial(_whole_then_block, compute), shape, dt, False)


def _called_as_declared(initializer, shape, dtype):
    """``initializer(shape, dtype)``, checked against the shape and dtype it was declared
    with: a callable fastki does not know can only be checked once it has run."""
    values = np.asarray(initializer(shape, dtype.name))
    if values.shape != shape:
        raise ValueError(f"initializer {_api._show(initializer)} returned shape {values.shape} "
                         f"for shape={shape}")
    return values if values.dtype == dtype else _cast_exact(values, dtype, "values")


def _whole_then_block(compute, *, block=None, out=None):
    """The make() of an initializer that cannot make a block alone: compute() computes the
    whole tensor, and a block is sliced from it."""
    values = compute()
    if block is not None:
        values = values[tuple(slice(a, b) for a, b in _api._block_arg(block, values.shape))]
    return _into(values, out)


def _into(values, out):
    """values, or out filled with them (make()'s ``out=``)."""
    if out is None:
        return values
    out[...] = values
    return out


def _whole_source(initializer, shape, dtype):
    """The _BlockSource of one of fastki's whole-tensor initializers, whose arguments its
    ``_checked`` has validated: ``initializer`` itself computes the values."""
    compute = functools.partial(initializer, shape, dtype.name)
    return _BlockSource(functools.partial(_whole_then_block, compute), shape, dtype, False)


def _bounds(shape, block):
    """((start, stop), ...) of a block (the whole shape when block is None), validated by
    the functional API's own block check."""
    if block is None:
        return tuple((0, d) for d in shape)
    return _api._block_arg(block, shape)


def _filled(fill, shape, *, block=None, out=None):
    """fill(shape) for a constant-valued fill (``np.zeros``, ``np.full`` with its value
    bound): a block of a constant needs nothing but the block's shape."""
    block_shape = tuple(b - a for a, b in _bounds(shape, block))
    return fill(block_shape) if out is None else _into(fill(()), out)


def _filled_source(fill, shape, dtype):
    return _BlockSource(functools.partial(_filled, fill, shape), shape, dtype, True)


# --------------------------------------------------------------------------- base classes


class Initializer:
    """Base class: ``init(shape, dtype=None)`` returns a NumPy array of that shape and dtype.

    ``dtype=None`` means Keras' floatx when Keras is loaded, else float32.  ``get_config()``
    returns the constructor's arguments, so ``from_config`` and ``clone`` need nothing else.
    """

    def __call__(self, shape, dtype=None):
        raise NotImplementedError(
            f"{type(self).__name__} must implement __call__(shape, dtype=None)")

    def _blocks(self, shape, dtype=None):
        """The _BlockSource of ``self(shape, dtype)``.  Here the whole tensor in one call;
        the classes that can make a block alone override this and make ``__call__`` its
        ``make()``, so that both give the same values by construction."""
        return _opaque_source(self, shape, dtype)

    def get_config(self):
        _register_with_loaded_keras()
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        """A new initializer from this one's config.  With ``seed=None`` the clone draws a
        new random seed (as in Keras): it does not repeat this one's values."""
        return self.__class__.from_config(self.get_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _RandomInitializer(Initializer):
    """Seed handling shared by the random initializers.

    * an int seed: the same values on every call;
    * ``seed=None``: a random seed drawn once, here, from Python's ``random`` module (as in
      Keras: ``keras.utils.set_random_seed`` makes it repeatable); every call repeats its
      values;
    * a ``keras.random.SeedGenerator``: drawn from on every call, so calls differ;
    * ``stream``: which of the seed's independent streams to use (fastki's own argument;
      it appears in ``get_config()`` only when it is not 0).
    """

    def __init__(self, seed=None, stream=0):
        if isinstance(seed, dict):  # a serialized SeedGenerator, from get_config()
            seed = _keras_saving().deserialize_keras_object(seed)
        if isinstance(seed, np.integer):
            seed = int(seed)
        if not (seed is None or _is_seed_generator(seed)
                or (type(seed) is int and 0 <= seed < _U64)):
            raise ValueError(
                "`seed` argument should be an instance of `keras.random.SeedGenerator()` "
                f"or an integer in [0, 2**64). Received: seed={_api._show(seed)}")
        self.stream = _api._int_arg(stream, "stream", 0, _U64)
        self._init_seed = seed
        # None: one seed for the life of this object, drawn from Python's `random` module as
        # Keras does (make_default_seed), so that random.seed(n) or
        # keras.utils.set_random_seed(n) makes unseeded initializers repeatable.
        self.seed = random.getrandbits(64) if seed is None else seed

    def _call_seed(self):
        """The 64-bit seed of this call: the int seed, or the next SeedGenerator state."""
        if type(self.seed) is int:
            return self.seed
        keras = importlib.import_module("keras")
        state = keras.ops.convert_to_numpy(self.seed.next())
        # a SeedGenerator state is (seed, counter), each conceptually a uint32
        return (int(state[0]) & _U32_MASK) | ((int(state[1]) & _U32_MASK) << 32)

    def _distribution(self, shape):
        """(fastki.uniform, normal or truncated_normal, its parameters) of the values for
        a validated shape."""
        raise NotImplementedError(f"{type(self).__name__} must implement _distribution(shape)")

    def __call__(self, shape, dtype=None):
        return self._blocks(shape, dtype).make()

    def _blocks(self, shape, dtype=None):
        _register_with_loaded_keras()
        shape = _shape(shape)
        dt = _float_dtype(dtype)
        fn, params = self._distribution(shape)
        make = functools.partial(_draw, type(self).__name__, fn, shape, dt.name, params,
                                 self._call_seed(), self.stream)
        return _BlockSource(make, shape, dt, True)

    def get_config(self):
        _register_with_loaded_keras()
        seed = self._init_seed
        if seed is not None and type(seed) is not int:
            seed = _keras_saving().serialize_keras_object(seed)
        config = {"seed": seed}
        if self.stream:
            config["stream"] = self.stream
        return config


def _draw(owner, fn, shape, dtype_name, params, seed, stream, *, block=None, out=None):
    """fn(shape, **params) with the call's seed, or the block of it (into ``out`` when
    given); a refusal (typically a dtype too narrow for the values) is re-raised naming the
    initializer and dtype."""
    try:
        return fn(shape, **params, seed=seed, stream=stream, dtype=dtype_name, block=block,
                  out=out)
    except ValueError as exc:
        raise ValueError(f"{owner} with shape={shape}, dtype={dtype_name}: {exc}") from exc


# --------------------------------------------------------------------------- constants


class Constant(Initializer):
    """Every element equal to ``value`` (a scalar, or an array that broadcasts to the shape).

    Integer and bool dtypes are allowed; a value the dtype cannot hold (0.5 or 300 for int8,
    1e6 for float16) is a ValueError naming ``dtype``.
    """

    def __init__(self, value=0.0):
        if isinstance(value, dict) and value.get("class_name") in ("__numpy__", "__tensor__"):
            cfg = value["config"]  # Keras' serialized array form
            value = np.asarray(cfg["value"], dtype=cfg.get("dtype"))
        if isinstance(value, np.generic):
            value = value.item()
        array = np.asarray(value) if not isinstance(value, numbers.Number) else None
        if array is not None:
            if array.dtype.kind not in "biuf":
                raise TypeError("Argument `value` must be a number or an array of numbers. "
                                f"Received: value={_api._show(value)}")
            value = array.item() if array.ndim == 0 else array.tolist()
        elif isinstance(value, complex):
            raise TypeError(f"Argument `value` must be a real number. Received: value={value!r}")
        self.value = value

    def _checked(self, shape, dtype):
        """(shape, dtype, value cast to it; an array value broadcast to shape as a view)."""
        shape = _shape(shape)
        dt = _constant_dtype(dtype)
        value = _cast_exact(np.asarray(self.value), dt, "value")
        if value.ndim == 0:
            return shape, dt, value
        try:
            return shape, dt, np.broadcast_to(value, shape)
        except ValueError:
            raise ValueError(f"Constant value of shape {value.shape} does not broadcast to "
                             f"shape={shape}") from None

    def __call__(self, shape, dtype=None):
        shape, dt, value = self._checked(shape, dtype)
        return np.full(shape, value, dtype=dt) if value.ndim == 0 else value.copy()

    def _blocks(self, shape, dtype=None):
        # A scalar makes any block from its shape.  An array value is made whole in one
        # place: it would otherwise travel with every block's task.
        shape, dt, value = self._checked(shape, dtype)
        if value.ndim == 0:
            return _filled_source(functools.partial(np.full, fill_value=value, dtype=dt),
                                  shape, dt)
        return _whole_source(self, shape, dt)

    def get_config(self):
        _register_with_loaded_keras()
        return {"value": self.value}


class _NumpyFill(Initializer):
    """Every element made by the NumPy function ``_FILL(shape, dtype=...)``."""

    _FILL = None

    def __call__(self, shape, dtype=None):
        return self._blocks(shape, dtype).make()

    def _blocks(self, shape, dtype=None):
        dt = _constant_dtype(dtype)
        return _filled_source(functools.partial(self._FILL, dtype=dt), _shape(shape), dt)


class Zeros(_NumpyFill):
    """All zeros; float, bool and integer dtypes."""

    _FILL = staticmethod(np.zeros)


class Ones(_NumpyFill):
    """All ones; float, bool and integer dtypes."""

    _FILL = staticmethod(np.ones)


class Identity(Initializer):
    """``gain`` on the main diagonal of a 2-D matrix (rectangular allowed), zeros elsewhere."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, shape, dtype=None):
        return self._blocks(shape, dtype).make()

    def _blocks(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        dt = _constant_dtype(dtype)
        gain = _cast_exact(np.asarray(self.gain), dt, "gain")
        return _BlockSource(functools.partial(_identity, shape, gain), shape, dt, True)

    def get_config(self):
        _register_with_loaded_keras()
        return {"gain": self.gain}


def _identity(shape, gain, *, block=None, out=None):
    """``gain`` (a 0-d array of the dtype) where row == column, zeros elsewhere: of a
    block, the diagonal elements that fall inside it."""
    (row0, row1), (col0, col1) = _bounds(shape, block)
    if out is None:
        out = np.zeros((row1 - row0, col1 - col0), dtype=gain.dtype)
    else:
        out[...] = 0
    diagonal = np.arange(max(row0, col0), min(row1, col1))
    out[diagonal - row0, diagonal - col0] = gain
    return out


class STFT(Initializer):
    """Convolution kernel of a short-time Fourier transform, shape ``(T, channels, F)``:
    ``cos`` (side="real") or ``sin`` (side="imag") of ``-2 pi t f / (2 (F - 1))``, times a
    window (a ``scipy.signal.windows`` name, an array of T values, or None) divided by its
    L2 (scaling="density") or L1 (scaling="spectrum") norm.  Computed in float64, then
    rounded to the dtype.  Named windows need SciPy.
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"side should be 'real' or 'imag', not {_api._show(side)}")
        if isinstance(window, str):
            _get_window(window, 1, periodic)  # an unknown name fails here (SciPy's ValueError)
        elif isinstance(window, np.ndarray):
            window = window.tolist()
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError("Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={_api._show(scaling)}")
        self.side = side
        self.window = window
        self.scaling = scaling
        self.periodic = periodic

    def _checked(self, shape, dtype):
        """(shape, dtype, the window's float64 values or None), each checked."""
        shape = _shape(shape)
        if len(shape) != 3:
            raise ValueError("STFT initializer needs shape (frame_length, input_channels, "
                             f"fft_bins). Received: shape={shape}")
        dt = _float_dtype(dtype)
        frame_length, _, bins = shape
        if bins < 2:
            raise ValueError("STFT initializer needs at least 2 frequency bins. "
                             f"Received: shape={shape}")
        if self.window is None:
            return shape, dt, None
        if isinstance(self.window, str):
            win = _get_window(self.window, frame_length, self.periodic)
        else:
            win = np.asarray(self.window, dtype=np.float64)
        if win.shape != (frame_length,):
            raise ValueError("The shape of `window` must be equal to [frame_length]. "
                             f"Received: window shape={win.shape}")
        return shape, dt, win

    def __call__(self, shape, dtype=None):
        shape, dt, win = self._checked(shape, dtype)
        frame_length, _, bins = shape
        time = np.arange(frame_length, dtype=np.float64).reshape(frame_length, 1, 1)
        freq = np.arange(bins, dtype=np.float64).reshape(1, 1, bins) / (2.0 * (bins - 1))
        angle = -2.0 * math.pi * time * freq
        kernel = np.cos(angle) if self.side == "real" else np.sin(angle)
        if win is not None:
            kernel = kernel * win.reshape(frame_length, 1, 1)
            if self.scaling == "density":
                kernel = kernel / math.sqrt(float(np.sum(win * win)))
            elif self.scaling == "spectrum":
                kernel = kernel / float(np.sum(np.abs(win)))
        return _cast_exact(np.broadcast_to(kernel, shape), dt, "values")

    def _blocks(self, shape, dtype=None):
        # small (frame_length x fft_bins), and each value's window normalisation needs
        # the whole window: made whole, in one place
        shape, dt, _ = self._checked(shape, dtype)
        return _whole_source(self, shape, dt)

    def get_config(self):
        _register_with_loaded_keras()
        return {"side": self.side, "window": self.window, "periodic": self.periodic,
                "scaling": self.scaling}


def _get_window(name, length, periodic):
    try:
        from scipy import signal
    except ImportError:
        raise ImportError(f"STFT(window={name!r}) needs SciPy for named windows "
                          "(pip install scipy), or pass the window values as an array") from None
    try:
        window = signal.get_window(name, length, fftbins=periodic)
    except ValueError as exc:  # older SciPy does not name the window it refused
        raise ValueError(f"STFT(window={name!r}): {exc}") from None
    return np.asarray(window, dtype=np.float64)


# --------------------------------------------------------------------------- random


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
                            f"Received: scale={_api._show(scale)}")
        if not 0.0 < scale < math.inf:
            raise ValueError(f"Argument `scale` must be positive float. Received: scale={scale}")
        if mode not in _MODES:
            raise ValueError(f"Invalid `mode` argument: {_api._show(mode)}. "
                             f"Please use one of {list(_MODES)}")
        if not isinstance(distribution, str):
            raise TypeError(f"Invalid `distribution` argument: {_api._show(distribution)}. "
                            f"Please use one of {list(_DISTRIBUTIONS)}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` argument: {distribution}. "
                             f"Please use one of {list(_DISTRIBUTIONS)}")
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
        _register_with_loaded_keras()
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
        _register_with_loaded_keras()
        shape, dt = self._checked(shape, dtype)
        pinned = copy.copy(self)
        pinned.seed = pinned._init_seed = self._call_seed()  # an int: picklable, repeatable
        return _whole_source(pinned, shape, dt)

    def get_config(self):
        return {**super().get_config(), "gain": self.gain}


# --------------------------------------------------------------------------- lookup

_CLASSES = (Initializer, Constant, Zeros, Ones, Identity, STFT, RandomNormal, RandomUniform,
            TruncatedNormal, VarianceScaling, GlorotNormal, GlorotUniform, HeNormal,
            HeUniform, LecunNormal, LecunUniform, Orthogonal)


def _snake_case(name):
    """CamelCase to snake_case as Keras spells its names: GlorotUniform -> glorot_uniform,
    STFT -> stft."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({_snake_case(cls.__name__): cls for cls in _CLASSES})
_BY_NAME.update({  # Keras' aliases
    "normal": RandomNormal,
    "uniform": RandomUniform,
    "one": Ones,
    "zero": Zeros,
    "IdentityInitializer": Identity,
    "OrthogonalInitializer": Orthogonal,
    "STFTInitializer": STFT,
})
_BY_NAME.update({f"{_PACKAGE}>{cls.__name__}": cls for cls in _CLASSES})


def _lookup(name, custom_objects):
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _BY_NAME.get(name) if isinstance(name, str) else None


def serialize(initializer):
    """The initializer as a Keras-style dict: ``{"module", "class_name", "config",
    "registered_name"}`` (the same dict ``keras.initializers.serialize`` gives once
    ``fastki.keras`` is imported)."""
    if initializer is None:
        return None
    if not hasattr(initializer, "get_config"):
        raise TypeError(f"Cannot serialize {_api._show(initializer)}: it has no get_config()")
    cls = type(initializer)
    # fastki's classes and their Keras-native subclasses (fastki.keras) share one name
    ours = cls in _CLASSES or vars(cls).get("_FASTKI") in _CLASSES
    registered = f"{_PACKAGE}>{cls.__name__}" if ours else cls.__name__
    return {"module": cls.__module__, "class_name": cls.__name__,
            "config": initializer.get_config(), "registered_name": registered}


def deserialize(config, custom_objects=None):
    """An initializer from a name (class name, snake_case name, Keras alias or
    "fastki>ClassName") or a ``{"class_name": ..., "config": ...}`` dict, including dicts
    written by Keras for its own initializers.  ``custom_objects`` maps further names to
    classes and is searched first."""
    if isinstance(config, str):
        cls = _lookup(config, custom_objects)
        if cls is None:
            raise ValueError(f"Unknown initializer: {config!r}. Use one of the names in "
                             "fastki.initializers (class names, snake_case names, Keras aliases)")
        return cls()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Unknown `config` as a `dict`, config={_api._show(config)}")
    name = config["class_name"]
    cls = _lookup(config.get("registered_name"), custom_objects) or _lookup(name, custom_objects)
    if cls is None:
        raise ValueError(f"Unknown initializer: {_api._show(name)}. Use one of the names in "
                         "fastki.initializers (class names, snake_case names, Keras aliases)")
    inner = config.get("config") or {}
    return cls.from_config(inner) if hasattr(cls, "from_config") else cls(**inner)


def get(identifier):
    """An initializer from an identifier, like ``keras.initializers.get``: None gives None;
    a name or config dict is deserialized; a class is instantiated; an initializer or any
    other callable ``f(shape, dtype=None)`` is returned as it is; a NumPy array or a
    framework tensor (Keras backend, torch, JAX) becomes an initializer returning its values
    (cast to the dtype) for its own shape."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        try:
            return deserialize(identifier)
        except ValueError:
            raise ValueError("Could not interpret initializer identifier: "
                             f"{_api._show(identifier)}") from None
    if isinstance(identifier, (np.ndarray, np.generic)):
        return _array_initializer(np.asarray(identifier))
    tensor = _tensor_values(identifier)
    if tensor is not None:
        return _array_initializer(tensor)
    if isinstance(identifier, type) and callable(identifier):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {_api._show(identifier)}")


def _tensor_values(obj):
    """The NumPy values of a framework tensor (a Keras backend tensor, a torch tensor, a
    JAX array: anything not callable with ``__array__`` and ``shape``), else None.  Keras'
    own conversion when Keras is loaded; nothing is imported."""
    if callable(obj) or isinstance(obj, type):
        return None
    keras = _loaded_keras()
    ops = getattr(keras, "ops", None)
    if ops is not None and hasattr(ops, "is_tensor"):
        try:
            if ops.is_tensor(obj):
                return np.asarray(ops.convert_to_numpy(obj))
        except Exception:  # a Keras still importing: fall through to the generic route
            pass
    if not (hasattr(obj, "__array__") and hasattr(obj, "shape")):
        return None
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch: no autograd, host memory
        obj = obj.detach().cpu()
    return np.asarray(obj)


def _array_initializer(array):
    def initialize_fn(shape, dtype=None):
        if tuple(shape) != array.shape:
            raise ValueError(f"Expected `shape` to be {array.shape} for direct tensor as "
                             f"initializer. Received shape={tuple(shape)}")
        return _cast_exact(array, _constant_dtype(dtype), "value")
    return initialize_fn
