"""The command line (fastki/_cli.py) and the package's import structure.

* `python -m fastki info` runs where POSIX-only modules are missing (Windows): it is run with
  `resource`, `fcntl`, `termios`, `pwd`, `grp`, ... blocked and must print fastki.info();
* `bench` and `scale` are separate subcommands whose modules are imported only when they
  run (`bench --scale` is an alias of `scale`), and fastki/bench/fills.py and fastki/bench/scale.py
  share fastki/bench/timing.py instead of importing each other;
* a bad command line (a bad value, an unknown option, an option that needs another) is one
  line on stderr naming the option and exit status 2, never a traceback; --help shows
  examples of what to run;
* every module of the package imports alone in a fresh interpreter, and the graph of the
  package's own imports (module level and inside functions) has no cycle.
"""
import ast
import importlib.util
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest

import fastki
from fastki import _cli

PACKAGE = pathlib.Path(fastki.__file__).resolve().parent   # the fastki under test
OUTSIDE = tempfile.gettempdir()      # cwd for subprocesses: the checkout is not on sys.path

# modules that exist on POSIX systems only; none may be needed by `python -m fastki info`
POSIX_ONLY = ("resource", "fcntl", "termios", "pwd", "grp", "pty", "tty", "syslog", "crypt",
              "spwd", "nis", "posixshmem", "_posixshmem")


def _env(**extra):
    env = dict(os.environ)
    env.pop("FASTKI_BACKEND", None)
    env.setdefault("KERAS_BACKEND", "torch")
    env.update(extra)
    return env


def _python(code, **kw):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=OUTSIDE, env=_env(), **kw)


# --------------------------------------------------------------------------- info, portable


_BLOCKED_PRELUDE = (
    "import sys\n"
    f"for name in {POSIX_ONLY!r}:\n"
    "    sys.modules[name] = None   # `import name` now raises ImportError\n"
)


def test_info_runs_with_posix_only_modules_blocked():
    code = _BLOCKED_PRELUDE + (
        "import runpy\n"
        "sys.argv = ['fastki', 'info', '--json']\n"
        "runpy.run_module('fastki', run_name='__main__', alter_sys=True)\n"
    )
    r = _python(code)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["version"] == fastki.__version__
    assert info["backend"] == fastki.info()["backend"]


def test_the_block_is_real():
    """The prelude does block `resource` (else the test above could not fail)."""
    r = _python(_BLOCKED_PRELUDE + "import resource\n")
    assert r.returncode != 0
    assert "ImportError" in r.stderr or "ModuleNotFoundError" in r.stderr


def test_info_and_help_import_neither_bench_nor_scale():
    code = (
        "import sys\n"
        "from fastki._cli import main\n"
        "assert main(['info']) == 0\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print(sorted(m for m in sys.modules if m.startswith('fastki.')))\n"
    )
    r = _python(code)
    assert r.returncode == 0, r.stderr
    loaded = r.stdout.strip().splitlines()[-1]
    for name in ("fastki.bench.fills", "fastki.bench.scale", "fastki.bench.timing", "fastki.torch",
                 "fastki.dask", "fastki.keras"):
        assert repr(name) not in loaded, loaded


def test_bench_help_imports_bench_only():
    code = (
        "import sys\n"
        "from fastki._cli import main\n"
        "try:\n"
        "    main(['bench', '--help'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print('fastki.bench.fills' in sys.modules, 'fastki.bench.scale' in sys.modules)\n"
    )
    r = _python(code)
    assert r.returncode == 0, r.stderr
    assert "--no-peers" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "True False"


def test_scale_help_imports_scale_only_and_works_without_resource():
    code = _BLOCKED_PRELUDE + (
        "from fastki._cli import main\n"
        "try:\n"
        "    main(['scale', '--help'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print('fastki.bench.fills' in sys.modules, 'fastki.bench.scale' in sys.modules)\n"
    )
    r = _python(code)
    assert r.returncode == 0, r.stderr
    assert "--scale-gib" in r.stdout
    assert r.stdout.strip().splitlines()[-1] == "False True"


# --------------------------------------------------------------------------- dispatch


@pytest.fixture
def calls(monkeypatch):
    """Replace bench's and scale's run() by recorders (nothing is timed)."""
    from fastki.bench import fills as _bench, scale as _scale

    seen = []
    monkeypatch.setattr(_bench, "run", lambda args: seen.append(("bench", vars(args))) or 0)
    monkeypatch.setattr(_scale, "run", lambda args: seen.append(("scale", vars(args))) or 0)
    return seen


def test_bench_dispatches_with_its_options(calls):
    assert _cli.main(["bench", "--size", "8", "--repeat", "1", "--no-peers"]) == 0
    (name, args), = calls
    assert name == "bench"
    assert (args["size"], args["repeat"], args["no_peers"], args["threads"]) == (8, 1, True, None)


def test_scale_dispatches_with_its_options(calls):
    assert _cli.main(["scale", "--scale-gib", "0.25", "--scale-dir", "/x", "--json"]) == 0
    assert calls == [("scale", {"command": "scale", "scale_gib": 0.25, "scale_dir": "/x",
                                "json": True})]


