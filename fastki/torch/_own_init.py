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

from . import _constant_fills, _fills, _private
from ._memory import _FLOAT_DTYPES, _zero_row
from ._rules import _own_reset, _Selection, param_stream

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
# torch's random functions that init code uses to make values it then copies in
# (Mamba's dt_proj.bias: torch.rand), and the in-place draws of Tensor; while init_module
# runs a model's code, these draw from fastki (_OwnInit.torch_draw, tensor_draw)
_TORCH_DRAWS = {name: getattr(torch, name) for name in
                ("rand", "randn", "randint", "normal", "rand_like", "randn_like")}
_TENSOR_DRAWS = {name: getattr(torch.Tensor, name) for name in ("uniform_", "normal_")}


def _memory_key(tensor):
    """What identifies a tensor's elements in memory (an alias such as ``param.data`` has
    the same key), or None where there is none to compare (meta, DTensor, no storage)."""
    try:
        if tensor.device.type == "meta" or _private.dtensor_module(tensor) is not None:
            return None
        pointer = tensor.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return None
    if pointer == 0:
        return None
    return (pointer, tensor.storage_offset(), tuple(tensor.shape), tuple(tensor.stride()),
            tensor.dtype)


def _randint_range(args, kwargs):
    """(low, high) of torch.randint's arguments: (high, size) or (low, high, size)."""
    numbers = [a for a in args if not isinstance(a, (tuple, list, torch.Size))]
    if "high" in kwargs:
        return kwargs.get("low", numbers[0] if numbers else 0), kwargs["high"]
    if len(numbers) >= 2:
        return numbers[0], numbers[1]
    return kwargs.get("low", 0), numbers[0]



def _our_fill(name):
    """fastki's namesake of torch.nn.init.<name> (a random or a constant fill)."""
    return getattr(_fills, name, None) or getattr(_constant_fills, name)

