"""Every Python block of README.md and docs/*.md runs on its own, as written, twice.

The blocks: fenced ```python blocks (found by Sybil's Markdown PythonCodeBlockParser) and
indented code blocks (4 spaces after a blank line, outside a fence) whose text parses as
Python; an indented block that does not parse (a shell command, a table of output) is not
Python. Each block's source is written to a file and run by a fresh `sys.executable` with a
temporary directory as its working directory, so nothing of a block (names, imports, files
it writes) reaches another, and the installed fastki is the one imported (the checkout is
not on sys.path). It runs twice in a row in the same directory, as a reader who runs an
example again would (a file the first run wrote must not break the second). A block fails
with its stderr.

The environment is the reader's with no variable of fastki, Keras, JAX or OpenMP set
(FASTKI_*, KERAS_*, JAX_*, XLA_*, OMP_*, PYTHONPATH removed): a block that needs one sets
it itself, as the documents tell readers to.

A block that imports an optional package this environment lacks (torch, keras, jax,
dask, zarr, distributed, ml_dtypes, scipy) is skipped, with its name; in CI they are all
installed, so every block runs there.
"""
import ast
import importlib.util
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest
import sybil  # a test dependency (pyproject.toml's test extra), not an optional one
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser

# Blocks run in fresh interpreters that import Keras, JAX and torch: framework integration
# (tests/conftest.py), run by the plain suite only.
pytestmark = pytest.mark.integration

REPO = pathlib.Path(__file__).resolve().parent.parent
DOCUMENTS = ([REPO / "README.md"] if (REPO / "README.md").exists() else []) + \
    sorted((REPO / "docs").glob("*.md"))
if not DOCUMENTS:
    pytest.skip("README.md and docs/ are not beside this tests/ directory (a copy of the "
                "tests run against a wheel)", allow_module_level=True)

_FASTKI_NEEDS = {"torch": "torch", "keras": "keras", "dask": "dask", "jax": "jax"}
OPTIONAL = ("torch", "keras", "jax", "dask", "zarr", "distributed", "ml_dtypes", "scipy")
TIMEOUT_S = 600


def _imported_top_level(source):
    """Top-level package names the block imports (anywhere in it)."""
    names = set()
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return names                  # the fresh interpreter reports it
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for module in modules:
            parts = module.split(".")
            names.add(parts[0])
            if parts[0] == "fastki" and len(parts) > 1 and parts[1] in _FASTKI_NEEDS:
                names.add(_FASTKI_NEEDS[parts[1]])      # fastki.torch needs torch, ...
    return names


_IMPORTS = {}


# Keras imports only once a backend is chosen; the blocks choose NumPy's (which needs no
# other package) before importing it, and so does the probe.
_PROBES = {"keras": "import os; os.environ.setdefault('KERAS_BACKEND', 'numpy'); import keras"}


def _imports(name):
    """Whether `name` imports in a fresh interpreter with the blocks' environment (Keras can
    be installed and still fail to import, without any of its backends)."""
    if name not in _IMPORTS:
        _IMPORTS[name] = importlib.util.find_spec(name) is not None and subprocess.run(
            [sys.executable, "-c", _PROBES.get(name, f"import {name}")],
            cwd=tempfile.gettempdir(), env=_block_env(), capture_output=True,
            timeout=TIMEOUT_S).returncode == 0
    return _IMPORTS[name]


def _missing_optional(source):
    return sorted(n for n in _imported_top_level(source) & set(OPTIONAL) if not _imports(n))


_UNSET = ("FASTKI_", "KERAS_", "JAX_", "XLA_", "OMP_", "PYTHONPATH")


def _block_env():
    """The environment the documents describe: none of the variables they mention set."""
    return {key: value for key, value in os.environ.items() if not key.startswith(_UNSET)}


def _relative(path):
    path = pathlib.Path(path).resolve()
    return path.relative_to(REPO) if path.is_relative_to(REPO) else pathlib.Path(path.name)


def _run_block(path, line, source):
    """The block's source in a new interpreter, twice in one directory; raises on failure."""
    rel = _relative(path)
    missing = _missing_optional(source)
    if missing:
        pytest.skip(f"{rel} line {line} needs {', '.join(missing)}, which does not "
                    f"import here")
    with tempfile.TemporaryDirectory(prefix="fastki-docs-") as cwd:
        # blank lines first, so a traceback's line numbers are the document's
        script = pathlib.Path(cwd, f"{rel.as_posix().replace('/', '_')}.py")
        script.write_text("\n" * line + source, encoding="utf-8")
        for run in ("", ", run again"):
            r = subprocess.run([sys.executable, script.name], cwd=cwd, env=_block_env(),
                               capture_output=True, text=True, timeout=TIMEOUT_S)
            if r.returncode != 0:
                raise AssertionError(f"{rel}, the python block at line {line}{run}, "
                                     f"exited with {r.returncode}:\n{r.stderr}")


