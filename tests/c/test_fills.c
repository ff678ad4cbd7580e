/* Exercises every fill of the C kernel directly (no Python), for ci/valgrind.sh and
 * ci/sanitizers.sh: distribution x dtype x every SIMD path this CPU (or valgrind's emulated
 * CPU) runs x thread counts x odd first indices and counts, including ranges that end at
 * element 2**64 - 1; plus fastki_random_raw and fastki_philox4x32_10.
 *
 * For each case the output sits between guard zones and is filled twice, over two different
 * marker patterns: an element the kernel left unwritten differs between the two runs, a
 * write outside the range shows in a guard. Under valgrind, VALGRIND_CHECK_MEM_IS_DEFINED
 * also checks every output byte of a fill into a fresh, uninitialised buffer. Every range
 * must equal the same elements cut out of one longer fill (scalar path, one thread), so the
 * indexing is checked too. Exit status 0: all checks passed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastki.h"
#include "philox.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define HAVE_MEMCHECK 1
#endif
#endif
#ifndef HAVE_MEMCHECK
#define VALGRIND_CHECK_MEM_IS_DEFINED(p, n) 0
#define RUNNING_ON_VALGRIND 0
#endif

#define GUARD 64 /* bytes on each side */

#include "check.h"

static const char *dist_names[] = {"uniform", "normal", "truncated_normal", "raw_words"};

/* Bytes per element: raw words are uint32 whatever the dtype. */
static size_t item_size(int dist, int dtype)
{
    return dist == FASTKI_RAW_WORDS || dtype == FASTKI_FLOAT32 ? 4 : 8;
}

