"""fastki.torch: torch.nn.init's fills on fastki's generators, and init_module.

Bytes: every random fill equals the functional API's values for the same seed, stream and
dtype, by logical index, for contiguous and non-contiguous tensors.  Semantics: PyTorch's
formulas (fans, gains, bounds), its argument errors, and PyTorch 2.13's default init of each
layer type.  Statistics: large samples against torch.nn.init's distributions.
"""
import math
import re
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import fastki  # noqa: E402
import fastki.torch as ft  # noqa: E402

DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
DTYPE_IDS = [str(d).replace("torch.", "") for d in DTYPES]
SHAPE = (37, 53)  # 1961 elements: not a whole number of fastki's 80-element groups
SEED, STREAM = 20240611, 7
# Children run outside the checkout: `python -c` puts its working directory first on sys.path.
OUTSIDE = tempfile.gettempdir()


def numpy_dtype(dtype):
    """The dtype argument of fastki's functional API for a torch dtype."""
    if dtype == torch.bfloat16:
        return pytest.importorskip("ml_dtypes").bfloat16
    return str(dtype).replace("torch.", "")


def raw(tensor):
    """The tensor's bytes in logical C order."""
    return tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def as_float64(tensor):
    return tensor.detach().to(torch.float64).numpy()


def layouts(dtype, shape=SHAPE):
    """(name, fresh tensor of the logical shape) for each memory layout the fills meet."""
    rows, cols = shape
    yield "contiguous", torch.empty(shape, dtype=dtype)
    yield "transposed", torch.empty((cols, rows), dtype=dtype).T
    yield "strided slice", torch.empty((rows, 2 * cols), dtype=dtype)[:, ::2]


def below(b, dtype):
    """The largest value of dtype below b, for a b that dtype represents."""
    t = torch.tensor(b, dtype=dtype)
    assert t.item() == b
    return torch.nextafter(t, torch.tensor(-math.inf, dtype=dtype)).item()


# --------------------------------------------------------------------------- import


