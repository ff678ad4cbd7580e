"""fastki.keras: Keras-native classes (subclasses of both fastki's class and Keras' namesake),
registration however a class was first used, get(tensor), install()/uninstall(), the same
bytes on every Keras backend, and layout-aware initialization on the JAX backend
(docs/initializers.md, "Keras")."""
import json
import os
import subprocess
import sys
import textwrap

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import fastki  # noqa: E402
import fastki.keras as fk  # noqa: E402
from fastki import initializers as F  # noqa: E402

pytestmark = pytest.mark.integration  # tests/conftest.py: skipped by the wheel and sanitizer suites

K = keras.initializers
NAMES = ["Initializer", "Constant", "Zeros", "Ones", "Identity", "STFT", "RandomNormal",
         "RandomUniform", "TruncatedNormal", "VarianceScaling", "GlorotNormal", "GlorotUniform",
         "HeNormal", "HeUniform", "LecunNormal", "LecunUniform", "Orthogonal"]
VS_FAMILY = ["VarianceScaling", "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform",
             "LecunNormal", "LecunUniform"]


def _run(code, *args, env=None, timeout=300):
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)],
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, cwd=os.path.dirname(__file__))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def restore_install():
    yield
    fk.uninstall()


# --------------------------------------------------------------------------- classes


@pytest.mark.parametrize("name", NAMES)
def test_native_class_subclasses_both(name):
    native = getattr(fk, name)
    assert issubclass(native, getattr(F, name)) and issubclass(native, getattr(K, name))
    assert native.__module__ == "fastki.keras" and native.__name__ == name
    if name in VS_FAMILY:
        assert issubclass(native, K.VarianceScaling)
    # one catalogue: the native class adds no values, fans or config of its own
    for method in ("__init__", "get_config", "from_config"):
        assert method not in vars(native)


@pytest.mark.parametrize("name", NAMES[1:])
def test_native_values_and_config_are_fastki_s(name):
    kwargs = {"seed": 3, "stream": 2} if name in VS_FAMILY + ["RandomNormal", "RandomUniform",
                                                               "TruncatedNormal", "Orthogonal"] else {}
    shape = (4, 3, 5) if name == "STFT" else (6, 5)
    ours, native = getattr(F, name)(**kwargs), getattr(fk, name)(**kwargs)
    assert native.get_config() == ours.get_config()
    assert native(shape).tobytes() == ours(shape).tobytes()
    clone = native.clone()
    assert type(clone) is type(native) and clone.get_config() == native.get_config()


def test_native_instances_pickle_and_stay_blockwise():
    import pickle

    init = fk.HeUniform(seed=4, stream=2)
    source = F._block_source(init, (6, 8))
    assert source.blockwise  # fastki.dask / fastki.jax make its blocks alone
    block = (slice(1, 4), slice(0, 5))
    assert source.make(block=block).tobytes() == init((6, 8))[1:4, :5].tobytes()
    back = pickle.loads(pickle.dumps(init))
    assert type(back) is fk.HeUniform and back((6, 8)).tobytes() == init((6, 8)).tobytes()


def test_layout_of_the_wrong_kind_names_layout():
    pytest.importorskip("jax")
    with pytest.raises(TypeError, match="layout must be a jax.sharding.Sharding"):
        fk.GlorotUniform(seed=1)((4, 4), layout="model")


def test_top_level_names_stay_keras_free():
    assert fastki.GlorotUniform is F.GlorotUniform
    assert not issubclass(fastki.GlorotUniform, K.Initializer)


def _kernel_std(layer, build, attr):
    build(layer)
    kernel = attr(layer)
    return float(np.std(keras.ops.convert_to_numpy(kernel).astype(np.float64)))


