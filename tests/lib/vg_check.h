/*
 * Memcheck's own verdict on a forked child. Under the 'valgrind' test
 * setup a child that does not exec writes no log of its own
 * (--child-silent-after-fork, tests/setups/valgrind-run.sh), so nothing
 * would judge the code it ran: it asks memcheck itself whether it made
 * errors or leaked memory (definitely lost, suppressions applied) between
 * tk_vg_mark and tk_vg_clean, and says so in its exit status. Not under
 * valgrind: always clean.
 */
#ifndef TK_TEST_VG_CHECK_H
#define TK_TEST_VG_CHECK_H

typedef struct {
    unsigned long errors, leaked;
} TK_VG;

void tk_vg_mark(TK_VG *m);
/* 1 when nothing new since mark; else 0 after printing what, prefixed by who. */
int tk_vg_clean(const TK_VG *mark, const char *who);

#endif
