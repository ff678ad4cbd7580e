/* The fills, written once: fill_<isa>.c includes this file with FASTKI_ISA set, and the
 * build compiles each with its own instruction-set flags. The code works on one group (16
 * Philox blocks) at a time in plain loops over 16 lanes, which the compiler turns into SIMD
 * for the path's vector width. Every float step is one rounded IEEE operation in the order
 * docs/algorithm.md gives (the build forbids contraction into FMA), so every path, and
 * fastki/_numpy.py, produce the same bits. */
#include <float.h>
#include <stdint.h>
#include <string.h>

/* The floating-point contract of docs/algorithm.md, held in the source as well as by the
 * flags of tools/buildflags.py: no contraction of a multiply and an add into one fused
 * operation (compilers that read the standard pragma or MSVC's own take it from here; GCC
 * ignores both and relies on -ffp-contract=off, which ci/wheel.sh finds in every object), and
 * every float operation rounded to its own type. */
#if defined(_MSC_VER) && !defined(__clang__)
#pragma fp_contract(off)
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
/* FLT_EVAL_METHOD 0: float and double operations are evaluated in their own type. 32-bit x86
 * with the x87 unit (FLT_EVAL_METHOD 2) would round intermediates to 80 bits first and give
 * other bytes; tools/buildflags.py builds 32-bit x86 with -msse2 -mfpmath=sse (MSVC:
 * /arch:SSE2, which MSVC reports as _M_IX86_FP == 2 and defines no FLT_EVAL_METHOD for). */
#if defined(FLT_EVAL_METHOD)
#if FLT_EVAL_METHOD != 0
#error "fastki needs FLT_EVAL_METHOD == 0 (float math in its own type); on 32-bit x86 build with -msse2 -mfpmath=sse (tools/buildflags.py)"
#endif
#elif defined(_MSC_VER) && defined(_M_IX86) && !(defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#error "fastki needs SSE2 float math on 32-bit x86: build with /arch:SSE2 (tools/buildflags.py)"
#elif !defined(_MSC_VER)
#error "fastki needs FLT_EVAL_METHOD == 0, and <float.h> does not define FLT_EVAL_METHOD"
#endif

#include "approx.h"
#include "fastki.h"
#include "philox.h"
#include "fpenv.h"

#ifndef FASTKI_ISA
#error "define FASTKI_ISA before including fill_impl.h"
#endif
#define FASTKI_CAT2(a, b) a##_##b
#define FASTKI_CAT(a, b) FASTKI_CAT2(a, b)
#define ISA_FN(name) FASTKI_CAT(name, FASTKI_ISA)

#define L GROUP_BLOCKS

/* sqrt is one correctly rounded IEEE operation (the only "libm" function used, and every
 * compiler makes it an instruction); restrict lets the loops vectorize without alias checks. */
#if defined(__GNUC__) || defined(__clang__)
#define SQRT_F32(x) __builtin_sqrtf(x)
#define SQRT_F64(x) __builtin_sqrt(x)
#define RESTRICT __restrict__
#else
#include <math.h>
#define SQRT_F32(x) sqrtf(x)
#define SQRT_F64(x) sqrt(x)
#define RESTRICT __restrict
#endif

typedef struct {
    uint32_t w[4][L]; /* word i of block first_block + lane */
} group_words;

/* Parameters in the arithmetic type of the fill. */
typedef struct {
    float loc, scale, value_min, value_max, p_low, p_width;
    int mirror;
} params_f32;
typedef struct {
    double loc, scale, value_min, value_max, p_low, p_width;
    int mirror;
} params_f64;

/* The Philox rounds for the 16 blocks of a group. The SIMD paths use explicit intrinsics
 * because compilers do not vectorize the 32x32->64-bit multiply: on x86 one unsigned 32-bit
 * multiply instruction (pmuludq) covers the even lanes, a second one the odd lanes after a
 * 32-bit shift, and masks put high and low halves back in their lanes; on AArch64 (NEON)
 * the low halves come from one lane-wise 32-bit multiply (mul) and the high halves from two
 * widening multiplies (umull, umull2) whose odd 32-bit words one unzip (uzp2) gathers. */
#if defined(FASTKI_VECTOR_NEON)
#if !defined(__aarch64__) && !defined(_M_ARM64)
#error "the neon path is built for AArch64 only (tools/buildflags.py)"
#endif
#include <arm_neon.h>
typedef uint32x4_t vec;
#define VEC_LANES 4
#define vec_load(p) vld1q_u32(p)
#define vec_store(p, v) vst1q_u32(p, v)
#define vec_set1(x) vdupq_n_u32((uint32_t)(x))
#define vec_xor(a, b) veorq_u32(a, b)
#define NVEC (L / VEC_LANES)

/* hi and lo 32-bit halves of a * m for every 32-bit lane (the same words as philox.h's
 * 64-bit product). */
