"""fastki as a type checker sees it, installed (fastki/py.typed, fastki/_native.pyi, the
annotations of fastki/_api.py and fastki/_typing.py).

tests/typing/api_types.py is checked, not run, by mypy --strict and by pyright (where it is
installed: the `typing` extra) from a directory outside the checkout, so that the installed
package is what they read: every assert_type there must hold, and exactly the lines ending
in `# type error` must be reported. The stub of the compiled module must name the functions
the module has."""
import ast
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

import fastki

CASES = pathlib.Path(__file__).resolve().parent / "typing" / "api_types.py"


def _expected_error_lines():
    lines = CASES.read_text(encoding="utf-8").splitlines()
    return {n for n, line in enumerate(lines, 1) if line.rstrip().endswith("# type error")}


def _run(args, tmp_path):
    work = tmp_path / "cases"
    work.mkdir()
    shutil.copy(CASES, work / CASES.name)
    # the checker is not what a sanitized run checks: without the sanitizer preloaded
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    return subprocess.run(args + [CASES.name], capture_output=True, text=True, cwd=work,
                          env=env, timeout=600)


def test_package_ships_its_type_information():
    package = pathlib.Path(fastki.__file__).parent
    assert (package / "py.typed").is_file()
    assert (package / "_native.pyi").is_file()


def test_the_cases_mark_errors():
    """Else the checks below could pass with nothing to find."""
    assert len(_expected_error_lines()) >= 5


def test_mypy_strict_sees_the_public_types(tmp_path):
    pytest.importorskip("mypy", reason="mypy is in the test extra")
    r = _run([sys.executable, "-m", "mypy", "--strict", "--no-incremental",
              "--python-executable", sys.executable, "--cache-dir", str(tmp_path / "cache")],
             tmp_path)
    errors = [line for line in r.stdout.splitlines() if ": error:" in line]
    found = {int(line.split(":")[1]) for line in errors}
    assert found == _expected_error_lines(), r.stdout + r.stderr
    # the one the issue names: an array is not an int
    assert any("variable has type \"int\"" in line for line in errors), r.stdout


def test_pyright_sees_the_public_types(tmp_path):
    if importlib.util.find_spec("pyright") is None:
        pytest.skip("pyright is not installed (pip install '.[typing]')")
    r = _run([sys.executable, "-m", "pyright", "--pythonpath", sys.executable], tmp_path)
    if "npm" in r.stderr and "error" in r.stderr.lower() and r.returncode not in (0, 1):
        pytest.skip(f"pyright could not fetch its Node.js package: {r.stderr.strip()[-300:]}")
    found = {int(m[1]) for m in re.finditer(r":(\d+):\d+ - error", r.stdout)}
    assert found == _expected_error_lines(), r.stdout + r.stderr


def test_stub_names_the_compiled_functions():
    if fastki.info()["backend"] != "native":
        pytest.skip("the compiled extension is not loaded in this run")
    from fastki import _native

    stub = pathlib.Path(_native.__file__).with_name("_native.pyi")
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    in_stub = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    compiled = {name for name, value in vars(_native).items()
                if callable(value) and not isinstance(value, type)
                and getattr(value, "__module__", None) == _native.__name__}
    assert in_stub == compiled
