"""PyTorch integration: ``torch.nn.init``'s fills on fastki's generators, and whole models.

Every fill has the name, arguments and defaults of its ``torch.nn.init`` namesake, plus
fastki's ``seed=`` and ``stream=`` (keyword-only) in place of torch's ``generator=``.  The
values are fastki's: for an integer seed they are the same on every machine, thread count
and backend, and equal ``fastki.uniform/normal/truncated_normal(tuple(tensor.shape), ...,
dtype=<the tensor's dtype>)`` element for element in logical (C) order.

Tensors: CPU, dense, float32, float64, float16 or bfloat16.  A contiguous tensor is filled
in place through a NumPy view of its memory (bfloat16 through ``ml_dtypes``), without a
copy; a non-contiguous one (a transposed view, a strided slice) gets a contiguous
temporary, filled and copied in with ``copy_``.  Each fill returns the tensor it was given
and runs under ``torch.no_grad()``, so parameters that require grad can be filled.  A
tensor or argument that is refused raises before anything is written.

:func:`init_module` re-initializes a whole ``torch.nn.Module`` the way PyTorch's layers do
by default, each parameter from its own stream derived from its qualified name
(:func:`param_stream`), so the values depend neither on construction order nor on which
part of a model a process holds.  docs/torch.md has the details.

``import fastki`` does not import torch; ``import fastki.torch`` does.
"""
import hashlib
import math
import numbers
import warnings
from collections.abc import Mapping
from fractions import Fraction
from typing import Callable, NamedTuple

import numpy as np
import torch  # absolute: the real PyTorch, not this module

from . import _api
from .initializers import _orthonormal, compute_fans

try:
    import ml_dtypes
except ImportError:  # random fills of bfloat16 tensors then refuse (see _fill)
    _BFLOAT16 = None
else:
    _BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "dirac_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "sparse_",
    "init_module",
    "param_stream",
]

_FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

# --------------------------------------------------------------------------- tensors


def _check_tensor(tensor):
    """Refuse what fastki cannot fill in place: checked before anything is written."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if isinstance(tensor, torch.nn.parameter.UninitializedTensorMixin):
        raise ValueError("tensor is an uninitialized parameter of a lazy module: run a "
                         "forward pass (or materialize it) first")
    if tensor.device.type != "cpu":
        raise ValueError(f"tensor must be on the CPU, got a tensor on device '{tensor.device}'")
    if tensor.layout != torch.strided:
        raise ValueError(f"tensor must be dense (torch.strided), got layout {tensor.layout}")
    if tensor.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"tensor must have dtype float32, float64, float16 or bfloat16, "
                        f"got {tensor.dtype}")


def _shared_array(tensor):
    """A writable, C-contiguous NumPy array on the tensor's own memory, or None where there
    is none (a non-contiguous tensor)."""
    if not tensor.is_contiguous() or tensor.is_neg() or tensor.is_conj():
        return None
    if tensor.dtype == torch.bfloat16:
        # NumPy has no bfloat16 of its own: the 16-bit words, reinterpreted by ml_dtypes
        array = tensor.detach().view(torch.int16).numpy().view(_BFLOAT16)
    else:
        array = tensor.detach().numpy()
    flags = array.flags
    return array if flags.c_contiguous and flags.writeable and flags.aligned else None


def _fill(tensor, generate):
    """Fill tensor in place with generate(out), a fastki fill of the NumPy array out (of
    the tensor's logical shape) -- in the tensor's memory when it can be shared, else in a
    contiguous temporary copied in."""
    if tensor.dtype == torch.bfloat16 and _BFLOAT16 is None:
        # fastki's own bfloat16 needs it too: its values are clamped and rounded in NumPy
        raise TypeError("tensor: random fills of bfloat16 tensors need the ml_dtypes package "
                        "(pip install ml_dtypes)")
    if tensor.numel() == 0:
        return tensor
    with torch.no_grad():
        array = _shared_array(tensor)
        if array is not None:
            generate(array)
            # writes through NumPy bypass the version counter that autograd checks
            torch.autograd.graph.increment_version(tensor)
        else:
            staging = torch.empty(tuple(tensor.shape), dtype=tensor.dtype)
            generate(_shared_array(staging))
            tensor.copy_(staging)
    return tensor


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
    return _api._seed_arg(seed), _api._int_arg(stream, "stream", 0, 1 << 64)


def _real(value, name):
    """A real number (NaN and infinities included), as a float."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} "
                        f"({_api._show(value)})")
    return float(value)