static inline void vec_mulhilo(vec a, vec m, vec *hi, vec *lo)
{
    uint64x2_t p01 = vmull_u32(vget_low_u32(a), vget_low_u32(m)); /* lanes 0, 1 */
    uint64x2_t p23 = vmull_high_u32(a, m);                        /* lanes 2, 3 */
    *hi = vuzp2q_u32(vreinterpretq_u32_u64(p01), vreinterpretq_u32_u64(p23));
    *lo = vmulq_u32(a, m);
}
#define VEC_MULHILO(a, m, hi, lo) vec_mulhilo(a, m, hi, lo)
#define VEC_PHILOX 1
#elif defined(FASTKI_VECTOR_AVX512) || defined(FASTKI_VECTOR_AVX2) || defined(FASTKI_VECTOR_SSE2)
#include <immintrin.h>
#if defined(FASTKI_VECTOR_AVX512)
typedef __m512i vec;
#define VEC_LANES 16
#define vec_load(p) _mm512_loadu_si512((const void *)(p))
#define vec_store(p, v) _mm512_storeu_si512((void *)(p), v)
#define vec_set1(x) _mm512_set1_epi32((int)(x))
#define vec_set1_64(x) _mm512_set1_epi64((long long)(x))
#define vec_add32(a, b) _mm512_add_epi32(a, b)
#define vec_xor(a, b) _mm512_xor_si512(a, b)
#define vec_andnot(a, b) _mm512_andnot_si512(a, b) /* ~a & b */
#define vec_and(a, b) _mm512_and_si512(a, b)
#define vec_or(a, b) _mm512_or_si512(a, b)
#define vec_srli64(a, n) _mm512_srli_epi64(a, n)
#define vec_slli64(a, n) _mm512_slli_epi64(a, n)
#define vec_mul_epu32(a, b) _mm512_mul_epu32(a, b)
#elif defined(FASTKI_VECTOR_AVX2)
typedef __m256i vec;
#define VEC_LANES 8
#define vec_load(p) _mm256_loadu_si256((const __m256i *)(p))
#define vec_store(p, v) _mm256_storeu_si256((__m256i *)(p), v)
#define vec_set1(x) _mm256_set1_epi32((int)(x))
#define vec_set1_64(x) _mm256_set1_epi64x((long long)(x))
#define vec_add32(a, b) _mm256_add_epi32(a, b)
#define vec_xor(a, b) _mm256_xor_si256(a, b)
#define vec_andnot(a, b) _mm256_andnot_si256(a, b) /* ~a & b */
#define vec_and(a, b) _mm256_and_si256(a, b)
#define vec_or(a, b) _mm256_or_si256(a, b)
#define vec_srli64(a, n) _mm256_srli_epi64(a, n)
#define vec_slli64(a, n) _mm256_slli_epi64(a, n)
#define vec_mul_epu32(a, b) _mm256_mul_epu32(a, b)
#else
typedef __m128i vec;
#define VEC_LANES 4
#define vec_load(p) _mm_loadu_si128((const __m128i *)(p))
#define vec_store(p, v) _mm_storeu_si128((__m128i *)(p), v)
#define vec_set1(x) _mm_set1_epi32((int)(x))
#define vec_set1_64(x) _mm_set1_epi64x((long long)(x))
#define vec_add32(a, b) _mm_add_epi32(a, b)
#define vec_xor(a, b) _mm_xor_si128(a, b)
#define vec_andnot(a, b) _mm_andnot_si128(a, b) /* ~a & b */
#define vec_and(a, b) _mm_and_si128(a, b)
#define vec_or(a, b) _mm_or_si128(a, b)
#define vec_srli64(a, n) _mm_srli_epi64(a, n)
#define vec_slli64(a, n) _mm_slli_epi64(a, n)
#define vec_mul_epu32(a, b) _mm_mul_epu32(a, b)
#endif
#define NVEC (L / VEC_LANES)

/* hi and lo 32-bit halves of a * m for every 32-bit lane. */
static inline void vec_mulhilo(vec a, vec m, vec low32, vec *hi, vec *lo)
{
    vec even = vec_mul_epu32(a, m);                 /* lanes 0, 2, ...: 64-bit products */
    vec odd = vec_mul_epu32(vec_srli64(a, 32), m);  /* lanes 1, 3, ... */
    *lo = vec_or(vec_and(even, low32), vec_slli64(odd, 32));
    *hi = vec_or(vec_srli64(even, 32), vec_andnot(low32, odd));
}
#define VEC_MULHILO(a, m, hi, lo) vec_mulhilo(a, m, low32, hi, lo)
#define VEC_PHILOX 1
#endif

#if defined(VEC_PHILOX) && defined(FASTKI_VECTOR_AVX512)

/* AVX-512: one block per 64-bit lane, its word in the low half. The 32x32->64-bit multiply
 * (pmuludq) reads only the low halves and leaves the whole product in the lane: the next
 * counter word's high half is one shift away, and its low half needs no mask, since what sits
 * in a lane's high half never reaches a low half (the XORs keep halves apart and the next
 * multiply ignores it). Half the blocks per register, but fewer operations per round than
 * splitting and merging 32-bit lanes, and two independent registers per word where the
 * 32-bit layout has one long chain of dependent operations. Measured with a C harness over
 * fastki_fill (2**20 elements, one thread): uniform float64 1.8x, normal float32 1.45x, raw
 * words 1.1x faster, uniform float32 the same; on AVX2 the same layout made uniform float32
 * 1.3x slower, so the SSE2 and AVX2 paths keep the 32-bit layout below. The words of
 * philox.h either way. */
