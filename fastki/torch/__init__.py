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

The package, one module per idea: _memory (tensor and DTensor memory, staging), _fills
and _constant_fills (the torch.nn.init namesakes; _deprecated their old names), _rules (init_module's rules and plan), _own_init (running a
model's own init code), _meta (meta-device models: building, materializing), _init_module
(init_module itself), _private (the private APIs of torch and transformers it relies on).

``import fastki`` does not import torch; ``import fastki.torch`` does.
"""
from ._constant_fills import constant_, dirac_, eye_, ones_, zeros_
from ._deprecated import (constant, dirac, eye, kaiming_normal, kaiming_uniform, normal,
                          orthogonal, sparse, uniform, xavier_normal, xavier_uniform)
from ._fills import (calculate_gain, kaiming_normal_, kaiming_uniform_, normal_, orthogonal_,
                     sparse_, trunc_normal_, uniform_, xavier_normal_, xavier_uniform_)
from ._init_module import init_module
from ._meta import meta_device
from ._rules import param_stream

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
    "meta_device",
]
