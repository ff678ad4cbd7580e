"""Keras 3's initializer catalogue on fastki's generators.

Every class takes the constructor arguments of its Keras 3 namesake, with the same
defaults, and its ``get_config()`` returns exactly those arguments, so configs move
between fastki and Keras unchanged.  Values come from :func:`fastki.uniform`,
:func:`fastki.normal` and :func:`fastki.truncated_normal`: for a given integer seed they
are the same on every machine, thread count and backend (but they are not Keras' values:
the generators differ).

The package is split as Keras splits its own: ``initializer`` (the base classes, fans,
dtypes and blocks), ``constant_initializers``, ``random_initializers``, and here the
registry of names (``get``, ``serialize``, ``deserialize``).

Nothing here imports Keras.  A ``keras.random.SeedGenerator`` seed and a serialized one
(a dict) are handled through whichever Keras the caller already has.  To load a model
saved with fastki initializers, ``import fastki.keras`` first (docs/initializers.md).
These classes are not Keras classes: ``fastki.keras`` has each one as a subclass of both
this class and its Keras namesake, for the layers that check an initializer's class.
"""
import re
from typing import Any, Callable, Dict, Optional, Sequence

import numpy as np
import numpy.typing as npt

from .._validate import _show
from . import _keras_bridge
from ._keras_bridge import PACKAGE as _PACKAGE
from .constant_initializers import STFT, Constant, Identity, Ones, Zeros
from .initializer import (Initializer, _block_source, _BlockSource, _call_overrides_blocks,
                          _cast_exact, _constant_dtype, _whole_source, compute_fans)
from .random_initializers import (TRUNCATED_UNIT_NORMAL_STD, GlorotNormal, GlorotUniform, HeNormal,
                                  HeUniform, LecunNormal, LecunUniform, Orthogonal, RandomNormal,
                                  RandomUniform, TruncatedNormal, VarianceScaling, _orthonormal)

__all__ = [
    "Initializer",
    "Constant",
    "Zeros",
    "Ones",
    "Identity",
    "STFT",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "LecunNormal",
    "LecunUniform",
    "Orthogonal",
    "compute_fans",
    "get",
    "serialize",
    "deserialize",
]

# Standard deviation of a unit normal truncated to [-2, 2]:
#     sqrt(1 - 4 * phi(2) / (Phi(2) - Phi(-2)))    (phi, Phi: the unit normal pdf and cdf)
# = scipy.stats.truncnorm(-2, 2).std().  VarianceScaling divides by it so that the values,

# --------------------------------------------------------------------------- lookup

_CLASSES = (Initializer, Constant, Zeros, Ones, Identity, STFT, RandomNormal, RandomUniform,
            TruncatedNormal, VarianceScaling, GlorotNormal, GlorotUniform, HeNormal,
            HeUniform, LecunNormal, LecunUniform, Orthogonal)


