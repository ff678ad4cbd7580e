/* The fills compiled for the sse2 path (flags chosen by setup.py, never -march=native). */
#define FASTKI_ISA sse2
#define FASTKI_VECTOR_SSE2
#include "fill_impl.h"
