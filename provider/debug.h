/*
 * Debug log, off by default. Switched on by TOKENKEY_DEBUG=1 (or 2 for
 * more detail) in the environment, or by "debug = 1" in the provider's
 * openssl.cnf section. TOKENKEY_DEBUG_FILE / "debug-file" sends it to a
 * file instead of stderr. Each line carries time, file:line and function.
 *
 * Never pass a PIN or any other secret to these macros.
 */
#ifndef TK_DEBUG_H
#define TK_DEBUG_H

extern int tk_debug_level; /* read through tk_debug_enabled() */

/* Reads the environment once (pthread_once); cheap after that. */
int tk_debug_enabled(int level);

/* Provider config may switch the log on later; file may be NULL (stderr). */
void tk_debug_configure(int level, const char *file);

#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
void tk_debug_printf(int level, const char *file, int line, const char *func,
                     const char *fmt, ...);

#define TK_DEBUG_AT(level, ...)                                               \
    do {                                                                      \
        if (tk_debug_enabled(level))                                          \
            tk_debug_printf(level, __FILE__, __LINE__, __func__, __VA_ARGS__); \
    } while (0)

#define TK_DEBUG(...) TK_DEBUG_AT(1, __VA_ARGS__)
#define TK_TRACE(...) TK_DEBUG_AT(2, __VA_ARGS__)

#endif
