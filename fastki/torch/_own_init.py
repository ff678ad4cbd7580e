"""Running a model's own init code (its ``reset_parameters()``, a Hugging Face model's
``initialize_weights()``) with every ``torch.nn.init``-style call drawing from fastki.

While :class:`_OwnInit` is active, the torch.nn.init functions that the model's code can
reach -- torch.nn.init's, the copies imported by name into torch.nn.modules.* and into the
model's own modules, and transformers.initialization's table -- are replaced by fastki's
namesakes (fastki/torch/_fills.py), drawing with init_module's seed and the stream of the
parameter they are called on (fastki/torch/_rules.py's param_stream).
"""
import contextlib
import itertools
import sys
import threading
import warnings
from typing import NamedTuple

import torch

from . import _fills, _private
from ._memory import _FLOAT_DTYPES, _zero_row
from ._rules import _own_reset, param_stream

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
        # a tensor held by several modules (tied weights) is initialized once, by the init
        # code of the module holding it under its first name: the others' calls on it are
        # skipped, which leaves it as the model's own init leaves a tied model (the tie's
        # source initialized, its padding row zeroed; the target's draw discarded)
        self.holders = {}
        for mod in module.modules():
            for tensor in itertools.chain(mod.parameters(recurse=False),
                                          mod.buffers(recurse=False)):
                if tensor is not None:
                    self.holders.setdefault(id(tensor), []).append(mod)
        self.current = None  # the module whose init code runs now (see visiting)
        self.prefix = prefix.rstrip(".")
        self.module = module
        self.computed = []  # _Computed: parametrized tensors, set up in __enter__
        self.written = set()  # ids of the model's tensors its init code has filled
        self.targets = {"torch.nn.init"}
        self.targets.update(_private.nn_module_namespaces())
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
        ours, original = getattr(_fills, name), _TORCH_INIT[name]
        random = name in _RANDOM_NAMES

        def fill(tensor, *args, generator=None, **kwargs):
            if generator is not None:
                kwargs["generator"] = generator
            if threading.get_ident() != self.thread:
                return original(tensor, *args, **kwargs)
            kwargs.pop("generator", None)  # fastki draws from (seed, stream) instead
            known = self.streams.get(id(tensor))
            if known is not None and self.held_by_another(tensor):
                return tensor
            if known is not None:
                self.written.add(id(tensor))
            if random:
                if known is None:
                    raise ValueError(
                        f"init_module: the model's own init code called {name} on a tensor "
                        f"that is not one of its parameters or buffers (a view, a copy or a "
                        f"temporary): fastki cannot tell which stream to draw it from")
                return ours(tensor, *args, seed=self.seed, stream=known[1], **kwargs)
            if known is None and _private.dtensor_module(tensor) is not None:
                raise ValueError(
                    f"init_module: the model's own init code called {name} on a DTensor "
                    f"that is not one of its parameters or buffers: a view of a sharded "
                    f"parameter is a gathered copy, and writing it would change nothing")
            if isinstance(tensor, torch.Tensor) and tensor.dtype in _FLOAT_DTYPES:
                return ours(tensor, *args, **kwargs)
            return original(tensor, *args, **kwargs)  # integer buffers: torch's constants

        fill.__name__ = fill.__qualname__ = name
        return fill

    def held_by_another(self, tensor):
        """Whether tensor is tied and the module whose init code runs now is one of its
        holders, but not the one that initializes it."""
        holders = self.holders.get(id(tensor), ())
        return (len(holders) > 1 and self.current is not None
                and self.current is not holders[0]
                and any(self.current is holder for holder in holders))

    @contextlib.contextmanager
    def visiting(self, module):
        """Mark module as the one whose init code runs (nested visits restore the outer)."""
        outer, self.current = self.current, module
        try:
            yield
        finally:
            self.current = outer

    def __enter__(self):
        _OWN_INIT_LOCK.acquire()
        try:
            self.enter_computed()
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
            table = _private.hf_init_table()
            if table is not None:
                for name, value in list(table.items()):
                    if name in replacements:
                        self.saved.append((table, name, value))
                        table[name] = replacements[name]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, exc_type, *exc):
        try:
            for namespace, attr, value in reversed(self.saved):
                namespace[attr] = value
            self.saved.clear()
            if exc_type is None:
                self.store_computed()
        finally:
            if self.cache is not None:
                self.cache.__exit__(None, None, None)
                self.cache = None
            _OWN_INIT_LOCK.release()

    cache = None

    def enter_computed(self):
        """Give each tensor the model computes from stored ones (a parametrization's value,
        a legacy weight_norm's weight) one tensor object for the whole run, named and
        streamed as the attribute the model's init code sees ("conv.weight")."""
        self.cache = _private.parametrization_cache()
        self.cache.__enter__()
        for module_name, mod in self.module.named_modules(prefix=self.prefix):
            for attr, plist in _private.parametrizations(mod).items():
                self.computed.append(_Computed(f"{module_name}.{attr}".lstrip("."), mod, attr,
                                               getattr(mod, attr), plist, None))
            for hook in _private.legacy_weight_norms(mod):
                # a plain attribute, recomputed before each forward: a fresh leaf for the run
                value = getattr(mod, hook.name).detach().clone()
                setattr(mod, hook.name, value)
                self.computed.append(_Computed(f"{module_name}.{hook.name}".lstrip("."), mod,
                                               hook.name, value, None, hook))
        for item in self.computed:
            self.streams[id(item.value)] = (item.qualname, param_stream(item.qualname))
            self.holders[id(item.value)] = [item.module]

    def store_computed(self):
        """Write each computed tensor's stored tensors as the value the model's init code
        gave it implies (the parametrization's right_inverse: weight_norm's g = the norm of
        the value, v = the value); refuse one that its init code never set."""
        unset = [item.qualname for item in self.computed if id(item.value) not in self.written]
        if unset:
            raise ValueError(
                f"init_module: {', '.join(repr(n) for n in unset)} is computed from stored "
                f"tensors (a parametrization or weight_norm) and the model's own init code "
                f"did not set it, so fastki cannot tell what to store; give the module a "
                f"reset_parameters() that sets it, or pass rules= for the module holding it")
        for item in self.computed:
            item.store()


