"""fastki.initializers without Keras: configs, lookup, fans, exact values, Orthogonal,
errors, seeds/streams, dtypes and the standard deviations of large draws."""
import math
import pickle
import random
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

import fastki
from fastki import initializers as I

RANDOM_CLASSES = [I.RandomNormal, I.RandomUniform, I.TruncatedNormal, I.VarianceScaling,
                  I.GlorotNormal, I.GlorotUniform, I.HeNormal, I.HeUniform, I.LecunNormal,
                  I.LecunUniform, I.Orthogonal]
CONSTANT_CLASSES = [I.Constant, I.Zeros, I.Ones, I.Identity, I.STFT]
ALL_CLASSES = CONSTANT_CLASSES + RANDOM_CLASSES
FIXED_VARIANCE = {  # class: (scale, mode, distribution), Keras' definitions
    I.GlorotNormal: (1.0, "fan_avg", "truncated_normal"),
    I.GlorotUniform: (1.0, "fan_avg", "uniform"),
    I.HeNormal: (2.0, "fan_in", "truncated_normal"),
    I.HeUniform: (2.0, "fan_in", "uniform"),
    I.LecunNormal: (1.0, "fan_in", "truncated_normal"),
    I.LecunUniform: (1.0, "fan_in", "uniform"),
}


def _shape_for(cls):
    return (16, 1, 9) if cls is I.STFT else (7, 5)


# --------------------------------------------------------------------------- import


def test_importing_fastki_and_using_initializers_does_not_import_keras():
    code = ("import sys, fastki, fastki.initializers as I\n"
            "w = I.GlorotUniform(seed=1)((3, 4)); I.serialize(I.Orthogonal(seed=2))\n"
            "I.get('he_normal')((2, 2)); I.Constant(2)((2,), 'int8')\n"
            "bad = [m for m in sys.modules if m == 'keras' or m.startswith('keras.')]\n"
            "assert not bad, bad\n")
    # started outside the checkout, so that an installed fastki is the one imported
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   cwd=tempfile.gettempdir())


def test_all_lists_the_catalogue():
    assert set(I.__all__) == {c.__name__ for c in ALL_CLASSES} | {
        "Initializer", "compute_fans", "get", "serialize", "deserialize"}
    for name in I.__all__:
        assert hasattr(I, name), name


# --------------------------------------------------------------------------- constant


def test_truncated_unit_normal_std_is_the_std_of_a_unit_normal_truncated_to_two():
    truncnorm = pytest.importorskip("scipy.stats").truncnorm
    assert I.TRUNCATED_UNIT_NORMAL_STD == pytest.approx(truncnorm(-2, 2).std(), rel=1e-15)
    # and the closed form: sqrt(1 - 4 phi(2) / (Phi(2) - Phi(-2)))
    phi2 = math.exp(-2.0) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    assert I.TRUNCATED_UNIT_NORMAL_STD == pytest.approx(math.sqrt(1 - 4 * phi2 / mass), rel=1e-14)


# --------------------------------------------------------------------------- fans


@pytest.mark.parametrize("shape, fans", [
    ((), (1, 1)),
    ((7,), (7, 7)),
    ((3, 5), (3, 5)),
    ((0, 5), (0, 5)),
    ((3, 4, 5), (12, 15)),            # conv1d (width, in, out)
    ((3, 3, 16, 32), (144, 288)),     # conv2d
    ((2, 3, 4, 5, 6), (120, 144)),    # conv3d
    ((1, 1, 1), (1, 1)),
])
def test_compute_fans_follows_keras_rules(shape, fans):
    assert I.compute_fans(shape) == fans
    assert I.compute_fans(list(shape)) == fans


def test_compute_fans_with_axes_uses_only_the_given_axes():
    assert I.compute_fans((2, 3, 5, 7), input_axes=[0, 1], output_axes=[2, 3]) == (6, 35)
    assert I.compute_fans((2, 3, 5, 7), input_axes=[-1], output_axes=[0]) == (7, 2)
    # only one of the two given: the default rules apply, as in Keras
    assert I.compute_fans((2, 3, 5, 7), input_axes=[0]) == (30, 42)


# --------------------------------------------------------------------------- configs


def _make(cls, **kw):
    if cls in RANDOM_CLASSES:
        kw.setdefault("seed", 1234)
    return cls(**kw)


