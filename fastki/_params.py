"""Distribution parameters: the one place where validated arguments become the numbers both
backends consume (docs/algorithm.md, section 7).

Here, and only here: rounding to the working type, the interval ends rounded inward (so
no value leaves the interval the caller asked for), the standard normal CDF for truncated
intervals, the reach checks that refuse overflow, and the bounds that keep float16/bfloat16
values inside their interval. fastki.torch and the initializers use these functions rather
than rounding parameters themselves.

params_for is the way in: it checks the distribution arguments, derives the parameters once
and remembers them in the compiled module's accepted table (fastki/_native.pyx, "the common
call"), fastki's one memo of parameters, which also lets later common calls skip Python."""
import decimal
import math
from decimal import Decimal
from fractions import Fraction

import numpy as np

from ._validate import _NATIVE_DTYPES, _finite_arg, _float_arg

try:
    from . import _native
except ImportError:  # the NumPy backend alone: parameters are derived on every call
    _native = None

# The distributions' codes in the kernel (src_c/fastki.h, fastki_request.dist)
DIST_CODES = {"uniform": 0, "normal": 1, "truncated_normal": 2}

# Smallest Phi(upper) - Phi(lower) a dtype can sample: the smallest probability drawn,
# 2**-24 (float32) or 2**-53 (float64) of it, must stay a normal number.
_MIN_TRUNCATED_MASS = {"float32": 2.0 ** -100, "float64": 2.0 ** -960}


class _Params:
    """Distribution parameters as both backends consume them (docs/algorithm.md)."""

    __slots__ = ("loc", "scale", "value_min", "value_max", "p_low", "p_width", "mirror",
                 "astuple", "reach", "ends")

    def __init__(self, loc, scale, value_min=0.0, value_max=0.0, p_low=0.0, p_width=0.0,
                 mirror=0):
        self.loc, self.scale, self.value_min, self.value_max = loc, scale, value_min, value_max
        self.p_low, self.p_width, self.mirror = p_low, p_width, mirror
        self.reach = math.inf  # largest |value| returned; set by the _*_params functions
        # The interval the caller asked for, exactly: (low, high, high_is_open, degenerate),
        # ends as floats or Fractions, +-inf for none; None for normal (unbounded). Used to
        # keep float16/bfloat16 values inside it (_narrow_bounds).
        self.ends = None
        # what the C kernel takes: doubles that hold the dtype-rounded values exactly
        self.astuple = (float(loc), float(scale), float(value_min), float(value_max),
                        float(p_low), float(p_width), int(mirror))

    def as_dtype(self, dtype):
        t = dtype.type
        return _Params(t(self.loc), t(self.scale), t(self.value_min), t(self.value_max),
                       t(self.p_low), t(self.p_width), self.mirror)


def _to_dtype(value, t, name):
    with np.errstate(over="ignore"):
        v = t(value)
    if math.isinf(v) and not math.isinf(value):
        raise ValueError(f"{name}={value!r} is out of range for {np.dtype(t).name}")
    return v


def _round_inward(value, t, up):
    """value (a float or an exact Fraction) rounded to dtype t, moved one step inward if
    rounding went outward: the smallest t >= value (up) or the largest t <= value.
    (Through float64 first, as numpy does for float32: ml_dtypes' bfloat16 takes no
    Fraction. A double rounding can only land on a neighbour, which the exact comparison
    below then corrects.)"""
    with np.errstate(over="ignore"):
        v = t(float(value))
    if up and float(v) < value:
        v = np.nextafter(v, t(np.inf))
    elif not up and float(v) > value:
        v = np.nextafter(v, t(-np.inf))
    return v


def _below(value, t):
    """The largest t strictly below value (the top of a half-open interval)."""
    v = _round_inward(value, t, False)
    return np.nextafter(v, t(-np.inf)) if float(v) == value else v


def _interval_in(low, high, high_open, degenerate, t, what):
    """(lo, hi) in dtype t: the values of t inside the caller's interval [low, high] (or
    [low, high) when high_open), ends rounded inward. A degenerate interval (one point:
    minval == maxval, stddev == 0) gives that point rounded to nearest. An interval that
    holds no value of t is refused: every value returned must lie inside it."""
    if degenerate:
        with np.errstate(over="ignore"):
            v = t(float(low))
        return v, v
    lo = t(-np.inf) if low == -math.inf else _round_inward(low, t, True)
    if high == math.inf:
        hi = t(np.inf)
    else:
        hi = _below(high, t) if high_open else _round_inward(high, t, False)
    if not lo <= hi:
        close = ")" if high_open else "]"
        raise ValueError(f"{what}: the interval [{float(low)!r}, {float(high)!r}{close} holds "
                         f"no {np.dtype(t).name} value")
    return lo, hi


