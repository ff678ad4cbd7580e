"""PyTorch integration: ``torch.nn.init``'s fills on fastki's generators, and whole models.

Every fill has the name, arguments and defaults of its ``torch.nn.init`` namesake, plus
fastki's ``seed=`` and ``stream=`` (keyword-only) in place of torch's ``generator=``.  The
values are fastki's: for an integer seed they are the same on every machine, thread count
and backend, and equal ``fastki.uniform/normal/truncated_normal(tuple(tensor.shape), ...,
dtype=<the tensor's dtype>)`` element for element in logical (C) order.

Tensors: dense float32, float64, float16 or bfloat16, on any device, and DTensors.  A
contiguous CPU tensor is filled in place through a NumPy view of its memory (bfloat16
through ``ml_dtypes``), without a copy; a non-contiguous one (a transposed view, a strided
slice) gets a contiguous temporary, filled and copied in with ``copy_``; a tensor on
another device gets its values made on the CPU in bounded chunks and copied in.  A
DTensor's rank fills only its local shard, with the values the whole tensor has there.
Each fill returns the tensor it was given and runs under ``torch.no_grad()``, so
parameters that require grad can be filled.  A tensor or argument that is refused raises
before anything is written.

:func:`init_module` re-initializes a whole ``torch.nn.Module`` the way the model does
(its own init code, or PyTorch's default init of each layer type), each parameter from
its own stream derived from its qualified name (:func:`param_stream`), so the values
depend neither on construction order nor on which part of a model a process holds nor on
the sharding.  docs/torch.md has the details.

``import fastki`` does not import torch; ``import fastki.torch`` does.
"""
import hashlib
import itertools
import math
import numbers
import sys
import threading
import warnings
from collections.abc import Mapping
from fractions import Fraction
from typing import Callable, NamedTuple

import numpy as np
import torch  # absolute: the real PyTorch, not this module

from . import _api, _params
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


def _dtensor_module(tensor):
    """torch.distributed.tensor when tensor is a DTensor, else None.  (A DTensor exists only
    once that module is imported, so fastki.torch never imports it itself.)"""
    module = sys.modules.get("torch.distributed.tensor")
    if module is not None and isinstance(tensor, module.DTensor):
        return module
    return None


class _Part(NamedTuple):
    """The memory a fill writes, and where it lies in the (global) tensor: local is the
    tensor itself, or a DTensor's local shard; index[d] holds, for each position of local
    along dimension d, its global index (an int64 array)."""
    local: torch.Tensor
    shape: tuple
    index: tuple

    def cells(self):
        """The local blocks that are blocks of the global tensor too: per dimension one
        (local start, local stop, global start) run of consecutive global indices.  A
        plain tensor, or a Shard/Replicate DTensor, is one cell; a _StridedShard's local
        rows come from several places."""
        return itertools.product(*(_index_runs(ix) for ix in self.index))

    def block(self, cell, ranges):
        """fastki's block= (None for the whole tensor) of the local elements ranges
        ((start, stop) per dimension, local indices) inside cell."""
        block = tuple(slice(g + a - s, g + b - s) for (s, _, g), (a, b) in zip(cell, ranges))
        if all(sl.start == 0 and sl.stop == n for sl, n in zip(block, self.shape)):
            return None
        return block

    def to_local(self, index):
        """The local positions (a tuple of int64 arrays) of the elements at the global
        indices index (one array per dimension) that this part holds."""
        inside = np.ones(len(index[0]) if index else 1, dtype=bool)
        positions = []
        for ix, held, n in zip(index, self.index, self.shape):
            where = np.full(n, -1, dtype=np.int64)
            where[held] = np.arange(len(held))
            pos = where[ix]
            inside &= pos >= 0
            positions.append(pos)
        return tuple(pos[inside] for pos in positions)


def _index_runs(index):
    if len(index) == 0:
        return []
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    starts, stops = np.concatenate(([0], breaks)), np.concatenate((breaks, [len(index)]))
    return [(int(a), int(b), int(index[a])) for a, b in zip(starts, stops)]