def test_import_fastki_does_not_import_torch():
    code = ("import sys, fastki; assert 'torch' not in sys.modules, 'torch imported'; "
            "import fastki.torch; assert 'torch' in sys.modules; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=OUTSIDE, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


# --------------------------------------------------------------------------- bytes


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_normal_equals_functional_api(dtype):
    expected = fastki.normal(SHAPE, 0.25, 1.5, seed=SEED, stream=STREAM, dtype=numpy_dtype(dtype))
    for layout, tensor in layouts(dtype):
        result = ft.normal_(tensor, 0.25, 1.5, seed=SEED, stream=STREAM)
        assert result is tensor, layout
        assert raw(tensor) == expected.tobytes(), layout


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_trunc_normal_equals_functional_api(dtype):
    # a, b = mean -+ 2 std exactly, in every dtype: lower/upper are -2 and 2 unchanged
    expected = fastki.truncated_normal(SHAPE, 0.5, 0.25, lower=-2.0, upper=2.0, seed=SEED,
                                       stream=STREAM, dtype=numpy_dtype(dtype))
    for layout, tensor in layouts(dtype):
        result = ft.trunc_normal_(tensor, 0.5, 0.25, 0.0, 1.0, seed=SEED, stream=STREAM)
        assert result is tensor, layout
        assert raw(tensor) == expected.tobytes(), layout


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_uniform_equals_functional_api(dtype):
    expected = fastki.uniform(SHAPE, -1.0, 1.0, seed=SEED, stream=STREAM, dtype=numpy_dtype(dtype))
    expected = expected.astype(np.float64)
    # float16/bfloat16 values that round up to b become the largest value below it
    expected[expected == 1.0] = below(1.0, dtype)
    for layout, tensor in layouts(dtype):
        result = ft.uniform_(tensor, -1.0, 1.0, seed=SEED, stream=STREAM)
        assert result is tensor, layout
        np.testing.assert_array_equal(as_float64(tensor), expected, err_msg=layout)
        if dtype in (torch.float32, torch.float64):
            native = fastki.uniform(SHAPE, -1.0, 1.0, seed=SEED, stream=STREAM,
                                    dtype=numpy_dtype(dtype))
            assert raw(tensor) == native.tobytes(), layout


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_fan_based_fills_equal_functional_api(dtype):
    """kaiming/xavier: the functional API's values with torch's bound or std, computed here
    with torch's own float operations."""
    shape = (6, 4, 3, 3)  # conv weight: fan_in = 36, fan_out = 54
    np_dtype = numpy_dtype(dtype)
    gain = math.sqrt(2.0 / (1 + 0.2 ** 2))
    cases = [
        (lambda t: ft.kaiming_uniform_(t, a=0.2, seed=SEED, stream=STREAM),
         fastki.uniform, math.sqrt(3.0) * (gain / math.sqrt(36))),
        (lambda t: ft.kaiming_normal_(t, a=0.2, mode="fan_out", seed=SEED, stream=STREAM),
         fastki.normal, gain / math.sqrt(54)),
        (lambda t: ft.xavier_uniform_(t, gain=0.5, seed=SEED, stream=STREAM),
         fastki.uniform, math.sqrt(3.0) * (0.5 * math.sqrt(2.0 / float(36 + 54)))),
        (lambda t: ft.xavier_normal_(t, gain=0.5, seed=SEED, stream=STREAM),
         fastki.normal, 0.5 * math.sqrt(2.0 / float(36 + 54))),
    ]
    for fill, generate, scale in cases:
        if generate is fastki.uniform:
            expected = generate(shape, -scale, scale, seed=SEED, stream=STREAM, dtype=np_dtype)
        else:
            expected = generate(shape, 0.0, scale, seed=SEED, stream=STREAM, dtype=np_dtype)
        contiguous = torch.empty(shape, dtype=dtype)
        channels_last = torch.empty(shape, dtype=dtype).to(memory_format=torch.channels_last)
        assert not channels_last.is_contiguous()
        for tensor in (contiguous, channels_last):
            assert fill(tensor) is tensor
            got, want = as_float64(tensor), expected.astype(np.float64)
            if generate is fastki.uniform and dtype in (torch.float16, torch.bfloat16):
                top = want >= scale  # rounded up to the bound: set just below it
                assert np.all(got[top] < scale)
                got, want = got[~top], want[~top]
            np.testing.assert_array_equal(got, want)


def test_fills_share_memory_and_make_no_temporary(monkeypatch):
    """Contiguous tensors are written through a NumPy view of their own memory: no torch
    temporary is made (torch.empty is never called) and the storage stays the same."""
    tensors = [torch.empty(SHAPE, dtype=d) for d in DTYPES]
    pointers = [t.data_ptr() for t in tensors]

    def no_temporary(*args, **kwargs):
        raise AssertionError("a temporary tensor was made")

    monkeypatch.setattr(torch, "empty", no_temporary)
    for tensor, pointer in zip(tensors, pointers):
        array = ft._memory._shared_array(tensor)
        assert array is not None and array.ctypes.data == pointer
        for fill in (ft.normal_, ft.uniform_, ft.trunc_normal_, ft.xavier_uniform_,
                     ft.kaiming_normal_):
            assert fill(tensor, seed=1) is tensor
            assert tensor.data_ptr() == pointer


def test_non_contiguous_goes_through_a_temporary():
    tensor = torch.empty(SHAPE).T
    assert ft._memory._shared_array(tensor) is None
    ft.normal_(tensor, seed=SEED)
    expected = fastki.normal(tensor.shape, seed=SEED)  # by logical index, not memory order
    np.testing.assert_array_equal(tensor.numpy(), expected)


def test_bfloat16_without_ml_dtypes_is_refused_untouched(monkeypatch):
    """fastki's bfloat16 values are clamped and rounded through ml_dtypes; without it a
    random fill of a bfloat16 tensor is a TypeError and the tensor keeps its values."""
    monkeypatch.setattr(ft._memory, "_BFLOAT16", None)
    t = torch.full((4, 5), 7.0, dtype=torch.bfloat16)
    for fill in (lambda: ft.normal_(t, seed=1), lambda: ft.uniform_(t, seed=1),
                 lambda: ft.trunc_normal_(t, seed=1), lambda: ft.kaiming_uniform_(t, seed=1)):
        with pytest.raises(TypeError, match=r"tensor: random fills of bfloat16 tensors need "
                                            r"the ml_dtypes package"):
            fill()
        assert (t == 7.0).all()
    assert ft.ones_(t) is t and (t == 1.0).all()  # constants need no ml_dtypes


def test_parameters_that_require_grad_are_filled_in_place():
    weight = nn.Parameter(torch.empty(8, 5))
    version = weight._version
    assert ft.kaiming_uniform_(weight, seed=1) is weight
    assert weight.requires_grad and weight.grad_fn is None
    assert weight._version > version  # autograd sees the write
    for fill in (ft.orthogonal_, ft.ones_, ft.eye_, lambda w: ft.sparse_(w, 0.5, seed=1)):
        assert fill(weight) is weight


def test_same_seed_same_bytes_seed_none_differs():
    a, b = torch.empty(1000), torch.empty(1000)
    assert raw(ft.normal_(a, seed=3)) == raw(ft.normal_(b, seed=3))
    assert raw(ft.normal_(a, seed=3, stream=1)) != raw(ft.normal_(b, seed=3))
    assert raw(ft.normal_(a)) != raw(ft.normal_(b))  # seed=None: fresh OS bits


def test_zero_element_and_zero_dimensional_tensors():
    empty = torch.empty(0, 5)
    for fill in (ft.normal_, ft.uniform_, ft.trunc_normal_, ft.xavier_uniform_, ft.orthogonal_):
        assert fill(empty, seed=1) is empty
    with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
        ft.kaiming_uniform_(empty, seed=1)
    scalar = torch.empty(())
    ft.normal_(scalar, seed=5)
    assert scalar.item() == float(fastki.normal((), seed=5))


# --------------------------------------------------------------------------- statistics
# n = 10**6 values: a sample std has a relative standard error of about 1/sqrt(2n) = 0.07%
# (for uniform values 0.06%), so a 1% tolerance is about 14 standard errors: the tests
# cannot fail by chance, yet any error in a scale factor (sqrt(2), sqrt(3), a fan) shows.

N = 10 ** 6


def test_normal_statistics():
    t = ft.normal_(torch.empty(1000, 1000), 0.5, 2.0, seed=1)
    assert abs(t.mean().item() - 0.5) < 0.01  # standard error 2 / sqrt(n) = 0.002
    assert t.std().item() == pytest.approx(2.0, rel=0.01)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_uniform_bounds_exact_and_std(dtype):
    a, b = -0.3, 0.7  # not representable: a rounds to nearest (as torch), b is never reached
    t = ft.uniform_(torch.empty(N, dtype=dtype), a, b, seed=2)
    values = as_float64(t)
    assert values.min() >= torch.tensor(a, dtype=dtype).item()
    assert values.max() < b
    assert values.std() == pytest.approx((b - a) / math.sqrt(12), rel=0.01)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_uniform_half_precision_never_reaches_b(dtype):
    """float32 values just below b would round up to b in float16/bfloat16 (about 2e-4 and
    2e-3 of them on [0, 1)); fastki clamps them first, so uniform_ keeps torch's [a, b) and
    still equals fastki.uniform byte for byte."""
    t = ft.uniform_(torch.empty(N, dtype=dtype), 0.0, 1.0, seed=3)
    assert as_float64(t).max() == below(1.0, dtype)
    want = fastki.uniform(N, 0.0, 1.0, seed=3, dtype=numpy_dtype(dtype))
    assert t.view(torch.int16).numpy().tobytes() == want.tobytes()


def test_kaiming_and_xavier_statistics_match_torch_formulas():
    w = torch.empty(1000, 1000)  # fan_in = fan_out = 1000
    bound = math.sqrt(3.0) * math.sqrt(2.0) / math.sqrt(1000)
    ft.kaiming_uniform_(w, nonlinearity="relu", seed=4)
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.999 * bound
    assert w.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.01)
    ft.kaiming_normal_(w, mode="fan_out", nonlinearity="tanh", seed=4)
    assert w.std().item() == pytest.approx(5.0 / 3 / math.sqrt(1000), rel=0.01)
    ft.xavier_uniform_(w, gain=2.0, seed=4)
    bound = 2.0 * math.sqrt(6.0 / 2000)
    assert w.abs().max().item() <= bound and w.abs().max().item() > 0.999 * bound
    ft.xavier_normal_(w, gain=2.0, seed=4)
    assert w.std().item() == pytest.approx(2.0 * math.sqrt(2.0 / 2000), rel=0.01)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_trunc_normal_statistics_and_bounds(dtype):
    from scipy import stats

    mean, std, a, b = 0.1, 0.3, -0.25, 0.37  # bounds that no dtype represents exactly
    t = ft.trunc_normal_(torch.empty(N, dtype=dtype), mean, std, a, b, seed=5)
    values = as_float64(t)
    assert a <= values.min() and values.max() <= b
    law = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert values.mean() == pytest.approx(law.mean(), abs=0.01 * law.std())
    assert values.std() == pytest.approx(law.std(), rel=0.01)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("mean, std, a, b", [
    (0.0, 1.0, -2.0, 2.0),
    (1.0, 1.0, 1e-20, 3.0),          # a far below mean's ulp: (a - mean) / std rounds to -1
    (0.0, 0.01, 0.0299, 0.0301),     # deep in the tail
    (5.0, 2.0, -math.inf, 5.5),      # one-sided
    (-3.0, 1e-3, -3.0001, math.inf),
    (0.0, 1.0, 0.1, 0.1000001),      # narrower than most dtypes' spacing
])
def test_trunc_normal_never_leaves_a_b(dtype, mean, std, a, b):
    t = torch.empty(200_000, dtype=dtype)
    try:
        ft.trunc_normal_(t, mean, std, a, b, seed=6)
    except ValueError as exc:  # allowed only where the dtype has no value in [a, b]
        assert "no finite" in str(exc) and dtype in (torch.float16, torch.bfloat16)
        return
    values = as_float64(t)
    assert a <= values.min() and values.max() <= b