def _snake_case(name: str) -> str:
    """CamelCase to snake_case as Keras spells its names: GlorotUniform -> glorot_uniform,
    STFT -> stft."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({_snake_case(cls.__name__): cls for cls in _CLASSES})
_BY_NAME.update({  # Keras' aliases
    "normal": RandomNormal,
    "uniform": RandomUniform,
    "one": Ones,
    "zero": Zeros,
    "IdentityInitializer": Identity,
    "OrthogonalInitializer": Orthogonal,
    "STFTInitializer": STFT,
})
_BY_NAME.update({f"{_PACKAGE}>{cls.__name__}": cls for cls in _CLASSES})
_keras_bridge.CATALOGUE.update((cls.__name__, cls) for cls in _CLASSES)
# The public path of every class and function (in configs Keras saves, in pickles, in
# the reference), wherever in this package it is defined
for _public in _CLASSES + (compute_fans,):
    _public.__module__ = __name__


def _lookup(name: Any, custom_objects: Optional[Dict[str, Any]]) -> Any:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    return _BY_NAME.get(name) if isinstance(name, str) else None


def serialize(initializer: Any) -> Optional[Dict[str, Any]]:
    """The initializer as a Keras-style dict: ``{"module", "class_name", "config",
    "registered_name"}`` (the same dict ``keras.initializers.serialize`` gives once
    ``fastki.keras`` is imported)."""
    if initializer is None:
        return None
    if not hasattr(initializer, "get_config"):
        raise TypeError(f"Cannot serialize {_show(initializer)}: it has no get_config()")
    cls = type(initializer)
    # fastki's classes and their Keras-native subclasses (fastki.keras) share one name
    ours = cls in _CLASSES or vars(cls).get("_FASTKI") in _CLASSES
    registered = f"{_PACKAGE}>{cls.__name__}" if ours else cls.__name__
    return {"module": cls.__module__, "class_name": cls.__name__,
            "config": initializer.get_config(), "registered_name": registered}


def deserialize(config: Any, custom_objects: Optional[Dict[str, Any]] = None) -> Any:
    """An initializer from a name (class name, snake_case name, Keras alias or
    "fastki>ClassName") or a ``{"class_name": ..., "config": ...}`` dict, including dicts
    written by Keras for its own initializers.  ``custom_objects`` maps further names to
    classes and is searched first."""
    if isinstance(config, str):
        cls = _lookup(config, custom_objects)
        if cls is None:
            raise ValueError(f"Unknown initializer: {config!r}. Use one of the names in "
                             "fastki.initializers (class names, snake_case names, Keras aliases)")
        return cls()
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Unknown `config` as a `dict`, config={_show(config)}")
    name = config["class_name"]
    cls = _lookup(config.get("registered_name"), custom_objects) or _lookup(name, custom_objects)
    if cls is None:
        raise ValueError(f"Unknown initializer: {_show(name)}. Use one of the names in "
                         "fastki.initializers (class names, snake_case names, Keras aliases)")
    inner = config.get("config") or {}
    return cls.from_config(inner) if hasattr(cls, "from_config") else cls(**inner)


def get(identifier: Any) -> Any:
    """An initializer from an identifier, like ``keras.initializers.get``: None gives None;
    a name or config dict is deserialized; a class is instantiated; an initializer or any
    other callable ``f(shape, dtype=None)`` is returned as it is; a NumPy array or a
    framework tensor (Keras backend, torch, JAX) becomes an initializer returning its values
    (cast to the dtype) for its own shape."""
    if identifier is None:
        return None
    if isinstance(identifier, (str, dict)):
        try:
            return deserialize(identifier)
        except ValueError:
            raise ValueError("Could not interpret initializer identifier: "
                             f"{_show(identifier)}") from None
    if isinstance(identifier, (np.ndarray, np.generic)):
        return _array_initializer(np.asarray(identifier))
    tensor = _tensor_values(identifier)
    if tensor is not None:
        return _array_initializer(tensor)
    if isinstance(identifier, type) and callable(identifier):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {_show(identifier)}")


def _tensor_values(obj: Any) -> Optional[npt.NDArray[Any]]:
    """The NumPy values of a framework tensor (a Keras backend tensor, a torch tensor, a
    JAX array: anything not callable with ``__array__`` and ``shape``), else None.  Keras'
    own conversion when Keras is loaded; nothing is imported."""
    if callable(obj) or isinstance(obj, type):
        return None
    keras = _keras_bridge.loaded_keras()
    ops = getattr(keras, "ops", None)
    if ops is not None and hasattr(ops, "is_tensor"):
        try:
            if ops.is_tensor(obj):
                return np.asarray(ops.convert_to_numpy(obj))
        except Exception:  # a Keras still importing: fall through to the generic route
            pass
    if not (hasattr(obj, "__array__") and hasattr(obj, "shape")):
        return None
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # torch: no autograd, host memory
        obj = obj.detach().cpu()
    return np.asarray(obj)


def _array_initializer(array: npt.NDArray[Any]) -> Callable[..., npt.NDArray[Any]]:
    def initialize_fn(shape: Sequence[int], dtype: Any = None) -> npt.NDArray[Any]:
        if tuple(shape) != array.shape:
            raise ValueError(f"Expected `shape` to be {array.shape} for direct tensor as "
                             f"initializer. Received shape={tuple(shape)}")
        values: npt.NDArray[Any] = _cast_exact(array, _constant_dtype(dtype), "value")
        return values
    return initialize_fn
