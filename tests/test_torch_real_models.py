"""fastki.torch.init_module on real models, as users build them: tied weights, parametrized
weights, draws outside torch.nn.init, and the corpus of Transformers architectures from
tiny configs beside a plain-PyTorch one (docs/torch.md, "Real models").

Every check compares exact bytes with what fastki documents (each tensor drawn from
``param_stream(its first qualified name)``), or, for a distribution the model's own code
chooses, a statistical test whose power is stated where it is made.
"""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

# Models and their own init code: framework integration (tests/conftest.py).
pytestmark = pytest.mark.integration
nn = torch.nn

import fastki  # noqa: E402
import fastki.torch as ft  # noqa: E402

SEED = 2026


def raw(tensor):
    return tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def state_bytes(model):
    return {key: raw(value) for key, value in model.state_dict().items()}


def expected_normal(shape, std, name, seed=SEED):
    return torch.from_numpy(fastki.normal(tuple(shape), 0.0, std, seed=seed,
                                          stream=ft.param_stream(name)))


# --------------------------------------------------------------------------- tied weights


class TiedHead(nn.Module):
    """An output layer with a reset_parameters() of its own, whose weight the model ties to
    its embedding: its init code draws on the shared tensor, which the embedding's init
    (the tie's source, registered first) must decide."""

    def __init__(self, vocab, width):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab, width))
        self.reset_parameters()

    def reset_parameters(self):
        nn.init.normal_(self.weight, 0.0, 0.5)


class TiedLM(nn.Module):
    def __init__(self, vocab=300, width=16):
        super().__init__()
        self.embed = nn.Embedding(vocab, width, padding_idx=1)
        self.mix = nn.Linear(width, width)
        self.head = TiedHead(vocab, width)
        self.head.weight = self.embed.weight


def test_plain_tied_weights_initialized_once_by_the_first_holder():
    torch.manual_seed(0)
    model = TiedLM()
    assert model.head.weight is model.embed.weight
    ft.init_module(model, SEED)
    expected = expected_normal((300, 16), 1.0, "embed.weight")
    expected[1] = 0  # Embedding's padding row, not overwritten by the head's init code
    assert raw(model.embed.weight) == raw(expected)
    assert model.head.weight is model.embed.weight


def bert_config(transformers):
    return transformers.BertConfig(vocab_size=120, hidden_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, intermediate_size=37,
                                   max_position_embeddings=24, pad_token_id=0)


@pytest.mark.parametrize("build", ["no_init_then_tie", "normal"])
def test_transformers_tied_embeddings_keep_their_padding_row(build):
    """BertForMaskedLM ties its decoder to the word embeddings (pad_token_id=0): the
    model's own init leaves row 0 zero, whatever the order of tying and init."""
    transformers = pytest.importorskip("transformers")
    from transformers.initialization import no_init_weights
    config = bert_config(transformers)
    if build == "normal":
        model = transformers.BertForMaskedLM(config)
    else:
        with no_init_weights():
            model = transformers.BertForMaskedLM(config)
        model.tie_weights()
    words = model.bert.embeddings.word_embeddings
    assert model.cls.predictions.decoder.weight is words.weight
    ft.init_module(model, SEED)
    expected = expected_normal((120, 32), 0.02, "bert.embeddings.word_embeddings.weight")
    expected[0] = 0
    assert raw(words.weight) == raw(expected)
    assert model.cls.predictions.decoder.weight is words.weight


# --------------------------------------------------------------------------- parametrized weights


class Normed(nn.Module):
    """A convolution under parametrizations.weight_norm (dim=2, as Wav2Vec2's positional
    convolution), a Linear under the legacy weight_norm, and an orthogonal parametrization."""

    def __init__(self):
        super().__init__()
        self.conv = nn.utils.parametrizations.weight_norm(nn.Conv1d(8, 16, 5), dim=2)
        with pytest.warns(FutureWarning, match="weight_norm"):
            self.legacy = nn.utils.weight_norm(nn.Linear(8, 12))
        self.ortho = nn.utils.parametrizations.orthogonal(nn.Linear(6, 6, bias=False))


def kaiming_sqrt5(shape, name, seed=SEED):
    """PyTorch's default Linear/Conv weight init, on fastki: U(-b, b), b = 1 / sqrt(fan_in)."""
    bound = math.sqrt(3.0) * (math.sqrt(2.0 / (1 + math.sqrt(5) ** 2)) / math.sqrt(
        math.prod(shape[1:])))
    return torch.from_numpy(fastki.uniform(tuple(shape), -bound, bound, seed=seed,
                                           stream=ft.param_stream(name)))


def test_parametrized_weights_store_what_their_init_code_sets():
    """The layer's reset_parameters() fills the weight it sees (drawn from the stream of
    "conv.weight"); the stored tensors are what that value implies: v = the value and
    g = its norm (weight_norm), the parametrization's right_inverse (orthogonal)."""
    model = Normed()
    ft.init_module(model, SEED)
    expected = kaiming_sqrt5((16, 8, 5), "conv.weight")
    stored = model.conv.parametrizations.weight
    assert raw(stored.original1) == raw(expected)
    assert raw(stored.original0) == raw(torch.norm_except_dim(expected, 2, 2))
    expected = kaiming_sqrt5((12, 8), "legacy.weight")
    assert raw(model.legacy.weight_v) == raw(expected)
    assert raw(model.legacy.weight_g) == raw(torch.norm_except_dim(expected, 2, 0))
    assert torch.allclose(model.legacy.weight, expected, rtol=1e-6, atol=0)  # recomputed
    expected = kaiming_sqrt5((6, 6), "ortho.weight")
    with torch.no_grad():
        ortho = Normed().ortho  # the same value through torch's own assignment path
        ortho.weight = expected
    assert raw(model.ortho.parametrizations.weight.original) == raw(
        ortho.parametrizations.weight.original)
    # the same bytes however torch was seeded when the model was built
    torch.manual_seed(99)
    again = ft.init_module(Normed(), SEED)
    assert state_bytes(again) == state_bytes(model)


def test_parametrized_weight_its_init_code_never_sets_is_refused():
    class Frozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.utils.parametrizations.weight_norm(nn.Linear(4, 4))

    model = Frozen()
    model.lin.reset_parameters = lambda: None  # sets nothing: what to store is unknown
    with pytest.raises(ValueError) as caught:
        ft.init_module(model, SEED)
    assert str(caught.value) == (
        "init_module: 'lin.weight' is computed from stored tensors (a parametrization or "
        "weight_norm) and the model's own init code did not set it, so fastki cannot tell "
        "what to store; give the module a reset_parameters() that sets it, or pass rules= "
        "for the module holding it")
