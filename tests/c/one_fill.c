/* One fill on one thread, for counting instructions (ci/aarch64.sh runs it under qemu-aarch64
 * with tools/qemu_insns.py; docs/benchmarks.md has the counts).
 *   usage: one_fill PATH DIST DTYPE N    e.g. one_fill neon normal float32 8000
 * DIST: uniform, normal, truncated_normal; DTYPE: float32, float64. Prints the output's first
 * value so the fill cannot be optimised away. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastki.h"

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: one_fill PATH DIST DTYPE N\n");
        return 2;
    }
    fastki_request r;
    memset(&r, 0, sizeof r);
    r.simd = -2;
    for (int s = 0; s < FASTKI_SIMD_COUNT; s++)
        if (strcmp(argv[1], fastki_simd_name(s)) == 0) r.simd = s;
    r.dist = strcmp(argv[2], "uniform") == 0 ? FASTKI_UNIFORM
             : strcmp(argv[2], "normal") == 0 ? FASTKI_NORMAL : FASTKI_TRUNCATED_NORMAL;
    r.dtype = strcmp(argv[3], "float64") == 0 ? FASTKI_FLOAT64 : FASTKI_FLOAT32;
    uint64_t n = strtoull(argv[4], NULL, 10);
    r.seed = 42;
    r.num_threads = 1;
    r.params.scale = 1.0;
    r.params.value_min = -2.0;
    r.params.value_max = r.dist == FASTKI_UNIFORM ? 0.99999994039535522 : 2.0;
    r.params.p_low = 0.022750131948179195;
    r.params.p_width = 0.9544997361036416;
    void *out = calloc(n ? n : 1, 8);
    int rc = fastki_fill(&r, 0, n, out);
    if (rc != FASTKI_OK) {
        fprintf(stderr, "one_fill: fastki_fill returned %d (path %s)\n", rc, argv[1]);
        return 1;
    }
    printf("%a\n", r.dtype == FASTKI_FLOAT32 ? (double)((float *)out)[0] : ((double *)out)[0]);
    free(out);
    return 0;
}
