"""Coverage-guided fuzz target (atheris / libFuzzer) over fastki's public entry points.

    python tests/fuzz_api.py -max_total_time=60          # what ci/fuzz.sh runs
    python tests/fuzz_api.py crash-<sha1>                 # replay a finding

Each input is decoded into one call of uniform, normal, truncated_normal, random_raw,
philox4x32_10 or options, with arguments drawn from hostile menus (see _value). The
properties are those of tests/test_hardening_hostile.py: only ValueError, TypeError or
MemoryError, the message naming a parameter, a refused out= untouched, and successful fills
free of NaN with the requested shape. Anything else raises out of TestOneInput, which
libFuzzer reports as a crash and saves as crash-<sha1>. The Python code of fastki (the
front door fastki/_api.py and the validator) is instrumented for coverage; the C kernel is not (gcc has no -fsanitize=fuzzer),
but a memory error there still ends the run as a crash.

Not collected by pytest (the file name does not start with test_)."""
import math
import resource
import sys
import traceback

import atheris

with atheris.instrument_imports(include=["fastki"]):
    import fastki

import numpy as np

# the front door, where every argument check lives, is Python in every build: instrumented
if not fastki._api.__file__.endswith(".py"):
    sys.exit(f"fastki._api runs from {fastki._api.__file__}: the fuzzer cannot instrument it")

ALLOWED = (ValueError, TypeError, MemoryError)
NAMES = ("shape", "dtype", "seed", "stream", "block", "out", "minval", "maxval", "mean",
         "stddev", "lower", "upper", "n", "offset", "counter", "key", "backend", "simd",
         "num_threads")
SPECIAL_INTS = [0, 1, 2, 3, 7, 80, 81, -1, -2, 2**31 - 1, 2**32, 2**44, 2**62, 2**63 - 1, 2**63,
                2**64 - 1, 2**64, 2**65, 10**30, -(2**64), 10**5000]
SPECIAL_FLOATS = [0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, math.nan, math.inf, -math.inf, 5e-324,
                  1e-300, 1e308, -1e308, 1.7976931348623157e308, 3.4e38, 3.5e38, 65504.0, 7e4]
DTYPES = ["float32", "float64", "float16", "bfloat16", "f4", ">f4", "int32", "complex64", "O",
          "S3", "", "bf16", None, np.float32, np.float64, np.int8, float, object, ("f4", -1),
          [("a", "f4")], np.dtype("f4").newbyteorder(), "float8_e4m3fn", 3]
OTHER = [None, "3", b"3", [], (), {}, object(), 1 + 1j, np.array([1, 2]), np.array(3),
         np.array(2.5), Ellipsis, slice(None), True, False, np.bool_(True), float, "native",
         "numpy", "scalar", "avx2", "avx512", "sse2", "neon"]
PARAMS = {"uniform": ("minval", "maxval"), "normal": ("mean", "stddev"),
          "truncated_normal": ("mean", "stddev", "lower", "upper")}
INT_TYPES = [int, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint32, np.uint64]


def _int(fdp, small=True):
    k = fdp.ConsumeIntInRange(0, 9)
    if k < 5 and small:
        return fdp.ConsumeIntInRange(0, 64)
    if k < 7:
        return fdp.PickValueInList(SPECIAL_INTS)
    return fdp.ConsumeIntInRange(-(2**70), 2**70) if not small else fdp.ConsumeIntInRange(-5, 100)


def _value(fdp, kind):
    """A hostile value for an argument of the given kind."""
    k = fdp.ConsumeIntInRange(0, 15)
    if k <= 7:  # mostly the right kind
        if kind == "int":
            v = _int(fdp)
            t = fdp.PickValueInList(INT_TYPES)
            if t is not int:
                try:
                    return t(v)
                except (OverflowError, ValueError):
                    return v
            return v
        if kind == "float":
            return fdp.PickValueInList(SPECIAL_FLOATS) if k < 4 else fdp.ConsumeRegularFloat()
        if kind == "dtype":
            return fdp.PickValueInList(DTYPES)
    if k <= 10:
        return fdp.ConsumeFloat() if k == 8 else _int(fdp, small=False) if k == 9 else \
            fdp.PickValueInList(SPECIAL_FLOATS)
    if k <= 13:
        return fdp.PickValueInList(OTHER)
    return fdp.ConsumeUnicodeNoSurrogates(4)


def _shape(fdp):
    k = fdp.ConsumeIntInRange(0, 6)
    if k == 0:
        return _value(fdp, "int")
    dims = [_value(fdp, "int") if fdp.ConsumeIntInRange(0, 7) == 0 else _int(fdp)
            for _ in range(fdp.ConsumeIntInRange(0, 3))]
    if k == 6:
        return [0, 1][fdp.ConsumeIntInRange(0, 1):] * fdp.ConsumeIntInRange(60, 70)
    return dims if k == 5 else tuple(dims)


