"""Write tests/data/golden.json: SHA-256 of the bytes of fixed fills, per distribution x dtype.

The golden file pins fastki's values (docs/algorithm.md) across releases; CHANGELOG.md lists
every change of values.
It is generated once; changing a value is a breaking change, so this script refuses to
overwrite the file unless given --force (and the stream version and changelog must say so).

    python tests/make_golden.py            # write tests/data/golden.json if it is absent
    python tests/make_golden.py --force    # regenerate (a deliberate change of values)

Hashes are computed with the NumPy backend and checked against the native one when the
extension is loaded, so a file is never written from a backend that disagrees.
"""
import argparse
import hashlib
import json
import pathlib
import sys

import numpy as np

import fastki

from fastki._constants import STREAM_VERSION

# One golden file per stream version (docs/algorithm.md, "Stream version"): the files of
# earlier versions stay, as the record of what each version's values were.
GOLDEN = pathlib.Path(__file__).parent / "data" / f"golden_v{STREAM_VERSION}.json"

DISTS = ("uniform", "normal", "truncated_normal")
DTYPES = ("float32", "float64", "float16", "bfloat16")

# (seed, stream, shape, params, block) per distribution; params as strings of floats so
# that infinities survive strict JSON.
CASES = {
    "uniform": [
        (0, 0, [1000], {}, None),
        (2**64 - 1, 5, [33, 97], {"minval": "-0.3", "maxval": "0.7"}, None),
        (123456789, 2**40, [17, 19, 23], {"minval": "-2.0", "maxval": "5.0"},
         [[3, 16], [1, 18], [5, 22]]),
        # stream version 2: ends that no dtype holds exactly
        (5, 0, [257], {"minval": "-4.618716679195063", "maxval": "-4.28538334586173"}, None),
    ],
    "normal": [
        (0, 0, [1000], {}, None),
        (2**64 - 1, 5, [33, 97], {"mean": "0.5", "stddev": "0.02"}, None),
        (123456789, 2**40, [17, 19, 23], {"mean": "-1.0", "stddev": "3.0"},
         [[3, 16], [1, 18], [5, 22]]),
    ],
    "truncated_normal": [
        (0, 0, [1000], {}, None),
        (2**64 - 1, 5, [33, 97], {"mean": "0.1", "stddev": "0.05", "lower": "1.0",
                                  "upper": "3.0"}, None),
        (123456789, 2**40, [17, 19, 23], {"lower": "0.0", "upper": "inf"},
         [[3, 16], [1, 18], [5, 22]]),
        (42, 1, [4097], {"lower": "-12.0", "upper": "-11.0"}, None),
        # stream version 2: the ends come from the exact mean and stddev
        (3, 0, [1000], {"mean": "0.7", "stddev": "1.0", "lower": "-0.7", "upper": "-0.6999"},
         None),
    ],
}


def resolve_dtype(name):
    """The numpy dtype for name, or None when bfloat16 is asked for without ml_dtypes."""
    if name == "bfloat16":
        try:
            import ml_dtypes
        except ImportError:
            return None
        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


def generate(case, backend):
    """The array a golden case describes, made by the given backend."""
    params = {k: float(v) for k, v in case["params"].items()}
    block = None if case["block"] is None else tuple(slice(a, b) for a, b in case["block"])
    with fastki.options(backend=backend):
        return getattr(fastki, case["dist"])(
            tuple(case["shape"]), seed=case["seed"], stream=case["stream"],
            dtype=resolve_dtype(case["dtype"]), block=block, **params)


def sha256(a):
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def raw_case():
    return {"seed": 2**64 - 1, "stream": 2**64 - 1, "offset": 2**34 - 11, "n": 4099}


def raw_words(case, backend):
    with fastki.options(backend=backend):
        return fastki.random_raw(case["n"], seed=case["seed"], stream=case["stream"],
                                 offset=case["offset"])


def build():
    from fastki import _api

    backends = ["numpy"] + (["native"] if _api._native is not None else [])
    cases = []
    for dist in DISTS:
        for dtype in DTYPES:
            if resolve_dtype(dtype) is None:
                sys.exit("make_golden: bfloat16 needs ml_dtypes (pip install ml_dtypes)")
            for seed, stream, shape, params, block in CASES[dist]:
                case = {"dist": dist, "dtype": dtype, "seed": seed, "stream": stream,
                        "shape": shape, "params": params, "block": block}
                hashes = {b: sha256(generate(case, b)) for b in backends}
                if len(set(hashes.values())) != 1:
                    sys.exit(f"make_golden: backends disagree on {case}: {hashes}")
                case["sha256"] = hashes["numpy"]
                cases.append(case)
    raw = raw_case()
    hashes = {b: sha256(raw_words(raw, b)) for b in backends}
    if len(set(hashes.values())) != 1:
        sys.exit(f"make_golden: backends disagree on random_raw: {hashes}")
    raw["sha256"] = hashes["numpy"]
    return {
        "about": "SHA-256 of the bytes (native byte order, little-endian machines) of fixed "
                 "fastki fills; written by tests/make_golden.py, checked by "
                 "tests/test_golden.py. A change here is a change of values: a breaking "
                 "change.",
        "fastki_version": fastki.__version__,
        "stream_version": STREAM_VERSION,
        "byteorder": sys.byteorder,
        "cases": cases,
        "random_raw": raw,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true",
                        help="overwrite an existing golden file (a deliberate change of values)")
    parser.add_argument("--output", type=pathlib.Path, default=GOLDEN)
    args = parser.parse_args(argv)
    if args.output.exists() and not args.force:
        sys.exit(f"make_golden: {args.output} exists; refusing to overwrite it without --force "
                 f"(changing golden values is a breaking change)")
    data = build()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {len(data['cases'])} cases to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