@pytest.mark.parametrize("cls", ALL_CLASSES, ids=lambda c: c.__name__)
def test_config_round_trips_and_values_repeat(cls):
    init = _make(cls)
    config = init.get_config()
    again = cls.from_config(config)
    assert type(again) is cls and again.get_config() == config
    clone = init.clone()
    assert type(clone) is cls and clone.get_config() == config
    restored = I.deserialize(I.serialize(init))
    assert type(restored) is cls and restored.get_config() == config
    shape = _shape_for(cls)
    np.testing.assert_array_equal(init(shape), again(shape))
    np.testing.assert_array_equal(init(shape), restored(shape))


@pytest.mark.parametrize("cls, keys", [
    (I.Constant, {"value"}), (I.Zeros, set()), (I.Ones, set()), (I.Identity, {"gain"}),
    (I.STFT, {"side", "window", "scaling", "periodic"}),
    (I.RandomNormal, {"seed", "mean", "stddev"}), (I.TruncatedNormal, {"seed", "mean", "stddev"}),
    (I.RandomUniform, {"seed", "minval", "maxval"}),
    (I.VarianceScaling, {"seed", "scale", "mode", "distribution", "input_axes", "output_axes"}),
    *[(c, {"seed", "input_axes", "output_axes"}) for c in FIXED_VARIANCE],
    (I.Orthogonal, {"seed", "gain"}),
], ids=lambda x: getattr(x, "__name__", ""))
def test_default_config_has_exactly_keras_keys(cls, keys):
    assert set(cls().get_config()) == keys


def test_default_arguments_match_keras():
    assert I.Constant().get_config() == {"value": 0.0}
    assert I.Identity().get_config() == {"gain": 1.0}
    assert I.RandomNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert I.TruncatedNormal().get_config() == {"seed": None, "mean": 0.0, "stddev": 0.05}
    assert I.RandomUniform().get_config() == {"seed": None, "minval": -0.05, "maxval": 0.05}
    assert I.VarianceScaling().get_config() == {
        "seed": None, "scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal",
        "input_axes": None, "output_axes": None}
    assert I.Orthogonal().get_config() == {"seed": None, "gain": 1.0}
    assert I.STFT().get_config() == {"side": "real", "window": "hann", "periodic": False,
                                      "scaling": "density"}


def test_variance_scaling_normal_means_truncated_normal_and_is_case_insensitive():
    assert I.VarianceScaling(distribution="normal").distribution == "truncated_normal"
    assert I.VarianceScaling(distribution="Uniform").get_config()["distribution"] == "uniform"


@pytest.mark.parametrize("cls", list(FIXED_VARIANCE), ids=lambda c: c.__name__)
def test_named_variance_scalings_fix_scale_mode_distribution(cls):
    scale, mode, distribution = FIXED_VARIANCE[cls]
    init = cls(seed=5)
    assert (init.scale, init.mode, init.distribution) == (scale, mode, distribution)
    twin = I.VarianceScaling(scale, mode, distribution, seed=5)
    np.testing.assert_array_equal(init((30, 20)), twin((30, 20)))


# --------------------------------------------------------------------------- lookup

SNAKE = {"Initializer": "initializer", "Constant": "constant", "Zeros": "zeros", "Ones": "ones",
         "Identity": "identity", "STFT": "stft", "RandomNormal": "random_normal",
         "RandomUniform": "random_uniform", "TruncatedNormal": "truncated_normal",
         "VarianceScaling": "variance_scaling", "GlorotNormal": "glorot_normal",
         "GlorotUniform": "glorot_uniform", "HeNormal": "he_normal", "HeUniform": "he_uniform",
         "LecunNormal": "lecun_normal", "LecunUniform": "lecun_uniform",
         "Orthogonal": "orthogonal"}
ALIASES = {"normal": I.RandomNormal, "uniform": I.RandomUniform, "one": I.Ones, "zero": I.Zeros,
           "IdentityInitializer": I.Identity, "OrthogonalInitializer": I.Orthogonal,
           "STFTInitializer": I.STFT}


@pytest.mark.parametrize("class_name", sorted(SNAKE))
def test_get_accepts_class_snake_and_registered_names(class_name):
    cls = getattr(I, class_name)
    for name in (class_name, SNAKE[class_name], f"fastki>{class_name}"):
        assert type(I.get(name)) is cls, name
        assert type(I.deserialize(name)) is cls, name
        assert type(I.get({"class_name": name, "config": {}})) is cls, name


