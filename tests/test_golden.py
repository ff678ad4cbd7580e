"""The golden file: fixed fills must keep their exact bytes, in both backends.

tests/data/golden_v<stream version>.json was written once by tests/make_golden.py. If this test fails, values
changed: that is a breaking change (docs/algorithm.md, CHANGELOG.md), not something to fix by regenerating.
"""
import json
import subprocess
import sys

import pytest

from conftest import backends
from make_golden import DISTS, DTYPES, GOLDEN, generate, raw_words, resolve_dtype, sha256

import fastki
from fastki._constants import STREAM_VERSION

DATA = json.loads(GOLDEN.read_text())
CASES = DATA["cases"]

pytestmark = pytest.mark.skipif(DATA["byteorder"] != sys.byteorder,
                                reason="golden hashes are of little-endian bytes")


def _id(case):
    return f"{case['dist']}-{case['dtype']}-{case['shape']}-s{case['seed'] % 1000}"


def test_golden_file_is_the_stream_version_of_the_package():
    """The hashes are those of the package's stream version: a change of values without a
    new version (and a new golden file) fails here or in test_golden_hash."""
    assert DATA["stream_version"] == fastki.info()["stream_version"] == STREAM_VERSION
    assert GOLDEN.name == f"golden_v{STREAM_VERSION}.json"


def test_golden_file_covers_every_distribution_and_dtype():
    covered = {(c["dist"], c["dtype"]) for c in CASES}
    assert covered == {(d, t) for d in DISTS for t in DTYPES}
    assert len({c["sha256"] for c in CASES}) == len(CASES), "two cases share a hash"


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("case", CASES, ids=_id)
def test_golden_hash(case, backend):
    if resolve_dtype(case["dtype"]) is None:
        pytest.skip("bfloat16 needs ml_dtypes")
    a = generate(case, backend)
    if case["block"] is None:
        assert list(a.shape) == case["shape"]
    else:
        assert list(a.shape) == [b - a_ for a_, b in case["block"]]
    assert a.dtype == resolve_dtype(case["dtype"])
    got = sha256(a)
    assert got == case["sha256"], (
        f"values changed for {case}: sha256 {got}; first values {a.reshape(-1)[:4]!r}")


@pytest.mark.parametrize("backend", backends())
def test_golden_random_raw(backend):
    raw = DATA["random_raw"]
    assert sha256(raw_words(raw, backend)) == raw["sha256"]


def test_make_golden_refuses_to_overwrite(tmp_path):
    target = tmp_path / "golden.json"
    target.write_text("sentinel")
    script = GOLDEN.parent.parent / "make_golden.py"
    proc = subprocess.run([sys.executable, str(script), "--output", str(target)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "--force" in proc.stderr
    assert target.read_text() == "sentinel"
