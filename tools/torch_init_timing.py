"""By-hand timing for docs/torch.md: a transformers model's own init against
fastki.torch.init_module (config only, nothing downloaded), median of 5, with 2 and 1
threads for both, measured two ways:

- at construction, as a user meets it (issue 15 quotes GPT-2 small this way): `cls(config)`
  less `cls(config)` under `no_init_weights()`, against `init_module` on a model just built
  under `no_init_weights()` (both write freshly allocated memory);
- re-initializing one built model: `initialize_weights()` against `init_module` (memory
  already touched, and Transformers skips the per-module default init of construction).

    python tools/torch_init_timing.py

Not a test: timings depend on the machine and its load.
"""
import gc
import time

import torch
import transformers
from transformers.initialization import no_init_weights

import fastki
import fastki.torch as ft


def clear_marks(model):
    """transformers skips modules it has marked as initialized (as init_module does)."""
    for sub in model.modules():
        sub.__dict__.pop("_is_hf_initialized", None)


def main():
    models = (
        ("GPT-2 small", transformers.GPT2LMHeadModel, transformers.GPT2Config()),
        ("Llama 8x1024", transformers.LlamaForCausalLM, transformers.LlamaConfig(
            num_hidden_layers=8, hidden_size=1024, intermediate_size=2816,
            num_attention_heads=16, num_key_value_heads=4, vocab_size=32000)),
    )
    for name, cls, config in models:
        for threads in (2, 1):
            torch.set_num_threads(threads)
            theirs, bare, ours = [], [], []
            for _ in range(5):
                start = time.perf_counter()
                model = cls(config)
                theirs.append(time.perf_counter() - start)
                del model
                gc.collect()
                start = time.perf_counter()
                with no_init_weights():
                    model = cls(config)
                bare.append(time.perf_counter() - start)
                del model
                gc.collect()
                with fastki.options(num_threads=threads):
                    start = time.perf_counter()
                    with no_init_weights():
                        model = cls(config)
                    ft.init_module(model, 1)
                    ours.append(time.perf_counter() - start)
                del model
                gc.collect()
            t, b, f = sorted(theirs)[2], sorted(bare)[2], sorted(ours)[2]
            print(f"{name}, {threads} threads, at construction: Transformers' own init "
                  f"{t - b:.2f} s, init_module {f - b:.2f} s, {(t - b) / (f - b):.1f}x "
                  f"(construction alone {b:.3f} s)", flush=True)
        with no_init_weights():
            model = cls(config)
        model.tie_weights()
        n = sum(p.numel() for p in model.parameters())
        for threads in (2, 1):
            torch.set_num_threads(threads)
            theirs, ours = [], []
            for _ in range(5):
                clear_marks(model)
                start = time.perf_counter()
                model.initialize_weights()
                theirs.append(time.perf_counter() - start)
                with fastki.options(num_threads=threads):
                    start = time.perf_counter()
                    ft.init_module(model, 1)
                    ours.append(time.perf_counter() - start)
            t, f = sorted(theirs)[2], sorted(ours)[2]
            print(f"{name} ({n / 1e6:.0f}M), {threads} threads, re-init: Transformers' own init "
                  f"{t:.2f} s, init_module {f:.2f} s, {t / f:.1f}x", flush=True)


if __name__ == "__main__":
    main()