class _Computed(NamedTuple):
    """A tensor the model computes from stored ones: plist (torch parametrizations) or
    hook (a legacy weight_norm) says how."""
    qualname: str
    module: object
    attr: str
    value: torch.Tensor
    plist: object
    hook: object

    def store(self):
        if self.hook is not None:
            g = getattr(self.module, self.attr + "_g")
            v = getattr(self.module, self.attr + "_v")
            v.copy_(self.value)
            g.copy_(torch.norm_except_dim(self.value, 2, self.hook.dim))
            setattr(self.module, self.attr, self.hook.compute_weight(self.module))
            return
        originals = self.value
        for parametrization in reversed(self.plist):
            originals = parametrization.right_inverse(originals)
        if isinstance(originals, torch.Tensor):
            self.plist.original.copy_(originals)
        else:
            for i, tensor in enumerate(originals):
                getattr(self.plist, f"original{i}").copy_(tensor)


def _run_own(step, active):
    """Run a module's own init code inside active, an entered _OwnInit.

    Embeddings with a padding_idx and a sharded (DTensor) weight: their init code zeroes
    weight[padding_idx], which for a DTensor is a gathered copy, not the shard; their
    padding_idx is hidden while the code runs and the row zeroed in its shard after."""
    mod = step.module
    padded = [m for m in mod.modules() if isinstance(m, (torch.nn.Embedding,
                                                         torch.nn.EmbeddingBag))
              and m.padding_idx is not None and _private.dtensor_module(m.weight) is not None]
    saved = [m.padding_idx for m in padded]
    try:
        for m in padded:
            m.padding_idx = None
        _run_own_code(step, active)
    finally:
        for m, idx in zip(padded, saved):
            m.padding_idx = idx
    for m in padded:
        _zero_row(m.weight, m.padding_idx)


def _run_own_code(step, active):
    mod = step.module
    if step.own == "reset":
        with active.visiting(mod):
            getattr(mod, _own_reset(type(mod)))()
        return
    # transformers marks what it has initialized (modules and tensors) and skips it
    # afterwards: the marks are cleared so that its code runs on everything again
    for sub in mod.modules():
        sub.__dict__.pop(_private.HF_INITIALIZED, None)
        for tensor in itertools.chain(sub.parameters(recurse=False), sub.buffers(recurse=False)):
            if tensor is not None and _private.HF_INITIALIZED in getattr(tensor, "__dict__", {}):
                delattr(tensor, _private.HF_INITIALIZED)
    # fully_shard swaps a module's class for a subclass defined in torch.distributed, which
    # transformers would take for remote code (is_custom_code) and then skip every module
    # without parameters of its own (GPT-2's scaled c_proj init lives in one): judge by
    # the model's own class
    own_class = next(c for c in type(mod).__mro__ if not c.__module__.startswith("torch."))
    mod.__dict__["is_custom_code"] = own_class.is_custom_code
    # each model's per-module init (transformers calls it on every module, children first)
    # runs marked as that module's visit, so that tied tensors are written once (held_by_another)
    models = [sub for sub in mod.modules() if callable(getattr(sub, "_initialize_weights", None))]
    for model in models:
        model.__dict__["_initialize_weights"] = _visiting_each(model._initialize_weights, active)
    try:
        mod.initialize_weights()
    finally:
        del mod.__dict__["is_custom_code"]
        for model in models:
            model.__dict__.pop("_initialize_weights", None)


def _visiting_each(initialize, active):
    """initialize(module, ...), a model's per-module init, run as a visit of module."""
    def visit(module, *args, **kwargs):
        with active.visiting(module):
            return initialize(module, *args, **kwargs)
    return visit


