"""Statistical tests of fastki's distributions, with their power and false-alarm rates.

Every test uses fixed seeds, so it is deterministic: it either always passes or always
fails for a given build. The "false-alarm rate" below is the probability that a correct
generator would fail the test for a seed picked at random; the fixed seeds were not
chosen to pass (they are 1, 2, 3, ...). The "power" says what departure each test detects.
Sample sizes: n = 10**6 for the KS and correlation tests, 10**7 for moments and tails.

Kolmogorov-Smirnov (scipy.stats.kstest), ``test_ks_*``
    Detects any error in the shape of the distribution: the CDF off by more than ~0.004
    anywhere (a wrong scale, a bias, a missing or doubled region, a broken inverse CDF or
    Box-Muller transform) with probability > 0.99 at n = 10**6. Threshold p > 1e-5: the
    false-alarm rate is 1e-5 per test. float32 uniform has 24-bit resolution
    (steps of 6e-8), far below what KS resolves at this n.

Mean and variance, ``test_moments``
    Sample mean within 5 standard errors (sigma / sqrt(n)) of the true mean; sample
    variance within 5 standard errors (sqrt((mu4 - sigma**4) / n)) of the true variance,
    with the true moments from scipy. At n = 10**7 this detects a mean bias of 0.0025 sigma
    or a variance error of 0.35 % (normal) with probability > 0.99. False alarms:
    5.7e-7 per bound (two-sided 5 sigma, normal approximation of the sample moments).

Normal tail frequencies, ``test_normal_tails``
    Counts of |z| > 3 and |z| > 4 among 10**7 normal draws, each within 4 binomial
    standard deviations of its expectation (26998 +- 657 and 633 +- 101). Detects a
    tail frequency off by 4 % (|z| > 3) or 25 % (|z| > 4), e.g. a log or sqrt with a
    poor approximation near u -> 0, with probability > 0.99. False alarms: 6.3e-5 per count.

Correlation (independence), ``test_*correlation*``
    Pearson correlation within 5 / sqrt(n) of 0 (its standard deviation under independence
    is 1 / sqrt(n), whatever the two distributions): neighbouring elements (lag 1), elements
    that share a Philox block or a group (lags 8, 16, 32, 80), streams 0 and 1 and other
    stream/seed pairs, and the two outputs of each Box-Muller pair (float32: elements
    e, e + 16 of columns 0-15 / 16-31 and 32-47 / 48-63 of each group of 80, and e, e + 8 of
    columns 64-71 / 72-79; float64: e, e + 16 of each group of 32), both the values and
    their squares (the squares catch a radius/angle coupling that leaves the values
    uncorrelated). At n = 10**6 a correlation of 0.0073 is detected with probability
    > 0.99. False alarms: 5.7e-7 per coefficient.

Truncated bounds, ``test_truncated_bounds``
    Every value inside [mean + lower*stddev, mean + upper*stddev] (deterministic; any
    violation is a bug), and each finite bound approached within a margin delta chosen so
    that a correct generator leaves [bound, bound +- delta] empty with probability
    (1 - 30/n)**n ~ e**-30 ~ 1e-13 (delta is the distance from the bound to the 30/n
    quantile). Detects a sampler that cannot reach its bounds (e.g. a clipped uniform or an
    inverse CDF that saturates early).

Far-tail truncated intervals, ``test_ks_truncated_far_tail``
    KS against scipy.stats.truncnorm for lower=3, upper=5 and lower=-12, upper=-11, as
    above (false alarm 1e-5 each): detects an inverse CDF that loses precision in the tails.
"""
import functools
import math

import numpy as np
import pytest
import scipy.stats as stats

import fastki

DTYPES = ("float32", "float64")
KS_N = 10**6
BIG_N = 10**7
KS_ALPHA = 1e-5
CORR_SIGMAS = 5.0


@functools.lru_cache(maxsize=4)
def draw(dist, dtype, n, seed, stream=0, params=()):
    a = getattr(fastki, dist)(n, seed=seed, stream=stream, dtype=dtype, **dict(params))
    a.flags.writeable = False
    return a


def ks(x, cdf):
    res = stats.kstest(np.asarray(x, dtype=np.float64), cdf)
    assert res.pvalue > KS_ALPHA, f"KS statistic {res.statistic:.3g}, p = {res.pvalue:.3g}"


def corr(a, b):
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    a = a - a.mean()
    b = b - b.mean()
    return float(a @ b / math.sqrt((a @ a) * (b @ b))), a.size


