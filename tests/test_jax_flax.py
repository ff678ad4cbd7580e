"""Flax's initialization recipes, as its documentation writes them, with fastki.jax's
initializers (docs/jax.md, "Flax"): linen ``jax.jit(model.init)``, ``jax.vmap`` over keys,
``nnx.eval_shape``, ``nnx.jit`` construction with partitioned initializers on 8 host
devices, ``nnx.vmap`` over keys.  Each gives the bytes of the eager, unsharded model."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

if os.environ.get("FASTKI_SANITIZED"):  # ci/sanitizers.sh: jaxlib exits at import under ASan
    pytest.skip("jaxlib does not load with the ASan runtime preloaded", allow_module_level=True)
pytest.importorskip("jax")
pytest.importorskip("flax")

pytestmark = pytest.mark.integration  # tests/conftest.py: skipped by the wheel and sanitizer suites

_RECIPES = textwrap.dedent("""
    import json
    import numpy as np
    import jax, jax.numpy as jnp
    from jax.sharding import AxisType
    from flax import linen as nn, nnx
    import fastki.jax.initializers as fji

    def same(a, b):
        la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
        return len(la) == len(lb) > 0 and all(
            x.dtype == y.dtype and np.asarray(x).tobytes() == np.asarray(y).tobytes()
            for x, y in zip(la, lb))

    out = {}
    assert jax.device_count() == 8

    # linen: model.init under jax.jit, and vmapped over keys
    class MLP(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Dense(32, kernel_init=fji.he_normal(), bias_init=fji.normal(0.1))(x)
            x = nn.Conv(8, (3, 3), kernel_init=fji.glorot_uniform())(x[:, None, None, :])
            return nn.Embed(50, 6, embedding_init=fji.variance_scaling(
                1.0, "fan_in", "normal", out_axis=0))(jnp.zeros((1,), jnp.int32)) + x.sum()

    model, x, key = MLP(), jnp.ones((2, 5)), jax.random.key(0)
    eager = model.init(key, x)
    out["linen_jit_init"] = same(jax.jit(model.init)(key, x), eager)
    keys = jax.random.split(key, 3)
    batched = jax.vmap(model.init, in_axes=(0, None))(keys, x)
    out["linen_vmap_init"] = all(
        same(jax.tree.map(lambda a: a[i], batched), model.init(keys[i], x)) for i in range(3))
    shapes = jax.eval_shape(model.init, key, x)
    out["linen_eval_shape"] = jax.tree.map(lambda a: (a.shape, str(a.dtype)), shapes) == \\
        jax.tree.map(lambda a: (a.shape, str(a.dtype)), eager)

    # nnx: a block whose parameters are partitioned over a ("data", "model") mesh
    class Block(nnx.Module):
        def __init__(self, d, rngs, partitioned=True):
            part = nnx.with_partitioning if partitioned else (lambda init, spec: init)
            init = fji.lecun_normal()
            self.up = nnx.Linear(d, 4 * d, kernel_init=part(init, (None, "model")),
                                 use_bias=False, rngs=rngs)
            self.down = nnx.Linear(4 * d, d, kernel_init=part(fji.glorot_uniform(),
                                                              ("model", None)),
                                   bias_init=part(fji.zeros, (None,)), rngs=rngs)
            w = init(rngs.params(), (d, d))
            self.w = (nnx.Param(w, sharding=("data", "model")) if partitioned
                      else nnx.Param(w))

    def state(module):
        return nnx.state(module, nnx.Param)

    plain = state(Block(64, rngs=nnx.Rngs(1), partitioned=False))
    abstract = nnx.eval_shape(lambda: Block(64, rngs=nnx.Rngs(1), partitioned=False))
    out["nnx_eval_shape"] = jax.tree.map(lambda a: (a.shape, str(a.dtype)), state(abstract)) \\
        == jax.tree.map(lambda a: (a.shape, str(a.dtype)), plain)

    @nnx.jit
    def create_sharded():
        block = Block(64, rngs=nnx.Rngs(1))
        s = nnx.state(block)
        nnx.update(block, jax.lax.with_sharding_constraint(s, nnx.get_partition_spec(s)))
        return block

    for types in ("Auto", "Explicit"):
        mesh = jax.make_mesh((2, 4), ("data", "model"),
                             axis_types=(getattr(AxisType, types),) * 2)
        with jax.set_mesh(mesh):
            sharded = create_sharded()
        params = state(sharded)
        out["nnx_jit_" + types] = [same(params, plain),
                                   str(sharded.up.kernel[...].sharding.spec),
                                   list(sharded.up.kernel[...].addressable_shards[0].data.shape),
                                   str(sharded.w[...].sharding.spec)]

    # stacked layers (nnx.vmap over keys inside nnx.jit), partitioned: each device makes its
    # own columns of every layer; the compiled temporaries are far below the stack's 4 MiB
    def layer(k, partitioned=True):
        part = nnx.with_partitioning if partitioned else (lambda init, spec: init)
        return nnx.Linear(256, 1024, kernel_init=part(fji.lecun_normal(), (None, "model")),
                          use_bias=False, rngs=nnx.Rngs(params=k))

    stack_keys = jax.random.split(jax.random.key(2), 4)

    @nnx.jit
    def create_stack():
        stack = nnx.vmap(lambda k: layer(k), in_axes=0, out_axes=0,
                         transform_metadata={nnx.PARTITION_NAME: None})(stack_keys)
        s = nnx.state(stack)
        nnx.update(stack, jax.lax.with_sharding_constraint(s, nnx.get_partition_spec(s)))
        return stack

    mesh = jax.make_mesh((2, 4), ("data", "model"), axis_types=(AxisType.Auto,) * 2)
    with jax.set_mesh(mesh):
        stack = create_stack()
        temp = create_stack.lower().compile().memory_analysis().temp_size_in_bytes
    kernel = stack.kernel[...]
    reference = b"".join(np.asarray(layer(k, False).kernel[...]).tobytes() for k in stack_keys)
    out["nnx_stacked"] = [np.asarray(kernel).tobytes() == reference, str(kernel.sharding.spec),
                          list(kernel.addressable_shards[0].data.shape), temp]

    # nnx.vmap over keys: an ensemble of models, one per key
    @nnx.vmap(in_axes=0, out_axes=0)
    def ensemble(k):
        return nnx.Linear(3, 4, kernel_init=fji.he_uniform(), rngs=nnx.Rngs(params=k))

    models = ensemble(keys)
    kernels = np.asarray(models.kernel[...])
    out["nnx_vmap"] = all(
        kernels[i].tobytes() == np.asarray(nnx.Linear(3, 4, kernel_init=fji.he_uniform(),
                                                      rngs=nnx.Rngs(params=keys[i]))
                                           .kernel[...]).tobytes() for i in range(3))
    print(json.dumps(out))
""")


def test_flax_recipes_give_the_eager_bytes(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    # run from tmp_path: "-c" puts the working directory first on sys.path
    proc = subprocess.run([sys.executable, "-c", _RECIPES], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for recipe in ("linen_jit_init", "linen_vmap_init", "linen_eval_shape", "nnx_eval_shape",
                   "nnx_vmap"):
        assert out[recipe] is True, recipe
    equal, spec, shard, temp = out["nnx_stacked"]
    assert equal and spec == "P(None, None, 'model')" and shard == [4, 256, 256]
    assert temp < 4 * 256 * 1024 * 4 // 8  # under one device's share of the stack
    for types in ("Auto", "Explicit"):
        equal, up_spec, up_shard, w_spec = out["nnx_jit_" + types]
        assert equal, types
        assert (up_spec, up_shard, w_spec) == ("P(None, 'model')", [64, 64], "P('data', 'model')")
