"""Philox4x32-10 known answers and the word stream of docs/algorithm.md §1, in both backends.

The reference here is a few lines of plain Python written from the paper (Salmon et al.,
SC'11) and Random123's philox.h, sharing nothing with fastki's own code.
"""
import pathlib

import numpy as np
import pytest

import fastki

from conftest import backends

DATA = pathlib.Path(__file__).parent / "data" / "philox4x32_10.txt"
U64 = 1 << 64

# --------------------------------------------------------------------------- reference

M0, M1 = 0xD2511F53, 0xCD9E8D57  # round multipliers
W0, W1 = 0x9E3779B9, 0xBB67AE85  # key bumps: golden ratio, sqrt(3) - 1
MASK = 0xFFFFFFFF


def ref_philox(ctr, key, rounds=10):
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(rounds):
        if r:
            k0, k1 = (k0 + W0) & MASK, (k1 + W1) & MASK
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0, p1 & MASK, (p0 >> 32) ^ c3 ^ k1, p0 & MASK)
    return [c0, c1, c2, c3]


def ref_words(seed, stream, offset, n):
    """Words offset .. offset+n-1 of the stream, by docs/algorithm.md §1's formula, word by word."""
    out = []
    cache = {}
    for j in range(offset, offset + n):
        b = j // 4
        if b not in cache:
            cache = {b: ref_philox((b & MASK, b >> 32, stream & MASK, stream >> 32),
                                   (seed & MASK, seed >> 32))}
        out.append(cache[b][j % 4])
    return np.array(out, dtype=np.uint32)


def load_vectors():
    rows = []
    for line in DATA.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, rounds, *words = line.split()
        assert name == "philox4x32" and len(words) == 10, line
        w = [int(x, 16) for x in words]
        rows.append((int(rounds), w[0:4], w[4:6], w[6:10]))
    return rows


VECTORS = load_vectors()


def test_vector_file_is_complete():
    # the three Random123 vectors plus the 64 extra ones the file says it holds
    assert len(VECTORS) >= 67
    assert all(r == 10 for r, *_ in VECTORS)


def test_reference_matches_known_answers():
    """The independent reference itself reproduces every vector (guards the reference)."""
    for _, ctr, key, expect in VECTORS:
        assert ref_philox(ctr, key) == expect, (ctr, key)


# --------------------------------------------------------------------------- known answers


@pytest.mark.parametrize("backend", backends())
def test_known_answers_batched(backend):
    ctr = np.array([v[1] for v in VECTORS], dtype=np.uint32)
    key = np.array([v[2] for v in VECTORS], dtype=np.uint32)
    expect = np.array([v[3] for v in VECTORS], dtype=np.uint32)
    with fastki.options(backend=backend):
        got = fastki.philox4x32_10(ctr, key)
    assert got.dtype == np.uint32 and got.shape == expect.shape
    bad = np.flatnonzero((got != expect).any(axis=1))
    assert bad.size == 0, [(ctr[i].tolist(), key[i].tolist(), got[i].tolist()) for i in bad[:5]]


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("i", [0, 1, 2, 10, len(VECTORS) - 1])
def test_known_answers_one_at_a_time(backend, i):
    _, ctr, key, expect = VECTORS[i]
    with fastki.options(backend=backend):
        got = fastki.philox4x32_10(np.array(ctr, dtype=np.uint32), np.array(key, dtype=np.uint32))
    assert got.shape == (4,)
    assert got.tolist() == expect


@pytest.mark.parametrize("backend", backends())
def test_key_broadcasts_over_counters(backend):
    ctr = np.array([v[1] for v in VECTORS[3:11]], dtype=np.uint32)  # counters 0..7
    key = np.array([0x12345678, 0x9ABCDEF0], dtype=np.uint32)
    with fastki.options(backend=backend):
        got = fastki.philox4x32_10(ctr, key)
    assert got.tolist() == [ref_philox(c, key.tolist()) for c in ctr.tolist()]


# --------------------------------------------------------------------------- word stream

# (seed, stream, offset, n): offsets crossing Philox blocks (4 words), groups of 16 blocks
# (64 words), the 2**32-block boundary of the counter's low word, and the end of the stream.
STREAM_CASES = [
    (0, 0, 0, 9),
    (1, 0, 3, 6),
    (12345, 7, 61, 10),                     # crosses a group of 16 blocks
    (2**64 - 1, 0, 0, 13),
    (0, 2**64 - 1, 5, 11),
    (2**64 - 1, 2**64 - 1, 1, 7),
    (2**32, 2**32 - 1, 2**34 - 7, 14),      # block 2**32 - 1 -> 2**32
    (2**32 - 1, 2**32, 4 * (2**32 - 1) + 2, 9),
    (0xDEADBEEFCAFEF00D, 0x0123456789ABCDEF, 4 * (3 * 2**32) - 5, 10),
    (42, 3, 2**64 - 13, 13),                # the last words of the stream
    (42, 3, 2**64 - 1, 1),
    (99, 1, 2**63 - 2, 5),
]


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("seed,stream,offset,n", STREAM_CASES)
def test_random_raw_is_the_design_word_stream(backend, seed, stream, offset, n):
    with fastki.options(backend=backend):
        got = fastki.random_raw(n, seed=seed, stream=stream, offset=offset)
    assert got.dtype == np.uint32 and got.shape == (n,)
    np.testing.assert_array_equal(got, ref_words(seed, stream, offset, n))


@pytest.mark.parametrize("backend", backends())
def test_random_raw_longer_run(backend):
    # a run long enough to span several of the NumPy backend's internal chunks is checked
    # against the reference at its two ends and against itself through offsets
    seed, stream = 2**63 + 11, 5
    n = 3 * 4 * 16 * 4096 + 7
    with fastki.options(backend=backend):
        whole = fastki.random_raw(n, seed=seed, stream=stream, offset=1)
        mid = fastki.random_raw(1000, seed=seed, stream=stream, offset=1 + 262_000)
    np.testing.assert_array_equal(whole[:50], ref_words(seed, stream, 1, 50))
    np.testing.assert_array_equal(whole[-50:], ref_words(seed, stream, 1 + n - 50, 50))
    np.testing.assert_array_equal(whole[262_000:263_000], mid)


@pytest.mark.parametrize("backend", backends())
def test_random_raw_words_equal_philox_blocks(backend):
    """Word 4b+i is output word i of philox(counter=(b lo, b hi, stream lo, stream hi))."""
    seed, stream = 0x0123456789ABCDEF, 0xFEDCBA9876543210
    blocks = np.array([0, 1, 2**32 - 1, 2**32, 2**40 + 3], dtype=np.uint64)
    ctr = np.stack([blocks & np.uint64(MASK), blocks >> np.uint64(32),
                    np.full(5, stream & MASK, dtype=np.uint64),
                    np.full(5, stream >> 32, dtype=np.uint64)], axis=-1).astype(np.uint32)
    key = np.array([seed & MASK, seed >> 32], dtype=np.uint32)
    with fastki.options(backend=backend):
        expect = fastki.philox4x32_10(ctr, key)
        for b, row in zip(blocks.tolist(), expect):
            got = fastki.random_raw(4, seed=seed, stream=stream, offset=4 * b)
            np.testing.assert_array_equal(got, row)


def test_random_raw_zero_words(backend):
    with fastki.options(backend=backend):
        got = fastki.random_raw(0, seed=1, offset=2**64 - 1)
    assert got.shape == (0,) and got.dtype == np.uint32