def _part(tensor):
    """The _Part a fill of tensor writes.  A DTensor's rank writes its local shard only,
    with that shard's block(s) of the global tensor (docs/algorithm.md: any block equals
    that block of the whole), so the shards together hold the single-process values."""
    dt = _dtensor_module(tensor)
    if dt is None:
        return _Part(tensor, tuple(tensor.shape), tuple(np.arange(n) for n in tensor.shape))
    from torch.distributed.tensor.placement_types import (Partial, Replicate, Shard,
                                                          _StridedShard, _StridedShardOffsetMode)
    with torch.no_grad():
        local = tensor.to_local()
    shape = tuple(tensor.shape)
    index = [np.arange(n) for n in shape]
    mesh = tensor.device_mesh
    coordinate = mesh.get_coordinate()
    # as torch.distributed.tensor._utils' compute_local_shape_and_global_offset: mesh
    # dimensions left to right, each Shard splitting what the previous ones left, here
    # keeping every global index rather than the first
    for mesh_dim, placement in enumerate(tensor.placements):
        if isinstance(placement, Partial):
            raise ValueError(f"tensor: a DTensor with a Partial placement ({placement}) "
                             f"holds summands, not values: redistribute it to Shard or "
                             f"Replicate before filling")
        if isinstance(placement, Replicate):
            continue
        if not isinstance(placement, (Shard, _StridedShard)):
            raise ValueError(f"tensor: DTensor placement {placement} is not supported")
        if coordinate is None:  # this rank holds nothing of the tensor
            index = [np.arange(0) for _ in shape]
            break
        d, held = placement.dim, index[placement.dim]
        chunks, rank = mesh.size(mesh_dim), coordinate[mesh_dim]
        if isinstance(placement, _StridedShard):
            size, offsets = placement.local_shard_size_and_offset(
                len(held), chunks, rank, _StridedShardOffsetMode.ALL)
            positions = np.asarray(offsets if size else [], dtype=np.int64)
        else:
            size, start = placement._local_shard_size_and_offset(len(held), chunks, rank)
            positions = np.arange(start, start + size) if size else np.arange(0)
        index[d] = held[positions]
    if tuple(local.shape) != tuple(len(ix) for ix in index):
        raise ValueError(f"tensor: the DTensor's local shard has shape {tuple(local.shape)}, "
                         f"but its placements {tensor.placements} give "
                         f"{tuple(len(ix) for ix in index)}")
    return _Part(local, shape, tuple(index))


