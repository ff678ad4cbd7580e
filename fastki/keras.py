"""Keras 3 integration: Keras-native classes, registration, and one line to switch Keras over
(docs/initializers.md, "Keras").

* ``fastki.keras.<Name>`` (GlorotUniform, HeNormal, Zeros, ...) is a subclass of both
  ``fastki.initializers.<Name>`` and ``keras.initializers.<Name>``: its values, fans, config
  and seeds are fastki's (it adds no code of its own to them), and every ``isinstance``
  check in Keras holds, so ``EinsumDense``, ``MultiHeadAttention`` and
  ``GroupQueryAttention`` set the fans' axes of the VarianceScaling family.  Its
  ``__call__`` also takes ``layout=`` (JAX backend): the array is then made shard by shard
  through :mod:`fastki.jax`.
* This module owns the Keras registration: the import registers every class under the
  package name "fastki" ("fastki>GlorotUniform"), the Keras-native class being the one a
  saved model loads back (``import fastki.keras`` before ``keras.models.load_model``).
  fastki's Keras-free classes serialize under the same names.
* :func:`install` (undo: :func:`uninstall`, or ``with installed():``) makes Keras' own
  names resolve to these classes: the string defaults of every layer ("glorot_uniform",
  "zeros"), the aliases ("normal", "uniform"), ``keras.initializers.get`` and the classes
  ``keras.initializers.GlorotUniform`` etc.

``fastki.GlorotUniform`` (the top level) stays fastki's Keras-free class, whatever is
imported: ``import fastki`` never imports Keras.
"""
import contextlib
import threading
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Tuple, Type

import keras
from keras.src import initializers as _keras_src_initializers

from . import initializers as _fi
from ._validate import _show
from .initializers import _keras_bridge

__all__ = ["Initializer", "Constant", "Zeros", "Ones", "Identity", "STFT", "RandomNormal",
           "RandomUniform", "TruncatedNormal", "VarianceScaling", "GlorotNormal",
           "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal", "LecunUniform",
           "Orthogonal", "get", "serialize", "deserialize", "register", "install",
           "uninstall", "installed", "is_installed"]

# Keras' own classes, taken before install() can replace the public names.
_KERAS_CLASSES = {cls.__name__: getattr(_keras_src_initializers, cls.__name__)
                  for cls in _fi._CLASSES}


def _call(self: Any, shape: Any, dtype: Any = None, layout: Any = None) -> Any:
    """Values of ``shape`` and ``dtype`` as a NumPy array (fastki's ``__call__``), or with
    ``layout`` (a ``keras.distribution.TensorLayout`` or a JAX sharding) a ``jax.Array``
    distributed by it, each shard made alone (docs/jax.md)."""
    if layout is None:
        return self._FASTKI.__call__(self, shape, dtype)
    from .jax import _shards  # JAX only when a layout asks for it

    return _shards._from_source(self._FASTKI._blocks(self, shape, dtype), layout, "layout")


def _blocks(self: Any, shape: Any, dtype: Any = None) -> Any:
    # defined beside __call__ so that fastki.initializers._call_overrides_blocks sees the
    # values are still the inherited _blocks' (blockwise for fastki.dask / fastki.jax)
    return self._FASTKI._blocks(self, shape, dtype)


def _native_class(fastki_cls: Type[_fi.Initializer]) -> Type[_fi.Initializer]:
    """The class deriving from fastki's ``fastki_cls`` and Keras' namesake, fastki's first
    in the method order: fastki's ``__init__``, ``get_config``, ``from_config`` and values."""
    keras_cls = _KERAS_CLASSES[fastki_cls.__name__]
    body = {"__module__": __name__, "__qualname__": fastki_cls.__name__,
            "__doc__": (f"fastki.initializers.{fastki_cls.__name__} as a "
                        f"keras.initializers.{fastki_cls.__name__} (fastki's values)."),
            "_FASTKI": fastki_cls}
    if fastki_cls is not _fi.Initializer:
        body.update(__call__=_call, _blocks=_blocks)
    return type(fastki_cls.__name__, (fastki_cls, keras_cls), body)


_NATIVE = {cls.__name__: _native_class(cls) for cls in _fi._CLASSES}
globals().update(_NATIVE)
if TYPE_CHECKING:
    # What type checkers see of the classes made above: each is a subclass of fastki's
    # class of that name (and of Keras', which they are not told: Keras has no types).
    Initializer = _fi.Initializer
    Constant = _fi.Constant
    Zeros = _fi.Zeros
    Ones = _fi.Ones
    Identity = _fi.Identity
    STFT = _fi.STFT
    RandomNormal = _fi.RandomNormal
    RandomUniform = _fi.RandomUniform
    TruncatedNormal = _fi.TruncatedNormal
    VarianceScaling = _fi.VarianceScaling
    GlorotNormal = _fi.GlorotNormal
    GlorotUniform = _fi.GlorotUniform
    HeNormal = _fi.HeNormal
    HeUniform = _fi.HeUniform
    LecunNormal = _fi.LecunNormal
    LecunUniform = _fi.LecunUniform
    Orthogonal = _fi.Orthogonal