def assert_uncorrelated(a, b, what):
    r, n = corr(a, b)
    bound = CORR_SIGMAS / math.sqrt(n)
    assert abs(r) < bound, f"{what}: correlation {r:.3g} beyond {bound:.3g} (n={n})"


# --------------------------------------------------------------------------- KS

KS_CASES = [
    ("uniform", {}, stats.uniform()),
    ("uniform", {"minval": -3.0, "maxval": 5.0}, stats.uniform(loc=-3.0, scale=8.0)),
    ("normal", {}, stats.norm()),
    ("normal", {"mean": 2.0, "stddev": 3.0}, stats.norm(loc=2.0, scale=3.0)),
    ("truncated_normal", {}, stats.truncnorm(-2.0, 2.0)),
    ("truncated_normal", {"mean": 1.0, "stddev": 2.0, "lower": -0.5, "upper": 1.5},
     stats.truncnorm(-0.5, 1.5, loc=1.0, scale=2.0)),
    ("truncated_normal", {"lower": 1.0, "upper": 3.0}, stats.truncnorm(1.0, 3.0)),
    ("truncated_normal", {"lower": 0.0, "upper": math.inf}, stats.truncnorm(0.0, math.inf)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist,params,ref", KS_CASES,
                         ids=[f"{d}-{'-'.join(f'{k}={v}' for k, v in p.items()) or 'default'}"
                              for d, p, _ in KS_CASES])
def test_ks(dist, params, ref, dtype):
    ks(draw(dist, dtype, KS_N, 1, 0, tuple(params.items())), ref.cdf)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lower,upper", [(3.0, 5.0), (-12.0, -11.0)])
def test_ks_truncated_far_tail(lower, upper, dtype):
    x = draw("truncated_normal", dtype, KS_N, 2, 0, (("lower", lower), ("upper", upper)))
    ks(x, stats.truncnorm(lower, upper).cdf)


# --------------------------------------------------------------------------- moments

MOMENT_CASES = [
    ("uniform", {}, stats.uniform()),
    ("uniform", {"minval": -1.0, "maxval": 3.0}, stats.uniform(loc=-1.0, scale=4.0)),
    ("normal", {}, stats.norm()),
    ("normal", {"mean": -5.0, "stddev": 0.25}, stats.norm(loc=-5.0, scale=0.25)),
    ("truncated_normal", {}, stats.truncnorm(-2.0, 2.0)),
    ("truncated_normal", {"lower": -1.0, "upper": 2.5}, stats.truncnorm(-1.0, 2.5)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist,params,ref", MOMENT_CASES,
                         ids=[f"{d}-{'-'.join(f'{k}={v}' for k, v in p.items()) or 'default'}"
                              for d, p, _ in MOMENT_CASES])
def test_moments(dist, params, ref, dtype):
    n = BIG_N
    x = draw(dist, dtype, n, 3, 0, tuple(params.items())).astype(np.float64)
    mu, var = float(ref.mean()), float(ref.var())
    mu4 = float(ref.expect(lambda t: (t - mu) ** 4))
    mean = x.mean()
    d = x - mean
    svar = float(d @ d) / (n - 1)
    se_mean = math.sqrt(var / n)
    se_var = math.sqrt((mu4 - var**2) / n)
    assert abs(mean - mu) < 5 * se_mean, f"mean {mean!r}, expected {mu!r} +- {5 * se_mean:.3g}"
    assert abs(svar - var) < 5 * se_var, f"variance {svar!r}, expected {var!r} +- {5 * se_var:.3g}"


# --------------------------------------------------------------------------- tails


@pytest.mark.parametrize("dtype", DTYPES)
def test_normal_tails(dtype):
    n = BIG_N
    z = np.abs(draw("normal", dtype, n, 4))
    for k in (3.0, 4.0):
        p = 2 * stats.norm.sf(k)
        expect = n * p
        sd = math.sqrt(n * p * (1 - p))
        count = int(np.count_nonzero(z > k))
        assert abs(count - expect) < 4 * sd, (
            f"|z| > {k}: {count} of {n}, expected {expect:.1f} +- {4 * sd:.1f}")


def test_uniform_range():
    """[minval, maxval): never maxval, minval reachable in principle, at 10**7 draws."""
    for dtype in DTYPES:
        x = draw("uniform", dtype, BIG_N, 5)
        assert x.min() >= 0.0 and x.max() < 1.0
        # the extremes sit within 30/n of the ends: (1 - 30/n)**n ~ 1e-13 false alarms
        assert x.min() < 30 / BIG_N and x.max() > 1 - 30 / BIG_N
        y = draw("uniform", dtype, KS_N, 5, 0, (("minval", -2.5), ("maxval", -2.25)))
        assert y.min() >= -2.5 and y.max() < -2.25


# --------------------------------------------------------------------------- independence

LAGS = {"float32": (1, 8, 16, 32, 80), "float64": (1, 16, 32)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", ["uniform", "normal", "truncated_normal"])
def test_lag_correlation(dist, dtype):
    x = draw(dist, dtype, KS_N, 6)
    for lag in LAGS[dtype]:
        assert_uncorrelated(x[:-lag], x[lag:], f"{dist} {dtype} lag {lag}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dist", ["uniform", "normal", "truncated_normal"])
def test_stream_and_seed_correlation(dist, dtype):
    n = KS_N
    pairs = [((7, 0), (7, 1)), ((7, 0), (7, 2**32)), ((7, 0), (8, 0)), ((7, 0), (7 + 2**32, 0)),
             ((2**64 - 1, 2**64 - 1), (0, 0))]
    for (s1, t1), (s2, t2) in pairs:
        a = draw(dist, dtype, n, s1, t1)
        b = draw(dist, dtype, n, s2, t2)
        assert_uncorrelated(a, b, f"{dist} {dtype} (seed {s1}, stream {t1}) vs "
                                  f"(seed {s2}, stream {t2})")


def box_muller_pairs(x, dtype):
    """The (cos, sin) outputs of each Box-Muller pair, as two equal-length arrays."""
    if dtype == "float32":
        g = x.reshape(-1, 80)
        firsts = [g[:, 0:16], g[:, 32:48], g[:, 64:72]]
        seconds = [g[:, 16:32], g[:, 48:64], g[:, 72:80]]
    else:
        g = x.reshape(-1, 32)
        firsts, seconds = [g[:, 0:16]], [g[:, 16:32]]
    return (np.concatenate([f.reshape(-1) for f in firsts]),
            np.concatenate([s.reshape(-1) for s in seconds]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_box_muller_pairs_uncorrelated(dtype):
    n = 80 * 32 * 500  # whole groups in both dtypes
    x = draw("normal", dtype, n, 7)
    a, b = box_muller_pairs(x, dtype)
    assert a.size == b.size >= n // 3
    assert_uncorrelated(a, b, f"{dtype} Box-Muller pairs")
    assert_uncorrelated(a * a, b * b, f"{dtype} Box-Muller pairs, squares")
    # each half alone is standard normal: a wrong angle mapping shows up here
    ks(a, stats.norm.cdf)
    ks(b, stats.norm.cdf)


# --------------------------------------------------------------------------- truncated bounds

BOUND_CASES = [
    dict(),
    dict(mean=0.5, stddev=0.25, lower=-1.0, upper=1.5),
    dict(mean=-3.0, stddev=2.0, lower=1.0, upper=3.0),
    dict(lower=0.0, upper=math.inf),
    dict(lower=-math.inf, upper=-0.5),
    dict(lower=3.0, upper=5.0),
    dict(lower=-12.0, upper=-11.0),
    dict(lower=-0.01, upper=0.01),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("params", BOUND_CASES, ids=lambda p: str(p).replace(" ", ""))
def test_truncated_bounds(params, dtype):
    n = KS_N
    x = draw("truncated_normal", dtype, n, 8, 0, tuple(params.items())).astype(np.float64)
    mean, stddev = params.get("mean", 0.0), params.get("stddev", 1.0)
    lower, upper = params.get("lower", -2.0), params.get("upper", 2.0)
    lo, hi = mean + stddev * lower, mean + stddev * upper
    assert np.isfinite(x).all()
    assert x.min() >= lo, f"value {x.min()!r} below the lower bound {lo!r}"
    assert x.max() <= hi, f"value {x.max()!r} above the upper bound {hi!r}"
    ref = stats.truncnorm(lower, upper, loc=mean, scale=stddev)
    q = 30.0 / n
    if math.isfinite(lo):
        delta = float(ref.ppf(q)) - lo
        assert x.min() <= lo + delta, f"lower bound {lo} not approached: min {x.min()!r}"
    if math.isfinite(hi):
        delta = hi - float(ref.isf(q))
        assert x.max() >= hi - delta, f"upper bound {hi} not approached: max {x.max()!r}"
