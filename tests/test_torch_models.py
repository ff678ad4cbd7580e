"""fastki.torch at model scale, in one process: models' own init code drawing from fastki
(reset_parameters, Hugging Face transformers' _init_weights), meta-device models, the
chunked staging path used off the CPU, and the torch.nn.init parity details (deprecated
names, inference tensors, 0-d tensors and bools as numbers, xavier on 0x0).

Multi-process DTensor/FSDP2 runs are in tests/test_torch_dtensor.py.
"""
import math
import threading
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# Models, own-init code and torch parity: framework integration (tests/conftest.py). Under
# the sanitizer suite torch's C++ exceptions (inference tensors) end the process.
pytestmark = pytest.mark.integration
nn = torch.nn

import fastki.torch as ft  # noqa: E402
from torch.nn.init import kaiming_uniform_ as torch_kaiming_uniform_  # noqa: E402

SEED = 4242


def raw(tensor):
    return tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def normal_like(shape, std, name, seed=SEED, dtype=torch.float32):
    return ft.normal_(torch.empty(shape, dtype=dtype), 0.0, std, seed=seed,
                      stream=ft.param_stream(name))


# --------------------------------------------------------------------------- own init code


class Custom(nn.Module):
    """A layer type fastki has no rule for: its own reset_parameters, calling torch.nn.init
    through a name imported into this module (as torch's own layers do)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.empty(40, 30))
        self.g = nn.Parameter(torch.empty(30))
        self.reset_parameters()

    def reset_parameters(self):
        torch_kaiming_uniform_(self.w, a=math.sqrt(5))
        nn.init.ones_(self.g)


class Outer(nn.Module):
    """A container whose own reset_parameters re-initializes a child after the child's
    default init: children first, then the parent, as their constructors run."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(30, 20)
        self.custom = Custom()
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.inner.weight, 0.0, 0.125)


def test_reset_parameters_runs_with_torch_init_drawing_from_fastki():
    model = nn.Sequential(Outer(), nn.LayerNorm(30))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(9.0)
    ft.init_module(model, SEED, prefix="net.")
    expected_w = ft.kaiming_uniform_(torch.empty(40, 30), a=math.sqrt(5), seed=SEED,
                                     stream=ft.param_stream("net.0.custom.w"))
    assert raw(model[0].custom.w) == raw(expected_w)
    assert torch.all(model[0].custom.g == 1)
    assert raw(model[0].inner.weight) == raw(normal_like((20, 30), 0.125, "net.0.inner.weight"))
    bound = 1 / math.sqrt(30)  # Linear's bias: the built-in rule, untouched by Outer
    expected_b = ft.uniform_(torch.empty(20), -bound, bound, seed=SEED,
                             stream=ft.param_stream("net.0.inner.bias"))
    assert raw(model[0].inner.bias) == raw(expected_b)
    # everything torch.nn.init had is back, here and in torch's modules
    assert torch_kaiming_uniform_ is ft._own_init._TORCH_INIT["kaiming_uniform_"]
    assert globals()["torch_kaiming_uniform_"] is ft._own_init._TORCH_INIT["kaiming_uniform_"]
    for name, fn in ft._own_init._TORCH_INIT.items():
        assert getattr(torch.nn.init, name) is fn, name
    assert torch.nn.modules.activation.xavier_uniform_ is ft._own_init._TORCH_INIT["xavier_uniform_"]


def test_own_init_random_fill_on_a_temporary_draws_from_its_call_site():
    class Temp(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(4, 4))

        def reset_parameters(self):
            scratch = torch.empty(4, 4)
            nn.init.orthogonal_(scratch)
            with torch.no_grad():
                self.w.copy_(scratch)

    model = ft.init_module(Temp(), 1, prefix="t.")
    # the stream named by the module whose code ran, the call, and its count there
    expected = ft.orthogonal_(torch.empty(4, 4), seed=1, stream=ft.param_stream("t:orthogonal_#0"))
    assert raw(model.w) == raw(expected)
    assert nn.init.orthogonal_ is ft._own_init._TORCH_INIT["orthogonal_"]  # restored after


