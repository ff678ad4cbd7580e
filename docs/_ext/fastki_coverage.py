"""Sphinx extension: the build fails (a warning; -W makes it an error) when a public name of
a module listed in conf.py's DOCUMENTED is documented nowhere on the site.

A module's public names are its __all__. A name counts as documented when the Python domain
has an entry under that module, or an entry elsewhere that is the same object (the Keras
catalogue is documented once, under fastki.initializers, and re-exported by fastki), or a
module entry of that name (fastki.initializers, fastki.jax.initializers)."""
import importlib

from sphinx.util import logging

logger = logging.getLogger(__name__)


def _resolve(dotted):
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(dotted)


def check(app, env):
    domain = env.get_domain("py")
    objects = {name for name, *_ in domain.get_objects()}
    same = {}
    for name in objects:
        try:
            same.setdefault(id(_resolve(name)), name)
        except (ImportError, AttributeError):
            pass
    missing = []
    for module_name in app.config.fastki_documented:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            full = f"{module_name}.{name}"
            if full in objects or id(getattr(module, name)) in same:
                continue
            missing.append(full)
    if missing:
        logger.warning("public names not documented on the site (add them to docs/api/): %s",
                       ", ".join(missing), type="fastki", subtype="coverage")
    else:
        logger.info("fastki_coverage: every public name of %s is documented",
                    ", ".join(app.config.fastki_documented))


def setup(app):
    app.add_config_value("fastki_documented", (), "env")
    app.connect("env-check-consistency", check)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