@pytest.mark.parametrize("alias", sorted(ALIASES))
def test_get_accepts_keras_aliases(alias):
    assert type(I.get(alias)) is ALIASES[alias]


def test_serialize_has_keras_form():
    assert I.serialize(I.HeNormal(seed=3)) == {
        "module": "fastki.initializers", "class_name": "HeNormal",
        "config": {"seed": 3, "input_axes": None, "output_axes": None},
        "registered_name": "fastki>HeNormal"}
    assert I.serialize(None) is None


def test_deserialize_reads_keras_own_configs():
    keras_config = {"module": "keras.initializers", "class_name": "VarianceScaling",
                    "config": {"seed": 9, "scale": 2.0, "mode": "fan_out",
                               "distribution": "uniform", "input_axes": None,
                               "output_axes": None},
                    "registered_name": None}
    init = I.deserialize(keras_config)
    assert type(init) is I.VarianceScaling and init.get_config() == keras_config["config"]
    numpy_value = {"class_name": "__numpy__", "config": {"value": [1.0, 2.0], "dtype": "float64"}}
    init = I.deserialize({"class_name": "Constant", "config": {"value": numpy_value}})
    np.testing.assert_array_equal(init((2, 2)), [[1, 2], [1, 2]])
    # missing "config": the defaults
    assert type(I.deserialize({"class_name": "Ones"})) is I.Ones


def test_deserialize_custom_objects_take_precedence():
    class Mine(I.Initializer):
        def __call__(self, shape, dtype=None):
            return np.full(shape, 7.0)

    assert type(I.deserialize("Ones", custom_objects={"Ones": Mine})) is Mine
    assert type(I.deserialize({"class_name": "Mine", "config": {}}, custom_objects={"Mine": Mine})) is Mine


def test_get_passes_instances_and_callables_and_instantiates_classes():
    init = I.GlorotUniform(seed=1)
    assert I.get(init) is init

    def fn(shape, dtype=None):
        return np.zeros(shape)

    assert I.get(fn) is fn
    assert type(I.get(I.HeUniform)) is I.HeUniform
    assert I.get(None) is None


def test_get_with_an_array_returns_it_for_its_own_shape():
    values = np.arange(6.0).reshape(2, 3)
    fn = I.get(values)
    out = fn((2, 3), dtype="float64")
    np.testing.assert_array_equal(out, values)
    assert out.dtype == np.float64
    with pytest.raises(ValueError, match=r"^Expected `shape` to be \(2, 3\) for direct tensor "
                                         r"as initializer\. Received shape=\(3, 2\)$"):
        fn((3, 2))


@pytest.mark.parametrize("bad", ["nope", {"class_name": "Nope", "config": {}}, 5])
def test_get_refuses_what_it_cannot_interpret(bad):
    with pytest.raises(ValueError, match=r"^Could not interpret initializer identifier: "):
        I.get(bad)


def test_deserialize_refuses_unknown_names():
    with pytest.raises(ValueError, match=r"^Unknown initializer: 'nope'\. "):
        I.deserialize("nope")
    with pytest.raises(ValueError, match=r"^Unknown `config` as a `dict`, config=\{'config': \{\}\}$"):
        I.deserialize({"config": {}})


# --------------------------------------------------------------------------- exact values


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16", "int8", "int32",
                                   "int64", "uint8", "uint16", "bool"])
def test_zeros_ones_constant_identity_exact(dtype):
    dt = I._constant_dtype(dtype)
    for init, expected in [(I.Zeros(), np.zeros((3, 4))), (I.Ones(), np.ones((3, 4))),
                           (I.Constant(1), np.ones((3, 4))), (I.Identity(), np.eye(3, 4)),
                           (I.Identity(gain=1), np.eye(3, 4))]:
        out = init((3, 4), dtype=dtype)
        assert out.dtype == dt and out.shape == (3, 4)
        np.testing.assert_array_equal(out.astype(np.float64), expected)