def _check_tensor(tensor, allow_meta=False):
    """Refuse what fastki cannot fill: checked before anything is written.  Returns the
    _Part to write."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor must be a torch.Tensor, got {type(tensor).__name__}")
    if isinstance(tensor, torch.nn.parameter.UninitializedTensorMixin):
        raise ValueError("tensor is an uninitialized parameter of a lazy module: run a "
                         "forward pass (or materialize it) first")
    part = _part(tensor)
    local = part.local
    if local.device.type == "meta" and not allow_meta:
        raise ValueError("tensor is on the meta device and has no memory to fill: "
                         "materialize it first (init_module(model, seed, device=...) does)")
    if local.layout != torch.strided:
        raise ValueError(f"tensor must be dense (torch.strided), got layout {local.layout}")
    if local.dtype not in _FLOAT_DTYPES:
        raise TypeError(f"tensor must have dtype float32, float64, float16 or bfloat16, "
                        f"got {local.dtype}")
    if local.is_inference() and not torch.is_inference_mode_enabled():
        # an in-place op on an empty view raises torch's own RuntimeError, writing nothing
        local.as_strided((0,), (1,)).zero_()
        raise RuntimeError("Inplace update to inference tensor outside InferenceMode")
    return part


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


# Tensors off the CPU are filled from CPU values made in chunks of at most this many bytes
# (in pinned memory for CUDA) and copied in; _STAGE_ALL sends CPU tensors the same way
# (the tests use it to run this path, with tiny chunks, on a machine without a GPU).
_STAGING_BYTES = 64 << 20
_STAGE_ALL = False


def _chunks(shape, limit):
    """Blocks ((start, stop) per dimension) covering shape in C order, each of at most
    limit elements (at least one): whole trailing dimensions, a run of the first
    dimension that does not fit whole, single indices before it."""
    if not shape:
        yield ()
        return
    suffix = [1] * (len(shape) + 1)
    for i in reversed(range(len(shape))):
        suffix[i] = suffix[i + 1] * shape[i]
    d = next(i for i in range(len(shape)) if suffix[i + 1] <= limit)
    step = max(1, limit // suffix[d + 1])
    tail = tuple((0, n) for n in shape[d + 1:])
    for outer in itertools.product(*(range(n) for n in shape[:d])):
        head = tuple((i, i + 1) for i in outer)
        for start in range(0, shape[d], step):
            yield head + ((start, min(shape[d], start + step)),) + tail


def _fill(tensor, generate):
    """Fill tensor in place with generate(shape, block, out), a fastki fill of the NumPy
    array out with the block (fastki's block=, None for all) of the values of a tensor of
    the given (global) shape: in the tensor's memory when it can be shared, else in a
    contiguous CPU temporary copied in, in bounded chunks off the CPU."""
    _grid_type(tensor.dtype)  # bfloat16 needs ml_dtypes: fastki's values are rounded in NumPy
    part = _part(tensor)
    local = part.local
    if local.numel() == 0:
        return tensor
    cells = list(part.cells())
    with torch.no_grad():
        if local.device.type != "cpu" or _STAGE_ALL or len(cells) != 1:
            _fill_staged(part, cells, generate)
            return tensor
        whole = tuple((0, n) for n in local.shape)
        block = part.block(cells[0], whole)
        array = _shared_array(local)
        if array is not None:
            generate(part.shape, block, array)
            # writes through NumPy bypass the version counter that autograd checks
            torch.autograd.graph.increment_version(local)
        else:
            staging = torch.empty(tuple(local.shape), dtype=local.dtype)
            generate(part.shape, block, _shared_array(staging))
            local.copy_(staging)
    return tensor


def _fill_staged(part, cells, generate):
    """The chunked path: each chunk of each cell of the local tensor made on the CPU, in
    one reused buffer, and copied in.  Values by global index: a CPU fill's bytes."""
    local = part.local
    limit = max(1, _STAGING_BYTES // local.element_size())
    pinned = local.device.type == "cuda" and torch.cuda.is_available()
    buffer = torch.empty(min(limit, local.numel()), dtype=local.dtype, pin_memory=pinned)
    for cell in cells:
        for ranges in _chunks(tuple(stop - start for start, stop, _ in cell), limit):
            ranges = tuple((s + a, s + b) for (s, _, _), (a, b) in zip(cell, ranges))
            shape = tuple(b - a for a, b in ranges)
            staging = buffer[:math.prod(shape)].view(shape)
            generate(part.shape, part.block(cell, ranges), _shared_array(staging))
            # a synchronous copy: the buffer is free again when it returns
            local[tuple(slice(a, b) for a, b in ranges)].copy_(staging)


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
    return _api._finite_arg(_scalar(value), name)


def _real(value, name):
    """A real number (NaN and infinities included), as a float."""
    value = _scalar(value)
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} "
                        f"({_api._show(value)})")
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


def _grid_type(dtype):
    """The NumPy scalar type of a torch float dtype (bfloat16: ml_dtypes'), None for others."""
    if dtype == torch.bfloat16:
        if _BFLOAT16 is None:
            raise TypeError("tensor: random fills of bfloat16 tensors need the ml_dtypes "
                            "package (pip install ml_dtypes)")
        return _BFLOAT16.type
    return {torch.float32: np.float32, torch.float64: np.float64,
            torch.float16: np.float16}.get(dtype)


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
    lo, hi = _finite(a, "a"), _finite(b, "b")
    if lo > hi:
        raise ValueError(f"a must not exceed b, got a={lo!r} > b={hi!r}")
    seed, stream = _seed_stream(seed, stream)

    def generate(shape, block, out):
        _prefixed_errors("uniform_", lambda: _api.uniform(
            shape, lo, hi, seed=seed, stream=stream, dtype=out.dtype, out=out, block=block))

    return _fill(tensor, generate)


def normal_(tensor, mean=0.0, std=1.0, *, seed=None, stream=0):
    """Fill tensor with normal values: ``fastki.normal(shape, mean, std, ...)``.
    Non-contiguous tensors are filled through a contiguous temporary."""
    _check_tensor(tensor)
    m, s = _finite(mean, "mean"), _std_arg(std)
    seed, stream = _seed_stream(seed, stream)
    return _fill(tensor, lambda shape, block, out: _prefixed_errors("normal_", lambda: _api.normal(
        shape, m, s, seed=seed, stream=stream, dtype=out.dtype, out=out, block=block)))


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


