"""How a fill is split among threads and how many threads it takes (src_c/dispatch.c,
"threads"; docs/hardening.md, "Threads"; fastki/_settings.py):

- every thread setting (FASTKI_CHUNK_GROUPS, FASTKI_STREAMING, FASTKI_LOAD_SIGNAL) gives the NumPy backend's bytes
  with 1, 2, 3, 7 and 16 threads, for every fill and for raw words, and cuts the range into
  the pieces the settings describe;
- fills from many Python threads at once give the serial bytes;
- the thread budget follows the CPU quota (a cgroup made here where the machine allows it,
  and a cgroup tree written to a temporary directory everywhere), OMP_NUM_THREADS and
  options(num_threads=), and fastki.info() says which one set it;
- invalid settings are refused at import; tests/c/test_threads.c checks what Python cannot
  reach (a fill finishes without its late helpers).

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
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

import fastki
from fastki import _settings

_native = fastki._api._native
pytestmark = pytest.mark.skipif(_native is None or not fastki.info()["openmp"],
                                reason="needs the compiled kernel built with OpenMP")

THREAD_COUNTS = (1, 2, 3, 7, 16)
FILLS = ("uniform", "normal", "truncated_normal")
DTYPES = ("float32", "float64")
PER_GROUP = {"float32": 80, "float64": 32, "raw": 64}
MIN_CHUNK_GROUPS = 16  # src_c/dispatch.c, FASTKI_MIN_CHUNK_GROUPS
# a window of a 1-D tensor that starts and ends inside a group: the first and last pieces
# are partial groups, every other cut falls on a group boundary
START, COUNT = 37, 200_003
SHAPE = (START + COUNT + 61,)
THREAD_VARS = ("FASTKI_CHUNK_GROUPS", "FASTKI_STREAMING", "FASTKI_LOAD_SIGNAL", "OMP_NUM_THREADS",
               "FASTKI_BACKEND", "FASTKI_SIMD")

CHILD = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
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
    for threads in %r:
        got = _native.random_raw(np.empty(COUNT, np.uint32), 11, 5, START, -1, threads)
        out["cases"][f"raw {threads}"] = {"sha": hashlib.sha256(got.tobytes()).hexdigest(),
                                          "report": _native.last_fill()}
    json.dump(out, sys.stdout)
""") % (START, COUNT, SHAPE, FILLS, DTYPES, THREAD_COUNTS, THREAD_COUNTS)


def run_child(code, env=None, expect_ok=True):
    full = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
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
        raw = fastki.random_raw(COUNT, seed=11, stream=5, offset=START)
        ref["raw"] = hashlib.sha256(raw.tobytes()).hexdigest()
    return ref


