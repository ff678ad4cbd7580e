/* The fills compiled for the neon path (AArch64 only; flags from tools/buildflags.py, never
 * -march=native). Advanced SIMD is part of every AArch64 CPU, so no run-time detection. */
#define FASTKI_ISA neon
#define FASTKI_VECTOR_NEON
#include "fill_impl.h"
