"""`python -m fastki bench`: every fill timed beside NumPy (and PyTorch, JAX and Keras where
installed), all measured in this one run: medians of several runs, in ns per element, and
the speed-up against each reference. Then the checks that matter as much as the speed:
bits identical across SIMD paths, thread counts and the NumPy backend; thread scaling; SIMD
against scalar; per-call overhead."""
import argparse
import json
import os
import timeit

import numpy as np

from . import busy as _busy
from .options import whole_number
from .timing import median_seconds
from .timing import progress as _progress

DISTS = ("uniform", "normal", "truncated_normal")
DTYPES = ("float32", "float64")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", type=whole_number, default=1 << 25, metavar="N",
                        help="elements per fill (default 2**25 = 33554432)")
    parser.add_argument("--repeat", type=whole_number, default=5, metavar="N",
                        help="timed runs per measurement; the median is shown (default 5)")
    parser.add_argument("--threads", type=whole_number, default=None, metavar="N",
                        help="threads for fastki (default: OpenMP's, e.g. OMP_NUM_THREADS)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    parser.add_argument("--no-peers", action="store_true",
                        help="compare with NumPy only (skip PyTorch, JAX and Keras)")
    _busy.add_arguments(parser)  # --busy and its options: fastki/bench/busy.py


# --------------------------------------------------------------------------- references


def _numpy_refs(n, dtype):
    gen = np.random.default_rng(0)
    out = np.empty(n, dtype)

    def trunc():
        # what a NumPy user writes: draw, then redraw the values outside [-2, 2]
        out[...] = gen.standard_normal(n, dtype=dtype)
        bad = np.flatnonzero(np.abs(out) > 2)
        while bad.size:
            out[bad] = gen.standard_normal(bad.size, dtype=dtype)
            bad = bad[np.abs(out[bad]) > 2]

    return {
        "uniform": ("numpy random", lambda: gen.random(dtype=dtype, out=out)),
        "normal": ("numpy standard_normal", lambda: gen.standard_normal(dtype=dtype, out=out)),
        "truncated_normal": ("numpy normal + redraw", trunc),
    }


def _peer_refs(n, dtype):
    refs = {d: [] for d in DISTS}
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        t = torch.empty(n, dtype=getattr(torch, dtype))
        refs["uniform"].append(("torch uniform_", lambda: t.uniform_()))
        refs["normal"].append(("torch normal_", lambda: t.normal_()))
        refs["truncated_normal"].append(
            ("torch trunc_normal_", lambda: torch.nn.init.trunc_normal_(t, a=-2.0, b=2.0)))
    try:
        import jax

        key = jax.random.PRNGKey(0)
        jdt = getattr(jax.numpy, dtype)
        if dtype == "float64" and not jax.config.read("jax_enable_x64"):
            raise ImportError("JAX float64 needs jax_enable_x64")
        jn = jax.jit(lambda k: jax.random.normal(k, (n,), jdt))
        ju = jax.jit(lambda k: jax.random.uniform(k, (n,), jdt))
        jt = jax.jit(lambda k: jax.random.truncated_normal(k, -2.0, 2.0, (n,), jdt))
        refs["normal"].append(("jax random.normal", lambda: jn(key).block_until_ready()))
        refs["uniform"].append(("jax random.uniform", lambda: ju(key).block_until_ready()))
        refs["truncated_normal"].append(
            ("jax truncated_normal", lambda: jt(key).block_until_ready()))
    except Exception:  # noqa: BLE001 - a missing or unusable peer is skipped
        pass
    if os.environ.get("KERAS_BACKEND", "numpy") == "numpy":
        try:
            os.environ.setdefault("KERAS_BACKEND", "numpy")
            import keras

            ki = keras.initializers
            refs["truncated_normal"].append(
                ("keras-numpy TruncatedNormal",
                 lambda: ki.TruncatedNormal(stddev=1.0, seed=1)((n,), dtype=dtype)))
            refs["normal"].append(
                ("keras-numpy RandomNormal", lambda: ki.RandomNormal(seed=1)((n,), dtype=dtype)))
        except Exception:  # noqa: BLE001
            pass
    return refs


# --------------------------------------------------------------------------- checks


def check_bits(size=100_003):
    """True when every SIMD path and thread count gives the NumPy backend's bytes."""
    import fastki

    paths = fastki.info()["simd_available"]
    configs = 0
    for dist in DISTS:
        fn = getattr(fastki, dist)
        for dtype in DTYPES:
            with fastki.options(backend="numpy"):
                ref = fn(size, seed=7, stream=3, dtype=dtype).tobytes()
            for simd in paths:
                for threads in (1, 2, 3):
                    with fastki.options(backend="native", simd=simd, num_threads=threads):
                        got = fn(size, seed=7, stream=3, dtype=dtype)
                    if got.tobytes() != ref:
                        return False, f"{dist} {dtype} simd={simd} threads={threads} differs"
                    configs += 1
    return True, f"{configs} configurations ({len(paths)} SIMD paths x threads 1,2,3 x 6 fills)"