def test_own_init_leaves_other_threads_on_torch():
    """While init_module runs a model's own init code, a torch.nn.init call from another
    thread is torch's own: it draws from torch's generator (seeded here), not fastki."""
    seen = {}
    started, release = threading.Event(), threading.Event()

    class Waits(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(8))

        def reset_parameters(self):
            started.set()
            assert release.wait(30)
            nn.init.normal_(self.w)

    def other():
        assert started.wait(30)
        gen = torch.Generator().manual_seed(3)
        seen["other"] = nn.init.normal_(torch.empty(8), generator=gen)
        release.set()

    thread = threading.Thread(target=other)
    thread.start()
    model = ft.init_module(Waits(), 1)
    thread.join(30)
    expected_torch = torch.empty(8).normal_(generator=torch.Generator().manual_seed(3))
    assert torch.equal(seen["other"], expected_torch)
    assert raw(model.w) == raw(normal_like(8, 1.0, "w", seed=1))


def test_deprecated_torch_names_inside_own_init_warn_and_draw_from_fastki():
    class Old(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.empty(6, 5))

        def reset_parameters(self):
            nn.init.xavier_normal(self.w)

    with pytest.warns(FutureWarning, match=r"`nn.init.xavier_normal` is now deprecated"):
        model = ft.init_module(Old(), 2)
    expected = ft.xavier_normal_(torch.empty(6, 5), seed=2, stream=ft.param_stream("w"))
    assert raw(model.w) == raw(expected)


# --------------------------------------------------------------------------- transformers


def gpt2_config(transformers, **kw):
    return transformers.GPT2Config(n_layer=3, n_embd=128, n_head=4, vocab_size=3000,
                                   n_positions=64, bos_token_id=0, eos_token_id=0, **kw)


def llama_config(transformers):
    return transformers.LlamaConfig(num_hidden_layers=2, hidden_size=128, num_attention_heads=4,
                                    num_key_value_heads=2, intermediate_size=256,
                                    vocab_size=3000, max_position_embeddings=64,
                                    bos_token_id=0, eos_token_id=0)


def no_init(transformers):
    """Construction without Transformers' own init (torch's functions and init_weights
    made no-ops), as a user who is about to call init_module would."""
    from transformers.initialization import no_init_weights
    return no_init_weights()


def check_std(tensor, std, name):
    """The sample std of n normal values lies within 6 standard errors (std * sqrt(1/(2n)))
    of std: a false alarm once in ~10^9 parameters."""
    values = tensor.detach().double()
    n = values.numel()
    assert abs(values.std().item() - std) < 6 * std / math.sqrt(2 * n), (name, values.std())


@pytest.mark.integration  # transformers models (tests/conftest.py)
def test_gpt2_follows_its_own_init_weights_with_fastki_values():
    transformers = pytest.importorskip("transformers")
    config = gpt2_config(transformers)
    with no_init(transformers):
        model = transformers.GPT2LMHeadModel(config)
    model.tie_weights()  # no_init_weights skips init_weights(), which ties them
    assert ft.init_module(model, SEED) is model
    scaled = config.initializer_range / math.sqrt(2 * config.n_layer)
    names = dict(model.named_parameters())
    assert model.lm_head.weight is model.transformer.wte.weight  # tied, drawn once
    for name, param in names.items():
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
            assert torch.all(param == 1), name
        elif name.endswith("bias"):
            assert torch.all(param == 0), name
        else:
            std = scaled if name.endswith("c_proj.weight") else config.initializer_range
            check_std(param, std, name)
            assert raw(param) == raw(normal_like(tuple(param.shape), std, name)), name
    assert len(names) == 4 + 12 * config.n_layer
    # Transformers' table of torch's originals, and torch.nn.init, are torch's again
    from transformers.initialization import TORCH_INIT_FUNCTIONS
    for name, fn in TORCH_INIT_FUNCTIONS.items():
        assert fn is ft._own_init._TORCH_INIT[name] is getattr(torch.nn.init, name), name


@pytest.mark.integration  # transformers models (tests/conftest.py)
def test_llama_follows_its_own_init_weights_with_fastki_values():
    transformers = pytest.importorskip("transformers")
    config = llama_config(transformers)
    with no_init(transformers):
        model = transformers.LlamaForCausalLM(config)
    rope = model.model.rotary_emb
    expected_inv_freq = rope.inv_freq.clone()
    with torch.no_grad():
        rope.inv_freq.fill_(5.0)
    ft.init_module(model, SEED)
    for name, param in model.named_parameters():
        if "norm" in name:
            assert torch.all(param == 1), name
        else:
            check_std(param, config.initializer_range, name)
            assert raw(param) == raw(normal_like(tuple(param.shape), 0.02, name)), name
    assert torch.equal(rope.inv_freq, expected_inv_freq)  # its own init recomputes it


