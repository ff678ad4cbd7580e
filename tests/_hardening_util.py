"""Helpers shared by tests/test_hardening_*.py: run a Python snippet in a fresh interpreter
with a hard wall-clock bound, so that a hang fails the test instead of stalling CI."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Subprocesses start here, not in the checkout: "python -c" puts its working directory first on
# sys.path, and the checkout's fastki/ would shadow an installed (e.g. sanitized) build.
NEUTRAL_CWD = os.path.dirname(os.path.abspath(__file__))


def run_python(code, timeout, env=None):
    """Run code in a new interpreter; return (returncode, stdout, stderr). A run that outlives
    timeout seconds is killed (with its process group) and reported as a failure."""
    full_env = dict(os.environ)
    full_env.pop("PYTEST_CURRENT_TEST", None)
    if env:
        full_env.update(env)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=full_env,
                            start_new_session=True, cwd=NEUTRAL_CWD)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
        raise AssertionError(f"subprocess did not finish within {timeout} s (hang?)\n"
                             f"stdout:\n{out}\nstderr:\n{err}") from None
    return proc.returncode, out, err


def last_json(stdout):
    """The last line of stdout that parses as JSON (the snippet's report)."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    raise AssertionError(f"no JSON report in output:\n{stdout}")