def test_bench_scale_is_an_alias_of_scale(calls):
    assert _cli.main(["bench", "--scale", "--scale-gib", "0.5"]) == 0
    assert _cli.main(["bench", "--scale-gib", "0.5", "--scale"]) == 0
    expect = ("scale", {"command": "scale", "scale_gib": 0.5, "scale_dir": None, "json": False})
    assert calls == [expect, expect]


def test_bench_refuses_scale_options_without_scale(calls, capsys):
    with pytest.raises(SystemExit) as e:
        _cli.main(["bench", "--scale-gib", "0.5"])
    assert e.value.code == 2
    assert "--scale-gib" in capsys.readouterr().err
    assert calls == []


@pytest.mark.parametrize("argv, names", [
    ([], "{info,bench,scale}"),
    (["nope"], "'nope'"),
    (["info", "--size", "3"], "--size"),
    # bad values: each names its flag
    (["bench", "--size", "0"], "argument --size"),
    (["bench", "--size", "-5"], "argument --size"),
    (["bench", "--size", "1e3"], "argument --size"),
    (["bench", "--repeat", "0"], "argument --repeat"),
    (["bench", "--threads", "0"], "argument --threads"),
    (["bench", "--threads", str(2**31)], "argument --threads"),
    (["bench", "--busy", "--thread-counts", "1,x"], "argument --thread-counts"),
    (["bench", "--busy", "--thread-counts", "1,0"], "argument --thread-counts"),
    (["bench", "--busy", "--dask-bytes", "0"], "argument --dask-bytes"),
    (["scale", "--scale-gib", "0"], "argument --scale-gib"),
    (["scale", "--scale-gib", "-1"], "argument --scale-gib"),
    (["scale", "--scale-gib", "inf"], "argument --scale-gib"),
    # options that only --busy uses, given without it
    (["bench", "--splits"], "argument --splits: needs --busy"),
    (["bench", "--only-busy"], "argument --only-busy: needs --busy"),
    (["bench", "--thread-counts", "1,2"], "argument --thread-counts: needs --busy"),
    (["bench", "--dask-bytes", "1024"], "argument --dask-bytes: needs --busy"),
    (["bench", "--dask-chunk-bytes", "1024"], "argument --dask-chunk-bytes: needs --busy"),
])
def test_bad_command_lines_are_one_line_errors(argv, names, calls, capsys):
    with pytest.raises(SystemExit) as e:
        _cli.main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("python -m fastki") and ": error: " in err, err
    assert names in err, err
    assert calls == []


def test_bad_value_exits_2_without_traceback():
    """The whole program, as a user runs it: stdout empty, one stderr line, status 2."""
    r = subprocess.run([sys.executable, "-m", "fastki", "bench", "--size", "0"],
                       capture_output=True, text=True, timeout=300, cwd=OUTSIDE, env=_env())
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr == ("python -m fastki bench: error: argument --size: must be a whole number "
                        "from 1 up, not '0' (see python -m fastki bench --help)\n")