@pytest.mark.integration  # transformers models (tests/conftest.py)
def test_transformers_model_same_bytes_however_constructed_and_on_meta():
    """Construction under different torch seeds, with Transformers' own init or without
    it, or on the meta device and materialized by init_module(device=): the same bytes."""
    transformers = pytest.importorskip("transformers")
    config = llama_config(transformers)
    torch.manual_seed(1)
    a = ft.init_module(transformers.LlamaForCausalLM(config), SEED)
    torch.manual_seed(2)
    with no_init(transformers):
        b = ft.init_module(transformers.LlamaForCausalLM(config), SEED)
    with torch.device("meta"):
        c = transformers.LlamaForCausalLM(config)
    assert c.model.embed_tokens.weight.is_meta
    ft.init_module(c, SEED, device="cpu")
    sd_a = a.state_dict()
    for other in (b, c):
        sd = other.state_dict()
        assert sd.keys() == sd_a.keys()
        for key in sd_a:
            assert raw(sd[key]) == raw(sd_a[key]), key
    for name, buf in a.named_buffers():
        assert torch.equal(buf, c.get_buffer(name)), name


@pytest.mark.integration  # transformers models (tests/conftest.py)
def test_transformers_flags_do_not_stop_a_second_init():
    """transformers marks what it has initialized; init_module runs its code again anyway
    (a model loaded and then re-initialized gets fastki's values, not the loaded ones)."""
    transformers = pytest.importorskip("transformers")
    model = transformers.GPT2LMHeadModel(gpt2_config(transformers))
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(3.0)
            p._is_hf_initialized = True
    ft.init_module(model, SEED)
    assert not torch.any(model.transformer.h[0].attn.c_attn.weight == 3.0)
    assert torch.all(model.transformer.h[0].ln_1.weight == 1)


@pytest.mark.integration  # transformers models (tests/conftest.py)
def test_user_rules_apply_inside_a_transformers_model_after_its_own_init():
    transformers = pytest.importorskip("transformers")
    calls = []

    def layer_norm(module, name, param, *, seed, stream, qualname):
        calls.append(qualname)
        ft.constant_(param, 0.5 if name == "weight" else -0.5)

    with no_init(transformers):
        model = transformers.GPT2LMHeadModel(gpt2_config(transformers))
    def never(module, name, param, *, seed, stream, qualname):
        raise AssertionError("GPT2LMHeadModel has no parameters of its own")

    # a rule for the model's own class still runs its own init code for the rest
    ft.init_module(model, SEED, rules={nn.LayerNorm: layer_norm,
                                       transformers.GPT2LMHeadModel: never})
    assert len(calls) == 2 * (2 * 3 + 1)  # ln_1, ln_2 per block, ln_f; weight and bias
    assert torch.all(model.transformer.ln_f.weight == 0.5)
    assert torch.all(model.transformer.h[1].ln_2.bias == -0.5)
    c_attn = model.transformer.h[0].attn.c_attn.weight  # the model's own rule, still
    assert raw(c_attn) == raw(normal_like(tuple(c_attn.shape), 0.02,
                                          "transformer.h.0.attn.c_attn.weight"))


# --------------------------------------------------------------------------- meta device


def blocks():
    return nn.Sequential(nn.Embedding(100, 32, padding_idx=0),
                         nn.TransformerEncoderLayer(32, 4, 64, batch_first=True),
                         nn.BatchNorm1d(32), Custom(), nn.Linear(32, 100))


def test_meta_model_materialized_equals_eager_init():
    eager = ft.init_module(blocks(), SEED)
    with torch.device("meta"):
        meta = blocks()
    assert all(p.is_meta for p in meta.parameters())
    with pytest.raises(ValueError, match=r"parameter '0.weight': tensor is on the meta device"):
        ft.init_module(meta, SEED)
    assert all(p.is_meta for p in meta.parameters())  # refused before anything
    assert ft.init_module(meta, SEED, device="cpu") is meta
    ft.init_module(meta, SEED, device="cpu")  # already there: fine, nothing moves
    with pytest.raises(ValueError, match=r"device='cuda' materializes a model built on the "
                                         r"meta device; this one is on cpu"):
        ft.init_module(meta, SEED, device="cuda")
    sd, expected = meta.state_dict(), eager.state_dict()
    assert sd.keys() == expected.keys()
    for key in expected:  # parameters and BatchNorm's running statistics
        assert sd[key].device.type == "cpu"
        assert raw(sd[key]) == raw(expected[key]), key