def test_trunc_normal_ends_land_in_the_gap_that_rounds_onto_a_and_b():
    """fastki rounds the interval's ends inward to the dtype, so an end in the gap
    (previous value, first] gives exactly first; (first - loc) / scale can miss that gap
    by an ulp and is stepped into it, checked in exact rationals."""
    from fractions import Fraction

    def end(z):
        return Fraction(1.0) + Fraction(1.0) * Fraction(z)

    first = float(np.float32(1e-20))                  # 1 + z cannot reach it: 0 < 1e-20
    naive = (first - 1.0) / 1.0
    assert end(naive) < Fraction(first)
    lower, upper = ft._fills._stddev_units(first, 2.0, 1.0, 1.0, torch.float32)
    # 1 + z steps by 2**-53 near 0: no end lies in (previous float32, 1e-20], the nearest
    # inside is 2**-53
    assert lower == math.nextafter(-1.0, 0.0) and end(lower) == Fraction(2.0 ** -53)
    assert upper == 1.0
    # a gap a step of z can reach: (previous float32, 0.75] below 0.75, with loc 0.5
    lower, _ = ft._fills._stddev_units(0.75, 2.0, 0.5, 1.0 / 3.0, torch.float32)
    gap_low = Fraction(float(np.nextafter(np.float32(0.75), np.float32(0))))
    assert gap_low < Fraction(0.5) + Fraction(1.0 / 3.0) * Fraction(lower) <= Fraction(0.75)
    # float64: the gap below 1e-300 is far finer than a step of z near -1: the nearest end
    # inside the interval is taken
    lower, _ = ft._fills._stddev_units(1e-300, 2.0, 1.0, 1.0, torch.float64)
    assert lower == math.nextafter(-1.0, 0.0) and end(lower) >= Fraction(1e-300)


def test_trunc_normal_two_value_interval_gives_both_values():
    """[0.0299, 0.0301] holds two bfloat16 values; both must occur and nothing else."""
    t = ft.trunc_normal_(torch.empty(10_000, dtype=torch.bfloat16), 0.0, 0.01, 0.0299,
                         0.0301, seed=1)
    values = sorted(set(t.float().tolist()))
    assert len(values) == 2 and 0.0299 <= values[0] < values[1] <= 0.0301


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_trunc_normal_degenerate_cases(dtype):
    t = torch.empty(100, dtype=dtype)
    assert torch.all(ft.trunc_normal_(t, 0.25, 0.0, seed=1) == 0.25)  # std=0: the mean
    assert torch.all(ft.trunc_normal_(t, 7.0, 0.0, -2.0, 2.0, seed=1) == 2.0)  # clamped
    assert torch.all(ft.trunc_normal_(t, 0.0, 1.0, 0.5, 0.5, seed=1) == 0.5)  # a == b
    with pytest.raises(ValueError, match=r"a must not exceed b, got a=1.0 > b=0.5"):
        ft.trunc_normal_(t, 0.0, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="a and b must not be NaN"):
        ft.trunc_normal_(t, 0.0, 1.0, math.nan, 0.5)
    with pytest.raises(ValueError, match="no finite .* value lies in"):
        ft.trunc_normal_(t, 0.0, 1.0, math.inf, math.inf)
    with pytest.raises(ValueError, match="probability"):  # a value, but no mass, for fastki
        ft.trunc_normal_(t, 0.0, 1.0, 60.0, 61.0)


