"""fastki.jax.initializers under tracing (docs/jax.md, "Under jax.jit"): a traced key gives
the bytes of the eager call, through jit, eval_shape and vmap; sharded under jit each device
makes its own block; and the rules of jax.nn.initializers (fans, modes, dtype default,
positional order)."""
import inspect
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

if os.environ.get("FASTKI_SANITIZED"):  # ci/sanitizers.sh: jaxlib exits at import under ASan
    pytest.skip("jaxlib does not load with the ASan runtime preloaded", allow_module_level=True)
jax = pytest.importorskip("jax")
pytest.importorskip("ml_dtypes")

import jax.numpy as jnp  # noqa: E402

import fastki.jax.initializers as fji  # noqa: E402
from fastki.jax import _ffi  # noqa: E402

pytestmark = pytest.mark.integration  # tests/conftest.py: skipped by the wheel and sanitizer suites

_FACTORIES = {
    "zeros": lambda: fji.zeros,
    "ones": lambda: fji.ones,
    "constant": lambda: fji.constant(-1.25),
    "constant_array": lambda: fji.constant(np.arange(6.0).reshape(1, 6)),
    "normal": lambda: fji.normal(0.5),
    "uniform": lambda: fji.uniform(3.0),
    "truncated_normal": lambda: fji.truncated_normal(0.3, None, -1.0, 1.5),
    "glorot_uniform": fji.glorot_uniform,
    "glorot_normal": fji.glorot_normal,
    "he_uniform": fji.he_uniform,
    "he_normal": fji.he_normal,
    "lecun_uniform": fji.lecun_uniform,
    "lecun_normal": fji.lecun_normal,
    "embedding": lambda: fji.variance_scaling(1.0, "fan_in", "normal", out_axis=0),
    "fan_geo_avg": lambda: fji.variance_scaling(2.0, "fan_geo_avg", "truncated_normal"),
    "fan_out_batch": lambda: fji.variance_scaling(0.5, "fan_out", "uniform", in_axis=1,
                                                  out_axis=2, batch_axis=0),
    "orthogonal": lambda: fji.orthogonal(2.0, 0),
    "delta_orthogonal": lambda: fji.delta_orthogonal(1.5),
}
_SHAPES = [(4, 5, 6), (3, 4, 6), (2, 3, 4, 6)]  # every factory takes these (delta: last >= -2)
_DTYPES = ["float32", "bfloat16", "float16"]


def _bytes(x):
    return np.asarray(x).tobytes()


@pytest.mark.parametrize("name", sorted(_FACTORIES))
def test_jit_eval_shape_and_vmap_give_the_eager_bytes(name):
    init = _FACTORIES[name]()
    key = jax.random.key(20261206)
    keys = jax.random.split(key, 3)
    for shape in _SHAPES:
        for dtype in _DTYPES:
            eager = init(key, shape, dtype)
            traced = jax.jit(lambda k, s=shape, d=dtype: init(k, s, d))(key)
            assert traced.dtype == eager.dtype == jnp.dtype(dtype)
            assert traced.shape == eager.shape == shape
            assert _bytes(traced) == _bytes(eager), (shape, dtype)
        abstract = jax.eval_shape(lambda k, s=shape: init(k, s, "bfloat16"), key)
        assert (abstract.shape, abstract.dtype) == (shape, jnp.bfloat16)
    shape = _SHAPES[0]
    one_by_one = b"".join(_bytes(init(k, shape)) for k in keys)
    assert _bytes(jax.vmap(lambda k: init(k, shape))(keys)) == one_by_one
    assert _bytes(jax.jit(jax.vmap(lambda k: init(k, shape)))(keys)) == one_by_one
    grid = jax.random.split(key, 6).reshape(2, 3)  # nested vmaps: the keys flattened
    nested = jax.jit(jax.vmap(jax.vmap(lambda k: init(k, shape))))(grid)
    assert nested.shape == (2, 3) + shape
    assert _bytes(nested) == b"".join(_bytes(init(k, shape)) for k in grid.reshape(6))


def test_raw_uint32_keys_and_folded_keys_under_jit():
    init = fji.he_uniform()
    raw = jax.random.PRNGKey(7)
    assert _bytes(jax.jit(lambda k: init(k, (9, 4)))(raw)) == _bytes(init(raw, (9, 4)))
    folded = jax.jit(lambda k: init(jax.random.fold_in(k, 3), (9, 4)))(jax.random.key(1))
    assert _bytes(folded) == _bytes(init(jax.random.fold_in(jax.random.key(1), 3), (9, 4)))