def _std_arg(std):
    s = _api._finite_arg(std, "std")
    if s < 0:
        raise ValueError(f"std must be non-negative, got {s!r}")
    return s


# --------------------------------------------------------------------------- dtype grids
# Exact bounds: every float16/bfloat16/float32 value is a float64, so comparing Python
# floats compares the values exactly.


def _nearest(x, dtype):
    return torch.tensor(x, dtype=torch.float64).to(dtype).item()


def _step(v, dtype, up):
    target = math.inf if up else -math.inf
    return torch.nextafter(torch.tensor(v, dtype=dtype), torch.tensor(target, dtype=dtype)).item()


def _at_least(x, dtype):
    """The smallest value of dtype that is >= x (+inf if there is no finite one)."""
    v = _nearest(x, dtype)
    while v < x:
        v = _step(v, dtype, up=True)
    while v != -math.inf and _step(v, dtype, up=False) >= x:  # a double rounding went up twice
        v = _step(v, dtype, up=False)
    return v


def _at_most(x, dtype):
    """The largest value of dtype that is <= x (-inf if there is no finite one)."""
    return -_at_least(-x, dtype)


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


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity, torch.nn.init.calculate_gain's table:
    1 for linear, conv*, conv_transpose* and sigmoid; 5/3 for tanh; sqrt(2) for relu;
    sqrt(2 / (1 + negative_slope**2)) for leaky_relu (param, default 0.01); 3/4 for selu."""
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


def uniform_(tensor, a=0.0, b=1.0, *, seed=None, stream=0):
    """Fill tensor with values uniform in [a, b): ``fastki.uniform(shape, a, b, ...)``.

    b itself never occurs, in float16 and bfloat16 too (as with torch; fastki clamps before
    rounding, docs/algorithm.md section 7).  Non-contiguous tensors are filled through a
    contiguous temporary.
    """
    _check_tensor(tensor)
    lo, hi = _api._finite_arg(a, "a"), _api._finite_arg(b, "b")
    if lo > hi:
        raise ValueError(f"a must not exceed b, got a={lo!r} > b={hi!r}")
    seed, stream = _seed_stream(seed, stream)

    def generate(out):
        _prefixed_errors("uniform_", lambda: _api.uniform(
            out.shape, lo, hi, seed=seed, stream=stream, dtype=out.dtype, out=out))

    return _fill(tensor, generate)


def normal_(tensor, mean=0.0, std=1.0, *, seed=None, stream=0):
    """Fill tensor with normal values: ``fastki.normal(shape, mean, std, ...)``.
    Non-contiguous tensors are filled through a contiguous temporary."""
    _check_tensor(tensor)
    m, s = _api._finite_arg(mean, "mean"), _std_arg(std)
    seed, stream = _seed_stream(seed, stream)
    return _fill(tensor, lambda out: _prefixed_errors("normal_", lambda: _api.normal(
        out.shape, m, s, seed=seed, stream=stream, dtype=out.dtype, out=out)))


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0, *, seed=None, stream=0):
    """Fill tensor with normal values truncated to [a, b] (absolute bounds, as in torch).

    Every value lies in [a, b] exactly, in the tensor's dtype.  The bounds are turned into
    fastki's ``lower``/``upper`` (units of std around mean) and the values are
    ``fastki.truncated_normal(shape, mean, std, lower=..., upper=..., ...)``: inverse CDF,
    one draw per element, no resampling, any interval however far in the tail (torch warns
    when mean is more than 2 std outside [a, b]; fastki has no such weakness).

    Where only one value of the dtype lies in [a, b] every element takes it; std=0 gives
    mean clamped to [a, b] (the limit of the distribution as std goes to 0).  a > b, or an
    interval holding no finite value of the dtype, is a ValueError.  Non-contiguous tensors
    are filled through a contiguous temporary.
    """
    _check_tensor(tensor)
    m, s = _api._finite_arg(mean, "mean"), _std_arg(std)
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
            tensor.fill_(value)
        return tensor
    lower, upper = _stddev_units(first, last, loc, scale, dtype)
    if not lower < upper:
        raise ValueError(f"[a, b] = [{lo!r}, {hi!r}] is too narrow for std={s!r} in {dtype}")
    return _fill(tensor, lambda out: _prefixed_errors(
        f"trunc_normal_ with a={lo!r}, b={hi!r}", lambda: _api.truncated_normal(
            out.shape, m, s, lower=lower, upper=upper, seed=seed, stream=stream,
            dtype=out.dtype, out=out)))


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


def xavier_uniform_(tensor, gain=1.0, *, seed=None, stream=0):
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)), PyTorch's
    fans ((out, in, *kernel) layout; fewer than 2 dimensions is an error)."""
    _check_tensor(tensor)
    fan_in, fan_out = _fans(tensor)
    if tensor.numel() == 0:
        return tensor
    std = _api._finite_arg(gain, "gain") * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std  # the same float operations as torch: the same bound
    return uniform_(tensor, -bound, bound, seed=seed, stream=stream)