def test_calculate_gain_equals_torch():
    for name in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                 "conv_transpose3d", "sigmoid", "tanh", "relu", "selu", "leaky_relu"):
        assert ft.calculate_gain(name) == nn.init.calculate_gain(name), name
    for param in (None, 0, 0.2, 1, 3.5, np.float64(0.3)):
        assert ft.calculate_gain("leaky_relu", param) == nn.init.calculate_gain("leaky_relu", param)
    for name, param in (("gelu", None), ("leaky_relu", "0.1"), ("leaky_relu", True)):
        with pytest.raises(ValueError) as theirs:
            nn.init.calculate_gain(name, param)
        with pytest.raises(ValueError, match=f"^{re.escape(str(theirs.value))}$"):
            ft.calculate_gain(name, param)


# --------------------------------------------------------------------------- orthogonal, sparse


@pytest.mark.parametrize("shape", [(300, 100), (100, 300), (64, 8, 3, 3), (50, 50)])
def test_orthogonal(shape):
    t = ft.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=2.0, seed=7, stream=1)
    rows = shape[0]
    flat = t.reshape(rows, -1) / 2.0
    small = min(flat.shape)
    gram = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(gram.numpy(), np.eye(small), atol=1e-12)
    # torch's recipe on fastki's float64 normal matrix, signs from R's diagonal
    matrix = fastki.normal((rows, flat.shape[1]), seed=7, stream=1, dtype="float64")
    q, r = np.linalg.qr(matrix.T if rows < flat.shape[1] else matrix)
    q = q * np.sign(np.diagonal(r))
    expected = 2.0 * (q.T if rows < flat.shape[1] else q)
    np.testing.assert_array_equal(t.reshape(rows, -1).numpy(), expected)
    again = ft.orthogonal_(torch.empty(shape, dtype=torch.float64), gain=2.0, seed=7, stream=1)
    assert raw(again) == raw(t)


def test_orthogonal_float32_and_noncontiguous():
    t = ft.orthogonal_(torch.empty(40, 60).T, seed=8)  # logical (60, 40): tall
    np.testing.assert_allclose((t.T @ t).numpy(), np.eye(40), atol=1e-5)


def test_sparse():
    rows, cols, sparsity, std = 1000, 1000, 0.37, 0.05
    t = ft.sparse_(torch.empty(rows, cols), sparsity, std, seed=9, stream=3)
    zeros = (t == 0)
    num_zeros = math.ceil(sparsity * rows)
    assert torch.all(zeros.sum(0) == num_zeros)  # exactly ceil(sparsity * rows) per column
    theirs = nn.init.sparse_(torch.empty(rows, 50), sparsity, std)
    assert torch.all((theirs == 0).sum(0) == num_zeros)  # torch's count too
    values = fastki.normal((rows, cols), 0.0, std, seed=9, stream=3)
    np.testing.assert_array_equal(t.numpy()[~zeros.numpy()], values[~zeros.numpy()])
    # ~630,000 nonzero N(0, std^2) values: rel. s.e. of their std 0.09%
    assert t[~zeros].std().item() == pytest.approx(std, rel=0.01)
    # the pattern is deterministic from (seed, stream), and differs per column and stream
    assert torch.equal(ft.sparse_(torch.empty(rows, cols), sparsity, std, seed=9, stream=3), t)
    other = ft.sparse_(torch.empty(rows, cols), sparsity, std, seed=9, stream=4) == 0
    assert not torch.equal(other, zeros)
    assert not torch.equal(zeros[:, 0], zeros[:, 1])


def test_sparse_zero_pattern_by_documented_keys():
    rows, cols = 30, 4
    t = ft.sparse_(torch.empty(rows, cols), 0.1, seed=11, stream=2)
    for j in range(cols):
        words = fastki.random_raw(2 * rows, seed=11, stream=2,
                                  offset=2 ** 63 + 2 * j * rows).astype(np.uint64)
        keys = words[0::2] << np.uint64(32) | words[1::2]
        zero_rows = set(np.argsort(keys, kind="stable")[:3].tolist())
        assert set(torch.nonzero(t[:, j] == 0).ravel().tolist()) == zero_rows


# --------------------------------------------------------------------------- constant fills


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_constant_fills_equal_torch(dtype):
    cases = [("eye_", (), (3, 5)), ("ones_", (), (4, 2)), ("zeros_", (), (4, 2)),
             ("constant_", (0.3,), (7,)), ("dirac_", (), (6, 4, 3)), ("dirac_", (3,), (6, 2, 3, 3)),
             ("dirac_", (2,), (4, 3, 3, 1, 2))]
    for name, args, shape in cases:
        mine = torch.full(shape, 9.0, dtype=dtype)
        assert getattr(ft, name)(mine, *args) is mine
        theirs = getattr(nn.init, name)(torch.full(shape, 9.0, dtype=dtype), *args)
        assert torch.equal(mine, theirs), (name, args)
    transposed = torch.full((5, 3), 9.0, dtype=dtype).T
    assert torch.equal(ft.eye_(transposed), torch.eye(3, 5, dtype=dtype))


# --------------------------------------------------------------------------- errors


def _torch_message(fn, *args, **kwargs):
    with pytest.raises(ValueError) as info:
        fn(*args, **kwargs)
    return f"^{re.escape(str(info.value))}$"