def run_in_fresh_process(example):
    """Sybil evaluator: see _run_block."""
    _run_block(example.path, example.line, str(example.parsed))


class FreshProcessPythonParser(PythonCodeBlockParser):
    """Sybil's Markdown Python code-block parser, with each block run in a new process."""

    def __init__(self):
        super().__init__()
        self.codeblock_parser = CodeBlockParser("python", run_in_fresh_process)


PARSER = sybil.Sybil(parsers=[FreshProcessPythonParser()], path=str(REPO))


def _examples():
    found = []
    for path in DOCUMENTS:
        for example in PARSER.parse(path):
            rel = path.relative_to(REPO).as_posix()
            found.append(pytest.param(example, id=f"{rel}:{example.line}"))
    return found


EXAMPLES = _examples()


def indented_python_blocks(text):
    """(line, source) of each indented code block of a Markdown text that parses as Python:
    4 spaces of indent after a blank line, outside fences, up to the next unindented line."""
    lines = text.splitlines()
    found, i, fenced = [], 0, False
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            fenced = not fenced
        elif (not fenced and lines[i].startswith("    ") and lines[i].strip()
              and (i == 0 or not lines[i - 1].strip())):
            start, block = i, []
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                block.append(lines[i][4:])
                i += 1
            source = "\n".join(block).strip("\n") + "\n"
            try:
                ast.parse(source)
            except SyntaxError:
                continue                    # a shell command, output, a table: not Python
            found.append((start + 1, source))
            continue
        i += 1
    return found


# Indented blocks that do not run alone, by their document and first line, with why. Each
# must still fail (strict): make it runnable, or fence it as ```text, and delete its entry.
NOT_RUNNABLE: dict = {}


def _indented_examples():
    found = []
    for path in DOCUMENTS:
        rel = path.relative_to(REPO).as_posix()
        for line, source in indented_python_blocks(path.read_text(encoding="utf-8")):
            why = NOT_RUNNABLE.get((rel, source.splitlines()[0]))
            marks = [pytest.mark.xfail(reason=why, strict=True, raises=AssertionError)] \
                if why else []
            found.append(pytest.param(path, line, source, id=f"{rel}:{line}", marks=marks))
    return found


INDENTED = _indented_examples()


def test_indented_blocks_are_found():
    """The finder sees indented Python and skips what is not (else the test below proves
    nothing)."""
    text = "Text\n\n    pip install fastki\n\nMore\n\n    import fastki\n    x = 1\n\nEnd\n"
    assert indented_python_blocks(text) == [(7, "import fastki\nx = 1\n")]
    assert any("torch.md" in str(p.values[0]) for p in INDENTED)
    keys = {(p.values[0].relative_to(REPO).as_posix(), p.values[2].splitlines()[0])
            for p in INDENTED}
    assert set(NOT_RUNNABLE) <= keys, "an entry of NOT_RUNNABLE names no block: delete it"


@pytest.mark.parametrize("path, line, source", INDENTED)
def test_indented_python_block_runs_alone(path, line, source):
    _run_block(path, line, source)


def test_the_documents_have_python_blocks():
    """The parser sees the blocks (else the parametrized test below would pass vacuously)."""
    per_file = {}
    for p in EXAMPLES:
        per_file.setdefault(pathlib.Path(p.values[0].path).name, 0)
        per_file[pathlib.Path(p.values[0].path).name] += 1
    assert per_file.get("README.md", 0) >= 5, per_file
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert per_file["README.md"] == text.count("```python"), per_file


@pytest.mark.parametrize("example", EXAMPLES)
def test_python_block_runs_alone(example):
    example.evaluate()


def test_a_block_that_fails_when_run_again_fails(tmp_path):
    """The second run sees the first one's files (a store that exists, say)."""
    doc = tmp_path / "again.md"
    doc.write_text("```python\nimport os\nos.mkdir('made')\n```\n", encoding="utf-8")
    (example,) = list(sybil.Sybil(parsers=[FreshProcessPythonParser()],
                                  path=str(tmp_path)).parse(doc))
    with pytest.raises(AssertionError, match=r"(?s)line 1, run again, exited with 1:.*"
                                             r"FileExistsError"):
        example.evaluate()