def test_constant_and_identity_values():
    np.testing.assert_array_equal(I.Constant(-3)((2, 2), dtype="int8"), np.full((2, 2), -3))
    np.testing.assert_array_equal(I.Constant(0.1)((5,), dtype="float64"), np.full(5, 0.1))
    assert I.Constant(0.1)((5,)).tolist() == [float(np.float32(0.1))] * 5
    np.testing.assert_array_equal(I.Constant([1, 2, 3])((2, 3), dtype="int32"), [[1, 2, 3]] * 2)
    assert I.Constant(np.float32(2.5)).get_config() == {"value": 2.5}
    assert I.Constant(np.array([1.0, 2.0])).get_config() == {"value": [1.0, 2.0]}
    np.testing.assert_array_equal(I.Identity(gain=2.5)((3, 2), dtype="float64"),
                                  [[2.5, 0], [0, 2.5], [0, 0]])
    assert I.Constant(7)((), dtype="int16") == 7
    assert I.Zeros()((0, 3)).shape == (0, 3)


def test_default_dtype_is_float32_without_keras():
    for init in [I.Zeros(), I.Ones(), I.Constant(2), I.Identity(), I.GlorotUniform(seed=1),
                 I.Orthogonal(seed=1), I.STFT()]:
        shape = (4, 1, 3) if isinstance(init, I.STFT) else (3, 3)
        assert init(shape).dtype == np.float32


@pytest.mark.parametrize("init, dtype, message", [
    (I.Constant(300), "int8", "dtype=int8 cannot hold value=300: outside [-128, 127]"),
    (I.Constant(-1), "uint8", "dtype=uint8 cannot hold value=-1: outside [0, 255]"),
    (I.Constant(0.5), "int32", "dtype=int32 cannot hold value=0.5: not a whole number"),
    (I.Constant(float("nan")), "int32", "dtype=int32 cannot hold value=nan: not a whole number"),
    (I.Constant(2), "bool", "dtype=bool cannot hold value=2: outside [0, 1]"),
    (I.Constant(1e6), "float16", "dtype=float16 cannot hold value=1000000.0: it overflows to inf"),
    (I.Constant(1e39), "float32", "dtype=float32 cannot hold value=1e+39: it overflows to inf"),
    (I.Constant(2 ** 63), "int64", f"dtype=int64 cannot hold value={2 ** 63}: outside "
                                    f"[{-2 ** 63}, {2 ** 63 - 1}]"),
    (I.Identity(gain=1.5), "int32", "dtype=int32 cannot hold gain=1.5: not a whole number"),
    (I.Orthogonal(gain=1e6, seed=1), "float16",
     "dtype=float16 cannot hold gain * values=")])
def test_a_dtype_that_cannot_hold_the_values_is_a_value_error_naming_dtype(init, dtype, message):
    with pytest.raises(ValueError) as info:
        init((4, 4), dtype=dtype)
    assert str(info.value).startswith(message), str(info.value)


def test_random_initializer_value_overflow_names_dtype():
    with pytest.raises(ValueError, match=r"^RandomNormal with shape=\(2,\), dtype=float16: "
                                         r"mean, stddev: values would reach"):
        I.RandomNormal(stddev=1e5, seed=1)((2,), dtype="float16")


@pytest.mark.parametrize("init", [I.RandomNormal(seed=1), I.GlorotUniform(seed=1),
                                  I.Orthogonal(seed=1), I.STFT()], ids=repr)
@pytest.mark.parametrize("dtype", ["int32", "bool", "complex64"])
def test_random_and_computed_initializers_refuse_non_float_dtypes(init, dtype):
    with pytest.raises(TypeError, match=rf"^dtype must be float32, float64, float16 or bfloat16, "
                                        rf"got {dtype}$"):
        init((4, 1, 4), dtype=dtype)


@pytest.mark.parametrize("dtype", ["complex64", "U3", "not-a-dtype", None.__class__])
def test_constant_initializers_refuse_other_dtypes(dtype):
    with pytest.raises(TypeError, match=r"^dtype must be a float \(float32, float64, float16, "
                                        r"bfloat16\), bool or integer dtype, got "):
        I.Zeros()((2,), dtype=dtype)


