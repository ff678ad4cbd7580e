"""`python -m fastki bench --busy` (fastki/bench/busy.py) at toy sizes: every line and table row is
printed, the JSON carries the figures, and the busy-core child process is ended by its id at
the end, on Ctrl-C and on SIGTERM. Nothing is timed or compared here."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

import fastki
from fastki.bench import busy as _busy

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and /proc")

# children start here, not in the checkout, whose fastki/ would shadow an installed one
HERE = os.path.dirname(os.path.abspath(__file__))
TOY = ["--size", "20000", "--repeat", "1", "--dask-bytes", "400000", "--dask-chunk-bytes", "100000",
       "--loaded-busy", "0,2", "--loaded-sizes", "4096,20000", "--loaded-fills", "2"]


def bench(*argv, timeout=600):
    env = {k: v for k, v in os.environ.items() if k not in _busy._SPLIT_VARS}  # the defaults
    return subprocess.run([sys.executable, "-m", "fastki", "bench", *argv], capture_output=True,
                          text=True, timeout=timeout, cwd=HERE, env=env)


def spinner_pids(stderr):
    started = [int(p) for p in re.findall(r"one core kept busy by process (\d+)", stderr)]
    ended = [int(p) for p in re.findall(r"process (\d+) ended", stderr)]
    return started, ended


def gone(pid):
    """True when no process of this pid runs the spinner's code (a reused pid runs other code)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"i += 1" not in f.read()
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_only_busy_with_splits_prints_every_line_and_ends_its_children():
    pytest.importorskip("dask")
    r = bench("--busy", "--only-busy", "--splits", "--thread-counts", "1,2,3", "--json", *TOY)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    info = fastki.info()
    assert (f"busy: settings: pieces of up to 256 groups, streaming auto; {info['num_threads']} "
            f"threads by default ({info['num_threads_source']})") in out
    for t in (1, 2, 3):
        assert re.search(rf"threads: normal float32 20000 elements, {t} threads: [\d.]+ ns/el, "
                         rf"[\d.]+x 1 thread\(s\)", out)
    assert re.search(r"threads: bits equal across SIMD paths .* x threads 1 and 3 \(20000 "
                     r"elements\): yes", out)
    assert re.search(r"busy: normal float32 20000 elements, 2 threads vs 1, quiet: [\d.]+x", out)
    assert re.search(r"busy: normal float32 20000 elements, 2 threads vs 1, one core kept busy "
                     r"\(process \d+\): [\d.]+x", out)
    assert re.search(r"busy: Dask threaded scheduler, 400000 bytes normal float32 in 100000-byte "
                     r"chunks via da.store: default [\d.]+ s, OMP_NUM_THREADS=1 [\d.]+ s; ", out)
    # the loaded table: a line per row, then the table of docs/benchmarks.md
    for busy in (0, 2):
        for n in (4096, 20000):
            assert re.search(rf"loaded: {busy} busy processes, {n} elements, 2 fills each: "
                             rf"default [\d.]+ / [\d.]+ ns/el, one thread [\d.]+ / [\d.]+ ns/el "
                             rf"\(mean / median\); default / one thread: mean [\d.]+, median "
                             rf"[\d.]+", out), (busy, n)
    table = [line for line in out.splitlines() if line.startswith("| ")]
    assert table[0] == ("| busy processes | elements | default | one thread | default / one "
                        "thread (mean) |")
    assert [row.split(" | ")[:2] for row in table[2:]] == [
        ["| 0", "2**12"], ["| 0", "20000"], ["| 2", "2**12"], ["| 2", "20000"]]
    rows = [line for line in out.splitlines()
            if any(line.startswith(label) for label, _ in _busy.SPLITS)]
    assert [row[:36].rstrip() for row in rows] == [label for label, _ in _busy.SPLITS]
    # the JSON follows the lines
    results = json.loads(out[out.index("\n{") + 1:])
    busy = results["checks"]["busy"]
    assert set(busy) == {"quiet", "busy", "settings", "dask", "splits", "thread_counts", "loaded"}
    assert [(row["busy"], row["elements"], row["fills"]) for row in busy["loaded"]] == [
        (0, 4096, 2), (0, 20000, 2), (2, 4096, 2), (2, 20000, 2)]
    assert [row["threads"] for row in busy["thread_counts"]["rows"]] == [1, 2, 3]
    assert busy["thread_counts"]["bits_equal"] is True
    assert busy["settings"] == fastki._native.thread_settings()
    assert [row["setting"] for row in busy["splits"]] == [label for label, _ in _busy.SPLITS]
    # each split row ran with the settings it names
    for row, (_, env) in zip(busy["splits"], _busy.SPLITS):
        for q in (row["quiet"], row["busy"]):
            assert q["settings"]["chunk_groups"] == int(env.get("FASTKI_CHUNK_GROUPS", 256))
            assert q["settings"]["streaming"] == env.get("FASTKI_STREAMING", "auto")
            assert q["settings"]["load_signal"] == (env.get("FASTKI_LOAD_SIGNAL", "on") == "on")
    assert set(busy["dask"]["seconds"]) == {label for label, _ in _busy.DASK_SETTINGS}
    # the scaling line, the loaded rows with 2 busy processes, the splits table: each child
    # started and ended
    started, ended = spinner_pids(r.stderr)
    assert len(started) == 4 and sorted(started) == sorted(ended)
    assert all(gone(pid) for pid in started)


