/* Prints the SIMD paths fastki_simd_available reports, one line. ci/aarch64.sh links it with
 * src_c/dispatch.c built as usual and built with its MSVC cpuid + xgetbv detection
 * (-DFASTKI_CPUID_CHECK): both must list the same paths on the same CPU. */
#include <stdio.h>

#include "fastki.h"

int main(void)
{
    for (int s = 0; s < FASTKI_SIMD_COUNT; s++)
        if (fastki_simd_available(s)) printf("%s ", fastki_simd_name(s));
    printf("(best: %s)\n", fastki_simd_name(fastki_simd_best()));
    return 0;
}