@pytest.mark.parametrize("cls", RANDOM_CLASSES + [I.STFT], ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_float_dtypes(cls, dtype):
    init = _make(cls)
    shape = (16, 1, 9) if cls is I.STFT else (6, 3, 4)
    out = init(shape, dtype=dtype)
    assert out.shape == shape and out.dtype == I._constant_dtype(dtype)
    assert np.isfinite(out.astype(np.float64)).all()
    if cls not in (I.Orthogonal, I.STFT):  # the float32 values, rounded
        np.testing.assert_array_equal(
            out.astype(np.float64),
            init(shape, dtype="float32").astype(dtype).astype(np.float64)
            if dtype in ("float16", "bfloat16") else out.astype(np.float64))


# --------------------------------------------------------------------------- Orthogonal


@pytest.mark.parametrize("shape", [(10, 10), (40, 7), (7, 40), (3, 3, 16, 32), (3, 3, 64, 8),
                                   (5, 4, 6), (1, 9), (9, 1)])
@pytest.mark.parametrize("gain", [1.0, 0.5, 3.0])
def test_orthogonal_gram_matrix_is_gain_squared_identity(shape, gain):
    w = I.Orthogonal(gain=gain, seed=11)(shape, dtype="float64")
    assert w.shape == shape
    flat = w.reshape(-1, shape[-1])
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram, gain ** 2 * np.eye(gram.shape[0]), atol=1e-12 * gain ** 2)
    w32 = I.Orthogonal(gain=gain, seed=11)(shape)
    flat32 = w32.astype(np.float64).reshape(flat.shape)
    gram32 = flat32.T @ flat32 if flat.shape[0] >= flat.shape[1] else flat32 @ flat32.T
    np.testing.assert_allclose(gram32, gain ** 2 * np.eye(gram.shape[0]), atol=1e-5 * gain ** 2)


@pytest.mark.parametrize("shape", [(12, 5), (5, 12), (2, 3, 4)])
def test_orthogonal_is_the_sign_fixed_q_of_a_fastki_normal_matrix(shape):
    rows, cols = math.prod(shape[:-1]), shape[-1]
    a = fastki.normal((max(rows, cols), min(rows, cols)), seed=21, stream=3, dtype="float64")
    q, r = np.linalg.qr(a)
    q = q * np.sign(np.diagonal(r))
    expected = (q.T if rows < cols else q).reshape(shape)
    np.testing.assert_array_equal(I.Orthogonal(seed=21, stream=3)(shape, dtype="float64"), expected)


def test_orthogonal_and_identity_reject_wrong_ranks():
    with pytest.raises(ValueError, match=r"^The tensor to initialize must be at least "
                                         r"two-dimensional\. Received: shape=\(3,\) of rank 1\.$"):
        I.Orthogonal(seed=1)((3,))
    for shape in [(2, 2, 2), (3,)]:
        with pytest.raises(ValueError, match=rf"^Identity matrix initializer can only be used "
                                             rf"for 2D matrices\. Received: "
                                             rf"shape={re.escape(str(shape))} of rank {len(shape)}\.$"):
            I.Identity()(shape)


# --------------------------------------------------------------------------- STFT


@pytest.mark.parametrize("side", ["real", "imag"])
@pytest.mark.parametrize("window, scaling", [("hann", "density"), ("hamming", "spectrum"),
                                             (None, None), ([1.0, 2.0, 3.0, 4.0], "density")])
def test_stft_matches_its_formula(side, window, scaling):
    signal = pytest.importorskip("scipy.signal")
    frames, bins = 4, 5
    out = I.STFT(side, window, scaling)((frames, 1, bins), dtype="float64")
    t = np.arange(frames)[:, None, None]
    f = np.arange(bins)[None, None, :]
    angle = -2 * np.pi * t * f / (2 * (bins - 1))
    expected = np.cos(angle) if side == "real" else np.sin(angle)
    if window is not None:
        win = (signal.get_window(window, frames, fftbins=False) if isinstance(window, str)
               else np.asarray(window))
        norm = np.sqrt(np.sum(win ** 2)) if scaling == "density" else np.sum(np.abs(win))
        expected = expected * win[:, None, None] / norm
    np.testing.assert_allclose(out, expected, rtol=1e-14, atol=1e-15)


def test_stft_broadcasts_over_input_channels():
    one = I.STFT()((8, 1, 5))
    three = I.STFT()((8, 3, 5))
    assert three.shape == (8, 3, 5)
    for c in range(3):
        np.testing.assert_array_equal(three[:, c:c + 1, :], one)


# --------------------------------------------------------------------------- argument errors