# --------------------------------------------------------------------------- staging path


@pytest.fixture
def tiny_chunks(monkeypatch):
    """The staging path every non-CPU tensor takes, forced on the CPU, 3-element chunks."""
    monkeypatch.setattr(ft._memory, "_STAGE_ALL", True)
    monkeypatch.setattr(ft._memory, "_STAGING_BYTES", 12)


STAGED_FILLS = [
    ("uniform_", lambda t: ft.uniform_(t, -2.0, 3.0, seed=5, stream=1)),
    ("normal_", lambda t: ft.normal_(t, 1.0, 0.5, seed=5, stream=2)),
    ("trunc_normal_", lambda t: ft.trunc_normal_(t, 0.0, 1.0, -0.5, 1.5, seed=5, stream=3)),
    ("kaiming_normal_", lambda t: ft.kaiming_normal_(t, seed=5, stream=4)),
    ("xavier_uniform_", lambda t: ft.xavier_uniform_(t, seed=5, stream=5)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16],
                         ids=str)
@pytest.mark.parametrize("fill", [f for _, f in STAGED_FILLS], ids=[n for n, _ in STAGED_FILLS])
def test_staged_chunks_give_the_same_bytes(fill, dtype, tiny_chunks, monkeypatch):
    for shape in ((7, 5), (2, 3, 4), (1, 11), (3, 1, 2, 2)):
        staged = fill(torch.full(shape, 9.0, dtype=dtype))
        transposed = fill(torch.full(shape[::-1], 9.0, dtype=dtype).permute(
            *reversed(range(len(shape)))))
        monkeypatch.setattr(ft._memory, "_STAGE_ALL", False)
        direct = fill(torch.full(shape, 9.0, dtype=dtype))
        monkeypatch.setattr(ft._memory, "_STAGE_ALL", True)
        assert raw(staged) == raw(direct), shape
        assert raw(transposed) == raw(direct), shape


def test_staged_chunks_respect_the_byte_limit(tiny_chunks, monkeypatch):
    copies = []
    real_copy = torch.Tensor.copy_

    def spy(self, src, *args, **kwargs):
        copies.append(src.numel())
        return real_copy(self, src, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "copy_", spy)
    ft.normal_(torch.empty(5, 7), seed=1)
    assert copies and max(copies) <= 3 and sum(copies) == 35


def test_chunks_cover_every_element_once():
    for shape in ((), (0,), (5,), (4, 6), (3, 1, 5), (2, 3, 4, 5)):
        for limit in (1, 2, 3, 7, 30, 1000):
            seen = np.zeros(shape, dtype=int)
            for ranges in ft._memory._chunks(shape, limit):
                block = tuple(slice(a, b) for a, b in ranges)
                assert seen[block].size <= max(limit, 1)
                seen[block] += 1
            assert np.all(seen == 1), (shape, limit)


def test_init_module_staged_equals_direct(tiny_chunks, monkeypatch):
    staged = ft.init_module(blocks(), SEED)
    monkeypatch.setattr(ft._memory, "_STAGE_ALL", False)
    direct = ft.init_module(blocks(), SEED)
    for (name, a), (_, b) in zip(staged.named_parameters(), direct.named_parameters()):
        assert raw(a) == raw(b), name


# --------------------------------------------------------------------------- parity


ALIASES = [  # name, positional arguments, random (takes seed=), shape
    ("uniform", (-1.0, 1.0), True, (6, 8)),
    ("normal", (0.0, 2.0), True, (6, 8)),
    ("constant", (0.5,), False, (6, 8)),
    ("eye", (), False, (6, 8)),
    ("dirac", (), False, (6, 4, 2)),
    ("xavier_uniform", (), True, (6, 8)),
    ("xavier_normal", (1.5,), True, (6, 8)),
    ("kaiming_uniform", (), True, (6, 8)),
    ("kaiming_normal", (0.1, "fan_out"), True, (6, 8)),
    ("orthogonal", (), True, (6, 8)),
    ("sparse", (0.5,), True, (6, 8)),
]


