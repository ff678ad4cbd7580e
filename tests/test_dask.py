"""fastki.dask: lazy arrays equal to the in-memory results byte for byte, whatever the
chunking and the scheduler (threads, processes, dask.distributed); one independent task
per chunk; argument errors at construction; a Zarr write larger than the workers' memory."""
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile

import numpy as np
import pytest

dask = pytest.importorskip("dask")
pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from dask.core import get_dependencies  # noqa: E402

import fastki  # noqa: E402
import fastki.dask as fd  # noqa: E402
from fastki import initializers as I  # noqa: E402

DTYPES = ["float32", "float64", "float16", "bfloat16"]
# the same dtypes as objects: a task must give the same values in another process, where
# an unpickled dtype is equal to NumPy's but not the same object
DTYPE_OBJECTS = {"float32": np.float32, "float64": np.dtype(np.float64),
                 "float16": np.dtype("float16"), "bfloat16": fastki._validate._dtype_arg("bfloat16")[0]}
# (shape, chunks): ragged chunks, one chunk, chunks of 1 along an axis, "auto", 0-d, empty
CHUNKINGS = [
    ((1000,), 333),
    ((13,), 1),
    ((37, 23), ((10, 10, 17), (5, 18))),
    ((37, 23), (1, -1)),
    ((37, 23), (-1, 1)),
    ((37, 23), -1),
    ((37, 23), "auto"),
    ((6, 5, 7), (4, 2, 3)),
    ((6, 5, 7), (1, 5, 1)),
    ((), "auto"),
    ((0, 4), 2),
]
DISTRIBUTIONS = [
    ("uniform", {"minval": -3.0, "maxval": 5.0}),
    ("normal", {"mean": 1.0, "stddev": 2.0}),
    ("truncated_normal", {"mean": -1.0, "stddev": 0.5, "lower": -1.5, "upper": 3.0}),
]


def _distribution_cases():
    """(id, lazy array, the in-memory result it must equal) for every distribution, dtype
    and chunking."""
    cases = []
    for name, params in DISTRIBUTIONS:
        for dtype in DTYPES:
            for k, (shape, chunks) in enumerate(CHUNKINGS):
                kwargs = dict(params, seed=1000 + k, stream=k % 3, dtype=dtype)
                as_object = dict(kwargs, dtype=DTYPE_OBJECTS[dtype]) if k % 2 else kwargs
                lazy = getattr(fd, name)(shape, chunks=chunks, **as_object)
                cases.append((f"{name}-{dtype}-{shape}-{chunks}", lazy,
                              getattr(fastki, name)(shape, **kwargs)))
    return cases


def _initializers():
    """An instance of every class (and the variants that take another code path), with a
    shape it accepts."""
    matrix, kernel = (37, 23), (3, 5, 4, 6)
    return [
        (I.Zeros(), matrix), (I.Ones(), kernel), (I.Constant(-0.0), matrix),
        (I.Constant(2.5), kernel), (I.Constant([[1.0], [2.0], [3.0]]), (3, 11)),
        (I.Identity(gain=3.0), matrix), (I.Identity(), (23, 37)),
        (I.STFT(), (16, 2, 9)), (I.STFT(side="imag", window=None), (8, 1, 5)),
        (I.RandomNormal(mean=1.0, stddev=2.0, seed=1), matrix),
        (I.RandomUniform(seed=2, stream=5), kernel),
        (I.TruncatedNormal(stddev=3.0, seed=3), matrix),
        (I.VarianceScaling(scale=2.0, mode="fan_out", distribution="untruncated_normal",
                           seed=4), kernel),
        (I.VarianceScaling(mode="fan_avg", distribution="uniform", seed=5), matrix),
        (I.GlorotNormal(seed=6), kernel), (I.GlorotUniform(seed=7), matrix),
        (I.HeNormal(seed=8), matrix), (I.HeUniform(seed=9), kernel),
        (I.LecunNormal(seed=10), matrix), (I.LecunUniform(seed=11, stream=2), matrix),
        (I.Orthogonal(gain=1.5, seed=12), matrix), (I.Orthogonal(seed=13), (5, 4, 30)),
    ]


INITIALIZER_CHUNKS = [((10, 4), "ragged"), (-1, "one chunk"), (1, "chunks of 1")]