@pytest.mark.parametrize("kwargs, exc, message", [
    (dict(scale=0), ValueError, "Argument `scale` must be positive float. Received: scale=0"),
    (dict(scale=-1.0), ValueError, "Argument `scale` must be positive float. Received: scale=-1.0"),
    (dict(scale=float("inf")), ValueError,
     "Argument `scale` must be positive float. Received: scale=inf"),
    (dict(scale="a"), TypeError, "Argument `scale` must be positive float. Received: scale='a'"),
    (dict(mode="fan"), ValueError,
     "Invalid `mode` argument: 'fan'. Please use one of ['fan_in', 'fan_out', 'fan_avg']"),
    (dict(distribution="foo"), ValueError,
     "Invalid `distribution` argument: foo. Please use one of "
     "['truncated_normal', 'normal', 'untruncated_normal', 'uniform']"),
    (dict(distribution=3), TypeError,
     "Invalid `distribution` argument: 3. Please use one of "
     "['truncated_normal', 'normal', 'untruncated_normal', 'uniform']"),
])
def test_variance_scaling_argument_errors(kwargs, exc, message):
    with pytest.raises(exc, match="^" + re.escape(message) + "$"):
        I.VarianceScaling(**kwargs)


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("seed", ["x", 1.5, -1, 2 ** 64, True, [1]])
def test_bad_seeds_are_value_errors(cls, seed):
    with pytest.raises(ValueError, match=r"^`seed` argument should be an instance of "
                                         r"`keras\.random\.SeedGenerator\(\)` or an integer "
                                         r"in \[0, 2\*\*64\)\. Received: seed="):
        cls(seed=seed)


@pytest.mark.parametrize("stream, exc", [(-1, ValueError), (2 ** 64, ValueError),
                                         (1.0, TypeError), ("1", TypeError)])
def test_bad_streams_are_refused_naming_stream(stream, exc):
    with pytest.raises(exc, match=r"^stream must be"):
        I.HeNormal(seed=1, stream=stream)


@pytest.mark.parametrize("kwargs, message", [
    (dict(side="x"), "side should be 'real' or 'imag', not 'x'"),
    (dict(scaling="x"), "Scaling is invalid, it must be `None`, 'density' or 'spectrum'. "
                        "Received scaling='x'"),
])
def test_stft_argument_errors(kwargs, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        I.STFT(**kwargs)


def test_stft_unknown_window_is_scipys_value_error():
    pytest.importorskip("scipy.signal")
    with pytest.raises(ValueError, match=r"^STFT\(window='nope'\): "):
        I.STFT(window="nope")


def test_constant_refuses_non_numbers():
    with pytest.raises(TypeError, match=r"^Argument `value` must be a number or an array of "
                                        r"numbers\. Received: value='a'$"):
        I.Constant("a")


# --------------------------------------------------------------------------- seeds, streams


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=lambda c: c.__name__)
def test_int_seed_repeats_values_on_every_call_and_instance(cls):
    a, b = cls(seed=77), cls(seed=77)
    first = a((20, 10))
    np.testing.assert_array_equal(first, a((20, 10)))
    np.testing.assert_array_equal(first, b((20, 10)))
    assert not np.array_equal(first, cls(seed=78)((20, 10)))


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=lambda c: c.__name__)
def test_seed_none_is_fixed_at_construction(cls):
    a = cls()
    first = a((20, 10))
    np.testing.assert_array_equal(first, a((20, 10)))  # the shared-initializer trap
    assert not np.array_equal(first, cls()((20, 10)))
    assert a.get_config()["seed"] is None  # as in Keras: a clone draws its own seed
    assert not np.array_equal(first, a.clone()((20, 10)))


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=lambda c: c.__name__)
def test_seed_none_follows_pythons_random_module_like_keras(cls):
    state = random.getstate()
    try:
        random.seed(31)
        first = cls()((20, 10))
        random.seed(31)
        np.testing.assert_array_equal(cls()((20, 10)), first)
        random.seed(32)
        assert not np.array_equal(cls()((20, 10)), first)
    finally:
        random.setstate(state)


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=lambda c: c.__name__)
def test_streams_give_each_layer_its_own_values(cls):
    shared = cls(seed=5)
    per_layer = [cls(seed=5, stream=k)((30, 20)) for k in range(3)]
    np.testing.assert_array_equal(per_layer[0], shared((30, 20)))
    assert not np.array_equal(per_layer[0], per_layer[1])
    assert not np.array_equal(per_layer[1], per_layer[2])
    config = cls(seed=5, stream=2).get_config()
    assert config["stream"] == 2 and "stream" not in cls(seed=5).get_config()
    np.testing.assert_array_equal(cls.from_config(config)((30, 20)), per_layer[2])


