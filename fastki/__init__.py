"""fastki: fast, reproducible neural-network weight initializers.

A value depends only on (seed, stream, element index, distribution parameters, dtype):
the same bits on every machine, thread count, SIMD path, block and backend.
"""
from ._version import __version__  # noqa: E402

from ._api import (  # noqa: E402
    info,
    normal,
    options,
    philox4x32_10,
    random_raw,
    truncated_normal,
    uniform,
)

from . import initializers  # noqa: E402
from .initializers import *  # noqa: E402,F401,F403  (the Keras catalogue; imports no Keras)

__all__ = ["info", "normal", "options", "philox4x32_10", "random_raw", "truncated_normal",
           "uniform", "initializers", "__version__"] + initializers.__all__
