"""The base classes of fastki's initializer catalogue (Initializer and the random
initializers' seed handling), Keras' fan rules, the dtypes the catalogue accepts, and how an
initializer's values are made block by block (for fastki.dask and fastki.jax)."""
import functools
import math
import random
from typing import Callable, NamedTuple

import numpy as np

from .._validate import _block_arg, _dtype_arg, _int_arg, _shape_arg, _show
from . import _keras_bridge

_U32_MASK = 0xFFFFFFFF
_U64 = 1 << 64


# --------------------------------------------------------------------------- shapes, fans


def compute_fans(shape, input_axes=None, output_axes=None):
    """``(fan_in, fan_out)`` of a weight shape, by Keras' rules.

    With both ``input_axes`` and ``output_axes``, the fans are the products of those
    dimensions.  Otherwise: rank 0 gives (1, 1); rank 1 gives (n, n); rank 2 is
    ``(in, out)``; higher ranks are convolution kernels ``(*receptive_field, in, out)``
    whose fans are ``in`` and ``out`` times the receptive field size.
    """
    shape = tuple(int(d) for d in shape)
    if input_axes is not None and output_axes is not None:
        return (math.prod(shape[axis] for axis in input_axes),
                math.prod(shape[axis] for axis in output_axes))
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive_field = math.prod(shape[:-2])
    return shape[-2] * receptive_field, shape[-1] * receptive_field



# --------------------------------------------------------------------------- dtypes

_CONSTANT_DTYPE_KINDS = "biu"  # bool, signed and unsigned integers, besides the floats


def _float_dtype(dtype):
    """numpy dtype for a random or computed initializer: fastki's float dtypes only."""
    return _dtype_arg(_keras_bridge.floatx() if dtype is None else dtype)[0]


def _constant_dtype(dtype):
    """numpy dtype for Zeros/Ones/Constant/Identity: the float dtypes plus bool and integers."""
    if dtype is None:
        dtype = _keras_bridge.floatx()
    try:
        return _dtype_arg(dtype)[0]
    except TypeError as exc:
        refused = exc
    try:
        dt = np.dtype(dtype)
    except (TypeError, ValueError):
        dt = None
    if dt is None and getattr(dtype, "__name__", dtype) == "bfloat16":
        raise refused  # the float validator's own word: bfloat16 needs ml_dtypes
    if dt is None or dt.kind not in _CONSTANT_DTYPE_KINDS or not dt.isnative:
        raise TypeError("dtype must be a float (float32, float64, float16, bfloat16), bool or "
                        f"integer dtype, got {_show(dtype)}")
    return dt


def _cast_exact(values, dt, what):
    """``values`` (a numpy array) cast to ``dt``, refusing what ``dt`` cannot hold: finite
    values that would become inf, and for bool/integer dtypes values that are not whole
    or lie outside the dtype's range."""
    values = np.asarray(values)
    if dt.kind == "f" or dt.name == "bfloat16":
        with np.errstate(over="ignore", invalid="ignore"):
            out = values.astype(dt)
        if values.dtype.kind in "fiu" and values.size:
            bad = np.isinf(out.astype(np.float64)) & np.isfinite(values.astype(np.float64))
            if bad.any():
                first = _show(_item(values[bad][0]))
                raise ValueError(f"dtype={dt.name} cannot hold {what}={first}: it overflows to inf")
        return out
    if dt.kind == "b":
        lo, hi = 0, 1
    else:
        info = np.iinfo(dt)
        lo, hi = int(info.min), int(info.max)
    if values.size:
        if values.dtype.kind == "f":
            flat = values.astype(np.float64).ravel()
            whole = np.isfinite(flat) & (flat == np.floor(flat))
            if not whole.all():
                raise ValueError(f"dtype={dt.name} cannot hold {what}="
                                 f"{_show(_item(flat[~whole][0]))}: not a whole number")
            # compare as floats against bounds that are exact powers of two
            inside = (flat >= float(lo)) & (flat < float(hi) + 1.0)
        else:
            flat = values.astype(object).ravel()
            inside = np.array([lo <= int(v) <= hi for v in flat], dtype=bool)
        if not inside.all():
            first = _show(_item(flat[~inside][0]))
            raise ValueError(f"dtype={dt.name} cannot hold {what}={first}: outside [{lo}, {hi}]")
    return values.astype(dt)


def _item(v):
    return v.item() if hasattr(v, "item") else v


def _shape(shape):
    return _shape_arg(shape)


