"""The public surface: seed=None, info(), options(), SIMD choice, threadpoolctl, the command
line, the environment variables, the NumPy fallback, and conftest's own session checks."""
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading

import pytest

import fastki

from conftest import REPO, SIMD_NAMES, native_available, simd_available

HERE = pathlib.Path(__file__).resolve().parent
DISTS = ("uniform", "normal", "truncated_normal")
INFO_KEYS = {"version", "backend", "simd", "simd_available", "openmp", "num_threads"}

needs_native = pytest.mark.skipif(not native_available(), reason="native backend not loaded")

# Children run outside the checkout: `python -c` and `python -m` put the working directory
# first on sys.path, which would import the source tree instead of the installed package.
OUTSIDE = tempfile.gettempdir()

# Makes `import fastki._native` fail in a child interpreter, as if the extension were missing.
BLOCK_NATIVE = """
import importlib.abc, sys
class _NoNative(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "fastki._native":
            raise ImportError("fastki._native blocked by the test")
        return None
sys.meta_path.insert(0, _NoNative())
"""


def run_python(code, env=None, timeout=120, cwd=None):
    full = {k: v for k, v in os.environ.items()
            if k not in ("FASTKI_BACKEND", "FASTKI_SIMD", "PYTEST_CURRENT_TEST",
                         "PYTEST_ADDOPTS")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=full, timeout=timeout, cwd=cwd or OUTSIDE)


# --------------------------------------------------------------------------- seed=None


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("dist", DISTS)
def test_seed_none_differs_between_calls(dist, dtype):
    f = getattr(fastki, dist)
    results = {f(64, seed=None, dtype=dtype).tobytes() for _ in range(5)}
    assert len(results) == 5  # 64 random values colliding: probability ~ 2**-1000
    default = {f(64, dtype=dtype).tobytes() for _ in range(3)}  # seed defaults to None
    assert len(default) == 3


def test_seed_none_values_are_valid():
    x = fastki.truncated_normal(10_000, seed=None, lower=-1.0, upper=0.5)
    assert x.min() >= -1.0 and x.max() <= 0.5
    u = fastki.uniform(10_000, seed=None)
    assert u.min() >= 0.0 and u.max() < 1.0


def test_fixed_seed_is_deterministic_and_seed_and_stream_matter():
    a = fastki.normal(100, seed=5, stream=2)
    assert a.tobytes() == fastki.normal(100, seed=5, stream=2).tobytes()
    assert a.tobytes() != fastki.normal(100, seed=6, stream=2).tobytes()
    assert a.tobytes() != fastki.normal(100, seed=5, stream=3).tobytes()


# --------------------------------------------------------------------------- info()


def test_info_keys_and_types():
    info = fastki.info()
    assert INFO_KEYS <= set(info), set(info) ^ INFO_KEYS
    assert info["version"] == fastki.__version__
    assert info["backend"] in ("native", "numpy")
    assert isinstance(info["openmp"], bool)
    assert isinstance(info["num_threads"], int) and info["num_threads"] >= 1
    assert isinstance(info["simd_available"], list)
    assert set(info["simd_available"]) <= set(SIMD_NAMES)
    if native_available():
        assert info["simd_available"][0] == "scalar"  # the portable path is always built
        if info["backend"] == "native":
            assert info["simd"] in info["simd_available"]


@needs_native
def test_info_reflects_options():
    with fastki.options(backend="native", simd="scalar", num_threads=1):
        info = fastki.info()
        assert (info["backend"], info["simd"], info["num_threads"]) == ("native", "scalar", 1)
    with fastki.options(backend="numpy"):
        assert fastki.info()["backend"] == "numpy"
    if fastki.info()["openmp"]:
        with fastki.options(backend="native", num_threads=3):
            assert fastki.info()["num_threads"] == 3


# --------------------------------------------------------------------------- options()


def _state():
    i = fastki.info()
    return i["backend"], i["simd"], i["num_threads"]


@needs_native
def test_options_nest_and_restore():
    outer = _state()
    with fastki.options(backend="native", simd="scalar"):
        assert _state()[:2] == ("native", "scalar")
        with fastki.options(num_threads=1):
            assert _state() == ("native", "scalar", 1)  # inner keeps the outer's choices
            with fastki.options(backend="numpy"):
                assert _state()[0] == "numpy"
            assert _state() == ("native", "scalar", 1)
        assert _state()[:2] == ("native", "scalar")
        with fastki.options(simd=simd_available()[-1]):
            assert _state()[1] == simd_available()[-1]
        assert _state()[1] == "scalar"
    assert _state() == outer


