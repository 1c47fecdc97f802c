/* The debug log: see debug.h. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "debug.h"
#include "fork_lock.h"

int tk_debug_level;
static int env_decided;   /* TOKENKEY_DEBUG was set, even to 0: the config can't override it */
static FILE *debug_out;
static pthread_once_t debug_once = PTHREAD_ONCE_INIT;
static TK_FORK_LOCK debug_lock = TK_FORK_LOCK_INITIALIZER;

static void open_output(const char *file)
{
    FILE *f = NULL;

    if (file != NULL && *file != '\0') {
        /* "e": the log must not leak into programs we exec. */
        f = fopen(file, "ae");
        if (f == NULL)
            fprintf(stderr, "tokenkey: cannot open debug log file '%s'; logging to stderr\n", file);
    }
    if (debug_out != NULL && debug_out != stderr)
        fclose(debug_out);
    debug_out = f != NULL ? f : stderr;
}

static void debug_init_from_env(void)
{
    const char *level = getenv("TOKENKEY_DEBUG");

    if (level == NULL || *level == '\0')
        return;
    env_decided = 1;
    if (strcmp(level, "0") == 0)
        return;
    open_output(getenv("TOKENKEY_DEBUG_FILE"));
    tk_debug_level = atoi(level) > 0 ? atoi(level) : 1;
}

int tk_debug_enabled(int level)
{
    pthread_once(&debug_once, debug_init_from_env);
    return __atomic_load_n(&tk_debug_level, __ATOMIC_RELAXED) >= level;
}

void tk_debug_configure(int level, const char *file)
{
    pthread_once(&debug_once, debug_init_from_env);
    tk_fork_lock_acquire(&debug_lock);
    /* The environment, when set (even to 0), wins over the config file. */
    if (!env_decided && tk_debug_level == 0 && level > 0) {
        open_output(file);
        __atomic_store_n(&tk_debug_level, level, __ATOMIC_RELAXED);
    }
    tk_fork_lock_release(&debug_lock);
}

void tk_debug_printf(int level, const char *file, int line, const char *func,
                     const char *fmt, ...)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    const char *base = strrchr(file, '/');
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%H:%M:%S", &tm);

    tk_fork_lock_acquire(&debug_lock);
    fprintf(debug_out, "tokenkey[%s.%06ld] %s:%d %s: ", stamp, ts.tv_nsec / 1000,
            base != NULL ? base + 1 : file, line, func);
    va_start(ap, fmt);
    vfprintf(debug_out, fmt, ap);
    va_end(ap);
    fputc('\n', debug_out);
    fflush(debug_out);
    tk_fork_lock_release(&debug_lock);
}