LAYERS = {
    # MultiHeadAttention(8 heads, key_dim 16) on width-32 inputs: query kernel (32, 8, 16),
    # fan_in 32 (input_axes [0]), not 256
    "mha": (lambda init: keras.layers.MultiHeadAttention(8, 16, kernel_initializer=init),
            lambda l: l.build((None, 10, 32), (None, 10, 32)), lambda l: l.query_dense.kernel,
            np.sqrt(1.0 / 32)),
    "gqa": (lambda init: keras.layers.GroupQueryAttention(16, 8, 4, kernel_initializer=init),
            lambda l: l.build((None, 10, 64), (None, 10, 64)), lambda l: l._query_dense.kernel,
            np.sqrt(1.0 / 64)),
    "einsum": (lambda init: keras.layers.EinsumDense("abc,cde->abde", (None, 24, 16),
                                                     kernel_initializer=init),
               lambda l: l.build((None, 10, 48)), lambda l: l.kernel, np.sqrt(1.0 / 48)),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_attention_and_einsum_kernels_match_keras_std(layer):
    make, build, kernel, theory = LAYERS[layer]
    ours = _kernel_std(make(fk.LecunNormal(seed=1)), build, kernel)
    theirs = _kernel_std(make(K.LecunNormal(seed=1)), build, kernel)
    assert abs(ours / theirs - 1) < 0.03, (ours, theirs)
    assert abs(ours / theory - 1) < 0.03, (ours, theory)
    # the Keras-free class is what the layer cannot recognise: fans over the whole kernel
    plain = _kernel_std(make(F.LecunNormal(seed=1)), build, kernel)
    assert plain / theory < 0.6


def test_einsum_dense_clone_keeps_fastki_seed_and_stream():
    layer = keras.layers.EinsumDense("ab,bcd->acd", (4, 8), kernel_initializer=fk.HeNormal(seed=9, stream=5))
    layer.build((None, 16))
    init = F.HeNormal(seed=9, stream=5, input_axes=[0], output_axes=[1, 2])
    assert keras.ops.convert_to_numpy(layer.kernel).tobytes() == init((16, 4, 8)).tobytes()


# --------------------------------------------------------------------------- get, registration


def test_get_of_a_backend_tensor_returns_it():
    tensor = keras.random.uniform((5, 5), seed=1)
    for get in (fastki.initializers.get, fastki.get, fk.get):
        init = get(tensor)
        np.testing.assert_array_equal(init((5, 5)), keras.ops.convert_to_numpy(tensor))
        with pytest.raises(ValueError, match=r"Expected `shape` to be \(5, 5\)"):
            init((10, 10))
    assert type(fk.get("he_normal")) is fk.HeNormal
    assert type(fk.get({"class_name": "GlorotUniform", "config": {"seed": 1}})) is fk.GlorotUniform
    assert type(F.get("he_normal")) is F.HeNormal
    with pytest.raises(ValueError, match="Could not interpret initializer identifier: 'typo'"):
        fk.get("typo")


def test_get_of_a_torch_tensor_without_keras_conversion():
    torch = pytest.importorskip("torch")
    t = torch.arange(6.0, requires_grad=True).reshape(2, 3)
    assert F.get(t)((2, 3), "float32").tolist() == [[0, 1, 2], [3, 4, 5]]


_SERIALIZE_FIRST = textwrap.dedent("""
    import json, os, keras
    import numpy as np
    from fastki import initializers as F
    import sys
    inits = [F.Zeros(), F.Ones(), F.Constant(2.0), F.Identity(3.0), F.STFT(window=None),
             F.GlorotUniform(seed=1)]
    configs = [keras.initializers.serialize(i) for i in inits]
    names = [c["registered_name"] for c in configs]
    back = [keras.initializers.deserialize(c) for c in configs]
    same = [type(b) is type(i) and b((3, 3, 3) if type(i).__name__ == "STFT" else (3, 3)).tobytes()
            == i((3, 3, 3) if type(i).__name__ == "STFT" else (3, 3)).tobytes()
            for b, i in zip(back, inits)]
    print(json.dumps({"names": names, "same": same, "imported": "fastki.keras" in sys.modules}))
""")


def test_every_class_registered_however_first_used():
    # serialized while Keras is loaded but before anyone imported fastki.keras: the names
    # are fastki's and load back the same classes, without importing fastki.keras (the
    # initializers never import the layer above them: fastki/initializers/_keras_bridge.py)
    report = _run(_SERIALIZE_FIRST)
    assert report["names"] == ["fastki>Zeros", "fastki>Ones", "fastki>Constant",
                               "fastki>Identity", "fastki>STFT", "fastki>GlorotUniform"]
    assert report["same"] == [True] * 6
    assert not report["imported"]


def test_registered_names_load_the_native_classes():
    for name in NAMES:
        assert keras.saving.get_registered_object(f"fastki>{name}") is getattr(fk, name)
        assert keras.saving.get_registered_name(getattr(F, name)) == f"fastki>{name}"
        assert keras.saving.get_registered_name(getattr(fk, name)) == f"fastki>{name}"
    assert F.serialize(fk.HeNormal(seed=2)) == K.serialize(fk.HeNormal(seed=2))
    assert F.serialize(fk.HeNormal(seed=2))["registered_name"] == "fastki>HeNormal"


# --------------------------------------------------------------------------- install


def _dense_kernel():
    layer = keras.layers.Dense(7)
    layer.build((None, 5))
    return layer


def test_install_switches_keras_names_and_uninstall_restores(restore_install):
    originals = {n: getattr(K, n) for n in NAMES}
    default = _dense_kernel()
    assert type(default.kernel_initializer) is originals["GlorotUniform"]
    fk.install()
    fk.install()  # idempotent
    assert fk.is_installed()
    layer = _dense_kernel()
    assert type(layer.kernel_initializer) is fk.GlorotUniform
    assert type(layer.bias_initializer) is fk.Zeros
    for name, cls in [("normal", fk.RandomNormal), ("uniform", fk.RandomUniform),
                      ("he_normal", fk.HeNormal), ("glorot_uniform", fk.GlorotUniform),
                      ("zeros", fk.Zeros), ("OrthogonalInitializer", fk.Orthogonal)]:
        assert type(K.get(name)) is cls, name
    assert type(K.GlorotUniform(seed=1)) is fk.GlorotUniform
    assert K.glorot_uniform is fk.GlorotUniform and K.random_normal is fk.RandomNormal
    assert K.IdentityInitializer is fk.Identity and K.stft is fk.STFT
    assert K.Initializer is originals["Initializer"]  # the abstract base stays Keras'
    assert type(keras.src.initializers.HeNormal()) is fk.HeNormal
    # the weights are fastki's for the initializer's (construction-time) seed
    init = layer.kernel_initializer
    assert keras.ops.convert_to_numpy(layer.kernel).tobytes() == \
        F.GlorotUniform(seed=init.seed)((5, 7)).tobytes()
    fk.uninstall()
    assert not fk.is_installed()
    assert {n: getattr(K, n) for n in NAMES} == originals
    assert K.glorot_uniform is originals["GlorotUniform"] and K.stft is originals["STFT"]
    assert type(K.get("he_normal")) is originals["HeNormal"]
    assert type(_dense_kernel().kernel_initializer) is originals["GlorotUniform"]
    with fk.installed():
        assert type(K.get("lecun_uniform")) is fk.LecunUniform
    assert type(K.get("lecun_uniform")) is originals["LecunUniform"]


def _model():
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(3, kernel_initializer="he_normal",
                                                bias_initializer="normal")])


