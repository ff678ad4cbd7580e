"""How a fill is split among threads and how many threads it takes (src_c/dispatch.c,
"threads"; docs/dask.md, "Threads"; docs/hardening.md, "Threads"):

- every split setting (FASTKI_SCHEDULE, FASTKI_CHUNK_GROUPS, FASTKI_STREAMING,
  FASTKI_SHARE_THREADS) gives the NumPy backend's bytes with 1, 2, 3, 7 and 16 threads, and
  cuts the range into the pieces the settings describe;
- fills from 8 Python threads at once give the serial bytes, each taking the threads the
  sharing rule gives for the fills it found in flight, and the count of fills in flight
  returns to zero;
- the sharing rule itself, its overrides (options(num_threads=), OMP_NUM_THREADS,
  threadpoolctl, FASTKI_SHARE_THREADS=0), and invalid settings refused at import.

Settings are read once per process, so each setting runs in a child process of its own.
Nothing here is timed."""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import fastki

_native = fastki._api._native
pytestmark = pytest.mark.skipif(_native is None or not fastki.info()["openmp"],
                                reason="needs the compiled kernel built with OpenMP")

THREAD_COUNTS = (1, 2, 3, 7, 16)
FILLS = ("uniform", "normal", "truncated_normal")
DTYPES = ("float32", "float64")
PER_GROUP = {"float32": 80, "float64": 32}
# a window of a 1-D tensor that starts and ends inside a group: the first and last pieces
# are partial groups, every other cut falls on a group boundary
START, COUNT = 37, 200_003
SHAPE = (START + COUNT + 61,)

CHILD = textwrap.dedent("""
    import hashlib, json, sys
    import fastki
    from fastki import _native
    START, COUNT, SHAPE = %r, %r, %r
    out = {"settings": _native.thread_settings(), "cases": {}}
    for fill in %r:
        for dtype in %r:
            for threads in %r:
                with fastki.options(backend="native", num_threads=threads):
                    got = getattr(fastki, fill)(SHAPE, seed=11, stream=5, dtype=dtype,
                                                block=(slice(START, START + COUNT),))
                out["cases"][f"{fill} {dtype} {threads}"] = {
                    "sha": hashlib.sha256(got.tobytes()).hexdigest(),
                    "report": _native.last_fill()}
    json.dump(out, sys.stdout)
""") % (START, COUNT, SHAPE, FILLS, DTYPES, THREAD_COUNTS)


def run_child(code, env=None, expect_ok=True):
    full = dict(os.environ)
    for name in ("FASTKI_SCHEDULE", "FASTKI_CHUNK_GROUPS", "FASTKI_STREAMING",
                 "FASTKI_SHARE_THREADS", "OMP_NUM_THREADS", "FASTKI_BACKEND", "FASTKI_SIMD"):
        full.pop(name, None)
    full.update(env or {})
    # started in tests/, not in the checkout, whose fastki/ would shadow an installed one
    proc = subprocess.run([sys.executable, "-c", code], env=full, capture_output=True,
                          text=True, timeout=300, cwd=os.path.dirname(os.path.abspath(__file__)))
    if expect_ok:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.fixture(scope="module")
def reference():
    ref = {}
    with fastki.options(backend="numpy"):
        for fill in FILLS:
            for dtype in DTYPES:
                got = getattr(fastki, fill)(SHAPE, seed=11, stream=5, dtype=dtype,
                                            block=(slice(START, START + COUNT),))
                ref[fill, dtype] = hashlib.sha256(got.tobytes()).hexdigest()
    return ref


