"""init_module: a whole model re-initialized as its own code says, with fastki's values.

The plan (fastki/torch/_rules.py) is made first; then each step either fills a parameter by
its rule or runs a module's own init code (fastki/torch/_own_init.py).
"""
from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence

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


def init_module(module: torch.nn.Module, seed: int | None, *, prefix: str = "",
                only: str | Sequence[str] | None = None,
                rules: Mapping[type, Callable[..., None]] | None = None,
                device: str | torch.device | None = None,
                allow_torch_draws: bool = False) -> torch.nn.Module:
    """Re-initialize a model the way its own code does, with fastki's values.

    Which code decides each parameter's distribution, first match wins: ``rules={Type:
    fn}`` for modules of that type (or a subclass); the model's own initialization for a
    Hugging Face ``transformers`` model (its ``initialize_weights()``, i.e. its
    ``_init_weights``); PyTorch 2.13's default init, restated, for the layer types of the
    built-in table; the module's own ``reset_parameters()`` (or ``_reset_parameters()``)
    for any other.  Modules are visited children first, as their constructors run.

    While a model's own code runs, every draw it makes comes from fastki: the
    ``torch.nn.init`` functions (under any name, and ``transformers.initialization``'s),
    ``torch.rand/randn/randint/normal/rand_like/randn_like`` and ``Tensor.uniform_`` and
    ``normal_`` (on a parameter, its ``.data``, a view or a temporary).  A draw on one of
    the model's tensors uses the stream of its first qualified name; any other uses the
    call site's stream, ``param_stream("<module name>:<call>#<count>")``.  Any other draw
    from torch's generator is refused, naming the module (``allow_torch_draws``).

    A tensor shared by several modules (tied weights) is initialized once, by the code of
    the module holding it under its first name (an embedding's padding row stays zero).
    A parametrized weight (``parametrizations.weight_norm``, ``orthogonal``, the legacy
    ``weight_norm``) is filled as the code sees it, and its stored tensors get what that
    value implies (the parametrization's ``right_inverse``).  BatchNorm/InstanceNorm
    running statistics are reset.

    Parameters
    ----------
    module : torch.nn.Module
        The model, or a part of one (see prefix).
    seed : int or None
        fastki's seed, 0 <= seed < 2**64; None draws one for the whole call.
    prefix : str, optional
        The part's path in its model, dot included (``"decoder."``): names, hence streams,
        are prefix + the name in module.  A part of a Hugging Face model that is not itself
        a model is refused (its init code lives on the model): use only=.
    only : str or sequence of str, optional
        Qualified-name prefixes ("model.layers.0"): initialize just those parts, with the
        whole model's rules and code, equal byte for byte to the same parts of a whole
        init, touching nothing else.  A tensor belongs to the part of its first name.
    rules : mapping of type to callable, optional
        ``fn(module, name, param, *, seed, stream, qualname)`` fills ``module``'s own
        parameter ``name`` in place, for modules of that type.
    device : str or torch.device, optional
        For a model (or FSDP2-sharded model) built on the meta device: materialize it there
        first (``to_empty``, each rank allocating its own shards), restore its ties and the
        constants kept by :func:`meta_device`; a tensor nothing then writes is refused.
    allow_torch_draws : bool, optional
        Accept draws from torch's generator that fastki cannot route (their values then
        depend on ``torch.manual_seed``); default False, refusing them.

    Returns
    -------
    torch.nn.Module
        module itself.

    Raises
    ------
    TypeError
        A bad argument type; a module with parameters of its own that no rule covers and
        that has no reset_parameters() (before anything is written).
    ValueError
        A bad argument value; a refused tensor (lazy, on meta without device=); a draw that
        cannot be routed; a parametrized weight its code never sets; after device=, a
        tensor nothing wrote.

    Notes
    -----
    docs/torch.md has the details.
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