def test_blocks_run_without_the_variables_the_documents_mention(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_BACKEND", "torch")
    monkeypatch.setenv("FASTKI_BACKEND", "numpy")
    doc = tmp_path / "env.md"
    doc.write_text("```python\nimport os\nassert 'KERAS_BACKEND' not in os.environ\n"
                   "assert 'FASTKI_BACKEND' not in os.environ\n```\n", encoding="utf-8")
    (example,) = list(sybil.Sybil(parsers=[FreshProcessPythonParser()],
                                  path=str(tmp_path)).parse(doc))
    example.evaluate()


def test_a_failing_block_fails(tmp_path):
    """The evaluator reports a block that raises (NameError here), with its stderr."""
    doc = tmp_path / "bad.md"
    doc.write_text("text\n\n```python\nprint(undefined_name)\n```\n", encoding="utf-8")
    (example,) = list(sybil.Sybil(parsers=[FreshProcessPythonParser()],
                                  path=str(tmp_path)).parse(doc))
    with pytest.raises(AssertionError, match=r"(?s)bad.md, the python block at line 3, exited "
                                             r"with 1:.*line 4.*NameError: name 'undefined_name'"):
        example.evaluate()


def test_blocks_do_not_share_a_namespace(tmp_path):
    """Two blocks of one document: the second cannot see the first's names."""
    doc = tmp_path / "two.md"
    doc.write_text("```python\nx = 1\n```\n\n```python\nprint(x)\n```\n", encoding="utf-8")
    first, second = list(sybil.Sybil(parsers=[FreshProcessPythonParser()],
                                     path=str(tmp_path)).parse(doc))
    first.evaluate()
    with pytest.raises(AssertionError, match="NameError: name 'x'"):
        second.evaluate()


# --------------------------------------------------------------------------- quoted figures


def _reach_table():
    """docs/algorithm.md section 9's table: {row name: (fastki value, exact) as written}."""
    text = (REPO / "docs" / "algorithm.md").read_text(encoding="utf-8")
    section = text[text.index("## 9. Reach"):text.index("## 10.")]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("reach", "---") and not cells[0].startswith("-"):
            rows[cells[0]] = (cells[1], cells[2])
    return rows


def test_reach_table_is_what_tools_accuracy_prints():
    """Every row of the reach table, digit for digit as `python tools/accuracy.py` prints
    it (fastki's value by repr, the exact value to 9 significant digits)."""
    pytest.importorskip("scipy")
    tool = REPO / "tools" / "accuracy.py"
    if not (REPO / "docs" / "algorithm.md").exists() or not tool.exists():
        pytest.skip("docs/algorithm.md or tools/accuracy.py is not beside tests/")
    spec = importlib.util.spec_from_file_location("fastki_accuracy_tool_docs", tool)
    accuracy = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(accuracy)
    computed = {name: (repr(got), f"{exact:.9g}") for name, got, exact in accuracy.reach()}
    written = _reach_table()
    assert len(written) >= 16
    assert written == computed


# --------------------------------------------------------------------------- claims


@pytest.mark.parametrize("backend", ["native", "numpy"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_uniform_of_one_point_is_that_point_and_a_zero_is_positive(backend, dtype):
    """docs/algorithm.md section 3 and uniform's docstring: minval == maxval gives the point
    rounded to nearest, except that a zero is +0.0 whatever the arguments' sign."""
    import numpy as np

    import fastki

    if backend == "native" and fastki.info()["backend"] != "native":
        pytest.skip("the compiled extension is not loaded in this run")
    with fastki.options(backend=backend):
        for point in (-0.0, 0.0):
            got = fastki.uniform(5, point, point, seed=3, dtype=dtype)
            assert got.tobytes() == np.zeros(5, dtype).tobytes()      # +0.0, sign bit clear
        for point in (2.0, -3.5, 0.1):
            got = fastki.uniform(5, point, point, seed=3, dtype=dtype)
            assert got.tobytes() == np.full(5, point, dtype).tobytes()
    text = (REPO / "docs" / "algorithm.md").read_text(encoding="utf-8")
    assert "`uniform(n, -0.0, -0.0)` gives +0.0" in text
    assert "``uniform(3, -0.0, -0.0)`` gives +0.0" in fastki.uniform.__doc__


# --------------------------------------------------------------------------- docstrings


def _docstring_examples():
    import fastki

    found = [(f"fastki.{name}", getattr(fastki, name))
             for name in ("uniform", "normal", "truncated_normal", "random_raw",
                          "philox4x32_10", "options", "info")]
    if importlib.util.find_spec("dask") is not None:
        import fastki.dask

        found += [(f"fastki.dask.{name}", getattr(fastki.dask, name))
                  for name in fastki.dask.__all__]
    return found


@pytest.mark.parametrize("name, obj", _docstring_examples())
def test_docstring_examples_run(name, obj):
    """The Examples section of each NumPy-format docstring, as doctest runs it: the output
    shown is the output given (exact values included: they are the contract's)."""
    import doctest

    test = doctest.DocTestParser().get_doctest(obj.__doc__, {}, name, None, 0)
    assert test.examples, f"{name} has no example"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test, out=lambda text: pytest.fail(text))
    assert runner.failures == 0