def test_torch_argument_errors_have_torch_messages():
    vector, matrix, cube = torch.ones(5), torch.ones(3, 4), torch.ones(2, 3, 4, 5, 6, 7)
    for ours, theirs, args in (
        (ft.xavier_uniform_, nn.init.xavier_uniform_, (vector,)),
        (ft.xavier_normal_, nn.init.xavier_normal_, (vector,)),
        (ft.kaiming_uniform_, nn.init.kaiming_uniform_, (vector,)),
        (ft.kaiming_normal_, nn.init.kaiming_normal_, (vector,)),
        (ft.eye_, nn.init.eye_, (vector,)),
        (ft.dirac_, nn.init.dirac_, (matrix,)),
        (ft.dirac_, nn.init.dirac_, (torch.ones(3, 2, 2), 2)),
        (ft.orthogonal_, nn.init.orthogonal_, (vector,)),
        (ft.sparse_, nn.init.sparse_, (cube, 0.1)),
    ):
        with pytest.raises(ValueError, match=_torch_message(theirs, *args)):
            ours(*args)
    for kwargs in ({"mode": "fan_avg"}, {"nonlinearity": "swish"},
                   {"nonlinearity": "leaky_relu", "a": "x"}):
        for ours, theirs in ((ft.kaiming_uniform_, nn.init.kaiming_uniform_),
                             (ft.kaiming_normal_, nn.init.kaiming_normal_)):
            with pytest.raises(ValueError, match=_torch_message(theirs, matrix, **kwargs)):
                ours(matrix, **kwargs)


ALL_FILLS = [
    ("uniform_", lambda t: ft.uniform_(t, seed=1)),
    ("normal_", lambda t: ft.normal_(t, seed=1)),
    ("trunc_normal_", lambda t: ft.trunc_normal_(t, seed=1)),
    ("constant_", lambda t: ft.constant_(t, 2.0)),
    ("ones_", ft.ones_),
    ("zeros_", ft.zeros_),
    ("eye_", ft.eye_),
    ("xavier_uniform_", lambda t: ft.xavier_uniform_(t, seed=1)),
    ("xavier_normal_", lambda t: ft.xavier_normal_(t, seed=1)),
    ("kaiming_uniform_", lambda t: ft.kaiming_uniform_(t, seed=1)),
    ("kaiming_normal_", lambda t: ft.kaiming_normal_(t, seed=1)),
    ("orthogonal_", lambda t: ft.orthogonal_(t, seed=1)),
    ("sparse_", lambda t: ft.sparse_(t, 0.5, seed=1)),
]
FILL_IDS = [name for name, _ in ALL_FILLS]


