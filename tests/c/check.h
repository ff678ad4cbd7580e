/* The one CHECK of the C test programs (tests/c/test_fills.c, tests/c/test_threads.c): counts
 * a check and, when cond is false, a failure, printing the first 20 failures with their line.
 * Each program prints `checks` and `failures` at the end and exits 1 on any failure. */
#ifndef FASTKI_TEST_CHECK_H
#define FASTKI_TEST_CHECK_H

#include <stdio.h>

static long failures = 0, checks = 0;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        checks++;                                                                             \
        if (!(cond)) {                                                                        \
            failures++;                                                                       \
            if (failures < 20) {                                                              \
                fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                          \
                fprintf(stderr, __VA_ARGS__);                                                 \
                fputc('\n', stderr);                                                          \
            }                                                                                 \
        }                                                                                     \
    } while (0)

#endif
