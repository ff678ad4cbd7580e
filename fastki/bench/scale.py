"""`python -m fastki scale` (alias: `python -m fastki bench --scale`): initialization at
scale, measured in one run.

1. A GPT-2-small-sized PyTorch model (124 M parameters): PyTorch's default initialization
   (every module's reset_parameters) against fastki.torch.init_module, with the peak memory
   each adds, and a check that init_module gives the same bytes on 1 thread and on all.
2. A multi-GiB float32 normal tensor written to Zarr through fastki.dask, chunk by chunk,
   with the memory the write added; then read back and compared, byte for byte, with the
   same tensor made in memory by fastki.normal.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time

import numpy as np

from .options import positive_real
from .timing import median_seconds
from .timing import progress as _progress


# what the demo imports beyond fastki and NumPy
NEEDS = ("torch", "dask", "zarr")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale-gib", type=positive_real, default=4.0, metavar="GIB",
                        help="size of the Zarr tensor in GiB (default 4)")
    parser.add_argument("--scale-dir", default=None, metavar="DIR",
                        help="where to write the Zarr store (default a temporary directory, "
                             "removed afterwards)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON at the end")


def _rss_mib():
    """The process's resident set now (Linux); elsewhere its peak so far (macOS: bytes)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / (1 << 20)
    except OSError:
        import resource  # POSIX only; imported here so that the module imports everywhere

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024


class _PeakRss:
    """The largest resident set seen while the block runs, sampled every 5 ms by a thread
    (the process's own ru_maxrss would also count everything that ran before)."""

    def __enter__(self):
        self.peak = self.start = _rss_mib()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._done.wait(0.005):
            self.peak = max(self.peak, _rss_mib())

    def __exit__(self, *exc):
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())

    @property
    def added(self):
        return max(0.0, self.peak - self.start)


# --------------------------------------------------------------------------- the model