def test_install_weights_reproduce_after_set_random_seed(restore_install):
    with fk.installed():
        keras.utils.set_random_seed(123)
        a = [w.tobytes() for w in _model().get_weights()]
        keras.utils.set_random_seed(123)
        b = [w.tobytes() for w in _model().get_weights()]
        keras.utils.set_random_seed(124)
        c = [w.tobytes() for w in _model().get_weights()]
    assert a == b and a != c
    # the seed of seed=None is fixed at construction: every call repeats it
    init = fk.GlorotNormal()
    assert init((4, 4)).tobytes() == init((4, 4)).tobytes()
    # a SeedGenerator is drawn from on every call
    gen = fk.RandomNormal(seed=keras.random.SeedGenerator(7))
    assert gen((4, 4)).tobytes() != gen((4, 4)).tobytes()


_LOAD = textwrap.dedent("""
    import json, sys
    import numpy as np, keras
    import fastki.keras
    model = keras.models.load_model(sys.argv[1])
    inits = [[type(l.kernel_initializer).__module__, type(l.kernel_initializer).__name__]
             for l in model.layers]
    np.savez(sys.argv[2], *model.get_weights())
    print(json.dumps(inits))
""")


def test_installed_model_saves_fastki_names_and_loads_in_a_fresh_process(tmp_path,
                                                                        restore_install):
    with fk.installed():
        keras.utils.set_random_seed(5)
        model = _model()
    path, out = tmp_path / "m.keras", tmp_path / "w.npz"
    model.save(path)
    inits = _run(_LOAD, path, out)
    assert inits == [["fastki.keras", "GlorotUniform"], ["fastki.keras", "HeNormal"]]
    loaded = np.load(out)
    for i, w in enumerate(model.get_weights()):
        assert loaded[f"arr_{i}"].tobytes() == w.tobytes()


