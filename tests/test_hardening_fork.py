"""fork() after multi-threaded fills: children of a process whose OpenMP team exists must
finish and return the parent's bytes (docs/hardening.md, "fork").

GNU libgomp cannot run a parallel region in a child forked after the parent ran one: the
child waits forever for threads it does not have. fastki marks every forked child (a
pthread_atfork handler in src_c/dispatch.c) and fills there on the calling thread only.

Each scenario runs in a fresh interpreter bounded by a wall-clock limit, and each child in it
by CHILD_BOUND_S: a child needs well under a second (measured: ~0.05 s for a 2**22 normal
fill), so 30 s is a generous bound that still turns a hang into a failure quickly."""
import json
import sys

import pytest

from _hardening_util import last_json, run_python

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no fork on Windows")

CHILD_BOUND_S = 30

SCENARIO = r'''
import hashlib, json, multiprocessing as mp, os, select, sys, time
import numpy as np
import fastki

BOUND = %(bound)d
BIG = 1 << 22          # big enough that the parent's fill uses 2 OpenMP threads

def job(args):
    fn, n, dtype = args
    t0 = time.perf_counter()
    a = getattr(fastki, fn)(n, seed=1234, stream=7, dtype=dtype)
    return hashlib.sha256(a.tobytes()).hexdigest(), time.perf_counter() - t0, fastki.info()["num_threads"]

JOBS = [(fn, n, dt) for fn in ("uniform", "normal", "truncated_normal")
        for n, dt in ((BIG, "float32"), (BIG // 2, "float64"), (1000, "float16"))]

# the parent: multi-threaded fills first, so that the OpenMP team exists at fork time
info = fastki.info()
with fastki.options(num_threads=2):
    threaded = info["backend"] == "native" and info["openmp"]
    assert fastki.info()["num_threads"] == (2 if threaded else 1), fastki.info()
    expected = {j: job(j)[0] for j in JOBS}
    report = {"parent_threads": fastki.info()["num_threads"]}

# 1. multiprocessing pool, fork start method
t0 = time.perf_counter()
with mp.get_context("fork").Pool(2) as pool:
    got = pool.map_async(job, JOBS).get(timeout=BOUND)
report["pool_s"] = time.perf_counter() - t0
report["pool_ok"] = [g[0] == expected[j] for g, j in zip(got, JOBS)]
report["pool_child_threads"] = sorted({g[2] for g in got})
report["pool_max_job_s"] = max(g[1] for g in got)

# 2. bare os.fork: the child asks for 2 threads explicitly and also forks a grandchild
def bare_child(w):
    with fastki.options(num_threads=2):
        res = [job(j) for j in JOBS]
    pid = os.fork()
    if pid == 0:
        os.write(w, (job(JOBS[1])[0] + "\n").encode()); os._exit(0)
    _, status = os.waitpid(pid, 0)
    msg = {"hashes": [r[0] for r in res], "threads": [r[2] for r in res],
           "grandchild_status": status}
    os.write(w, (json.dumps(msg) + "\n").encode())

r, w = os.pipe()
t0 = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        bare_child(w)
    finally:
        os._exit(0)
os.close(w)
buf = b""
deadline = time.monotonic() + BOUND
while time.monotonic() < deadline:
    ready, _, _ = select.select([r], [], [], 0.1)
    if ready:
        chunk = os.read(r, 1 << 16)
        if not chunk:
            break
        buf += chunk
else:
    os.kill(pid, 9)
_, status = os.waitpid(pid, 0)
report["fork_s"] = time.perf_counter() - t0
report["fork_status"] = status
lines = buf.decode().splitlines()
child = json.loads(lines[-1]) if lines else None
report["fork_ok"] = child is not None and child["hashes"] == [expected[j] for j in JOBS]
report["grandchild_ok"] = len(lines) == 2 and lines[0] == expected[JOBS[1]]
report["fork_child_threads"] = child and sorted(set(child["threads"]))
report["grandchild_status"] = child and child["grandchild_status"]

# 3. the parent itself is unaffected: still multi-threaded and still the same bytes
with fastki.options(num_threads=2):
    report["parent_threads_after"] = fastki.info()["num_threads"]
    report["parent_ok_after"] = all(job(j)[0] == expected[j] for j in JOBS)
print(json.dumps(report))
'''


def test_fork_children_after_multithreaded_parent():
    rc, out, err = run_python(SCENARIO % {"bound": CHILD_BOUND_S}, timeout=4 * CHILD_BOUND_S)
    assert rc == 0, err
    rep = last_json(out)
    print("fork report:", json.dumps(rep))
    assert rep["parent_threads"] >= 1
    # pool children: every job bit-identical to the parent, finished within the bound
    assert all(rep["pool_ok"]), rep
    assert rep["pool_s"] < CHILD_BOUND_S, rep
    # the documented fallback: a forked child fills on one thread
    assert rep["pool_child_threads"] == [1], rep
    # bare fork (and a grandchild): exited cleanly, same bytes, one thread despite asking for 2
    assert rep["fork_status"] == 0, rep
    assert rep["fork_ok"] and rep["grandchild_ok"] and rep["grandchild_status"] == 0, rep
    assert rep["fork_child_threads"] == [1], rep
    assert rep["fork_s"] < CHILD_BOUND_S, rep
    # the parent keeps its threads
    assert rep["parent_threads_after"] == rep["parent_threads"] and rep["parent_ok_after"], rep


def test_fork_child_of_fresh_parent():
    """A child forked before the parent used any threads also works (and fills serially)."""
    code = r'''
import os, json, time, hashlib, fastki
pid = os.fork()
if pid == 0:
    a = fastki.normal(1 << 22, seed=5)
    os._exit(0 if fastki.info()["num_threads"] == 1 else 3)
t0 = time.perf_counter()
for _ in range(int(%d / 0.05)):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9); os.waitpid(pid, 0); status = -9
print(json.dumps({"status": status, "s": time.perf_counter() - t0}))
''' % CHILD_BOUND_S
    rc, out, err = run_python(code, timeout=2 * CHILD_BOUND_S)
    assert rc == 0, err
    rep = last_json(out)
    assert rep["status"] == 0, rep
