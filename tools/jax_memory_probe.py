"""Peak host memory of a sharded fastki.jax initialization (docs/jax.md, "Memory").

Run by hand (it needs about 3 x the array in RAM, for the check against the unsharded values
afterwards):
    XLA_FLAGS=--xla_force_host_platform_device_count=8 \
        python tools/jax_memory_probe.py [GiB] [--keras | --jit]

It resets the kernel's peak-RSS counter (/proc/self/clear_refs, Linux), makes a float32
GlorotUniform weight of the given size (default 2 GiB) sharded over 8 host devices by rows,
reads the peak (VmHWM) and prints the peak above the baseline next to the array's size.
Then it makes the unsharded values and checks every shard's bytes against them.  The exit
status is 0 when the bytes are equal and the peak is at most the array plus 64 MiB.

With --keras the weight is the kernel of a Keras Dense layer built under
keras.distribution.ModelParallel on the JAX backend, initialized by
fastki.keras.GlorotUniform through Keras' own variable code (which passes ``layout=``);
the figure is printed and only the bytes decide the exit status (docs/initializers.md,
"Layout-aware initialization": Keras reshards the result, a copy).

With --jit the weight is ``fastki.jax.initializers.glorot_uniform()`` with key 1 (the
same values) under ``jax.jit(..., out_shardings=...)`` (docs/jax.md, "Under jax.jit"):
XLA allocates each device's shard and the custom call fills it, so the same bound holds;
it also prints the compiled temporaries per device.
"""
import os
import sys

if "--keras" in sys.argv:
    os.environ["KERAS_BACKEND"] = "jax"

import numpy as np

import jax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

import fastki
import fastki.jax as fj


def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def _keras_kernel(shape):
    """The kernel of Dense(shape[1]) on shape[0] inputs, made by Keras under ModelParallel."""
    import keras
    from keras import distribution as D

    import fastki.keras

    mesh = D.DeviceMesh((8,), axis_names=("model",))
    layout_map = D.LayoutMap(mesh)
    layout_map[".*kernel"] = D.TensorLayout(["model", None])
    with D.ModelParallel(layout_map=layout_map, batch_dim_name="model").scope():
        layer = keras.layers.Dense(shape[1], use_bias=False,
                                   kernel_initializer=fastki.keras.GlorotUniform(seed=1))
        layer.build((None, shape[0]))
    return layer.kernel.value


def main():
    args = [a for a in sys.argv[1:] if a not in ("--keras", "--jit")]
    through_keras = "--keras" in sys.argv
    under_jit = "--jit" in sys.argv
    gib = float(args[0]) if args else 2.0
    rows = 8 * 1024
    cols = int(gib * 2**30 / 4 / rows)
    shape = (rows, cols)
    nbytes = rows * cols * 4
    assert jax.device_count() == 8, jax.devices()
    sharding = NamedSharding(Mesh(np.array(jax.devices()), ("x",)), P("x", None))
    init = fastki.GlorotUniform(seed=1)
    make = ((lambda s: _keras_kernel(s)) if through_keras
            else (lambda s: fj.initialize(init, s, sharding=sharding)))
    if under_jit:
        import fastki.jax.initializers as fji

        def make(s):
            return jax.jit(lambda k: fji.glorot_uniform()(k, s), out_shardings=sharding)(
                jax.random.key(1))

        compiled = jax.jit(lambda k: fji.glorot_uniform()(k, shape),
                           out_shardings=sharding).lower(jax.random.key(1)).compile()
        temp = compiled.memory_analysis().temp_size_in_bytes
        print(f"jax.jit: compiled temporaries per device {temp} bytes; output per device "
              f"{compiled.memory_analysis().output_size_in_bytes / 2**20:.0f} MiB")
        del compiled
    make((64, 64))  # warm up: imports, compilations
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status("VmRSS")
    x = make(shape)
    x.block_until_ready()
    peak = _status("VmHWM")
    label = "through Keras" if through_keras else "fastki.jax under jax.jit" if under_jit \
        else "fastki.jax"
    print(f"{label}: "
          f"shape={shape} float32 = {nbytes / 2**20:.0f} MiB over 8 devices; "
          f"peak above baseline {(peak - base) / 2**20:.0f} MiB; "
          f"minus the array {(peak - base - nbytes) / 2**20:.1f} MiB")
    whole = init(shape)
    same = all(np.asarray(s.data).tobytes() == whole[s.index].tobytes()
               for s in x.addressable_shards)
    print("every shard equals that block of the unsharded values:", same)
    if through_keras:
        return 0 if same else 1
    return 0 if same and peak - base <= nbytes + 64 * 2**20 else 1


if __name__ == "__main__":
    sys.exit(main())
