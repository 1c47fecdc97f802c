/* Memcheck's verdict on a forked child (vg_check.h). */
#include <stdio.h>
#include <string.h>

#ifdef TK_HAVE_VALGRIND_H
#include <valgrind/memcheck.h>
#endif

#include "vg_check.h"

void tk_vg_mark(TK_VG *m)
{
    memset(m, 0, sizeof(*m));
#ifdef TK_HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND) {
        unsigned long dubious = 0, reachable = 0, suppressed = 0;

        VALGRIND_DO_QUICK_LEAK_CHECK;
        VALGRIND_COUNT_LEAKS(m->leaked, dubious, reachable, suppressed);
        (void)dubious, (void)reachable, (void)suppressed;
        m->errors = (unsigned long)VALGRIND_COUNT_ERRORS;
    }
#endif
}

int tk_vg_clean(const TK_VG *mark, const char *who)
{
    TK_VG now;

    tk_vg_mark(&now);
    if (now.errors == mark->errors && now.leaked <= mark->leaked)
        return 1;
    fprintf(stderr, "%s: valgrind: %lu errors, %lu bytes definitely lost\n", who,
            now.errors - mark->errors, now.leaked > mark->leaked ? now.leaked - mark->leaked : 0);
    return 0;
}
