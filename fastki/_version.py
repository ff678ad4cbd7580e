"""fastki's version, in a module of its own so that fastki/_api.py (info()) can read it
without importing the package's __init__ (no import cycle: tests/test_cli.py checks).
Keep it equal to pyproject.toml's `version`."""
__version__ = "0.1.0"