def _initializer_cases():
    cases = []
    for k, (init, shape) in enumerate(_initializers()):
        for j, (chunks, label) in enumerate(INITIALIZER_CHUNKS):
            dtype = DTYPES[(k + j) % len(DTYPES)]
            lazy_dtype = DTYPE_OBJECTS[dtype] if j == 1 else dtype
            if label == "chunks of 1":  # 1 along the first axis only: few tasks
                chunks = (1,) + (-1,) * (len(shape) - 1)
            else:
                chunks = chunks if isinstance(chunks, int) else chunks + (-1,) * (len(shape) - 2)
            cases.append((f"{init!r}-{shape}-{label}-{dtype}",
                          fd.initialize(init, shape, dtype=lazy_dtype, chunks=chunks),
                          init(shape, dtype)))
    for dtype in ("int8", "bool", "uint16"):  # constants also take integer and bool dtypes
        for init in (I.Zeros(), I.Ones(), I.Identity(gain=1), I.Constant(1)):
            cases.append((f"{init!r}-{dtype}", fd.initialize(init, (9, 7), dtype, chunks=4),
                          init((9, 7), dtype)))
    return cases


def _all_cases():
    return _distribution_cases() + _initializer_cases()


def _assert_bytes_equal(case_id, got, expected):
    assert got.dtype == expected.dtype and got.shape == expected.shape, (
        case_id, got.dtype, got.shape, expected.dtype, expected.shape)
    assert got.tobytes() == expected.tobytes(), case_id


def _assert_all_equal(cases, results):
    for (case_id, _, expected), got in zip(cases, results):
        _assert_bytes_equal(case_id, np.asarray(got), expected)


# --------------------------------------------------------------------------- schedulers


def test_threaded_scheduler_gives_the_in_memory_bytes():
    cases = _all_cases()
    _assert_all_equal(cases, dask.compute(*(lazy for _, lazy, _ in cases), scheduler="threads"))


def test_synchronous_compute_of_each_array_gives_the_in_memory_bytes():
    for case_id, lazy, expected in _all_cases():
        _assert_bytes_equal(case_id, lazy.compute(scheduler="sync"), expected)


@pytest.mark.integration  # worker processes or a fresh interpreter (tests/conftest.py)
def test_process_scheduler_gives_the_in_memory_bytes():
    cases = _all_cases()  # one compute: the process pool starts once
    _assert_all_equal(cases, dask.compute(*(lazy for _, lazy, _ in cases), scheduler="processes",
                                          num_workers=2))


@pytest.fixture(scope="module")
def client():
    """Two worker processes with one thread each, shared by this module's tests."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


@pytest.mark.integration  # worker processes or a fresh interpreter (tests/conftest.py)
def test_distributed_cluster_gives_the_in_memory_bytes(client):
    cases = _all_cases()
    with distributed.get_task_stream(client) as tasks:
        results = client.gather(client.compute([lazy for _, lazy, _ in cases]))
    _assert_all_equal(cases, results)
    assert len({task["worker"] for task in tasks.data}) == 2  # both processes made chunks


# --------------------------------------------------------------------------- graphs


def _graph(lazy):
    return dict(lazy.__dask_graph__())


def _made_whole(init):
    """Whether an initializer cannot make a block alone (docs/dask.md)."""
    return (isinstance(init, (I.Orthogonal, I.STFT))
            or (isinstance(init, I.Constant) and np.ndim(init.value) > 0))


def _blockwise_cases():
    return _distribution_cases() + [
        (repr(init), fd.initialize(init, shape, chunks=3), None)
        for init, shape in _initializers() if not _made_whole(init)]


def _chunk_keys(lazy):
    return list(dask.core.flatten(lazy.__dask_keys__()))


def test_each_chunk_is_one_task_that_depends_on_nothing():
    for case_id, lazy, _ in _blockwise_cases():
        graph = _graph(lazy)
        assert set(graph) == set(_chunk_keys(lazy)), case_id
        for key in graph:
            assert not get_dependencies(graph, key), (case_id, key)


def _chunk_block(chunks, index):
    """The slices of chunk `index` of an array with Dask's `chunks`."""
    starts = [np.cumsum((0,) + tuple(sizes)) for sizes in chunks]
    return tuple(slice(int(st[i]), int(st[i + 1])) for st, i in zip(starts, index))


def _expected_chunks(lazy, expected):
    """{chunk key: the in-memory values' block of that chunk}."""
    return {key: expected[_chunk_block(lazy.chunks, key[1:])] for key in _chunk_keys(lazy)}


