/* main() for the fixture-based test executables: see runner.h. */
#include <stdio.h>

#include "runner.h"

int tk_test_run(const char *name, const struct CMUnitTest *tests, size_t ntests,
                int (*setup)(void), void (*teardown)(void))
{
    int rc;

    /* A broken fixture is a failure, never a skip. */
    if (setup() != 0) {
        fprintf(stderr, "%s: setup failed\n", name);
        return 1;
    }
    rc = _cmocka_run_group_tests(name, tests, ntests, NULL, NULL);
    teardown();
    return rc;
}
