"""Tensor and DTensor memory: which elements a fill writes, and how they are reached.

A contiguous CPU tensor is written in place through a NumPy view of its memory (bfloat16
through ``ml_dtypes``), without a copy; a non-contiguous one gets a contiguous temporary,
filled and copied in with ``copy_``; a tensor on another device gets its values made on the
CPU in bounded chunks and copied in.  A DTensor's rank writes only its local shard, with the
values the whole tensor has there (docs/algorithm.md: any block equals that block of the
whole).  Which values are written is the caller's (a ``generate`` callback); nothing here
draws.
"""
import itertools
import math
from typing import NamedTuple

import numpy as np
import torch

from . import _private

try:
    import ml_dtypes
except ImportError:  # random fills of bfloat16 tensors then refuse (see _grid_type)
    _BFLOAT16 = None
else:
    _BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

_FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)

# --------------------------------------------------------------------------- tensors


class _Part(NamedTuple):
    """The memory a fill writes, and where it lies in the (global) tensor: local is the
    tensor itself, or a DTensor's local shard; indices[d] holds, for each position of local
    along dimension d, its global index (an int64 array)."""
    local: torch.Tensor
    shape: tuple
    indices: tuple

    def cells(self):
        """The local blocks that are blocks of the global tensor too: per dimension one
        (local start, local stop, global start) run of consecutive global indices.  A
        plain tensor, or a Shard/Replicate DTensor, is one cell; a _StridedShard's local
        rows come from several places."""
        return itertools.product(*(_index_runs(ix) for ix in self.indices))

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
        for ix, held, n in zip(index, self.indices, self.shape):
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
    dt = _private.dtensor_module(tensor)
    if dt is None:
        return _Part(tensor, tuple(tensor.shape), tuple(np.arange(n) for n in tensor.shape))
    Partial, Replicate, Shard, _StridedShard = _private.placement_types()
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
        positions = np.asarray(_private.shard_positions(placement, len(held), chunks, rank),
                               dtype=np.int64)
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
    if isinstance(tensor, _private.UninitializedTensorMixin):
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
            _private.increment_version(local)
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

def _set_points(part, index, value):
    """Set the elements at the global indices index (one integer array per dimension) that
    part holds to value."""
    positions = part.to_local(index)
    part.local[tuple(torch.from_numpy(p).to(part.local.device) for p in positions)] = value


def _zero_row(param, row):
    """Zero row `row` (negative counts from the end) of param, in the shard that holds it
    when param is a DTensor: indexing a sharded DTensor (param[row]) gives a gathered
    copy, and writing that would change nothing."""
    part = _part(param)
    row = row % param.shape[0]
    positions = np.flatnonzero(part.indices[0] == row)
    with torch.no_grad():
        for i in positions:
            part.local[int(i)].fill_(0)

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