# every name fastki.initializers resolves ("he_normal", "normal", "fastki>HeNormal", ...),
# mapped to the Keras-native class: the custom_objects of get/deserialize below
_NATIVE_BY_NAME = {name: _NATIVE[cls.__name__] for name, cls in _fi._BY_NAME.items()}



def register() -> None:
    """Register the classes with Keras as "fastki>Name" (idempotent; run at import).  Both
    fastki's class and the Keras-native one serialize under that name; the name loads back
    the Keras-native one (fastki/initializers/_keras_bridge.py, register_with_keras)."""
    _keras_bridge.NATIVE.update(_NATIVE)
    _keras_bridge.register_with_keras()


def get(identifier: Any) -> Any:
    """``fastki.initializers.get`` with names and configs giving the Keras-native classes
    (and a backend tensor, like a NumPy array, an initializer returning it)."""
    if isinstance(identifier, (str, dict)):
        try:
            return deserialize(identifier)
        except ValueError:
            raise ValueError("Could not interpret initializer identifier: "
                             f"{_show(identifier)}") from None
    if keras.ops.is_tensor(identifier):
        identifier = keras.ops.convert_to_numpy(identifier)
    return _fi.get(identifier)


def serialize(initializer: Any) -> Any:
    """The initializer as Keras' serialization dict (``keras.initializers.serialize``)."""
    return keras.initializers.serialize(initializer)


def deserialize(config: Any, custom_objects: Optional[Dict[str, Any]] = None) -> Any:
    """``fastki.initializers.deserialize`` giving the Keras-native classes."""
    return _fi.deserialize(config, custom_objects={**_NATIVE_BY_NAME, **(custom_objects or {})})


# --------------------------------------------------------------------------- install

_LOCK = threading.Lock()
# while installed: [(namespace, name, had it, previous value)]
_SAVED: Optional[List[Tuple[Any, str, bool, Any]]] = None


def _targets() -> List[Tuple[Any, str, Any]]:
    """(namespace, name, replacement) for every name under which Keras offers one of its
    initializer classes: the name table its get/deserialize read (so the layers' string
    defaults), and the attributes of ``keras.initializers`` and ``keras.src.initializers``,
    aliases included (``glorot_uniform``, ``random_normal``, ``IdentityInitializer``, ...).
    The abstract base ``Initializer`` is left alone: it has no values, and a user's own
    subclass of it stays a plain Keras initializer."""
    replacements = {id(keras_cls): _NATIVE[name] for name, keras_cls in _KERAS_CLASSES.items()
                    if name != "Initializer"}
    namespaces = (_keras_src_initializers.ALL_OBJECTS_DICT, vars(keras.initializers),
                  vars(_keras_src_initializers))
    return [(namespace, name, replacements[id(value)]) for namespace in namespaces
            for name, value in list(namespace.items()) if id(value) in replacements]


def install() -> None:
    """Make Keras' own initializer names resolve to fastki's Keras-native classes:
    ``Dense()``'s "glorot_uniform" and "zeros", "normal", "he_normal",
    ``keras.initializers.get(...)``, ``keras.initializers.GlorotUniform(...)`` and its
    aliases (``keras.initializers.glorot_uniform``).  Layers
    and models built afterwards draw from fastki; those built before keep their
    initializers.  Idempotent; :func:`uninstall` undoes it."""
    global _SAVED
    with _LOCK:
        if _SAVED is not None:
            return
        saved: List[Tuple[Any, str, bool, Any]] = []
        for namespace, name, cls in _targets():
            saved.append((namespace, name, name in namespace, namespace.get(name)))
            namespace[name] = cls
        _SAVED = saved


def uninstall() -> None:
    """Restore Keras' own classes under their names (a no-op when not installed)."""
    global _SAVED
    with _LOCK:
        if _SAVED is None:
            return
        for namespace, name, had, previous in reversed(_SAVED):
            if had:
                namespace[name] = previous
            else:
                namespace.pop(name, None)
        _SAVED = None


def is_installed() -> bool:
    """Whether :func:`install` is in effect."""
    return _SAVED is not None


@contextlib.contextmanager
def installed() -> Iterator[None]:
    """``install()`` for the duration of a ``with`` block (left as it was on exit: a block
    entered while installed does not uninstall)."""
    was = is_installed()
    install()
    try:
        yield
    finally:
        if not was:
            uninstall()


register()
