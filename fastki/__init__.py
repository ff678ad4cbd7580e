"""fastki: fast, reproducible neural-network weight initializers.

A value depends only on (seed, stream, element index, distribution parameters, dtype):
the same bits on every machine, thread count, SIMD path, block and backend.
"""
__version__ = "0.1.0"

from ._api import (  # noqa: E402
    info,
    normal,
    options,
    philox4x32_10,
    random_raw,
    truncated_normal,
    uniform,
)

__all__ = ["info", "normal", "options", "philox4x32_10", "random_raw", "truncated_normal",
           "uniform", "__version__"]
