"""torch.nn.init's fills, on fastki's generators: the same names, arguments and defaults.

Every fill has the name, arguments and defaults of its ``torch.nn.init`` namesake, plus
fastki's ``seed=`` and ``stream=`` (keyword-only) in place of torch's ``generator=``.  The
values are fastki's: for an integer seed they are the same on every machine, thread count
and backend, and equal ``fastki.uniform/normal/truncated_normal(tuple(tensor.shape), ...,
dtype=<the tensor's dtype>)`` element for element in logical (C) order.  Where the values
go (memory, staging, DTensor shards) is fastki/torch/_memory.py's.
"""
from __future__ import annotations

import math
import numbers
import warnings
from fractions import Fraction

import numpy as np
import torch

from .. import _api, _params
from .._validate import _finite_arg, _int_arg, _seed_arg, _show
from ..initializers import _orthonormal, compute_fans
from ._memory import _check_tensor, _fill, _grid_type, _index_runs, _set_points

def _prefixed_errors(call, fn):
    """Run fn(); a ValueError from fastki's validator names fastki's parameters (minval,
    stddev, lower...), so say which call of this module the arguments came from."""
    try:
        return fn()
    except ValueError as exc:
        raise ValueError(f"{call}: {exc}") from exc


# --------------------------------------------------------------------------- arguments


def _seed_stream(seed, stream):
    """The validated (seed, stream); seed=None drawn from the OS once, here, so that a fill
    made of several draws (sparse_) uses one seed for all of them."""
    return _seed_arg(seed), _int_arg(stream, "stream", 0, 1 << 64)


def _scalar(value):
    """value with what torch.nn.init also takes for a number turned into one: a bool
    (True is 1), a 0-d real tensor (its item())."""
    if isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_complex():
        value = value.item()
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    return value


def _finite(value, name):
    """A finite real number (bool and 0-d tensors accepted, as by torch), as a float."""
    return _finite_arg(_scalar(value), name)


def _real(value, name):
    """A real number (NaN and infinities included), as a float."""
    value = _scalar(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} "
                        f"({_show(value)})")
    return float(value)


def _std_arg(std):
    s = _finite(std, "std")
    if s < 0:
        raise ValueError(f"std must be non-negative, got {s!r}")
    return s


# --------------------------------------------------------------------------- dtype grids
# Exact bounds: every float16/bfloat16/float32 value is a float64, so comparing Python
# floats compares the values exactly.


def _nearest(x, dtype):
    return torch.tensor(x, dtype=torch.float64).to(dtype).item()


def _step(v, dtype, up):
    t = _grid_type(dtype)
    return float(np.nextafter(t(v), t(math.inf if up else -math.inf)))


def _at_least(x, dtype):
    """The smallest value of dtype that is >= x (+inf if there is no finite one): fastki's
    one rule for interval ends (fastki/_params.py)."""
    return float(_params._round_inward(x, _grid_type(dtype), True))


def _at_most(x, dtype):
    """The largest value of dtype that is <= x (-inf if there is no finite one)."""
    return float(_params._round_inward(x, _grid_type(dtype), False))


def _compute_float(x, dtype):
    """x as fastki holds the parameter: rounded to float64 for float64 tensors, to float32
    for the others (float16 and bfloat16 are computed in float32; docs/algorithm.md s. 7)."""
    if dtype == torch.float64:
        return float(x)
    with np.errstate(over="ignore"):  # beyond float32: inf, refused by the caller
        return float(np.float32(x))


# --------------------------------------------------------------------------- gains, fans