def test_a_chunk_task_makes_its_block_alone():
    lazy = fd.normal((37, 23), seed=5, chunks=(10, 7))
    graph = _graph(lazy)
    for key in _chunk_keys(lazy):
        alone = {key: graph[key]}  # the task with nothing beside it: it needs nothing else
        block = _chunk_block(lazy.chunks, key[1:])
        _assert_bytes_equal(key, dask.get(alone, key), fastki.normal((37, 23), seed=5, block=block))


def _ancestors(graph, key):
    seen, todo = set(), [key]
    while todo:
        for dep in get_dependencies(graph, todo.pop()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


_WHOLE_CALLS = []


def _counted_sevens(shape, dtype=None):
    _WHOLE_CALLS.append(shape)
    return np.full(shape, 7.0, dtype)


@pytest.mark.parametrize("init, shape", [
    (I.Orthogonal(seed=1), (30, 20)), (I.STFT(), (16, 1, 9)), (I.Constant([1.0, 2.0]), (6, 2)),
    (_counted_sevens, (6, 4)),
], ids=["Orthogonal", "STFT", "array Constant", "a function"])
def test_whole_tensor_initializers_make_it_in_one_task_that_the_chunks_slice(init, shape):
    lazy = fd.initialize(init, shape, chunks=2)
    graph = _graph(lazy)
    roots = {key for key in graph if not get_dependencies(graph, key)}
    assert len(roots) == 1, roots  # one task makes the whole tensor ...
    for key in _chunk_keys(lazy):
        assert roots <= _ancestors(graph, key)  # ... and every chunk is sliced from it
    del _WHOLE_CALLS[:]
    got = lazy.compute(scheduler="threads")
    want = np.asarray(fastki.initializers.get(init)(shape, lazy.dtype.name))
    assert got.dtype == want.dtype and got.tobytes() == want.tobytes()
    if init is _counted_sevens:
        assert _WHOLE_CALLS == [shape, shape]  # once for the Dask array, once just above


def test_tasks_pickle_with_the_standard_pickle():
    # the process scheduler and distributed use cloudpickle, but plain pickle shows the
    # tasks name module-level functions: nothing depends on the process that built them;
    # the restored graph computes every chunk's bytes
    for case_id, lazy, expected in _all_cases():
        restored = pickle.loads(pickle.dumps(_graph(lazy)))
        for key, want in _expected_chunks(lazy, expected).items():
            _assert_bytes_equal((case_id, key), np.asarray(dask.get(restored, key)), want)


def test_names_are_deterministic_and_seed_none_is_drawn_once():
    assert fd.normal((9, 9), seed=3).name == fd.normal((9, 9), seed=3).name
    assert fd.normal((9, 9), seed=3).name != fd.normal((9, 9), seed=4).name
    assert fd.normal((9, 9), seed=3).name != fd.normal((9, 9), seed=3, chunks=4).name
    assert fd.normal((9, 9), seed=3).name != fd.normal((9, 9), seed=3, dtype="bfloat16").name
    assert (fd.initialize(I.HeNormal(seed=3), (9, 9)).name
            == fd.initialize(I.HeNormal(seed=3), (9, 9)).name)
    unseeded = fd.uniform((50, 50), chunks=7)
    first = unseeded.compute()
    np.testing.assert_array_equal(unseeded.compute(scheduler="sync"), first)
    other = fd.uniform((50, 50), chunks=7)
    assert other.name != unseeded.name and not np.array_equal(other.compute(), first)


def test_seed_generator_advances_once_per_array():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = pytest.importorskip("keras")
    ours = I.RandomNormal(seed=keras.random.SeedGenerator(3))
    twin = I.RandomNormal(seed=keras.random.SeedGenerator(3))
    first, second = fd.initialize(ours, (20, 10), chunks=3), fd.initialize(ours, (20, 10))
    twin_first, twin_second = twin((20, 10)), twin((20, 10))
    assert not np.array_equal(twin_first, twin_second)
    for _ in range(2):  # computing again draws nothing more
        np.testing.assert_array_equal(first.compute(), twin_first)
        np.testing.assert_array_equal(second.compute(), twin_second)
    # Orthogonal too: one draw, made whole in a task
    ours = I.Orthogonal(seed=keras.random.SeedGenerator(4))
    twin = I.Orthogonal(seed=keras.random.SeedGenerator(4))
    np.testing.assert_array_equal(fd.initialize(ours, (8, 8), chunks=3).compute(), twin((8, 8)))


def test_dtype_none_and_names_resolve_as_get_does():
    assert fd.initialize("zeros", (3, 4)).dtype == np.float32
    assert fd.initialize({"class_name": "Ones", "config": {}}, (3,), "float64").dtype == np.float64
    assert fd.initialize(I.HeNormal, (3, 4)).dtype == np.float32
    values = np.arange(6.0).reshape(2, 3)
    lazy = fd.initialize(values, (2, 3), chunks=1)
    _assert_bytes_equal("array", lazy.compute(), values.astype(np.float32))


class _Doubled(I.RandomNormal):
    """A user's subclass with its own values: they must not come from RandomNormal's blocks."""

    def __call__(self, shape, dtype=None):
        return 2 * super().__call__(shape, dtype)


def test_a_subclass_with_its_own_call_is_computed_by_its_call():
    init = _Doubled(seed=1)
    lazy = fd.initialize(init, (10, 10), chunks=3)
    np.testing.assert_array_equal(lazy.compute(), init((10, 10)))


# --------------------------------------------------------------------------- errors

BAD_CALLS = [  # (function, args, kwargs): each wrong in one way
    ("normal", ((3, -1),), {}),
    ("normal", ((3, 1.5),), {}),
    ("normal", ("3",), {}),
    ("uniform", ((3,),), {"dtype": "int32"}),
    ("uniform", ((3,),), {"dtype": None}),
    ("uniform", ((3,), 2.0, 1.0), {}),
    ("uniform", ((3,), float("nan")), {}),
    ("normal", ((3,),), {"stddev": -1.0}),
    ("normal", ((3,),), {"stddev": 1e5, "dtype": "float16"}),
    ("normal", ((3,),), {"seed": -1}),
    ("normal", ((3,),), {"seed": 2**64}),
    ("normal", ((3,),), {"seed": True}),
    ("normal", ((3,),), {"stream": 2**64}),
    ("normal", ((3,),), {"stream": "0"}),
    ("truncated_normal", ((3,),), {"lower": 1.0, "upper": 1.0}),
    ("truncated_normal", ((3,),), {"lower": 40.0, "upper": 41.0}),
    ("truncated_normal", ((),), {"mean": float("inf")}),
]


def _raised(call):
    with pytest.raises(Exception) as info:
        call()
    return info.value


@pytest.mark.parametrize("name, args, kwargs", BAD_CALLS)
def test_bad_arguments_raise_at_construction_as_the_functional_api_does(name, args, kwargs):
    expected = _raised(lambda: getattr(fastki, name)(*args, **kwargs))
    got = _raised(lambda: getattr(fd, name)(*args, **kwargs))
    assert type(got) is type(expected) and str(got) == str(expected)


def test_bad_argument_messages():
    with pytest.raises(ValueError, match=re.escape("stddev must be non-negative, got -1.0")):
        fd.normal((3,), stddev=-1)
    with pytest.raises(TypeError, match=re.escape("dtype must be float32, float64, float16 or "
                                                  "bfloat16, got int32")):
        fd.uniform(5, dtype="int32")
    with pytest.raises(ValueError, match=re.escape("shape must not be negative, got (2, -2)")):
        fd.truncated_normal((2, -2))
    with pytest.raises(ValueError, match="Chunks do not add up to shape"):
        fd.normal((10,), chunks=((3, 3),))
    with pytest.raises(ValueError, match=re.escape("Could not interpret initializer identifier: "
                                                   "'nope'")):
        fd.initialize("nope", (3,))
    with pytest.raises(ValueError, match=re.escape("Could not interpret initializer identifier: "
                                                   "None")):
        fd.initialize(None, (3,))


@pytest.mark.parametrize("init, shape, dtype", [
    (I.Identity(), (2, 2, 2), None),
    (I.Orthogonal(seed=1), (5,), None),
    (I.STFT(), (16, 1), None),
    (I.STFT(), (16, 1, 1), None),
    (I.STFT(window=[1.0, 2.0]), (16, 1, 4), None),
    (I.Constant([1, 2, 3]), (2, 2), None),
    (I.Constant(300), (2,), "int8"),
    (I.Constant(0.5), (2,), "int32"),
    (I.Constant(1e6), (2,), "float16"),
    (I.Identity(gain=1.5), (2, 2), "int8"),
    (I.RandomNormal(stddev=1e5, seed=1), (4,), "float16"),
    (I.GlorotUniform(seed=1), (3, 3), "int32"),
    (I.Zeros(), (3, -3), None),
    (I.Ones(), (3,), "complex64"),
    (I.HeNormal(seed=1), "3", None),
], ids=repr)
def test_bad_initializer_arguments_raise_at_construction_as_the_call_does(init, shape, dtype):
    expected = _raised(lambda: init(shape, dtype))
    got = _raised(lambda: fd.initialize(init, shape, dtype))
    assert type(got) is type(expected) and str(got) == str(expected)


# --------------------------------------------------------------------------- import


@pytest.mark.integration  # worker processes or a fresh interpreter (tests/conftest.py)
def test_importing_fastki_does_not_import_dask():
    code = ("import sys, fastki, fastki.initializers as I\n"
            "fastki.normal((3, 4), seed=1); I.GlorotUniform(seed=1)((3, 4))\n"
            "bad = [m for m in sys.modules if m == 'dask' or m.startswith('dask.')]\n"
            "assert not bad, bad\n")
    # started outside the checkout, so that an installed fastki is the one imported
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120,
                   cwd=tempfile.gettempdir())


