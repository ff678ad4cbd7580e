/* The fills, written once: fill_<isa>.c includes this file with FASTKI_ISA set, and the
 * build compiles each with its own instruction-set flags. The code works on one group (16
 * Philox blocks) at a time in plain loops over 16 lanes, which the compiler turns into SIMD
 * for the path's vector width. Every float step is one rounded IEEE operation in the order
 * docs/algorithm.md gives (the build forbids contraction into FMA), so every path, and
 * fastki/_numpy.py, produce the same bits. */
#include <stdint.h>
#include <string.h>

#include "approx.h"
#include "fastki.h"
#include "philox.h"

#ifndef FASTKI_ISA
#error "define FASTKI_ISA before including fill_impl.h"
#endif
#define FASTKI_CAT2(a, b) a##_##b
#define FASTKI_CAT(a, b) FASTKI_CAT2(a, b)
#define ISA_FN(name) FASTKI_CAT(name, FASTKI_ISA)

#define L GROUP_BLOCKS

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

static inline void philox_group(uint64_t seed, uint64_t stream, uint64_t first_block,
                                group_words *g)
{
    uint32_t c0[L], c1[L], c2[L], c3[L];
    uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
    for (int l = 0; l < L; l++) {
        uint64_t b = first_block + (uint64_t)l;
        c0[l] = (uint32_t)b;
        c1[l] = (uint32_t)(b >> 32);
        c2[l] = (uint32_t)stream;
        c3[l] = (uint32_t)(stream >> 32);
    }
    for (int r = 0; r < PHILOX_ROUNDS; r++) {
        for (int l = 0; l < L; l++) {
            uint64_t p0 = (uint64_t)PHILOX_M4x32_0 * c0[l];
            uint64_t p1 = (uint64_t)PHILOX_M4x32_1 * c2[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = (uint32_t)p1;
            c3[l] = (uint32_t)p0;
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 += PHILOX_W32_0;
        k1 += PHILOX_W32_1;
    }
    memcpy(g->w[0], c0, sizeof c0);
    memcpy(g->w[1], c1, sizeof c1);
    memcpy(g->w[2], c2, sizeof c2);
    memcpy(g->w[3], c3, sizeof c3);
}

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

/* ln(x * 2**-bias) for positive normal x. */
static inline float log_f32(float x, int32_t bias)
{
    uint32_t bits = f32_bits(x);
    int32_t e = (int32_t)(bits >> 23) - 127;
    float m = f32_from_bits((bits & 0x007FFFFFu) | 0x3F800000u);
    int32_t big = m > F32_SQRT2;
    m = big ? m * 0.5f : m;
    e += big;
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
    return __builtin_sqrtf(log_f32(g, 24) * -2.0f);
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
    /* turn by quadrant quarter turns: (c, s) -> (-s, c) -> (-c, -s) -> (s, -c) */
    int swap = (int)(quadrant & 1u);
    float c2 = swap ? sn : cs;
    float s2 = swap ? cs : sn;
    *cos_out = (quadrant == 1u || quadrant == 2u) ? -c2 : c2;
    *sin_out = (quadrant >= 2u) ? -s2 : s2;
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
    float rt = __builtin_sqrtf(-log_f32(pt, 0));
    int far = rt > (float)AS241_SPLIT2;
    float rr = far ? rt - (float)AS241_SPLIT2 : rt - (float)AS241_CONST2;
    float nc = C[0], ne = E[0], dd = D[0], df = F[0];
    for (int i = 1; i < 4; i++) {
        nc = nc * rr + C[i];
        ne = ne * rr + E[i];
    }
    for (int i = 1; i < 3; i++) {
        dd = dd * rr + D[i];
        df = df * rr + F[i];
    }
    float tail = (far ? ne : nc) / (far ? df : dd);
    tail = q < 0.0f ? -tail : tail;
    float aq = q < 0.0f ? -q : q;
    return aq <= (float)AS241_SPLIT1 ? central : tail;
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

static inline double log_f64(double x, int32_t bias)
{
    uint64_t bits = f64_bits(x);
    int32_t e = (int32_t)(bits >> 52) - 1023;
    double m = f64_from_bits((bits & UINT64_C(0x000FFFFFFFFFFFFF)) | UINT64_C(0x3FF0000000000000));
    int32_t big = m > F64_SQRT2;
    m = big ? m * 0.5 : m;
    e += big;
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
    return __builtin_sqrt(log_f64(g, 53) * -2.0);
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
    int swap = (int)(quadrant & 1u);
    double c2 = swap ? sn : cs;
    double s2 = swap ? cs : sn;
    *cos_out = (quadrant == 1u || quadrant == 2u) ? -c2 : c2;
    *sin_out = (quadrant >= 2u) ? -s2 : s2;
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
    double rt = __builtin_sqrt(-log_f64(pt, 0));
    int far = rt > AS241_SPLIT2;
    double rr = far ? rt - AS241_SPLIT2 : rt - AS241_CONST2;
    double nc = C[0], ne = E[0], dc = D[0], de = F[0];
    for (int i = 1; i < 8; i++) {
        nc = nc * rr + C[i];
        ne = ne * rr + E[i];
        dc = dc * rr + D[i];
        de = de * rr + F[i];
    }
    double tail = (far ? ne : nc) / (far ? de : dc);
    tail = q < 0.0 ? -tail : tail;
    double aq = q < 0.0 ? -q : q;
    return aq <= AS241_SPLIT1 ? central : tail;
}

/* ------------------------------------------------------------------ one group per dist */

/* Field k of lane l, for float32 elements: element 80 g + 16 k + l. */
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

static inline void uniform_f32_group(const group_words *g, const params_f32 *p, float *out)
{
    uint32_t f[5][L];
    fields24(g, f);
    for (int k = 0; k < 5; k++)
        for (int l = 0; l < L; l++) {
            float u = (float)(int32_t)f[k][l] * 0x1p-24f;
            float x = p->loc + p->scale * u;
            out[k * L + l] = x > p->value_max ? p->value_max : x;
        }
}

static inline void normal_pairs_f32(const uint32_t *fr, const uint32_t *fa, int n,
                                    const params_f32 *p, float *out_cos, float *out_sin)
{
    for (int l = 0; l < n; l++) {
        float r = radius_f32(fr[l]);
        float c, s;
        sincos_f32(fa[l], &c, &s);
        out_cos[l] = p->loc + p->scale * (r * c);
        out_sin[l] = p->loc + p->scale * (r * s);
    }
}

static inline void normal_f32_group(const group_words *g, const params_f32 *p, float *out)
{
    uint32_t f[5][L];
    fields24(g, f);
    normal_pairs_f32(f[0], f[1], L, p, out, out + L);
    normal_pairs_f32(f[2], f[3], L, p, out + 2 * L, out + 3 * L);
    normal_pairs_f32(f[4], f[4] + L / 2, L / 2, p, out + 4 * L, out + 4 * L + L / 2);
}

static inline void truncated_f32_group(const group_words *g, const params_f32 *p, float *out)
{
    uint32_t f[5][L];
    fields24(g, f);
    for (int k = 0; k < 5; k++)
        for (int l = 0; l < L; l++) {
            float u = (float)(int32_t)(f[k][l] | 1u) * 0x1p-24f;
            float z = ppnd7_f32(p->p_low + u * p->p_width);
            z = p->mirror ? -z : z;
            float x = p->loc + p->scale * z;
            x = x < p->value_min ? p->value_min : x;
            out[k * L + l] = x > p->value_max ? p->value_max : x;
        }
}

/* Field k of lane l, for float64 elements: element 32 g + 16 k + l, from words 2k, 2k+1. */
static inline void uniform_f64_group(const group_words *g, const params_f64 *p, double *out)
{
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < L; l++) {
            double u = field53(g->w[2 * k][l] >> 5, g->w[2 * k + 1][l] >> 6) * 0x1p-53;
            double x = p->loc + p->scale * u;
            out[k * L + l] = x > p->value_max ? p->value_max : x;
        }
}

static inline void normal_f64_group(const group_words *g, const params_f64 *p, double *out)
{
    for (int l = 0; l < L; l++) {
        double r = radius_f64(g->w[0][l] >> 5, g->w[1][l] >> 6);
        double c, s;
        sincos_f64(g->w[2][l] >> 5, g->w[3][l] >> 6, &c, &s);
        out[l] = p->loc + p->scale * (r * c);
        out[L + l] = p->loc + p->scale * (r * s);
    }
}

static inline void truncated_f64_group(const group_words *g, const params_f64 *p, double *out)
{
    for (int k = 0; k < 2; k++)
        for (int l = 0; l < L; l++) {
            double u = field53(g->w[2 * k][l] >> 5, (g->w[2 * k + 1][l] >> 6) | 1u) * 0x1p-53;
            double z = ppnd16_f64(p->p_low + u * p->p_width);
            z = p->mirror ? -z : z;
            double x = p->loc + p->scale * z;
            x = x < p->value_min ? p->value_min : x;
            out[k * L + l] = x > p->value_max ? p->value_max : x;
        }
}

/* ------------------------------------------------------------------ a range of elements */

#define FILL_RANGE(NAME, T, PARAMS, PER_GROUP, GROUP_FN)                                        \
    static void NAME(uint64_t seed, uint64_t stream, const PARAMS *p, uint64_t first,         \
                     uint64_t count, T *out)                                                  \
    {                                                                                         \
        group_words g;                                                                        \
        T tmp[PER_GROUP];                                                                     \
        uint64_t group = first / PER_GROUP, skip = first % PER_GROUP;                        \
        while (count) {                                                                       \
            philox_group(seed, stream, group * GROUP_BLOCKS, &g);                             \
            uint64_t take;                                                                    \
            if (skip == 0 && count >= PER_GROUP) {                                            \
                GROUP_FN(&g, p, out);                                                         \
                take = PER_GROUP;                                                             \
            } else {                                                                          \
                GROUP_FN(&g, p, tmp);                                                         \
                take = PER_GROUP - skip < count ? PER_GROUP - skip : count;                   \
                memcpy(out, tmp + skip, (size_t)take * sizeof(T));                            \
                skip = 0;                                                                     \
            }                                                                                 \
            out += take;                                                                      \
            count -= take;                                                                    \
            group++;                                                                          \
        }                                                                                     \
    }

FILL_RANGE(fill_uniform_f32, float, params_f32, F32_PER_GROUP, uniform_f32_group)
FILL_RANGE(fill_normal_f32, float, params_f32, F32_PER_GROUP, normal_f32_group)
FILL_RANGE(fill_truncated_f32, float, params_f32, F32_PER_GROUP, truncated_f32_group)
FILL_RANGE(fill_uniform_f64, double, params_f64, F64_PER_GROUP, uniform_f64_group)
FILL_RANGE(fill_normal_f64, double, params_f64, F64_PER_GROUP, normal_f64_group)
FILL_RANGE(fill_truncated_f64, double, params_f64, F64_PER_GROUP, truncated_f64_group)

/* The entry point of this path: elements first .. first + count - 1 on the calling thread. */
void ISA_FN(fastki_fill_range)(const fastki_request *req, uint64_t first, uint64_t count,
                               void *out)
{
    const fastki_params *q = &req->params;
    if (req->dtype == FASTKI_FLOAT32) {
        params_f32 p = {(float)q->loc,   (float)q->scale,   (float)q->value_min,
                        (float)q->value_max, (float)q->p_low, (float)q->p_width, q->mirror};
        switch (req->dist) {
        case FASTKI_UNIFORM: fill_uniform_f32(req->seed, req->stream, &p, first, count, out); break;
        case FASTKI_NORMAL: fill_normal_f32(req->seed, req->stream, &p, first, count, out); break;
        case FASTKI_TRUNCATED_NORMAL:
            fill_truncated_f32(req->seed, req->stream, &p, first, count, out);
            break;
        }
    } else {
        params_f64 p = {q->loc, q->scale, q->value_min, q->value_max, q->p_low, q->p_width, q->mirror};
        switch (req->dist) {
        case FASTKI_UNIFORM: fill_uniform_f64(req->seed, req->stream, &p, first, count, out); break;
        case FASTKI_NORMAL: fill_normal_f64(req->seed, req->stream, &p, first, count, out); break;
        case FASTKI_TRUNCATED_NORMAL:
            fill_truncated_f64(req->seed, req->stream, &p, first, count, out);
            break;
        }
    }
}