@pytest.mark.parametrize("fill", [f for _, f in ALL_FILLS], ids=FILL_IDS)
def test_refused_tensors(fill):
    with pytest.raises(TypeError, match=r"^tensor must be a torch.Tensor, got ndarray$"):
        fill(np.zeros((3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"^tensor is on the meta device and has no memory "
                                         r"to fill: materialize it first"):
        fill(torch.empty(3, 3, device="meta"))
    with pytest.raises(ValueError, match=r"^tensor must be dense \(torch.strided\), got "
                                         r"layout torch.sparse_coo$"):
        fill(torch.eye(3).to_sparse())
    for dtype in (torch.int32, torch.int64, torch.uint8, torch.bool, torch.complex64):
        tensor = torch.ones(3, 3, dtype=dtype)
        with pytest.raises(TypeError, match=rf"^tensor must have dtype float32, float64, "
                                            rf"float16 or bfloat16, got {dtype}$"):
            fill(tensor)
        assert torch.equal(tensor, torch.ones(3, 3, dtype=dtype))  # untouched


@pytest.mark.parametrize("call, error, message", [
    (lambda t: ft.uniform_(t, 1.0, 0.0), ValueError, r"a must not exceed b, got a=1.0 > b=0.0"),
    (lambda t: ft.uniform_(t, 0.0, math.inf), ValueError, r"b must be finite"),
    (lambda t: ft.uniform_(t, "0", 1.0), TypeError, r"a must be a real number"),
    (lambda t: ft.normal_(t, 0.0, -1.0), ValueError, r"std must be non-negative, got -1.0"),
    (lambda t: ft.normal_(t, math.nan), ValueError, r"mean must not be NaN"),
    (lambda t: ft.normal_(t, seed=-1), ValueError,
     r"seed must be in \[0, 18446744073709551616\), got -1"),
    (lambda t: ft.normal_(t, seed=1.5), TypeError, r"seed must be an integer"),
    (lambda t: ft.normal_(t, stream=2 ** 64), ValueError, r"stream must be in"),
    (lambda t: ft.trunc_normal_(t, std=-0.5), ValueError, r"std must be non-negative"),
    (lambda t: ft.trunc_normal_(t, 0.0, 1.0, 40.0, 41.0), ValueError,
     r"trunc_normal_ with a=40.0, b=41.0: .*probability"),
    (lambda t: ft.xavier_uniform_(t, gain=math.inf), ValueError, r"gain must be finite"),
    (lambda t: ft.kaiming_uniform_(t, mode=3), TypeError, r"mode must be 'fan_in' or 'fan_out'"),
    (lambda t: ft.orthogonal_(t, gain="2"), TypeError, r"gain must be a real number"),
    (lambda t: ft.sparse_(t, 1.5), ValueError, r"sparsity must be in \[0, 1\], got 1.5"),
    (lambda t: ft.constant_(t, 1e39), ValueError, r"val=1e\+39 is out of range for torch.float32"),
    (lambda t: ft.constant_(t, None), TypeError, r"val must be a real number"),
    (lambda t: ft.dirac_(t.reshape(4, 4, 1), groups=0), ValueError, r"groups must be in"),
])
def test_argument_errors_leave_the_tensor_unchanged(call, error, message):
    tensor = torch.full((4, 4), 3.0)
    with pytest.raises(error, match=message):
        call(tensor)
    assert torch.all(tensor == 3.0)


def test_uninitialized_lazy_parameter_refused():
    lazy = nn.LazyLinear(4)
    with pytest.raises(ValueError, match="uninitialized parameter of a lazy module"):
        ft.normal_(lazy.weight, seed=1)


# --------------------------------------------------------------------------- init_module

INIT_SEED = 123456789


def stream(name):
    return ft.param_stream(name)


def test_param_stream_is_the_documented_blake2b():
    import hashlib

    for name in ("weight", "decoder.layers.0.self_attn.in_proj_weight", "é"):
        digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
        assert ft.param_stream(name) == int.from_bytes(digest, "little")
    with pytest.raises(TypeError, match="name must be a str"):
        ft.param_stream(b"weight")


def test_param_stream_pinned_values():
    # Changing the mapping changes every init_module value: a breaking change.
    assert ft.param_stream("weight") == 0x84e02e3edc717246
    assert ft.param_stream("0.bias") == 0xa07ce84a74296915
    assert ft.param_stream("decoder.layers.0.self_attn.in_proj_weight") == 0xcdd5ed18b1262f70


def zoo():
    """One module of each layer type init_module knows (tiny sizes)."""
    torch.manual_seed(0)
    return nn.ModuleDict({
        "lin": nn.Linear(7, 5),
        "lin_nobias": nn.Linear(3, 2, bias=False),
        "bil": nn.Bilinear(3, 4, 5),
        "c1": nn.Conv1d(4, 6, 3),
        "c2": nn.Conv2d(4, 6, (3, 2), groups=2),
        "c3": nn.Conv3d(2, 4, 2),
        "t1": nn.ConvTranspose1d(4, 6, 3),
        "t2": nn.ConvTranspose2d(4, 6, 3, groups=2),
        "t3": nn.ConvTranspose3d(2, 3, 2),
        "emb": nn.Embedding(10, 4, padding_idx=2),
        "bag": nn.EmbeddingBag(10, 4, padding_idx=0),
        "ln": nn.LayerNorm(4),
        "gn": nn.GroupNorm(2, 4),
        "rms": nn.RMSNorm(4),
        "bn1": nn.BatchNorm1d(4),
        "bn2": nn.BatchNorm2d(4),
        "bn3": nn.BatchNorm3d(4),
        "inorm": nn.InstanceNorm2d(4, affine=True, track_running_stats=True),
        "mha": nn.MultiheadAttention(8, 2),
        "mha_kv": nn.MultiheadAttention(8, 2, kdim=6, vdim=5, add_bias_kv=True),
        "rnn": nn.RNN(3, 5, 2),
        "lstm": nn.LSTM(3, 6, proj_size=2, bidirectional=True),
        "gru": nn.GRU(3, 5),
        "rnn_cell": nn.RNNCell(3, 5),
        "lstm_cell": nn.LSTMCell(3, 5),
        "gru_cell": nn.GRUCell(3, 5),
        "prelu": nn.PReLU(3, init=0.1),
        "transformer": nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1,
                                      num_decoder_layers=1, dim_feedforward=16, batch_first=True),
    })


def torch_fans(shape):
    """torch's (fan_in, fan_out) for a weight shape (out, in, *kernel), restated."""
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def expected_value(model, qualname, seed=INIT_SEED, dtype="float32"):
    """What PyTorch 2.13's default init of the owning layer draws, on fastki's generator,
    with the documented seed and stream, as an array of dtype."""
    owner_name, _, local = qualname.rpartition(".")
    owner = model.get_submodule(owner_name)
    param = getattr(owner, local)
    shape = tuple(param.shape)
    s = stream(qualname)

    def uniform(bound):
        return fastki.uniform(shape, -bound, bound, seed=seed, stream=s, dtype=dtype)

    parts = owner_name.split(".")
    in_transformer = any(isinstance(model.get_submodule(".".join(parts[:i])), nn.Transformer)
                         for i in range(1, len(parts) + 1))
    if in_transformer and param.dim() > 1:  # nn.Transformer: xavier_uniform_ on every matrix
        fan_in, fan_out = torch_fans(shape)
        return uniform(math.sqrt(3.0) * math.sqrt(2.0 / float(fan_in + fan_out)))
    if isinstance(owner, (nn.Linear, nn.modules.conv._ConvNd)):
        fan_in, _ = torch_fans(tuple(owner.weight.shape))
        if local == "weight":
            gain = math.sqrt(2.0 / (1 + math.sqrt(5) ** 2))
            return uniform(math.sqrt(3.0) * (gain / math.sqrt(fan_in)))
        parent = model.get_submodule(".".join(parts[:-1]))
        if isinstance(parent, nn.MultiheadAttention) and parts[-1] == "out_proj":
            return np.zeros(shape, dtype)
        return uniform(1 / math.sqrt(fan_in))
    if isinstance(owner, nn.Bilinear):
        return uniform(1 / math.sqrt(owner.weight.size(1)))
    if isinstance(owner, (nn.Embedding, nn.EmbeddingBag)):
        values = fastki.normal(shape, 0.0, 1.0, seed=seed, stream=s, dtype=dtype)
        values[owner.padding_idx] = 0
        return values
    if isinstance(owner, (nn.LayerNorm, nn.GroupNorm, nn.RMSNorm, nn.modules.batchnorm._NormBase)):
        return np.full(shape, 1.0 if local == "weight" else 0.0, dtype)
    if isinstance(owner, nn.MultiheadAttention):
        if local == "in_proj_bias":
            return np.zeros(shape, dtype)
        fan_in, fan_out = torch_fans(shape)
        std = math.sqrt(2.0 / float(fan_in + fan_out))
        if local.startswith("bias_"):  # bias_k, bias_v: xavier_normal_
            return fastki.normal(shape, 0.0, std, seed=seed, stream=s, dtype=dtype)
        return uniform(math.sqrt(3.0) * std)
    if isinstance(owner, (nn.RNNBase, nn.RNNCellBase)):
        return uniform(1.0 / math.sqrt(owner.hidden_size))
    if isinstance(owner, nn.PReLU):
        return np.full(shape, owner.init, dtype)
    raise AssertionError(f"no expectation for {qualname}")


def scramble(model):
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
        for name, b in model.named_buffers():
            b.fill_(5)


def test_init_module_every_layer_type():
    model = zoo()
    scramble(model)
    assert ft.init_module(model, INIT_SEED) is model
    names = [name for name, _ in model.named_parameters()]
    assert len(names) > 100
    for name, param in model.named_parameters():
        expected = expected_value(model, name)
        np.testing.assert_array_equal(param.detach().numpy(), expected, err_msg=name)
    for name, buf in model.named_buffers():  # BatchNorm-style running statistics reset
        expected = 1 if name.endswith("running_var") else 0
        assert torch.all(buf == expected), name


def test_init_module_every_type_in_the_table_is_covered():
    covered = {type(m) for m in zoo().modules()}
    for rule_type in ft._rules._BUILTIN_RULES:
        assert any(issubclass(t, rule_type) for t in covered), rule_type


def test_init_module_half_precision_model():
    ml_dtypes = pytest.importorskip("ml_dtypes")
    model = zoo()
    model.to(torch.bfloat16)
    ft.init_module(model, INIT_SEED)
    for name, param in model.named_parameters():
        # fastki's bfloat16 values themselves (docs/algorithm.md section 7), bit for bit
        expected = expected_value(model, name, dtype=ml_dtypes.bfloat16)
        got = param.detach().view(torch.int16).numpy()
        np.testing.assert_array_equal(got, expected.view(np.int16), err_msg=name)


def test_init_module_independent_of_registration_order():
    class AB(nn.Module):
        def __init__(self, first):
            super().__init__()
            order = ("a", "b") if first == "a" else ("b", "a")
            for name in order:
                setattr(self, name, nn.Linear(30, 20) if name == "a" else nn.Embedding(40, 8))
            self.blocks = nn.ModuleDict({k + "x": nn.LayerNorm(8) for k in order})

    one, two = AB("a"), AB("b")
    assert [n for n, _ in one.named_parameters()] != [n for n, _ in two.named_parameters()]
    ft.init_module(one, 5)
    ft.init_module(two, 5)
    sd1, sd2 = one.state_dict(), two.state_dict()
    assert sd1.keys() == sd2.keys()
    for key in sd1:
        assert raw(sd1[key]) == raw(sd2[key]), key


def test_init_module_same_bytes_for_any_thread_count():
    def build():
        return nn.Sequential(nn.Linear(512, 1024), nn.Embedding(3000, 64), nn.LSTM(16, 32))

    default, single = build(), build()
    ft.init_module(default, 17)
    with fastki.options(num_threads=1):
        ft.init_module(single, 17)
    for (name, a), (_, b) in zip(default.named_parameters(), single.named_parameters()):
        assert raw(a) == raw(b), name


SPLIT_MODEL = textwrap.dedent("""
    import torch
    from torch import nn

    def build():
        torch.manual_seed(1)
        return nn.ModuleDict({
            "encoder": nn.Sequential(nn.Embedding(100, 16), nn.LayerNorm(16), nn.Linear(16, 32)),
            "decoder": nn.ModuleDict({
                "layers": nn.ModuleList([nn.TransformerDecoderLayer(32, 4, 64) for _ in range(2)]),
                "head": nn.Linear(32, 100),
            }),
        })
""")

SPLIT_CHILD = SPLIT_MODEL + textwrap.dedent("""
    import sys
    import fastki.torch
    part, path = sys.argv[1], sys.argv[2]
    model = build()
    fastki.torch.init_module(model[part], 99, prefix=part + ".")
    torch.save(model[part].state_dict(prefix=part + "."), path)
""")


@pytest.mark.integration  # interpreters of their own (tests/conftest.py)
def test_init_module_model_split_across_processes(tmp_path):
    """Two processes each initialize one half with prefix=: together the same bytes as the
    whole model initialized in this one."""
    children = []
    for part in ("encoder", "decoder"):
        path = tmp_path / f"{part}.pt"
        proc = subprocess.Popen([sys.executable, "-c", SPLIT_CHILD, part, str(path)],
                                cwd=OUTSIDE, stderr=subprocess.PIPE, text=True)
        children.append((proc, path))
    namespace = {}
    exec(SPLIT_MODEL, namespace)  # noqa: S102 - the same builder the children run
    whole = namespace["build"]()
    ft.init_module(whole, 99)
    expected = whole.state_dict()
    got = {}
    for proc, path in children:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        got.update(torch.load(path))
    assert got.keys() == expected.keys()
    for key in expected:
        assert raw(got[key]) == raw(expected[key]), key


def test_init_module_unsupported_type_is_refused_before_any_write():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = nn.Parameter(torch.ones(3))

    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(Scale()))
    scramble(model)
    with pytest.raises(TypeError, match=r"no rule for .*Scale \(parameter '1\.0\.alpha'\).*"
                                        r"pass rules=\{Scale: fn\}"):
        ft.init_module(model, 1)
    assert torch.all(model[0].weight == 7.0)  # nothing written


