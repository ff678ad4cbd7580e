"""fastki: fast, reproducible neural-network weight initializers.

A value depends only on (seed, stream, element index, distribution parameters, dtype):
the same bits on every machine, thread count, SIMD path, block and backend.
"""
from ._version import __version__ as __version__  # noqa: E402

# `name as name`: re-exported for type checkers too (mypy --strict, pyright)
from ._api import info as info  # noqa: E402
from ._api import normal as normal  # noqa: E402
from ._api import options as options  # noqa: E402
from ._api import philox4x32_10 as philox4x32_10  # noqa: E402
from ._api import random_raw as random_raw  # noqa: E402
from ._api import truncated_normal as truncated_normal  # noqa: E402
from ._api import uniform as uniform  # noqa: E402

from . import initializers as initializers  # noqa: E402
from .initializers import *  # noqa: E402,F401,F403  (the Keras catalogue; imports no Keras)

__all__ = ["info", "normal", "options", "philox4x32_10", "random_raw", "truncated_normal",
           "uniform", "initializers", "__version__"]
__all__ += initializers.__all__  # this form type checkers read