def xavier_normal_(tensor, gain=1.0, *, seed=None, stream=0):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    _check_tensor(tensor)
    fan_in, fan_out = _fans(tensor)
    if tensor.numel() == 0:
        return tensor
    std = _api._finite_arg(gain, "gain") * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, seed=seed, stream=stream)


def _kaiming_std(tensor, a, mode, nonlinearity):
    """gain / sqrt(fan), or None for a zero-element tensor (torch warns and does nothing)."""
    _check_tensor(tensor)
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return None
    fan = _fan_for_mode(tensor, mode)
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", *, seed=None,
                     stream=0):
    """He uniform: U(-bound, bound) with bound = gain * sqrt(3 / fan), gain from
    calculate_gain(nonlinearity, a) and fan the fan_in or fan_out of mode."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, seed=seed, stream=stream)


def kaiming_normal_(tensor, a=0, mode="fan_in", nonlinearity="leaky_relu", *, seed=None,
                    stream=0):
    """He normal: N(0, std^2) with std = gain / sqrt(fan)."""
    std = _kaiming_std(tensor, a, mode, nonlinearity)
    if std is None:
        return tensor
    return normal_(tensor, 0.0, std, seed=seed, stream=stream)


def orthogonal_(tensor, gain=1, *, seed=None, stream=0):
    """Fill tensor with gain times a (semi-)orthogonal matrix, flattened as torch does:
    rows = size(0), cols = numel // rows.

    The matrix is ``fastki.normal((rows, cols), dtype="float64")`` (transposed when rows <
    cols), factored by NumPy's QR with the signs of R's diagonal moved into Q, multiplied
    by gain in float64 and rounded once to the tensor's dtype by copy_.  Its bits are those
    of the machine's LAPACK: reproducible on one installation, possibly not across them.
    """
    _check_tensor(tensor)
    if tensor.dim() < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    g = _api._finite_arg(gain, "gain")
    seed, stream = _seed_stream(seed, stream)
    if tensor.numel() == 0:
        return tensor
    rows = tensor.size(0)
    cols = tensor.numel() // rows
    matrix = _api.normal((rows, cols), seed=seed, stream=stream, dtype="float64")
    q = _orthonormal(matrix.T if rows < cols else matrix)
    if rows < cols:
        q = q.T
    values = torch.from_numpy(np.ascontiguousarray(g * q)).reshape(tuple(tensor.shape))
    with torch.no_grad():
        tensor.copy_(values)
    return tensor


# The zero pattern of sparse_ reads words from this offset of the tensor's (seed, stream),
# far beyond the words any normal fill uses (64 words per 80 values), so the two never
# share a word.
_SPARSE_KEY_OFFSET = 1 << 63
_SPARSE_CHUNK = 1 << 20  # keys sorted per chunk of columns: memory stays bounded


def sparse_(tensor, sparsity, std=0.01, *, seed=None, stream=0):
    """Fill a 2-D tensor with N(0, std^2) values and zero ceil(sparsity * rows) of them in
    each column, as torch.nn.init.sparse_.

    The values are ``fastki.normal(shape, 0, std, seed, stream)``.  Column j zeroes the
    rows whose keys are smallest, the key of row i being the 64-bit word pair
    ``fastki.random_raw(2, seed, stream, offset=2**63 + 2 * (j * rows + i))`` (first word
    high), ties broken by row: deterministic from (seed, stream) like the values.
    """
    _check_tensor(tensor)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    fraction = _api._finite_arg(sparsity, "sparsity")
    if not 0 <= fraction <= 1:
        raise ValueError(f"sparsity must be in [0, 1], got {fraction!r}")
    s = _std_arg(std)
    seed, stream = _seed_stream(seed, stream)
    normal_(tensor, 0.0, s, seed=seed, stream=stream)
    rows, cols = tensor.shape
    num_zeros = math.ceil(fraction * rows)
    if num_zeros == 0 or cols == 0:
        return tensor
    per_chunk = max(1, _SPARSE_CHUNK // rows)
    with torch.no_grad():
        for j0 in range(0, cols, per_chunk):
            j1 = min(cols, j0 + per_chunk)
            zero_rows = _rows_to_zero(rows, j0, j1, num_zeros, seed, stream)
            zero_cols = np.broadcast_to(np.arange(j0, j1), zero_rows.shape)
            tensor[torch.from_numpy(zero_rows.ravel()),
                   torch.from_numpy(np.ascontiguousarray(zero_cols).ravel())] = 0
    return tensor


def _rows_to_zero(rows, j0, j1, num_zeros, seed, stream):
    """(num_zeros, j1 - j0): for each column j0..j1-1 the rows with the smallest keys."""
    words = _api.random_raw(2 * rows * (j1 - j0), seed=seed, stream=stream,
                            offset=_SPARSE_KEY_OFFSET + 2 * j0 * rows).astype(np.uint64)
    keys = (words[0::2] << np.uint64(32) | words[1::2]).reshape(j1 - j0, rows)
    return np.argsort(keys, axis=1, kind="stable")[:, :num_zeros].T


# --------------------------------------------------------------------------- constant fills


def constant_(tensor, val):
    """Fill tensor with val (rounded to the tensor's dtype by torch)."""
    _check_tensor(tensor)
    v = _real(val, "val")
    if math.isfinite(v) and math.isinf(_nearest(v, tensor.dtype)):
        raise ValueError(f"val={v!r} is out of range for {tensor.dtype}")
    with torch.no_grad():
        return tensor.fill_(v)


def ones_(tensor):
    """Fill tensor with 1."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fill tensor with 0."""
    return constant_(tensor, 0.0)


def eye_(tensor):
    """Fill a 2-D tensor with the identity matrix (rectangular allowed)."""
    _check_tensor(tensor)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    with torch.no_grad():
        tensor.zero_()
        tensor.diagonal().fill_(1)
    return tensor


def dirac_(tensor, groups=1):
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta: in each of groups
    groups, output channel d passes input channel d through at the kernel's centre."""
    _check_tensor(tensor)
    if tensor.ndimension() not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    groups = _api._int_arg(groups, "groups", 1, 1 << 63)
    if tensor.size(0) % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = tensor.size(0) // groups
    channels = torch.arange(min(per_group, tensor.size(1)))
    outputs = (torch.arange(groups)[:, None] * per_group + channels).ravel()
    inputs = channels.repeat(groups)
    centre = tuple(size // 2 for size in tensor.shape[2:])
    with torch.no_grad():
        tensor.zero_()
        tensor[(outputs, inputs) + centre] = 1
    return tensor


# --------------------------------------------------------------------------- whole modules


def param_stream(name):
    """The fastki stream of the parameter with qualified name ``name`` ("layers.0.weight",
    as named_parameters() spells it): the 8-byte BLAKE2b digest of its UTF-8 bytes, read as
    a little-endian unsigned integer."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


# A fill, for the built-in table and for rules=: fill(module, name, param, *, seed, stream,
# qualname) fills module's parameter `name` (param) in place.


def _kaiming_sqrt5(module, name, param, *, seed, stream, qualname):
    kaiming_uniform_(param, a=math.sqrt(5), seed=seed, stream=stream)


def _bias_from_fan_in(module, name, param, *, seed, stream, qualname):
    fan_in, _ = _fans(module.weight)
    bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
    uniform_(param, -bound, bound, seed=seed, stream=stream)


def _bilinear(module, name, param, *, seed, stream, qualname):
    in1_features = module.weight.size(1)
    if in1_features <= 0:
        raise ValueError(f"{qualname}: in1_features must be > 0, got {in1_features}")
    bound = 1 / math.sqrt(in1_features)
    uniform_(param, -bound, bound, seed=seed, stream=stream)


def _embedding(module, name, param, *, seed, stream, qualname):
    normal_(param, seed=seed, stream=stream)
    if module.padding_idx is not None:
        with torch.no_grad():
            param[module.padding_idx].fill_(0)


def _recurrent(module, name, param, *, seed, stream, qualname):
    bound = 1.0 / math.sqrt(module.hidden_size) if module.hidden_size > 0 else 0
    uniform_(param, -bound, bound, seed=seed, stream=stream)


def _ones(module, name, param, *, seed, stream, qualname):
    ones_(param)


def _zeros(module, name, param, *, seed, stream, qualname):
    zeros_(param)


def _xavier_uniform(module, name, param, *, seed, stream, qualname):
    xavier_uniform_(param, seed=seed, stream=stream)


def _xavier_normal(module, name, param, *, seed, stream, qualname):
    xavier_normal_(param, seed=seed, stream=stream)


def _prelu(module, name, param, *, seed, stream, qualname):
    constant_(param, module.init)


def _attention_overrides(module):
    """MultiheadAttention zeroes its out_proj's bias (when it has biases) after out_proj,
    a Linear, initialized it as a Linear."""
    if module.in_proj_bias is not None and module.out_proj.bias is not None:
        yield module.out_proj.bias, _zeros


def _transformer_overrides(module):
    """nn.Transformer re-initializes every parameter of 2 or more dimensions in it,
    its layers' included, with xavier_uniform_."""
    for param in module.parameters():
        if param.dim() > 1:
            yield param, _xavier_uniform


class _Rule(NamedTuple):
    """How PyTorch initializes one layer type by default."""
    methods: tuple      # the type's methods that do it: a subclass overriding one has no rule
    fills: dict         # parameter name ("*": any) -> fill
    overrides: Callable = None  # module -> (param, fill) for parameters of its submodules


_NORM_FILLS = {"weight": _ones, "bias": _zeros}
_LINEAR_FILLS = {"weight": _kaiming_sqrt5, "bias": _bias_from_fan_in}
_ATTENTION_FILLS = {name: _xavier_uniform for name in
                    ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")}
_ATTENTION_FILLS.update(in_proj_bias=_zeros, bias_k=_xavier_normal, bias_v=_xavier_normal)

_nn = torch.nn
_RESET = ("reset_parameters",)
_EMBEDDING = _Rule(_RESET + ("_fill_padding_idx_with_zero",), {"weight": _embedding})
# PyTorch 2.13's reset_parameters (or _reset_parameters) of each type, restated.
_BUILTIN_RULES = {
    _nn.Linear: _Rule(_RESET, _LINEAR_FILLS),
    _nn.modules.conv._ConvNd: _Rule(_RESET, _LINEAR_FILLS),  # Conv*, ConvTranspose*
    _nn.Bilinear: _Rule(_RESET, {"weight": _bilinear, "bias": _bilinear}),
    _nn.Embedding: _EMBEDDING,
    _nn.EmbeddingBag: _EMBEDDING,
    _nn.LayerNorm: _Rule(_RESET, _NORM_FILLS),
    _nn.GroupNorm: _Rule(_RESET, _NORM_FILLS),
    _nn.RMSNorm: _Rule(_RESET, _NORM_FILLS),
    _nn.modules.batchnorm._NormBase: _Rule(_RESET, _NORM_FILLS),  # BatchNorm*, InstanceNorm*
    _nn.MultiheadAttention: _Rule(("_reset_parameters",), _ATTENTION_FILLS, _attention_overrides),
    _nn.RNNBase: _Rule(_RESET, {"*": _recurrent}),  # RNN, LSTM, GRU
    _nn.RNNCellBase: _Rule(_RESET, {"*": _recurrent}),  # RNNCell, LSTMCell, GRUCell
    _nn.PReLU: _Rule(_RESET, {"weight": _prelu}),
    _nn.Transformer: _Rule(("_reset_parameters",), {}, _transformer_overrides),
}


def _builtin_rule(cls):
    """(rule, None) for a type PyTorch initializes by a rule of the table, else (None, why)."""
    for base in cls.__mro__:
        rule = _BUILTIN_RULES.get(base)
        if rule is None:
            continue
        for method in rule.methods:
            if getattr(cls, method) is not getattr(base, method):
                return None, f"it overrides {base.__name__}.{method}"
        return rule, None
    return None, "fastki.torch has no rule for it"


def _user_rule(rules, cls):
    for base in cls.__mro__:
        if base in rules:
            return rules[base]
    return None


class _Step(NamedTuple):
    qualname: str
    module: object
    name: str
    param: object
    fill: Callable


def _plan(module, prefix, rules):
    """One step per distinct parameter, in named_parameters() order, its fill chosen: the
    whole plan is made, and every parameter a built-in fill will write checked, before
    anything is written."""
    steps, seen, overrides = [], set(), {}
    for module_name, mod in module.named_modules():
        cls = type(mod)
        user = _user_rule(rules, cls)
        builtin, why = (None, None) if user is not None else _builtin_rule(cls)
        if builtin is not None and builtin.overrides is not None:
            for param, fill in builtin.overrides(mod):
                overrides.setdefault(id(param), fill)  # the outermost module's rule wins
        for name, param in mod.named_parameters(recurse=False):
            if id(param) in seen:  # tied: initialized once, under its first name
                continue
            seen.add(id(param))
            qualname = prefix + (f"{module_name}.{name}" if module_name else name)
            if isinstance(param, torch.nn.parameter.UninitializedTensorMixin):
                _check_param(param, qualname)  # a lazy module's: refused, whatever the rule
            fill = user if user is not None else overrides.get(id(param))
            if fill is None and builtin is not None:
                fill = builtin.fills.get(name) or builtin.fills.get("*")
                if fill is None:
                    why = f"PyTorch's {cls.__name__} has no parameter {name!r}"
            if fill is None:
                raise TypeError(
                    f"init_module: no rule for {cls.__module__}.{cls.__qualname__} (parameter "
                    f"{qualname!r}): {why}; pass rules={{{cls.__name__}: fn}}")
            if user is None:
                _check_param(param, qualname)
            steps.append(_Step(qualname, mod, name, param, fill))
    return steps


def _check_param(param, qualname):
    try:
        _check_tensor(param)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"init_module: parameter {qualname!r}: {exc}") from None


def _rules_arg(rules):
    if rules is None:
        return {}
    if not isinstance(rules, Mapping):
        raise TypeError(f"rules must be a mapping {{module type: fn}}, got {type(rules).__name__}")
    for cls, fn in rules.items():
        if not isinstance(cls, type):
            raise TypeError(f"rules keys must be module types, got {_api._show(cls)}")
        if not callable(fn):
            raise TypeError(f"rules[{cls.__name__}] must be callable, got {type(fn).__name__}")
    return dict(rules)


def init_module(module, seed, *, prefix="", rules=None):
    """Re-initialize every parameter of module as its layer type does by default in
    PyTorch 2.13, on fastki's generators; reset BatchNorm/InstanceNorm running statistics.

    Parameter ``name`` (as named_parameters() spells it) is drawn with ``seed`` and
    ``stream=param_stream(prefix + name)``.  A process holding one part of a model passes
    the part's path as prefix, dot included (``init_module(model.decoder, seed,
    prefix="decoder.")``), and gets the bytes the whole model would have there.  Parameters
    shared between modules are initialized once, under their first name.  seed=None
    draws one seed from the OS for the whole call.

    ``rules={Type: fn}`` adds or replaces the rule for a module type (and its subclasses):
    ``fn(module, name, param, *, seed, stream, qualname)`` fills ``module``'s parameter
    ``name`` (``param``, the module's own, not its submodules') in place, under
    torch.no_grad(); ``seed`` and ``stream`` are the values to pass to a fastki.torch fill,
    ``qualname`` is prefix + the qualified name.  A module type with parameters of its own
    that neither the rules nor the built-in table cover raises TypeError, before anything
    is written.  Returns module.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    seed = _api._seed_arg(seed)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if prefix and not prefix.endswith("."):
        raise ValueError(f"prefix must be empty or end with '.', as in 'decoder.', got {prefix!r}")
    steps = _plan(module, prefix, _rules_arg(rules))
    with torch.no_grad():
        for step in steps:
            step.fill(step.module, step.name, step.param, seed=seed,
                      stream=param_stream(step.qualname), qualname=step.qualname)
        for mod in module.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._NormBase):
                mod.reset_running_stats()
    return module