#define NV64 (2 * NVEC)        /* registers per word of the group */
#define LANES64 (VEC_LANES / 2) /* blocks per register */
static inline void philox_group(uint64_t seed, uint64_t stream, uint64_t first_block,
                                group_words *g)
{
    const vec mul0 = vec_set1_64(PHILOX_M4x32_0), mul1 = vec_set1_64(PHILOX_M4x32_1);
    const vec stream_lo = vec_set1_64((uint32_t)stream), stream_hi = vec_set1_64(stream >> 32);
    uint64_t block_index[L];
    for (int l = 0; l < L; l++) block_index[l] = first_block + (uint64_t)l;
    vec c0[NV64], c1[NV64], c2[NV64], c3[NV64];
    for (int v = 0; v < NV64; v++) {
        c0[v] = vec_load(block_index + v * LANES64);
        c1[v] = vec_srli64(c0[v], 32);
        c2[v] = stream_lo;
        c3[v] = stream_hi;
    }
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        const vec key0 = vec_set1_64(k0), key1 = vec_set1_64(k1);
        for (int v = 0; v < NV64; v++) {
            vec p0 = vec_mul_epu32(c0[v], mul0), p1 = vec_mul_epu32(c2[v], mul1);
            c0[v] = vec_xor(vec_xor(vec_srli64(p1, 32), c1[v]), key0);
            c2[v] = vec_xor(vec_xor(vec_srli64(p0, 32), c3[v]), key1);
            c1[v] = p1;
            c3[v] = p0;
        }
        k0 += PHILOX_W32_0;
        k1 += PHILOX_W32_1;
    }
    uint64_t words[4][L];
    for (int v = 0; v < NV64; v++) {
        vec_store(words[0] + v * LANES64, c0[v]);
        vec_store(words[1] + v * LANES64, c1[v]);
        vec_store(words[2] + v * LANES64, c2[v]);
        vec_store(words[3] + v * LANES64, c3[v]);
    }
    for (int j = 0; j < 4; j++)
        for (int l = 0; l < L; l++) g->w[j][l] = (uint32_t)words[j][l];
}
#undef NV64
#undef LANES64

#elif defined(VEC_PHILOX) /* 32-bit lanes: SSE2, AVX2, AArch64 */

static inline void philox_group(uint64_t seed, uint64_t stream, uint64_t first_block,
                                group_words *g)
{
    const vec m0 = vec_set1(PHILOX_M4x32_0), m1 = vec_set1(PHILOX_M4x32_1);
    vec c0[NVEC], c1[NVEC], c2[NVEC], c3[NVEC];
#ifdef FASTKI_VECTOR_NEON
    /* counter words of blocks first_block + l in the lanes: the low word plus l, and the
     * high word plus one where that addition wrapped (a lane mask of all ones is -1) */
    static const uint32_t lane_index[L] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const vec base_lo = vec_set1((uint32_t)first_block), base_hi = vec_set1(first_block >> 32);
    for (int v = 0; v < NVEC; v++) {
        c0[v] = vaddq_u32(base_lo, vec_load(lane_index + v * VEC_LANES));
        c1[v] = vsubq_u32(base_hi, vcltq_u32(c0[v], base_lo));
        c2[v] = vec_set1((uint32_t)stream);
        c3[v] = vec_set1((uint32_t)(stream >> 32));
    }
#else
    const vec low32 = vec_set1_64(UINT64_C(0x00000000FFFFFFFF));
    uint32_t lo_words[L], hi_words[L];
    for (int l = 0; l < L; l++) {
        uint64_t b = first_block + (uint64_t)l;
        lo_words[l] = (uint32_t)b;
        hi_words[l] = (uint32_t)(b >> 32);
    }
    for (int v = 0; v < NVEC; v++) {
        c0[v] = vec_load(lo_words + v * VEC_LANES);
        c1[v] = vec_load(hi_words + v * VEC_LANES);
        c2[v] = vec_set1((uint32_t)stream);
        c3[v] = vec_set1((uint32_t)(stream >> 32));
    }
#endif
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
#if defined(FASTKI_VECTOR_NEON) && (defined(__GNUC__) || defined(__clang__))
    /* unrolled, the rounds need no register moves for the c1 = lo1, c3 = lo0 renaming */
#pragma GCC unroll 10
#endif
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        const vec key0 = vec_set1(k0), key1 = vec_set1(k1);
        for (int v = 0; v < NVEC; v++) {
            vec hi0, lo0, hi1, lo1;
            VEC_MULHILO(c0[v], m0, &hi0, &lo0);
            VEC_MULHILO(c2[v], m1, &hi1, &lo1);
            c0[v] = vec_xor(vec_xor(hi1, c1[v]), key0);
            c2[v] = vec_xor(vec_xor(hi0, c3[v]), key1);
            c1[v] = lo1;
            c3[v] = lo0;
        }
        k0 += PHILOX_W32_0;
        k1 += PHILOX_W32_1;
    }
    for (int v = 0; v < NVEC; v++) {
        vec_store(g->w[0] + v * VEC_LANES, c0[v]);
        vec_store(g->w[1] + v * VEC_LANES, c1[v]);
        vec_store(g->w[2] + v * VEC_LANES, c2[v]);
        vec_store(g->w[3] + v * VEC_LANES, c3[v]);
    }
}
#else
/* Scalar path: the same rounds, lane by lane. */
static inline void philox_group(uint64_t seed, uint64_t stream, uint64_t first_block,
                                group_words *g)
{
    for (int l = 0; l < L; l++) {
        philox_ctr w = fastki_stream_block(seed, stream, first_block + (uint64_t)l);
        g->w[0][l] = w.v[0];
        g->w[1][l] = w.v[1];
        g->w[2][l] = w.v[2];
        g->w[3][l] = w.v[3];
    }
}
#endif

/* ------------------------------------------------------------------ float32 lane math */

static inline float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* mask ? a : b, lane by lane, with all-ones or all-zero masks: bit operations keep the
 * compiler from turning a choice between two computed values back into a branch. */
static inline float select_f32(uint32_t mask, float a, float b)
{
    return f32_from_bits((f32_bits(a) & mask) | (f32_bits(b) & ~mask));
}

