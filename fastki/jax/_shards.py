"""Arrays made shard by shard: the one place fastki.jax (and fastki.keras' layout=) turns a
block source into a jax.Array, each addressable shard filled alone with fastki's block=.
Shared by fastki/jax/__init__.py and fastki/jax/initializers.py, which import it and not
each other."""
import math

import jax
import numpy as np

from .._validate import _block_arg, _show


def _concrete(sharding, name="sharding"):
    """A sharding with devices: a ``keras.distribution.TensorLayout`` gives its backend
    layout, a PartitionSpec is taken over the mesh of ``jax.set_mesh``, and a NamedSharding
    over an abstract mesh (what Keras passes inside
    ``jax.set_mesh``) is bound to the concrete mesh of that context."""
    backend_layout = getattr(sharding, "backend_layout", None)
    if backend_layout is not None and not isinstance(sharding, jax.sharding.Sharding):
        sharding = backend_layout
    if isinstance(sharding, jax.sharding.PartitionSpec):  # as JAX: under jax.set_mesh
        mesh = jax.sharding.get_mesh()
        if not isinstance(mesh, jax.sharding.Mesh) or mesh.empty:
            raise ValueError(f"{name} is a PartitionSpec and no mesh is set (jax.set_mesh)")
        sharding = jax.sharding.NamedSharding(mesh, sharding)
    if not isinstance(sharding, jax.sharding.Sharding):
        raise TypeError(f"{name} must be a jax.sharding.Sharding or a "
                        f"keras.distribution.TensorLayout, got {_show(sharding)}")
    if isinstance(sharding, jax.sharding.NamedSharding) and isinstance(
            sharding.mesh, jax.sharding.AbstractMesh):
        mesh = jax.sharding.get_mesh()
        if mesh is None or getattr(mesh, "empty", True) or isinstance(
                mesh, jax.sharding.AbstractMesh):
            raise ValueError(f"{name} is a NamedSharding over an abstract mesh and no "
                             "concrete mesh is set (jax.set_mesh)")
        sharding = jax.sharding.NamedSharding(mesh, sharding.spec)
    return sharding


def _check_dtype(dtype):
    """float64 needs JAX's 64-bit mode: refuse rather than let JAX round to float32."""
    if np.dtype(dtype).kind == "c":
        raise TypeError(f"dtype={np.dtype(dtype).name}: fastki makes real values, not complex")
    if np.dtype(dtype).itemsize == 8 and not jax.config.read("jax_enable_x64"):
        raise TypeError(f"dtype={np.dtype(dtype).name} needs jax.config.update("
                        "'jax_enable_x64', True); JAX would silently make float32")


# JAX's CPU client takes a NumPy buffer aligned to this many bytes without copying it
_ALIGN = 64


def _aligned_empty(shape, dtype):
    """An uninitialized C-contiguous array whose data starts on an _ALIGN-byte boundary."""
    nbytes = math.prod(shape) * dtype.itemsize
    raw = np.empty(nbytes + _ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % _ALIGN
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def _from_source(source, sharding, name="sharding"):
    """The jax.Array of an initializers._BlockSource, whole or shard by shard.

    Shard by shard: for each addressable device, its block is made alone into an aligned
    buffer and put on the device (on CPU devices JAX adopts the buffer: no copy), so the
    host holds the shards and nothing else.  A source that is not blockwise is made whole
    once and sliced.  A block held by several devices (a replicated dimension) is made
    once and copied.
    """
    _check_dtype(source.dtype)
    if sharding is None:
        out = _aligned_empty(source.shape, source.dtype)
        return jax.device_put(source.make(out=out) if source.blockwise else source.make())
    sharding = _concrete(sharding, name)
    whole = None if source.blockwise else source.make()
    arrays = []
    made = {}  # a replicated block is made once; each further device gets its own copy
    for device, index in sharding.addressable_devices_indices_map(source.shape).items():
        assert index is not None  # every addressable device holds a block
        bounds = _block_arg(tuple(index), source.shape)
        out = _aligned_empty(tuple(b - a for a, b in bounds), source.dtype)
        if bounds in made:
            out[...] = made[bounds]
        elif whole is None:
            source.make(block=tuple(slice(a, b) for a, b in bounds), out=out)
        else:
            out[...] = whole[tuple(slice(a, b) for a, b in bounds)]
        made.setdefault(bounds, out)
        arrays.append(jax.device_put(out, device))
        del out
    del made
    return jax.make_array_from_single_device_arrays(source.shape, sharding, arrays)
