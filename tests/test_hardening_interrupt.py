"""Ctrl-C during a multi-GiB fill: KeyboardInterrupt within half a second, and the process
stays usable (docs/hardening.md, "Interrupts").

Each case runs a fresh interpreter whose main program has no other Python threads, starts a
fill of 2**29 or more elements (1-4 GiB, 1-7 s here), and gets SIGINT from this process ~1 s
after it announced the fill. Both sides read CLOCK_MONOTONIC (time.monotonic), which is
system-wide on Linux, so the child measures latency from the moment the signal was sent.
The bound, 0.5 s, is the issue's; the kernel checks for signals every 5,242,880 elements
(a few ms to ~30 ms of work on 2 cores), so it leaves a margin of 10x or more."""
import json
import select
import signal
import subprocess
import sys
import time

import pytest

from _hardening_util import NEUTRAL_CWD

import fastki

pytestmark = [
    pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals"),
    pytest.mark.skipif(fastki.info()["backend"] != "native",
                       reason="the guarantee is the compiled backend's (sliced, GIL released)"),
]

LATENCY_BOUND_S = 0.5
SEND_AFTER_S = 1.0
BIG = 1 << 29

CHILD = r'''
import json, sys, time
import numpy as np
import fastki

case = sys.argv[1]
BIG = %(big)d
seed = 2024
small_expected = {
    "normal": fastki.normal(4096, seed=seed).tobytes(),
    "truncated_normal": fastki.truncated_normal(4096, seed=seed, dtype="float64").tobytes(),
}
out = None
if case == "normal_new":
    call = lambda: fastki.normal(BIG, seed=seed)                      # 2 GiB float32
elif case == "truncated_out":
    out = np.zeros(BIG, dtype=np.float64)                             # 4 GiB, pages lazy
    call = lambda: fastki.truncated_normal(BIG, seed=seed, dtype="float64", out=out)
elif case == "float16_new":
    call = lambda: fastki.normal(2 * BIG, seed=seed, dtype="float16")  # 2 GiB float16
elif case == "block_runs":
    # 2**29 elements as 2**19 runs of 1000 (a block of a 2**19 x 1024 tensor)
    call = lambda: fastki.uniform((1 << 19, 1024), seed=seed, block=(slice(None), slice(0, 1000)))
elif case == "random_raw":
    call = lambda: fastki.random_raw(2 * BIG, seed=seed)              # 4 GiB of words
elif case == "uniform_threads1":
    def call():
        with fastki.options(num_threads=1):
            return fastki.uniform(4 * BIG, seed=seed, dtype="float32")  # 8 GiB... lazily
else:
    raise SystemExit("unknown case " + case)

print("ready", flush=True)
t_start = time.monotonic()
report = {"case": case, "completed": False, "backend": fastki.info()["backend"]}
try:
    call()
    report["completed"] = True
except KeyboardInterrupt:
    report["caught_at"] = time.monotonic()
report["fill_ran_s"] = time.monotonic() - t_start
if out is not None:
    # documented: an interrupted fill into out= leaves out partly written
    report["out_head_written"] = out[:4096].tobytes() == small_expected["truncated_normal"]
    report["out_tail_untouched"] = bool((out[-4096:] == 0).all())
    del out
# still usable: the same small fills give the same bytes, and a fresh large one works
report["usable"] = (fastki.normal(4096, seed=seed).tobytes() == small_expected["normal"]
                    and fastki.truncated_normal(4096, seed=seed, dtype="float64").tobytes()
                    == small_expected["truncated_normal"])
a = fastki.normal(1 << 24, seed=seed)
report["usable_large"] = a[:4096].tobytes() == small_expected["normal"]
print(json.dumps(report), flush=True)
'''

CASES = ["normal_new", "truncated_out", "float16_new", "block_runs", "random_raw"]


def run_case(case):
    proc = subprocess.Popen([sys.executable, "-c", CHILD % {"big": BIG}, case],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=NEUTRAL_CWD)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready and proc.stdout.readline().strip() == "ready", proc.stderr.read()
        time.sleep(SEND_AFTER_S)
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    report["latency_s"] = report["caught_at"] - sent_at if "caught_at" in report else None
    return report


@pytest.mark.parametrize("case", CASES)
def test_sigint_stops_large_fill(case):
    rep = run_case(case)
    print(f"\ninterrupt {case}: latency {rep['latency_s'] if rep['latency_s'] is None else round(rep['latency_s'] * 1000, 1)} ms, "
          f"fill ran {rep['fill_ran_s']:.2f} s")
    assert rep["backend"] == "native", rep
    assert not rep["completed"], f"the fill finished before SIGINT arrived; make it larger: {rep}"
    assert rep["latency_s"] is not None
    assert rep["latency_s"] <= LATENCY_BOUND_S, rep
    assert rep["usable"] and rep["usable_large"], rep
    if case == "truncated_out":
        assert rep["out_head_written"] and rep["out_tail_untouched"], rep