def xavier_uniform_(tensor, gain=1.0, *, seed=None, stream=0):
    """Glorot uniform: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)), PyTorch's
    fans ((out, in, *kernel) layout; fewer than 2 dimensions is an error)."""
    _check_tensor(tensor)
    std = _xavier_std(tensor, gain)
    if tensor.numel() == 0:
        return tensor
    bound = math.sqrt(3.0) * std  # the same float operations as torch: the same bound
    return uniform_(tensor, -bound, bound, seed=seed, stream=stream)


def xavier_normal_(tensor, gain=1.0, *, seed=None, stream=0):
    """Glorot normal: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
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
    values = np.ascontiguousarray(g * q).reshape(part.shape)
    # a DTensor's rank made the whole matrix above (QR needs all of it) and keeps its part
    values = torch.from_numpy(np.ascontiguousarray(values[np.ix_(*part.index)]))
    with torch.no_grad():
        part.local.copy_(values)
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
        for start, stop, g0 in _index_runs(part.index[1]):
            for j0 in range(g0, g0 + stop - start, per_chunk):
                j1 = min(g0 + stop - start, j0 + per_chunk)
                zero_rows = _rows_to_zero(rows, j0, j1, num_zeros, seed, stream)
                zero_cols = np.broadcast_to(np.arange(j0, j1), zero_rows.shape)
                _set_points(part, (zero_rows.ravel(), np.ascontiguousarray(zero_cols).ravel()),
                            0)
    return tensor


def _set_points(part, index, value):
    """Set the elements at the global indices index (one integer array per dimension) that
    part holds to value."""
    positions = part.to_local(index)
    part.local[tuple(torch.from_numpy(p).to(part.local.device) for p in positions)] = value


def _rows_to_zero(rows, j0, j1, num_zeros, seed, stream):
    """(num_zeros, j1 - j0): for each column j0..j1-1 the rows with the smallest keys."""
    words = _api.random_raw(2 * rows * (j1 - j0), seed=seed, stream=stream,
                            offset=_SPARSE_KEY_OFFSET + 2 * j0 * rows).astype(np.uint64)
    keys = (words[0::2] << np.uint64(32) | words[1::2]).reshape(j1 - j0, rows)
    return np.argsort(keys, axis=1, kind="stable")[:, :num_zeros].T


# --------------------------------------------------------------------------- constant fills


def constant_(tensor, val):
    """Fill tensor with val (rounded to the tensor's dtype by torch)."""
    part = _check_tensor(tensor)
    v = _real(val, "val")
    if math.isfinite(v) and math.isinf(_nearest(v, tensor.dtype)):
        raise ValueError(f"val={v!r} is out of range for {tensor.dtype}")
    with torch.no_grad():
        part.local.fill_(v)
    return tensor


def ones_(tensor):
    """Fill tensor with 1."""
    return constant_(tensor, 1.0)


def zeros_(tensor):
    """Fill tensor with 0."""
    return constant_(tensor, 0.0)


def eye_(tensor):
    """Fill a 2-D tensor with the identity matrix (rectangular allowed)."""
    part = _check_tensor(tensor)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    diagonal = np.arange(min(tensor.shape))
    with torch.no_grad():
        part.local.zero_()
        _set_points(part, (diagonal, diagonal), 1)
    return tensor


def dirac_(tensor, groups=1):
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta: in each of groups
    groups, output channel d passes input channel d through at the kernel's centre."""
    part = _check_tensor(tensor)
    if tensor.ndimension() not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    groups = _api._int_arg(groups, "groups", 1, 1 << 63)
    if tensor.size(0) % groups != 0:
        raise ValueError("dim 0 must be divisible by groups")
    per_group = tensor.size(0) // groups
    channels = np.arange(min(per_group, tensor.size(1)))
    outputs = (np.arange(groups)[:, None] * per_group + channels).ravel()
    inputs = np.tile(channels, groups)
    centre = tuple(np.full(len(outputs), size // 2) for size in tensor.shape[2:])
    with torch.no_grad():
        part.local.zero_()
        _set_points(part, (outputs, inputs) + centre, 1)
    return tensor


# --------------------------------------------------------------------------- deprecated names


def _deprecated(fill):
    """torch.nn.init's old names without the trailing underscore: the same fill, with a
    FutureWarning, as torch.nn.init gives."""
    new_name = fill.__name__
    old_name = new_name[:-1]

    def alias(*args, **kwargs):
        warnings.warn(f"`fastki.torch.{old_name}` is deprecated in favor of "
                      f"`fastki.torch.{new_name}`, as `torch.nn.init.{old_name}` is.",
                      FutureWarning, stacklevel=2)
        return fill(*args, **kwargs)

    alias.__name__ = alias.__qualname__ = old_name
    alias.__doc__ = f"Deprecated: {new_name} with a FutureWarning (torch.nn.init.{old_name})."
    return alias


uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)


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
        _zero_row(param, module.padding_idx)


def _zero_row(param, row):
    """Zero row `row` (negative counts from the end) of param, in the shard that holds it
    when param is a DTensor: indexing a sharded DTensor (param[row]) gives a gathered
    copy, and writing that would change nothing."""
    part = _part(param)
    row = row % param.shape[0]
    positions = np.flatnonzero(part.index[0] == row)
    with torch.no_grad():
        for i in positions:
            part.local[int(i)].fill_(0)


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
    """One action of init_module's plan: fill one parameter by a rule (fill set), or run a
    module's own init code (own set: "reset" or "hf") with torch.nn.init drawing from
    fastki."""
    qualname: str
    module: object
    name: str = None
    param: object = None
    fill: Callable = None
    own: str = None


def _post_order(module, name="", seen=None):
    """(qualified name, module) for module and every submodule once, children before
    their parent (the order in which a model's constructors initialize them)."""
    seen = set() if seen is None else seen
    if id(module) in seen:
        return
    seen.add(id(module))
    for child_name, child in module.named_children():
        yield from _post_order(child, f"{name}.{child_name}" if name else child_name, seen)
    yield name, module


def _hf_model_type():
    """transformers' PreTrainedModel when transformers' models are imported, else None
    (a model of that type can only exist then)."""
    modeling = sys.modules.get("transformers.modeling_utils")
    return getattr(modeling, "PreTrainedModel", None)


def _own_reset(cls):
    """The name of the method by which a module of type cls initializes itself, or None."""
    for method in ("reset_parameters", "_reset_parameters"):
        if callable(getattr(cls, method, None)):
            return method
    return None


def _plan(module, prefix, rules, allow_meta=False):
    """The actions of init_module in post-order, every parameter checked and every rule
    chosen before anything is written.

    Parameters of a Hugging Face model (a transformers PreTrainedModel and everything in
    it) are initialized by its own initialize_weights(); a module of a type with a user
    rule by that rule; of a type in the built-in table by the table; any other module
    with a reset_parameters() (or _reset_parameters()) of its own by calling it.  The
    own-init actions run with torch.nn.init drawing from fastki (see _OwnInit)."""
    first = {}  # id(param) -> its first qualified name: a tied parameter is drawn from it
    for name, param in module.named_parameters(prefix=prefix.rstrip(".")):
        first.setdefault(id(param), name)
    hf_type = _hf_model_type()
    hf_root = {}  # module name -> the name of the outermost Hugging Face model holding it
    if hf_type is not None:
        for name, mod in module.named_modules():
            if isinstance(mod, hf_type) and name not in hf_root:
                for sub_name, _ in mod.named_modules(prefix=name):
                    hf_root.setdefault(sub_name, name)
    steps, deferred, checked = [], {}, set()

    def check(param, qualname):
        if id(param) not in checked:
            checked.add(id(param))
            _check_param(param, qualname, allow_meta)

    for module_name, mod in _post_order(module):
        cls = type(mod)
        user = _user_rule(rules, cls)
        own_params = []
        for name, param in mod.named_parameters(recurse=False):
            qualname = prefix + (f"{module_name}.{name}" if module_name else name)
            if first.get(id(param)) != qualname:  # tied: initialized under its first name
                continue
            if isinstance(param, torch.nn.parameter.UninitializedTensorMixin):
                check(param, qualname)  # a lazy module's: refused, whatever the rule
            own_params.append((name, param, qualname))
        root = hf_root.get(module_name)
        if user is None:
            for _, param, qualname in own_params:
                check(param, qualname)
        else:  # user rules run after the Hugging Face model's own init, if inside one
            deferred.setdefault(root, []).extend(
                _Step(q, mod, n, p, user) for n, p, q in own_params)
        if root is not None and root == module_name:
            if not callable(getattr(mod, "initialize_weights", None)):
                raise TypeError(f"init_module: {cls.__qualname__} ({module_name!r}) has "
                                f"no initialize_weights(): transformers 5 is needed")
            steps.append(_Step(prefix + module_name, mod, own="hf"))
        if user is not None or root is not None:
            if root is None or root == module_name:
                steps.extend(deferred.pop(root, ()))
            continue
        builtin, why = _builtin_rule(cls)
        if builtin is not None:
            for name, param, qualname in own_params:
                fill = builtin.fills.get(name) or builtin.fills.get("*")
                if fill is None:
                    raise TypeError(
                        f"init_module: no rule for {cls.__module__}.{cls.__qualname__} "
                        f"(parameter {qualname!r}): PyTorch's {cls.__name__} has no parameter "
                        f"{name!r}; pass rules={{{cls.__name__}: fn}}")
                steps.append(_Step(qualname, mod, name, param, fill))
            if builtin.overrides is not None:  # after its submodules, as in PyTorch
                for param, fill in builtin.overrides(mod):
                    qualname = first[id(param)]
                    owner_name, _, name = qualname[len(prefix):].rpartition(".")
                    owner = module.get_submodule(owner_name)
                    if _user_rule(rules, type(owner)) is None:  # user rules win
                        steps.append(_Step(qualname, owner, name, param, fill))
            continue
        if _own_reset(cls) is not None:
            steps.append(_Step(prefix + module_name, mod, own="reset"))
            continue
        if own_params:
            qualname = own_params[0][2]
            raise TypeError(
                f"init_module: no rule for {cls.__module__}.{cls.__qualname__} (parameter "
                f"{qualname!r}): {why} and it has no reset_parameters(); pass "
                f"rules={{{cls.__name__}: fn}}")
    return steps


def _check_param(param, qualname, allow_meta=False):
    try:
        _check_tensor(param, allow_meta=allow_meta)
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


# --------------------------------------------------------------------------- own init code

# torch.nn.init's functions as torch defines them: what a model's own init code calls,
# directly or through modules that imported them by name (torch.nn.modules.*), or through
# transformers.initialization, which keeps them in its own table TORCH_INIT_FUNCTIONS.
_INIT_NAMES = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_",
               "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
               "kaiming_normal_", "orthogonal_", "sparse_")
_RANDOM_NAMES = frozenset(("uniform_", "normal_", "trunc_normal_", "xavier_uniform_",
                           "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
                           "orthogonal_", "sparse_"))
_DEPRECATED_NAMES = ("uniform", "normal", "constant", "eye", "dirac", "xavier_uniform",
                     "xavier_normal", "kaiming_uniform", "kaiming_normal", "orthogonal", "sparse")
_TORCH_INIT = {name: getattr(torch.nn.init, name) for name in _INIT_NAMES + _DEPRECATED_NAMES
               if hasattr(torch.nn.init, name)}
_OWN_INIT_LOCK = threading.RLock()


class _OwnInit:
    """While active, every torch.nn.init-style call made by this thread on a parameter (or
    buffer) of the model draws from fastki with init_module's seed and the stream of the
    parameter's first qualified name; other threads' calls, and calls on tensors that are
    not the model's, go to torch's own functions unchanged -- except random fills on a
    view, copy or temporary of the model's init code, which fastki cannot name: those are
    a ValueError."""

    def __init__(self, module, prefix, seed):
        self.seed = seed
        self.thread = threading.get_ident()
        self.streams = {}
        for name, tensor in module.named_parameters(prefix=prefix.rstrip(".")):
            self.streams.setdefault(id(tensor), (name, param_stream(name)))
        for name, tensor in module.named_buffers(prefix=prefix.rstrip(".")):
            self.streams.setdefault(id(tensor), (name, param_stream(name)))
        self.targets = {"torch.nn.init"}
        self.targets.update(n for n in sys.modules if n.startswith("torch.nn.modules."))
        for mod in module.modules():  # the model's own code, wherever it is defined
            self.targets.update(c.__module__ for c in type(mod).__mro__)
        self.saved = []

    def replacement(self, name):
        if not name.endswith("_"):  # a deprecated name: torch's warning, then the fill
            fill_ = self.replacement(name + "_")

            def deprecated(*args, **kwargs):
                warnings.warn(f"`nn.init.{name}` is now deprecated in favor of "
                              f"`nn.init.{name}_`.", FutureWarning, stacklevel=2)
                return fill_(*args, **kwargs)

            deprecated.__name__ = deprecated.__qualname__ = name
            return deprecated
        ours, original = globals()[name], _TORCH_INIT[name]
        random = name in _RANDOM_NAMES

        def fill(tensor, *args, generator=None, **kwargs):
            if generator is not None:
                kwargs["generator"] = generator
            if threading.get_ident() != self.thread:
                return original(tensor, *args, **kwargs)
            kwargs.pop("generator", None)  # fastki draws from (seed, stream) instead
            known = self.streams.get(id(tensor))
            if random:
                if known is None:
                    raise ValueError(
                        f"init_module: the model's own init code called {name} on a tensor "
                        f"that is not one of its parameters or buffers (a view, a copy or a "
                        f"temporary): fastki cannot tell which stream to draw it from")
                return ours(tensor, *args, seed=self.seed, stream=known[1], **kwargs)
            if known is None and _dtensor_module(tensor) is not None:
                raise ValueError(
                    f"init_module: the model's own init code called {name} on a DTensor "
                    f"that is not one of its parameters or buffers: a view of a sharded "
                    f"parameter is a gathered copy, and writing it would change nothing")
            if isinstance(tensor, torch.Tensor) and tensor.dtype in _FLOAT_DTYPES:
                return ours(tensor, *args, **kwargs)
            return original(tensor, *args, **kwargs)  # integer buffers: torch's constants

        fill.__name__ = fill.__qualname__ = name
        return fill

    def __enter__(self):
        _OWN_INIT_LOCK.acquire()
        try:
            replacements = {name: self.replacement(name) for name in _TORCH_INIT}
            originals = {id(f): name for name, f in _TORCH_INIT.items()}
            for module_name in sorted(self.targets):
                namespace = getattr(sys.modules.get(module_name), "__dict__", None)
                if namespace is None:
                    continue
                for attr, value in list(namespace.items()):
                    name = originals.get(id(value))
                    if name is not None and value is _TORCH_INIT[name]:
                        self.saved.append((namespace, attr, value))
                        namespace[attr] = replacements[name]
            hf = sys.modules.get("transformers.initialization")
            table = getattr(hf, "TORCH_INIT_FUNCTIONS", None)
            if isinstance(table, dict):
                for name, value in list(table.items()):
                    if name in replacements:
                        self.saved.append((table, name, value))
                        table[name] = replacements[name]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            for namespace, attr, value in reversed(self.saved):
                namespace[attr] = value
            self.saved.clear()
        finally:
            _OWN_INIT_LOCK.release()


def _run_own(step):
    """Run a module's own init code (inside an active _OwnInit).

    Embeddings with a padding_idx and a sharded (DTensor) weight: their init code zeroes
    weight[padding_idx], which for a DTensor is a gathered copy, not the shard; their
    padding_idx is hidden while the code runs and the row zeroed in its shard after."""
    mod = step.module
    padded = [m for m in mod.modules() if isinstance(m, (torch.nn.Embedding,
                                                         torch.nn.EmbeddingBag))
              and m.padding_idx is not None and _dtensor_module(m.weight) is not None]
    saved = [m.padding_idx for m in padded]
    try:
        for m in padded:
            m.padding_idx = None
        _run_own_code(step)
    finally:
        for m, idx in zip(padded, saved):
            m.padding_idx = idx
    for m in padded:
        _zero_row(m.weight, m.padding_idx)


def _run_own_code(step):
    mod = step.module
    if step.own == "reset":
        getattr(mod, _own_reset(type(mod)))()
        return
    # transformers marks what it has initialized (modules and tensors) and skips it
    # afterwards: the marks are cleared so that its code runs on everything again
    for sub in mod.modules():
        sub.__dict__.pop("_is_hf_initialized", None)
        for tensor in itertools.chain(sub.parameters(recurse=False), sub.buffers(recurse=False)):
            if tensor is not None and "_is_hf_initialized" in getattr(tensor, "__dict__", {}):
                del tensor._is_hf_initialized
    # fully_shard swaps a module's class for a subclass defined in torch.distributed, which
    # transformers would take for remote code (is_custom_code) and then skip every module
    # without parameters of its own (GPT-2's scaled c_proj init lives in one): judge by
    # the model's own class
    own_class = next(c for c in type(mod).__mro__ if not c.__module__.startswith("torch."))
    mod.__dict__["is_custom_code"] = own_class.is_custom_code
    try:
        mod.initialize_weights()
    finally:
        del mod.__dict__["is_custom_code"]


def _on_meta(module):
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if _part(tensor).local.device.type == "meta":
            return True
    return False


def init_module(module, seed, *, prefix="", rules=None, device=None):
    """Re-initialize every parameter of module the way the model initializes itself, each
    drawn from fastki with ``seed`` and the stream of its qualified name; reset
    BatchNorm/InstanceNorm running statistics.

    Which code decides each parameter's distribution, first match wins: ``rules={Type:
    fn}`` for modules of that type (or a subclass); the model's own initialization for a
    Hugging Face ``transformers`` model (its ``initialize_weights()``, i.e. its
    ``_init_weights``); PyTorch 2.13's default init, restated, for the layer types of the
    built-in table; the module's own ``reset_parameters()`` (or ``_reset_parameters()``)
    for any other.  Own init code runs with every ``torch.nn.init``-style call (torch's
    functions, and ``transformers.initialization``'s) drawing from fastki.  Modules are
    visited children first, as their constructors run.

    Parameter ``name`` (as named_parameters() spells it) is drawn with ``seed`` and
    ``stream=param_stream(prefix + name)``: the values depend neither on construction order
    nor on which part of the model a process holds, nor on how a DTensor parameter is
    sharded (each rank fills its own shard).  ``prefix`` is the part's path, dot included
    (``init_module(model.decoder, seed, prefix="decoder.")``).  Parameters shared between
    modules are drawn from their first name.  seed=None draws one seed for the whole call.

    ``device``: a model (or FSDP2-sharded model) built on the meta device is first
    materialized with ``module.to_empty(device=device)`` -- each rank allocates its own
    shards only -- then filled.  Buffers other than running statistics are left as
    to_empty leaves them (uninitialized) unless the model's own init code sets them.

    ``fn(module, name, param, *, seed, stream, qualname)`` fills ``module``'s own
    parameter ``name`` in place.  A module with parameters of its own that no rule covers
    and that has no reset_parameters() raises TypeError, before anything is written.
    docs/torch.md has the details.  Returns module.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    seed = _api._seed_arg(seed)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if prefix and not prefix.endswith("."):
        raise ValueError(f"prefix must be empty or end with '.', as in 'decoder.', got {prefix!r}")
    rules = _rules_arg(rules)
    if device is not None:
        device = torch.device(device)
        if device.type == "meta":
            raise ValueError("device must be where the model is materialized, not 'meta'")
    steps = _plan(module, prefix, rules, allow_meta=device is not None)
    if device is not None and not _on_meta(module):
        elsewhere = {str(_part(p).local.device) for p in module.parameters()
                     if _part(p).local.device.type != device.type}
        if elsewhere:
            raise ValueError(f"device={str(device)!r} materializes a model built on the meta "
                             f"device; this one is on {', '.join(sorted(elsewhere))}: move it "
                             f"with module.to(...) or leave device= out")
    if device is not None and _on_meta(module):
        module.to_empty(device=device)
        steps = _plan(module, prefix, rules)  # to_empty may have swapped the parameters
    own = any(step.own for step in steps)
    with torch.no_grad(), (_OwnInit(module, prefix, seed) if own else _nothing()):
        for step in steps:
            if step.own:
                _run_own(step)
            else:
                step.fill(step.module, step.name, step.param, seed=seed,
                          stream=param_stream(step.qualname), qualname=step.qualname)
        for mod in module.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._NormBase):
                mod.reset_running_stats()
    return module


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
