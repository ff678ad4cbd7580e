"""No hidden state (docs/hardening.md): the same arguments give the same bytes in two fresh
interpreters (with different hash seeds, thread counts and SIMD paths), and in one
interpreter before and after many unrelated calls, errors and option changes."""

import numpy as np
import pytest

import fastki

from _hardening_util import last_json, run_python

DIGEST = r'''
import hashlib, json, numpy as np, fastki
def digests():
    out = {}
    for fill in ("uniform", "normal", "truncated_normal"):
        for dtype in ("float32", "float64", "float16"):
            fn = getattr(fastki, fill)
            a = fn((37, 1000), seed=20240601, stream=3, dtype=dtype)
            b = fn((2**40, 2**20), seed=7, stream=2**64 - 1, dtype=dtype,
                   block=(slice(2**40 - 2, None), slice(1000, 1300)))
            out[f"{fill}/{dtype}"] = hashlib.sha256(a.tobytes() + b.tobytes()).hexdigest()
    out["random_raw"] = hashlib.sha256(fastki.random_raw(10001, seed=1, stream=2, offset=3).tobytes()).hexdigest()
    ctr = np.arange(400, dtype=np.uint32).reshape(-1, 4)
    out["philox"] = hashlib.sha256(fastki.philox4x32_10(ctr, np.array([5, 6], np.uint32)).tobytes()).hexdigest()
    return out
'''


def digests():
    ns = {}
    exec(DIGEST, ns)  # noqa: S102 - the same code the subprocesses run
    return ns["digests"]()


def test_two_interpreters_same_bytes():
    here = digests()
    envs = [{"PYTHONHASHSEED": "1", "OMP_NUM_THREADS": "1"},
            {"PYTHONHASHSEED": "2", "OMP_NUM_THREADS": "2", "FASTKI_SIMD": "scalar"},
            {"PYTHONHASHSEED": "3", "FASTKI_BACKEND": "numpy"}]
    for env in envs:
        rc, out, err = run_python(DIGEST + "\nprint(json.dumps(digests()))", timeout=300, env=env)
        assert rc == 0, err
        assert last_json(out) == here, env


def test_same_interpreter_before_and_after_other_calls():
    before = digests()
    # unrelated work: other seeds and sizes, every option, refused calls, seed=None draws
    for i in range(50):
        with fastki.options(num_threads=1 + i % 3, simd=(fastki.info()["simd_available"] or [None] * 2)[i % 2]):
            fastki.normal((i + 1, 33), seed=i, dtype=("float32", "float64")[i % 2])
            fastki.truncated_normal(1000 * i, mean=i, stddev=i + 1, lower=-1, upper=3, seed=None)
            fastki.uniform(5, -i, i + 1, out=np.empty(5, np.float32), seed=2**64 - 1 - i)
        with pytest.raises((ValueError, TypeError)):
            fastki.uniform(3, seed=-i - 1)
        with pytest.raises((ValueError, TypeError)):
            fastki.normal((3,), block=(slice(0, 5, 2),), seed=1)
    with fastki.options(backend="numpy"):
        fastki.random_raw(1000, seed=3)
    big = fastki.normal(1 << 22, seed=11)  # multi-threaded
    del big
    after = digests()
    assert after == before