def _block(fdp, shape):
    rank = len(shape) if isinstance(shape, (tuple, list)) else 1
    if fdp.ConsumeIntInRange(0, 7) == 0:
        return fdp.PickValueInList(OTHER)
    rank += fdp.PickValueInList([0, 0, 0, 0, 1, -1])
    sl = []
    for _ in range(max(rank, 0)):
        parts = [None if fdp.ConsumeBool() else _int(fdp, small=fdp.ConsumeBool())
                 for _ in range(2)]
        step = None if fdp.ConsumeIntInRange(0, 3) else fdp.PickValueInList([1, 2, 0, -1, 1.0, "1"])
        sl.append(slice(parts[0], parts[1], step))
    return tuple(sl) if fdp.ConsumeIntInRange(0, 5) else sl


def _out(fdp, shape, dtype):
    """An out= array (or not) for the call; None where the arguments suggest none."""
    k = fdp.ConsumeIntInRange(0, 7)
    try:
        dims = tuple(int(d) for d in (shape if isinstance(shape, (tuple, list)) else (shape,)))
        dt = np.dtype(dtype) if fdp.ConsumeIntInRange(0, 3) else np.dtype("f8")
        if math.prod(dims) > 4096 or any(d < 0 for d in dims) or dt.itemsize > 64:
            return None
        a = np.full(dims, 7, dtype=dt)
        if k == 1:
            a.setflags(write=False)
        elif k == 2 and a.ndim:
            a = a[..., ::2]
        elif k == 3:
            a = a.reshape(-1)
        elif k == 4:
            a = a.astype(a.dtype.newbyteorder())
        elif k == 5:
            raw = np.zeros(a.nbytes + 1, np.uint8)
            a = np.frombuffer(raw.data, a.dtype, count=a.size, offset=1).reshape(a.shape)
        elif k == 6:
            return a.tolist()
        return a
    except Exception:  # noqa: BLE001 - the harness's own construction failed: no out=
        return None


def _snapshot(out):
    return out.tobytes() if isinstance(out, np.ndarray) else None


def _check_exception(exc):
    if not isinstance(exc, ALLOWED):
        raise exc
    msg = str(exc)
    if not any(name in msg for name in NAMES):
        where = "".join(traceback.format_exception(exc)[-4:])
        raise AssertionError(f"{type(exc).__name__} names no parameter: {msg!r}\n{where}") from exc


def TestOneInput(data):
    fdp = atheris.FuzzedDataProvider(data)
    which = fdp.ConsumeIntInRange(0, 5)
    out = before = None
    try:
        if which <= 2:
            fill = ("uniform", "normal", "truncated_normal")[which]
            shape = _shape(fdp)
            kwargs = {"seed": _value(fdp, "int"), "stream": _value(fdp, "int"),
                      "dtype": _value(fdp, "dtype")}
            for name in PARAMS[fill]:
                if fdp.ConsumeBool():
                    kwargs[name] = _value(fdp, "float")
            if fdp.ConsumeIntInRange(0, 2) == 0:
                kwargs["block"] = _block(fdp, shape)
            if fdp.ConsumeIntInRange(0, 2) == 0:
                out = _out(fdp, shape, kwargs["dtype"])
                before = _snapshot(out)
                kwargs["out"] = out
            try:
                res = getattr(fastki, fill)(shape, **kwargs)
            except ALLOWED:
                raise
            except Exception as exc:
                raise AssertionError(f"{fill}({shape!r:.300}, **{kwargs!r:.600}) raised "
                                     f"{type(exc).__name__}: {exc}") from exc
            if res.dtype.kind == "f" and res.size and np.isnan(res.astype(np.float64)).any():
                raise AssertionError(f"{fill} returned NaN")
            if out is not None and res is not out:
                raise AssertionError("out= given but another array returned")
        elif which == 3:
            n = _value(fdp, "int")
            if isinstance(n, (int, np.integer)) and 2**16 < int(n) < 2**40:
                n = 2**44
            fastki.random_raw(n, seed=_value(fdp, "int"), stream=_value(fdp, "int"),
                              offset=_value(fdp, "int"))
        elif which == 4:
            def arr():
                k = fdp.ConsumeIntInRange(0, 3)
                if k == 0:
                    return fdp.PickValueInList(OTHER)
                shape = tuple(fdp.ConsumeIntInRange(0, 5) for _ in range(fdp.ConsumeIntInRange(0, 3)))
                dt = fdp.PickValueInList([np.uint32, np.uint64, np.int64, np.float32, object, ">u4"])
                a = np.zeros(shape, dtype=dt)
                return a.tolist() if k == 2 else a
            fastki.philox4x32_10(arr(), arr())
        else:
            with fastki.options(backend=_value(fdp, "dtype") if fdp.ConsumeBool() else None,
                                simd=fdp.PickValueInList(OTHER) if fdp.ConsumeBool() else None,
                                num_threads=_value(fdp, "int") if fdp.ConsumeBool() else None):
                fastki.uniform(3, seed=1)
    except ALLOWED as exc:
        _check_exception(exc)
        if before is not None and _snapshot(out) != before:
            raise AssertionError("a refused out= was written to") from exc


def main():
    # a safety net: an output that the OS would grant but that takes seconds to fill becomes a
    # MemoryError (documented) instead of stalling the fuzzer
    with open("/proc/self/statm") as f:
        size = int(f.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + (2 << 30)
    resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard), hard))
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
