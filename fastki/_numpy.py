"""The fastki algorithm in pure NumPy: the fallback backend and the oracle for the C kernel.

Every step here is the one written in docs/algorithm.md and in src_c/, in the same order,
each an individually rounded IEEE operation in the output dtype, so both backends produce
the same bits. Work is done in bounded chunks of whole groups: no temporary grows with the
output, and float32 results never take a float64 detour.
"""
import numpy as np

from . import _constants as K

U32 = np.uint32
U64 = np.uint64
_MASK32 = U64(0xFFFFFFFF)

# Groups processed per chunk: 4096 groups of 16 Philox blocks = 327,680 float32 elements,
# a few MiB of temporaries whatever the size of the fill.
_CHUNK_GROUPS = 4096


# --------------------------------------------------------------------------- generator

def philox4x32_10(counter, key):
    """Philox4x32-10 over arrays: counter (..., 4) and key (..., 2) uint32 -> (..., 4)."""
    counter = np.asarray(counter, dtype=U32)
    key = np.asarray(key, dtype=U32)
    c0, c1, c2, c3 = (counter[..., i] for i in range(4))
    k0, k1 = key[..., 0], key[..., 1]
    c0, c1, c2, c3 = _philox_words(c0, c1, c2, c3, k0, k1)
    return np.stack([c0, c1, c2, c3], axis=-1)


def _philox_words(c0, c1, c2, c3, k0, k1):
    """Ten Philox rounds on uint32 arrays (Random123's word order); returns four arrays."""
    k0 = np.asarray(k0, dtype=U32)
    k1 = np.asarray(k1, dtype=U32)
    m0, m1 = U64(K.PHILOX_M4x32_0), U64(K.PHILOX_M4x32_1)
    w0 = np.asarray(K.PHILOX_W32_0, dtype=U32)
    w1 = np.asarray(K.PHILOX_W32_1, dtype=U32)
    for rnd in range(K.PHILOX_ROUNDS):
        if rnd:  # 0-d arrays wrap mod 2**32 silently, as uint32 arithmetic in C does
            k0 = np.add(k0, w0, dtype=U32)
            k1 = np.add(k1, w1, dtype=U32)
        p0 = c0.astype(U64) * m0
        p1 = c2.astype(U64) * m1
        c0, c1, c2, c3 = (
            (p1 >> U64(32)).astype(U32) ^ c1 ^ k0,
            (p1 & _MASK32).astype(U32),
            (p0 >> U64(32)).astype(U32) ^ c3 ^ k1,
            (p0 & _MASK32).astype(U32),
        )
    return c0, c1, c2, c3


def _blocks(seed, stream, first_block, nblocks):
    """The four output words of Philox blocks first_block .. first_block + nblocks - 1."""
    b = np.arange(nblocks, dtype=U64) + U64(first_block)  # wraps mod 2**64, as the C kernel
    c0 = (b & _MASK32).astype(U32)
    c1 = (b >> U64(32)).astype(U32)
    c2 = np.full(nblocks, stream & 0xFFFFFFFF, dtype=U32)
    c3 = np.full(nblocks, stream >> 32, dtype=U32)
    return _philox_words(c0, c1, c2, c3, U32(seed & 0xFFFFFFFF), U32(seed >> 32))


def random_raw(n, seed, stream, offset):
    """Words offset .. offset + n - 1 of the stream (seed, stream), as uint32."""
    out = np.empty(n, dtype=U32)
    words_per_chunk = 4 * K.GROUP_BLOCKS * _CHUNK_GROUPS
    done = 0
    while done < n:
        j = offset + done
        first_block = j // 4
        take = min(n - done, words_per_chunk - (j % 4))
        nblocks = (j % 4 + take + 3) // 4
        w = np.stack(_blocks(seed, stream, first_block, nblocks), axis=-1).reshape(-1)
        out[done:done + take] = w[j % 4:j % 4 + take]
        done += take
    return out


# --------------------------------------------------------------------------- bit fields

def _fields24(words):
    """Five 24-bit fields per block (docs/algorithm.md, "float32 elements")."""
    w0, w1, w2, w3 = words
    s8 = U32(8)
    low = U32(0xFF)
    f4 = (w0 & low) | ((w1 & low) << s8) | ((w2 & low) << U32(16))
    return (w0 >> s8, w1 >> s8, w2 >> s8, w3 >> s8, f4)


def _fields53(words):
    """Two 53-bit fields per block as (high 27 bits, low 26 bits) pairs of int32."""
    w0, w1, w2, w3 = words
    return (((w0 >> U32(5)).astype(np.int32), (w1 >> U32(6)).astype(np.int32)),
            ((w2 >> U32(5)).astype(np.int32), (w3 >> U32(6)).astype(np.int32)))


# --------------------------------------------------------------------------- approximations

def _split_exponent_f32(x):
    """x = 2**e * m with m in [sqrt(1/2), sqrt(2)); x positive, normal. Returns (e float32, m)."""
    bits = x.view(np.int32)
    e = (bits >> 23) - 127
    m = ((bits & 0x007FFFFF) | 0x3F800000).view(np.float32)
    big = m > K.F32_SQRT2
    m = np.where(big, m * np.float32(0.5), m)
    e = e + big.astype(np.int32)
    return e, m


