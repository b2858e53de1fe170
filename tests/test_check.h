/* The CHECK counter the C tests share: CHECK(cond, fmt, ...) counts a pass, or counts a failure and prints
 * "FAIL file:line: message" (the first CHECK_PRINT_LIMIT failures; a test that checks thousands of records sets it
 * lower before including this file). Each test reports passes and fails and exits non-zero on any failure. */
#ifndef IOPO_TEST_CHECK_H
#define IOPO_TEST_CHECK_H

#include <limits.h>
#include <stdio.h>

#ifndef CHECK_PRINT_LIMIT
#define CHECK_PRINT_LIMIT INT_MAX
#endif

static int passes, fails;
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            passes++;                                                                                                  \
        } else if (++fails <= CHECK_PRINT_LIMIT) {                                                                     \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                                \
            printf(__VA_ARGS__);                                                                                       \
            printf("\n");                                                                                              \
        }                                                                                                              \
    } while (0)

#endif