/* Parameters as fastki._api computes them (float32 values held exactly in doubles). */
static fastki_params params_for(int dist, int dtype, int variant)
{
    fastki_params p;
    memset(&p, 0, sizeof p);
    if (dist == FASTKI_UNIFORM) {
        p.loc = variant ? -3.5 : 0.0;
        p.scale = variant ? 3.75 : 1.0;
        p.value_min = p.loc;
        p.value_max = dtype == FASTKI_FLOAT32 ? (double)nextafterf((float)(p.loc + p.scale), -1e30f)
                                              : nextafter(p.loc + p.scale, -1e300);
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

static fastki_request request(int dist, int dtype, int variant, int simd, int threads)
{
    fastki_request r;
    memset(&r, 0, sizeof r);
    r.dist = (fastki_dist)dist;
    r.dtype = (fastki_dtype)dtype;
    r.seed = UINT64_C(0x0123456789ABCDEF);
    r.stream = UINT64_C(0xFFFFFFFFFFFFFFFF) - (uint64_t)variant;
    r.params = params_for(dist, dtype, variant);
    r.simd = simd;
    r.num_threads = threads;
    return r;
}

/* One fill of count elements at first into a guarded buffer pre-set to marker; returns the
 * buffer (caller frees); checks the guards. */
static unsigned char *guarded_fill(const fastki_request *r, uint64_t first, uint64_t count,
                                   unsigned char marker, size_t item)
{
    size_t bytes = (size_t)count * item;
    unsigned char *buf = malloc(bytes + 2 * GUARD);
    if (!buf) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memset(buf, marker, bytes + 2 * GUARD);
    int rc = fastki_fill(r, first, count, buf + GUARD);
    CHECK(rc == FASTKI_OK, "fastki_fill returned %d", rc);
    int guards_ok = 1;
    for (size_t i = 0; i < GUARD; i++)
        if (buf[i] != marker || buf[GUARD + bytes + i] != marker) guards_ok = 0;
    CHECK(guards_ok, "%s dtype %d simd %s: write outside [%llu, +%llu)", dist_names[r->dist],
          r->dtype, fastki_simd_name(r->simd), (unsigned long long)first,
          (unsigned long long)count);
    return buf;
}

static int value_ok(const fastki_request *r, const unsigned char *p)
{
    double v;
    if (r->dist == FASTKI_RAW_WORDS) return 1; /* every word is a possible word */
    if (r->dtype == FASTKI_FLOAT32) {
        float f;
        memcpy(&f, p, 4);
        v = f;
    } else {
        memcpy(&v, p, 8);
    }
    if (isnan(v)) return 0;
    if (r->dist == FASTKI_NORMAL) return isfinite(v);
    return v >= r->params.value_min && v <= r->params.value_max;
}

static void check_case(int dist, int dtype, int variant, int simd, int threads, uint64_t first,
                       uint64_t count, const unsigned char *ref, uint64_t ref_first)
{
    fastki_request r = request(dist, dtype, variant, simd, threads);
    size_t item = item_size(dist, dtype), bytes = (size_t)count * item;
    unsigned char *a = guarded_fill(&r, first, count, 0xA5, item);
    unsigned char *b = guarded_fill(&r, first, count, 0x5A, item);
    CHECK(memcmp(a + GUARD, b + GUARD, bytes) == 0,
          "%s dtype %d simd %s threads %d [%llu, +%llu): elements left unwritten",
          dist_names[dist], dtype, fastki_simd_name(simd), threads, (unsigned long long)first,
          (unsigned long long)count);
    if (ref)
        CHECK(memcmp(a + GUARD, ref + (size_t)(first - ref_first) * item, bytes) == 0,
              "%s dtype %d simd %s threads %d [%llu, +%llu): differs from the reference",
              dist_names[dist], dtype, fastki_simd_name(simd), threads,
              (unsigned long long)first, (unsigned long long)count);
    int values_ok = 1;
    for (uint64_t i = 0; i < count; i++) values_ok &= value_ok(&r, a + GUARD + i * item);
    CHECK(values_ok, "%s dtype %d: a value out of range", dist_names[dist], dtype);
    if (RUNNING_ON_VALGRIND && count) {
        /* a fresh, uninitialised buffer: memcheck knows which bytes were written */
        unsigned char *fresh = malloc(bytes);
        fastki_fill(&r, first, count, fresh);
        CHECK(VALGRIND_CHECK_MEM_IS_DEFINED(fresh, bytes) == 0, "undefined output bytes");
        free(fresh);
    }
    free(a);
    free(b);
}

int main(int argc, char **argv)
{
    /* big: also run one fill past the streaming-store threshold per path (slow under valgrind) */
    int big = argc > 1 && strcmp(argv[1], "--big") == 0;
    int paths[FASTKI_SIMD_COUNT], npaths = 0;
    for (int s = 0; s < FASTKI_SIMD_COUNT; s++)
        if (fastki_simd_available(s)) paths[npaths++] = s;
    printf("SIMD paths run here:");
    for (int i = 0; i < npaths; i++) printf(" %s", fastki_simd_name(paths[i]));
    printf("; OpenMP %s, max threads %d%s\n", fastki_openmp_enabled() ? "on" : "off",
           fastki_max_threads(), RUNNING_ON_VALGRIND ? "; under valgrind" : "");

    const uint64_t END = UINT64_MAX; /* element 2**64 - 1 is the last one */
    /* (offset from the base, count) within a reference range of REF elements */
    static const uint64_t ranges[][2] = {{0, 0},   {0, 1},   {1, 1},    {3, 79},  {79, 2},
                                         {80, 80}, {5, 161}, {31, 33},  {0, 1000}, {17, 2099},
                                         {1, 2998}, {2999, 1}, {2000, 1000}};
    const uint64_t REF = 3000;
    const uint64_t bases[] = {0, 7, (UINT64_C(1) << 32) - 1001, (UINT64_C(1) << 40) + 13,
                              END - REF + 1 /* the reference ends at element 2**64 - 1 */};
    const int thread_counts[] = {1, 2, 3};
    long cases = 0;

    for (int dist = 0; dist < 4; dist++)
        for (int dtype = 0; dtype < 2; dtype++)
            for (int variant = 0; variant < 2; variant++)
                for (size_t bi = 0; bi < sizeof bases / sizeof bases[0]; bi++) {
                    if (dist == FASTKI_RAW_WORDS && dtype + variant > 0) continue; /* no params */
                    uint64_t base = bases[bi];
                    size_t item = item_size(dist, dtype);
                    fastki_request r = request(dist, dtype, variant, FASTKI_SIMD_SCALAR, 1);
                    unsigned char *ref = malloc(REF * item);
                    fastki_fill(&r, base, REF, ref);
                    if (dist == FASTKI_RAW_WORDS) {
                        /* raw words against Philox itself, block by block (philox.h) */
                        int same = 1;
                        for (uint64_t i = 0; i < REF; i++) {
                            uint64_t w = base + i;
                            philox_ctr blk = fastki_stream_block(r.seed, r.stream, w / 4);
                            uint32_t got;
                            memcpy(&got, ref + i * 4, 4);
                            same &= got == blk.v[w % 4];
                        }
                        CHECK(same, "raw words at %llu differ from philox.h", (unsigned long long)base);
                    }
                    for (int pi = 0; pi < npaths; pi++)
                        for (int ti = 0; ti < 3; ti++)
                            for (size_t k = 0; k < sizeof ranges / sizeof ranges[0]; k++) {
                                check_case(dist, dtype, variant, paths[pi], thread_counts[ti],
                                           base + ranges[k][0], ranges[k][1], ref, base);
                                cases++;
                            }
                    free(ref);
                }

    if (big) {
        /* past FASTKI_STREAM_MIN_BYTES (32 MiB unless the build lowered it): streaming stores */
        uint64_t n = (UINT64_C(32) << 20) / 4 + 999;
        for (int pi = 0; pi < npaths; pi++) {
            check_case(FASTKI_UNIFORM, FASTKI_FLOAT32, 0, paths[pi], 2, 3, n, NULL, 0);
            cases++;
        }
    }

    /* fastki_random_raw (default threads): words up to the very last one, against
     * single-word calls */
    {
        uint32_t words[64], one;
        const uint64_t offsets[] = {0, 1, 3, UINT64_MAX - 63};
        for (size_t i = 0; i < 4; i++) {
            fastki_random_raw(1, 2, offsets[i], 64, words);
            int same = 1;
            for (uint64_t j = 0; j < 64; j += 7) {
                fastki_random_raw(1, 2, offsets[i] + j, 1, &one);
                same &= one == words[j];
            }
            CHECK(same, "random_raw at offset %llu", (unsigned long long)offsets[i]);
            cases++;
        }
    }
    /* raw words on 2 and 3 threads, long enough to be split, on every path */
    {
        const uint64_t n = 300007, first = 5;
        fastki_request r = request(FASTKI_RAW_WORDS, 0, 0, FASTKI_SIMD_SCALAR, 1);
        unsigned char *ref = malloc(n * 4);
        fastki_fill(&r, first, n, ref);
        for (int pi = 0; pi < npaths; pi++)
            for (int t = 2; t <= 3; t++) {
                check_case(FASTKI_RAW_WORDS, 0, 0, paths[pi], t, first, n, ref, first);
                cases++;
            }
        free(ref);
    }
    /* philox4x32_10: the Random123 known answer for counter = key = 0 */
    {
        uint32_t c[4] = {0, 0, 0, 0}, k[2] = {0, 0}, o[4];
        fastki_philox4x32_10(c, k, o, 1);
        CHECK(o[0] == 0x6627e8d5u && o[1] == 0xe169c58du && o[2] == 0xbc57ac4cu &&
                  o[3] == 0x9b00dbd8u,
              "philox4x32_10 known answer: %08x %08x %08x %08x", o[0], o[1], o[2], o[3]);
        cases++;
    }
    /* bad arguments are refused, not run */
    {
        fastki_request r = request(0, 0, 0, FASTKI_SIMD_SCALAR, 1);
        float x = 0;
        r.dist = (fastki_dist)7;
        CHECK(fastki_fill(&r, 0, 1, &x) == FASTKI_E_BAD_ARGUMENT, "bad dist accepted");
        r = request(0, 0, 0, 99, 1);
        CHECK(fastki_fill(&r, 0, 1, &x) == FASTKI_E_SIMD_UNAVAILABLE, "bad simd accepted");
        cases += 2;
    }

    printf("%ld cases, %ld checks, %ld failures\n", cases, checks, failures);
    return failures ? 1 : 0;
}
