"""The speed table of docs/torch.md ("Speed at real sizes"): at 2 threads, a Transformers
model's own init against fastki.torch.init_module, for BERT-large-like, Mistral-like,
Mixtral-like (mixture of experts) and T5-like configs of 130-180 M parameters (config only,
nothing downloaded), and init_module against fastki.normal filling the same number of
float32 values into existing memory.  Median of 3, all on one built model per config:

- own init: ``model.initialize_weights()`` (transformers' marks cleared first, so that it
  initializes everything again), as a user re-initializing a built model meets it;
- init_module: ``fastki.torch.init_module(model, 1)`` on that same model;
- fill: ``fastki.normal(out=a)`` for a float32 array ``a`` of the model's parameter count.

    python tools/torch_speed_table.py

Not a test: timings depend on the machine and its load; run it on a quiet machine.
"""
import gc
import statistics
import time

import numpy as np
import torch
import transformers
from transformers.initialization import no_init_weights

import fastki
import fastki.torch as ft

THREADS = 2
REPEAT = 3


def configs():
    T = transformers
    return (
        ("BERT-large-like", T.BertForMaskedLM, T.BertConfig(
            hidden_size=1024, num_hidden_layers=10, num_attention_heads=16,
            intermediate_size=4096)),
        ("Mistral-like", T.MistralForCausalLM, T.MistralConfig(
            hidden_size=1024, intermediate_size=3584, num_hidden_layers=7,
            num_attention_heads=16, num_key_value_heads=8, vocab_size=32000)),
        ("Mixtral-like (MoE)", T.MixtralForCausalLM, T.MixtralConfig(
            hidden_size=768, intermediate_size=1024, num_hidden_layers=6,
            num_attention_heads=12, num_key_value_heads=4, num_local_experts=8,
            num_experts_per_tok=2, vocab_size=32000)),
        ("T5-like", T.T5ForConditionalGeneration, T.T5Config(
            d_model=768, d_ff=3072, d_kv=64, num_heads=12, num_layers=8)),
    )


def clear_marks(model):
    """transformers skips what it has marked as initialized: cleared, it does it all again."""
    for sub in model.modules():
        sub.__dict__.pop("_is_hf_initialized", None)
        for tensor in list(sub.parameters(recurse=False)) + list(sub.buffers(recurse=False)):
            tensor.__dict__.pop("_is_hf_initialized", None)


def median_seconds(fn):
    times = []
    for _ in range(REPEAT):
        gc.collect()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    torch.set_num_threads(THREADS)
    print(f"| config | parameters | own init (s) | init_module (s) | speed-up | "
          f"fastki.normal fill (s) | init_module / fill |")
    print("|---|---|---|---|---|---|---|")
    with fastki.options(num_threads=THREADS):
        for name, cls, config in configs():
            with no_init_weights():
                model = cls(config)
            model.tie_weights()
            n = sum(p.numel() for p in model.parameters())

            def own():
                clear_marks(model)
                with torch.no_grad():
                    model.initialize_weights()

            theirs = median_seconds(own)
            ours = median_seconds(lambda: ft.init_module(model, 1))
            out = np.empty(n, dtype=np.float32)
            fill = median_seconds(lambda: fastki.normal((n,), 0.0, 0.02, seed=1, out=out))
            print(f"| {name} | {n / 1e6:.0f} M | {theirs:.2f} | {ours:.2f} | "
                  f"{theirs / ours:.1f}x | {fill:.2f} | {ours / fill:.2f} |", flush=True)
            del model, out
            gc.collect()


if __name__ == "__main__":
    main()
