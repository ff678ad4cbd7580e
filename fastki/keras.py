"""Keras 3 integration: ``import fastki.keras`` before ``keras.models.load_model``.

The import registers every fastki initializer as a Keras serializable under the package
name "fastki" ("fastki>GlorotUniform", ...), which is how Keras finds the class again
when it loads a saved model.  Nothing else is needed: fastki initializers are plain
callables ``init(shape, dtype=None)`` returning NumPy arrays, which Keras layers accept
as ``kernel_initializer=`` / ``bias_initializer=`` as they are.

Saving needs no import: a fastki initializer called or serialized while Keras is loaded
registers the classes itself.  Loading does, because Keras resolves the names before any
fastki code runs.  ``import fastki`` alone never imports Keras.

Registered names also work as strings in Keras: ``kernel_initializer="fastki>HeNormal"``.
"""
import keras

from . import initializers as _initializers

__all__ = ["register"]

REGISTERED = False


def register():
    """Register the fastki initializer classes with Keras (idempotent; run at import)."""
    global REGISTERED
    for cls in _initializers._CLASSES:
        keras.saving.register_keras_serializable(package=_initializers._PACKAGE,
                                                 name=cls.__name__)(cls)
    REGISTERED = True


register()
