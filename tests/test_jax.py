"""fastki.jax: the fills and initializers as jax.Array, sharded shard by shard (each shard made
alone from its block=) and byte-equal to the unsharded NumPy values; jax.nn-style factories
whose values are a documented function of the key's data (docs/jax.md)."""
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

import fastki  # noqa: E402
import fastki.jax as fj  # noqa: E402
import fastki.jax.initializers as fji  # noqa: E402
from fastki import initializers as F  # noqa: E402

pytestmark = pytest.mark.integration  # tests/conftest.py: skipped by the wheel and sanitizer suites


def _bytes(x):
    return np.asarray(x).tobytes()


def test_import_fastki_imports_neither_jax_nor_keras():
    code = ("import sys, fastki, fastki.initializers, fastki.dask\n"
            "bad = [m for m in ('jax', 'keras', 'fastki.jax', 'fastki.keras') if m in sys.modules]\n"
            "assert not bad, bad\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.parametrize("name, ours, ref", [
    ("uniform", lambda: fj.uniform((33, 7), -2.0, 3.0, seed=5, stream=2),
     lambda: fastki.uniform((33, 7), -2.0, 3.0, seed=5, stream=2)),
    ("normal", lambda: fj.normal((5, 6, 7), 1.0, 0.5, seed=6),
     lambda: fastki.normal((5, 6, 7), 1.0, 0.5, seed=6)),
    ("truncated_normal", lambda: fj.truncated_normal((100,), 0.0, 2.0, lower=-1.0, upper=3.0,
                                                     seed=7, dtype="bfloat16"),
     lambda: fastki.truncated_normal((100,), 0.0, 2.0, lower=-1.0, upper=3.0, seed=7,
                                     dtype="bfloat16")),
])
def test_fills_equal_fastki(name, ours, ref):
    pytest.importorskip("ml_dtypes")
    x, r = ours(), ref()
    assert isinstance(x, jax.Array) and x.shape == r.shape and x.dtype == r.dtype
    assert _bytes(x) == r.tobytes()


def test_fill_argument_errors_name_the_parameter():
    with pytest.raises(ValueError, match="minval must not exceed maxval"):
        fj.uniform((3,), 2.0, 1.0, seed=1)
    with pytest.raises(TypeError, match="sharding must be a jax.sharding.Sharding"):
        fj.uniform((3,), seed=1, sharding="rows")


def test_float64_without_x64_is_refused():
    if jax.config.jax_enable_x64:
        pytest.skip("jax_enable_x64 is on in this process")
    with pytest.raises(TypeError, match="jax_enable_x64"):
        fj.normal((3,), seed=1, dtype="float64")


def test_seed_none_is_one_seed_for_the_whole_call():
    # every shard of one call must share the seed: a sharded seed=None call is still one
    # draw of fastki.uniform (its values are a consistent tensor, not shards of different ones)
    a = np.asarray(fj.uniform((1000,), seed=None))
    b = np.asarray(fj.uniform((1000,), seed=None))
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("init", [F.GlorotUniform(seed=3), F.HeNormal(seed=4, stream=9),
                                  F.Orthogonal(seed=5), F.Identity(gain=2.0),
                                  F.Constant(np.arange(12.0).reshape(3, 4)), "zeros"])
def test_initialize_equals_the_numpy_initializer(init):
    shape = (3, 4)
    x = fj.initialize(init, shape)
    assert isinstance(x, jax.Array)
    assert _bytes(x) == F.get(init)(shape).tobytes()


# --------------------------------------------------------------------------- factories


@pytest.mark.parametrize("key", [jax.random.key(42), jax.random.PRNGKey(42)])
def test_key_seed_is_the_two_words_high_first(key):
    assert fji.key_seed(key) == 42
    data = np.array([3, 7], dtype=np.uint32)
    assert fji.key_seed(data) == 3 * 2**32 + 7


def test_key_seed_refuses_other_keys():
    with pytest.raises(ValueError, match="single two-word"):
        fji.key_seed(jax.random.split(jax.random.key(0), 2))
    with pytest.raises(TypeError, match="key must be a JAX PRNG key"):
        fji.key_seed("key")


