"""torch.nn.init's constant fills on fastki's terms: constant_, ones_, zeros_, eye_ and
dirac_ (values set, not drawn), with the tensors and refusals of fastki/torch/_fills.py."""
from __future__ import annotations

import math

import numpy as np
import torch

from .._validate import _int_arg
from ._fills import _nearest, _real
from ._memory import _check_tensor, _set_points


def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    """Fill tensor with val (rounded to the tensor's dtype by torch).

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
    val : float
        A real number (NaN and infinities included) within the dtype's range.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype.
    ValueError
        tensor is refused (meta, sparse, a Partial DTensor); nothing is written.
    """
    part = _check_tensor(tensor)
    v = _real(val, "val")
    if math.isfinite(v) and math.isinf(_nearest(v, tensor.dtype)):
        raise ValueError(f"val={v!r} is out of range for {tensor.dtype}")
    with torch.no_grad():
        part.local.fill_(v)
    return tensor


def ones_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill tensor with 1.

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype.
    ValueError
        tensor is refused (meta, sparse, a Partial DTensor); nothing is written.
    """
    return constant_(tensor, 1.0)


def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill tensor with 0.

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype.
    ValueError
        tensor is refused (meta, sparse, a Partial DTensor); nothing is written.
    """
    return constant_(tensor, 0.0)


def eye_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill a 2-D tensor with the identity matrix (rectangular allowed).

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
        Exactly 2 dimensions.

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype.
    ValueError
        tensor is refused (meta, sparse, a Partial DTensor); nothing is written.
    """
    part = _check_tensor(tensor)
    if tensor.ndimension() != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    diagonal = np.arange(min(tensor.shape))
    with torch.no_grad():
        part.local.zero_()
        _set_points(part, (diagonal, diagonal), 1)
    return tensor


def dirac_(tensor: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """Fill a 3-, 4- or 5-D convolution weight with the Dirac delta: in each of groups
    groups, output channel d passes input channel d through at the kernel's centre.

    Parameters
    ----------
    tensor : torch.Tensor
        A dense float32, float64, float16 or bfloat16 tensor on any device, or a DTensor
        (each rank fills its local shard), filled in place.
        3, 4 or 5 dimensions.
    groups : int
        >= 1, dividing size(0).

    Returns
    -------
    torch.Tensor
        tensor itself.

    Raises
    ------
    TypeError
        tensor is not a torch.Tensor, or has another dtype.
    ValueError
        tensor is refused (meta, sparse, a Partial DTensor); nothing is written.
    """
    part = _check_tensor(tensor)
    if tensor.ndimension() not in (3, 4, 5):
        raise ValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    groups = _int_arg(groups, "groups", 1, 1 << 63)
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