def test_traced_calls_check_their_arguments_when_traced():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="Delta orthogonal initializer requires a 3D"):
        jax.jit(lambda k: fji.delta_orthogonal()(k, (4, 4)))(key)
    with pytest.raises(ValueError, match="`fan_in` must be less or equal than `fan_out`"):
        jax.jit(lambda k: fji.delta_orthogonal()(k, (3, 5, 4)))(key)
    with pytest.raises(ValueError, match="in_axis=5 is out of range"):
        jax.jit(lambda k: fji.lecun_normal(in_axis=5)(k, (3, 4)))(key)
    with pytest.raises(ValueError, match="single two-word"):
        jax.jit(lambda k: fji.normal()(k, (3,)))(jax.random.split(key, 2))
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        jax.jit(lambda k: fji.normal()(k.astype(jnp.float32), (3,)))(jnp.zeros(2))
    if not jax.config.jax_enable_x64:
        with pytest.raises(TypeError, match="jax_enable_x64"):
            jax.jit(lambda k: fji.normal()(k, (3,), "float64"))(key)
    with pytest.raises(TypeError, match="key_seed needs a concrete key"):
        jax.jit(fji.key_seed)(key)
    with pytest.raises(TypeError, match="key_seed needs a concrete key"):
        jax.jit(lambda: fji.key_seed(key))()
    with pytest.raises(TypeError, match="fastki makes real values, not complex"):
        fji.normal()(key, (3,), jnp.complex64)
    with pytest.raises(TypeError, match="stddev must be a real number"):
        jax.jit(lambda s: fji.normal(s)(key, (3,)))(1.0)


def test_a_concrete_key_inside_jit_gives_the_eager_bytes():
    key = jax.random.key(8)
    init = fji.glorot_normal()
    assert _bytes(jax.jit(lambda: init(key, (5, 7)))()) == _bytes(init(key, (5, 7)))


def test_an_error_in_the_custom_call_is_raised_not_a_crash():
    def failing(seed, block, out):
        raise RuntimeError(f"no values for seed {seed}")

    _ffi.register()
    number = _ffi.recipe_number(("test", "failing"), failing)
    call = jax.ffi.ffi_call(_ffi.TARGET, jax.ShapeDtypeStruct((3,), jnp.float32))
    with pytest.raises(Exception, match="fastki_fill: RuntimeError: no values for seed 5"):
        np.asarray(call(jnp.array([0, 5], jnp.uint32), jnp.zeros(1, jnp.uint32),
                        recipe=np.int64(number)))


# --------------------------------------------------------------------------- JAX's rules


def _std_within(ours, theirs, rel):
    a = float(np.std(np.asarray(ours, np.float64)))
    b = float(np.std(np.asarray(theirs, np.float64)))
    assert abs(a / b - 1) < rel, (a, b)


def test_flax_embedding_init_fans_where_in_and_out_axes_coincide():
    # Flax's Embed: variance_scaling(1, "fan_in", "normal", out_axis=0) on (num, features):
    # in_axis=-2 and out_axis=0 are the same axis, so fan_in is the element count over it
    # twice, i.e. features (16) and std 1/4.  (1000 x 16 = 16000 draws: the sample std of
    # a normal is within 3% of its value with probability 1 - 3e-11.)
    key = jax.random.key(3)
    ours = fji.variance_scaling(1.0, "fan_in", "normal", out_axis=0)(key, (1000, 16))
    theirs = jax.nn.initializers.variance_scaling(1.0, "fan_in", "normal", out_axis=0)(
        key, (1000, 16))
    assert abs(float(np.std(np.asarray(ours))) - 0.25) < 0.25 * 0.03
    _std_within(ours, theirs, 0.03)


@pytest.mark.parametrize("distribution", ["normal", "truncated_normal", "uniform"])
def test_fan_geo_avg_matches_jax(distribution):
    key = jax.random.key(4)
    shape = (3, 3, 40, 160)  # fan_in 360, fan_out 1440: geometric mean 720
    ours = fji.variance_scaling(2.0, "fan_geo_avg", distribution)(key, shape)
    theirs = jax.nn.initializers.variance_scaling(2.0, "fan_geo_avg", distribution)(key, shape)
    # 57600 draws: each sample std within 1.5% of sqrt(2 / 720) (probability > 1 - 1e-9)
    target = np.sqrt(2.0 / 720)
    for x in (ours, theirs):
        assert abs(float(np.std(np.asarray(x))) / target - 1) < 0.015
    _std_within(ours, theirs, 0.03)


