/* The fills compiled for the avx512 path (flags chosen by setup.py, never -march=native). */
#define FASTKI_ISA avx512
#define FASTKI_VECTOR_AVX512
#include "fill_impl.h"