def _phi(x):
    """The standard normal CDF at the float x, as an exact-enough Decimal (50 digits).

    Computed with Python's decimal module, not libm's erfc: libm differs between platforms
    in the last bit, and these probabilities are parameters of the kernel, so the values
    of truncated_normal would too. Decimal arithmetic is the same everywhere."""
    if math.isinf(x):
        return Decimal(0) if x < 0 else Decimal(1)
    with decimal.localcontext() as ctx:
        ctx.prec = 50
        z = Decimal(x)  # exact
        density = (-(z * z) / 2).exp() / _SQRT_2PI
        if abs(z) <= 5:
            # Marsaglia: Phi(z) = 1/2 + density * (z + z^3/3 + z^5/(3*5) + ...)
            term = total = z
            z2, k = z * z, 1
            while abs(term) > total.copy_abs() * Decimal("1e-52") or k < 3:
                k += 2
                term = term * z2 / k
                total += term
            result = Decimal("0.5") + density * total
        else:
            # upper tail Q(|z|) = density / (|z| + 1/(|z| + 2/(|z| + 3/(|z| + ...)))), from
            # the back; 200 terms are far past convergence for |z| > 5
            a, fraction = abs(z), Decimal(0)
            for k in range(200, 0, -1):
                fraction = k / (a + fraction)
            tail = density / (a + fraction)
            result = tail if z < 0 else 1 - tail
        return +result


with decimal.localcontext() as _ctx:
    _ctx.prec = 60
    _SQRT_2PI = (2 * Decimal(
        "3.14159265358979323846264338327950288419716939937510582097494459230781640628620899"
    )).sqrt()


def _uniform_params(minval, maxval, dtname):
    minval, maxval = _finite_arg(minval, "minval"), _finite_arg(maxval, "maxval")
    if minval > maxval:
        raise ValueError(f"minval must not exceed maxval, got minval={minval!r} > maxval={maxval!r}")
    t = _NATIVE_DTYPES[dtname].type
    lo, hi = _to_dtype(minval, t, "minval"), _to_dtype(maxval, t, "maxval")
    span = float(hi) - float(lo)
    if math.isinf(span):
        raise ValueError(f"maxval - minval = {maxval!r} - {minval!r} is out of range for {dtname}")
    scale = _to_dtype(span, t, "maxval - minval")
    ends = (minval, maxval, True, minval == maxval)
    vmin, vmax = _interval_in(*ends, t, "minval, maxval")
    p = _Params(lo, scale, vmin, vmax)
    p.reach = max(abs(float(lo)), abs(float(hi)))
    p.ends = ends
    return p


def _normal_params(mean, stddev, dtname):
    mean, stddev = _checked_mean_stddev(mean, stddev)
    t = _NATIVE_DTYPES[dtname].type
    p = _Params(_to_dtype(mean, t, "mean"), _to_dtype(stddev, t, "stddev"))
    p.reach = abs(float(p.loc)) + float(p.scale) * _Z_REACH["normal"][dtname]
    _check_reach(p.reach, dtname, "normal")
    return p


# Largest |z| each transform returns (docs/algorithm.md), rounded up: Box-Muller's radius at
# the smallest u, sqrt(-2 ln 2**-24) = 5.768 (float32) and sqrt(-2 ln 2**-53) = 8.572
# (float64); the inverse normal CDF at the smallest probability a truncated interval samples
# (_MIN_TRUNCATED_MASS times 2**-24 or 2**-53): |z| = 12.84 and 37.35.
_Z_REACH = {"normal": {"float32": 5.77, "float64": 8.58},
            "truncated_normal": {"float32": 12.9, "float64": 37.4}}
# Largest finite value of each output dtype (bfloat16: (2 - 2**-7) * 2**127)
_DTYPE_MAX = {"float32": float(np.finfo(np.float32).max), "float64": float(np.finfo(np.float64).max),
              "float16": float(np.finfo(np.float16).max), "bfloat16": (2 - 2**-7) * 2.0**127}
_PARAM_NAMES = {"uniform": "minval, maxval", "normal": "mean, stddev",
                "truncated_normal": "mean, stddev, lower, upper"}


def _check_reach(reach, dtname, dist):
    """Refuse parameters for which some values would overflow dtname to inf."""
    if not reach <= _DTYPE_MAX[dtname]:
        raise ValueError(f"{_PARAM_NAMES[dist]}: values would reach {reach:.4g} in magnitude, "
                         f"beyond the largest {dtname} ({_DTYPE_MAX[dtname]:.4g})")


