"""fastki's initializers and the Keras this process may have imported: floatx, seed
generators, serialization, and the one place where fastki's classes are registered with Keras.

Nothing here imports Keras or another module of fastki: Keras is touched only when the
caller has already imported it (a SeedGenerator seed, a serialized one, floatx, a config).
fastki/initializers/__init__.py fills CATALOGUE with fastki's classes; fastki/keras.py fills
NATIVE with their Keras-native subclasses when it is imported."""
import importlib
import sys
import threading

# Registered name prefix, as keras.saving.register_keras_serializable(package="fastki")
# spells it ("fastki>GlorotUniform").
PACKAGE = "fastki"

CATALOGUE = {}  # class name -> fastki's Keras-free class (fastki/initializers/__init__.py)
NATIVE = {}     # class name -> its Keras-native subclass (fastki/keras.py)
_LOCK = threading.Lock()
_registered = None  # (the Keras module, how many native classes) registered with last


def loaded_keras():
    """The Keras module if the process has imported it, else None; never imports it."""
    return sys.modules.get("keras")


def floatx():
    """Keras' default float type when Keras is loaded (keras.config.floatx()), else float32."""
    config = getattr(loaded_keras(), "config", None)
    floatx = getattr(config, "floatx", None)
    return floatx() if callable(floatx) else "float32"


def is_seed_generator(obj):
    random = getattr(loaded_keras(), "random", None)
    cls = getattr(random, "SeedGenerator", None)
    return isinstance(cls, type) and isinstance(obj, cls)


def keras_saving():
    """keras.saving, imported on demand: only configs that came from Keras need it."""
    return importlib.import_module("keras").saving


def register_with_keras():
    """Register every class of CATALOGUE, and its Keras-native subclass when fastki.keras
    has made one, with the Keras this process has loaded, as "fastki>Name" (nothing when
    Keras is not loaded). The native class is registered last, so the name loads it back;
    both serialize under it. Called by Initializer.get_config (a model being saved) and by
    fastki.keras at import; cheap when nothing changed."""
    global _registered
    keras = loaded_keras()
    register = getattr(getattr(keras, "saving", None), "register_keras_serializable", None)
    if register is None:  # no Keras, or one still importing: nothing to register with
        return
    with _LOCK:
        if _registered == (keras, len(NATIVE)):
            return
        for name, cls in CATALOGUE.items():
            register(package=PACKAGE, name=name)(cls)
            if name in NATIVE:
                register(package=PACKAGE, name=name)(NATIVE[name])
        _registered = (keras, len(NATIVE))