def test_values_are_the_functional_api_values():
    shape = (50, 40)
    np.testing.assert_array_equal(I.RandomNormal(1.0, 2.0, seed=3, stream=4)(shape),
                                  fastki.normal(shape, 1.0, 2.0, seed=3, stream=4))
    np.testing.assert_array_equal(I.RandomUniform(-1.0, 2.0, seed=3)(shape, dtype="float64"),
                                  fastki.uniform(shape, -1.0, 2.0, seed=3, dtype="float64"))
    np.testing.assert_array_equal(I.TruncatedNormal(0.5, 2.0, seed=3)(shape),
                                  fastki.truncated_normal(shape, 0.5, 2.0, seed=3))
    std = math.sqrt(2.0 / 50) / I.TRUNCATED_UNIT_NORMAL_STD
    np.testing.assert_array_equal(I.HeNormal(seed=9)(shape),
                                  fastki.truncated_normal(shape, 0.0, std, lower=-2.0, upper=2.0,
                                                          seed=9))
    limit = math.sqrt(6.0 / 90)
    np.testing.assert_array_equal(I.GlorotUniform(seed=9)(shape),
                                  fastki.uniform(shape, -limit, limit, seed=9))


# --------------------------------------------------------------------------- statistics
# 1e6+ draws: the sampling error of a standard deviation is below 0.1 %, the bound is 1 %.

STD_SHAPES = [(1000, 1000), (1000, 1200), (3, 3, 128, 1000), (5, 200, 1000), (2, 2, 2, 64, 1000),
              (1_000_000,)]


def _target_std(scale, mode, shape, input_axes=None, output_axes=None):
    fan_in, fan_out = I.compute_fans(shape, input_axes, output_axes)
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    return math.sqrt(scale / max(1.0, fan))


@pytest.mark.parametrize("shape", STD_SHAPES)
@pytest.mark.parametrize("cls", list(FIXED_VARIANCE), ids=lambda c: c.__name__)
def test_named_variance_scalings_std_within_one_percent(cls, shape):
    scale, mode, distribution = FIXED_VARIANCE[cls]
    target = _target_std(scale, mode, shape)
    w = cls(seed=101)(shape).astype(np.float64)
    assert abs(w.std() / target - 1) < 0.01, (w.std(), target)
    assert abs(w.mean()) < 0.01 * target
    bound = (2 * target / I.TRUNCATED_UNIT_NORMAL_STD if distribution == "truncated_normal"
             else math.sqrt(3) * target)
    assert np.abs(w).max() <= bound * (1 + 1e-6)  # truncation never lets a value out


@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "untruncated_normal", "uniform"])
def test_variance_scaling_std_within_one_percent(mode, distribution):
    shape = (3, 3, 64, 2000)
    init = I.VarianceScaling(scale=0.3, mode=mode, distribution=distribution, seed=7)
    w = init(shape).astype(np.float64)
    target = _target_std(0.3, mode, shape)
    assert abs(w.std() / target - 1) < 0.01, (w.std(), target)


def test_variance_scaling_with_axes_std_within_one_percent():
    shape = (10, 100, 1000)
    init = I.VarianceScaling(scale=2.0, mode="fan_in", distribution="untruncated_normal",
                             seed=7, input_axes=[1], output_axes=[0, 2])
    w = init(shape).astype(np.float64)
    assert abs(w.std() / math.sqrt(2.0 / 100) - 1) < 0.01


@pytest.mark.parametrize("init, mean, std", [
    (I.RandomNormal(0.5, 2.0, seed=3), 0.5, 2.0),
    (I.RandomUniform(-1.0, 3.0, seed=3), 1.0, 4.0 / math.sqrt(12)),
    (I.TruncatedNormal(0.0, 0.3, seed=3), 0.0, 0.3 * I.TRUNCATED_UNIT_NORMAL_STD),
    (I.RandomNormal(seed=3), 0.0, 0.05),
    (I.RandomUniform(seed=3), 0.0, 0.1 / math.sqrt(12)),
    (I.TruncatedNormal(seed=3), 0.0, 0.05 * I.TRUNCATED_UNIT_NORMAL_STD),
], ids=repr)
def test_random_initializers_std_within_one_percent(init, mean, std):
    w = init((1000, 1000)).astype(np.float64)
    assert abs(w.std() / std - 1) < 0.01, (w.std(), std)
    assert abs(w.mean() - mean) < 0.01 * std


# --------------------------------------------------------------------------- blocks
# _block_source is how fastki.dask makes an initializer's values chunk by chunk.