def expected_pieces(first, count, per_group, chunk_groups, schedule, team):
    """The pieces src_c/dispatch.c's claim_piece cuts [first, first + count) into: each
    claim takes a chunk (dynamic) or the larger of a chunk and (what is left) / (2 x team)
    (guided), its end moved up to the next group boundary."""
    if schedule == "static":
        return team
    start, pieces, chunk = 0, 0, chunk_groups * per_group
    while start < count:
        left = count - start
        size = max(chunk, left // (2 * team)) if schedule == "guided" else chunk
        end = count if size >= left else start + size
        rem = (first + end) % per_group
        if end < count and rem:
            end = min(count, end + per_group - rem)
        start, pieces = end, pieces + 1
    return pieces


SETTINGS = [
    {},  # the build's defaults: dynamic, 256 groups, streaming auto, sharing on
    {"FASTKI_SCHEDULE": "static"},
    {"FASTKI_SCHEDULE": "dynamic", "FASTKI_CHUNK_GROUPS": "1"},
    {"FASTKI_SCHEDULE": "dynamic", "FASTKI_CHUNK_GROUPS": "7"},
    {"FASTKI_SCHEDULE": "dynamic", "FASTKI_CHUNK_GROUPS": "16777216"},
    {"FASTKI_SCHEDULE": "guided", "FASTKI_CHUNK_GROUPS": "1"},
    {"FASTKI_SCHEDULE": "guided"},
    {"FASTKI_STREAMING": "on", "FASTKI_CHUNK_GROUPS": "3"},
    {"FASTKI_STREAMING": "off", "FASTKI_SCHEDULE": "static"},
    {"FASTKI_SHARE_THREADS": "0", "FASTKI_SCHEDULE": "guided", "FASTKI_CHUNK_GROUPS": "5"},
]


@pytest.mark.parametrize("env", SETTINGS, ids=lambda e: ",".join(f"{k[7:]}={v}" for k, v in e.items()) or "defaults")
def test_every_split_setting_gives_the_same_bytes(env, reference):
    got = json.loads(run_child(CHILD, env).stdout)
    settings = got["settings"]
    assert settings["schedule"] == env.get("FASTKI_SCHEDULE", "dynamic")
    assert settings["chunk_groups"] == int(env.get("FASTKI_CHUNK_GROUPS", 256))
    assert settings["streaming"] == env.get("FASTKI_STREAMING", "auto")
    assert settings["share_threads"] == (env.get("FASTKI_SHARE_THREADS", "1") == "1")
    for fill in FILLS:
        for dtype in DTYPES:
            for threads in THREAD_COUNTS:
                case = got["cases"][f"{fill} {dtype} {threads}"]
                assert case["sha"] == reference[fill, dtype], (fill, dtype, threads, env)
                rep = case["report"]
                # an explicit thread count is taken whole (the work is large enough for 16)
                assert rep["want"] == threads and rep["threads"] == threads, rep
                if threads == 1:
                    assert rep["pieces"] == 1
                    continue
                assert rep["shared"] is False and rep["fills"] == 1, rep
                assert rep["schedule"] == settings["schedule"]
                assert rep["pieces"] == expected_pieces(
                    START, COUNT, PER_GROUP[dtype], settings["chunk_groups"],
                    settings["schedule"], threads), (fill, dtype, threads, rep)


# --------------------------------------------------------------------------- sharing rule


def rule(want, budget, fills, others, recent=0):
    """docs/dask.md, "Threads": max(1, min(want, B // n, B - n - E - R + 1))."""
    return max(1, min(want, budget // fills, budget - fills - others - recent + 1))


@pytest.mark.parametrize("want,budget,fills,others,expected", [
    (16, 16, 1, 0, 16),   # alone: every thread it wants
    (5, 16, 1, 0, 5),     # a small fill wants fewer
    (16, 16, 2, 15, 1),   # the other fill holds every other core: its calling thread only
    (16, 16, 4, 0, 4),    # four fills, nothing held yet: a quarter each
    (16, 16, 4, 3, 4),
    (16, 16, 4, 11, 2),   # 16 - 4 - 11 + 1 = 2 cores left
    (2, 2, 1, 0, 2),
    (2, 2, 2, 0, 1),      # two Dask threads on 2 cores: one thread each
    (2, 2, 8, 0, 1),
    (16, 16, 20, 0, 1),
])
def test_sharing_rule_table(want, budget, fills, others, expected):
    assert _native.share_threads(want, budget, fills, others) == expected
    assert rule(want, budget, fills, others) == expected


def test_sharing_rule_matches_the_documented_formula():
    for want in (1, 2, 3, 8, 16, 64):
        for budget in (1, 2, 3, 16, 64):
            for fills in range(1, 20):
                for others in range(0, 70, 3):
                    assert _native.share_threads(want, budget, fills, others) == \
                        rule(want, budget, fills, others), (want, budget, fills, others)


OCCUPY_CHILD = textwrap.dedent("""
    import json, sys
    import fastki
    from fastki import _native
    rows = []
    for fills, others in ((0, 0), (1, 0), (1, 15), (3, 0), (3, 5), (7, 8), (15, 0), (20, 0)):
        _native._debug_occupy(fills, others)
        try:
            fastki.normal(1 << 22, seed=1)
            default = _native.last_fill()
            with fastki.options(num_threads=5):
                fastki.normal(1 << 22, seed=1)
            explicit = _native.last_fill()
        finally:
            _native._debug_occupy(-fills, -others)
        rows.append([fills, others, default, explicit])
    small = fastki.normal(1000, seed=1) is not None and _native.last_fill()
    extra = {}
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        pass
    else:
        with threadpool_limits(limits=3, user_api="openmp"):
            _native._debug_occupy(1, 0)
            try:
                fastki.normal(1 << 22, seed=1)
            finally:
                _native._debug_occupy(-1, 0)
            extra["threadpoolctl"] = _native.last_fill()
    json.dump({"rows": rows, "small": small, "extra": extra,
               "after": _native.threads_in_flight()}, sys.stdout)
""")


@pytest.mark.parametrize("budget", [16, 3])
def test_sharing_rule_with_other_fills_in_flight(budget):
    """Pretend fills in flight (the debug hook) and check the threads a real fill then ran on."""
    got = json.loads(run_child(OCCUPY_CHILD, {"OMP_NUM_THREADS": str(budget)}).stdout)
    for fills, others, default, explicit in got["rows"]:
        want = min(budget, (1 << 22) * 2 // 8192)
        assert default["shared"] is True and default["budget"] == budget
        assert default["fills"] == fills + 1 and default["others"] == others
        assert default["threads"] == rule(want, budget, fills + 1, others), (fills, others, default)
        # options(num_threads=) wins over the sharing rule and over OMP_NUM_THREADS
        assert explicit["shared"] is False and explicit["threads"] == 5, explicit
    # alone, a default fill takes the whole budget: OMP_NUM_THREADS sets it
    assert got["rows"][0][2]["threads"] == budget
    # a fill too small for threads does not count itself in or claim anything
    assert got["small"]["threads"] == 1 and got["small"]["budget"] == 0
    try:
        import threadpoolctl  # noqa: F401 - a test dependency (pyproject.toml)
    except ImportError:
        assert "threadpoolctl" not in got["extra"]
    else:
        rep = got["extra"]["threadpoolctl"]
        assert rep["budget"] == 3 and rep["threads"] == rule(3, 3, 2, 0) == 1
    assert got["after"] == [0, 0]


def test_sharing_can_be_switched_off():
    code = OCCUPY_CHILD
    got = json.loads(run_child(code, {"OMP_NUM_THREADS": "4", "FASTKI_SHARE_THREADS": "0"}).stdout)
    for fills, others, default, explicit in got["rows"]:
        assert default["shared"] is False and default["threads"] == 4
    assert got["after"] == [0, 0]


RECENT_CHILD = textwrap.dedent("""
    import json, sys, threading, time
    import fastki
    from fastki import _native
    SIZE = 1 << 22
    reports = {}

    def fill_in_another_thread():
        t = threading.Thread(target=lambda: fastki.normal(SIZE, seed=2))
        t.start()
        t.join()

    fastki.normal(SIZE, seed=1)
    reports["alone"] = _native.last_fill()
    fill_in_another_thread()
    fastki.normal(SIZE, seed=1)  # within 50 ms of the other thread's fill
    reports["after_other"] = _native.last_fill()
    fill_in_another_thread()
    _native._debug_forget_recent()
    fastki.normal(SIZE, seed=1)
    reports["forgotten"] = _native.last_fill()
    fill_in_another_thread()
    time.sleep(0.25)
    fastki.normal(SIZE, seed=1)
    reports["after_window"] = _native.last_fill()
    fill_in_another_thread()
    with fastki.options(num_threads=2):
        fastki.normal(SIZE, seed=1)
    reports["explicit"] = _native.last_fill()
    json.dump(reports, sys.stdout)
""")


@pytest.mark.parametrize("budget", [2, 16])
def test_recent_callers_count_as_busy_cores(budget):
    """src_c/dispatch.c, "Recent callers": another thread whose fill ended less than 50 ms ago
    holds a core (Dask copies each chunk into place between fills); later, or forgotten, it
    does not; options(num_threads=) is not shared at all."""
    got = json.loads(run_child(RECENT_CHILD, {"OMP_NUM_THREADS": str(budget)}).stdout)
    want = min(budget, (1 << 22) * 2 // 8192)
    assert got["alone"]["recent"] == 0 and got["alone"]["threads"] == want
    after = got["after_other"]
    assert after["recent"] == 1 and after["fills"] == 1 and after["others"] == 0
    assert after["threads"] == rule(want, budget, 1, 0, 1) == budget - 1
    for key in ("forgotten", "after_window"):
        assert got[key]["recent"] == 0 and got[key]["threads"] == want, (key, got[key])
    assert got["explicit"]["shared"] is False and got["explicit"]["threads"] == 2


EIGHT_CHILD = textwrap.dedent("""
    import hashlib, json, sys, threading
    from concurrent.futures import ThreadPoolExecutor
    import fastki
    from fastki import _native
    N, SIZE = 8, 3 << 20
    barrier = threading.Barrier(N)

    def work(i):
        barrier.wait()
        rows = []
        for k in range(4):
            dtype = ("float32", "float64")[(i + k) % 2]
            got = fastki.normal(SIZE, seed=i, stream=k, dtype=dtype)
            rows.append([i, k, dtype, hashlib.sha256(got.tobytes()).hexdigest(),
                         _native.last_fill()])
        return rows

    with ThreadPoolExecutor(N) as pool:
        rows = [r for part in pool.map(work, range(N)) for r in part]
    json.dump({"rows": rows, "after": _native.threads_in_flight()}, sys.stdout)
""")


@pytest.fixture(scope="module")
def eight_reference():
    # serial, one thread: the bytes every concurrent fill must give (the NumPy backend's
    # equality with these is checked above and in tests/test_identity.py)
    with fastki.options(num_threads=1):
        return {(i, k, dt): hashlib.sha256(fastki.normal(3 << 20, seed=i, stream=k, dtype=dt)
                                           .tobytes()).hexdigest()
                for i in range(8) for k in range(4) for dt in DTYPES}


@pytest.mark.parametrize("budget", [2, 16])
def test_eight_python_threads_share_the_budget(budget, eight_reference):
    got = json.loads(run_child(EIGHT_CHILD, {"OMP_NUM_THREADS": str(budget)}).stdout)
    ref = eight_reference
    for i, k, dtype, sha, rep in got["rows"]:
        assert sha == ref[i, k, dtype], (i, k, dtype)
        # the last slice of each fill: a default fill under the sharing rule
        assert rep["shared"] is True and rep["budget"] == budget
        assert 1 <= rep["fills"] <= 8 and 0 <= rep["others"] <= budget - 1
        assert 0 <= rep["recent"] <= 8 - rep["fills"]  # the 8 threads, less those filling
        assert rep["threads"] == rule(rep["want"], budget, rep["fills"], rep["others"],
                                      rep["recent"]), rep
    assert got["after"] == [0, 0]


DASK_CHILD = textwrap.dedent("""
    import json, sys
    import numpy as np
    import dask.array as da
    import fastki
    from fastki import _native
    SIZE = 1 << 21
    with fastki.options(num_threads=1):
        ref = [fastki.normal(SIZE, seed=i).tobytes() for i in range(8)]

    def fill(block, block_info=None):
        i = block_info[0]["chunk-location"][0]
        same = fastki.normal(SIZE, seed=i).tobytes() == ref[i]
        r = _native.last_fill()
        return np.array([[i, same, r["threads"], r["want"], r["budget"], r["fills"],
                          r["others"], r["shared"], r["recent"]]], dtype=np.int64)

    x = da.zeros((8, 8), chunks=(1, 8), dtype=np.int64)
    rows = x.map_blocks(fill, dtype=np.int64).compute(scheduler="threads", num_workers=4)
    json.dump({"rows": rows.tolist(), "after": _native.threads_in_flight()}, sys.stdout)
""")


def test_fills_in_dask_threaded_tasks_follow_the_rule():
    pytest.importorskip("dask")
    got = json.loads(run_child(DASK_CHILD, {"OMP_NUM_THREADS": "4"}).stdout)
    assert sorted(row[0] for row in got["rows"]) == list(range(8))
    for i, same, threads, want, budget, fills, others, shared, recent in got["rows"]:
        assert same == 1, i
        assert shared == 1 and budget == 4 and want == 4
        assert 1 <= fills <= 4 and 0 <= others <= 3  # 4 Dask workers; others stay below B
        assert 0 <= recent <= 4 - fills  # the other workers between two of their fills
        assert threads == rule(want, budget, fills, others, recent), (fills, others, recent)
    assert got["after"] == [0, 0]


def test_pool_threads_in_this_process_give_serial_bytes():
    """In this process: 8 pool threads, default and explicit thread counts mixed."""
    sizes = (1000, 70_001, 1 << 20)
    with fastki.options(backend="numpy"):
        ref = {n: fastki.truncated_normal(n, seed=n, dtype="float64").tobytes() for n in sizes}

    def work(i):
        n = sizes[i % 3]
        with fastki.options(num_threads=None if i % 2 else 3):
            return n, fastki.truncated_normal(n, seed=n, dtype="float64").tobytes()

    with ThreadPoolExecutor(8) as pool:
        for n, got in pool.map(work, range(48)):
            assert got == ref[n]
    assert _native.threads_in_flight() == (0, 0)


def test_report_is_per_thread():
    fastki.normal(1 << 22, seed=1)
    mine = _native.last_fill()
    seen = {}

    def other():
        with fastki.options(num_threads=3):
            fastki.normal(1 << 22, seed=2)
        seen["other"] = _native.last_fill()

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert seen["other"]["threads"] == 3
    assert _native.last_fill() == mine


# --------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize("name,value,allowed", [
    ("FASTKI_SCHEDULE", "Dynamic", "static, dynamic, guided"),
    ("FASTKI_SCHEDULE", "runtime", "static, dynamic, guided"),
    ("FASTKI_CHUNK_GROUPS", "0", "an integer from 1 to 16777216"),
    ("FASTKI_CHUNK_GROUPS", "16777217", "an integer from 1 to 16777216"),
    ("FASTKI_CHUNK_GROUPS", "12a", "an integer from 1 to 16777216"),
    ("FASTKI_CHUNK_GROUPS", "-4", "an integer from 1 to 16777216"),
    ("FASTKI_STREAMING", "yes", "auto, on, off"),
    ("FASTKI_SHARE_THREADS", "true", "1, 0"),
])
def test_invalid_setting_refused_at_import(name, value, allowed):
    proc = run_child("import fastki", {name: value}, expect_ok=False)
    assert proc.returncode == 1
    assert f"ValueError: {name}={value!r} is not one of {allowed}" in proc.stderr


def test_empty_setting_is_the_default():
    got = run_child("import json, fastki; print(json.dumps(fastki._native.thread_settings()))",
                    {"FASTKI_SCHEDULE": "", "FASTKI_CHUNK_GROUPS": ""}).stdout
    assert json.loads(got) == {"schedule": "dynamic", "chunk_groups": 256, "streaming": "auto",
                               "share_threads": True}


# --------------------------------------------------------------------------- C-level rules

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_c_nested_region_and_end_of_index_range(tmp_path):
    """tests/c/test_threads.c: a default fill inside an OpenMP region stays on its thread;
    fills ending at element 2**64 - 1 give the same bytes with 1-16 threads, per schedule."""
    script = os.path.join(REPO, "ci", "build_c_tests.sh")
    if not os.path.exists(script) or shutil.which(os.environ.get("CC", "cc")) is None \
            or shutil.which("bash") is None:
        pytest.skip("needs the source tree's ci/build_c_tests.sh, bash and a C compiler")
    # the compiler needs no preloaded sanitizer runtime (ci/sanitizers.sh runs this suite with one)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    build = subprocess.run(["bash", script, str(tmp_path)], cwd=REPO, capture_output=True,
                           text=True, timeout=600, env={**env, "TEST_SOURCE": "tests/c/test_threads.c"})
    assert build.returncode == 0, build.stderr
    for env in ({}, {"FASTKI_SCHEDULE": "static"},
                {"FASTKI_SCHEDULE": "guided", "FASTKI_CHUNK_GROUPS": "1", "OMP_NUM_THREADS": "4"},
                {"FASTKI_CHUNK_GROUPS": "3", "FASTKI_STREAMING": "on"}):
        run = subprocess.run([str(tmp_path / "test_threads")], capture_output=True, text=True,
                             timeout=300, env={**os.environ, **env})
        assert run.returncode == 0, (env, run.stdout, run.stderr)
        assert " 0 failures" in run.stdout
