/* The fills compiled for the scalar path (flags chosen by setup.py, never -march=native). */
#define FASTKI_ISA scalar
#include "fill_impl.h"
