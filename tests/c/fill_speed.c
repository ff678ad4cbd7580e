/* Per-element time of fastki_fill, straight from C (no Python), for docs/benchmarks.md ("Raw
 * words and float64"): uniform float32, uniform float64, raw words and normal float32, N
 * elements into one existing buffer, the best of 30 fills each. Not a test: it asserts
 * nothing. Ratios mean something only between figures of one run.
 *   TEST_SOURCE=tests/c/fill_speed.c bash ci/build_c_tests.sh build/speed
 *   build/speed/fill_speed [PATH [THREADS [N]]]   PATH: scalar, sse2, avx2, avx512, neon or
 *   auto (default); THREADS: 0 for the default (default 1); N: 2**20 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fastki.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    int simd = FASTKI_SIMD_AUTO;
    if (argc > 1 && strcmp(argv[1], "auto") != 0) {
        simd = -2;
        for (int s = 0; s < FASTKI_SIMD_COUNT; s++)
            if (strcmp(argv[1], fastki_simd_name(s)) == 0) simd = s;
    }
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    uint64_t n = argc > 3 ? strtoull(argv[3], NULL, 10) : UINT64_C(1) << 20;
    void *buf = calloc(n ? n : 1, 8);
    if (!buf) return 1;
    static const struct { int dist, dtype; const char *name; } kinds[] = {
        {FASTKI_UNIFORM, FASTKI_FLOAT32, "uniform float32"},
        {FASTKI_UNIFORM, FASTKI_FLOAT64, "uniform float64"},
        {FASTKI_RAW_WORDS, FASTKI_FLOAT32, "raw words"},
        {FASTKI_NORMAL, FASTKI_FLOAT32, "normal float32"}};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        fastki_request r;
        memset(&r, 0, sizeof r);
        r.dist = (fastki_dist)kinds[k].dist;
        r.dtype = (fastki_dtype)kinds[k].dtype;
        r.seed = 1;
        r.params.scale = 1.0;
        r.params.value_max = 1.0;
        r.simd = simd;
        r.num_threads = threads;
        double best = 1e30;
        for (int i = 0; i < 30; i++) {
            double t0 = now();
            if (fastki_fill(&r, 0, n, buf) != FASTKI_OK) {
                fprintf(stderr, "fill_speed: path %s not available\n", argc > 1 ? argv[1] : "auto");
                return 1;
            }
            double t = now() - t0;
            if (t < best) best = t;
        }
        fastki_fill_report rep;
        fastki_last_fill(&rep);
        printf("%-16s %.3f ns per element (last fill: %d threads)\n", kinds[k].name,
               best / (double)n * 1e9, rep.threads);
    }
    free(buf);
    return 0;
}
