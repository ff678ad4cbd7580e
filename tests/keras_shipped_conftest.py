"""The adapter that runs Keras' own initializer tests against fastki (docs/initializers.md,
"Keras' own tests").  tests/test_keras_shipped.py copies Keras' test files and this file,
as their conftest.py, into a temporary directory and runs pytest there in a subprocess per
Keras backend.  Keras' test files import ``skip_if_backend`` from the conftest.py of
Keras' source tree, which the installed package does not ship: it is defined here.

Before any test module is imported, ``fastki.keras.install()`` makes every name the tests
use (``initializers.RandomNormal``, ``initializers.get("lecun_normal")``, the layers'
string defaults) resolve to fastki's Keras-native classes, and the session start checks
that it did.
"""
import pytest

import keras  # noqa: F401  (KERAS_BACKEND is set by the parent process)
from keras.src import backend
from keras.src import initializers

import fastki.keras

fastki.keras.install()
assert initializers.GlorotUniform is fastki.keras.GlorotUniform
assert type(initializers.get("lecun_normal")) is fastki.keras.LecunNormal


def skip_if_backend(given_backend, reason):
    return pytest.mark.skipif(backend.backend() == given_backend, reason=reason)


def pytest_configure(config):
    config.addinivalue_line("markers", "multi_device: needs several devices (Keras' marker)")


def pytest_collection_modifyitems(config, items):
    # Keras runs its multi_device tests only on a multi-device setup (its own CI); one of
    # them asserts at least 4 devices.  Here: skipped below 4 JAX devices, with the reason.
    if backend.backend() != "jax":
        return
    import jax

    if jax.device_count() >= 4:
        return
    skip = pytest.mark.skip(reason=f"multi_device test: {jax.device_count()} JAX device(s), "
                                   "Keras' test needs 4 or more")
    for item in items:
        if item.get_closest_marker("multi_device"):
            item.add_marker(skip)
