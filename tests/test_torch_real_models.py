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