def test_factories_are_fastki_initializers_seeded_by_the_key():
    k = jax.random.key(42)
    seed = fji.key_seed(k)
    for factory, ours in [(fji.glorot_uniform, F.GlorotUniform), (fji.glorot_normal, F.GlorotNormal),
                          (fji.he_uniform, F.HeUniform), (fji.he_normal, F.HeNormal),
                          (fji.lecun_uniform, F.LecunUniform), (fji.lecun_normal, F.LecunNormal)]:
        for shape in [(30, 20), (3, 3, 8, 16)]:  # dense and HWIO conv: same fans as Keras'
            assert _bytes(factory()(k, shape)) == ours(seed=seed)(shape).tobytes()
    assert _bytes(fji.normal(0.5)(k, (9,))) == F.RandomNormal(0.0, 0.5, seed=seed)((9,)).tobytes()
    assert _bytes(fji.uniform(2.0)(k, (9,))) == fastki.uniform((9,), 0.0, 2.0, seed=seed).tobytes()
    assert (_bytes(fji.truncated_normal(0.5, lower=-1.0, upper=2.0)(k, (9,)))
            == fastki.truncated_normal((9,), 0.0, 0.5, lower=-1.0, upper=2.0, seed=seed).tobytes())
    assert _bytes(fji.zeros(k, (2, 3))) == np.zeros((2, 3), np.float32).tobytes()
    assert _bytes(fji.ones(k, (2,), "int32")) == np.ones((2,), np.int32).tobytes()
    assert _bytes(fji.constant(1.5)(k, (2,))) == np.full((2,), 1.5, np.float32).tobytes()


def test_variance_scaling_fans_follow_jax_axes():
    # jax.nn.initializers' fans: in/out axes times the receptive field, batch axes left out;
    # checked against jax's own limit for the uniform distribution
    k = jax.random.key(1)
    shape = (4, 5, 6, 7)  # batch 0, in 2, out 3, receptive 1
    x = np.asarray(fji.variance_scaling(3.0, "fan_avg", "uniform", in_axis=2, out_axis=3,
                                        batch_axis=0)(k, shape))
    fan_in, fan_out = 6 * 5, 7 * 5
    limit = np.sqrt(3.0 * 3.0 / ((fan_in + fan_out) / 2))
    expected = F.VarianceScaling(3.0, "fan_avg", "uniform", seed=fji.key_seed(k),
                                 input_axes=[2, 1], output_axes=[3, 1])(shape)
    assert x.tobytes() == expected.tobytes()
    assert np.abs(x).max() <= limit and np.abs(x).max() > 0.9 * limit
    # jax's "normal" is untruncated (Keras' "normal" is truncated)
    y = np.asarray(fji.variance_scaling(1.0, "fan_in", "normal")(k, (50, 40)))
    assert y.tobytes() == F.VarianceScaling(1.0, "fan_in", "untruncated_normal",
                                            seed=fji.key_seed(k))((50, 40)).tobytes()
    with pytest.raises(ValueError, match="invalid distribution"):
        fji.variance_scaling(1.0, "fan_in", "cauchy")
    with pytest.raises(ValueError, match="in_axis=5 is out of range"):
        fji.variance_scaling(1.0, "fan_in", "uniform", in_axis=5)(k, (3, 4))


def test_orthogonal_column_axis():
    k = jax.random.key(3)
    w = np.asarray(fji.orthogonal(scale=2.0, column_axis=0)(k, (6, 4, 5)), dtype=np.float64)
    cols = np.moveaxis(w, 0, -1).reshape(20, 6)  # orthonormal columns along axis 0
    np.testing.assert_allclose(cols.T @ cols, 4.0 * np.eye(6), atol=1e-5)
    moved = F.Orthogonal(gain=2.0, seed=fji.key_seed(k))((4, 5, 6))
    assert w.astype(np.float32).tobytes() == np.moveaxis(moved, -1, 0).tobytes()


def test_jax_nn_signature_and_dtype_default():
    init = fji.he_normal(dtype="bfloat16") if _has_ml_dtypes() else fji.he_normal()
    x = init(jax.random.key(0), (4, 4))
    assert x.dtype == (jax.numpy.bfloat16 if _has_ml_dtypes() else np.float32)
    x32 = fji.he_normal()(jax.random.key(0), (4, 4), jax.numpy.float32)
    assert x32.dtype == np.float32


def _has_ml_dtypes():
    try:
        import ml_dtypes  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- sharded