def test_init_module_runs_subclasses_own_reset_parameters():
    """A subclass that overrides the method doing the init gets its own init code run, with
    torch.nn.init drawing from fastki; one that adds a parameter its inherited rule does
    not know is refused."""
    class MyLinear(nn.Linear):
        def reset_parameters(self):
            nn.init.zeros_(self.weight)
            nn.init.trunc_normal_(self.bias, std=0.5, a=-0.25, b=0.25)

    class LoRALinear(nn.Linear):
        def __init__(self):
            super().__init__(4, 4)
            self.lora = nn.Parameter(torch.zeros(4, 2))

    model = nn.Sequential(MyLinear(2, 300))
    scramble(model)
    ft.init_module(model, 1)
    assert torch.all(model[0].weight == 0)
    expected = ft.trunc_normal_(torch.empty(300), std=0.5, a=-0.25, b=0.25, seed=1,
                                stream=stream("0.bias"))
    assert raw(model[0].bias) == raw(expected)
    with pytest.raises(TypeError) as caught:
        ft.init_module(LoRALinear(), 1)
    assert str(caught.value) == (
        f"init_module: no rule for parameter 'lora' of {__name__}.test_init_module_runs_subclasses_"
        f"own_reset_parameters.<locals>.LoRALinear: it subclasses torch.nn.Linear, "
        f"whose init fastki.torch restates for its own parameters only ('weight', 'bias'), "
        f"and adds 'lora'. Give LoRALinear a reset_parameters() that initializes all its "
        f"parameters (init_module then runs it), or pass rules={{LoRALinear: fn}} with "
        f"fn(module, name, param, *, seed, stream, qualname) filling each of them")
    sub = nn.modules.linear.NonDynamicallyQuantizableLinear(3, 3)  # inherits Linear's init
    ft.init_module(sub, 1)


