/* Philox4x32-10 (Salmon, Moraes, Dror, Shaw: "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11), with Random123's constants and word order. Pure functions, no state. */
#ifndef FASTKI_PHILOX_H
#define FASTKI_PHILOX_H

#include <stdint.h>

#define PHILOX_M4x32_0 UINT32_C(0xD2511F53) /* round multipliers */
#define PHILOX_M4x32_1 UINT32_C(0xCD9E8D57)
#define PHILOX_W32_0 UINT32_C(0x9E3779B9)   /* key bump: golden ratio, 32-bit fraction */
#define PHILOX_W32_1 UINT32_C(0xBB67AE85)   /* key bump: sqrt(3) - 1, 32-bit fraction */
#define PHILOX_ROUNDS 10

typedef struct { uint32_t v[4]; } philox_ctr;
typedef struct { uint32_t v[2]; } philox_key;

static inline philox_ctr philox4x32_round(philox_ctr c, philox_key k)
{
    uint64_t p0 = (uint64_t)PHILOX_M4x32_0 * c.v[0];
    uint64_t p1 = (uint64_t)PHILOX_M4x32_1 * c.v[2];
    philox_ctr out = {{(uint32_t)(p1 >> 32) ^ c.v[1] ^ k.v[0], (uint32_t)p1,
                       (uint32_t)(p0 >> 32) ^ c.v[3] ^ k.v[1], (uint32_t)p0}};
    return out;
}

static inline philox_key philox4x32_bumpkey(philox_key k)
{
    k.v[0] += PHILOX_W32_0;
    k.v[1] += PHILOX_W32_1;
    return k;
}

static inline philox_ctr philox4x32_10(philox_ctr c, philox_key k)
{
    c = philox4x32_round(c, k);
    for (int r = 1; r < PHILOX_ROUNDS; r++) {
        k = philox4x32_bumpkey(k);
        c = philox4x32_round(c, k);
    }
    return c;
}

/* The block of the fastki word stream: counter (b, stream), key seed (docs/algorithm.md §1). */
static inline philox_ctr fastki_stream_block(uint64_t seed, uint64_t stream, uint64_t b)
{
    philox_ctr c = {{(uint32_t)b, (uint32_t)(b >> 32), (uint32_t)stream, (uint32_t)(stream >> 32)}};
    philox_key k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    return philox4x32_10(c, k);
}

#endif