# --------------------------------------------------------------------------- backends

_BACKEND_MODEL = textwrap.dedent("""
    import hashlib, json, os, sys
    import numpy as np, keras
    import fastki.keras as fk
    assert keras.backend.backend() == os.environ["KERAS_BACKEND"]
    fk.install()
    keras.utils.set_random_seed(2024)
    model = keras.Sequential([
        keras.Input((12, 12, 3)),
        keras.layers.Conv2D(8, 3),                      # glorot_uniform, zeros
        keras.layers.Conv2D(8, 3, kernel_initializer=fk.HeNormal(seed=1, stream=1)),
        keras.layers.Flatten(),
        keras.layers.Dense(16, kernel_initializer="orthogonal", bias_initializer="ones"),
        keras.layers.Dense(4, kernel_initializer=fk.TruncatedNormal(seed=2),
                           bias_initializer=keras.initializers.RandomUniform(seed=3)),
    ])
    mha = keras.layers.MultiHeadAttention(4, 8, kernel_initializer="lecun_normal")
    mha.build((None, 5, 16), (None, 5, 16))
    weights = model.get_weights() + [keras.ops.convert_to_numpy(w) for w in mha.weights]
    print(json.dumps([hashlib.sha256(np.ascontiguousarray(w).tobytes()).hexdigest()
                      for w in weights]))
""")


def test_same_bytes_on_numpy_jax_and_torch_backends():
    pytest.importorskip("jax")
    pytest.importorskip("torch")
    hashes = {b: _run(_BACKEND_MODEL, env={"KERAS_BACKEND": b})
              for b in ("numpy", "jax", "torch")}
    assert len(hashes["numpy"]) == 16  # 8 of the model, 8 of the attention layer
    assert hashes["numpy"] == hashes["jax"] == hashes["torch"]


# --------------------------------------------------------------------------- layouts (JAX)