@needs_native
def test_options_restored_after_an_exception():
    outer = _state()
    with pytest.raises(RuntimeError, match="inside"):
        with fastki.options(backend="numpy", simd="scalar", num_threads=1):
            raise RuntimeError("inside")
    assert _state() == outer


def test_options_none_keeps_current():
    with fastki.options(backend="numpy"):
        with fastki.options(backend=None, simd=None, num_threads=None):
            assert fastki.info()["backend"] == "numpy"


@needs_native
def test_options_are_per_thread():
    """options() is a context variable: another thread keeps the defaults."""
    seen = {}
    default = fastki.info()["backend"]
    other = "numpy" if default == "native" else "native"
    with fastki.options(backend=other):
        t = threading.Thread(target=lambda: seen.setdefault("backend", fastki.info()["backend"]))
        t.start()
        t.join(30)
        assert fastki.info()["backend"] == other
    assert seen["backend"] == fastki.info()["backend"] == default


@needs_native
def test_options_change_how_not_what():
    expect = fastki.normal(5000, seed=3)
    for backend in ("native", "numpy"):
        for simd in simd_available():
            with fastki.options(backend=backend, simd=simd, num_threads=2):
                assert fastki.normal(5000, seed=3).tobytes() == expect.tobytes()


@needs_native
def test_forcing_a_missing_simd_path_is_an_error():
    missing = [s for s in SIMD_NAMES if s not in simd_available()]
    if not missing:
        pytest.skip("this machine has every SIMD path: none to ask for in vain")
    for name in missing:
        with fastki.options(backend="native", simd=name):
            with pytest.raises(ValueError, match="simd"):
                fastki.normal(1000, seed=0)


@needs_native
def test_fastki_simd_env_picks_the_path():
    for name in simd_available():
        r = run_python("import fastki; print(fastki.info()['simd'])", {"FASTKI_SIMD": name})
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == name


@needs_native
def test_fastki_simd_env_for_a_missing_path_is_an_error():
    missing = [s for s in SIMD_NAMES if s not in simd_available()]
    if not missing:
        pytest.skip("this machine has every SIMD path")
    r = run_python("import fastki; fastki.normal(1000, seed=0)", {"FASTKI_SIMD": missing[0]})
    assert r.returncode != 0 and "simd" in r.stderr


def test_bad_environment_values_are_errors():
    for var in ("FASTKI_BACKEND", "FASTKI_SIMD"):
        r = run_python("import fastki", {var: "bogus"})
        assert r.returncode != 0
        assert var in r.stderr and "ValueError" in r.stderr


# --------------------------------------------------------------------------- threadpoolctl


@needs_native
def test_threadpoolctl_sees_and_limits_fastkis_openmp():
    pytest.importorskip("threadpoolctl")
    if not fastki.info()["openmp"]:
        pytest.skip("built without OpenMP")
    # a fresh interpreter importing fastki alone: the OpenMP runtime found is fastki's
    code = """
import json, fastki, threadpoolctl
apis = [i["user_api"] for i in threadpoolctl.threadpool_info()]
default = fastki.info()["num_threads"]
with threadpoolctl.threadpool_limits(1):
    limited = fastki.info()["num_threads"]
with threadpoolctl.threadpool_limits(limits=1, user_api="openmp"):
    limited_openmp = fastki.info()["num_threads"]
after = fastki.info()["num_threads"]
print(json.dumps(dict(apis=apis, default=default, limited=limited,
                      limited_openmp=limited_openmp, after=after)))
"""
    r = run_python(code, {"OMP_NUM_THREADS": "2"})
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert "openmp" in got["apis"], got
    assert got["default"] == 2
    assert got["limited"] == 1 and got["limited_openmp"] == 1
    assert got["after"] == 2


@needs_native
def test_threadpool_limits_in_process():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if not fastki.info()["openmp"]:
        pytest.skip("built without OpenMP")
    expect = fastki.uniform(200_000, seed=9)
    with threadpoolctl.threadpool_limits(1), fastki.options(backend="native"):
        assert fastki.info()["num_threads"] == 1
        assert fastki.uniform(200_000, seed=9).tobytes() == expect.tobytes()


@needs_native
def test_omp_num_threads_env():
    if not fastki.info()["openmp"]:
        pytest.skip("built without OpenMP")
    for n in ("1", "3"):
        r = run_python("import fastki; print(fastki.info()['num_threads'])",
                       {"OMP_NUM_THREADS": n})
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == n


# --------------------------------------------------------------------------- command line


def test_python_m_fastki_info():
    full = dict(os.environ)
    full.pop("FASTKI_BACKEND", None)
    r = subprocess.run([sys.executable, "-m", "fastki", "info"], capture_output=True,
                       text=True, timeout=120, cwd=OUTSIDE, env=full)
    assert r.returncode == 0, r.stderr
    assert "backend" in r.stdout
    expect = "native" if native_available() else "numpy"
    assert expect in r.stdout
    assert fastki.__version__ in r.stdout


