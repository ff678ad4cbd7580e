"""Every fenced ```python block of README.md and docs/*.md runs on its own, as written.

Sybil finds the blocks (its Markdown PythonCodeBlockParser); the evaluator here replaces
Sybil's in-process one: each block's source is written to a file and run by a fresh
`sys.executable` with a temporary directory as its working directory, so nothing of a block
(names, imports, files it writes) reaches another, and the installed fastki is the one
imported (the checkout is not on sys.path). A block fails with its stderr.

Environment given to every block:
* FASTKI_EXAMPLE_GIB=0.0625: examples that would write tens of GiB read their size from
  this variable (their default is the size the text describes), so that here they stay
  small;
* KERAS_BACKEND=torch unless already set (the backend the test extra installs).

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
EXAMPLE_GIB = "0.0625"
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


def _imports(name):
    """Whether `import name` works in a fresh interpreter with the blocks' environment (Keras
    can be installed and still fail to import, without any of its backends)."""
    if name not in _IMPORTS:
        _IMPORTS[name] = importlib.util.find_spec(name) is not None and subprocess.run(
            [sys.executable, "-c", f"import {name}"], cwd=tempfile.gettempdir(),
            env=_block_env(), capture_output=True, timeout=TIMEOUT_S).returncode == 0
    return _IMPORTS[name]


def _missing_optional(source):
    return sorted(n for n in _imported_top_level(source) & set(OPTIONAL) if not _imports(n))


def _block_env():
    env = dict(os.environ)
    for key in ("PYTHONPATH", "FASTKI_BACKEND", "FASTKI_SIMD"):
        env.pop(key, None)            # what the documents describe: a default environment
    env["FASTKI_EXAMPLE_GIB"] = EXAMPLE_GIB
    env.setdefault("KERAS_BACKEND", "torch")
    return env


def _relative(path):
    path = pathlib.Path(path).resolve()
    return path.relative_to(REPO) if path.is_relative_to(REPO) else pathlib.Path(path.name)


def run_in_fresh_process(example):
    """Sybil evaluator: the block's source in a new interpreter; raises on failure."""
    source = str(example.parsed)
    rel = _relative(example.path)
    missing = _missing_optional(source)
    if missing:
        pytest.skip(f"{rel} line {example.line} needs {', '.join(missing)}, which does not "
                    f"import here")
    with tempfile.TemporaryDirectory(prefix="fastki-docs-") as cwd:
        # blank lines first, so a traceback's line numbers are the document's
        script = pathlib.Path(cwd, f"{rel.as_posix().replace('/', '_')}.py")
        script.write_text("\n" * example.line + source, encoding="utf-8")
        r = subprocess.run([sys.executable, script.name], cwd=cwd, env=_block_env(),
                           capture_output=True, text=True, timeout=TIMEOUT_S)
    if r.returncode != 0:
        raise AssertionError(f"{rel}, the python block at line {example.line}, exited with "
                             f"{r.returncode}:\n{r.stderr}")


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