@pytest.mark.parametrize("name, args, random, shape", ALIASES, ids=[a[0] for a in ALIASES])
def test_deprecated_aliases_warn_like_torch_and_equal_the_fills(name, args, random, shape):
    with pytest.warns(FutureWarning) as theirs:  # torch's own alias, for reference
        getattr(torch.nn.init, name)(torch.empty(shape), *args)
    assert f"nn.init.{name}" in str(theirs[0].message)
    kwargs = {"seed": 3} if random else {}
    with pytest.warns(FutureWarning, match=rf"`fastki.torch.{name}` is deprecated in favor of "
                                           rf"`fastki.torch.{name}_`") as ours:
        got = getattr(ft, name)(torch.empty(shape), *args, **kwargs)
    assert ours[0].filename == theirs[0].filename == __file__  # both name the caller's line
    expected = getattr(ft, name + "_")(torch.empty(shape), *args, **kwargs)
    assert raw(got) == raw(expected)


def test_inference_tensor_outside_inference_mode_raises_like_torch():
    """torch's RuntimeError, word for word; fastki raises before writing anything."""
    with torch.inference_mode():
        tensor = torch.full((3, 4), 2.0)
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.init.normal_(tensor)  # (torch has written the values when it raises)
    with torch.inference_mode():
        tensor.fill_(2.0)
    for fill in (lambda t: ft.normal_(t, seed=1), lambda t: ft.zeros_(t),
                 lambda t: ft.orthogonal_(t, seed=1), lambda t: ft.eye_(t)):
        with pytest.raises(RuntimeError) as ours:
            fill(tensor)
        assert str(ours.value) == str(theirs.value)
        assert torch.all(tensor == 2.0)
    with torch.inference_mode():  # inside inference mode it is filled, as by torch
        ft.normal_(tensor, seed=1)
    assert raw(tensor) == raw(ft.normal_(torch.empty(3, 4), seed=1))


def test_zero_dim_tensors_and_bools_as_numbers():
    t = torch.tensor
    cases = [
        (lambda x: ft.uniform_(x, t(-1.0), True, seed=2), lambda x: ft.uniform_(x, -1.0, 1.0, seed=2)),
        (lambda x: ft.normal_(x, t(0.5), t(2), seed=2), lambda x: ft.normal_(x, 0.5, 2.0, seed=2)),
        (lambda x: ft.trunc_normal_(x, 0.0, True, t(-1.0), t(1.5), seed=2),
         lambda x: ft.trunc_normal_(x, 0.0, 1.0, -1.0, 1.5, seed=2)),
        (lambda x: ft.constant_(x, t(3)), lambda x: ft.constant_(x, 3.0)),
        (lambda x: ft.constant_(x, True), lambda x: ft.constant_(x, 1.0)),
        (lambda x: ft.xavier_uniform_(x, gain=t(2.0), seed=2),
         lambda x: ft.xavier_uniform_(x, gain=2.0, seed=2)),
        (lambda x: ft.orthogonal_(x, gain=True, seed=2), lambda x: ft.orthogonal_(x, 1.0, seed=2)),
    ]
    for ours, plain in cases:
        assert raw(ours(torch.empty(5, 4))) == raw(plain(torch.empty(5, 4)))
    # torch takes them too
    torch.nn.init.uniform_(torch.empty(3), t(0.0), True)
    torch.nn.init.constant_(torch.empty(3), t(3))
    with pytest.raises(TypeError, match="a must be a real number"):
        ft.uniform_(torch.empty(3), t([0.0, 1.0]), 2.0)


def test_xavier_on_0x0_raises_like_torch():
    for name in ("xavier_uniform_", "xavier_normal_"):
        with pytest.raises(ZeroDivisionError) as theirs:
            getattr(torch.nn.init, name)(torch.empty(0, 0))
        with pytest.raises(ZeroDivisionError) as ours:
            getattr(ft, name)(torch.empty(0, 0), seed=1)
        assert str(ours.value) == str(theirs.value)
        assert getattr(ft, name)(torch.empty(0, 3), seed=1).shape == (0, 3)  # a no-op


def test_every_fill_in_fastki_torch_matches_torch_nn_init_names():
    for name in ft._own_init._INIT_NAMES + ft._own_init._DEPRECATED_NAMES:
        assert callable(getattr(ft, name)), name
        assert hasattr(torch.nn.init, name), name
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ft.normal_(torch.empty(2), seed=1)  # the _ forms never warn