def test_python_m_fastki_info_json():
    r = subprocess.run([sys.executable, "-m", "fastki", "info", "--json"], capture_output=True,
                       text=True, timeout=120, cwd=OUTSIDE)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert INFO_KEYS <= set(info)
    assert info["backend"] == fastki.info()["backend"]


def test_python_m_fastki_bad_command():
    r = subprocess.run([sys.executable, "-m", "fastki", "nope"], capture_output=True,
                       text=True, timeout=120, cwd=OUTSIDE)
    assert r.returncode != 0
    assert "info" in r.stderr  # argparse lists the valid choices


# --------------------------------------------------------------------------- NumPy backend

VALUES_CODE = """
import hashlib, json, fastki
h = hashlib.sha256()
for dist in ("uniform", "normal", "truncated_normal"):
    for dtype in ("float32", "float64"):
        h.update(getattr(fastki, dist)((7, 333), seed=11, stream=2, dtype=dtype).tobytes())
print(json.dumps({"backend": fastki.info()["backend"], "sha": h.hexdigest()}))
"""


def _values_hash():
    import hashlib

    h = hashlib.sha256()
    for dist in DISTS:
        for dtype in ("float32", "float64"):
            h.update(getattr(fastki, dist)((7, 333), seed=11, stream=2, dtype=dtype).tobytes())
    return h.hexdigest()


def test_fastki_backend_numpy_env_in_subprocess():
    r = run_python(VALUES_CODE, {"FASTKI_BACKEND": "numpy"})
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["backend"] == "numpy"
    assert got["sha"] == _values_hash()  # same bytes as this process's backend


def test_missing_extension_falls_back_to_numpy_with_a_warning():
    code = BLOCK_NATIVE + """
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    import fastki
assert any("did not load" in str(w.message) for w in caught), [str(w.message) for w in caught]
""" + VALUES_CODE.replace("import hashlib, json, fastki", "import hashlib, json")
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["backend"] == "numpy"
    assert got["sha"] == _values_hash()


def test_missing_extension_and_asking_for_native_is_an_error():
    r = run_python(BLOCK_NATIVE + "import fastki; fastki.normal(3, seed=0)",
                   {"FASTKI_BACKEND": "native"})
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "native" in r.stderr


# --------------------------------------------------------------------------- session checks

PYTEST_ONE = (f"import sys, pytest; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', "
              f"{str(HERE / 'test_philox.py')!r} + '::test_vector_file_is_complete']))")


def test_suite_refuses_to_run_without_the_native_backend(tmp_path):
    r = run_python(BLOCK_NATIVE + PYTEST_ONE, cwd=tmp_path, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "native backend did not load" in r.stdout + r.stderr


def test_suite_runs_on_numpy_when_asked(tmp_path):
    r = run_python(BLOCK_NATIVE + PYTEST_ONE, {"FASTKI_BACKEND": "numpy"}, cwd=tmp_path,
                   timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 passed" in r.stdout


def test_suite_refuses_the_source_tree_when_installed_is_required(tmp_path):
    if not (REPO / "fastki" / "__init__.py").is_file():
        pytest.skip("no source tree next to the tests (testing an installed copy)")
    r = run_python(PYTEST_ONE, {"FASTKI_REQUIRE_INSTALLED": "1", "PYTHONPATH": str(REPO)},
                   cwd=tmp_path, timeout=300)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "source tree" in r.stdout + r.stderr


@pytest.mark.skipif(not native_available(), reason="the SIMD paths and threads are the kernel's")
def test_random_raw_follows_options():
    """random_raw runs on the fills' SIMD paths and threads, as options() chooses them:
    the same words on every path and thread count, one thread when one is asked for, and
    a path the CPU lacks refused as for the fills."""
    from fastki import _native

    want = fastki.random_raw(100_003, seed=3, stream=2, offset=5).tobytes()
    for simd in fastki.info()["simd_available"]:
        for threads in (1, 2, 3):
            with fastki.options(simd=simd, num_threads=threads):
                assert fastki.random_raw(100_003, seed=3, stream=2, offset=5).tobytes() == want
                if threads == 1:
                    assert _native.last_fill()["want"] == 1
    missing = [s for s in ("sse2", "avx2", "avx512", "neon") if s not in fastki.info()["simd_available"]]
    with fastki.options(simd=missing[0]):
        with pytest.raises(ValueError, match=f"simd: the '{missing[0]}' path is not available"):
            fastki.random_raw(10, seed=1)
