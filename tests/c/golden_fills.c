/* Prints one 64-bit FNV-1a hash of the output bytes per case: distribution x dtype x parameter
 * variant x first element (offset) x count x thread count, for one SIMD path. ci/aarch64.sh
 * runs it on the x86 build (every x86 path: the golden lines) and, under qemu-aarch64, on the
 * aarch64 build's neon and scalar paths, and compares the lines: the contract of
 * docs/algorithm.md says they are identical on every path, thread count and machine.
 *   usage: golden_fills PATH     (PATH: scalar, sse2, avx2, avx512, neon)
 * Lines name no path, so the outputs of two paths compare with diff. On stderr: how many fills
 * of each thread count really ran on that many threads. Exit status 2: PATH is not available
 * here (or unknown); 1: a fill failed. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastki.h"

static const char *dist_names[] = {"uniform", "normal", "truncated_normal"};
static const char *dtype_names[] = {"float32", "float64"};

/* Parameters as fastki._api computes them (float32 values held exactly in doubles): two sets
 * per distribution, the second with a mirrored truncated interval. */
static fastki_params params_for(int dist, int dtype, int variant)
{
    fastki_params p;
    memset(&p, 0, sizeof p);
    if (dist == FASTKI_UNIFORM) {
        p.loc = variant ? -3.5 : 0.0;
        p.scale = variant ? 3.75 : 1.0;
        p.value_min = p.loc;
        /* the largest value below loc + scale: 0x1.fffffep-1 and 0x1.fffffffffffffp-1 for
         * [0, 1); 0.25 minus one ulp for [-3.5, 0.25) */
        p.value_max = dtype == FASTKI_FLOAT32 ? (variant ? 0x1.fffffep-3 : 0x1.fffffep-1)
                                              : (variant ? 0x1.fffffffffffffp-3 : 0x1.fffffffffffffp-1);
    } else if (dist == FASTKI_NORMAL) {
        p.loc = variant ? 2.5 : 0.0;
        p.scale = variant ? 0.25 : 1.0;
    } else if (!variant) { /* lower -2, upper 2 */
        p.loc = 0.0;
        p.scale = 1.0;
        p.value_min = -2.0;
        p.value_max = 2.0;
        p.p_low = 0.022750131948179195;
        p.p_width = 0.9544997361036416;
    } else { /* lower 1, upper 3: sampled mirrored */
        p.loc = 0.0;
        p.scale = 1.0;
        p.value_min = 1.0;
        p.value_max = 3.0;
        p.p_low = 0.0013498980316301035;
        p.p_width = 0.15730535589982697;
        p.mirror = 1;
    }
    if (dtype == FASTKI_FLOAT32) {
        p.loc = (float)p.loc;
        p.scale = (float)p.scale;
        p.value_min = (float)p.value_min;
        p.value_max = (float)p.value_max;
        p.p_low = (float)p.p_low;
        p.p_width = (float)p.p_width;
    }
    return p;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * UINT64_C(0x100000001b3);
    return h;
}

int main(int argc, char **argv)
{
    int simd = -1;
    for (int s = 0; s < FASTKI_SIMD_COUNT && argc > 1; s++)
        if (strcmp(argv[1], fastki_simd_name(s)) == 0) simd = s;
    if (simd < 0 || !fastki_simd_available(simd)) {
        fprintf(stderr, "golden_fills: path %s is not available here\n", argc > 1 ? argv[1] : "(none)");
        return 2;
    }
    /* (offset from the base, count): partial groups at both ends, whole groups, one element,
     * and counts that split over 2 and 3 threads at group boundaries */
    static const uint64_t ranges[][2] = {{0, 1},    {1, 1},    {3, 79},    {79, 2},  {80, 80},
                                         {5, 161},  {31, 33},  {0, 1000},  {17, 2099},
                                         {1, 2998}, {2999, 1}, {2000, 1000}, {0, 3000}};
    const uint64_t bases[] = {0, 7, (UINT64_C(1) << 32) - 1001, (UINT64_C(1) << 40) + 13,
                              UINT64_MAX - 3000 + 1 /* ends at element 2**64 - 1 */};
    const int thread_counts[] = {1, 2, 3};
    unsigned char *buf = malloc(3000 * 8);
    if (!buf) return 1;
    long ran_on[4] = {0, 0, 0, 0}, asked[4] = {0, 0, 0, 0}; /* [threads]: cases */
    for (int dist = 0; dist < 3; dist++)
        for (int dtype = 0; dtype < 2; dtype++)
            for (int variant = 0; variant < 2; variant++)
                for (size_t bi = 0; bi < sizeof bases / sizeof bases[0]; bi++)
                    for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++)
                        for (int ti = 0; ti < 3; ti++) {
                            fastki_request r;
                            memset(&r, 0, sizeof r);
                            r.dist = (fastki_dist)dist;
                            r.dtype = (fastki_dtype)dtype;
                            r.seed = UINT64_C(0x0123456789ABCDEF) + (uint64_t)variant;
                            r.stream = UINT64_C(0xFFFFFFFFFFFFFFFF) - (uint64_t)variant;
                            r.params = params_for(dist, dtype, variant);
                            r.simd = simd;
                            r.num_threads = thread_counts[ti];
                            uint64_t first = bases[bi] + ranges[k][0], count = ranges[k][1];
                            size_t bytes = (size_t)count * (dtype == FASTKI_FLOAT32 ? 4 : 8);
                            memset(buf, 0xA5, bytes);
                            int rc = fastki_fill(&r, first, count, buf);
                            if (rc != FASTKI_OK) {
                                fprintf(stderr, "golden_fills: fastki_fill returned %d\n", rc);
                                return 1;
                            }
                            fastki_fill_report rep;
                            fastki_last_fill(&rep);
                            asked[thread_counts[ti]]++;
                            if (rep.threads == thread_counts[ti]) ran_on[thread_counts[ti]]++;
                            printf("%s %s v%d first=%llu count=%llu threads=%d %016llx\n",
                                   dist_names[dist], dtype_names[dtype], variant,
                                   (unsigned long long)first, (unsigned long long)count,
                                   thread_counts[ti], (unsigned long long)fnv1a(buf, bytes));
                        }
    free(buf);
    /* how many fills really ran on the threads asked for (small ones stay on one thread) */
    for (int t = 1; t <= 3; t++)
        fprintf(stderr, "threads=%d: %ld of %ld fills ran on %d threads\n", t, ran_on[t], asked[t], t);
    return 0;
}