_LINEAR_NONLINEARITIES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
                          "conv_transpose2d", "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, torch.nn.init.calculate_gain's table.

    Parameters
    ----------
    nonlinearity : str
        "linear", "conv1d/2d/3d", "conv_transpose1d/2d/3d" and "sigmoid" (gain 1), "tanh"
        (5/3), "relu" (sqrt(2)), "leaky_relu" (sqrt(2 / (1 + negative_slope**2))), "selu"
        (3/4).
    param : float or None, optional
        leaky_relu's negative_slope (default 0.01).

    Returns
    -------
    float
        The gain (the int 1 for the gain-1 names, as torch returns).

    Raises
    ------
    ValueError
        An unknown nonlinearity, or a param that is not a number.
    """
    if nonlinearity in _LINEAR_NONLINEARITIES:
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif (isinstance(param, int) and not isinstance(param, bool)) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _fans(tensor):
    """(fan_in, fan_out) by PyTorch's convention, weights laid out (out, in, *kernel):
    mapped onto fastki's one shape-to-fans rule, Keras' (*kernel, in, out)."""
    if tensor.dim() < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than "
                         "2 dimensions")
    fan_out_maps, fan_in_maps, *kernel = tensor.shape
    return compute_fans((*kernel, fan_in_maps, fan_out_maps))


def _fan_for_mode(tensor, mode):
    if not isinstance(mode, str):
        raise TypeError(f"mode must be 'fan_in' or 'fan_out', got {type(mode).__name__}")
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _fans(tensor)
    return fan_in if mode == "fan_in" else fan_out


# --------------------------------------------------------------------------- random fills


def uniform_(tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, *, seed: int | None = None,
             stream: int = 0) -> torch.Tensor:
    """Fill tensor with values uniform in [a, b): ``fastki.uniform(shape, a, b, ...)``.

    b itself never occurs, in float16 and bfloat16 too (as with torch; fastki clamps before
    rounding, docs/algorithm.md section 7).  Non-contiguous tensors are filled through a
    contiguous temporary.

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
    a, b : float
        The interval's ends, finite, a <= b.
    seed : int or None, optional
        fastki's seed, 0 <= seed < 2**64; None draws one from the operating system.
    stream : int, optional
        fastki's stream, 0 <= stream < 2**64 (default 0): independent values per stream.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype; an argument has the wrong type.
    ValueError
        tensor is refused (meta, sparse, a lazy module's uninitialized parameter, a
        Partial DTensor) or an argument is out of range; nothing is written.
    """
    _check_tensor(tensor)
    lo, hi = _finite(a, "a"), _finite(b, "b")
    if lo > hi:
        raise ValueError(f"a must not exceed b, got a={lo!r} > b={hi!r}")
    seed, stream = _seed_stream(seed, stream)

    def generate(shape, block, out):
        _prefixed_errors("uniform_", lambda: _api.uniform(
            shape, lo, hi, seed=seed, stream=stream, dtype=out.dtype, out=out, block=block))

    return _fill(tensor, generate)


def normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, *,
            seed: int | None = None, stream: int = 0) -> torch.Tensor:
    """Fill tensor with normal values: ``fastki.normal(shape, mean, std, ...)``.

    Non-contiguous tensors are filled through a contiguous temporary.

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
    mean : float
        Finite.
    std : float
        Finite and >= 0.
    seed : int or None, optional
        fastki's seed, 0 <= seed < 2**64; None draws one from the operating system.
    stream : int, optional
        fastki's stream, 0 <= stream < 2**64 (default 0): independent values per stream.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype; an argument has the wrong type.
    ValueError
        tensor is refused (meta, sparse, a lazy module's uninitialized parameter, a
        Partial DTensor) or an argument is out of range; nothing is written.
    """
    _check_tensor(tensor)
    m, s = _finite(mean, "mean"), _std_arg(std)
    seed, stream = _seed_stream(seed, stream)
    return _fill(tensor, lambda shape, block, out: _prefixed_errors("normal_", lambda: _api.normal(
        shape, m, s, seed=seed, stream=stream, dtype=out.dtype, out=out, block=block)))


def trunc_normal_(tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, *, seed: int | None = None, stream: int = 0) -> torch.Tensor:
    """Fill tensor with normal values truncated to [a, b] (absolute bounds, as in torch).

    Every value lies in [a, b] exactly, in the tensor's dtype.  The bounds are turned into
    fastki's ``lower``/``upper`` (units of std around mean) and the values are
    ``fastki.truncated_normal(shape, mean, std, lower=..., upper=..., ...)``: inverse CDF,
    one draw per element, no resampling, any interval however far in the tail (torch warns
    when mean is more than 2 std outside [a, b]; fastki has no such weakness).

    Where only one value of the dtype lies in [a, b] every element takes it; std=0 gives
    mean clamped to [a, b] (the limit of the distribution as std goes to 0).
    Non-contiguous tensors are filled through a contiguous temporary.

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
    mean : float
        Finite.
    std : float
        Finite and >= 0.
    a, b : float
        The interval, a <= b (infinite ends allowed), holding a finite value of the dtype.
    seed : int or None, optional
        fastki's seed, 0 <= seed < 2**64; None draws one from the operating system.
    stream : int, optional
        fastki's stream, 0 <= stream < 2**64 (default 0): independent values per stream.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype; an argument has the wrong type.
    ValueError
        tensor is refused (meta, sparse, a lazy module's uninitialized parameter, a
        Partial DTensor) or an argument is out of range; nothing is written.
    """
    part = _check_tensor(tensor)
    m, s = _finite(mean, "mean"), _std_arg(std)
    lo, hi = _real(a, "a"), _real(b, "b")
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"a and b must not be NaN, got a={lo!r}, b={hi!r}")
    if lo > hi:
        raise ValueError(f"a must not exceed b, got a={lo!r} > b={hi!r}")
    seed, stream = _seed_stream(seed, stream)
    dtype = tensor.dtype
    first, last = _at_least(lo, dtype), _at_most(hi, dtype)  # the dtype's values in [a, b]
    if not first <= last or first == math.inf or last == -math.inf:
        raise ValueError(f"no finite {dtype} value lies in [a, b] = [{lo!r}, {hi!r}]")
    loc, scale = _compute_float(m, dtype), _compute_float(s, dtype)
    if not (math.isfinite(loc) and math.isfinite(scale)):
        raise ValueError(f"mean={m!r}, std={s!r}: out of range for the {dtype} computation")
    if first == last or scale == 0:
        value = first if first == last else min(max(_nearest(m, dtype), first), last)
        with torch.no_grad():
            part.local.fill_(value)
        return tensor
    # fastki's ends are mean + std * z from the exact arguments (docs/algorithm.md, section 7)
    lower, upper = _stddev_units(first, last, m, s, dtype)
    if not lower < upper:
        raise ValueError(f"[a, b] = [{lo!r}, {hi!r}] is too narrow for std={s!r} in {dtype}")
    return _fill(tensor, lambda shape, block, out: _prefixed_errors(
        f"trunc_normal_ with a={lo!r}, b={hi!r}", lambda: _api.truncated_normal(
            shape, m, s, lower=lower, upper=upper, seed=seed, stream=stream,
            dtype=out.dtype, out=out, block=block)))


def _stddev_units(first, last, loc, scale, dtype):
    """(lower, upper) whose ends loc + scale * lower and loc + scale * upper (exact) fastki
    rounds inward onto first and last, the dtype's values nearest a and b inside [a, b].

    fastki rounds each end inward to the output dtype (docs/algorithm.md, section 7), so an
    end anywhere in the gap (previous value, first] gives exactly first, and [last, next
    value) gives last. (first - loc) / scale rounds to nearest and may miss that gap by an
    ulp: it is stepped until it lands in it, checked in exact rationals. Where no double
    lands in it (a float64 gap finer than the step), the nearest end inside is taken."""
    lower = -math.inf if first == -math.inf else _end_in_gap(
        first, _step(first, dtype, up=False), loc, scale)
    upper = math.inf if last == math.inf else _end_in_gap(
        last, _step(last, dtype, up=True), loc, scale)
    return lower, upper


def _end_in_gap(edge, beyond, loc, scale):
    """z with loc + scale * z (exact, scale > 0) between beyond (excluded), the dtype's
    neighbour of edge outside the interval, and edge (included); failing that, the z whose
    end is nearest edge on the inside."""
    lower_end = beyond < edge
    e = Fraction(edge)
    b = Fraction(beyond) if math.isfinite(beyond) else None

    def end(z):
        return Fraction(loc) + Fraction(scale) * Fraction(z)

    def short_of_edge(z):  # inside the interval, not yet at edge
        return end(z) > e if lower_end else end(z) < e

    def at_or_past_beyond(z):
        return b is not None and (end(z) <= b if lower_end else end(z) >= b)

    outward = -math.inf if lower_end else math.inf
    z = (edge - loc) / scale
    while short_of_edge(z):
        z = math.nextafter(z, outward)
    while at_or_past_beyond(z):
        z = math.nextafter(z, -outward)
    return z


def xavier_uniform_(tensor: torch.Tensor, gain: float = 1.0, *, seed: int | None = None,
                    stream: int = 0) -> torch.Tensor:
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)).

    PyTorch's fans: weights laid out (out, in, *kernel).

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
        At least 2 dimensions.
    gain : float
        A finite scale factor.
    seed : int or None, optional
        fastki's seed, 0 <= seed < 2**64; None draws one from the operating system.
    stream : int, optional
        fastki's stream, 0 <= stream < 2**64 (default 0): independent values per stream.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype; an argument has the wrong type.
    ValueError
        tensor is refused (meta, sparse, a lazy module's uninitialized parameter, a
        Partial DTensor) or an argument is out of range; nothing is written.
    """
    _check_tensor(tensor)
    std = _xavier_std(tensor, gain)
    if tensor.numel() == 0:
        return tensor
    bound = math.sqrt(3.0) * std  # the same float operations as torch: the same bound
    return uniform_(tensor, -bound, bound, seed=seed, stream=stream)