BLOCK_CASES = [  # (initializer, shape, whether it makes a block alone)
    (I.Zeros(), (7, 5), True), (I.Ones(), (4, 3, 6), True), (I.Constant(-0.0), (7, 5), True),
    (I.Constant(3), (), True), (I.Constant([[1.0], [2.0]]), (2, 6), False),
    (I.Identity(2.0), (7, 5), True), (I.Identity(), (5, 7), True),
    (I.STFT(), (16, 2, 9), False),
    (I.RandomNormal(seed=1), (7, 5), True), (I.RandomUniform(seed=2, stream=3), (6,), True),
    (I.TruncatedNormal(seed=3), (), True), (I.VarianceScaling(seed=4), (3, 4, 5), True),
    (I.GlorotNormal(seed=5), (7, 5), True), (I.GlorotUniform(seed=6), (7, 5), True),
    (I.HeNormal(seed=7), (7, 5), True), (I.HeUniform(seed=8), (7, 5), True),
    (I.LecunNormal(seed=9), (7, 5), True), (I.LecunUniform(seed=10), (7, 5), True),
    (I.Orthogonal(seed=11), (7, 5), False),
]


def _blocks_of(shape):
    """Blocks of every kind: whole, one element at each corner, inner, empty."""
    yield tuple(slice(None) for _ in shape)
    if shape:
        yield tuple(slice(0, 1) for _ in shape)
        yield tuple(slice(d - 1, d) for d in shape)
        yield tuple(slice(1, -1) for _ in shape)
        yield tuple(slice(2, 2) for _ in shape)


@pytest.mark.parametrize("init, shape, blockwise", BLOCK_CASES, ids=repr)
@pytest.mark.parametrize("dtype", ["float64", "bfloat16"])
def test_block_source_makes_each_block_as_the_call_does(init, shape, blockwise, dtype):
    source = I._block_source(init, shape, dtype)
    full = init(shape, dtype)
    assert (source.shape, source.dtype, source.blockwise) == (shape, full.dtype, blockwise)
    make = pickle.loads(pickle.dumps(source.make))  # what a worker process receives
    assert make().tobytes() == full.tobytes()
    for block in _blocks_of(shape):
        values = make(block=block)
        assert values.dtype == full.dtype and values.shape == full[block].shape, block
        assert values.tobytes() == full[block].tobytes(), block


def test_identity_blocks_hold_the_diagonal_elements_inside_them():
    source = I._block_source(I.Identity(gain=5), (6, 4), "int32")
    np.testing.assert_array_equal(source.make(block=(slice(2, 5), slice(1, 4))),
                                  [[0, 5, 0], [0, 0, 5], [0, 0, 0]])


def test_block_source_of_a_subclass_with_its_own_call_uses_its_call():
    class Doubled(I.RandomNormal):
        def __call__(self, shape, dtype=None):
            return 2 * super().__call__(shape, dtype)

    source = I._block_source(Doubled(seed=1), (3, 4), "float64")
    assert not source.blockwise
    np.testing.assert_array_equal(source.make(), 2 * I.RandomNormal(seed=1)((3, 4), "float64"))


def test_block_source_of_a_function_checks_what_it_returns():
    source = I._block_source(lambda shape, dtype=None: np.ones(shape, "float64"), (2, 3), None)
    assert not source.blockwise and source.dtype == np.float32
    assert source.make().dtype == np.float32  # cast exactly to the declared dtype
    wrong = I._block_source(lambda shape, dtype=None: np.ones((3, 2)), (2, 3), None)
    with pytest.raises(ValueError, match=re.escape("returned shape (3, 2) for shape=(2, 3)")):
        wrong.make()


@pytest.mark.parametrize("init, shape, dtype", [
    (I.Identity(), (2, 2, 2), None), (I.Orthogonal(seed=1), (5,), None),
    (I.STFT(), (16, 1, 1), None), (I.Constant([1, 2, 3]), (2, 2), None),
    (I.Constant(300), (2,), "int8"), (I.GlorotUniform(seed=1), (3, 3), "int32"),
], ids=repr)
def test_block_source_raises_what_the_call_raises(init, shape, dtype):
    with pytest.raises(Exception) as expected:
        init(shape, dtype)
    with pytest.raises(type(expected.value), match=re.escape(str(expected.value))):
        I._block_source(init, shape, dtype)
