"""Memory edges (docs/hardening.md, "Memory edges"): outputs that cannot be allocated,
element indices beyond 2**31, 2**32 and up to 2**64 - 1 reached through block= on huge
virtual shapes (nothing of the shape is allocated), and the end of the index space."""

import numpy as np
import pytest

import fastki

from _hardening_util import last_json, run_python

U64 = 1 << 64
FILLS = ("uniform", "normal", "truncated_normal")
DTYPES = ("float32", "float64")


def backends_and_paths():
    paths = [("native", s) for s in fastki.info()["simd_available"]] if fastki.info()["native_loaded"] else []
    return paths + [("numpy", None)]


def test_unallocatable_output_raises_memoryerror_without_touching_the_process():
    code = r'''
import json, resource, numpy as np, fastki
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
def peak_mib():  # VmHWM: this process's peak since the reset below (ru_maxrss would
    # include the parent's size, which a forked child inherits)
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
ref = fastki.normal(1000, seed=3).tobytes()
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak resident size
before = rss_mib()
errors = []
calls = [(fastki.normal, (2**40,), dict(dtype="float64"), "shape"),
         (fastki.uniform, (2**20, 2**20), dict(dtype="float32"), "shape"),
         (fastki.truncated_normal, (2**44,), dict(dtype="float16"), "shape"),
         (fastki.uniform, (2**60,), dict(dtype="float32"), "shape"),
         # bigger than any NumPy array can be: a ValueError naming the parameter instead
         (fastki.uniform, (2**61,), dict(dtype="float32"), "shape"),
         (fastki.uniform, (2**63,), dict(dtype="float32"), "shape"),
         (fastki.random_raw, 2**40, {}, "n"),
         (fastki.random_raw, 2**61, {}, "n")]
for fn, arg, kw, name in calls:
    try:
        fn(arg, seed=1, **kw)
        errors.append("no error")
    except (MemoryError, ValueError) as exc:
        errors.append([type(exc).__name__, name in str(exc)])
after = rss_mib()
print(json.dumps({"errors": errors, "rss_growth_mib": after - before,
                  "maxrss_mib": peak_mib(),
                  "still_works": fastki.normal(1000, seed=3).tobytes() == ref}))
'''
    rc, out, err = run_python(code, timeout=120)
    assert rc == 0, err
    rep = last_json(out)
    print("\nmemory:", rep)
    assert rep["errors"] == [["MemoryError", True]] * 4 + [["ValueError", True]] * 2 + \
        [["MemoryError", True], ["ValueError", True]], rep
    # nothing was touched: resident memory did not grow by the output's size (or anything big)
    assert rep["rss_growth_mib"] < 64, rep
    # nor at its peak (VmHWM since the reset; also under ASan: ~60 MiB there)
    assert rep["maxrss_mib"] < 1024, rep
    assert rep["still_works"]


# a huge virtual shape: 2**40 x 2**23 = 2**63 elements, and 2**41 x 2**23 = 2**64 (the most)
@pytest.mark.parametrize("rows,cols", [(2**40, 2**23), (2**41, 2**23), (3, 2**32 + 7),
                                       (2**31 + 1, 5)])
@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("dtype", DTYPES + ("float16",))
def test_block_far_into_huge_shape_matches_flat_index(rows, cols, fill, dtype):
    fn = getattr(fastki, fill)
    r0, c0 = rows - 3, max(0, cols - 77)
    block = (slice(r0, rows), slice(c0, cols - 1 if cols > 5 else cols))
    got = fn((rows, cols), seed=0xFEED, stream=5, dtype=dtype, block=block)
    assert got.shape == (3, block[1].stop - c0)
    for i, r in enumerate(range(r0, rows)):
        flat = r * cols + c0  # the same elements through a 1-D shape, block at the flat index
        row = fn((rows * cols,), seed=0xFEED, stream=5, dtype=dtype,
                 block=(slice(flat, flat + got.shape[1]),))
        assert got[i].tobytes() == row.tobytes(), (r, flat)


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_end_of_index_space_same_on_every_path(fill, dtype):
    """The last 1001 elements of a 2**64-element tensor, on every backend, SIMD path and
    thread count, and the very last element on its own."""
    fn = getattr(fastki, fill)
    block = (slice(U64 - 1001, U64),)
    ref = None
    for backend, simd in backends_and_paths():
        for threads in (1, 2):
            with fastki.options(backend=backend, simd=simd, num_threads=threads):
                got = fn(U64, seed=2**64 - 1, stream=2**64 - 1, dtype=dtype, block=block)
                last = fn(U64, seed=2**64 - 1, stream=2**64 - 1, dtype=dtype,
                          block=(slice(-1, None),))
            assert not np.isnan(got).any()
            ref = got if ref is None else ref
            assert got.tobytes() == ref.tobytes(), (backend, simd, threads)
            assert last.tobytes() == got[-1:].tobytes(), (backend, simd, threads)


def test_index_space_limits():
    # a shape of exactly 2**64 elements is accepted (as a virtual shape for block=)
    assert fastki.uniform((2**32, 2**32), seed=1, block=(slice(-1, None), slice(-2, None))).shape == (1, 2)
    with pytest.raises(ValueError, match="shape"):
        fastki.uniform((2**32, 2**32 + 1), seed=1, block=(slice(0, 1), slice(0, 1)))
    # random_raw: words offset .. offset + n - 1 with offset + n <= 2**64
    last = fastki.random_raw(4, seed=9, offset=U64 - 4)
    assert last.tobytes() == fastki.random_raw(8, seed=9, offset=U64 - 8)[4:].tobytes()
    with pytest.raises(ValueError, match="offset"):
        fastki.random_raw(4, seed=9, offset=U64 - 3)
    with fastki.options(backend="numpy"):
        assert fastki.random_raw(4, seed=9, offset=U64 - 4).tobytes() == last.tobytes()
