/* Thread rules of src_c/dispatch.c ("threads") that Python cannot reach, run by
 * tests/test_threads_split.py (built with ci/build_c_tests.sh, TEST_SOURCE=this file):
 *  - a default fill (num_threads 0) called inside an OpenMP parallel region stays on its
 *    calling thread, and gives the bytes of a serial fill;
 *  - the sharing rule's counter is back to zero after those fills;
 *  - fills that end at element 2**64 - 1 give the same bytes with 1, 2, 3, 7 and 16 threads
 *    under whatever FASTKI_SCHEDULE / FASTKI_CHUNK_GROUPS the environment sets.
 * Prints the settings and "0 failures" when every check holds; exit status 1 otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "fastki.h"

#include "check.h"

static fastki_request normal_request(int dtype, int threads)
{
    fastki_request r;
    memset(&r, 0, sizeof r);
    r.dist = FASTKI_NORMAL;
    r.dtype = (fastki_dtype)dtype;
    r.seed = UINT64_C(0xFEEDFACECAFEBEEF);
    r.stream = 9;
    r.params.loc = 0.0;
    r.params.scale = 1.0;
    r.simd = FASTKI_SIMD_AUTO;
    r.num_threads = threads;
    return r;
}

#define N 200003

static void nested_default_fill_stays_on_its_thread(void)
{
    static float serial[N], inner[2][N];
    fastki_request one = normal_request(FASTKI_FLOAT32, 1), dflt = normal_request(FASTKI_FLOAT32, 0);
    CHECK(fastki_fill(&one, 1001, N, serial) == FASTKI_OK, "serial fill");
    int team = 0, reported[2] = {-1, -1}, wanted[2] = {-1, -1};
#pragma omp parallel num_threads(2)
    {
        int t = omp_get_thread_num();
        if (t == 0) team = omp_get_num_threads();
        if (t < 2) {
            fastki_fill_report rep;
            CHECK(fastki_fill(&dflt, 1001, N, inner[t]) == FASTKI_OK, "nested fill");
            fastki_last_fill(&rep);
            reported[t] = rep.threads;
            wanted[t] = rep.want;
        }
    }
    for (int t = 0; t < team && t < 2; t++) {
        CHECK(wanted[t] == 1 && reported[t] == 1,
              "a default fill inside a parallel region of %d threads wanted %d and ran on %d "
              "threads; expected 1", team, wanted[t], reported[t]);
        CHECK(memcmp(inner[t], serial, sizeof serial) == 0, "nested fill %d: other bytes", t);
    }
    /* outside any region the same default fill may use threads again */
    fastki_fill_report rep;
    CHECK(fastki_fill(&dflt, 1001, N, inner[0]) == FASTKI_OK, "fill");
    fastki_last_fill(&rep);
    CHECK(rep.want == fastki_thread_count(0, 2 * (uint64_t)N) && rep.want == fastki_max_threads(),
          "outside a region: want %d, max threads %d", rep.want, fastki_max_threads());
    int64_t fills, extra;
    fastki_threads_in_flight(&fills, &extra);
    CHECK(fills == 0 && extra == 0, "fills in flight after the fills: %lld, %lld",
          (long long)fills, (long long)extra);
}

static void fills_at_the_end_of_the_index_range(void)
{
    const int counts[] = {1, 2, 3, 7, 16};
    for (int dtype = 0; dtype < 2; dtype++) {
        size_t item = dtype == FASTKI_FLOAT32 ? 4 : 8;
        uint64_t first = UINT64_MAX - (N - 1); /* the last element is 2**64 - 1 */
        char *ref = malloc(N * item), *got = malloc(N * item);
        fastki_request r = normal_request(dtype, 1);
        CHECK(ref && got && fastki_fill(&r, first, N, ref) == FASTKI_OK, "reference fill");
        for (int i = 0; i < 5; i++) {
            r.num_threads = counts[i];
            memset(got, 0x5A, N * item);
            CHECK(fastki_fill(&r, first, N, got) == FASTKI_OK, "fill");
            fastki_fill_report rep;
            fastki_last_fill(&rep);
            CHECK(rep.threads == counts[i], "dtype %d: asked %d threads, ran on %d", dtype,
                  counts[i], rep.threads);
            CHECK(memcmp(got, ref, N * item) == 0,
                  "dtype %d, %d threads, elements up to 2**64 - 1: other bytes", dtype, counts[i]);
        }
        free(ref);
        free(got);
    }
}

int main(void)
{
    const fastki_thread_config *c = fastki_thread_settings();
    printf("schedule %d, chunk groups %llu, streaming %d, share %d, invalid %d; max threads %d\n",
           c->schedule, (unsigned long long)c->chunk_groups, c->streaming, c->share, c->invalid,
           fastki_max_threads());
    nested_default_fill_stays_on_its_thread();
    fills_at_the_end_of_the_index_range();
    printf("%ld checks, %ld failures\n", checks, failures);
    return failures ? 1 : 0;
}