def expected_pieces(first, count, per_group, chunk_groups, team):
    """The pieces src_c/dispatch.c's claim_piece cuts [first, first + count) into: each claim
    takes (what is left) / (2 x team), at most chunk_groups and at least
    min(chunk_groups, 16) groups, its end moved up to the next group boundary."""
    start, pieces = 0, 0
    largest = chunk_groups * per_group
    smallest = min(chunk_groups, MIN_CHUNK_GROUPS) * per_group
    while start < count:
        left = count - start
        size = max(smallest, min(largest, left // (2 * team)))
        end = count if size >= left else start + size
        rem = (first + end) % per_group
        if end < count and rem:
            end = min(count, end + per_group - rem)
        start, pieces = end, pieces + 1
    return pieces


SETTINGS = [
    {},  # the build's defaults: pieces of at most 256 groups, streaming auto
    {"FASTKI_CHUNK_GROUPS": "1"},
    {"FASTKI_CHUNK_GROUPS": "7"},
    {"FASTKI_CHUNK_GROUPS": "16777216"},
    {"FASTKI_STREAMING": "on", "FASTKI_CHUNK_GROUPS": "3"},
    {"FASTKI_STREAMING": "off", "FASTKI_LOAD_SIGNAL": "off"},
]


def check_case(case, ref, per_group, threads, settings):
    assert case["sha"] == ref
    rep = case["report"]
    # an explicit thread count is wanted whole (the work is large enough for 16); the fill
    # recruits as many helpers as are idle, so it may run on fewer
    assert rep["want"] == threads and 1 <= rep["threads"] <= threads, rep
    if threads == 1:
        assert rep["pieces"] == 1 and rep["threads"] == 1
        return
    assert rep["pieces"] == expected_pieces(START, COUNT, per_group, settings["chunk_groups"],
                                            threads), (threads, rep)
    assert 0 <= rep["caller_pieces"] <= rep["pieces"]


@pytest.mark.parametrize("env", SETTINGS, ids=lambda e: ",".join(f"{k[7:]}={v}" for k, v in e.items()) or "defaults")
def test_every_setting_gives_the_same_bytes(env, reference):
    got = json.loads(run_child(CHILD, env).stdout)
    settings = got["settings"]
    assert settings == {"chunk_groups": int(env.get("FASTKI_CHUNK_GROUPS", 256)),
                        "streaming": env.get("FASTKI_STREAMING", "auto"), "cpu_limit": 0,
                        "load_signal": env.get("FASTKI_LOAD_SIGNAL", "on") == "on"}
    for threads in THREAD_COUNTS:
        for fill in FILLS:
            for dtype in DTYPES:
                check_case(got["cases"][f"{fill} {dtype} {threads}"], reference[fill, dtype],
                           PER_GROUP[dtype], threads, settings)
        check_case(got["cases"][f"raw {threads}"], reference["raw"], PER_GROUP["raw"], threads,
                   settings)


# --------------------------------------------------------------------------- many callers


def test_pool_threads_in_this_process_give_serial_bytes():
    """In this process: 8 pool threads share the helpers, default and explicit counts mixed."""
    sizes = (1000, 70_001, 1 << 20)
    with fastki.options(backend="numpy"):
        ref = {n: fastki.truncated_normal(n, seed=n, dtype="float64").tobytes() for n in sizes}
        raw = {n: fastki.random_raw(n, seed=n).tobytes() for n in sizes}

    def work(i):
        n = sizes[i % 3]
        with fastki.options(num_threads=None if i % 2 else 3):
            if i % 5 == 0:
                return raw[n], fastki.random_raw(n, seed=n).tobytes()
            return ref[n], fastki.truncated_normal(n, seed=n, dtype="float64").tobytes()

    with ThreadPoolExecutor(8) as pool:
        for want, got in pool.map(work, range(48)):
            assert got == want


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
        return np.array([[i, same, r["threads"], r["want"], r["budget"]]], dtype=np.int64)

    x = da.zeros((8, 8), chunks=(1, 8), dtype=np.int64)
    rows = x.map_blocks(fill, dtype=np.int64).compute(scheduler="threads", num_workers=4)
    json.dump({"rows": rows.tolist()}, sys.stdout)
""")


def test_fills_in_dask_threaded_tasks_give_serial_bytes():
    pytest.importorskip("dask")
    got = json.loads(run_child(DASK_CHILD, {"OMP_NUM_THREADS": "4"}).stdout)
    assert sorted(row[0] for row in got["rows"]) == list(range(8))
    for i, same, threads, want, budget in got["rows"]:
        assert same == 1, i
        assert budget == 4 and want == 4 and 1 <= threads <= 4  # the load signal may give fewer


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
    assert seen["other"]["want"] == 3
    assert _native.last_fill() == mine


# --------------------------------------------------------------------------- the budget

INFO = "import json, fastki; i = fastki.info(); print(json.dumps([i['num_threads'], i['num_threads_source']]))"


def test_budget_from_omp_num_threads_and_options():
    affinity = _settings.read().affinity
    got = json.loads(run_child(INFO, {"OMP_NUM_THREADS": "1"}).stdout)
    assert got[0] == 1
    assert got[1] == ("OMP_NUM_THREADS" if affinity > 1 else "affinity mask")
    got = json.loads(run_child(INFO).stdout)
    assert got == [affinity, "affinity mask"]
    code = ("import json, fastki\nwith fastki.options(num_threads=5):\n"
            "    i = fastki.info()\nprint(json.dumps([i['num_threads'], i['num_threads_source']]))")
    assert json.loads(run_child(code).stdout) == [5, "options(num_threads=)"]


def write_tree(root, cgroup, mountinfo, files):
    (root / "proc/self").mkdir(parents=True)
    (root / "proc/self/cgroup").write_text(cgroup)
    (root / "proc/self/mountinfo").write_text(mountinfo)
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


V2_MOUNT = "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
V1_MOUNT = ("31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
            "32 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")


@pytest.mark.parametrize("kind,files,expected", [
    ("v2", {"sys/fs/cgroup/app/job/cpu.max": "150000 100000\n"}, (1.5, "app/job/cpu.max")),
    ("v2", {"sys/fs/cgroup/app/job/cpu.max": "max 100000\n"}, (None, None)),
    # a parent's quota binds its children: the smallest one counts
    ("v2", {"sys/fs/cgroup/app/job/cpu.max": "400000 100000\n",
            "sys/fs/cgroup/app/cpu.max": "100000 100000\n"}, (1.0, "app/cpu.max")),
    ("v1", {"sys/fs/cgroup/cpu,cpuacct/app/job/cpu.cfs_quota_us": "250000\n",
            "sys/fs/cgroup/cpu,cpuacct/app/job/cpu.cfs_period_us": "100000\n"},
     (2.5, "app/job/cpu.cfs_quota_us")),
    ("v1", {"sys/fs/cgroup/cpu,cpuacct/app/job/cpu.cfs_quota_us": "-1\n",
            "sys/fs/cgroup/cpu,cpuacct/app/job/cpu.cfs_period_us": "100000\n"}, (None, None)),
])
def test_cpu_quota_read_from_a_cgroup_tree(tmp_path, kind, files, expected):
    if kind == "v2":
        write_tree(tmp_path, "0::/app/job\n", V2_MOUNT, files)
    else:
        write_tree(tmp_path, "4:memory:/app/job\n3:cpu,cpuacct:/app/job\n", V1_MOUNT, files)
    quota, source = _settings.cpu_quota(str(tmp_path))
    assert quota == expected[0]
    if expected[1] is None:
        assert source is None
    else:
        assert source.endswith(expected[1]) and source.startswith(str(tmp_path))


@pytest.mark.parametrize("quota,limit", [(1.0, 1), (1.5, 1), (0.5, 1), (2.99, 2), (None, 0)])
def test_cpu_limit_rounds_down_and_is_at_least_one(quota, limit):
    s = _settings.read()._replace(cpu_quota=quota, cpu_quota_source="x")
    assert _settings.cpu_limit(s) == limit


def make_quota_cgroup(quota_us, period_us=100_000):
    """A cgroup with a CPU quota this test may move a child into: (procs file, remove), or a
    pytest.skip naming why the machine does not allow it."""
    if os.geteuid() != 0:
        pytest.skip("making a cgroup needs root")
    name = f"fastki-test-{uuid.uuid4().hex[:8]}"
    for version, directory in _settings._cgroup_dirs():
        path = os.path.join(directory, name)
        try:
            os.mkdir(path)
        except OSError:
            continue
        try:
            if version == "2":
                with open(os.path.join(path, "cpu.max"), "w") as f:
                    f.write(f"{quota_us} {period_us}\n")
            else:
                with open(os.path.join(path, "cpu.cfs_period_us"), "w") as f:
                    f.write(f"{period_us}\n")
                with open(os.path.join(path, "cpu.cfs_quota_us"), "w") as f:
                    f.write(f"{quota_us}\n")
        except OSError:
            os.rmdir(path)
            continue
        return os.path.join(path, "cgroup.procs"), lambda p=path: os.rmdir(p)
    pytest.skip("no cgroup with a cpu controller can be made here (read-only /sys/fs/cgroup, "
                "or the cpu controller is not enabled for this process's cgroup)")


@pytest.mark.parametrize("cpus", [1.0, 1.5])
def test_budget_in_a_cgroup_with_a_quota(cpus):
    procs, remove = make_quota_cgroup(int(cpus * 100_000))
    try:
        # the child moves itself in before fastki reads the quota
        code = (f"import json, os, sys\ntry:\n    open({procs!r}, 'w').write(str(os.getpid()))\n"
                f"except OSError as e:\n    print(json.dumps(['skip', str(e)]))\n    sys.exit()\n"
                + INFO)
        got = json.loads(run_child(code).stdout)
    finally:
        remove()
    if got[0] == "skip":
        pytest.skip(f"cannot move a process into the new cgroup: {got[1]}")
    assert got[0] == 1
    if _settings.read().affinity > 1:
        assert got[1].startswith(f"CPU quota ({cpus:g} CPUs, "), got


# --------------------------------------------------------------------------- bad settings


@pytest.mark.parametrize("name,value,message", [
    ("FASTKI_CHUNK_GROUPS", "0", "is not an integer from 1 to 16777216"),
    ("FASTKI_CHUNK_GROUPS", "16777217", "is not an integer from 1 to 16777216"),
    ("FASTKI_CHUNK_GROUPS", "12a", "is not an integer from 1 to 16777216"),
    ("FASTKI_CHUNK_GROUPS", "-4", "is not an integer from 1 to 16777216"),
    ("FASTKI_STREAMING", "yes", "is not one of auto, on, off"),
    ("FASTKI_LOAD_SIGNAL", "1", "is not one of on, off"),
])
def test_invalid_setting_refused_at_import(name, value, message):
    proc = run_child("import fastki", {name: value}, expect_ok=False)
    assert proc.returncode == 1
    assert f"ValueError: {name}={value!r} {message}" in proc.stderr


def test_simd_path_the_cpu_lacks_refused_at_import():
    missing = [s for s in _settings.SIMD_NAMES if s not in _native.simd_available()]
    if not missing:
        pytest.skip("this machine runs every SIMD path")
    for argv in (["-c", "import fastki"], ["-m", "fastki", "info"]):
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                              timeout=120, cwd=os.path.dirname(os.path.abspath(__file__)),
                              env={**{k: v for k, v in os.environ.items() if k not in THREAD_VARS},
                                   "FASTKI_SIMD": missing[0]})
        assert proc.returncode != 0
        assert (f"ValueError: FASTKI_SIMD={missing[0]!r} names a simd path this CPU or build "
                f"lacks; available: {', '.join(_native.simd_available())}") in proc.stderr


def test_empty_setting_is_the_default():
    got = run_child("import json, fastki; print(json.dumps(fastki._native.thread_settings()))",
                    {"FASTKI_STREAMING": "", "FASTKI_CHUNK_GROUPS": ""}).stdout
    assert json.loads(got) == {"chunk_groups": 256, "streaming": "auto", "cpu_limit": 0,
                               "load_signal": True}


# --------------------------------------------------------------------------- C-level rules

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_c_thread_rules(tmp_path):
    """tests/c/test_threads.c: a default fill inside an OpenMP region stays on its thread; a
    fill finishes without a helper that never turns up; fills ending at element 2**64 - 1
    give the same bytes with 1-16 threads; with helpers and with an OpenMP team."""
    script = os.path.join(REPO, "ci", "build_c_tests.sh")
    if not os.path.exists(script) or shutil.which(os.environ.get("CC", "cc")) is None \
            or shutil.which("bash") is None:
        pytest.skip("needs the source tree's ci/build_c_tests.sh, bash and a C compiler")
    # the compiler needs no preloaded sanitizer runtime (ci/sanitizers.sh runs this suite with one)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    # helpers (POSIX builds), and an OpenMP team (the Windows path: FASTKI_NO_POOL)
    for build_dir, flags in ((tmp_path / "pool", []), (tmp_path / "team", ["-DFASTKI_NO_POOL"])):
        build = subprocess.run(["bash", script, str(build_dir), *flags], cwd=REPO,
                               capture_output=True, text=True, timeout=600,
                               env={**env, "TEST_SOURCE": "tests/c/test_threads.c"})
        assert build.returncode == 0, build.stderr
        for run_env in ({}, {"OMP_NUM_THREADS": "4"}):
            run = subprocess.run([str(build_dir / "test_threads")], capture_output=True,
                                 text=True, timeout=300, env={**env, **run_env})
            assert run.returncode == 0, (flags, run_env, run.stdout, run.stderr)
            assert " 0 failures" in run.stdout
            assert ("no helpers" in run.stdout) == bool(flags), run.stdout


def test_c_fills_with_the_group_buffer_off_alignment(tmp_path):
    """src_c/fill_impl.h with ALIGN64 empty (a compiler it does not know) and its group buffer
    moved off alignment, under -fsanitize=alignment: every fill of tests/c/test_fills.c, with
    streaming stores from 256 bytes on, reads that buffer without an aligned load."""
    script = os.path.join(REPO, "ci", "build_c_tests.sh")
    cc = os.environ.get("CC", "cc")
    if not os.path.exists(script) or shutil.which(cc) is None or shutil.which("bash") is None:
        pytest.skip("needs the source tree's ci/build_c_tests.sh, bash and a C compiler")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    flags = ["-DALIGN64=", "-DGROUP_BUFFER_SKEW=1", "-DFASTKI_STREAM_MIN_BYTES=256",
             "-fsanitize=alignment", "-fno-sanitize-recover=alignment"]
    build = subprocess.run(["bash", script, str(tmp_path), *flags], cwd=REPO,
                           capture_output=True, text=True, timeout=600, env=env)
    if build.returncode != 0 and "sanitize" in build.stderr:
        pytest.skip(f"{cc} cannot build with -fsanitize=alignment: {build.stderr[-300:]}")
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(tmp_path / "test_fills")], capture_output=True, text=True,
                         timeout=300, env={**env, "OMP_NUM_THREADS": "2"})
    assert run.returncode == 0, (run.stdout, run.stderr[-2000:])
    assert " 0 failures" in run.stdout and "runtime error" not in run.stderr
