/* Hooks for tests only (tests/c/test_threads.c), not part of fastki's C API (src_c/fastki.h). */
#ifndef FASTKI_DEBUG_H
#define FASTKI_DEBUG_H

#ifdef __cplusplus
extern "C" {
#endif

/* hold != 0: helpers that take a job wait before claiming any piece until it is called again
 * with 0; so a test can check that a fill finishes without the helpers it recruited. */
void fastki_debug_hold_helpers(int hold);
/* Helper threads started so far (0 without POSIX threads). */
int fastki_debug_helpers_started(void);

#ifdef __cplusplus
}
#endif
#endif
