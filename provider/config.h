/*
 * The provider's configuration: from its openssl.cnf section, and from
 * environment variables for what the section does not set (librdkafka's
 * ssl.providers loads us with no section at all).
 *
 *   openssl.cnf key   environment            meaning
 *   pkcs11-module     TOKENKEY_MODULE        PKCS#11 module path
 *   init-args         TOKENKEY_INIT_ARGS     CK_C_INITIALIZE_ARGS.pReserved (NSS)
 *   pin               TOKENKEY_PIN_SOURCE    file:/path or env:NAME
 *   -                 TOKENKEY_PIN_FILE      same as pin = file:/path
 *   -                 TOKENKEY_PIN           the PIN itself (containers)
 *   debug             TOKENKEY_DEBUG         0, 1 or 2 (here the environment wins: debug.c)
 *   debug-file        TOKENKEY_DEBUG_FILE    log to this file
 *   session-key-copy  TOKENKEY_SESSION_KEY_COPY  yes|no (default yes)
 */
#ifndef TK_CONFIG_H
#define TK_CONFIG_H

#include <stddef.h>

typedef struct tk_config {
    char *module;
    char *init_args;
    char *pin;            /* "file:/path" or "env:NAME", never a PIN itself */
    int debug;
    char *debug_file;
    int session_key_copy; /* copy keys into session objects (faster on SoftHSM2) */
} TK_CONFIG;

void tk_config_init(TK_CONFIG *cfg);
void tk_config_clear(TK_CONFIG *cfg);

/*
 * Apply one key = value. Returns 1, or 0 with a one-line reason in err
 * (which names the key and the value, except for values that may be secret).
 */
int tk_config_set(TK_CONFIG *cfg, const char *key, const char *value, char *err, size_t errlen);

/* Fill what is still unset from the environment; same error convention. */
int tk_config_from_env(TK_CONFIG *cfg, char *err, size_t errlen);

/* The openssl.cnf keys tk_config_set knows, NULL-terminated. */
extern const char *const tk_config_keys[];

#endif