@pytest.mark.parametrize("shape", [(3, 4, 6), (3, 5, 4, 4), (3, 3, 3, 2, 5)])
def test_delta_orthogonal_is_jax_s_structure(shape):
    key = jax.random.key(5)
    ours = np.asarray(fji.delta_orthogonal(scale=2.0)(key, shape), np.float64)
    theirs = np.asarray(jax.nn.initializers.delta_orthogonal(scale=2.0)(key, shape))
    assert ours.shape == theirs.shape
    centre = tuple((k - 1) // 2 for k in shape[:-2])
    nonzero = np.argwhere(np.any(ours != 0, axis=(-2, -1)))
    assert [tuple(i) for i in nonzero] == [centre]
    assert [tuple(i) for i in np.argwhere(np.any(theirs != 0, axis=(-2, -1)))] == [centre]
    m = ours[centre]  # (in, out) with in <= out: orthonormal rows, times the scale
    np.testing.assert_allclose(m @ m.T, 4.0 * np.eye(shape[-2]), atol=1e-5)


def test_dtype_default_is_jax_s_default_float():
    key = jax.random.key(6)
    expected = jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
    for name in sorted(_FACTORIES):
        init = _FACTORIES[name]()
        assert init(key, (3, 4, 6)).dtype == expected, name
        assert jax.jit(lambda k: init(k, (3, 4, 6)))(key).dtype == expected, name
    assert fji.normal(dtype=jnp.bfloat16)(key, (2,)).dtype == jnp.bfloat16
    assert fji.normal()(key, (2,), jnp.float16).dtype == jnp.float16


_NAMES = ["zeros", "ones", "constant", "uniform", "normal", "truncated_normal",
          "variance_scaling", "glorot_uniform", "glorot_normal", "xavier_uniform",
          "xavier_normal", "he_uniform", "he_normal", "kaiming_uniform", "kaiming_normal",
          "lecun_uniform", "lecun_normal", "orthogonal", "delta_orthogonal"]


@pytest.mark.parametrize("name", _NAMES)
def test_positional_order_and_defaults_are_jax_s(name):
    def params(fn):
        return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()]

    theirs = getattr(jax.nn.initializers, name)
    ours = getattr(fji, name)
    assert params(ours) == params(theirs)
    if name not in ("zeros", "ones"):
        args = (1.0, "fan_in", "normal") if name == "variance_scaling" else (
            (0.5,) if name == "constant" else ())
        assert params(ours(*args)) == params(theirs(*args))


def test_truncated_normal_second_positional_argument_is_dtype():
    init = fji.truncated_normal(0.5, jnp.float16)
    assert init(jax.random.key(0), (4,)).dtype == jnp.float16


# --------------------------------------------------------------------------- 8 devices, x64