def test_init_module_rules_extension():
    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.alpha = nn.Parameter(torch.ones(300))

    calls = []

    def scale_rule(module, name, param, *, seed, stream, qualname):
        calls.append((type(module).__name__, name, qualname, seed, stream))
        ft.normal_(param, 0.0, 0.02, seed=seed, stream=stream)

    def gpt2_linear(module, name, param, *, seed, stream, qualname):
        if name == "weight":
            ft.normal_(param, 0.0, 0.02, seed=seed, stream=stream)
        else:
            ft.zeros_(param)

    model = nn.ModuleDict({"s": Scale(), "fc": nn.Linear(4, 4),
                           "attn": nn.MultiheadAttention(4, 1)})
    ft.init_module(model, 3, prefix="net.", rules={Scale: scale_rule, nn.Linear: gpt2_linear})
    assert calls == [("Scale", "alpha", "net.s.alpha", 3, stream("net.s.alpha"))]
    expected = fastki.normal(300, 0.0, 0.02, seed=3, stream=stream("net.s.alpha"))
    np.testing.assert_array_equal(model["s"].alpha.detach().numpy(), expected)
    # user rules win, along the type's MRO: MultiheadAttention's out_proj is a Linear subclass
    for name in ("fc.weight", "attn.out_proj.weight"):
        param = model.get_parameter(name)
        expected = fastki.normal(tuple(param.shape), 0.0, 0.02, seed=3,
                                 stream=stream("net." + name))
        np.testing.assert_array_equal(param.detach().numpy(), expected)
    assert torch.all(model["fc"].bias == 0)
    for bad, error in (([], TypeError), ({"Linear": gpt2_linear}, TypeError),
                       ({nn.Linear: 3}, TypeError)):
        with pytest.raises(error, match="rules"):
            ft.init_module(model, 3, rules=bad)


def test_init_module_tied_weights_initialized_once():
    class TiedLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(50, 8)
            self.head = nn.Linear(8, 50, bias=False)
            self.head.weight = self.wte.weight
            self.shared = nn.Linear(8, 8)
            self.again = self.shared  # one module under two names

    calls = []

    def counting(module, name, param, *, seed, stream, qualname):
        calls.append(qualname)
        ft.normal_(param, seed=seed, stream=stream)

    model = TiedLM()
    ft.init_module(model, 8, rules={nn.Embedding: counting})
    assert calls == ["wte.weight"]
    assert model.head.weight is model.wte.weight
    np.testing.assert_array_equal(model.wte.weight.detach().numpy(),
                                  fastki.normal((50, 8), seed=8, stream=stream("wte.weight")))
    expected = expected_value(model, "shared.weight", seed=8)
    np.testing.assert_array_equal(model.again.weight.detach().numpy(), expected)


def test_init_module_statistics_comparable_to_torch():
    """Default init of a large Linear: same bound 1/sqrt(fan_in) and std as torch's own."""
    ours, theirs = nn.Linear(1000, 1000), nn.Linear(1000, 1000)
    ft.init_module(ours, 4)
    bound = 1 / math.sqrt(1000)
    for layer in (ours, theirs):
        w = layer.weight.detach()
        assert w.abs().max().item() < bound and w.abs().max().item() > 0.999 * bound
        assert layer.bias.abs().max().item() < bound
    # both std are bound / sqrt(3) within ~0.07% (n = 10**6): 1% apart at most
    assert ours.weight.std().item() == pytest.approx(theirs.weight.std().item(), rel=0.01)
    emb = ft.init_module(nn.Embedding(1000, 1000), 4)
    assert emb.weight.std().item() == pytest.approx(1.0, rel=0.01)


def test_init_module_argument_errors():
    model = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="module must be a torch.nn.Module, got Tensor"):
        ft.init_module(torch.ones(2), 1)
    with pytest.raises(ValueError, match=r"prefix must be empty or end with '.'"):
        ft.init_module(model, 1, prefix="decoder")
    with pytest.raises(TypeError, match="prefix must be a str"):
        ft.init_module(model, 1, prefix=3)
    with pytest.raises(ValueError, match=r"seed must be in"):
        ft.init_module(model, -1)
    with pytest.raises(ValueError, match=r"init_module: parameter 'weight': tensor is on the "
                                         r"meta device and has no memory to fill"):
        ft.init_module(nn.Linear(2, 2, device="meta"), 1)
    with pytest.raises(ValueError, match=r"device must be where the model is materialized"):
        ft.init_module(nn.Linear(2, 2, device="meta"), 1, device="meta")
    with pytest.raises(ValueError, match=r"parameter 'weight': tensor is an uninitialized"):
        ft.init_module(nn.LazyLinear(3), 1)


def test_init_module_seed_none_and_prefix():
    a = ft.init_module(nn.Linear(50, 50), None)
    b = ft.init_module(nn.Linear(50, 50), None)
    assert not torch.equal(a.weight, b.weight)
    c = ft.init_module(nn.Linear(50, 50), 2, prefix="x.")
    np.testing.assert_array_equal(c.bias.detach().numpy(), fastki.uniform(
        50, -1 / math.sqrt(50), 1 / math.sqrt(50), seed=2, stream=stream("x.bias")))