/* ln(x * 2**-bias) for positive normal x. */
static inline float log_f32(float x, int32_t bias)
{
    uint32_t bits = f32_bits(x);
    uint32_t mbits = (bits & 0x007FFFFFu) | 0x3F800000u; /* x = 2**e * m, m in [1, 2) */
    /* m > sqrt(2): halve m (one less in the exponent field; the same bits as m * 0.5f). The
     * compare is on the bits, which order like the positive floats they encode. */
    uint32_t big = mbits > F32_SQRT2_BITS;
    float m = f32_from_bits(mbits - (big << 23));
    int32_t e = (int32_t)(bits >> 23) - 127 + (int32_t)big;
    float fe = (float)(e - bias);
    float t = m - 1.0f;
    float z = t * t;
    float p = LOG_F32_P0;
    p = p * t + LOG_F32_P1;
    p = p * t + LOG_F32_P2;
    p = p * t + LOG_F32_P3;
    p = p * t + LOG_F32_P4;
    p = p * t + LOG_F32_P5;
    p = p * t + LOG_F32_P6;
    p = p * t + LOG_F32_P7;
    p = p * t + LOG_F32_P8;
    float y = p * t * z;
    y = y + fe * LOG_F32_LN2_LO;
    y = y - 0.5f * z;
    float r = t + y;
    return r + fe * LOG_F32_LN2_HI;
}

/* Box-Muller radius sqrt(-2 ln u), u = (2**24 - f) / 2**24 in [2**-24, 1]. */
static inline float radius_f32(uint32_t f)
{
    float g = (float)((int32_t)(1 << 24) - (int32_t)f);
    return SQRT_F32(log_f32(g, 24) * -2.0f);
}

/* cos and sin of 2 pi (f + 1/2) / 2**24 for a 24-bit field f. */
static inline void sincos_f32(uint32_t f, float *cos_out, float *sin_out)
{
    uint32_t s = (f + (1u << 21)) & 0xFFFFFFu;
    uint32_t quadrant = s >> 22;
    int32_t j = (int32_t)(s & 0x3FFFFFu);
    float y = (float)(2 * j + (1 - (1 << 22))) * 0x1p-23f;
    float t = y * F32_HALF_PI;
    float z = t * t;
    float sn = ((SIN_F32_0 * z + SIN_F32_1) * z + SIN_F32_2) * z * t + t;
    float cs = ((COS_F32_0 * z + COS_F32_1) * z + COS_F32_2) * z * z;
    cs = cs - 0.5f * z;
    cs = cs + 1.0f;
    /* turn by quadrant quarter turns: (c, s) -> (-s, c) -> (-c, -s) -> (s, -c), with bit
     * masks rather than branches: swap on odd quadrants, then flip sign bits */
    uint32_t swap = 0u - (quadrant & 1u);
    uint32_t cb = f32_bits(cs), sb = f32_bits(sn);
    uint32_t c2 = (sb & swap) | (cb & ~swap), s2 = (cb & swap) | (sb & ~swap);
    *cos_out = f32_from_bits(c2 ^ (((quadrant + 1u) & 2u) << 30));
    *sin_out = f32_from_bits(s2 ^ ((quadrant & 2u) << 30));
}

static inline float ppnd7_f32(float p)
{
    static const float A[] = PPND7_A, B[] = PPND7_B, C[] = PPND7_C, D[] = PPND7_D,
                       E[] = PPND7_E, F[] = PPND7_F;
    float q = p - 0.5f;
    float rc = (float)AS241_CONST1 - q * q;
    float num = A[0], den = B[0];
    for (int i = 1; i < 4; i++) {
        num = num * rc + A[i];
        den = den * rc + B[i];
    }
    float central = (q * num) / den;
    float one_minus = 1.0f - p;
    float pt = p < one_minus ? p : one_minus;
    float rt = SQRT_F32(-log_f32(pt, 0));
    uint32_t far = 0u - (uint32_t)(rt > (float)AS241_SPLIT2);
    float rr = select_f32(far, rt - (float)AS241_SPLIT2, rt - (float)AS241_CONST2);
    float nc = C[0], ne = E[0], dd = D[0], df = F[0];
    for (int i = 1; i < 4; i++) {
        nc = nc * rr + C[i];
        ne = ne * rr + E[i];
    }
    for (int i = 1; i < 3; i++) {
        dd = dd * rr + D[i];
        df = df * rr + F[i];
    }
    float tail = select_f32(far, ne, nc) / select_f32(far, df, dd);
    uint32_t qsign = f32_bits(q) & 0x80000000u; /* q < 0 exactly when set: p - 0.5 is never -0 */
    tail = f32_from_bits(f32_bits(tail) ^ qsign);
    float aq = f32_from_bits(f32_bits(q) ^ qsign);
    return select_f32(0u - (uint32_t)(aq <= (float)AS241_SPLIT1), central, tail);
}

/* ------------------------------------------------------------------ float64 lane math */