_SUBPROCESS = textwrap.dedent("""
    import json, sys, numpy as np, jax, jax.numpy as jnp
    if sys.argv[1] == "x64":
        jax.config.update("jax_enable_x64", True)
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P, AxisType
    import fastki, fastki.jax.initializers as fji
    out = {}
    key = jax.random.key(11)
    if sys.argv[1] == "x64":
        for name, init in [("normal", fji.normal(2.0)), ("glorot_uniform", fji.glorot_uniform()),
                           ("truncated_normal", fji.truncated_normal(0.5)),
                           ("orthogonal", fji.orthogonal()), ("zeros", fji.zeros)]:
            e = init(key, (6, 10))
            t = jax.jit(lambda k: init(k, (6, 10)))(key)
            j = getattr(jax.nn.initializers, name)
            j = j if name == "zeros" else (j() if name != "normal" else j(2.0))
            out[name] = [str(e.dtype), str(t.dtype), str(j(key, (6, 10)).dtype),
                         np.asarray(e).tobytes() == np.asarray(t).tobytes()]
        print(json.dumps(out))
        sys.exit(0)

    # every block the custom call makes, as (global shape, block shape)
    import fastki.jax.initializers as module
    made = []
    real = module._make_block
    def spy(build, shape, dtype, seed, block, out_):
        made.append([list(shape), list(out_.shape)])
        return real(build, shape, dtype, seed, block, out_)
    module._make_block = spy

    devs = np.array(jax.devices())
    assert len(devs) == 8
    results = []
    for mshape, names in [((8,), ("x",)), ((2, 4), ("a", "b"))]:
        mesh = Mesh(devs.reshape(mshape), names)
        specs = ([P(), P("x"), P(None, "x")] if len(names) == 1 else
                 [P("a", "b"), P("b", "a"), P(None, ("a", "b")), P(("b", "a"))])
        for spec in specs:
            for name, init in [("he_uniform", fji.he_uniform()),
                               ("truncated_normal", fji.truncated_normal(0.2, jnp.bfloat16)),
                               ("orthogonal", fji.orthogonal())]:
                shape = (16, 24)
                sharding = NamedSharding(mesh, spec)
                del made[:]
                x = jax.jit(lambda k: init(k, shape), out_shardings=sharding)(key)
                ok = np.asarray(x).tobytes() == np.asarray(init(key, shape)).tobytes()
                blocks = {tuple(b) for _, b in made}
                results.append([str(mshape), str(spec), name, ok,
                                blocks == {sharding.shard_shape(shape)}])
    # vmap over 8 keys under jit: one custom call, the key dimension sharded like the others
    mesh = Mesh(devs.reshape(4, 2), ("a", "b"))
    keys = jax.random.split(key, 8)
    init = fji.he_normal()
    for spec in [P("a"), P("a", "b"), P(None, "b"), P(("a", "b"))]:
        sharding = NamedSharding(mesh, spec)
        del made[:]
        x = jax.jit(jax.vmap(lambda k: init(k, (16, 6))), out_shardings=sharding)(keys)
        ok = np.asarray(x).tobytes() == b"".join(
            np.asarray(init(k, (16, 6))).tobytes() for k in keys)
        per_key = sharding.shard_shape((8, 16, 6))[1:]
        results.append(["(4, 2)", str(spec) + " vmap", "he_normal", ok,
                        {tuple(b) for _, b in made} == {per_key}])

    # a constraint that does not tile the shape evenly (10 rows over 8 devices)
    uneven = NamedSharding(Mesh(devs, ("x",)), P("x"))
    init = fji.normal(1.0)
    y = jax.jit(lambda k: jax.lax.with_sharding_constraint(init(k, (10, 4)), uneven))(key)
    results.append(["(8,)", "P('x') uneven", "normal",
                    np.asarray(y).tobytes() == np.asarray(init(key, (10, 4))).tobytes(), True])
    out["sharded"] = results

    # the (8192, 8192) float32 check: each device makes its (1024, 8192) rows and nothing more
    n = 8192
    init = fji.normal(1.0)
    sharding = NamedSharding(Mesh(devs, ("x",)), P("x"))
    del made[:]
    compiled = jax.jit(lambda k: init(k, (n, n)), out_shardings=sharding).lower(key).compile()
    mem = compiled.memory_analysis()
    x = compiled(key)
    whole = fastki.normal((n, n), 0.0, 1.0, seed=fji.key_seed(key))
    out["big"] = {"temp": mem.temp_size_in_bytes, "output": mem.output_size_in_bytes,
                  "shard": n * n * 4 // 8,
                  "equal": all(np.asarray(s.data).tobytes() == whole[s.index].tobytes()
                               for s in x.addressable_shards),
                  "blocks": sorted({tuple(b) for _, b in made})}
    del x, whole

    # Flax: nnx.with_partitioning eagerly under jax.set_mesh and inside nnx.jit
    from flax import nnx
    plain = np.asarray(nnx.Linear(16, 32, kernel_init=fji.lecun_normal(),
                                  rngs=nnx.Rngs(0)).kernel[...])
    for types in ("Auto", "Explicit"):
        mesh = jax.make_mesh((2, 4), ("a", "b"), axis_types=(getattr(AxisType, types),) * 2)
        with jax.set_mesh(mesh):
            init = nnx.with_partitioning(fji.lecun_normal(), (None, "b"))
            eager = nnx.Linear(16, 32, kernel_init=init, rngs=nnx.Rngs(0)).kernel[...]
            create = nnx.jit(lambda: nnx.Linear(16, 32, kernel_init=nnx.with_partitioning(
                fji.lecun_normal(), ("a", "b")), rngs=nnx.Rngs(0)))
            jitted = create().kernel[...]
        out["nnx_" + types] = [np.asarray(eager).tobytes() == plain.tobytes(),
                               str(eager.sharding.spec),
                               np.asarray(jitted).tobytes() == plain.tobytes(),
                               str(jitted.sharding.spec),
                               [list(s.data.shape) for s in jitted.addressable_shards][0]]
    print(json.dumps(out))
""")


