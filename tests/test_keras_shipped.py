"""Keras' own initializer tests, shipped in the installed package
(keras/src/initializers/*_test.py), run against fastki's Keras-native classes through
tests/keras_shipped_conftest.py (fastki.keras.install() before the test modules load), in
one subprocess per backend setup: numpy, torch, jax, and jax with 8 forced host devices.

Every test passes on every setup (docs/initializers.md, "Keras' own tests"); the skips are
Keras' own (its two layout tests are JAX only and marked multi_device: the adapter skips
them below 4 devices, as Keras' CI runs them only on a multi-device setup; one of them
asserts 4 devices or more).  The four runs take about 30 s together on 2 cores.
"""
import os
import pathlib
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

pytestmark = pytest.mark.integration  # tests/conftest.py: skipped by the wheel and sanitizer suites

os.environ.setdefault("KERAS_BACKEND", "torch")  # this process only locates the files
keras = pytest.importorskip("keras")
pytest.importorskip("scipy")  # Keras' STFT test imports scipy.signal

HERE = pathlib.Path(__file__).parent
KERAS_TESTS = pathlib.Path(keras.__file__).parent / "src" / "initializers"
FILES = ["constant_initializers_test.py", "initializer_test.py", "random_initializers_test.py"]
JAX_ONLY = {"initializer_test.py::InitializersLayoutTest::test_initializer_with_data_parallel_layout",
            "initializer_test.py::InitializersLayoutTest::test_initializer_with_model_parallel_layout"}

SETUPS = {
    "numpy": ({"KERAS_BACKEND": "numpy"}, JAX_ONLY),
    "torch": ({"KERAS_BACKEND": "torch"}, JAX_ONLY),
    "jax": ({"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "XLA_FLAGS": ""}, JAX_ONLY),
    "jax-8-devices": ({"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
                       "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}, set()),
}


def _outcomes(report):
    """{test id: "passed" | "failed" | "skipped"} from a pytest JUnit XML report."""
    out = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        file = case.get("classname").split(".")[0] + ".py"
        cls = case.get("classname").split(".")[-1]
        name = f"{file}::{cls}::{case.get('name')}"
        if case.find("skipped") is not None:
            out[name] = "skipped"
        elif case.find("failure") is not None or case.find("error") is not None:
            out[name] = "failed"
        else:
            out[name] = "passed"
    return out


@pytest.mark.parametrize("setup", sorted(SETUPS))
def test_keras_own_initializer_tests_pass_against_fastki(setup, tmp_path):
    if setup.startswith("jax"):
        pytest.importorskip("jax")
    if setup == "torch":
        pytest.importorskip("torch")
    env_extra, expected_skips = SETUPS[setup]
    for name in FILES:
        shutil.copy(KERAS_TESTS / name, tmp_path / name)
    shutil.copy(HERE / "keras_shipped_conftest.py", tmp_path / "conftest.py")
    report = tmp_path / "report.xml"
    env = {**os.environ, **env_extra}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:randomly", "--rootdir", str(tmp_path), "-c", os.devnull,
                           f"--junitxml={report}", *FILES],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    outcomes = _outcomes(report) if report.exists() else {}
    assert outcomes, proc.stdout[-3000:] + proc.stderr[-3000:]
    failed = sorted(t for t, o in outcomes.items() if o == "failed")
    assert not failed, proc.stdout[-4000:]
    assert {t for t, o in outcomes.items() if o == "skipped"} == expected_skips
    assert len(outcomes) == 22 and proc.returncode == 0
