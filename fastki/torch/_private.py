"""The private APIs of PyTorch (and of transformers) that fastki.torch relies on, in one place.

Each is named here once, with what fastki uses it for, so that a PyTorch or transformers
upgrade that moves one breaks this module only.  Nothing here decides values.
"""
import sys

import torch
from torch.nn.utils import parametrize as _parametrize
from torch.nn.utils.weight_norm import WeightNorm as _LegacyWeightNorm

# --------------------------------------------------------------------------- torch.nn

#: the parameter class of lazy modules before their first forward pass (no shape yet);
#: looked up by name: torch's type stubs do not list it
UninitializedTensorMixin = getattr(torch.nn.parameter, "UninitializedTensorMixin")
#: the base of Conv1d/2d/3d and ConvTranspose1d/2d/3d (one reset_parameters for all)
ConvNd = torch.nn.modules.conv._ConvNd
#: the base of BatchNorm* and InstanceNorm* (one reset_parameters, running statistics)
NormBase = torch.nn.modules.batchnorm._NormBase


def nn_module_namespaces():
    """The names of the torch.nn.modules.* submodules imported so far: they import
    torch.nn.init's functions by name, so a model's reset_parameters() reaches them there."""
    return [name for name in sys.modules if name.startswith("torch.nn.modules.")]


def increment_version(tensor):
    """Bump tensor's version counter: a write through a NumPy view of its memory bypasses
    it, and autograd checks it to refuse stale saved tensors."""
    torch.autograd.graph.increment_version(tensor)


# --------------------------------------------------------------------------- DTensor


def dtensor_module(tensor):
    """torch.distributed.tensor when tensor is a DTensor, else None.  (A DTensor exists only
    once that module is imported, so fastki.torch never imports it itself.)"""
    module = sys.modules.get("torch.distributed.tensor")
    if module is not None and isinstance(tensor, module.DTensor):
        return module
    return None


def placement_types():
    """(Partial, Replicate, Shard, _StridedShard): the DTensor placements a fill meets."""
    from torch.distributed.tensor.placement_types import (Partial, Replicate, Shard,
                                                          _StridedShard)
    return Partial, Replicate, Shard, _StridedShard


def shard_positions(placement, length, chunks, rank):
    """The positions (a list of ints, in order) along placement's dimension, of the
    length elements left by earlier mesh dimensions, that mesh rank `rank` of `chunks`
    holds: torch.distributed.tensor's own split (the local shape and offset computation)."""
    from torch.distributed.tensor.placement_types import _StridedShard, _StridedShardOffsetMode
    if isinstance(placement, _StridedShard):
        size, offsets = placement.local_shard_size_and_offset(
            length, chunks, rank, _StridedShardOffsetMode.ALL)
        return list(offsets) if size else []
    size, start = placement._local_shard_size_and_offset(length, chunks, rank)
    return list(range(start, start + size)) if size else []


# --------------------------------------------------------------------------- transformers


def hf_model_type():
    """transformers' PreTrainedModel when transformers' models are imported, else None
    (a model of that type can only exist then)."""
    modeling = sys.modules.get("transformers.modeling_utils")
    return getattr(modeling, "PreTrainedModel", None)


def hf_init_table():
    """transformers.initialization's TORCH_INIT_FUNCTIONS (its own copy of torch.nn.init's
    functions, which its init code calls), or None."""
    hf = sys.modules.get("transformers.initialization")
    table = getattr(hf, "TORCH_INIT_FUNCTIONS", None)
    return table if isinstance(table, dict) else None


#: the mark transformers sets on modules and tensors it has initialized, and then skips
HF_INITIALIZED = "_is_hf_initialized"


# --------------------------------------------------------------------------- parametrizations

#: the module holding a parametrized tensor's parametrizations and its stored originals
ParametrizationList = _parametrize.ParametrizationList


def parametrizations(module):
    """{tensor name: ParametrizationList} of module's parametrized tensors
    (torch.nn.utils.parametrize: parametrizations.weight_norm, orthogonal, ...)."""
    if not _parametrize.is_parametrized(module):
        return {}
    return dict(module.parametrizations.items())


def parametrization_cache():
    """A context in which each parametrized tensor is computed once and the same tensor is
    returned at every access (torch.nn.utils.parametrize.cached)."""
    return _parametrize.cached()


def legacy_weight_norms(module):
    """The legacy torch.nn.utils.weight_norm hooks on module: each recomputes the plain
    attribute ``hook.name`` from ``<name>_g`` and ``<name>_v`` before every forward."""
    return [hook for hook in module._forward_pre_hooks.values()
            if isinstance(hook, _LegacyWeightNorm)]


def prime_device_constructors():
    """Have torch.device(...)'s context list its factory functions now: it caches the
    list at its first use (torch.utils._device._device_constructors), and a list made while
    fastki.torch.meta_device() wraps torch.tensor would hold the wrapper, not torch's."""
    import torch.utils._device
    torch.utils._device._device_constructors()


# --------------------------------------------------------------------------- dispatch


def storage_id(tensor):
    """An identity of tensor's storage, shared by its views and aliases (``.data``), on
    the meta device too (where every data pointer is 0)."""
    return tensor.untyped_storage()._cdata


def touch_recorder(record):
    """A context in which record(tensor) is called for every tensor argument of every
    ATen operation run (a torch.utils._python_dispatch.TorchDispatchMode)."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_leaves

    class _Touches(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            for leaf in tree_leaves((args, kwargs or {})):
                if isinstance(leaf, torch.Tensor):
                    record(leaf)
            return func(*args, **(kwargs or {}))

    return _Touches()