_SHARDED = textwrap.dedent("""
    import json, numpy as np, jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import fastki, fastki.jax as fj, fastki.jax.initializers as fji
    from fastki import initializers as F
    import fastki.initializers as FI

    # the probe: every draw fastki makes, as (its shape, the block it was asked for)
    made = []
    for name in ("uniform", "normal", "truncated_normal"):
        real = getattr(fastki._api, name)
        def spy(shape, *a, _real=real, block=None, **k):
            out = _real(shape, *a, block=block, **k)
            made.append(out.size)
            return out
        setattr(fastki._api, name, spy)

    assert jax.device_count() == 8, jax.devices()
    devs = np.array(jax.devices())
    results = []
    cases = [("glorot_uniform", lambda: F.GlorotUniform(seed=11)),
             ("he_normal_stream", lambda: F.HeNormal(seed=11, stream=3)),
             ("random_uniform", lambda: F.RandomUniform(-1.0, 2.0, seed=12)),
             ("truncated", lambda: F.TruncatedNormal(0.5, 2.0, seed=13)),
             ("identity", lambda: F.Identity(3.0)), ("ones", lambda: F.Ones())]
    for mshape, names in [((8,), ("x",)), ((2, 4), ("a", "b")), ((4, 2), ("a", "b"))]:
        mesh = Mesh(devs.reshape(mshape), names)
        if len(names) == 1:
            specs = [P(), P("x"), P(None, "x"), P("x", None)]
        else:
            specs = [P(), P("a"), P("b"), P(None, "a"), P(None, "b"), P("a", "b"), P("b", "a"),
                     P(("a", "b")), P(None, ("b", "a"))]
        for spec in specs:
            sharding = NamedSharding(mesh, spec)
            for shape in [(16, 24), (8, 40), (24, 8)]:  # odd shard shapes, not square
                try:
                    sharding.shard_shape(shape)
                except Exception:
                    continue  # JAX refuses a tiling that does not divide the shape
                shard = int(np.prod(sharding.shard_shape(shape)))
                for label, make in cases:
                    ref = make()(shape)
                    del made[:]
                    x = fj.initialize(make(), shape, sharding=sharding)
                    ok = (np.asarray(x).tobytes() == ref.tobytes()
                          and x.sharding == sharding
                          and all(s.data.shape == sharding.shard_shape(shape)
                                  for s in x.addressable_shards))
                    results.append([str(mshape), str(spec), list(shape), label, ok,
                                    max(made, default=0) <= shard])
                y = fji.he_uniform()(jax.random.key(5), shape, out_sharding=sharding)
                results.append([str(mshape), str(spec), list(shape), "factory",
                                np.asarray(y).tobytes()
                                == F.HeUniform(seed=5)(shape).tobytes(), True])
                z = fj.normal(shape, 1.0, 3.0, seed=9, stream=4, sharding=sharding)
                results.append([str(mshape), str(spec), list(shape), "fill",
                                np.asarray(z).tobytes()
                                == fastki.normal(shape, 1.0, 3.0, seed=9, stream=4).tobytes(),
                                True])
    one = jax.sharding.SingleDeviceSharding(devs[3])
    x = fj.initialize(F.LecunNormal(seed=8), (10, 7), sharding=one)
    results.append(["single", "device 3", [10, 7], "lecun_normal",
                    np.asarray(x).tobytes() == F.LecunNormal(seed=8)((10, 7)).tobytes()
                    and x.devices() == {devs[3]}, True])
    print(json.dumps(results))
""")


def test_sharded_equals_unsharded_on_8_host_devices(tmp_path):
    # from tmp_path: "-c" puts the working directory first on sys.path, and from the
    # checkout that would import its fastki/ (no extension) instead of the installed one
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", _SHARDED], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout.strip().splitlines()[-1])
    meshes = {r[0] for r in results}
    assert meshes == {"(8,)", "(2, 4)", "(4, 2)", "single"}
    assert len(results) > 300
    bad = [r for r in results if not (r[4] and r[5])]
    assert not bad, bad[:10]


@pytest.mark.parametrize("init", [F.GlorotUniform(seed=1), F.Zeros(), F.Constant(2.5),
                                  F.Identity(3.0), F.Orthogonal(seed=2),
                                  F.Constant(np.arange(48.0).reshape(6, 8))])
def test_make_into_out_equals_make(init):
    # fastki.jax fills aligned buffers through make(block=, out=): the same values
    source = F._block_source(init, (6, 8), "float32")
    block = (slice(1, 5), slice(2, 7))
    out = np.full((4, 5), np.nan, dtype=np.float32)
    assert source.make(block=block, out=out) is out
    assert out.tobytes() == source.make(block=block).tobytes()
    whole = np.full((6, 8), np.nan, dtype=np.float32)
    assert source.make(out=whole).tobytes() == init((6, 8)).tobytes()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self (Linux)")
@pytest.mark.parametrize("mode", [[], ["--jit"]])  # eager, and under jax.jit(out_shardings=)
def test_sharded_peak_host_memory_is_the_shards_alone(mode):
    # tools/jax_memory_probe.py at 128 MiB (the 2 GiB run is by hand, docs/jax.md): peak
    # RSS above the baseline at most the array plus 64 MiB; making every shard and then
    # copying it (JAX's make_array_from_callback) would need twice the array
    probe = os.path.join(os.path.dirname(__file__), os.pardir, "tools", "jax_memory_probe.py")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, probe, "0.125", *mode], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    assert "every shard equals that block of the unsharded values: True" in proc.stdout


