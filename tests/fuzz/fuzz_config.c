/*
 * Fuzzing the provider's configuration parser (provider/config.h): the
 * openssl.cnf section values and the TOKENKEY_* environment.
 *
 * The input is lines. "key=value" goes to tk_config_set, as OpenSSL hands
 * us each key of the provider's section; "$NAME=value" sets one of the
 * provider's environment variables, read by tk_config_from_env at the end.
 * Properties: a refused setting comes with a one-line reason; an accepted
 * one leaves the configuration valid (pin is a file: or env: source, never
 * a PIN; debug is 0..2; session-key-copy is yes/no/unset); and a value
 * given for 'pin' (or TOKENKEY_PIN_SOURCE) is never echoed in the reason,
 * since a PIN typed there by mistake must not end up in a log.
 */
#include <openssl/crypto.h>

#include "config.h"
#include "fuzz.h"

/* The variables tk_config_from_env reads; only these are set from input. */
static const char *const env_names[] = {
    "TOKENKEY_MODULE", "TOKENKEY_INIT_ARGS", "TOKENKEY_PIN_SOURCE", "TOKENKEY_PIN_FILE",
    "TOKENKEY_PIN", "TOKENKEY_SESSION_KEY_COPY", NULL
};

/* What a PIN looks like: 6+ digits, which no message of config.c contains. */
static int looks_like_pin(const char *v)
{
    size_t n = strlen(v);

    return n >= 6 && strspn(v, "0123456789") == n;
}

static void check_valid(const TK_CONFIG *cfg, const char *input)
{
    TK_FUZZ_CHECK(cfg->pin == NULL || strncmp(cfg->pin, "file:", 5) == 0
                  || strncmp(cfg->pin, "env:", 4) == 0, input, "pin = '%s'", cfg->pin);
    TK_FUZZ_CHECK(cfg->debug >= 0 && cfg->debug <= 2, input, "debug = %d", cfg->debug);
    TK_FUZZ_CHECK(cfg->session_key_copy >= -1 && cfg->session_key_copy <= 1, input,
                  "session-key-copy = %d", cfg->session_key_copy);
    TK_FUZZ_CHECK(cfg->module == NULL || *cfg->module != '\0', input, "empty module path kept");
}

static void set_line(TK_CONFIG *cfg, char *line, const char *input)
{
    char err[256] = "", *eq = strchr(line, '=');
    const char *key = line, *value = "";

    if (eq != NULL) {
        *eq = '\0';
        value = eq + 1;
    }
    if (*key == '$') {
        for (int i = 0; env_names[i] != NULL; i++)
            if (strcmp(key + 1, env_names[i]) == 0)
                setenv(env_names[i], value, 1);
        return;
    }
    if (!tk_config_set(cfg, key, value, err, sizeof(err))) {
        TK_FUZZ_CHECK(tk_fuzz_good_message(err, sizeof(err)), input,
                      "'%s' refused without a one-line reason: '%s'", key, err);
        if (strcmp(key, "pin") == 0 && looks_like_pin(value))
            TK_FUZZ_CHECK(strstr(err, value) == NULL, input, "the PIN is in the message: %s", err);
    }
    check_valid(cfg, input);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *input = tk_fuzz_cstr(data, size), *text = tk_fuzz_cstr(data, size), *save = NULL;
    char err[256] = "";
    const char *pin_source;
    TK_CONFIG cfg, env_cfg;

    tk_config_init(&cfg);
    for (char *line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save))
        set_line(&cfg, line, input);

    tk_config_init(&env_cfg);
    if (!tk_config_from_env(&env_cfg, err, sizeof(err))) {
        TK_FUZZ_CHECK(tk_fuzz_good_message(err, sizeof(err)), input,
                      "environment refused without a one-line reason: '%s'", err);
        pin_source = getenv("TOKENKEY_PIN_SOURCE");
        if (pin_source != NULL && looks_like_pin(pin_source))
            TK_FUZZ_CHECK(strstr(err, pin_source) == NULL, input,
                          "the PIN is in the message: %s", err);
    }
    check_valid(&env_cfg, input);
    /* TOKENKEY_PIN holds a PIN: the configuration names the variable, never copies it. */
    if (getenv("TOKENKEY_PIN") != NULL && getenv("TOKENKEY_PIN_SOURCE") == NULL
        && getenv("TOKENKEY_PIN_FILE") == NULL)
        TK_FUZZ_CHECK(env_cfg.pin != NULL && strcmp(env_cfg.pin, "env:TOKENKEY_PIN") == 0, input,
                      "TOKENKEY_PIN gave pin = '%s'", env_cfg.pin != NULL ? env_cfg.pin : "(null)");

    for (int i = 0; env_names[i] != NULL; i++)
        unsetenv(env_names[i]);
    tk_config_clear(&env_cfg);
    tk_config_clear(&cfg);
    free(text);
    free(input);
    return 0;
}
