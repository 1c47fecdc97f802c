/*
 * main() for cmocka test executables built on the token fixture:
 *
 *   int main(void)
 *   {
 *       return tk_test_run("name", tests, TK_TEST_COUNT(tests), setup, teardown);
 *   }
 *
 * setup() (0 or -1) runs first, outside cmocka, so that a fixture failure
 * fails the executable; teardown() runs last.
 */
#ifndef TK_TEST_RUNNER_H
#define TK_TEST_RUNNER_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

int tk_test_run(const char *name, const struct CMUnitTest *tests, size_t ntests,
                int (*setup)(void), void (*teardown)(void));

#define TK_TEST_COUNT(a) (sizeof(a) / sizeof((a)[0]))

#endif
