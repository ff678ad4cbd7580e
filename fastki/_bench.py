"""`python -m fastki bench`: fastki's fills timed beside NumPy (and peers where installed)."""
import time

import numpy as np


def add_arguments(parser):
    parser.add_argument("--size", type=int, default=1 << 25, help="elements per fill (2**25)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--threads", type=int, default=None, help="OpenMP threads for fastki")
    parser.add_argument("--json", action="store_true", help="print results as JSON")


def _median_ns(fn, size, repeat):
    fn()  # warm up: page in the output, start the thread pool
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e9 / size


def run(args):
    import fastki

    n = args.size
    out32 = np.empty(n, np.float32)
    gen = np.random.default_rng(0)
    rows = []
    with fastki.options(num_threads=args.threads):
        cases = [
            ("normal float32", lambda: fastki.normal(n, seed=1, out=out32),
             "numpy standard_normal f32", lambda: gen.standard_normal(dtype=np.float32, out=out32)),
        ]
        for name, fn, ref_name, ref in cases:
            ns = _median_ns(fn, n, args.repeat)
            ref_ns = _median_ns(ref, n, args.repeat)
            rows.append((name, ns, ref_name, ref_ns))
            print(f"{name:<24} {ns:7.2f} ns/elem   {ref_name}: {ref_ns:7.2f} ns/elem   "
                  f"speed-up {ref_ns / ns:5.1f}x", flush=True)
    return 0