def test_concurrent_calls_give_the_same_bytes():
    # several threads making sharded arrays at once (the block sources share nothing)
    from concurrent.futures import ThreadPoolExecutor

    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

    mesh = Mesh(np.array(jax.devices()), ("x",))
    rows = 16 * len(jax.devices())
    sharding = NamedSharding(mesh, P("x", None))
    ref = F.HeNormal(seed=21)((rows, 64)).tobytes()

    def make(_):
        return _bytes(fj.initialize(F.HeNormal(seed=21), (rows, 64), sharding=sharding))

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(make, range(16))) == {ref}


_PROCESS = textwrap.dedent("""
    import json, os, sys
    import jax
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"127.0.0.1:{sys.argv[2]}", num_processes=2,
                               process_id=int(sys.argv[1]))
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import fastki, fastki.jax as fj

    mesh = Mesh(np.array(jax.devices()).reshape(2, 4), ("a", "b"))
    ref = fastki.GlorotUniform(seed=3)((16, 24))
    checks = []
    for spec in [P("a", "b"), P("b", "a"), P(None, ("a", "b")), P("a")]:
        x = fj.initialize(fastki.GlorotUniform(seed=3), (16, 24),
                          sharding=NamedSharding(mesh, spec))
        shards = [[[s.start or 0, s.stop if s.stop is not None else d]
                   for s, d in zip(sh.index, (16, 24))] for sh in x.addressable_shards]
        same = all(np.asarray(sh.data).tobytes() == ref[sh.index].tobytes()
                   for sh in x.addressable_shards)
        checks.append([str(spec), shards, same])
    print(json.dumps({"devices": jax.device_count(), "local": jax.local_device_count(),
                      "checks": checks}))
    jax.distributed.shutdown()
""")


def test_two_processes_each_make_their_own_shards(tmp_path):
    # jax.distributed on CPU: 2 processes x 4 host devices, one global 2x4 mesh; each
    # process makes only its addressable shards, and together they are the whole tensor
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
           "JAX_PLATFORMS": "cpu"}
    procs = [subprocess.Popen([sys.executable, "-c", _PROCESS, str(i), str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=tmp_path)
             for i in range(2)]
    outs = []
    for p in procs:
        try:
            stdout, stderr = p.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        assert p.returncode == 0, stderr[-3000:]
        outs.append(json.loads(stdout.strip().splitlines()[-1]))
    assert [(o["devices"], o["local"]) for o in outs] == [(8, 4), (8, 4)]
    for k in range(4):
        covered = np.zeros((16, 24), dtype=int)
        for o in outs:
            spec, shards, same = o["checks"][k]
            assert same, spec
            assert len(shards) == 4
            for (r0, r1), (c0, c1) in shards:
                covered[r0:r1, c0:c1] += 1
        # every element made, and by as many devices as the spec replicates it over
        replicas = {0: 1, 1: 1, 2: 1, 3: 4}[k]
        assert (covered == replicas).all(), outs[0]["checks"][k][0]


_hyp = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

_SOURCES = [lambda: F.GlorotUniform(seed=1), lambda: F.TruncatedNormal(0.1, 2.0, seed=2, stream=3),
            lambda: F.RandomUniform(-3.0, 1.0, seed=4), lambda: F.Zeros(), lambda: F.Constant(-1.5),
            lambda: F.Identity(2.0), lambda: F.Orthogonal(seed=5)]


@st.composite
def _shape_and_block(draw):
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=2, max_size=2)))
    block = []
    for d in shape:
        a = draw(st.integers(0, d))
        block.append(slice(a, draw(st.integers(a, d))))
    return shape, tuple(block)


@settings(max_examples=60, deadline=None)
@given(_shape_and_block(), st.sampled_from(range(len(_SOURCES))),
       st.sampled_from(["float32", "float64", "float16"]))
def test_make_into_aligned_out_is_the_block_of_the_whole(shape_block, which, dtype):
    shape, block = shape_block
    init = _SOURCES[which]()
    source = F._block_source(init, shape, dtype)
    bshape = tuple(s.stop - s.start for s in block)
    out = fj._shards._aligned_empty(bshape, np.dtype(dtype))
    assert out.flags.c_contiguous and (out.size == 0 or out.ctypes.data % fj._shards._ALIGN == 0)
    assert source.make(block=block, out=out) is out
    assert out.tobytes() == np.ascontiguousarray(init(shape, dtype)[block]).tobytes()