def run(args: argparse.Namespace) -> int:
    import fastki

    n, repeat = args.size, args.repeat
    info = fastki.info()
    _progress(f"fastki {info['version']}: backend {info['backend']}, SIMD {info['simd']} "
              f"(available {', '.join(info['simd_available'])}), OpenMP {info['openmp']}, "
              f"{fastki.info()['num_threads'] if args.threads is None else args.threads} threads; "
              f"{n} elements, median of {repeat}")
    if info["backend"] != "native":
        print(f"WARNING: timing the {info['backend']} backend, not the compiled kernel "
              f"(native loaded: {info['native_loaded']})", flush=True)
    results = {"info": info, "size": n, "repeat": repeat, "fills": [], "checks": {}}
    if args.only_busy:  # the --busy section alone (fastki/bench/busy.py)
        _busy.run_busy(args, results)
        if args.json:
            print(json.dumps(results, indent=2))
        return 0
    lines = []
    header = f"{'fill':<26}{'fastki ns/el':>13}  {'reference':<28}{'ns/el':>9}{'speed-up':>10}"
    lines.append(header)
    print(header, flush=True)
    for dtype in DTYPES:
        out = np.empty(n, dtype)
        numpy_refs = _numpy_refs(n, dtype)
        peers = {d: [] for d in DISTS} if args.no_peers else _peer_refs(n, dtype)
        for dist in DISTS:
            fn = getattr(fastki, dist)
            _progress(f"  timing {dist} {dtype} ...")
            with fastki.options(num_threads=args.threads):
                ns = median_seconds(lambda: fn(n, seed=1, dtype=dtype, out=out), repeat) * 1e9 / n
            row = {"dist": dist, "dtype": dtype, "ns_per_element": ns, "references": []}
            for ref_name, ref in [numpy_refs[dist]] + peers[dist]:
                try:
                    # slow references get fewer runs so that the bench stays within a minute
                    ref_ns = median_seconds(ref, repeat, budget=1.0) * 1e9 / n
                except Exception as exc:  # noqa: BLE001 - a peer failing is reported, not fatal
                    _progress(f"    {ref_name}: skipped ({type(exc).__name__}: {exc})")
                    continue
                row["references"].append({"name": ref_name, "ns_per_element": ref_ns,
                                          "speedup": ref_ns / ns})
                line = (f"{dist + ' ' + dtype:<26}{ns:>13.2f}  {ref_name:<28}{ref_ns:>9.2f}"
                        f"{ref_ns / ns:>9.1f}x")
                lines.append(line)
                print(line, flush=True)
            results["fills"].append(row)

    _progress("  checking bits across SIMD paths, thread counts and the NumPy backend ...")
    ok, detail = check_bits()
    results["checks"]["bits_identical"] = {"ok": ok, "detail": detail}
    print(f"bits identical across backends, SIMD paths and threads: {'yes' if ok else 'NO'} "
          f"({detail})", flush=True)

    if not args.no_peers:  # the jit line where JAX is installed: fastki/jax/_bench.py
        try:
            from ..jax._bench import jit_line
        except ImportError:
            jit_line = None
        if jit_line is not None:
            _progress("  fastki.jax under jax.jit against jax.nn.initializers ...")
            results["checks"]["jax_jit"] = jit_line(repeat)

    out = np.empty(n, np.float32)
    _progress("  thread scaling and SIMD against scalar ...")
    checks_repeat = max(repeat, 9)  # ratios of two medians: more runs, less noise
    with fastki.options(num_threads=1):
        one = median_seconds(lambda: fastki.normal(n, seed=1, out=out), checks_repeat)
    threads = args.threads or fastki.info()["num_threads"]
    with fastki.options(num_threads=threads):
        many = median_seconds(lambda: fastki.normal(n, seed=1, out=out), checks_repeat)
    print(f"threads: normal float32 {threads} threads vs 1 thread: {one / many:.2f}x", flush=True)
    results["checks"]["thread_scaling"] = {"threads": threads, "speedup": one / many}
    best = info["simd"]
    with fastki.options(num_threads=1, simd="scalar"):
        scalar = median_seconds(lambda: fastki.normal(n, seed=1, out=out), checks_repeat)
    print(f"SIMD: normal float32 {best} vs scalar, 1 thread: {scalar / one:.2f}x", flush=True)
    results["checks"]["simd_vs_scalar"] = {"simd": best, "speedup": scalar / one}

    _progress("  per-call overhead against NumPy's Generator ...")
    gen = np.random.default_rng(0)
    for size in (1, 1000):
        reps = 20000 if size == 1 else 5000
        target = np.empty(size, np.float32)
        for label, ours_fn, theirs_fn in (
                ("", lambda: fastki.normal(size, seed=1),
                 lambda: gen.standard_normal(size, dtype=np.float32)),
                (" with out=", lambda: fastki.normal(size, seed=1, out=target),
                 lambda: gen.standard_normal(size, dtype=np.float32, out=target))):
            ours = _per_call(ours_fn, reps)
            theirs = _per_call(theirs_fn, reps)
            print(f"overhead: normal float32 of {size} element(s){label}: fastki "
                  f"{ours * 1e6:.2f} us, numpy {theirs * 1e6:.2f} us ({theirs / ours:.1f}x)",
                  flush=True)
            key = f"call_{size}" + ("_out" if label else "")
            results["checks"][key] = {"fastki_us": ours * 1e6, "numpy_us": theirs * 1e6}
    if args.busy:
        _busy.run_busy(args, results)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0 if ok else 1


def _per_call(fn, reps):
    """Seconds per call: the median over 5 timed loops of reps calls, after one warm-up call."""
    fn()
    loops = timeit.Timer(fn).repeat(repeat=5, number=reps)
    return float(np.median(loops)) / reps