def xavier_normal_(tensor: torch.Tensor, gain: float = 1.0, *, seed: int | None = None,
                   stream: int = 0) -> torch.Tensor:
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out)).

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
        At least 2 dimensions.
    gain : float
        A finite scale factor.
    seed : int or None, optional
        fastki's seed, 0 <= seed < 2**64; None draws one from the operating system.
    stream : int, optional
        fastki's stream, 0 <= stream < 2**64 (default 0): independent values per stream.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype; an argument has the wrong type.
    ValueError
        tensor is refused (meta, sparse, a lazy module's uninitialized parameter, a
        Partial DTensor) or an argument is out of range; nothing is written.
    """
    _check_tensor(tensor)
    std = _xavier_std(tensor, gain)
    if tensor.numel() == 0:
        return tensor
    return normal_(tensor, 0.0, std, seed=seed, stream=stream)


def _xavier_std(tensor, gain):
    """gain * sqrt(2 / (fan_in + fan_out)) with torch's float operations; fans of 0 and 0
    (a 0x0 tensor) divide by zero, as in torch."""
    fan_in, fan_out = _fans(tensor)
    g = _finite(gain, "gain")
    return g * math.sqrt(2.0 / float(fan_in + fan_out))


def _kaiming_std(tensor, a, mode, nonlinearity):
    """gain / sqrt(fan), or None for a zero-element tensor (torch warns and does nothing)."""
    _check_tensor(tensor)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _fan_for_mode(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", *, seed: int | None = None,
                     stream: int = 0) -> torch.Tensor:
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan).

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
        At least 2 dimensions; a zero-element tensor is left as it is, with torch's warning.
    a : float
        leaky_relu's negative slope, for calculate_gain(nonlinearity, a).
    mode : str
        "fan_in" or "fan_out": the fan the variance is scaled by.
    nonlinearity : str
        A name calculate_gain knows.
    seed : int or None, optional
        fastki's seed, 0 <= seed < 2**64; None draws one from the operating system.
    stream : int, optional
        fastki's stream, 0 <= stream < 2**64 (default 0): independent values per stream.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype; an argument has the wrong type.
    ValueError
        tensor is refused (meta, sparse, a lazy module's uninitialized parameter, a
        Partial DTensor) or an argument is out of range; nothing is written.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, seed=seed, stream=stream)


def kaiming_normal_(tensor: torch.Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", *, seed: int | None = None,
                    stream: int = 0) -> torch.Tensor:
    """He normal: N(0, std^2) with std = gain / sqrt(fan).

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
        At least 2 dimensions; a zero-element tensor is left as it is, with torch's warning.
    a : float
        leaky_relu's negative slope, for calculate_gain(nonlinearity, a).
    mode : str
        "fan_in" or "fan_out".
    nonlinearity : str
        A name calculate_gain knows.
    seed : int or None, optional
        fastki's seed, 0 <= seed < 2**64; None draws one from the operating system.
    stream : int, optional
        fastki's stream, 0 <= stream < 2**64 (default 0): independent values per stream.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype; an argument has the wrong type.
    ValueError
        tensor is refused (meta, sparse, a lazy module's uninitialized parameter, a
        Partial DTensor) or an argument is out of range; nothing is written.
    """
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, seed=seed, stream=stream)


def orthogonal_(tensor: torch.Tensor, gain: float = 1, *, seed: int | None = None,
                stream: int = 0) -> torch.Tensor:
    """Fill tensor with gain times a (semi-)orthogonal matrix, flattened as torch does:
    rows = size(0), cols = numel // rows.

    The matrix is ``fastki.normal((rows, cols), dtype="float64")`` (transposed when rows <
    cols), factored by NumPy's QR with the signs of R's diagonal moved into Q, multiplied
    by gain in float64 and rounded once to the tensor's dtype by copy_.  Its bits are those
    of the machine's LAPACK: reproducible on one installation, possibly not across them.

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
        At least 2 dimensions.
    gain : float
        A finite scale factor.
    seed : int or None, optional
        fastki's seed, 0 <= seed < 2**64; None draws one from the operating system.
    stream : int, optional
        fastki's stream, 0 <= stream < 2**64 (default 0): independent values per stream.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype; an argument has the wrong type.
    ValueError
        tensor is refused (meta, sparse, a lazy module's uninitialized parameter, a
        Partial DTensor) or an argument is out of range; nothing is written.
    """
    part = _check_tensor(tensor)
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    g = _finite(gain, "gain")
    seed, stream = _seed_stream(seed, stream)
    if tensor.numel() == 0:
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    matrix = _api.normal((rows, cols), seed=seed, stream=stream, dtype="float64")
    q = _orthonormal(matrix.T if rows < cols else matrix)
    if rows < cols:
        q = q.T
    whole = np.ascontiguousarray(g * q).reshape(part.shape)
    # a DTensor's rank made the whole matrix above (QR needs all of it) and keeps its part
    values = torch.from_numpy(np.ascontiguousarray(whole[np.ix_(*part.indices)]))
    with torch.no_grad():
        part.local.copy_(values)
    return tensor


# The zero pattern of sparse_ reads words from this offset of the tensor's (seed, stream),
# far beyond the words any normal fill uses (64 words per 80 values), so the two never
# share a word.
_SPARSE_KEY_OFFSET = 1 << 63
_SPARSE_CHUNK = 1 << 20  # keys sorted per chunk of columns: memory stays bounded


def sparse_(tensor: torch.Tensor, sparsity: float, std: float = 0.01, *,
            seed: int | None = None, stream: int = 0) -> torch.Tensor:
    """Fill a 2-D tensor with N(0, std^2) values and zero ceil(sparsity * rows) of them in
    each column, as torch.nn.init.sparse_.

    The values are ``fastki.normal(shape, 0, std, seed, stream)``.  Column j zeroes the
    rows whose keys are smallest, the key of row i being the 64-bit word pair
    ``fastki.random_raw(2, seed, stream, offset=2**63 + 2 * (j * rows + i))`` (first word
    high), ties broken by row: deterministic from (seed, stream) like the values.

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
        Exactly 2 dimensions.
    sparsity : float
        The fraction of each column zeroed, in [0, 1].
    std : float
        Finite and >= 0.
    seed : int or None, optional
        fastki's seed, 0 <= seed < 2**64; None draws one from the operating system.
    stream : int, optional
        fastki's stream, 0 <= stream < 2**64 (default 0): independent values per stream.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype; an argument has the wrong type.
    ValueError
        tensor is refused (meta, sparse, a lazy module's uninitialized parameter, a
        Partial DTensor) or an argument is out of range; nothing is written.
    """
    part = _check_tensor(tensor)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    fraction = _finite(sparsity, "sparsity")
    if not 0 <= fraction <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {fraction!r}")
    s = _std_arg(std)
    seed, stream = _seed_stream(seed, stream)
    normal_(tensor, 0.0, s, seed=seed, stream=stream)
    rows, cols = tensor.shape
    num_zeros = math.ceil(fraction * rows)
    if num_zeros == 0 or cols == 0:
        return tensor
    # the columns this part holds; a column's pattern needs the keys of all its rows,
    # which are made here for those columns only, a bounded number at a time
    per_chunk = max(1, _SPARSE_CHUNK // rows)
    with torch.no_grad():
        for start, stop, g0 in _index_runs(part.indices[1]):
            for j0 in range(g0, g0 + stop - start, per_chunk):
                j1 = min(g0 + stop - start, j0 + per_chunk)
                zero_rows = _rows_to_zero(rows, j0, j1, num_zeros, seed, stream)
                zero_cols = np.broadcast_to(np.arange(j0, j1), zero_rows.shape)
                _set_points(part, (zero_rows.ravel(), np.ascontiguousarray(zero_cols).ravel()),
                            0)
    return tensor


def _rows_to_zero(rows, j0, j1, num_zeros, seed, stream):
    """(num_zeros, j1 - j0): for each column j0..j1-1 the rows with the smallest keys."""
    words = _api.random_raw(2 * rows * (j1 - j0), seed=seed, stream=stream,
                            offset=_SPARSE_KEY_OFFSET + 2 * j0 * rows).astype(np.uint64)
    keys = (words[0::2] << np.uint64(32) | words[1::2]).reshape(j1 - j0, rows)
    return np.argsort(keys, axis=1, kind="stable")[:, :num_zeros].T