@pytest.mark.parametrize("argv, words", [
    ([], ["commands:", "examples:", "python -m fastki bench --help"]),
    (["bench"], ["--size N", "--no-peers", "examples:", "python -m fastki bench --size"]),
    (["scale"], ["--scale-gib GIB", "examples:", "python -m fastki scale --scale-gib"]),
    (["info"], ["--json", "examples:"]),
])
def test_help_shows_examples_and_no_module_names(argv, words, capsys):
    with pytest.raises(SystemExit) as e:
        _cli.main(argv + ["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for word in words:
        assert word in out, (word, out)
    assert "fastki/" not in out and "_cli" not in out    # what to run, not where it lives


def test_bench_with_busy_takes_its_options(calls):
    assert _cli.main(["bench", "--busy", "--splits", "--thread-counts", "1,2",
                      "--dask-bytes", "4096"]) == 0
    (name, args), = calls
    assert (args["busy"], args["splits"], args["thread_counts"], args["dask_bytes"],
            args["dask_chunk_bytes"]) == (True, True, (1, 2), 4096, None)


def test_info_prints_fastki_info(capsys):
    assert _cli.main(["info", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(fastki.info()))


# --------------------------------------------------------------------------- import structure


def _modules():
    """The package's Python modules (subpackages included) by dotted name, with their files."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ("fastki",) + path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


# what a module needs beyond NumPy to import at all; absent -> that module is skipped
_NEEDS = {"fastki.torch": "torch", "fastki.keras": "keras", "fastki.dask": "dask",
          "fastki.jax": "jax"}


@pytest.mark.parametrize("module", sorted(set(_modules()) - {"fastki.__main__"}) +
                         ["fastki._native"])
def test_each_module_imports_alone(module):
    need = _NEEDS.get(module) or _NEEDS.get(module.rsplit(".", 1)[0])
    if need is not None and (importlib.util.find_spec(need) is None
                             or _python(f"import {need}").returncode != 0):
        # e.g. Keras installed without any of its backends: it does not import
        pytest.skip(f"{module} needs {need}, which is not installed or does not import")
    if module == "fastki._native" and fastki.info()["backend"] != "native":
        pytest.skip("the compiled extension is not loaded in this run")
    r = _python(f"import {module}")
    assert r.returncode == 0, r.stderr


def _imports_of(name, path):
    """Modules of the package that `name` imports anywhere in its source (module level and
    inside functions): `import fastki.x`, `from fastki import x`, `from . import x`,
    `from .x import y`. A name that is not a submodule stands for the package itself."""
    modules = _modules()
    # the package a relative import starts from: the module itself if it is a package
    package_parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "fastki" or alias.name.startswith("fastki."):
                    targets.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package_parts[:len(package_parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            elif node.module and (node.module == "fastki" or node.module.startswith("fastki.")):
                base = node.module
            else:
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules or sub == "fastki._native" else base)
    # importing fastki.a.b runs fastki.a's __init__ first: an edge to each parent package
    for t in list(targets):
        while "." in t:
            t = t.rsplit(".", 1)[0]
            if t != name and not name.startswith(t + "."):
                targets.add(t)
    targets.discard(name)
    return targets


def _graph():
    return {name: _imports_of(name, path) for name, path in _modules().items()}


def test_import_graph_is_read():
    """The graph sees the edges known to exist (else the cycle check below proves nothing)."""
    graph = _graph()
    assert {"fastki._api", "fastki.initializers"} <= graph["fastki"]
    assert "fastki.bench.timing" in graph["fastki.bench.fills"]
    assert "fastki.bench.timing" in graph["fastki.bench.scale"]
    assert {"fastki.bench.fills", "fastki.bench.scale"} <= graph["fastki._cli"]


def _cycle(graph):
    """One cycle of the graph as a list of names, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_package_has_no_import_cycle():
    cycle = _cycle(_graph())
    assert cycle is None, (" -> ".join(cycle) + ": move what they share into a module both "
                           "import (as fastki/bench/timing.py is for fastki/bench/fills.py and scale.py)")


def test_bench_and_scale_do_not_import_each_other():
    graph = _graph()
    assert "fastki.bench.scale" not in graph["fastki.bench.fills"]
    assert "fastki.bench.fills" not in graph["fastki.bench.scale"]


# modules every platform's Python has (and NumPy): what the command line may import at
# module level before it knows which subcommand runs
_PORTABLE = {"argparse", "json", "sys", "os", "time", "timeit", "statistics", "typing", "numpy"}


@pytest.mark.parametrize("module", ["fastki._cli", "fastki.__main__", "fastki.bench.timing"])
def test_command_line_modules_import_only_portable_modules_at_load(module):
    tree = ast.parse(_modules()[module].read_text(encoding="utf-8"))
    for node in tree.body:      # module level only: imports inside functions run on demand
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [f"fastki.{node.module}" if node.level else node.module]
        else:
            continue
        for n in names:
            assert n.split(".")[0] in _PORTABLE or n in ("fastki._cli", "fastki.bench.timing"), \
                f"{module} imports {n} at load"


def test_version_module_matches_pyproject_and_metadata():
    """fastki.__version__ is the version pyproject.toml declares and the one pip installed.
    pyproject.toml is read beside the tests (the checkout CI runs, or the wheel's
    test-sources), not beside the package, so that every CI step runs this test."""
    import importlib.metadata
    import re

    assert fastki.__version__ == importlib.metadata.version("fastki")
    pyproject = pathlib.Path(__file__).resolve().parent.parent / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    project = text[text.index("[project]"):]
    declared = re.search(r'^version\s*=\s*"([^"]+)"', project, re.MULTILINE).group(1)
    assert fastki.__version__ == declared


# --------------------------------------------------------------------------- the compiled module


def test_compiled_module_imports_no_module_of_the_package():
    """fastki/_native.pyx (the kernels' shell) imports nothing of the package, anywhere in it:
    the Python layer calls the compiled one, never the other way round."""
    pyx = PACKAGE / "_native.pyx"
    if not pyx.exists():
        pytest.skip("fastki/_native.pyx is not installed beside the package")
    found = []
    for number, line in enumerate(pyx.read_text(encoding="utf-8").splitlines(), 1):
        code = line.split("#", 1)[0].strip()
        words = code.replace(",", " ").split()
        if words[:1] == ["from"] and len(words) > 1 and (
                words[1].startswith(".") or words[1] == "fastki" or words[1].startswith("fastki.")):
            found.append((number, line.strip()))
        elif words[:1] in (["import"], ["cimport"]) and any(
                w == "fastki" or w.startswith("fastki.") for w in words[1:]):
            found.append((number, line.strip()))
    assert found == []


def test_compiled_module_loads_alone():
    """Loaded from its file under its own name, without the package, it runs its module code
    and no other module of fastki appears."""
    if fastki.info()["backend"] != "native":
        pytest.skip("the compiled extension is not loaded in this run")
    from fastki import _native

    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('_native', {_native.__file__!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert module.simd_available()\n"
        "print(sorted(name for name in sys.modules\n"
        "             if name.split('.')[0] == 'fastki' and name != 'fastki._native'))\n"
    )
    r = _python(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"
