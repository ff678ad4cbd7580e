"""The constant initializers of the catalogue: Constant, Zeros, Ones, Identity and STFT
(values computed, not drawn)."""
import functools
import math
import numbers

import numpy as np

from .._validate import _show
from .initializer import (Initializer, _BlockSource, _bounds, _cast_exact, _constant_dtype,
                          _filled_source, _float_dtype, _shape, _whole_source)


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
                                f"Received: value={_show(value)}")
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
        return {**super().get_config(), "value": self.value}


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
        return {**super().get_config(), "gain": self.gain}


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
            raise ValueError(f"side should be 'real' or 'imag', not {_show(side)}")
        if isinstance(window, str):
            _get_window(window, 1, periodic)  # an unknown name fails here (SciPy's ValueError)
        elif isinstance(window, np.ndarray):
            window = window.tolist()
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError("Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                             f"Received scaling={_show(scaling)}")
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
        return {**super().get_config(), "side": self.side, "window": self.window, "periodic": self.periodic,
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