def _interval_end(m, s, z):
    """m + s * z for finite z, exactly (a Fraction), so that _round_inward rounds the true end
    inward: float arithmetic could round it half an ulp outward, or overflow in s * z although
    the sum is finite (1e308 + 1e308 * -2). An end beyond float64's range becomes float64's
    largest value, which is inside it; the kernel's clamp then never lets a value out."""
    v = Fraction(m) + Fraction(s) * Fraction(z)
    return v if abs(v) <= _F64_MAX else (_F64_MAX if v > 0 else -_F64_MAX)


_F64_MAX = float(np.finfo(np.float64).max)


def _checked_mean_stddev(mean, stddev):
    mean, stddev = _finite_arg(mean, "mean"), _finite_arg(stddev, "stddev")
    if stddev < 0:
        raise ValueError(f"stddev must be non-negative, got {stddev!r}")
    return mean, stddev


def _truncated_params(mean, stddev, lower, upper, dtname):
    mean, stddev = _checked_mean_stddev(mean, stddev)
    lower, upper = _float_arg(lower, "lower"), _float_arg(upper, "upper")
    if not lower < upper:
        raise ValueError(f"lower must be less than upper, got lower={lower!r}, upper={upper!r}")
    t = _NATIVE_DTYPES[dtname].type
    m, s = _to_dtype(mean, t, "mean"), _to_dtype(stddev, t, "stddev")
    mirror = lower + upper > 0  # sample the side where probabilities keep their precision
    a, b = (-upper, -lower) if mirror else (lower, upper)
    phi_a = _phi(a)
    p_low = float(phi_a)  # Decimal -> float rounds correctly
    p_width = float(_phi(b) - phi_a)
    if not p_width >= _MIN_TRUNCATED_MASS[dtname]:
        raise ValueError(
            f"lower={lower!r}, upper={upper!r}: the interval holds probability {p_width:.3g} "
            f"under the standard normal, below the {_MIN_TRUNCATED_MASS[dtname]:.3g} that "
            f"{dtname} can sample")
    # The ends from the caller's mean and stddev, exactly, not from their rounded values:
    # every value must lie inside [mean + lower*stddev, mean + upper*stddev] as asked.
    vmin = _interval_end(mean, stddev, lower) if math.isfinite(lower) else -math.inf
    vmax = _interval_end(mean, stddev, upper) if math.isfinite(upper) else math.inf
    # stddev == 0: every value is mean (rounded to nearest), whatever lower and upper are
    ends = (mean, mean, False, True) if stddev == 0 else (vmin, vmax, False, False)
    lo, hi = _interval_in(*ends, t, "mean, stddev, lower, upper")
    p = _Params(m, s, lo, hi, t(p_low), t(p_width), int(mirror))
    # an infinite end leaves m + s * z unclamped on that side
    far = abs(float(m)) + float(s) * _Z_REACH["truncated_normal"][dtname]
    p.ends = ends
    p.reach = max(abs(float(lo)) if math.isfinite(lower) else far,
                  abs(float(hi)) if math.isfinite(upper) else far)
    _check_reach(p.reach, dtname, "truncated_normal")
    return p


_DERIVE = {"uniform": _uniform_params, "normal": _normal_params,
           "truncated_normal": _truncated_params}


def params_for(dist, args, dtname):
    """The _Params of distribution dist for its arguments args (a tuple of floats: minval,
    maxval; mean, stddev; or mean, stddev, lower, upper) in the working dtype dtname
    ("float32" or "float64"). Raises ValueError/TypeError naming the argument for any it
    refuses; what it accepts is remembered by the bits of args (so -0.0 is not 0.0)."""
    if _native is None:
        return _DERIVE[dist](*args, dtname)
    code, is_f64 = DIST_CODES[dist], dtname == "float64"
    params = _native.accepted_params(code, is_f64, args)
    if params is None:
        params = _DERIVE[dist](*args, dtname)  # raises for arguments it refuses
        _native.accept_params(code, is_f64, args, params)
    return params


def forget_params():
    """Forget every remembered parameter set (tests: the next call derives afresh)."""
    if _native is not None:
        _native.forget_params()


def _narrow_bounds(dist, params, dtype):
    """(lo, hi) as float32 values, or None: the clamp that keeps a float16/bfloat16 value of
    dist inside its interval. Rounding a float32 value to the narrower type can reach maxval
    (uniform's [minval, maxval)) or step past an end of the interval (0.3 in float16 is
    0.30005); a float32 value first clamped to bounds that the narrow type holds, inside the
    caller's interval, rounds to a value within them (rounding is monotonic)."""
    if params.ends is None:
        return None
    what = "minval, maxval" if dist == "uniform" else "mean, stddev, lower, upper"
    lo, hi = _interval_in(*params.ends, dtype.type, what)
    return np.float32(lo), np.float32(hi)
