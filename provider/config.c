/* Provider configuration (see config.h). Pure parsing: no I/O, fuzzable. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "config.h"

/*
 * Not "module": in an openssl.cnf provider section that key is OpenSSL's
 * own (the provider's .so path), and OpenSSL hands it to us too.
 */
const char *const tk_config_keys[] = {
    "pkcs11-module", "init-args", "pin", "debug", "debug-file", "session-key-copy", NULL
};

void tk_config_init(TK_CONFIG *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->session_key_copy = -1; /* unset: default applies */
}

void tk_config_clear(TK_CONFIG *cfg)
{
    OPENSSL_free(cfg->module);
    OPENSSL_free(cfg->init_args);
    OPENSSL_free(cfg->pin);
    OPENSSL_free(cfg->debug_file);
    tk_config_init(cfg);
}

static int set_string(char **slot, const char *value)
{
    char *copy = OPENSSL_strdup(value);

    if (copy == NULL)
        return 0;
    OPENSSL_free(*slot);
    *slot = copy;
    return 1;
}

static int parse_bool(const char *v, int *out)
{
    static const char *const yes[] = { "1", "yes", "true", "on", NULL };
    static const char *const no[] = { "0", "no", "false", "off", NULL };

    for (int i = 0; yes[i] != NULL; i++)
        if (strcasecmp(v, yes[i]) == 0)
            return *out = 1, 1;
    for (int i = 0; no[i] != NULL; i++)
        if (strcasecmp(v, no[i]) == 0)
            return *out = 0, 1;
    return 0;
}

/* A PIN source must name where the PIN is, so a PIN never sits in openssl.cnf. */
static int valid_pin_source(const char *v)
{
    if (strncmp(v, "file:", 5) == 0)
        return v[5] != '\0';
    if (strncmp(v, "env:", 4) == 0)
        return v[4] != '\0';
    return 0;
}

int tk_config_set(TK_CONFIG *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    if (value == NULL)
        value = "";
    if (strcmp(key, "pkcs11-module") == 0 || strcmp(key, "init-args") == 0
        || strcmp(key, "debug-file") == 0) {
        char **slot = key[0] == 'p' ? &cfg->module
                      : key[0] == 'i' ? &cfg->init_args : &cfg->debug_file;

        if (*value == '\0' && key[0] != 'i') {
            snprintf(err, errlen, "'%s' is empty: give a file path", key);
            return 0;
        }
        if (!set_string(slot, value)) {
            snprintf(err, errlen, "out of memory");
            return 0;
        }
        return 1;
    }
    if (strcmp(key, "pin") == 0) {
        /* Don't echo the value: it may be a PIN typed in by mistake. */
        if (strcmp(value, "file:") == 0 || strcmp(value, "env:") == 0) {
            snprintf(err, errlen, "'pin' is %s with nothing after it: name the PIN file "
                                  "(file:/path/to/pinfile) or variable (env:VARIABLE)", value);
            return 0;
        }
        if (!valid_pin_source(value)) {
            snprintf(err, errlen, "'pin' must be file:/path/to/pinfile or env:VARIABLE "
                                  "(a PIN itself is not accepted in configuration)");
            return 0;
        }
        if (!set_string(&cfg->pin, value)) {
            snprintf(err, errlen, "out of memory");
            return 0;
        }
        return 1;
    }
    if (strcmp(key, "debug") == 0) {
        char *end;
        long level = strtol(value, &end, 10);

        if (*value == '\0' || *end != '\0' || level < 0 || level > 2) {
            snprintf(err, errlen, "'debug' must be 0, 1 or 2, not '%.64s'", value);
            return 0;
        }
        cfg->debug = (int)level;
        return 1;
    }
    if (strcmp(key, "session-key-copy") == 0) {
        if (!parse_bool(value, &cfg->session_key_copy)) {
            snprintf(err, errlen, "'session-key-copy' must be yes or no, not '%.64s'", value);
            return 0;
        }
        return 1;
    }
    snprintf(err, errlen, "unknown key '%.64s' (known: pkcs11-module, init-args, pin, debug, "
                          "debug-file, session-key-copy)", key);
    return 0;
}

int tk_config_from_env(TK_CONFIG *cfg, char *err, size_t errlen)
{
    const char *v;

    if (cfg->module == NULL && (v = getenv("TOKENKEY_MODULE")) != NULL && *v != '\0'
        && !tk_config_set(cfg, "pkcs11-module", v, err, errlen))
        return 0;
    if (cfg->init_args == NULL && (v = getenv("TOKENKEY_INIT_ARGS")) != NULL
        && !tk_config_set(cfg, "init-args", v, err, errlen))
        return 0;
    if (cfg->pin == NULL && (v = getenv("TOKENKEY_PIN_SOURCE")) != NULL && *v != '\0'
        && !tk_config_set(cfg, "pin", v, err, errlen)) {
        snprintf(err, errlen, "TOKENKEY_PIN_SOURCE must be file:/path or env:VARIABLE");
        return 0;
    }
    if (cfg->pin == NULL && (v = getenv("TOKENKEY_PIN_FILE")) != NULL && *v != '\0') {
        char *src;

        /* A path, though people write file:/path too. */
        if (strncmp(v, "file:", 5) == 0)
            v += 5;
        src = OPENSSL_malloc(strlen(v) + 6);

        if (src == NULL) {
            snprintf(err, errlen, "out of memory");
            return 0;
        }
        strcpy(src, "file:");
        strcat(src, v);
        cfg->pin = src;
    }
    /* TOKENKEY_PIN holds the PIN itself: read at login time, never copied here. */
    if (cfg->pin == NULL && getenv("TOKENKEY_PIN") != NULL && !set_string(&cfg->pin, "env:TOKENKEY_PIN")) {
        snprintf(err, errlen, "out of memory");
        return 0;
    }
    if (cfg->session_key_copy < 0 && (v = getenv("TOKENKEY_SESSION_KEY_COPY")) != NULL
        && !tk_config_set(cfg, "session-key-copy", v, err, errlen))
        return 0;
    return 1;
}