# --------------------------------------------------------------------------- blocks
# fastki.dask makes an initializer's values chunk by chunk from _block_source(): each chunk
# is made by a task of its own, in another thread, process or machine, so what a task
# calls must be picklable (module-level functions and functools.partial of them) and carry
# everything the values depend on, the call's seed included (drawn once, when the source is
# made: a SeedGenerator is advanced once per source, as it is once per call).
#
# What a task passes to fastki's functions carries the dtype by name: short to pickle, and
# every process resolves it to the same dtype (fastki/_validate.py, _dtype_arg).


class _BlockSource(NamedTuple):
    """How to make ``initializer(shape, dtype)`` piece by piece.

    ``make(block=None)`` returns the values of ``shape`` (validated) and ``dtype`` (a numpy
    dtype, floatx resolved); ``make(block=b)``, with ``b`` a tuple of step-1 slices as the
    functional API's ``block=``, returns the values of that block.  ``make(block=b, out=o)``
    writes them into ``o`` (a C-contiguous array of the block's shape and the dtype) and
    returns it, with no temporary of the block's size beside it (fastki.jax hands such
    buffers to JAX without a copy).  ``blockwise`` says
    whether ``make`` computes only the block asked for (True) or computes the whole tensor
    first (False: Orthogonal's QR, STFT, an array Constant, a callable fastki does not
    know), in which case a caller should call ``make()`` once and slice the result.
    """
    make: Callable
    shape: tuple
    dtype: np.dtype
    blockwise: bool


def _block_source(initializer, shape, dtype=None):
    """The _BlockSource of any initializer ``get`` returns: fastki's classes know how to
    make their blocks; anything else (a user's subclass that overrides ``__call__``, a
    function) is called once for the whole tensor.  Argument errors of fastki's classes
    are raised here, as the call would raise them; a blockwise ``make`` checks the values'
    parameters only when it runs (``make(block=<an empty block>)`` runs it for free)."""
    if isinstance(initializer, Initializer) and not _call_overrides_blocks(type(initializer)):
        return initializer._blocks(shape, dtype)
    return _opaque_source(initializer, shape, dtype)


def _call_overrides_blocks(cls):
    """Whether a subclass redefines ``__call__`` below the class that defines ``_blocks``:
    its values are then its own, which the inherited ``_blocks`` does not know."""
    mro = cls.__mro__
    defining = [next(c for c in mro if name in vars(c)) for name in ("__call__", "_blocks")]
    return mro.index(defining[0]) < mro.index(defining[1])


def _opaque_source(initializer, shape, dtype):
    shape = _shape(shape)
    dt = _constant_dtype(dtype)
    compute = functools.partial(_called_as_declared, initializer, shape, dt)
    return _BlockSource(functools.partial(_whole_then_block, compute), shape, dt, False)


def _called_as_declared(initializer, shape, dtype):
    """``initializer(shape, dtype)``, checked against the shape and dtype it was declared
    with: a callable fastki does not know can only be checked once it has run."""
    values = np.asarray(initializer(shape, dtype.name))
    if values.shape != shape:
        raise ValueError(f"initializer {_show(initializer)} returned shape {values.shape} "
                         f"for shape={shape}")
    return values if values.dtype == dtype else _cast_exact(values, dtype, "values")


def _whole_then_block(compute, *, block=None, out=None):
    """The make() of an initializer that cannot make a block alone: compute() computes the
    whole tensor, and a block is sliced from it."""
    values = compute()
    if block is not None:
        values = values[tuple(slice(a, b) for a, b in _block_arg(block, values.shape))]
    return _into(values, out)


def _into(values, out):
    """values, or out filled with them (make()'s ``out=``)."""
    if out is None:
        return values
    out[...] = values
    return out


def _whole_source(initializer, shape, dtype):
    """The _BlockSource of one of fastki's whole-tensor initializers, whose arguments its
    ``_checked`` has validated: ``initializer`` itself computes the values."""
    compute = functools.partial(initializer, shape, dtype.name)
    return _BlockSource(functools.partial(_whole_then_block, compute), shape, dtype, False)


def _bounds(shape, block):
    """((start, stop), ...) of a block (the whole shape when block is None), validated by
    the functional API's own block check."""
    if block is None:
        return tuple((0, d) for d in shape)
    return _block_arg(block, shape)


def _filled(fill, shape, *, block=None, out=None):
    """fill(shape) for a constant-valued fill (``np.zeros``, ``np.full`` with its value
    bound): a block of a constant needs nothing but the block's shape."""
    block_shape = tuple(b - a for a, b in _bounds(shape, block))
    return fill(block_shape) if out is None else _into(fill(()), out)


def _filled_source(fill, shape, dtype):
    return _BlockSource(functools.partial(_filled, fill, shape), shape, dtype, True)


# --------------------------------------------------------------------------- base classes


