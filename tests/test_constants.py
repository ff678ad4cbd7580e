"""One source of truth for the constants: the kernel's (src_c/approx.h, src_c/philox.h, as
compiled into fastki._native) equal fastki/_constants.py's, bit for bit, each in the type
its arithmetic uses (docs/algorithm.md, section 6)."""
import numpy as np
import pytest

from fastki import _constants as K

from conftest import native_available

pytestmark = pytest.mark.skipif(not native_available(), reason="compares the compiled kernel")


def python_constants():
    """fastki/_constants.py under the kernel's names."""
    out = {
        "F32_SQRT2": K.F32_SQRT2, "F64_SQRT2": K.F64_SQRT2, "F32_HALF_PI": K.F32_HALF_PI,
        "F64_HALF_PI": K.F64_HALF_PI, "LOG_F32_LN2_HI": K.LOG_F32_LN2_HI,
        "LOG_F32_LN2_LO": K.LOG_F32_LN2_LO, "LOG_F64_LN2_HI": K.LOG_F64_LN2_HI,
        "LOG_F64_LN2_LO": K.LOG_F64_LN2_LO,
        "AS241_SPLIT1": np.float64(K.AS241_SPLIT1), "AS241_SPLIT2": np.float64(K.AS241_SPLIT2),
        "AS241_CONST1": np.float64(K.AS241_CONST1), "AS241_CONST2": np.float64(K.AS241_CONST2),
        "PHILOX_M4x32_0": K.PHILOX_M4x32_0, "PHILOX_M4x32_1": K.PHILOX_M4x32_1,
        "PHILOX_W32_0": K.PHILOX_W32_0, "PHILOX_W32_1": K.PHILOX_W32_1,
        "PHILOX_ROUNDS": K.PHILOX_ROUNDS, "GROUP_BLOCKS": K.GROUP_BLOCKS,
        "F32_PER_GROUP": K.ELEMENTS_PER_GROUP["float32"],
        "F64_PER_GROUP": K.ELEMENTS_PER_GROUP["float64"],
        "F32_SQRT2_BITS": int(K.F32_SQRT2.view(np.uint32)),
        "F64_SQRT2_BITS": int(K.F64_SQRT2.view(np.uint64)),
    }
    out.update({f"LOG_F32_P{i}": c for i, c in enumerate(K.LOG_F32_P)})
    out.update({f"LOG_F64_LG{i + 1}": c for i, c in enumerate(K.LOG_F64_LG)})
    out.update({f"SIN_F32_{i}": c for i, c in enumerate(K.SIN_F32)})
    out.update({f"COS_F32_{i}": c for i, c in enumerate(K.COS_F32)})
    out.update({f"SIN_F64_S{i + 1}": c for i, c in enumerate(K.SIN_F64)})
    out.update({f"COS_F64_C{i + 1}": c for i, c in enumerate(K.COS_F64)})
    for key, coefs in K.AS241_PPND7.items():
        out[f"PPND7_{key.upper()}"] = coefs
    for key, coefs in K.AS241_PPND16.items():
        out[f"PPND16_{key.upper()}"] = coefs
    return out


def bits(value):
    if isinstance(value, tuple):
        return tuple(bits(v) for v in value)
    if isinstance(value, (np.floating,)):
        return (value.dtype.name, value.tobytes().hex())
    assert isinstance(value, int) and not isinstance(value, bool), repr(value)
    return ("int", value)


def test_compiled_constants_equal_the_python_ones_bit_for_bit():
    from fastki import _native

    compiled, python = _native.compiled_constants(), python_constants()
    assert sorted(compiled) == sorted(python), "a constant has only one home"
    differ = {name: (compiled[name], python[name]) for name in compiled
              if bits(compiled[name]) != bits(python[name])}
    assert not differ, differ
