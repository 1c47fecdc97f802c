/* Call statistics and the per-call debug line of the PKCS#11 layer. */
#include <stdarg.h>
#include <stdio.h>

#include "debug.h"
#include "p11_internal.h"

static unsigned long call_counts[TK_FN_COUNT];

CK_RV tk_p11_traced(TK_P11_FN fn, CK_RV rv, const char *file, int line, const char *fmt, ...)
{
    tk_p11_gate_leave();
    /* Drop whatever the module left on the queue since TK_P11_TRACED's mark. */
    ERR_pop_to_mark();
    /* Relaxed: the counts are statistics, read after the work is done. */
    __atomic_fetch_add(&call_counts[fn], 1, __ATOMIC_RELAXED);
    if (tk_debug_enabled(1)) {
        char detail[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        tk_debug_printf(1, file, line, tk_p11_fn_name(fn), "%s(%s) = %s",
                        tk_p11_fn_name(fn), detail, tk_p11_rv_name(rv));
    }
    return rv;
}

unsigned long tk_p11_stat(TK_P11_FN fn)
{
    return fn < TK_FN_COUNT ? __atomic_load_n(&call_counts[fn], __ATOMIC_RELAXED) : 0;
}