class Initializer:
    """Base class: ``init(shape, dtype=None)`` returns a NumPy array of that shape and dtype.

    ``dtype=None`` means Keras' floatx when Keras is loaded, else float32.  ``get_config()``
    returns the constructor's arguments, so ``from_config`` and ``clone`` need nothing else.
    """

    def __call__(self, shape, dtype=None):
        raise NotImplementedError(
            f"{type(self).__name__} must implement __call__(shape, dtype=None)")

    def _blocks(self, shape, dtype=None):
        """The _BlockSource of ``self(shape, dtype)``.  Here the whole tensor in one call;
        the classes that can make a block alone override this and make ``__call__`` its
        ``make()``, so that both give the same values by construction."""
        return _opaque_source(self, shape, dtype)

    def get_config(self):
        # every get_config reaches this one (subclasses extend super().get_config()): a
        # model being saved while Keras is loaded records loadable names
        _keras_bridge.register_with_keras()
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def clone(self):
        """A new initializer from this one's config.  With ``seed=None`` the clone draws a
        new random seed (as in Keras): it does not repeat this one's values."""
        return self.__class__.from_config(self.get_config())

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _RandomInitializer(Initializer):
    """Seed handling shared by the random initializers.

    * an int seed: the same values on every call;
    * ``seed=None``: a random seed drawn once, here, from Python's ``random`` module (as in
      Keras: ``keras.utils.set_random_seed`` makes it repeatable); every call repeats its
      values;
    * a ``keras.random.SeedGenerator``: drawn from on every call, so calls differ;
    * ``stream``: which of the seed's independent streams to use (fastki's own argument;
      it appears in ``get_config()`` only when it is not 0).
    """

    def __init__(self, seed=None, stream=0):
        if isinstance(seed, dict):  # a serialized SeedGenerator, from get_config()
            seed = _keras_bridge.keras_saving().deserialize_keras_object(seed)
        if isinstance(seed, np.integer):
            seed = int(seed)
        if not (seed is None or _keras_bridge.is_seed_generator(seed)
                or (type(seed) is int and 0 <= seed < _U64)):
            raise ValueError(
                "`seed` argument should be an instance of `keras.random.SeedGenerator()` "
                f"or an integer in [0, 2**64). Received: seed={_show(seed)}")
        self.stream = _int_arg(stream, "stream", 0, _U64)
        self._init_seed = seed
        # None: one seed for the life of this object, drawn from Python's `random` module as
        # Keras does (make_default_seed), so that random.seed(n) or
        # keras.utils.set_random_seed(n) makes unseeded initializers repeatable.
        self.seed = random.getrandbits(64) if seed is None else seed

    def _call_seed(self):
        """The 64-bit seed of this call: the int seed, or the next SeedGenerator state."""
        if type(self.seed) is int:
            return self.seed
        keras = _keras_bridge.loaded_keras()  # a SeedGenerator: Keras is loaded
        state = keras.ops.convert_to_numpy(self.seed.next())
        # a SeedGenerator state is (seed, counter), each conceptually a uint32
        return (int(state[0]) & _U32_MASK) | ((int(state[1]) & _U32_MASK) << 32)

    def _distribution(self, shape):
        """(fastki.uniform, normal or truncated_normal, its parameters) of the values for
        a validated shape."""
        raise NotImplementedError(f"{type(self).__name__} must implement _distribution(shape)")

    def __call__(self, shape, dtype=None):
        return self._blocks(shape, dtype).make()

    def _blocks(self, shape, dtype=None):
        shape = _shape(shape)
        dt = _float_dtype(dtype)
        fn, params = self._distribution(shape)
        make = functools.partial(_draw, type(self).__name__, fn, shape, dt.name, params,
                                 self._call_seed(), self.stream)
        return _BlockSource(make, shape, dt, True)

    def get_config(self):
        seed = self._init_seed
        if seed is not None and type(seed) is not int:
            seed = _keras_bridge.keras_saving().serialize_keras_object(seed)
        config = {**super().get_config(), "seed": seed}
        if self.stream:
            config["stream"] = self.stream
        return config


def _draw(owner, fn, shape, dtype_name, params, seed, stream, *, block=None, out=None):
    """fn(shape, **params) with the call's seed, or the block of it (into ``out`` when
    given); a refusal (typically a dtype too narrow for the values) is re-raised naming the
    initializer and dtype."""
    try:
        return fn(shape, **params, seed=seed, stream=stream, dtype=dtype_name, block=block,
                  out=out)
    except ValueError as exc:
        raise ValueError(f"{owner} with shape={shape}, dtype={dtype_name}: {exc}") from exc

