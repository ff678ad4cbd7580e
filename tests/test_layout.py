"""The layout of the package (issue "a house the next engineer can live in"): modules of a
readable size, an import graph without cycles (imports inside functions and importlib calls
included), integrations that take their validators from fastki/_validate.py, and Dask
reached only through its public API. Read from the source files of the fastki that is
imported, installed or not."""
import ast
import pathlib

import pytest

import fastki

PACKAGE_DIR = pathlib.Path(fastki.__file__).resolve().parent
MAX_LINES = 800
# The validators' home is fastki/_validate.py; fastki/_api.py imports them for itself only
VALIDATORS = ("_show", "_int_arg", "_shape_arg", "_block_arg", "_dtype_arg", "_seed_arg",
              "_finite_arg", "_float_arg", "_out_arg")


def _modules():
    """{dotted module name: path} of every Python module of the package."""
    found = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()
# compiled modules (from .pyx): imported by name, and importing no module of fastki
# (tests/test_common_path.py checks that of _native)
COMPILED = {"fastki._native"}


def _resolve(module, level, name, is_package):
    """The absolute name of `from <level dots><name>` inside module."""
    if level == 0:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def _imports(module, path):
    """The fastki modules that module imports anywhere in its source (function bodies and
    importlib.import_module("...") with a literal name included)."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, node.level, node.module, is_package)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in MODULES or sub in COMPILED else base)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            targets.add(node.args[0].value)
    # an import of a submodule runs its package's __init__ first: no edge of its own
    return {t for t in targets if t in MODULES and t != module}


def _cycle(graph):
    """One import cycle of graph as a list of modules, or None."""
    state = {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, stack)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node, [])
            if found:
                return found
    return None


def test_no_module_is_over_800_lines():
    sizes = {name: len(path.read_text().splitlines()) for name, path in MODULES.items()}
    assert {n: s for n, s in sizes.items() if s > MAX_LINES} == {}


def test_the_import_graph_has_no_cycle():
    # the package's __init__ is a node like any other: the command-line tools above the
    # library may import it, nothing it imports may
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    assert _cycle(graph) is None
    assert "fastki._api" in graph["fastki"] and "fastki._validate" in graph["fastki._api"]


def test_the_cycle_finder_finds_one():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "fastki._api"))
def test_validators_come_from_their_home(name):
    """No module reaches a validator through its re-export in fastki._api."""
    tree = ast.parse(MODULES[name].read_text())
    through_api = sorted(
        node.attr for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in VALIDATORS
        and isinstance(node.value, ast.Attribute | ast.Name)
        and getattr(node.value, "attr", getattr(node.value, "id", None)) == "_api")
    assert through_api == []


def test_dask_is_reached_through_its_public_api():
    source = MODULES["fastki.dask"].read_text()
    assert "slices_from_chunks" not in source
    assert "map_blocks" in source
