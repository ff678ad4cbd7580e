"""init_module: a whole model re-initialized as its own code says, with fastki's values.

The plan (fastki/torch/_rules.py) is made first; then each step either fills a parameter by
its rule or runs a module's own init code (fastki/torch/_own_init.py).
"""
import itertools

import torch

from .._validate import _seed_arg
from . import _private
from ._memory import _part
from ._meta import _materialize
from ._own_init import _OwnInit, _run_own
from ._rules import _plan, _rules_arg, _Selection, param_stream


def _on_meta(module):
    for tensor in itertools.chain(module.parameters(), module.buffers()):
        if _part(tensor).local.device.type == "meta":
            return True
    return False


def init_module(module, seed, *, prefix="", only=None, rules=None, device=None,
                allow_torch_draws=False):
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
    seed = _seed_arg(seed)
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a str, got {type(prefix).__name__}")
    if prefix and not prefix.endswith("."):
        raise ValueError(f"prefix must be empty or end with '.', as in 'decoder.', got {prefix!r}")
    rules = _rules_arg(rules)
    if not isinstance(allow_torch_draws, bool):
        raise TypeError(f"allow_torch_draws must be a bool, got "
                        f"{type(allow_torch_draws).__name__}")
    if device is not None:
        device = torch.device(device)
        if device.type == "meta":
            raise ValueError("device must be where the model is materialized, not 'meta'")
    selection = _Selection.from_arg(only, module, prefix)
    if selection.parts is not None and device is not None:
        raise ValueError("only= and device= together are not supported: materialize the "
                         "model (init_module(model, seed, device=...)) and then re-initialize "
                         "parts with only=")
    if prefix:
        _refuse_part_of_a_model(module, prefix)
    steps = _plan(module, prefix, rules, allow_meta=device is not None)
    if device is not None and not _on_meta(module):
        elsewhere = {str(_part(p).local.device) for p in module.parameters()
                     if _part(p).local.device.type != device.type}
        if elsewhere:
            raise ValueError(f"device={str(device)!r} materializes a model built on the meta "
                             f"device; this one is on {', '.join(sorted(elsewhere))}: move it "
                             f"with module.to(...) or leave device= out")
    written = None
    if device is not None and _on_meta(module):
        written = _materialize(module, device, prefix.rstrip("."))
        steps = _plan(module, prefix, rules)  # to_empty may have swapped the parameters
    own = any(step.own for step in steps)
    own_init = _OwnInit(module, prefix, seed, allow_torch_draws, selection) if own else _nothing()
    with torch.no_grad(), own_init as active:
        for step in steps:
            if step.own:
                if selection.visits(active.names[id(step.module)]):
                    _run_own(step, active)
            elif selection.selects(step.qualname):
                step.fill(step.module, step.name, step.param, seed=seed,
                          stream=param_stream(step.qualname), qualname=step.qualname)
        for name, mod in module.named_modules(prefix=prefix.rstrip(".")):
            if isinstance(mod, _private.NormBase) and selection.selects(name):
                mod.reset_running_stats()
    if written is not None:
        written.refuse_unwritten()
    return module


def _refuse_part_of_a_model(module, prefix):
    """A part of a Hugging Face model given alone (prefix=) is initialized by code that lives
    on the model (its _init_weights), not on the part: refuse rather than give other values.
    A model held inside another (a base model) carries its own code and is accepted."""
    hf_type = _private.hf_model_type()
    if hf_type is None or isinstance(module, hf_type):
        return
    covered = set()  # modules inside a Hugging Face model held by the part: its code
    for name, mod in module.named_modules():
        if isinstance(mod, hf_type):
            covered.update(id(sub) for sub in mod.modules())
    for name, mod in module.named_modules():
        if type(mod).__module__.startswith("transformers.") and id(mod) not in covered:
            raise ValueError(
                f"init_module: {type(module).__qualname__} (prefix={prefix!r}) is a part of a "
                f"Hugging Face model, whose init code (its _init_weights) lives on the model, "
                f"not on the part: initialize the part with "
                f"init_module(model, seed, only={prefix.rstrip('.')!r}), which gives it the "
                f"whole model's values and touches nothing else")


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