def test_busy_follows_the_whole_bench():
    r = bench("--busy", "--no-peers", "--dask-bytes", "400000", "--dask-chunk-bytes", "100000",
              "--size", "4096", "--repeat", "1", "--loaded-busy", "0", "--loaded-sizes", "4096",
              "--loaded-fills", "1")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("normal float32"))
    busy = next(i for i, line in enumerate(lines) if line.startswith("busy: "))
    assert table < busy
    assert any(line.startswith("threads: normal float32") for line in lines[:busy])
    started, ended = spinner_pids(r.stderr)
    assert len(started) == 1 and started == ended and gone(started[0])


HOLD = """
import sys, time
from fastki.bench import busy as _busy
with _busy.busy_core() as pid:
    print(pid, flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_spinner_ends_when_the_bench_is_interrupted(sig):
    """The busy-core context of the bench, interrupted while it holds the core."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=HERE)
    try:
        line = proc.stdout.readline()
        assert line.strip().isdigit(), proc.communicate(timeout=60)
        pid = int(line)
        assert not gone(pid)
        proc.send_signal(sig)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:  # an uncaught KeyboardInterrupt ends Python by SIGINT
        assert proc.returncode == -signal.SIGINT and "KeyboardInterrupt" in err, err
    else:  # busy_core turns SIGTERM into SystemExit(128 + 15) so that its cleanup runs
        assert proc.returncode == 128 + signal.SIGTERM, err
    assert f"process {pid} ended" in err
    deadline = time.monotonic() + 10
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid)


def test_spinner_stops_by_itself_when_its_parent_is_killed():
    proc = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=HERE)
    try:
        pid = int(proc.stdout.readline())
        assert not gone(pid)
        proc.kill()  # SIGKILL: no finally runs in the parent
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the orphan checks its parent about every 2**20 loop turns (milliseconds)
    deadline = time.monotonic() + 60
    while not gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert gone(pid)


def test_bad_sizes_are_usage_errors():
    r = bench("--busy", "--dask-bytes", "0")
    assert r.returncode == 2 and "--dask-bytes" in r.stderr
    r = bench("--busy", "--dask-chunk-bytes", "lots")
    assert r.returncode == 2 and "--dask-chunk-bytes" in r.stderr
    r = bench("--busy", "--thread-counts", "1,0")
    assert r.returncode == 2 and "--thread-counts" in r.stderr
    r = bench("--busy", "--loaded-busy", "-1")
    assert r.returncode == 2 and "--loaded-busy" in r.stderr
    r = bench("--busy", "--loaded-sizes", "0")
    assert r.returncode == 2 and "--loaded-sizes" in r.stderr
