/* The fills compiled for the avx2 path (flags chosen by setup.py, never -march=native). */
#define FASTKI_ISA avx2
#define FASTKI_VECTOR_AVX2
#include "fill_impl.h"
