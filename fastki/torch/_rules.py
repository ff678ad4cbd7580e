"""init_module's rules and plan: which code initializes each parameter, decided up front.

A parameter is drawn from the stream of its qualified name (:func:`param_stream`).  The
built-in table restates PyTorch 2.13's default init of its layer types; ``rules=`` adds the
user's; a Hugging Face model is initialized by its own code and any other module with a
``reset_parameters()`` of its own by that (fastki/torch/_own_init.py runs those).  The plan
checks every parameter and chooses every rule before anything is written.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Callable, NamedTuple

import torch

from .._validate import _show
from . import _private
from ._constant_fills import constant_, ones_, zeros_
from ._fills import _fans, kaiming_uniform_, normal_, uniform_, xavier_normal_, xavier_uniform_
from ._memory import _check_tensor, _zero_row

def param_stream(name: str) -> int:
    """The fastki stream of the parameter with qualified name ``name``.

    The 8-byte BLAKE2b digest of the name's UTF-8 bytes, read as a little-endian unsigned
    integer: init_module draws each tensor from the stream of its first qualified name.

    Parameters
    ----------
    name : str
        The qualified name, as named_parameters() spells it ("layers.0.weight").

    Returns
    -------
    int
        The stream, 0 <= stream < 2**64.

    Raises
    ------
    TypeError
        name is not a str.
    """
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
    overrides: Callable | None = None  # module -> (param, fill) for parameters of its submodules


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
    _private.ConvNd: _Rule(_RESET, _LINEAR_FILLS),  # Conv*, ConvTranspose*
    _nn.Bilinear: _Rule(_RESET, {"weight": _bilinear, "bias": _bilinear}),
    _nn.Embedding: _EMBEDDING,
    _nn.EmbeddingBag: _EMBEDDING,
    _nn.LayerNorm: _Rule(_RESET, _NORM_FILLS),
    _nn.GroupNorm: _Rule(_RESET, _NORM_FILLS),
    _nn.RMSNorm: _Rule(_RESET, _NORM_FILLS),
    _private.NormBase: _Rule(_RESET, _NORM_FILLS),  # BatchNorm*, InstanceNorm*
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
    name: str | None = None
    param: object = None
    fill: Callable | None = None
    own: str | None = None


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
    hf_type = _private.hf_model_type()
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
            if isinstance(param, _private.UninitializedTensorMixin):
                check(param, qualname)  # a lazy module's: refused, whatever the rule
            own_params.append((name, param, qualname))
        root = hf_root.get(module_name)
        if isinstance(mod, _private.ParametrizationList) and user is None:
            continue  # originals: written from the value its module's init code sets
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
        computed = _private.parametrizations(mod) or _private.legacy_weight_norms(mod)
        if computed and _own_reset(cls) is not None:
            # its init code sets the computed tensor; its stored ones follow (_own_init.py)
            steps.append(_Step(prefix + module_name, mod, own="reset"))
            continue
        builtin, why = _builtin_rule(cls)
        if builtin is not None:
            for name, param, qualname in own_params:
                fill = builtin.fills.get(name) or builtin.fills.get("*")
                if fill is None:
                    base = next(b for b in cls.__mro__ if b in _BUILTIN_RULES)
                    known = ", ".join(repr(n) for n in builtin.fills) or "none"
                    raise TypeError(
                        f"init_module: no rule for parameter {qualname!r} of "
                        f"{cls.__module__}.{cls.__qualname__}: it subclasses torch.nn."
                        f"{base.__name__}, whose init fastki.torch restates for its own "
                        f"parameters only ({known}), and adds {name!r}. Give "
                        f"{cls.__name__} a reset_parameters() that initializes all its "
                        f"parameters (init_module then runs it), or pass "
                        f"rules={{{cls.__name__}: fn}} with fn(module, name, param, *, seed, "
                        f"stream, qualname) filling each of them")
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
            raise TypeError(f"rules keys must be module types, got {_show(cls)}")
        if not callable(fn):
            raise TypeError(f"rules[{cls.__name__}] must be callable, got {type(fn).__name__}")
    return dict(rules)



class _Selection:
    """init_module's only=: the parts (qualified-name prefixes) to initialize.  A tensor is
    selected when its first qualified name lies in a part; a module's init code runs when
    the module lies in a part or holds one (an ancestor's code may write into the part)."""

    def __init__(self, parts):
        self.parts = parts  # None: everything

    @classmethod
    def from_arg(cls, only, module, prefix):
        if only is None:
            return cls(None)
        if isinstance(only, str):
            only = [only]
        elif not isinstance(only, (list, tuple)) or not only:
            raise TypeError(f"only must be a qualified-name prefix (str) or a non-empty list "
                            f"of them, got {_show(only)}")
        parts = []
        names = [name for name, _ in module.named_modules(prefix=prefix.rstrip("."))]
        names += [name for name, _ in module.named_parameters(prefix=prefix.rstrip("."))]
        names += [name for name, _ in module.named_buffers(prefix=prefix.rstrip("."))]
        for part in only:
            if not isinstance(part, str):
                raise TypeError(f"only must hold str prefixes, got {_show(part)}")
            part = part.rstrip(".")
            if not any(_within(name, part) for name in names):
                raise ValueError(f"only: {part!r} names no module, parameter or buffer of "
                                 f"the model (names as named_modules() spells them"
                                 f"{', after prefix=' + repr(prefix) if prefix else ''})")
            parts.append(part)
        return cls(tuple(parts))

    def selects(self, name):
        return self.parts is None or any(_within(name, part) for part in self.parts)

    def visits(self, module_name):
        return self.parts is None or any(
            _within(module_name, part) or _within(part, module_name) for part in self.parts)


def _within(name, part):
    """Whether qualified name lies in part (equal to it, or below it); "" holds all."""
    return part == "" or name == part or name.startswith(part + ".")
