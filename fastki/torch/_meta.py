"""Models built on the meta device: building one that keeps its constructor's constants,
and materializing one for init_module(device=) so that the result equals the eager one.

``to_empty`` gives every tensor fresh, unwritten memory: tied tensors come back as separate
tensors, and a constructor's constants (``nn.Parameter(torch.tensor(2.6592))``) are lost.
:func:`_materialize` records what ``to_empty`` would lose (the ties; the tensors that already
hold values), restores it after, and returns a :class:`_Written` that init_module asks,
after the init, which tensors nothing wrote: those it refuses, naming them.
"""
from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import torch

from . import _private
from ._memory import _part

_DATA_FACTORIES = ("tensor", "as_tensor")


@contextlib.contextmanager
def meta_device() -> Iterator[None]:
    """Build a model on the meta device, keeping the constants its constructor makes from
    data.

    Inside this context factory functions make meta tensors (``torch.device("meta")``),
    except ``torch.tensor`` and ``torch.as_tensor`` without a ``device=``, which make CPU
    tensors: the values a constructor states (CLIP's ``logit_scale``) stay known, and
    ``init_module(model, seed, device=...)`` carries them over to the materialized model.

    Yields
    ------
    None

    Raises
    ------
    Exception
        Whatever the model's constructor raises; torch's functions are restored.

    Examples
    --------
    >>> with fastki.torch.meta_device():                      # doctest: +SKIP
    ...     model = transformers.CLIPModel(config)
    >>> fastki.torch.init_module(model, seed=0, device="cpu")  # doctest: +SKIP
    """
    _private.prime_device_constructors()
    saved = {name: getattr(torch, name) for name in _DATA_FACTORIES}

    def on_cpu(factory):
        def make(*args, **kwargs):
            if kwargs.get("device") is None:
                kwargs["device"] = "cpu"
            return factory(*args, **kwargs)
        make.__name__ = make.__qualname__ = factory.__name__
        return make

    try:
        for name, factory in saved.items():
            setattr(torch, name, on_cpu(factory))
        with torch.device("meta"):
            yield
    finally:
        for name, factory in saved.items():
            setattr(torch, name, factory)


def _holders(module):
    """{id(tensor): [(tensor dict, key), ...]} for every parameter and buffer, each holder
    (a module's _parameters or _buffers entry) in named_modules() order."""
    holders = {}
    for mod in module.modules():
        for tensors in (mod._parameters, mod._buffers):
            for key, tensor in tensors.items():
                if tensor is not None:
                    holders.setdefault(id(tensor), []).append((tensors, key))
    return holders


def _tensors(module, prefix):
    return itertools.chain(module.named_parameters(prefix=prefix),
                           module.named_buffers(prefix=prefix))


def _materialize(module, device, prefix):
    """module.to_empty(device=device), its ties restored and the values its tensors already
    held (constructor constants kept off the meta device) copied back.  Returns the
    _Written that says, after init, what nothing wrote."""
    holders = _holders(module)
    constants = {}
    for tensor_id, places in holders.items():
        tensors, key = places[0]
        tensor = tensors[key]
        if _part(tensor).local.device.type != "meta":
            constants[tensor_id] = tensor.detach().clone()
    module.to_empty(device=device)
    restored = []
    with torch.no_grad():
        for tensor_id, places in holders.items():
            tensors, key = places[0]
            first = tensors[key]
            for other, other_key in places[1:]:  # to_empty made each holder its own tensor
                other[other_key] = first
            if tensor_id in constants:
                first.copy_(constants[tensor_id])
                restored.append(first)
    return _Written(module, prefix, restored)


class _Written:
    """Which of a freshly materialized model's tensors have been written since: each
    tensor's version counter (its local shard's, for a DTensor) moves with every in-place
    write, fastki's NumPy writes included (_memory._fill bumps it)."""

    def __init__(self, module, prefix, restored):
        self.module = module
        self.prefix = prefix
        self.restored = {id(tensor) for tensor in restored}
        self.versions = {id(tensor): _part(tensor).local._version
                         for _, tensor in _tensors(module, prefix)}

    def refuse_unwritten(self):
        unwritten = [name for name, tensor in _tensors(self.module, self.prefix)
                     if id(tensor) not in self.restored and tensor.numel() > 0
                     and _part(tensor).local._version == self.versions.get(id(tensor))]
        if unwritten:
            raise ValueError(
                f"init_module: after materializing the model from the meta device nothing "
                f"wrote {', '.join(repr(n) for n in unwritten)}: no rule or init code sets "
                f"it, and its constructor's value was lost on the meta device. Build the "
                f"model inside fastki.torch.meta_device(), which keeps the constants a "
                f"constructor makes with torch.tensor, or give the module a "
                f"reset_parameters() or a rules= entry that sets it")


