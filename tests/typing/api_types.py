"""What a type checker sees of fastki's public API: checked by tests/test_typing.py with mypy
--strict (and pyright where installed), never run. Each `assert_type` must hold; each line
ending in `# type error` must be reported, and nothing else."""
from typing import Any, Dict

import numpy as np
import numpy.typing as npt
from typing_extensions import assert_type

import fastki

# the fills: an ndarray of a floating dtype (fastki/_typing.py, FloatArray)
assert_type(fastki.normal((2, 2), seed=0), npt.NDArray[np.floating[Any]])
assert_type(fastki.uniform(3, -1.0, 1.0, seed=np.uint64(1), dtype="float64"),
            npt.NDArray[np.floating[Any]])
assert_type(fastki.truncated_normal([4, 5], 0, 0.02, lower=-1, upper=1, seed=None),
            npt.NDArray[np.floating[Any]])
out = np.empty((2, 3), np.float32)
assert_type(fastki.normal((4, 3), seed=1, out=out, block=(slice(0, 2), slice(None))),
            npt.NDArray[np.floating[Any]])
assert_type(fastki.random_raw(4, seed=0), npt.NDArray[np.uint32])
assert_type(fastki.philox4x32_10([0, 0, 0, 0], [0, 0]), npt.NDArray[np.uint32])
assert_type(fastki.info(), Dict[str, Any])
with fastki.options(backend="numpy", num_threads=2):
    pass

x: int = fastki.normal((2, 2), seed=0)  # type error
fastki.normal((2, 2), seed="0")  # type error
fastki.normal((2, 2), 0.0, 1.0, 0)  # type error
fastki.random_raw(4)  # type error
fastki.uniform(2.5, seed=0)  # type error