# --------------------------------------------------------------------------- out of core

WORKER_MEMORY_LIMIT = 256 * 2**20
ZARR_SHAPE = (20480, 16384)  # float32: 1.25 GiB, five times the worker's memory limit
ZARR_ARGS = {"mean": 0.5, "stddev": 2.0, "seed": 11, "stream": 3}

# Run in a fresh interpreter: a worker process is spawned from the process that starts the
# cluster, and inherits imports of it (torch, once Keras' tests have run here, which takes
# the worker's resident memory past the limit before any chunk is made).
ZARR_WRITER = """
import json, os, resource, sys
import distributed
import zarr
import fastki.dask

def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB

task = json.loads(sys.argv[1])
with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True,
                              memory_limit=task["limit"], dashboard_address=":0") as cluster:
    with distributed.Client(cluster) as client:
        (before,) = client.run(os.getpid).values()
        lazy = fastki.dask.normal(tuple(task["shape"]), **task["args"], chunks=(512, 4096))
        # no compression: random floats barely compress, and the write is faster
        uncompressed = {"compressors" if zarr.__version__ >= "3" else "compressor": None}
        lazy.to_zarr(task["path"], **uncompressed)
        (after,) = client.run(os.getpid).values()
        (peak,) = client.run(peak_rss_bytes).values()
print(json.dumps({"same_worker": before == after, "peak_rss": peak}))
"""


