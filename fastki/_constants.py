"""Constants of the fastki algorithm (docs/algorithm.md), typed as the arithmetic uses them.

src_c/philox.h and src_c/approx.h hold the same numbers for the C kernel, written as C
literals; tests/test_constants.py reads back the constants the kernel was compiled with
(fastki._native.compiled_constants) and compares them with these bit for bit.
"""
import numpy as np

f32, f64 = np.float32, np.float64

# The stream version (docs/algorithm.md, "Stream version"): the version of every value
# fastki makes. Any change to any value for arguments that were accepted before bumps it,
# and CHANGELOG.md lists which arguments changed; tests/data/golden.json is keyed by it.
STREAM_VERSION = 2

# Philox4x32-10, Random123's constants (Salmon et al., SC'11): multipliers and Weyl key bumps
# (the bumps are the golden ratio and sqrt(3) - 1 as 32-bit fixed-point fractions).
PHILOX_M4x32_0 = 0xD2511F53
PHILOX_M4x32_1 = 0xCD9E8D57
PHILOX_W32_0 = 0x9E3779B9
PHILOX_W32_1 = 0xBB67AE85
PHILOX_ROUNDS = 10

# Layout: a group is 16 consecutive Philox blocks (the widest SIMD path, AVX-512, holds one
# group per register). float32 elements take 24 bits, five per block; float64 take 53, two.
GROUP_BLOCKS = 16
ELEMENTS_PER_GROUP = {"float32": 80, "float64": 32}

F32_SQRT2 = f32(1.41421356237309504880)
F64_SQRT2 = f64(1.41421356237309504880)
F32_HALF_PI = f32(1.57079632679489661923)
F64_HALF_PI = f64(1.57079632679489661923)

# float32 log on [sqrt(1/2), sqrt(2)): ln(1+t) = t - t^2/2 + t^3 P(t), P from Cephes' logf
# (S. Moshier), highest degree first; ln 2 split so that e * LN2_HI is exact for |e| < 512.
LOG_F32_P = tuple(f32(c) for c in (
    7.0376836292e-2, -1.1514610310e-1, 1.1676998740e-1, -1.2420140846e-1, 1.4249322787e-1,
    -1.6668057665e-1, 2.0000714765e-1, -2.4999993993e-1, 3.3333331174e-1))
LOG_F32_LN2_HI = f32(0.693359375)
LOG_F32_LN2_LO = f32(-2.12194440e-4)

# float64 log: ln(1+f) = 2 atanh(s), s = f/(2+f), R(z) = Lg1 z + ... + Lg7 z^7 from fdlibm's
# e_log.c (Sun Microsystems), lowest degree first.
LOG_F64_LG = tuple(f64(c) for c in (
    6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
    2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
    1.479819860511658591e-01))
LOG_F64_LN2_HI = f64(6.93147180369123816490e-01)
LOG_F64_LN2_LO = f64(1.90821492927058770002e-10)

# sin and cos on [-pi/4, pi/4]. float32: Cephes' sinf/cosf minimax coefficients, highest
# degree first. float64: fdlibm's k_sin.c S1..S6 and k_cos.c C1..C6, lowest degree first.
SIN_F32 = (f32(-1.9515295891e-4), f32(8.3321608736e-3), f32(-1.6666654611e-1))
COS_F32 = (f32(2.443315711809948e-5), f32(-1.388731625493765e-3), f32(4.166664568298827e-2))
SIN_F64 = tuple(f64(c) for c in (
    -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
    2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10))
COS_F64 = tuple(f64(c) for c in (
    4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
    -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11))

# Inverse normal CDF: M. J. Wichura, Algorithm AS 241, Applied Statistics 37 (1988) 477-484.
# PPND7 (about 7 digits) serves float32, PPND16 (about 16 digits) float64. Highest degree
# first; denominators end in their constant term 1.
AS241_SPLIT1 = 0.425
AS241_SPLIT2 = 5.0
AS241_CONST1 = 0.180625
AS241_CONST2 = 1.6

AS241_PPND7 = {k: tuple(f32(c) for c in v) for k, v in {
    "a": (5.9109374720e+01, 1.5929113202e+02, 5.0434271938e+01, 3.3871327179e+00),
    "b": (6.7187563600e+01, 7.8757757664e+01, 1.7895169469e+01, 1.0),
    "c": (1.7023821103e-01, 1.3067284816e+00, 2.7568153900e+00, 1.4234372777e+00),
    "d": (1.2021132975e-01, 7.3700164250e-01, 1.0),
    "e": (1.7337203997e-02, 4.2868294337e-01, 3.0812263860e+00, 6.6579051150e+00),
    "f": (1.2258202635e-02, 2.4197894225e-01, 1.0),
}.items()}

AS241_PPND16 = {k: tuple(f64(c) for c in v) for k, v in {
    "a": (2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4,
          4.5921953931549871457e+4, 1.3731693765509461125e+4, 1.9715909503065514427e+3,
          1.3314166789178437745e+2, 3.3871328727963666080e+0),
    "b": (5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4,
          2.1213794301586595867e+4, 5.3941960214247511077e+3, 6.8718700749205790830e+2,
          4.2313330701600911252e+1, 1.0),
    "c": (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
          1.27045825245236838258e+0, 3.64784832476320460504e+0, 5.76949722146069140550e+0,
          4.63033784615654529590e+0, 1.42343711074968357734e+0),
    "d": (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
          1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e+0,
          2.05319162663775882187e+0, 1.0),
    "e": (2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
          2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e+0,
          5.46378491116411436990e+0, 6.65790464350110377720e+0),
    "f": (2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
          7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
          5.99832206555887937690e-1, 1.0),
}.items()}
