"""Peak host memory of a sharded fastki.jax initialization (docs/jax.md, "Memory").

Run by hand (it needs about 3 x the array in RAM, for the check against the unsharded values
afterwards):
    XLA_FLAGS=--xla_force_host_platform_device_count=8 python tools/jax_memory_probe.py [GiB]

It resets the kernel's peak-RSS counter (/proc/self/clear_refs, Linux), makes a float32
GlorotUniform weight of the given size (default 2 GiB) sharded over 8 host devices by rows,
reads the peak (VmHWM) and prints the peak above the baseline next to the array's size.
Then it makes the unsharded values and checks every shard's bytes against them.
"""
import sys

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


def main():
    gib = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
    rows = 8 * 1024
    cols = int(gib * 2**30 / 4 / rows)
    shape = (rows, cols)
    nbytes = rows * cols * 4
    assert jax.device_count() == 8, jax.devices()
    sharding = NamedSharding(Mesh(np.array(jax.devices()), ("x",)), P("x", None))
    init = fastki.GlorotUniform(seed=1)
    fj.initialize(init, (64, 64), sharding=NamedSharding(sharding.mesh, P("x")))  # warm up
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status("VmRSS")
    x = fj.initialize(init, shape, sharding=sharding)
    x.block_until_ready()
    peak = _status("VmHWM")
    print(f"shape={shape} float32 = {nbytes / 2**20:.0f} MiB over 8 devices; "
          f"peak above baseline {(peak - base) / 2**20:.0f} MiB; "
          f"minus the array {(peak - base - nbytes) / 2**20:.1f} MiB")
    whole = init(shape)
    same = all(np.asarray(s.data).tobytes() == whole[s.index].tobytes()
               for s in x.addressable_shards)
    print("every shard equals that block of the unsharded values:", same)
    return 0 if same and peak - base <= nbytes + 64 * 2**20 else 1


if __name__ == "__main__":
    sys.exit(main())