@pytest.mark.integration  # worker processes or a fresh interpreter (tests/conftest.py)
@pytest.mark.skipif(os.environ.get("FASTKI_SANITIZED") == "1",
                    reason="ASan's shadow memory and quarantine inflate resident memory past a "
                           "cap sized for the plain build; the plain and wheel suites run this")
def test_to_zarr_writes_a_tensor_larger_than_the_workers_memory(tmp_path):
    zarr = pytest.importorskip("zarr")
    tensor_bytes = np.prod(ZARR_SHAPE) * 4
    assert tensor_bytes >= 4 * WORKER_MEMORY_LIMIT
    path = str(tmp_path / "w.zarr")
    task = {"limit": WORKER_MEMORY_LIMIT, "shape": ZARR_SHAPE, "args": ZARR_ARGS, "path": path}
    run = subprocess.run([sys.executable, "-c", ZARR_WRITER, json.dumps(task)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-4000:]
    report = json.loads(run.stdout.splitlines()[-1])
    # The nanny ends a worker that passes 95% of memory_limit: the same worker before and
    # after says none was ended and replaced.  Its peak resident memory, below the limit
    # and so a fifth of the tensor, shows that the tensor went through it a few chunks at
    # a time: no task held, or made, more than its own chunk.
    assert report["same_worker"]
    assert report["peak_rss"] < WORKER_MEMORY_LIMIT < tensor_bytes, report
    stored = zarr.open_array(path, mode="r")
    assert stored.shape == ZARR_SHAPE and stored.dtype == np.float32
    for block in [(slice(500, 1300), slice(4000, 9000)),  # across chunk edges
                  (slice(20000, 20480), slice(16000, 16384)),  # the last corner
                  (slice(0, 1), slice(None))]:
        _assert_bytes_equal(block, stored[block], fastki.normal(ZARR_SHAPE, **ZARR_ARGS,
                                                                block=block))