def log_f32(x, exponent_bias=0):
    """ln(x * 2**-exponent_bias) in float32 for positive normal float32 x (cephes-style)."""
    e, m = _split_exponent_f32(x)
    fe = (e - exponent_bias).astype(np.float32)
    t = m - np.float32(1.0)
    z = t * t
    p = np.full_like(t, K.LOG_F32_P[0])
    for c in K.LOG_F32_P[1:]:
        p = p * t + c
    y = p * t * z
    y = y + fe * K.LOG_F32_LN2_LO
    y = y - np.float32(0.5) * z
    r = t + y
    return r + fe * K.LOG_F32_LN2_HI


def _split_exponent_f64(x):
    bits = x.view(np.int64)
    e = (bits >> 52) - 1023
    m = ((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000).view(np.float64)
    big = m > K.F64_SQRT2
    m = np.where(big, m * 0.5, m)
    e = e + big.astype(np.int64)
    return e, m


def log_f64(x, exponent_bias=0):
    """ln(x * 2**-exponent_bias) in float64 for positive normal float64 x (fdlibm-style)."""
    e, m = _split_exponent_f64(x)
    fe = (e - exponent_bias).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    r = np.full_like(z, K.LOG_F64_LG[-1])
    for c in K.LOG_F64_LG[-2::-1]:
        r = r * z + c
    r = r * z
    hfsq = 0.5 * f * f
    t = s * (hfsq + r) + fe * K.LOG_F64_LN2_LO
    return fe * K.LOG_F64_LN2_HI - ((hfsq - t) - f)


def _sincos_quadrant_f32(y, quadrant):
    """cos and sin of (pi/2) * (quadrant + y), y in (-1/2, 1/2), in float32."""
    t = y * K.F32_HALF_PI
    z = t * t
    s = ((K.SIN_F32[0] * z + K.SIN_F32[1]) * z + K.SIN_F32[2]) * z * t + t
    c = ((K.COS_F32[0] * z + K.COS_F32[1]) * z + K.COS_F32[2]) * z * z
    c = c - np.float32(0.5) * z
    c = c + np.float32(1.0)
    return _rotate(c, s, quadrant)


def _sincos_quadrant_f64(y, quadrant):
    t = y * K.F64_HALF_PI
    z = t * t
    rs = np.full_like(z, K.SIN_F64[-1])
    for c in K.SIN_F64[-2:0:-1]:
        rs = rs * z + c
    s = t + (z * t) * (K.SIN_F64[0] + z * rs)
    rc = np.full_like(z, K.COS_F64[-1])
    for c in K.COS_F64[-2::-1]:
        rc = rc * z + c
    rc = z * rc
    c = 1.0 - (0.5 * z - z * rc)
    return _rotate(c, s, quadrant)


def _rotate(c, s, quadrant):
    """(cos, sin) of the angle turned by quadrant quarter turns."""
    cos = np.where(quadrant == 0, c, np.where(quadrant == 1, -s, np.where(quadrant == 2, -c, s)))
    sin = np.where(quadrant == 0, s, np.where(quadrant == 1, c, np.where(quadrant == 2, -s, -c)))
    return cos, sin


def _angle_f32(f):
    """Quadrant and in-quadrant position of the angle 2*pi*(f + 1/2)/2**24, f a 24-bit field."""
    s = (f + U32(1 << 21)) & U32(0xFFFFFF)
    quadrant = s >> U32(22)
    j = (s & U32(0x3FFFFF)).astype(np.int32)
    y = (2 * j + (1 - (1 << 22))).astype(np.float32) * np.float32(2.0 ** -23)
    return y, quadrant


def _radius_f32(f):
    """sqrt(-2 ln u) for u = (2**24 - f) / 2**24, f a 24-bit field."""
    g = ((1 << 24) - f.astype(np.int32)).astype(np.float32)
    return np.sqrt(log_f32(g, 24) * np.float32(-2.0))


def _pair_f32(fr, fa):
    r = _radius_f32(fr)
    cos, sin = _sincos_quadrant_f32(*_angle_f32(fa))
    return r * cos, r * sin


def _ppnd(p, coef, log, dtype):
    """Inverse of the standard normal CDF at p in (0, 1): Wichura's AS 241, branch-free."""
    one = dtype.type(1.0)
    q = p - dtype.type(0.5)
    rc = dtype.type(K.AS241_CONST1) - q * q
    num = _horner(coef["a"], rc)
    den = _horner(coef["b"], rc)
    central = (q * num) / den
    one_minus = one - p
    pt = np.where(p < one_minus, p, one_minus)
    rt = np.sqrt(-log(pt))
    far = rt > dtype.type(K.AS241_SPLIT2)
    rr = np.where(far, rt - dtype.type(K.AS241_SPLIT2), rt - dtype.type(K.AS241_CONST2))
    num = np.where(far, _horner(coef["e"], rr), _horner(coef["c"], rr))
    den = np.where(far, _horner(coef["f"], rr), _horner(coef["d"], rr))
    tail = num / den
    tail = np.where(q < 0, -tail, tail)
    return np.where(np.abs(q) <= dtype.type(K.AS241_SPLIT1), central, tail)


def _horner(coefs, x):
    """coefs highest degree first."""
    acc = np.full_like(x, coefs[0])
    for c in coefs[1:]:
        acc = acc * x + c
    return acc


# --------------------------------------------------------------------------- distributions

def _group_values(dist, dtype, words, p):
    """Values of whole groups: words are the four word arrays of 16*G consecutive blocks."""
    G = words[0].shape[0] // K.GROUP_BLOCKS
    words = tuple(w.reshape(G, K.GROUP_BLOCKS) for w in words)
    if dtype == np.float32:
        fields = _fields24(words)
        if dist == "normal":
            z0, z1 = _pair_f32(fields[0], fields[1])
            z2, z3 = _pair_f32(fields[2], fields[3])
            f4 = fields[4]
            z4, z5 = _pair_f32(f4[:, :8], f4[:, 8:])
            z = np.concatenate([z0, z1, z2, z3, z4, z5], axis=1)
            return p.loc + p.scale * z
        parts = [f.astype(np.int32) for f in fields]
        if dist == "uniform":
            u = np.stack(parts, axis=1).astype(np.float32) * np.float32(2.0 ** -24)
            return clamp(p.loc + p.scale * u, p.value_min, p.value_max).reshape(G, -1)
        # truncated normal: u = (f | 1) / 2**24, odd multiples of 2**-24 in (0, 1)
        u = (np.stack(parts, axis=1) | 1).astype(np.float32) * np.float32(2.0 ** -24)
        return _truncated(u, p, np.dtype(np.float32)).reshape(G, -1)
    fields = _fields53(words)
    if dist == "normal":
        (a0, b0), (a1, b1) = fields
        m = a0.astype(np.float64) * 2.0 ** 26 + b0.astype(np.float64)
        r = np.sqrt(log_f64(2.0 ** 53 - m, 53) * -2.0)
        s = (a1 + (1 << 24)) & ((1 << 27) - 1)
        quadrant = s >> 25
        ja = s & ((1 << 25) - 1)
        y = ((2 * ja - (1 << 25)).astype(np.float64) * 2.0 ** 26
             + (2 * b1 + 1).astype(np.float64)) * 2.0 ** -52
        cos, sin = _sincos_quadrant_f64(y, quadrant)
        z = np.concatenate([r * cos, r * sin], axis=1)
        return p.loc + p.scale * z
    a = np.stack([fields[0][0], fields[1][0]], axis=1).astype(np.float64)
    if dist == "uniform":
        b = np.stack([fields[0][1], fields[1][1]], axis=1).astype(np.float64)
        u = (a * 2.0 ** 26 + b) * 2.0 ** -53
        return clamp(p.loc + p.scale * u, p.value_min, p.value_max).reshape(G, -1)
    b = (np.stack([fields[0][1], fields[1][1]], axis=1) | 1).astype(np.float64)
    u = (a * 2.0 ** 26 + b) * 2.0 ** -53
    return _truncated(u, p, np.dtype(np.float64)).reshape(G, -1)


def _truncated(u, p, dtype):
    prob = p.p_low + u * p.p_width
    if dtype == np.float32:
        z = _ppnd(prob, K.AS241_PPND7, log_f32, dtype)
    else:
        z = _ppnd(prob, K.AS241_PPND16, log_f64, dtype)
    if p.mirror:
        z = -z
    return clamp(p.loc + p.scale * z, p.value_min, p.value_max)


def clamp(x, lo, hi):
    """x with values strictly below lo replaced by lo and strictly above hi by hi, in place
    (docs/algorithm.md, "Clamps"): a value equal to a bound keeps its own bits, so -0.0
    against a bound of +0.0 stays -0.0. (np.minimum/np.maximum/np.clip may return either
    zero; the C kernel's `x > hi ? hi : x` keeps x.)"""
    np.copyto(x, lo, where=x < lo)
    np.copyto(x, hi, where=x > hi)
    return x


def fill(dist, out, seed, stream, first, params):
    """Fill the 1-D contiguous array out with elements first .. first + out.size - 1."""
    dtype = out.dtype
    per_group = K.ELEMENTS_PER_GROUP[dtype.name]
    p = params.as_dtype(dtype)
    n = out.size
    done = 0
    while done < n:
        e = first + done
        g = e // per_group
        skip = e - g * per_group
        ngroups = min(_CHUNK_GROUPS, (skip + (n - done) + per_group - 1) // per_group)
        words = _blocks(seed, stream, g * K.GROUP_BLOCKS, ngroups * K.GROUP_BLOCKS)
        vals = _group_values(dist, dtype, words, p).reshape(-1)
        take = min(n - done, vals.size - skip)
        out[done:done + take] = vals[skip:skip + take]
        done += take
    return out