def gpt2_small(torch, **size):
    """A GPT-2-small-shaped model (12 blocks, width 768, vocabulary 50257, context 1024;
    the output layer tied to the token embedding): the parameters' shapes and layer types
    of GPT-2 small, without its forward pass, which the demo does not need."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, width):
            super().__init__()
            self.ln_1 = nn.LayerNorm(width)
            self.attn = nn.ModuleDict({"c_attn": nn.Linear(width, 3 * width),
                                       "c_proj": nn.Linear(width, width)})
            self.ln_2 = nn.LayerNorm(width)
            self.mlp = nn.ModuleDict({"c_fc": nn.Linear(width, 4 * width),
                                      "c_proj": nn.Linear(4 * width, width)})

    class GPT2(nn.Module):
        def __init__(self, vocab=50257, context=1024, width=768, depth=12):
            super().__init__()
            self.wte = nn.Embedding(vocab, width)
            self.wpe = nn.Embedding(context, width)
            self.h = nn.ModuleList(Block(width) for _ in range(depth))
            self.ln_f = nn.LayerNorm(width)
            self.lm_head = nn.Linear(width, vocab, bias=False)
            self.lm_head.weight = self.wte.weight

    return GPT2(**size)


def _torch_default_init(model):
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()


def _state_digest(model):
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().contiguous().view(-1).numpy().view(np.uint8))
    return h.hexdigest()


def model_demo(repeat=3, **size):
    """Time both initializations of gpt2_small(**size); size: vocab, context, width, depth."""
    import torch

    import fastki
    from fastki import torch as fastki_torch

    _progress("  building the GPT-2-small-sized model ...")
    model = gpt2_small(torch, **size)
    n_params = sum(p.numel() for p in model.parameters())
    result = {"parameters": n_params, "bytes": n_params * 4}

    with _PeakRss() as mem:
        torch_s = median_seconds(lambda: _torch_default_init(model), repeat)
    result["torch_default_s"] = torch_s
    result["torch_default_added_mib"] = mem.added
    _progress(f"    torch defaults: {torch_s:.3f} s")

    with _PeakRss() as mem:
        fastki_s = median_seconds(lambda: fastki_torch.init_module(model, seed=2024), repeat)
    result["fastki_init_module_s"] = fastki_s
    result["fastki_added_mib"] = mem.added
    result["speedup"] = torch_s / fastki_s
    _progress(f"    fastki.torch.init_module: {fastki_s:.3f} s")

    digest_all = _state_digest(model)
    with fastki.options(num_threads=1):
        fastki_torch.init_module(model, seed=2024)
    result["same_bytes_1_thread_vs_all"] = _state_digest(model) == digest_all
    result["sha256"] = digest_all
    result["torch_threads"] = torch.get_num_threads()
    result["fastki_threads"] = fastki.info()["num_threads"]
    return result


# --------------------------------------------------------------------------- Dask to Zarr


def zarr_demo(gib, directory=None):
    import dask
    import zarr

    import fastki
    from fastki import dask as fastki_dask

    cols = 1 << 14                                 # 64 KiB rows of float32
    rows = max(1, int(gib * (1 << 30)) // (cols * 4))
    shape = (rows, cols)
    chunk_rows = 1024                              # 64 MiB chunks
    result = {"shape": list(shape), "gib": rows * cols * 4 / (1 << 30),
              "chunk_mib": chunk_rows * cols * 4 / (1 << 20)}
    owned = directory is None
    directory = tempfile.mkdtemp(prefix="fastki-scale-") if owned else directory
    path = os.path.join(directory, "normal.zarr")
    try:
        lazy = fastki_dask.normal(shape, stddev=0.02, seed=2024, chunks=(chunk_rows, cols))
        result["chunks"] = int(np.prod(lazy.numblocks))
        _progress(f"  writing {result['gib']:.2f} GiB to {path} through Dask "
                  f"({result['chunks']} chunks of {result['chunk_mib']:.0f} MiB) ...")
        t0 = time.perf_counter()
        # no compressor: random floats do not compress, and compression would time zstd
        no_compression = ({"compressors": None} if int(zarr.__version__.split(".")[0]) >= 3
                          else {"compressor": None})
        with _PeakRss() as mem, dask.config.set(scheduler="threads"):
            lazy.to_zarr(path, overwrite=True, **no_compression)
        result["write_s"] = time.perf_counter() - t0
        result["write_gib_per_s"] = result["gib"] / result["write_s"]
        result["rss_mib_before_write"] = mem.start
        result["peak_rss_mib_during_write"] = mem.peak
        _progress(f"    {result['write_s']:.1f} s; peak RSS {mem.peak:.0f} MiB")

        _progress("  the same tensor in memory with fastki.normal, compared with the store ...")
        t0 = time.perf_counter()
        whole = fastki.normal(shape, stddev=0.02, seed=2024)
        result["in_memory_s"] = time.perf_counter() - t0
        # again into the same memory: the first fill also paid for the pages' first touch,
        # which on a VM can cost more than the values
        t0 = time.perf_counter()
        fastki.normal(shape, stddev=0.02, seed=2024, out=whole)
        result["in_memory_refill_s"] = time.perf_counter() - t0
        stored = zarr.open_array(path, mode="r")
        equal = True
        for lo in range(0, rows, chunk_rows):
            hi = min(rows, lo + chunk_rows)
            if stored[lo:hi].tobytes() != whole[lo:hi].tobytes():
                equal = False
                break
        result["bytes_equal"] = equal
        del whole
    finally:
        if owned:
            shutil.rmtree(directory, ignore_errors=True)
    return result


def run(args: argparse.Namespace) -> int:
    import fastki

    info = fastki.info()
    _progress(f"fastki {info['version']} scale demo: backend {info['backend']}, SIMD "
              f"{info['simd']}, {info['num_threads']} threads")
    results = {"info": info}
    z = results["zarr"] = zarr_demo(args.scale_gib, args.scale_dir)
    model = results["model"] = model_demo()
    print(f"GPT-2-small-sized model, {model['parameters'] / 1e6:.1f} M parameters "
          f"({model['bytes'] / (1 << 20):.0f} MiB):", flush=True)
    print(f"  PyTorch defaults (reset_parameters)  {model['torch_default_s']:8.3f} s  "
          f"(+{model['torch_default_added_mib']:.0f} MiB)", flush=True)
    print(f"  fastki.torch.init_module             {model['fastki_init_module_s']:8.3f} s  "
          f"(+{model['fastki_added_mib']:.0f} MiB)  {model['speedup']:.1f}x", flush=True)
    print(f"  same bytes on 1 thread and {model['fastki_threads']}: "
          f"{'yes' if model['same_bytes_1_thread_vs_all'] else 'NO'}", flush=True)
    print(f"Dask -> Zarr, normal float32 {tuple(z['shape'])} = {z['gib']:.2f} GiB in "
          f"{z['chunks']} chunks of {z['chunk_mib']:.0f} MiB:", flush=True)
    print(f"  write {z['write_s']:.1f} s ({z['write_gib_per_s']:.2f} GiB/s); resident memory "
          f"{z['rss_mib_before_write']:.0f} MiB before, peak {z['peak_rss_mib_during_write']:.0f} "
          f"MiB during the write", flush=True)
    print(f"  in memory with fastki.normal: {z['in_memory_s']:.1f} s (new pages), "
          f"{z['in_memory_refill_s']:.2f} s again with out=; bytes equal to the store: "
          f"{'yes' if z['bytes_equal'] else 'NO'}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    ok = model["same_bytes_1_thread_vs_all"] and z["bytes_equal"]
    return 0 if ok else 1
