/* The floating-point environment every fill runs under (docs/algorithm.md, section
 * "Floating-point environment"): round to nearest-even, subnormals neither flushed to zero
 * (FTZ) nor read as zero (DAZ), exceptions masked. A caller may have changed any of these
 * (a library built with fast-math sets FTZ/DAZ when it loads; fesetround changes rounding),
 * and every value depends on them, so each fill sets the default on the thread that runs it
 * and puts the caller's back afterwards: the same bytes under any caller environment.
 *
 * x86-64 (and x86 with SSE2 math): the SSE control register MXCSR, which all float
 * arithmetic of these builds uses. Elsewhere: <fenv.h>'s default environment. */
#ifndef FASTKI_FPENV_H
#define FASTKI_FPENV_H

#if defined(__SSE2_MATH__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 2)
#include <xmmintrin.h>
#define FASTKI_FPENV_MXCSR 1
typedef unsigned int fastki_fpenv;
/* MXCSR bits 6..15 are control (DAZ, exception masks, rounding, FTZ); bits 0..5 are the
 * sticky exception flags, which say nothing about how the next operation rounds. */
#define FASTKI_MXCSR_CONTROL 0xFFC0u
#define FASTKI_MXCSR_DEFAULT 0x1F80u /* all exceptions masked, nearest-even, no DAZ/FTZ */

static inline int fastki_fpenv_is_default(void)
{
    return (_mm_getcsr() & FASTKI_MXCSR_CONTROL) == FASTKI_MXCSR_DEFAULT;
}

static inline fastki_fpenv fastki_fpenv_enter(void)
{
    unsigned int csr = _mm_getcsr();
    if ((csr & FASTKI_MXCSR_CONTROL) != FASTKI_MXCSR_DEFAULT)
        _mm_setcsr((csr & ~FASTKI_MXCSR_CONTROL) | FASTKI_MXCSR_DEFAULT);
    return csr;
}

static inline void fastki_fpenv_leave(fastki_fpenv saved)
{
    if ((saved & FASTKI_MXCSR_CONTROL) != FASTKI_MXCSR_DEFAULT) _mm_setcsr(saved);
}
#else
#include <fenv.h>
#include <float.h>
#define FASTKI_FPENV_MXCSR 0
typedef fenv_t fastki_fpenv;

static inline int fastki_fpenv_is_default(void)
{
    volatile float smallest_normal = FLT_MIN, half = 0.5f;
    /* flush-to-zero turns FLT_MIN / 2 (a subnormal) into 0 */
    return fegetround() == FE_TONEAREST && smallest_normal * half != 0.0f;
}

static inline fastki_fpenv fastki_fpenv_enter(void)
{
    fenv_t saved;
    fegetenv(&saved);
    fesetenv(FE_DFL_ENV);
    return saved;
}

static inline void fastki_fpenv_leave(fastki_fpenv saved) { fesetenv(&saved); }
#endif

/* For the Python layer (fastki/_native.pyx), which computes parameters and runs the NumPy
 * backend in Python and NumPy arithmetic: with MXCSR, set the default on this thread and
 * return the caller's value as a token for fastki_fpenv_end; elsewhere change nothing and
 * return -1 when the environment is the default, -2 when it is not (the caller refuses). */
static inline long long fastki_fpenv_begin(void)
{
#if FASTKI_FPENV_MXCSR
    return (long long)fastki_fpenv_enter();
#else
    return fastki_fpenv_is_default() ? -1 : -2;
#endif
}

static inline void fastki_fpenv_end(long long token)
{
#if FASTKI_FPENV_MXCSR
    if (token >= 0) fastki_fpenv_leave((fastki_fpenv)token);
#else
    (void)token;
#endif
}

#endif
