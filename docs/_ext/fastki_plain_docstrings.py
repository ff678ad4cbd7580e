"""Sphinx extension: the docstrings of the modules named in conf.py's
fastki_plain_docstrings are shown as written (a literal block), not parsed as
reStructuredText.

Those modules' docstrings are plain text, not yet in NumPy's format: parsed, a name such as
trunc_normal_ reads as a link target, and -W fails the build. Shown literally they are
complete and correct; the signature above each still comes from the code. Remove a module
from the list once its docstrings are in NumPy's format."""


def _literal(app, what, name, obj, options, lines):
    module = getattr(obj, "__module__", None) or (name if what == "module" else "")
    if not any(module == m or module.startswith(m + ".")
               for m in app.config.fastki_plain_docstrings):
        return
    if not any(line.strip() for line in lines):
        return
    text = [line.rstrip() for line in lines]
    lines[:] = ["::", ""] + ["    " + line if line else "" for line in text] + [""]


def setup(app):
    app.add_config_value("fastki_plain_docstrings", (), "env")
    app.connect("autodoc-process-docstring", _literal)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
