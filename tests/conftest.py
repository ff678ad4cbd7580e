"""Session checks and shared fixtures for the fastki test suite.

Two checks run before any test:

* the compiled backend must have loaded: a suite that silently ran on the NumPy fallback
  would test nothing of the C kernel.  Set ``FASTKI_BACKEND=numpy`` to ask for a
  NumPy-only run explicitly;
* with ``FASTKI_REQUIRE_INSTALLED=1``, ``fastki`` must come from the installed package
  (site-packages), not from the source tree next to this directory.  An editable install
  resolves to the source tree, so only set this when testing a built wheel or a regular
  install.
"""
import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent

THREAD_COUNTS = (1, 2, 3, 7)
SIMD_NAMES = ("scalar", "sse2", "avx2", "avx512", "neon")


def _session_problem():
    """A sentence saying why this session must not run, or None."""
    try:
        import fastki
    except Exception as exc:  # noqa: BLE001 - any import failure ends the run
        return f"fastki failed to import: {exc!r}"
    if os.environ.get("FASTKI_REQUIRE_INSTALLED", "") == "1":
        where = pathlib.Path(fastki.__file__).resolve().parent
        # the venv may live inside the checkout (.venv/lib/.../site-packages/fastki): what
        # must not happen is importing the checkout's own fastki/ directory
        if where == (REPO / "fastki").resolve():
            return (f"FASTKI_REQUIRE_INSTALLED=1 but fastki was imported from the source tree "
                    f"({where}), not from the installed package")
    if os.environ.get("FASTKI_BACKEND", "").strip().lower() == "numpy":
        return None
    from fastki import _api

    if _api._native is None:
        return (f"the native backend did not load ({_api._NATIVE_IMPORT_ERROR}); build it "
                f"(pip install -e .) or run with FASTKI_BACKEND=numpy to test the NumPy backend "
                f"alone")
    if fastki.info()["backend"] != "native":
        return f"fastki.info() reports backend {fastki.info()['backend']!r}, expected 'native'"
    return None


def pytest_configure(config):
    # The plain suite (.ci/run's README command) runs everything. The wheel and sanitizer
    # suites (ci/wheel.sh, ci/sanitizers.sh) test the compiled kernel as installed and skip
    # these pure-Python integrations, which start frameworks, process groups or interpreters.
    config.addinivalue_line(
        "markers", "integration: framework integrations (Keras backends, JAX devices, PyTorch "
                   "process groups, Dask clusters, docs run in fresh interpreters)")


def pytest_sessionstart(session):
    problem = _session_problem()
    if problem is not None:
        pytest.exit(f"fastki test session refused: {problem}", returncode=1)


def pytest_report_header(config):
    import fastki

    return f"fastki: {fastki.__file__} {fastki.info()}"


# --------------------------------------------------------------------------- fixtures


def native_available():
    from fastki import _api

    return _api._native is not None


def simd_available():
    try:
        import fastki

        return list(fastki.info().get("simd_available") or [])
    except Exception:  # noqa: BLE001 - pytest_sessionstart reports the problem
        return []


_SIMD_PARAMS = simd_available() or [None]


def backends():
    """Backends to compare: both when the extension loaded, else the NumPy one only."""
    return ["native", "numpy"] if native_available() else ["numpy"]


@pytest.fixture(params=_SIMD_PARAMS, ids=lambda s: f"simd={s}")
def simd(request):
    """Each SIMD path this machine has (None when only the NumPy backend is there)."""
    if request.param is None:
        pytest.skip("native backend not loaded: no SIMD paths")
    return request.param


@pytest.fixture(params=THREAD_COUNTS, ids=lambda n: f"threads={n}")
def num_threads(request):
    return request.param


@pytest.fixture(params=backends())
def backend(request):
    return request.param


@pytest.fixture
def require_native():
    if not native_available():
        pytest.skip("native backend not loaded")