def _run(mode, tmp_path):
    # run from tmp_path: "-c" puts the working directory first on sys.path, and from the
    # checkout that would import its fastki/ (no extension) instead of the installed one
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _SUBPROCESS, mode], env=env,
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_x64_dtype_default_and_float64_bytes_under_jit(tmp_path):
    out = _run("x64", tmp_path)
    for name, (eager, traced, theirs, same) in out.items():
        assert eager == traced == theirs == "float64", name
        assert same, name


def test_sharded_under_jit_each_device_makes_its_own_block(tmp_path):
    out = _run("sharded", tmp_path)
    assert len(out["sharded"]) == 26
    bad = [r for r in out["sharded"] if not r[3] or (r[2] != "orthogonal" and not r[4])]
    assert not bad, bad
    big = out["big"]
    assert big["equal"]
    assert big["blocks"] == [[1024, 8192]]
    assert big["output"] == big["shard"]
    assert big["temp"] <= 4 * big["shard"]  # the bound; measured: a few bytes
    for types in ("Auto", "Explicit"):
        eager_same, eager_spec, jit_same, jit_spec, shard = out["nnx_" + types]
        assert eager_same and jit_same, types
        assert (eager_spec, jit_spec) == ("P(None, 'b')", "P('a', 'b')")
        assert shard == [8, 8]


def test_scalars_and_empty_shapes_under_jit():
    init = fji.normal(2.0)
    key = jax.random.key(9)
    for shape in [(), (5,), (0, 3), (4, 0)]:
        traced = jax.jit(lambda k, s=shape: init(k, s))(key)
        assert traced.shape == shape and _bytes(traced) == _bytes(init(key, shape))


def test_partition_spec_out_sharding_needs_a_mesh():
    with pytest.raises(ValueError, match="out_sharding is a PartitionSpec and no mesh is set"):
        fji.normal()(jax.random.key(0), (4,), out_sharding=jax.sharding.PartitionSpec())
    mesh = jax.make_mesh((1,), ("x",))
    with jax.set_mesh(mesh):
        x = fji.normal()(jax.random.key(0), (4,), out_sharding=jax.sharding.PartitionSpec("x"))
        assert x.sharding.spec == jax.sharding.PartitionSpec("x")
    assert _bytes(x) == _bytes(fji.normal()(jax.random.key(0), (4,)))


def test_bench_jit_line_reports_both_sides():
    # the structure of `python -m fastki bench`'s jit line (no speed asserted here)
    from fastki.jax import _bench

    result = _bench.jit_seconds((8, 8), repeat=1)
    assert set(result) == {"fastki_s", "jax_s", "speedup"}
    assert result["fastki_s"] > 0 and result["jax_s"] > 0
    assert result["speedup"] == result["jax_s"] / result["fastki_s"]


def test_other_backends_make_the_whole_array_on_the_host(monkeypatch):
    # where the default backend is not XLA's CPU (no fastki_fill there), a pure_callback
    # makes the whole array on the host: forced here on CPU, the same bytes
    from fastki.jax import _traced

    monkeypatch.setattr(_traced, "_custom_call_backend", lambda: False)
    key = jax.random.key(12)
    keys = jax.random.split(key, 2)
    for name in ("he_normal", "truncated_normal", "orthogonal", "constant"):
        init = _FACTORIES[name]()
        for dtype in _DTYPES:
            traced = jax.jit(lambda k, d=dtype: init(k, (3, 4, 6), d))(key)
            assert _bytes(traced) == _bytes(init(key, (3, 4, 6), dtype)), (name, dtype)
        batched = jax.jit(jax.vmap(lambda k: init(k, (4, 6))))(keys)
        assert _bytes(batched) == b"".join(_bytes(init(k, (4, 6))) for k in keys), name
    lowered = jax.jit(lambda k: fji.normal()(k, (4,))).lower(key).as_text()
    assert "fastki_fill" not in lowered