_LAYOUTS = textwrap.dedent("""
    import json
    import numpy as np, jax, keras
    from keras import distribution as D
    import fastki.keras as fk
    import fastki.initializers as FI
    from fastki import initializers as F

    made = []  # the probe: the size of every block fastki draws
    for name in ("uniform", "normal", "truncated_normal"):
        real = getattr(FI.random_initializers._api, name)
        def spy(shape, *a, _real=real, block=None, **k):
            out = _real(shape, *a, block=block, **k)
            made.append(out.size)
            return out
        setattr(FI.random_initializers._api, name, spy)

    out = {"devices": jax.device_count()}
    mesh = D.DeviceMesh((2, 4), axis_names=("batch", "model"))
    layout_map = D.LayoutMap(mesh)
    layout_map[".*d1/kernel"] = D.TensorLayout([None, "model"])
    layout_map[".*d1/bias"] = D.TensorLayout(["model"])
    layout_map[".*d2/kernel"] = D.TensorLayout(["model", "batch"])
    dist = D.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
    with fk.installed(), dist.scope():
        keras.utils.set_random_seed(7)
        model = keras.Sequential([keras.Input((16,)),
                                  keras.layers.Dense(32, name="d1", bias_initializer="normal"),
                                  keras.layers.Dense(8, name="d2",
                                                     kernel_initializer=fk.HeUniform(seed=3))])
    # the largest block drawn: d1's kernel (16, 32) sharded 4 ways on its columns is 128
    out["largest_block"] = max(made)
    del made[:]
    checks = []
    for layer in model.layers:
        for var, kind in ((layer.kernel, "kernel"), (layer.bias, "bias")):
            init = getattr(layer, kind + "_initializer")
            ref = FI.get(init)(tuple(var.shape))
            value = var.value
            checks.append([layer.name, kind, str(value.sharding.spec),
                           np.asarray(value).tobytes() == ref.tobytes(),
                           len(value.addressable_shards)])
    out["model_parallel"] = checks

    del made[:]
    with D.DataParallel().scope(), fk.installed():
        dense = keras.layers.Dense(24, kernel_initializer=fk.GlorotNormal(seed=4))
        dense.build((None, 40))
    out["data_parallel"] = [str(dense.kernel.value.sharding),
                            np.asarray(dense.kernel.value).tobytes()
                            == F.GlorotNormal(seed=4)((40, 24)).tobytes()]

    # every random class, called with layout= directly: TensorLayout and a jax sharding
    layout = D.TensorLayout(["batch", "model"], mesh)
    sharding = jax.sharding.NamedSharding(mesh.backend_mesh,
                                          jax.sharding.PartitionSpec("model", None))
    direct = []
    for name in ["RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
                 "GlorotNormal", "GlorotUniform", "HeNormal", "HeUniform", "LecunNormal",
                 "LecunUniform", "Orthogonal", "Zeros", "Ones", "Identity", "Constant"]:
        for lay, shard in ((layout, (4, 6)), (sharding, (2, 24))):
            init = getattr(fk, name)(seed=21) if name not in ("Zeros", "Ones", "Identity",
                                                              "Constant") else getattr(fk, name)()
            del made[:]
            x = init((8, 24), layout=lay)
            largest = max(made, default=0)  # Orthogonal: the whole, by design (docs/jax.md)
            direct.append([name, isinstance(x, jax.Array),
                           np.asarray(x).tobytes() == init((8, 24)).tobytes(),
                           all(s.data.shape == shard for s in x.addressable_shards),
                           largest <= shard[0] * shard[1] or name == "Orthogonal"])
    out["direct"] = direct
    print(json.dumps(out))
""")


def test_layout_aware_init_on_8_host_devices():
    pytest.importorskip("jax")
    out = _run(_LAYOUTS, env={"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
                              "XLA_FLAGS": "--xla_force_host_platform_device_count=8"})
    assert out["devices"] == 8
    specs = {(c[0], c[1]): c[2] for c in out["model_parallel"]}
    assert specs == {("d1", "kernel"): "P(None, 'model')", ("d1", "bias"): "P('model',)",
                     ("d2", "kernel"): "P('model', 'batch')", ("d2", "bias"): "P(None,)"}
    assert all(c[3] and c[4] == 8 for c in out["model_parallel"]), out["model_parallel"]
    assert out["largest_block"] == 16 * 32 // 4  # shard by shard, never the whole kernel
    assert out["data_parallel"][1], out["data_parallel"]
    assert len(out["direct"]) == 30
    bad = [d for d in out["direct"] if not all(d[1:])]
    assert not bad, bad