class _OwnInit:
    """While active, every torch.nn.init-style call, torch random function and in-place
    Tensor draw (see _TORCH_DRAWS, _TENSOR_DRAWS) made by this thread draws from fastki
    with init_module's seed: from the stream of the tensor's first qualified name for one
    of the model's tensors (or an alias of all its memory), else from the call site's
    stream (site_stream).  Other threads' calls go to torch's own functions unchanged.
    Each module's init code runs as a visit (visiting), which skips a tied tensor's
    non-first holders and refuses draws that moved torch's own generator."""

    def __init__(self, module, prefix, seed, allow_torch_draws=False, selection=None):
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
        self.names = {id(mod): name for name, mod in module.named_modules(prefix=self.prefix)}
        self.site_counts = {}
        self.by_memory = {}  # _memory_key -> the model's tensor with that memory
        for tensor in itertools.chain(module.parameters(), module.buffers()):
            self.by_memory.setdefault(_memory_key(tensor), tensor)
        self.by_memory.pop(None, None)
        self.allow_torch_draws = allow_torch_draws
        self.selection = selection if selection is not None else _Selection(None)
        self.standins = set()  # ids of the meta stand-ins of tensors only= leaves alone
        self.swapped = []  # (tensor dict, key, the model's own tensor), restored on exit
        self.written = set()  # ids of the model's tensors its init code has filled
        self.targets = {"torch.nn.init"}
        self.targets.update(_private.nn_module_namespaces())
        for mod in module.modules():  # the model's own code, wherever it is defined
            self.targets.update(c.__module__ for c in type(mod).__mro__)
        self.saved = []
        self.saved_methods = []
        # a dry run (see _run_hf): the model's code on meta stand-ins, to find the fills a
        # later fill of the whole tensor overwrites unread, which the real run then skips
        self.dry = None  # during a dry run: {id(stand-in): id(the model's tensor)}
        self.dry_storage = {}  # storage_id(stand-in) -> id(the model's tensor)
        self.events = {}  # id(the model's tensor) -> ["fill" or "other", ...] (dry run)
        self.superseded = {}  # id(the model's tensor) -> how many first fills to skip
        self.fill_counts = {}  # id(the model's tensor) -> routed fills met (real run)

    def replacement(self, name):
        if not name.endswith("_"):  # a deprecated name: torch's warning, then the fill
            fill_ = self.replacement(name + "_")

            def deprecated(*args, **kwargs):
                warnings.warn(f"`nn.init.{name}` is now deprecated in favor of "
                              f"`nn.init.{name}_`.", FutureWarning, stacklevel=2)
                return fill_(*args, **kwargs)

            deprecated.__name__ = deprecated.__qualname__ = name
            return deprecated
        ours, original = _our_fill(name), _TORCH_INIT[name]
        random = name in _RANDOM_NAMES

        def fill(tensor, *args, generator=None, **kwargs):
            if generator is not None:
                kwargs["generator"] = generator
            if threading.get_ident() != self.thread:
                return original(tensor, *args, **kwargs)
            kwargs.pop("generator", None)  # fastki draws from (seed, stream) instead
            tensor, known = self.resolve(tensor)
            if self.left_alone(tensor, known, name):
                return tensor
            if known is not None and self.held_by_another(tensor):
                return tensor
            if self.dry_or_superseded(tensor):
                return tensor
            if known is not None:
                self.written.add(id(tensor))
            if known is None and _private.dtensor_module(tensor) is not None:
                raise ValueError(
                    f"init_module: the model's own init code called {name} on a DTensor "
                    f"that is not one of its parameters or buffers: a view of a sharded "
                    f"parameter is a gathered copy, and writing it would change nothing")
            if random:
                stream = known[1] if known is not None else self.site_stream(name)
                return ours(tensor, *args, seed=self.seed, stream=stream, **kwargs)
            if isinstance(tensor, torch.Tensor) and tensor.dtype in _FLOAT_DTYPES:
                return ours(tensor, *args, **kwargs)
            return original(tensor, *args, **kwargs)  # integer buffers: torch's constants

        fill.__name__ = fill.__qualname__ = name
        return fill

    def resolve(self, tensor):
        """(tensor, (name, stream)) for one of the model's tensors -- itself, or an alias of
        all its memory such as ``param.data`` (then the model's tensor is returned) --
        else (tensor, None)."""
        known = self.streams.get(id(tensor))
        if known is None and isinstance(tensor, torch.Tensor):
            same = self.by_memory.get(_memory_key(tensor))
            if same is not None:
                return same, self.streams[id(same)]
        return tensor, known

    def left_alone(self, tensor, known, call):
        """Whether a fill of tensor is skipped because only= leaves it alone: a stand-in,
        or a view of one (which takes its call-site count, as it would in a whole run)."""
        if id(tensor) in self.standins:
            return True
        if (known is None and self.standins and isinstance(tensor, torch.Tensor)
                and tensor.device.type == "meta"):
            self.site_stream(call)
            return True
        return False

    def stand_in(self):
        """Swap every tensor only= leaves alone for a meta stand-in of its shape (shared by
        all its holders) while the code runs: writes to it do nothing and cost nothing;
        the stand-in draws from nothing and keeps the tensor's name."""
        if self.selection.parts is None:
            return
        made = {}
        for name, tensor in itertools.chain(self.module.named_parameters(prefix=self.prefix),
                                            self.module.named_buffers(prefix=self.prefix)):
            if id(tensor) not in made and not self.selection.selects(name):
                standin = torch.empty(tensor.shape, dtype=tensor.dtype, device="meta")
                if isinstance(tensor, torch.nn.Parameter):
                    standin = torch.nn.Parameter(standin, requires_grad=tensor.requires_grad)
                made[id(tensor)] = standin
                self.streams[id(standin)] = self.streams.get(id(tensor), (name, None))
                self.standins.add(id(standin))
        for mod in self.module.modules():
            for tensors in (mod._parameters, mod._buffers):
                for key, tensor in list(tensors.items()):
                    if tensor is not None and id(tensor) in made:
                        self.swapped.append((tensors, key, tensor))
                        tensors[key] = made[id(tensor)]
        self.holders = {}
        for mod in self.module.modules():
            for tensor in itertools.chain(mod.parameters(recurse=False),
                                          mod.buffers(recurse=False)):
                if tensor is not None:
                    self.holders.setdefault(id(tensor), []).append(mod)

    def restore(self):
        for tensors, key, tensor in reversed(self.swapped):
            tensors[key] = tensor
        self.swapped.clear()

    def site_stream(self, call):
        """The stream of a draw that is not one of the model's tensors (a temporary made by
        torch.rand, a view): named by the module whose init code runs, the call, and how
        many such calls that module's code made before ("dt_proj:rand#0")."""
        owner = self.names.get(id(self.current), "") if self.current is not None else ""
        key = (owner, call)
        count = self.site_counts.get(key, 0)
        self.site_counts[key] = count + 1
        return param_stream(f"{owner}:{call}#{count}")

    def torch_draw(self, name):
        """torch.<name> (rand, randn, randint, normal, rand_like, randn_like) made of
        fastki's values from the call site's stream (in this thread)."""
        original = _TORCH_DRAWS[name]

        def draw(*args, generator=None, **kwargs):
            if threading.get_ident() != self.thread:
                if generator is not None:
                    kwargs["generator"] = generator
                return original(*args, **kwargs)
            if kwargs.get("out") is not None:
                raise ValueError(f"init_module: the model's own init code called torch.{name} "
                                 f"with out=, which fastki does not route")
            requires_grad = kwargs.pop("requires_grad", False)
            stream = self.site_stream(name)
            if name == "normal":
                mean = args[0] if len(args) > 0 else kwargs.pop("mean", 0.0)
                std = args[1] if len(args) > 1 else kwargs.pop("std", 1.0)
                args = args[2:]
            if name == "normal" and (isinstance(mean, torch.Tensor)
                                     or isinstance(std, torch.Tensor)):
                shape = torch.broadcast_shapes(*(a.shape for a in (mean, std)
                                                 if isinstance(a, torch.Tensor)))
                like = mean if isinstance(mean, torch.Tensor) else std
                z = torch.empty(shape, dtype=like.dtype, device=like.device)
                _fills.normal_(z, 0.0, 1.0, seed=self.seed, stream=stream)
                return (mean + std * z).requires_grad_(requires_grad)
            # the result's shape, dtype and device, from torch itself on the meta device
            device = kwargs.pop("device", None)
            if name.endswith("_like"):
                device = device if device is not None else args[0].device
            elif device is None:
                device = torch.get_default_device()
            if name == "normal":  # normal(mean: float, std: float, size): torch's shape
                shaped = original(float(mean), float(std), *args, device="meta", **kwargs)
            else:
                shaped = original(*args, device="meta", **kwargs)
            result = torch.empty(shaped.shape, dtype=shaped.dtype, device=device)
            if name in ("rand", "rand_like"):
                _fills.uniform_(result, 0.0, 1.0, seed=self.seed, stream=stream)
            elif name == "randint":
                low, high = _randint_range(args, kwargs)
                u = torch.empty(shaped.shape, dtype=torch.float64)
                _fills.uniform_(u, 0.0, 1.0, seed=self.seed, stream=stream)
                values = (low + torch.floor(u * (high - low))).clamp_(max=high - 1)
                result.copy_(values)
            elif name == "normal":
                _fills.normal_(result, mean, std, seed=self.seed, stream=stream)
            else:  # randn, randn_like
                _fills.normal_(result, 0.0, 1.0, seed=self.seed, stream=stream)
            return result.requires_grad_(requires_grad)

        draw.__name__ = draw.__qualname__ = name
        return draw

    def tensor_draw(self, name):
        """Tensor.<name> (uniform_, normal_) drawing from fastki: from the stream of the
        model's tensor it is called on, else from the call site's (in this thread)."""
        original = _TENSOR_DRAWS[name]
        ours = _our_fill(name)
        names = ("from", "to") if name == "uniform_" else ("mean", "std")
        defaults = (0.0, 1.0)

        def draw(tensor, *args, generator=None, **kwargs):
            if threading.get_ident() != self.thread or tensor.dtype not in _FLOAT_DTYPES:
                if generator is not None:
                    kwargs["generator"] = generator
                return original(tensor, *args, **kwargs)
            values = list(args) + [kwargs.pop(n, d) for n, d in zip(names[len(args):],
                                                                    defaults[len(args):])]
            target, known = self.resolve(tensor)
            if self.left_alone(target, known, f"Tensor.{name}"):
                return tensor
            if known is not None and self.held_by_another(target):
                return tensor
            if self.dry_or_superseded(target):
                return tensor
            if known is not None:
                self.written.add(id(target))
            stream = known[1] if known is not None else self.site_stream(f"Tensor.{name}")
            with torch.no_grad():
                ours(target, *values, seed=self.seed, stream=stream)
            return tensor

        draw.__name__ = draw.__qualname__ = name
        return draw

    def dry_or_superseded(self, tensor):
        """Whether a routed fill of tensor writes nothing: in a dry run (noted instead: a
        fill of a whole stand-in, or an "other" touch of a view of one), or in the real
        run a fill the dry run found overwritten, unread, by a later one."""
        if self.dry is not None:
            target = self.dry.get(id(tensor))
            if target is not None:
                self.events.setdefault(target, []).append("fill")
                return True
            if isinstance(tensor, torch.Tensor) and tensor.device.type == "meta":
                self.note_touch(tensor)
                return True
            return False
        count = self.fill_counts[id(tensor)] = self.fill_counts.get(id(tensor), 0) + 1
        return count <= self.superseded.get(id(tensor), 0)

    def note_touch(self, tensor):
        """In a dry run: an ATen operation (or a fill of a view) reached a stand-in."""
        if tensor.device.type != "meta":
            return
        target = self.dry_storage.get(_private.storage_id(tensor))
        if target is not None:
            self.events.setdefault(target, []).append("other")

    def dry_run(self, run):
        """run() with every tensor of the model swapped for a meta stand-in and each
        touch noted; then self.superseded says which fills the real run may skip: those of
        a tensor that nothing but whole-tensor fills touched, all but the last.  Any
        error in the dry run leaves nothing to skip (the real run then shows it)."""
        swapped, dry = [], {}
        saved_holders, saved_streams = self.holders, self.streams
        try:
            originals = {}
            for mod in self.module.modules():
                for tensors in (mod._parameters, mod._buffers):
                    for key, tensor in list(tensors.items()):
                        if tensor is None or id(tensor) in self.standins:
                            continue
                        if id(tensor) not in originals:
                            standin = torch.empty(tensor.shape, dtype=tensor.dtype,
                                                  device="meta")
                            originals[id(tensor)] = standin
                            dry[id(standin)] = id(tensor)
                            self.dry_storage[_private.storage_id(standin)] = id(tensor)
                        swapped.append((tensors, key, tensor))
                        tensors[key] = originals[id(tensor)]
            # the stand-ins keep their tensors' names, streams and holders (ties)
            self.holders, self.streams = dict(saved_holders), dict(saved_streams)
            for k, standin in originals.items():
                if k in saved_holders:
                    self.holders[id(standin)] = saved_holders[k]
                if k in saved_streams:
                    self.streams[id(standin)] = saved_streams[k]
            self.dry = dry
            with _private.touch_recorder(self.note_touch):
                run()
        except Exception:  # noqa: BLE001 - no skipping then; the real run raises it again
            self.events.clear()
        finally:
            self.dry = None
            for tensors, key, tensor in reversed(swapped):
                tensors[key] = tensor
            self.holders, self.streams = saved_holders, saved_streams
            self.dry_storage.clear()
            self.site_counts.clear()
        self.superseded = {k: len(ev) - 1 for k, ev in self.events.items()
                           if len(ev) > 1 and all(e == "fill" for e in ev)}
        self.expected = {k: len(self.events[k]) for k in self.superseded}
        self.events.clear()
        self.fill_counts.clear()

    def replayed(self):
        """Whether the real run made, on each tensor whose fills it skipped, as many fills
        as the dry run (the model's code took the same path on real tensors as on meta)."""
        same = all(self.fill_counts.get(k, 0) == n for k, n in self.expected.items())
        self.superseded, self.expected = {}, {}
        self.fill_counts.clear()
        return same

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
        before = None if self.allow_torch_draws else torch.random.get_rng_state()
        try:
            yield
            if before is not None and not torch.equal(before, torch.random.get_rng_state()):
                self.refuse_torch_draw(module)
        finally:
            self.current = outer

    def refuse_torch_draw(self, module):
        name = self.names.get(id(module), "")
        own = [f"{name}.{n}".lstrip(".") for n, _ in itertools.chain(
            module.named_parameters(recurse=False), module.named_buffers(recurse=False))]
        reached = f" (its parameters and buffers: {', '.join(own)})" if own else ""
        raise ValueError(
            f"init_module: the init code of {name or 'the model'!r} "
            f"({type(module).__qualname__}){reached} drew from torch's global generator "
            f"by a call fastki does not route (fastki routes torch.nn.init, torch.rand, "
            f"randn, randint, normal, rand_like, randn_like and Tensor.uniform_/normal_), "
            f"so its values would depend on torch.manual_seed; pass "
            f"allow_torch_draws=True to accept that")

    def __enter__(self):
        _OWN_INIT_LOCK.acquire()
        try:
            self.stand_in()
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
            draws = {name: self.torch_draw(name) for name in _TORCH_DRAWS}
            originals_of = {id(f): name for name, f in _TORCH_DRAWS.items()}
            for module_name in sorted(self.targets | {"torch"}):
                namespace = getattr(sys.modules.get(module_name), "__dict__", None)
                if namespace is None:
                    continue
                for attr, value in list(namespace.items()):
                    name = originals_of.get(id(value))
                    if name is not None and value is _TORCH_DRAWS[name]:
                        self.saved.append((namespace, attr, value))
                        namespace[attr] = draws[name]
            for name, original in _TENSOR_DRAWS.items():
                self.saved_methods.append((name, original))
                setattr(torch.Tensor, name, self.tensor_draw(name))
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
            for name, original in reversed(self.saved_methods):
                setattr(torch.Tensor, name, original)
            self.saved_methods.clear()
            if exc_type is None:
                self.store_computed()
        finally:
            if self.cache is not None:
                self.cache.__exit__(None, None, None)
                self.cache = None
            self.restore()
            _OWN_INIT_LOCK.release()

    cache = None

    def enter_computed(self):
        """Give each tensor the model computes from stored ones (a parametrization's value,
        a legacy weight_norm's weight) one tensor object for the whole run, named and
        streamed as the attribute the model's init code sees ("conv.weight")."""
        self.cache = _private.parametrization_cache()
        self.cache.__enter__()
        for module_name, mod in self.module.named_modules(prefix=self.prefix):
            if not self.selection.selects(module_name):
                continue  # its originals are stand-ins: nothing to store
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
    # afterwards: the marks are cleared (_initialize_once) so that its code runs on
    # everything again
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
        # transformers' own code draws some weights twice (T5: every projection as a
        # Linear, then again as part of its block): a dry run on meta stand-ins finds the
        # fills overwritten unread, and the real run skips them (dry_run)
        active.dry_run(lambda: _initialize_once(mod))
        _initialize_once(mod)
        if not active.replayed():  # the code took another path: run it again, whole
            active.site_counts.clear()
            _initialize_once(mod)
    finally:
        del mod.__dict__["is_custom_code"]
        for model in models:
            model.__dict__.pop("_initialize_weights", None)


def _initialize_once(mod):
    """mod.initialize_weights() on every module, transformers' marks cleared first."""
    _clear_hf_marks(mod)
    mod.initialize_weights()


def _clear_hf_marks(mod):
    for sub in mod.modules():
        sub.__dict__.pop(_private.HF_INITIALIZED, None)
        for tensor in itertools.chain(sub.parameters(recurse=False), sub.buffers(recurse=False)):
            if tensor is not None and _private.HF_INITIALIZED in getattr(tensor, "__dict__", {}):
                delattr(tensor, _private.HF_INITIALIZED)


def _visiting_each(initialize, active):
    """initialize(module, ...), a model's per-module init, run as a visit of module (and
    not at all for a module that only= leaves out, holding no part either)."""
    def visit(module, *args, **kwargs):
        if not active.selection.visits(active.names.get(id(module), "")):
            return None
        with active.visiting(module):
            return initialize(module, *args, **kwargs)
    return visit


