/* Thread rules of src_c/dispatch.c ("threads") that Python cannot reach, run by
 * tests/test_threads_split.py (built with ci/build_c_tests.sh, TEST_SOURCE=this file):
 *  - a default fill (num_threads 0) called inside an OpenMP parallel region stays on its
 *    calling thread, and gives the bytes of a serial fill;
 *  - a fill finishes without helpers that never turn up (fastki_debug_hold_helpers): its
 *    calling thread runs every piece, and the helpers, once let go, find nothing left and
 *    are idle again;
 *  - fills that end at element 2**64 - 1 give the same bytes with 1, 2, 3, 7 and 16 threads,
 *    with the default pieces and with pieces of one group (fastki_configure);
 *  - fastki_configure refuses settings out of range and changes nothing then.
 * Prints the settings and "0 failures" when every check holds; exit status 1 otherwise. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <omp.h>

#include "fastki.h"
#include "fastki_debug.h"

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
    CHECK(rep.want == fastki_thread_count(0, 2 * (uint64_t)N) && rep.want == fastki_thread_budget(),
          "outside a region: want %d, budget %d", rep.want, fastki_thread_budget());
}

/* Waits (at most about 20 s) until every started helper is idle; returns how many there are,
 * or -1 if they did not all go idle. */
static int all_helpers_idle(void)
{
    for (int i = 0; i < 20000; i++) {
        int started = fastki_debug_helpers_started();
        if (fastki_idle_helpers() == started) return started;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    return -1;
}

static void fill_finishes_without_late_helpers(void)
{
    static float serial[N], got[N];
    fastki_request one = normal_request(FASTKI_FLOAT32, 1), two = normal_request(FASTKI_FLOAT32, 2);
    CHECK(fastki_fill(&one, 5, N, serial) == FASTKI_OK, "serial fill");
    CHECK(fastki_fill(&two, 5, N, got) == FASTKI_OK, "fill"); /* starts a helper */
    if (fastki_debug_helpers_started() == 0) {
        printf("no helpers (an OpenMP team runs the fills): the late-helper checks do not apply\n");
        CHECK(memcmp(got, serial, sizeof got) == 0, "2 threads: other bytes");
        return;
    }
    int helpers = all_helpers_idle();
    CHECK(helpers >= 1, "the helpers did not go idle (%d)", helpers);
    fastki_debug_hold_helpers(1);
    memset(got, 0, sizeof got);
    /* would never return if it waited for its helper */
    CHECK(fastki_fill(&two, 5, N, got) == FASTKI_OK, "fill with the helper held");
    fastki_fill_report rep;
    fastki_last_fill(&rep);
    CHECK(rep.threads == 2 && rep.caller_pieces == rep.pieces && rep.pieces > 1,
          "held helper: threads %d, pieces %llu, by the caller %llu", rep.threads,
          (unsigned long long)rep.pieces, (unsigned long long)rep.caller_pieces);
    CHECK(memcmp(got, serial, sizeof got) == 0, "held helper: other bytes");
    CHECK(fastki_idle_helpers() == helpers - 1, "the held helper counts as idle");
    /* the next fill recruits only an idle helper: with none left it runs alone */
    fastki_request all = normal_request(FASTKI_FLOAT32, helpers + 1);
    CHECK(fastki_fill(&all, 5, N, got) == FASTKI_OK, "fill");
    fastki_last_fill(&rep);
    CHECK(rep.threads == helpers && memcmp(got, serial, sizeof got) == 0,
          "with one of %d helpers still assigned: threads %d", helpers, rep.threads);
    fastki_debug_hold_helpers(0);
    CHECK(all_helpers_idle() == helpers, "the late helper did not go idle");
}

static void configure_refuses_out_of_range(void)
{
    fastki_thread_config before, after, bad[5];
    fastki_thread_settings(&before);
    for (int i = 0; i < 5; i++) bad[i] = before;
    bad[0].chunk_groups = 0;
    bad[1].chunk_groups = (UINT64_C(1) << 24) + 1;
    bad[2].streaming = 2;
    bad[3].cpu_limit = -1;
    bad[4].load_signal = 2;
    for (int i = 0; i < 5; i++)
        CHECK(fastki_configure(&bad[i]) == FASTKI_E_BAD_ARGUMENT, "bad setting %d accepted", i);
    fastki_thread_settings(&after);
    CHECK(memcmp(&before, &after, sizeof before) == 0, "a refused setting changed something");
    fastki_thread_config limit = before;
    limit.cpu_limit = 1;
    CHECK(fastki_configure(&limit) == FASTKI_OK && fastki_thread_budget() == 1, "cpu_limit 1");
    CHECK(fastki_thread_count(0, UINT64_C(1) << 30) == 1 && fastki_thread_count(3, UINT64_C(1) << 30) == 3,
          "cpu limit 1: a default fill wants 1, an explicit count is kept");
    CHECK(fastki_configure(&before) == FASTKI_OK, "settings put back");
}

/* The load signal is asked by default fills only, and only while it is switched on. */
static void load_signal_asked_by_default_fills(void)
{
    static float got[N];
    fastki_thread_config saved, c;
    fastki_thread_settings(&saved);
    fastki_request dflt = normal_request(FASTKI_FLOAT32, 0), two = normal_request(FASTKI_FLOAT32, 2);
    fastki_fill_report rep;
    for (int on = 0; on < 2; on++) {
        c = saved;
        c.load_signal = on;
        CHECK(fastki_configure(&c) == FASTKI_OK, "load_signal %d", on);
        CHECK(fastki_fill(&two, 0, N, got) == FASTKI_OK, "fill");
        fastki_last_fill(&rep);
        CHECK(rep.free_cpus == -1, "an explicit count asked the load signal");
        CHECK(fastki_fill(&dflt, 0, N, got) == FASTKI_OK, "fill");
        fastki_last_fill(&rep);
#ifdef __linux__ /* with helpers only (an OpenMP team takes what OpenMP gives) */
        int asked = on && fastki_thread_budget() > 1 && fastki_debug_helpers_started() > 0;
#else
        int asked = 0;
#endif
        CHECK(asked ? rep.free_cpus >= 0 && rep.threads <= rep.free_cpus + 1 : rep.free_cpus == -1,
              "load signal %d: free_cpus %d, threads %d", on, rep.free_cpus, rep.threads);
    }
    fastki_configure(&saved);
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
            /* helpers still busy with an earlier fill are not recruited */
            CHECK(rep.threads >= 1 && rep.threads <= counts[i], "dtype %d: asked %d threads, ran on %d",
                  dtype, counts[i], rep.threads);
            CHECK(memcmp(got, ref, N * item) == 0,
                  "dtype %d, %d threads, elements up to 2**64 - 1: other bytes", dtype, counts[i]);
        }
        free(ref);
        free(got);
    }
}

static void fills_at_the_end_with_pieces_of(uint64_t groups)
{
    fastki_thread_config c, saved;
    fastki_thread_settings(&saved);
    c = saved;
    c.chunk_groups = groups;
    CHECK(fastki_configure(&c) == FASTKI_OK, "chunk_groups %llu", (unsigned long long)groups);
    fills_at_the_end_of_the_index_range();
    fastki_configure(&saved);
}

int main(void)
{
    fastki_thread_config c;
    fastki_thread_settings(&c);
    printf("chunk groups %llu, streaming %d, cpu limit %d, load signal %d; budget %d\n",
           (unsigned long long)c.chunk_groups, c.streaming, c.cpu_limit, c.load_signal,
           fastki_thread_budget());
    nested_default_fill_stays_on_its_thread();
    fill_finishes_without_late_helpers();
    configure_refuses_out_of_range();
    load_signal_asked_by_default_fills();
    fills_at_the_end_of_the_index_range();
    fills_at_the_end_with_pieces_of(1);
    printf("%ld checks, %ld failures\n", checks, failures);
    return failures ? 1 : 0;
}