static inline double f64_from_bits(uint64_t u)
{
    double f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint64_t f64_bits(double f)
{
    uint64_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline double select_f64(uint64_t mask, double a, double b)
{
    return f64_from_bits((f64_bits(a) & mask) | (f64_bits(b) & ~mask));
}

static inline double log_f64(double x, int32_t bias)
{
    uint64_t bits = f64_bits(x);
    uint64_t mbits = (bits & UINT64_C(0x000FFFFFFFFFFFFF)) | UINT64_C(0x3FF0000000000000);
    uint64_t big = mbits > F64_SQRT2_BITS; /* as in log_f32: halve m above sqrt(2) */
    double m = f64_from_bits(mbits - (big << 52));
    int32_t e = (int32_t)(bits >> 52) - 1023 + (int32_t)big;
    double fe = (double)(e - bias);
    double f = m - 1.0;
    double s = f / (2.0 + f);
    double z = s * s;
    double r = LOG_F64_LG7;
    r = r * z + LOG_F64_LG6;
    r = r * z + LOG_F64_LG5;
    r = r * z + LOG_F64_LG4;
    r = r * z + LOG_F64_LG3;
    r = r * z + LOG_F64_LG2;
    r = r * z + LOG_F64_LG1;
    r = r * z;
    double hfsq = 0.5 * f * f;
    double t = s * (hfsq + r) + fe * LOG_F64_LN2_LO;
    return fe * LOG_F64_LN2_HI - ((hfsq - t) - f);
}

/* A 53-bit field as an exact double: hi (27 bits) * 2**26 + lo (26 bits). */
static inline double field53(uint32_t hi, uint32_t lo)
{
    return (double)(int32_t)hi * 0x1p26 + (double)(int32_t)lo;
}

static inline double radius_f64(uint32_t hi, uint32_t lo)
{
    double g = 0x1p53 - field53(hi, lo);
    return SQRT_F64(log_f64(g, 53) * -2.0);
}

/* cos and sin of 2 pi (m + 1/2) / 2**53, m = hi * 2**26 + lo a 53-bit field. */
static inline void sincos_f64(uint32_t hi, uint32_t lo, double *cos_out, double *sin_out)
{
    uint32_t s = (hi + (1u << 24)) & ((1u << 27) - 1u);
    uint32_t quadrant = s >> 25;
    int32_t ja = (int32_t)(s & ((1u << 25) - 1u));
    double y = ((double)(2 * ja - (1 << 25)) * 0x1p26 + (double)(int32_t)(2 * lo + 1)) * 0x1p-52;
    double t = y * F64_HALF_PI;
    double z = t * t;
    double rs = SIN_F64_S6;
    rs = rs * z + SIN_F64_S5;
    rs = rs * z + SIN_F64_S4;
    rs = rs * z + SIN_F64_S3;
    rs = rs * z + SIN_F64_S2;
    double sn = t + (z * t) * (SIN_F64_S1 + z * rs);
    double rc = COS_F64_C6;
    rc = rc * z + COS_F64_C5;
    rc = rc * z + COS_F64_C4;
    rc = rc * z + COS_F64_C3;
    rc = rc * z + COS_F64_C2;
    rc = rc * z + COS_F64_C1;
    rc = z * rc;
    double cs = 1.0 - (0.5 * z - z * rc);
    uint64_t swap = UINT64_C(0) - (uint64_t)(quadrant & 1u);
    uint64_t cb = f64_bits(cs), sb = f64_bits(sn);
    uint64_t c2 = (sb & swap) | (cb & ~swap), s2 = (cb & swap) | (sb & ~swap);
    *cos_out = f64_from_bits(c2 ^ ((uint64_t)((quadrant + 1u) & 2u) << 62));
    *sin_out = f64_from_bits(s2 ^ ((uint64_t)(quadrant & 2u) << 62));
}

static inline double ppnd16_f64(double p)
{
    static const double A[] = PPND16_A, B[] = PPND16_B, C[] = PPND16_C, D[] = PPND16_D,
                        E[] = PPND16_E, F[] = PPND16_F;
    double q = p - 0.5;
    double rc = AS241_CONST1 - q * q;
    double num = A[0], den = B[0];
    for (int i = 1; i < 8; i++) {
        num = num * rc + A[i];
        den = den * rc + B[i];
    }
    double central = (q * num) / den;
    double one_minus = 1.0 - p;
    double pt = p < one_minus ? p : one_minus;
    double rt = SQRT_F64(-log_f64(pt, 0));
    uint64_t far = UINT64_C(0) - (uint64_t)(rt > AS241_SPLIT2);
    double rr = select_f64(far, rt - AS241_SPLIT2, rt - AS241_CONST2);
    double nc = C[0], ne = E[0], dc = D[0], de = F[0];
    for (int i = 1; i < 8; i++) {
        nc = nc * rr + C[i];
        ne = ne * rr + E[i];
        dc = dc * rr + D[i];
        de = de * rr + F[i];
    }
    double tail = select_f64(far, ne, nc) / select_f64(far, de, dc);
    uint64_t qsign = f64_bits(q) & UINT64_C(0x8000000000000000);
    tail = f64_from_bits(f64_bits(tail) ^ qsign);
    double aq = f64_from_bits(f64_bits(q) ^ qsign);
    return select_f64(UINT64_C(0) - (uint64_t)(aq <= AS241_SPLIT1), central, tail);
}

/* ------------------------------------------------------------------ one group per dist */

/* The clamp of docs/algorithm.md (sections 3 and 5): x is replaced by a bound only when it
 * lies strictly beyond it, so a value equal to a bound keeps its own bits (+0 against -0
 * included). fastki/_numpy.py uses the same comparisons. */
static inline float clamp_f32(float x, float lo, float hi)
{
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

static inline double clamp_f64(double x, double lo, double hi)
{
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
}

/* Each value is written once, as a function of its field(s) and the parameters; the group
 * loops below and the element-by-element path for short fills both call these, so the two
 * give the same bits. */
static inline float uniform_f32_value(uint32_t f, float loc, float scale, float lo, float hi)
{
    float u = (float)(int32_t)f * 0x1p-24f;
    return clamp_f32(loc + scale * u, lo, hi);
}

static inline float truncated_f32_value(uint32_t f, float loc, float scale, float lo, float hi,
                                        float p_low, float p_width, uint32_t flip)
{
    float u = (float)(int32_t)(f | 1u) * 0x1p-24f;
    float z = f32_from_bits(f32_bits(ppnd7_f32(p_low + u * p_width)) ^ flip);
    return clamp_f32(loc + scale * z, lo, hi);
}

static inline double uniform_f64_value(uint32_t a, uint32_t b, double loc, double scale,
                                       double lo, double hi)
{
    double u = field53(a, b) * 0x1p-53;
    return clamp_f64(loc + scale * u, lo, hi);
}

static inline double truncated_f64_value(uint32_t a, uint32_t b, double loc, double scale,
                                         double lo, double hi, double p_low, double p_width,
                                         uint64_t flip)
{
    double u = field53(a, b | 1u) * 0x1p-53;
    double z = f64_from_bits(f64_bits(ppnd16_f64(p_low + u * p_width)) ^ flip);
    return clamp_f64(loc + scale * z, lo, hi);
}

/* Field k of lane l, for float32 elements: element 80 g + 16 k + l. */
static inline uint32_t field24(const group_words *g, int k, int l)
{
    return k < 4 ? g->w[k][l] >> 8
                 : (g->w[0][l] & 0xFFu) | ((g->w[1][l] & 0xFFu) << 8) | ((g->w[2][l] & 0xFFu) << 16);
}

static inline void fields24(const group_words *g, uint32_t f[5][L])
{
    for (int l = 0; l < L; l++) {
        f[0][l] = g->w[0][l] >> 8;
        f[1][l] = g->w[1][l] >> 8;
        f[2][l] = g->w[2][l] >> 8;
        f[3][l] = g->w[3][l] >> 8;
        f[4][l] = (g->w[0][l] & 0xFFu) | ((g->w[1][l] & 0xFFu) << 8) | ((g->w[2][l] & 0xFFu) << 16);
    }
}

static inline void uniform_f32_group(const group_words *g, const params_f32 *p,
                                     float *RESTRICT out)
{
    const float loc = p->loc, scale = p->scale, lo = p->value_min, hi = p->value_max;
    uint32_t f[5][L];
    fields24(g, f);
    for (int k = 0; k < 5; k++)
        for (int l = 0; l < L; l++)
            out[k * L + l] = uniform_f32_value(f[k][l], loc, scale, lo, hi);
}

static inline float uniform_f32_at(const group_words *g, const params_f32 *p, int e)
{
    return uniform_f32_value(field24(g, e / L, e % L), p->loc, p->scale, p->value_min,
                             p->value_max);
}

static inline void normal_pairs_f32(const uint32_t *RESTRICT fr, const uint32_t *RESTRICT fa,
                                    int n, float loc, float scale, float *RESTRICT out_cos,
                                    float *RESTRICT out_sin)
{
    for (int l = 0; l < n; l++) {
        float r = radius_f32(fr[l]);
        float c, s;
        sincos_f32(fa[l], &c, &s);
        out_cos[l] = loc + scale * (r * c);
        out_sin[l] = loc + scale * (r * s);
    }
}

static inline void normal_f32_group(const group_words *g, const params_f32 *p,
                                    float *RESTRICT out)
{
    const float loc = p->loc, scale = p->scale;
    uint32_t f[5][L];
    fields24(g, f);
    normal_pairs_f32(f[0], f[1], L, loc, scale, out, out + L);
    normal_pairs_f32(f[2], f[3], L, loc, scale, out + 2 * L, out + 3 * L);
    normal_pairs_f32(f[4], f[4] + L / 2, L / 2, loc, scale, out + 4 * L, out + 4 * L + L / 2);
}

/* Element e of normal_f32_group alone: the cosine or sine half of one pair. */
static inline float normal_f32_at(const group_words *g, const params_f32 *p, int e)
{
    uint32_t fr, fa;
    int sine;
    if (e < 4 * L) { /* pairs (F0, F1) and (F2, F3): cosines then sines, 16 lanes each */
        int pair = e / (2 * L), r = e % (2 * L), l = r % L;
        sine = r >= L;
        fr = field24(g, 2 * pair, l);
        fa = field24(g, 2 * pair + 1, l);
    } else { /* F4 of lanes 0..7 with F4 of lanes 8..15 */
        int r = e - 4 * L, l = r % (L / 2);
        sine = r >= L / 2;
        fr = field24(g, 4, l);
        fa = field24(g, 4, l + L / 2);
    }
    float rad = radius_f32(fr), c, s;
    sincos_f32(fa, &c, &s);
    return p->loc + p->scale * (rad * (sine ? s : c));
}

static inline void truncated_f32_group(const group_words *g, const params_f32 *p,
                                       float *RESTRICT out)
{
    const float loc = p->loc, scale = p->scale, lo = p->value_min, hi = p->value_max;
    const float p_low = p->p_low, p_width = p->p_width;
    const uint32_t flip = p->mirror ? 0x80000000u : 0u;
    uint32_t f[5][L];
    fields24(g, f);
    for (int k = 0; k < 5; k++)
        for (int l = 0; l < L; l++)
            out[k * L + l] = truncated_f32_value(f[k][l], loc, scale, lo, hi, p_low, p_width, flip);
}

static inline float truncated_f32_at(const group_words *g, const params_f32 *p, int e)
{
    return truncated_f32_value(field24(g, e / L, e % L), p->loc, p->scale, p->value_min,
                               p->value_max, p->p_low, p->p_width,
                               p->mirror ? 0x80000000u : 0u);
}

/* Field k of lane l, for float64 elements: element 32 g + 16 k + l, from words 2k, 2k+1. */
static inline void uniform_f64_group(const group_words *g, const params_f64 *p,
                                     double *RESTRICT out)
{
    const double loc = p->loc, scale = p->scale, lo = p->value_min, hi = p->value_max;
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < L; l++)
            out[k * L + l] = uniform_f64_value(g->w[2 * k][l] >> 5, g->w[2 * k + 1][l] >> 6,
                                               loc, scale, lo, hi);
}

static inline double uniform_f64_at(const group_words *g, const params_f64 *p, int e)
{
    int k = e / L, l = e % L;
    return uniform_f64_value(g->w[2 * k][l] >> 5, g->w[2 * k + 1][l] >> 6, p->loc, p->scale,
                             p->value_min, p->value_max);
}

static inline void normal_f64_group(const group_words *g, const params_f64 *p,
                                    double *RESTRICT out)
{
    const double loc = p->loc, scale = p->scale;
    for (int l = 0; l < L; l++) {
        double r = radius_f64(g->w[0][l] >> 5, g->w[1][l] >> 6);
        double c, s;
        sincos_f64(g->w[2][l] >> 5, g->w[3][l] >> 6, &c, &s);
        out[l] = loc + scale * (r * c);
        out[L + l] = loc + scale * (r * s);
    }
}

static inline double normal_f64_at(const group_words *g, const params_f64 *p, int e)
{
    int l = e % L;
    double r = radius_f64(g->w[0][l] >> 5, g->w[1][l] >> 6);
    double c, s;
    sincos_f64(g->w[2][l] >> 5, g->w[3][l] >> 6, &c, &s);
    return p->loc + p->scale * (r * (e >= L ? s : c));
}

static inline void truncated_f64_group(const group_words *g, const params_f64 *p,
                                       double *RESTRICT out)
{
    const double loc = p->loc, scale = p->scale, lo = p->value_min, hi = p->value_max;
    const double p_low = p->p_low, p_width = p->p_width;
    const uint64_t flip = p->mirror ? UINT64_C(0x8000000000000000) : 0u;
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < L; l++)
            out[k * L + l] = truncated_f64_value(g->w[2 * k][l] >> 5, g->w[2 * k + 1][l] >> 6,
                                                 loc, scale, lo, hi, p_low, p_width, flip);
}

static inline double truncated_f64_at(const group_words *g, const params_f64 *p, int e)
{
    int k = e / L, l = e % L;
    return truncated_f64_value(g->w[2 * k][l] >> 5, g->w[2 * k + 1][l] >> 6, p->loc, p->scale,
                               p->value_min, p->value_max, p->p_low, p->p_width,
                               p->mirror ? UINT64_C(0x8000000000000000) : 0u);
}

/* Raw words of the stream (docs/algorithm.md §1): word 4 b + j is word j of block b, so a
 * group's 64 words are its 16 blocks one after another. */
static inline void raw_words_group(const group_words *g, const params_f32 *p,
                                   uint32_t *RESTRICT out)
{
    (void)p;
#if defined(FASTKI_VECTOR_AVX512) || defined(FASTKI_VECTOR_AVX2) || defined(FASTKI_VECTOR_SSE2)
    /* a 4 x 4 transpose per four blocks, in 128-bit registers (compilers write the plain loop
     * below as single-word stores) */
    for (int l = 0; l < L; l += 4) {
        __m128i w0 = _mm_loadu_si128((const __m128i *)(g->w[0] + l));
        __m128i w1 = _mm_loadu_si128((const __m128i *)(g->w[1] + l));
        __m128i w2 = _mm_loadu_si128((const __m128i *)(g->w[2] + l));
        __m128i w3 = _mm_loadu_si128((const __m128i *)(g->w[3] + l));
        __m128i a = _mm_unpacklo_epi32(w0, w1), b = _mm_unpacklo_epi32(w2, w3); /* blocks l, l+1 */
        __m128i c = _mm_unpackhi_epi32(w0, w1), d = _mm_unpackhi_epi32(w2, w3); /* l+2, l+3 */
        _mm_storeu_si128((__m128i *)(out + 4 * l), _mm_unpacklo_epi64(a, b));
        _mm_storeu_si128((__m128i *)(out + 4 * l + 4), _mm_unpackhi_epi64(a, b));
        _mm_storeu_si128((__m128i *)(out + 4 * l + 8), _mm_unpacklo_epi64(c, d));
        _mm_storeu_si128((__m128i *)(out + 4 * l + 12), _mm_unpackhi_epi64(c, d));
    }
#elif defined(FASTKI_VECTOR_NEON)
    for (int l = 0; l < L; l += 4) { /* one interleaving store of four registers */
        uint32x4x4_t w = {{vld1q_u32(g->w[0] + l), vld1q_u32(g->w[1] + l), vld1q_u32(g->w[2] + l),
                           vld1q_u32(g->w[3] + l)}};
        vst4q_u32(out + 4 * l, w);
    }
#else
    for (int l = 0; l < L; l++)
        for (int j = 0; j < 4; j++) out[4 * l + j] = g->w[j][l];
#endif
}

static inline uint32_t raw_words_at(const group_words *g, const params_f32 *p, int e)
{
    (void)p;
    return g->w[e % 4][e / 4];
}

/* ------------------------------------------------------------------ a range of elements */

/* Stores that bypass the cache, for outputs much larger than the last-level cache: the
 * values are never read back soon, and the cache lines need not be fetched first. */
#if defined(FASTKI_VECTOR_AVX512) || defined(FASTKI_VECTOR_AVX2) || defined(FASTKI_VECTOR_SSE2)
#define CAN_STREAM 1
/* dst is 16-byte aligned (FILL_RANGE checks); src, the group buffer, is read with unaligned
 * loads: ALIGN64 may be empty on a compiler it does not know, and an unaligned load of an
 * aligned address costs nothing extra on the CPUs of these paths. */
static inline void stream_copy(void *dst, const void *src, size_t bytes)
{
    for (size_t i = 0; i < bytes; i += 16)
        _mm_stream_si128((__m128i *)((char *)dst + i), _mm_loadu_si128((const __m128i *)((const char *)src + i)));
}
#define STREAM_FENCE() _mm_sfence()
#else
#define CAN_STREAM 0
#define stream_copy(dst, src, bytes) memcpy(dst, src, bytes)
#define STREAM_FENCE() ((void)0)
#endif

/* The group buffer on a cache line of its own (a speed hint only: nothing relies on it).
 * tests/test_threads_split.py builds this file with ALIGN64 defined empty, the buffer moved
 * off its alignment by GROUP_BUFFER_SKEW elements, and -fsanitize=alignment, and runs
 * tests/c/test_fills.c with streaming stores on small fills. */
#ifndef GROUP_BUFFER_SKEW
#define GROUP_BUFFER_SKEW 0
#endif
#ifndef ALIGN64
#if defined(__GNUC__) || defined(__clang__)
#define ALIGN64 __attribute__((aligned(64)))
#elif defined(_MSC_VER)
#define ALIGN64 __declspec(align(64))
#else
#define ALIGN64
#endif
#endif

/* A part of a group at most this long is computed element by element (the *_at functions)
 * rather than as a whole group: a call for a handful of values then costs a handful of
 * transforms, not 80. Same bits either way. */
#define SHORT_PART 8

#define FILL_RANGE(NAME, T, PARAMS, PER_GROUP, GROUP_FN, AT_FN)                                 \
    static void NAME(uint64_t seed, uint64_t stream, const PARAMS *p, uint64_t first,         \
                     uint64_t count, T *out, int streaming)                                   \
    {                                                                                         \
        group_words g;                                                                        \
        ALIGN64 T tmp_space[PER_GROUP + GROUP_BUFFER_SKEW];                                   \
        T *const tmp = tmp_space + GROUP_BUFFER_SKEW;                                         \
        uint64_t group = first / PER_GROUP, skip = first % PER_GROUP;                        \
        /* whole groups all share one alignment: they start 320 or 256 bytes apart */        \
        streaming = streaming && CAN_STREAM;                                                  \
        while (count) {                                                                       \
            philox_group(seed, stream, group * GROUP_BLOCKS, &g);                             \
            uint64_t take;                                                                    \
            if (skip == 0 && count >= PER_GROUP) {                                            \
                if (streaming && ((uintptr_t)out & 15u) == 0) {                               \
                    GROUP_FN(&g, p, tmp);                                                     \
                    stream_copy(out, tmp, PER_GROUP * sizeof(T));                             \
                } else {                                                                      \
                    GROUP_FN(&g, p, out);                                                     \
                }                                                                             \
                take = PER_GROUP;                                                             \
            } else {                                                                          \
                take = PER_GROUP - skip < count ? PER_GROUP - skip : count;                   \
                if (take <= SHORT_PART) {                                                     \
                    for (uint64_t i = 0; i < take; i++) out[i] = AT_FN(&g, p, (int)(skip + i)); \
                } else {                                                                      \
                    GROUP_FN(&g, p, tmp);                                                     \
                    memcpy(out, tmp + skip, (size_t)take * sizeof(T));                        \
                }                                                                             \
                skip = 0;                                                                     \
            }                                                                                 \
            out += take;                                                                      \
            count -= take;                                                                    \
            group++;                                                                          \
        }                                                                                     \
        if (streaming) STREAM_FENCE();                                                        \
    }

FILL_RANGE(fill_uniform_f32, float, params_f32, F32_PER_GROUP, uniform_f32_group, uniform_f32_at)
FILL_RANGE(fill_normal_f32, float, params_f32, F32_PER_GROUP, normal_f32_group, normal_f32_at)
FILL_RANGE(fill_truncated_f32, float, params_f32, F32_PER_GROUP, truncated_f32_group, truncated_f32_at)
FILL_RANGE(fill_uniform_f64, double, params_f64, F64_PER_GROUP, uniform_f64_group, uniform_f64_at)
FILL_RANGE(fill_normal_f64, double, params_f64, F64_PER_GROUP, normal_f64_group, normal_f64_at)
FILL_RANGE(fill_truncated_f64, double, params_f64, F64_PER_GROUP, truncated_f64_group, truncated_f64_at)
FILL_RANGE(fill_raw_words, uint32_t, params_f32, RAW_PER_GROUP, raw_words_group, raw_words_at)

/* The entry point of this path: elements first .. first + count - 1 on the calling thread. */
void ISA_FN(fastki_fill_range)(const fastki_request *req, uint64_t first, uint64_t count,
                               void *out, int streaming)
{
    const fastki_params *q = &req->params;
    if (req->dist == FASTKI_RAW_WORDS) { /* integers only: no floating-point environment */
        params_f32 none = {0};
        fill_raw_words(req->seed, req->stream, &none, first, count, out, streaming);
        return;
    }
    fastki_fpenv caller_env = fastki_fpenv_enter(); /* see fpenv.h */
    if (req->dtype == FASTKI_FLOAT32) {
        params_f32 p = {(float)q->loc,   (float)q->scale,   (float)q->value_min,
                        (float)q->value_max, (float)q->p_low, (float)q->p_width, q->mirror};
        switch (req->dist) {
        case FASTKI_UNIFORM: fill_uniform_f32(req->seed, req->stream, &p, first, count, out, streaming); break;
        case FASTKI_NORMAL: fill_normal_f32(req->seed, req->stream, &p, first, count, out, streaming); break;
        case FASTKI_TRUNCATED_NORMAL:
            fill_truncated_f32(req->seed, req->stream, &p, first, count, out, streaming);
            break;
        }
    } else {
        params_f64 p = {q->loc, q->scale, q->value_min, q->value_max, q->p_low, q->p_width, q->mirror};
        switch (req->dist) {
        case FASTKI_UNIFORM: fill_uniform_f64(req->seed, req->stream, &p, first, count, out, streaming); break;
        case FASTKI_NORMAL: fill_normal_f64(req->seed, req->stream, &p, first, count, out, streaming); break;
        case FASTKI_TRUNCATED_NORMAL:
            fill_truncated_f64(req->seed, req->stream, &p, first, count, out, streaming);
            break;
        }
    }
    fastki_fpenv_leave(caller_env);
}
