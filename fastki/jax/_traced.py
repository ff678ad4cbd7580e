"""fastki's values inside a traced computation (jax.jit, jax.eval_shape, jax.vmap, nnx.jit):
one custom call to the C kernel (fastki/jax/_ffi.py), partitioned block by block.

``traced_array(description, make, shape, dtype, words)`` is the jax.Array of shape and
dtype whose values are ``make(seed, block, out)`` with seed the key's two words
``words`` (a traced uint32[2]).  It is

- a ``custom_partitioning`` op: when the partitioner shards the result (jit's
  ``out_shardings``, ``with_sharding_constraint``, Flax's partitioned variables), every
  device runs the custom call for its own block, whose position it looks up by its
  partition id in a table made from the sharding; each element is a function of its global index
  alone (docs/algorithm.md, section 2), so the shards are the unsharded bytes;
- a ``custom_vmap`` op: over a batch of keys, one custom call (partitioned the same way,
  the batch dimension included) makes every key's array.

That is XLA's CPU backend, where the custom call is registered.  On another default backend
(GPU, TPU) the whole array is made on the host by a ``jax.pure_callback`` and copied: the
same bytes, without per-shard making (a pure_callback cannot live inside
custom_partitioning: fastki/jax/_ffi.py).

The eager path (fastki/jax/_shards.py) and this one call the same ``make`` of the same
block source, so a traced result has the bytes of the eager one.
"""
import functools
import math

import numpy as np

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental.custom_partitioning import custom_partitioning
from jax.sharding import NamedSharding, PartitionSpec

from . import _ffi

# the dtypes the custom call writes (fastki's float dtypes, and integer Constants)
_DTYPES = ("float32", "float64", "float16", "bfloat16", "int32", "int64", "uint32",
           "uint64")


# the one axis of the mesh handed back to the partitioner: the devices in the order of the
# computation's device assignment, so that the axis index is the partition id
_PARTITION_AXIS = "fastki_partition"


def _block_table(sharding, shape, devices):
    """(block shape, uint32[len(devices), rank]: each device's block index), or None when
    ``sharding`` does not tile ``shape`` evenly.  Any Sharding (a NamedSharding, or the
    GSPMDSharding the partitioner gives where no mesh is in context) says through
    ``devices_indices_map`` which slice each device holds."""
    try:
        block = sharding.shard_shape(shape)
        slices = sharding.devices_indices_map(shape)
    except ValueError:
        return None
    table = np.zeros((len(devices), len(shape)), np.uint32)
    for row, device in enumerate(devices):
        for dim, (part, length) in enumerate(zip(slices[device], block)):
            table[row, dim] = (part.start or 0) // length if length else 0
    return block, table


def _fill_call(number, shape, dtype, words, index):
    return jax.ffi.ffi_call(_ffi.TARGET, jax.ShapeDtypeStruct(shape, dtype),
                            vmap_method="sequential")(words, index, recipe=np.int64(number))


def _partitioned_fill(number, shape, dtype, batched):
    """The custom_partitioning op making recipe ``number``: from one key's words (uint32[2])
    an array of ``shape``, or with ``batched`` from uint32[keys, 2] an array of
    ``(keys, *shape)``, whose leading dimension may be sharded like any other."""
    def result_shape(words):
        return ((words.shape[0],) if batched else ()) + shape

    @custom_partitioning
    def fill(words):
        full = result_shape(words)
        return _fill_call(number, full, dtype, words, jnp.zeros((len(full),), jnp.uint32))

    def replicated(mesh, arg_shapes, result_shape):
        return NamedSharding(mesh, PartitionSpec())

    def partition(mesh, arg_shapes, result_shape):
        full = tuple(result_shape.shape)
        out = result_shape.sharding
        # without a mesh in context the partitioner gives a GSPMDSharding over the device
        # assignment (custom_partitioning's lowering, jax 0.10.2)
        devices = (tuple(mesh.devices.flat) if not mesh.empty
                   else tuple(out._device_assignment))
        line = jax.sharding.Mesh(np.array(devices), (_PARTITION_AXIS,))
        tiling = _block_table(out, full, devices)
        if tiling is None:  # an uneven tiling: the whole on every device, sliced by XLA
            out = NamedSharding(line, PartitionSpec())
            tiling = _block_table(out, full, devices)
        assert tiling is not None  # a replicated sharding tiles every shape
        block, table = tiling

        def lower(words):  # every device has all the keys' words (a few bytes)
            index = jnp.asarray(table)[lax.axis_index(_PARTITION_AXIS)]
            return _fill_call(number, block, dtype, words, index)

        return line, lower, out, (NamedSharding(line, PartitionSpec()),)

    # the keys' words are factors of their own, each dimension of the result another: the
    # result may be sharded along any dimension whatever the words' sharding
    dims = " ".join(f"d{i}" for i in range(len(shape)))
    rule = f"k w -> b {dims}" if batched else f"w -> {dims}"
    fill.def_partition(infer_sharding_from_operands=replicated, partition=partition,
                       sharding_rule=rule)
    return fill


@functools.lru_cache(maxsize=None)
def _op(number, shape, dtype):
    """The op making recipe ``number`` from the key's words, batchable: under jax.vmap one
    custom call makes the arrays of all the keys (nested vmaps: of the flattened keys)."""
    single = _partitioned_fill(number, shape, dtype, batched=False)
    batch = _partitioned_fill(number, shape, dtype, batched=True)

    @jax.custom_batching.custom_vmap
    def op(words):
        return single(words)

    @jax.custom_batching.custom_vmap
    def batched_op(words):
        return batch(words)

    @op.def_vmap
    def op_rule(axis_size, in_batched, words):
        if not in_batched[0]:
            return op(words), False
        return batched_op(words), True

    @batched_op.def_vmap
    def batched_rule(axis_size, in_batched, words):
        if not in_batched[0]:
            return batched_op(words), False
        flat = batched_op(words.reshape(-1, 2))
        return flat.reshape(words.shape[:-1] + shape), True

    return op


def _custom_call_backend():
    """Whether traced calls compile for XLA's CPU backend, where ``fastki_fill`` is
    registered (JAX compiles for its default backend unless told otherwise)."""
    return jax.default_backend() == "cpu"


@functools.lru_cache(maxsize=None)
def _host_op(number, shape, dtype):
    """Other backends: the whole array made on the host by a ``jax.pure_callback`` (one
    call, per key under vmap) and copied to the device; XLA slices it for a sharding."""
    rank = len(shape)

    def host(words):
        out = np.empty(shape, dtype)
        _ffi.fill(number, np.asarray(words), np.zeros(rank, np.uint32), out)
        return out

    def op(words):
        return jax.pure_callback(host, jax.ShapeDtypeStruct(shape, dtype), words,
                                 vmap_method="sequential")

    return op


def traced_array(description, make, shape, dtype, words):
    """The jax.Array of ``make`` (fastki/jax/_ffi.py's recipe) for the traced key words
    ``words`` (uint32[2]); ``description`` (hashable) names the recipe."""
    dtype = np.dtype(dtype)
    if dtype.name not in _DTYPES:
        raise TypeError(f"dtype={dtype.name} cannot be made under tracing (the custom call "
                        f"writes {', '.join(_DTYPES)})")
    number = _ffi.recipe_number(description, make)
    if math.prod(shape) == 0:
        return jnp.zeros(shape, dtype)
    if not _custom_call_backend():
        return _host_op(number, tuple(shape), dtype)(words)
    _ffi.register()
    return _op(number, tuple(shape), dtype)(words)
