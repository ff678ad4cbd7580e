"""The types of fastki's public signatures, one home for each: what a shape, a seed, a dtype
or a block may be, and what a fill returns. Used in annotations only (fastki/_api.py and the
modules built on it); nothing here checks a value (fastki/_validate.py does).

The names are plain aliases, not classes, so that type checkers see through them and
help() shows what they stand for."""
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

#: A whole number: a Python int or a NumPy integer scalar (bool is refused at run time).
Integer = Union[int, np.integer[Any]]
#: A real number: a Python int or float, or a NumPy integer or floating scalar.
Real = Union[float, int, np.floating[Any], np.integer[Any]]
#: A shape: one whole number (a 1-d array) or a sequence of them.
ShapeLike = Union[Integer, Sequence[Integer]]
#: A seed: a whole number in [0, 2**64), or None for a fresh seed from the operating system.
SeedLike = Optional[Integer]
#: A dtype: "float32" (the default), "float64", "float16", "bfloat16" (with ml_dtypes), or the
#: NumPy dtype or scalar type of one of them.
DTypeLike = npt.DTypeLike
#: A block of the full tensor: one slice per dimension (step 1), or None for the whole tensor.
BlockLike = Optional[Union[slice, Tuple[slice, ...], Sequence[slice]]]
#: What uniform, normal and truncated_normal return: a C-contiguous NumPy array of the dtype
#: asked for (numpy.float32 unless dtype= says otherwise).
FloatArray = npt.NDArray[np.floating[Any]]
#: An out= array: a C-contiguous, writeable NumPy array of the result's dtype and shape.
OutArray = Optional[npt.NDArray[Any]]
#: Words of the Philox stream or block function.
UInt32Array = npt.NDArray[np.uint32]
#: A setting of options(): its name, or None to keep the one in force.
Setting = Optional[str]
#: A thread count for options(): from 1 up, or None to keep the one in force.
ThreadCount = Optional[Integer]
#: What info() returns: names (str) to values (str, int, bool, list of str or None).
Info = Dict[str, Any]
