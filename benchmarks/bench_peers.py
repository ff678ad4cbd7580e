"""What fastki is measured against, on the same sizes: NumPy's Generator, PyTorch, JAX and
Keras' initializers. A library that is not installed is skipped (NotImplementedError in
setup), so that `asv run` works with NumPy alone; install the others to see them."""
import importlib
import os

import numpy as np

from ._common import DTYPES, SIZES, THREADS, Timed, fastki_or_skip

# Keras picks its backend once, at import: NumPy's, so that Keras' own initializer code is
# what is timed rather than another framework's kernels. Must precede any keras import.
os.environ.setdefault("KERAS_BACKEND", "numpy")


def _import_or_skip(name):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise NotImplementedError(f"{name} is not installed ({exc})") from None


class NumpyGenerator(Timed):
    """np.random.default_rng(): standard_normal and random, filling out= like fastki's
    time_fill (NumPy's Generator has no threads of its own)."""
    params = [["standard_normal", "random"], DTYPES, SIZES]
    param_names = ["method", "dtype", "size"]

    def setup(self, method, dtype, size):
        self.draw = getattr(np.random.default_rng(0), method)
        self.out = np.empty(size, dtype)

    def time_fill(self, method, dtype, size):
        self.draw(dtype=self.out.dtype, out=self.out)

    def time_new(self, method, dtype, size):
        self.draw(size, dtype=self.out.dtype)

    def peakmem_new(self, method, dtype, size):
        self.draw(size, dtype=self.out.dtype)


class NumpyTruncatedNormal(Timed):
    """What a NumPy user writes for a truncated normal on [-2, 2]: draw, redraw outside."""
    params = [DTYPES, SIZES]
    param_names = ["dtype", "size"]

    def setup(self, dtype, size):
        self.gen = np.random.default_rng(0)
        self.out = np.empty(size, dtype)

    def time_fill(self, dtype, size):
        out, gen = self.out, self.gen
        gen.standard_normal(dtype=out.dtype, out=out)
        bad = np.flatnonzero(np.abs(out) > 2)
        while bad.size:
            out[bad] = gen.standard_normal(bad.size, dtype=out.dtype)
            bad = bad[np.abs(out[bad]) > 2]


class Torch(Timed):
    """torch.empty(n).normal_() / .uniform_() and torch.nn.init.trunc_normal_, in place."""
    params = [["normal_", "uniform_", "trunc_normal_"], DTYPES, SIZES, THREADS]
    param_names = ["method", "dtype", "size", "threads"]

    def setup(self, method, dtype, size, threads):
        torch = _import_or_skip("torch")
        self.torch = torch
        self.saved_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        self.t = torch.empty(size, dtype=getattr(torch, dtype))
        if method == "trunc_normal_":
            init = torch.nn.init.trunc_normal_
            self.fill = lambda: init(self.t, mean=0.0, std=1.0, a=-2.0, b=2.0)
        else:
            self.fill = getattr(self.t, method)
        self.fill()

    def teardown(self, method, dtype, size, threads):
        saved = self.__dict__.pop("saved_threads", None)  # None: setup skipped (asv
        if saved is not None:                              # still calls teardown then)
            self.torch.set_num_threads(saved)

    def time_fill(self, method, dtype, size, threads):
        self.fill()


class Jax(Timed):
    """jax.random.normal / uniform / truncated_normal, jitted, waited for with
    block_until_ready (XLA's CPU threads are fixed at start-up: no threads parameter)."""
    params = [["normal", "uniform", "truncated_normal"], DTYPES, SIZES]
    param_names = ["function", "dtype", "size"]

    def setup(self, function, dtype, size):
        jax = _import_or_skip("jax")
        if dtype == "float64":
            jax.config.update("jax_enable_x64", True)  # else JAX silently gives float32
        jdtype = getattr(jax.numpy, dtype)
        key = jax.random.PRNGKey(0)
        if function == "truncated_normal":
            draw = jax.jit(lambda k: jax.random.truncated_normal(k, -2.0, 2.0, (size,), jdtype))
        else:
            fn = getattr(jax.random, function)
            draw = jax.jit(lambda k: fn(k, (size,), jdtype))
        self.draw = lambda: draw(key).block_until_ready()
        got = self.draw()  # compile outside the timing
        if str(got.dtype) != dtype:
            raise NotImplementedError(f"JAX gave {got.dtype}, not {dtype}")

    def time_new(self, function, dtype, size):
        self.draw()


# A square weight of each size: 64x64 = 2**12, 1024x1024 = 2**20, 4096x4096 = 2**24.
_SHAPES = {2**12: (64, 64), 2**20: (1024, 1024), 2**24: (4096, 4096)}
_INITIALIZERS = ["RandomNormal", "RandomUniform", "TruncatedNormal", "GlorotUniform",
                 "HeNormal"]


class KerasInitializers(Timed):
    """keras.initializers.<name>(seed=...)(shape, dtype) on Keras' NumPy backend."""
    params = [_INITIALIZERS, DTYPES, SIZES]
    param_names = ["initializer", "dtype", "size"]

    def setup(self, name, dtype, size):
        keras = _import_or_skip("keras")
        if keras.backend.backend() != "numpy":
            raise NotImplementedError(f"keras was imported with the {keras.backend.backend()} "
                                      "backend before this module set KERAS_BACKEND=numpy")
        self.init = getattr(keras.initializers, name)(seed=1)
        self.shape = _SHAPES[size]
        self.dtype = dtype
        self.init(self.shape, dtype=dtype)

    def time_new(self, name, dtype, size):
        self.init(self.shape, dtype=self.dtype)


class FastkiInitializers(Timed):
    """fastki.initializers.<name>, the same catalogue as KerasInitializers, for the
    side-by-side; skipped on commits before fastki had initializers."""
    params = [_INITIALIZERS, DTYPES, SIZES]
    param_names = ["initializer", "dtype", "size"]

    def setup(self, name, dtype, size):
        fastki = fastki_or_skip()
        initializers = getattr(fastki, "initializers", None)
        if initializers is None:
            try:
                initializers = importlib.import_module("fastki.initializers")
            except ImportError:
                raise NotImplementedError("this fastki has no initializers") from None
        cls = getattr(initializers, name, None)
        if cls is None:
            raise NotImplementedError(f"this fastki has no initializers.{name}")
        self.init = cls(seed=1)
        self.shape = _SHAPES[size]
        self.dtype = dtype
        self.init(self.shape, dtype=dtype)

    def time_new(self, name, dtype, size):
        self.init(self.shape, dtype=self.dtype)
