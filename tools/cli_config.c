/*
 * The settings a Kafka client's tokenkey provider gets, read the way it
 * gets them: the tokenkey section of the OpenSSL configuration file the
 * client loads (OPENSSL_CONF, else OpenSSL's default file), then the
 * environment for what the section does not set (provider/config.c does
 * both checks). The CLI takes its module, init-args and PIN source from
 * there when the command line does not say, so that `tokenkey doctor` run
 * in the client's environment checks the setup the client really has.
 *
 * The section is found as OpenSSL 3.0 finds it (crypto/conf/conf_mod.c,
 * crypto/provider_conf.c): openssl_conf names the init section, its
 * "providers" entry the provider list, whose entry for tokenkey (the name
 * after any "x." prefix, or the section's own "identity") names the section.
 * Values are looked up in their section only: NCONF_get_string would fall
 * back to the file's top level, which OpenSSL never hands a provider.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/conf.h>
#include <openssl/err.h>

#include "cli.h"
#include "config.h"

/* Read once per process and kept to its end: the CLI runs one command. */
static TK_CONFIG client_config;
static char client_pin_origin[PATH_MAX + 300]; /* where the section's pin was, if it had one */
static char client_section[PATH_MAX + 300];    /* "section [s] of '/path'", if there is one */
static char *client_provider_module;           /* the section's 'module' (OpenSSL's own key) */
static char client_no_default[PATH_MAX + 1];   /* the file, when it activates no default provider */
static char client_default_section[256];       /* its section for default, not activated */
static char client_tokenkey_first[PATH_MAX + 1]; /* the file, when it activates tokenkey before default */
static enum { UNREAD, READ, FAILED } client_config_state;

static const char *after_dot(const char *name)
{
    const char *dot = strchr(name, '.');

    return dot != NULL ? dot + 1 : name;
}

/* A section's own entry for name (with after_dot when dotted is set), or NULL. */
static const char *section_value(const CONF *conf, const char *section, const char *name, int dotted)
{
    STACK_OF(CONF_VALUE) *values = section != NULL ? NCONF_get_section(conf, section) : NULL;

    for (int i = 0; i < sk_CONF_VALUE_num(values); i++) {
        const CONF_VALUE *v = sk_CONF_VALUE_value(values, i);

        if (strcmp(dotted ? after_dot(v->name) : v->name, name) == 0)
            return v->value;
    }
    return NULL;
}

/* A configuration module's name is what comes before its last dot ("providers.2"). */
static int is_module(const char *entry, const char *module)
{
    const char *dot = strrchr(entry, '.');
    size_t len = dot != NULL ? (size_t)(dot - entry) : strlen(entry);

    return len == strlen(module) && strncmp(entry, module, len) == 0;
}

/*
 * Whether the file activates providers but none with software algorithms
 * ("default" or "fips"): OpenSSL then loads no default provider, and a
 * client that does not load one itself has no digests, ciphers or key
 * exchange. OpenSSL 3.0 activates a section that has an 'activate' key
 * (after any "x." prefix), whatever its value. A section for default
 * that is there but not activated is kept, for the hint.
 *
 * It activates them in the section's order, and an unqualified fetch
 * ("EC", "RSA", "ECDSA") then goes to the first that has the name: with
 * tokenkey before the software provider, to tokenkey (docs/provider.md,
 * "default first"). *tokenkey_first says so.
 */
static int activates_no_default(const CONF *conf, STACK_OF(CONF_VALUE) *providers,
                                int *tokenkey_first)
{
    int any = 0, software = 0;

    *tokenkey_first = 0;
    for (int i = 0; i < sk_CONF_VALUE_num(providers); i++) {
        const CONF_VALUE *v = sk_CONF_VALUE_value(providers, i);
        const char *identity = section_value(conf, v->value, "identity", 1);
        const char *name = identity != NULL ? identity : after_dot(v->name);

        if (section_value(conf, v->value, "activate", 1) == NULL) {
            if (strcmp(name, "default") == 0)
                snprintf(client_default_section, sizeof(client_default_section), "%s", v->value);
            continue;
        }
        any = 1;
        *tokenkey_first |= !software && strcmp(name, "tokenkey") == 0;
        software |= strcmp(name, "default") == 0 || strcmp(name, "fips") == 0;
    }
    *tokenkey_first &= software;
    return any && !software;
}

static const char *tokenkey_section(const CONF *conf, const char *path)
{
    STACK_OF(CONF_VALUE) *init, *providers = NULL;
    const char *init_name;
    int tokenkey_first;

    init_name = NCONF_get_string(conf, NULL, "openssl_conf");
    init = init_name != NULL ? NCONF_get_section(conf, init_name) : NULL;
    for (int i = 0; i < sk_CONF_VALUE_num(init) && providers == NULL; i++) {
        const CONF_VALUE *v = sk_CONF_VALUE_value(init, i);

        if (is_module(v->name, "providers"))
            providers = NCONF_get_section(conf, v->value);
    }
    if (activates_no_default(conf, providers, &tokenkey_first))
        snprintf(client_no_default, sizeof(client_no_default), "%s", path);
    if (tokenkey_first)
        snprintf(client_tokenkey_first, sizeof(client_tokenkey_first), "%s", path);
    for (int i = 0; i < sk_CONF_VALUE_num(providers); i++) {
        const CONF_VALUE *v = sk_CONF_VALUE_value(providers, i);
        const char *identity = section_value(conf, v->value, "identity", 1);

        if (strcmp(identity != NULL ? identity : after_dot(v->name), "tokenkey") == 0)
            return v->value;
    }
    return NULL;
}

/*
 * The provider can ask OpenSSL only for the keys it knows (core_get_params
 * cannot list a section), so a misspelt one there is ignored without a
 * word. The command line reads the whole section: it names such a key.
 * 'module', 'identity', 'activate' and 'soft_load' are OpenSSL's own, and
 * OpenSSL drops a prefix up to a dot from each name ("1.activate").
 */
static void warn_unknown_keys(const TK_CLI *cli, const CONF *conf, const char *section,
                              const char *path)
{
    static const char *const openssl_keys[] = { "module", "identity", "activate", "soft_load", NULL };
    STACK_OF(CONF_VALUE) *values = NCONF_get_section(conf, section);
    char list[256] = "";

    for (const char *const *k = tk_config_keys; *k != NULL; k++) {
        OPENSSL_strlcat(list, k == tk_config_keys ? "" : ", ", sizeof(list));
        OPENSSL_strlcat(list, *k, sizeof(list));
    }
    for (int i = 0; i < sk_CONF_VALUE_num(values); i++) {
        const char *name = after_dot(sk_CONF_VALUE_value(values, i)->name);
        int known = 0;

        for (const char *const *k = tk_config_keys; !known && *k != NULL; k++)
            known = strcmp(name, *k) == 0;
        for (const char *const *k = openssl_keys; !known && *k != NULL; k++)
            known = strcmp(name, *k) == 0;
        if (!known)
            fprintf(stderr, "%s %s: warning: OpenSSL configuration '%s', section [%s]: unknown key "
                            "'%s', which tokenkey ignores (known: %s)\n",
                    cli->prog, cli->cmd, path, section, name, list);
    }
}

static int read_section(const TK_CLI *cli, const char *path, TK_CONFIG *cfg)
{
    CONF *conf = NCONF_new(NULL);
    const char *section, *value;
    char err[300];
    long line = 0;
    int ok = 1;

    if (conf == NULL)
        return tk_cli_error(cli, 0, "out of memory");
    ERR_set_mark();
    if (NCONF_load(conf, path, &line) <= 0) {
        /* No file is no configuration, for OpenSSL too. */
        ok = ERR_GET_REASON(ERR_peek_last_error()) == CONF_R_NO_SUCH_FILE;
        /* ... but a file named on purpose and missing is most likely a typo: say so. */
        if (ok && getenv("OPENSSL_CONF") != NULL && strcmp(getenv("OPENSSL_CONF"), path) == 0)
            fprintf(stderr, "%s %s: warning: OPENSSL_CONF names '%s', which does not exist: its "
                            "settings are not used\n", cli->prog, cli->cmd, path);
        if (!ok && line > 0)
            tk_cli_error(cli, 0, "OpenSSL configuration '%s' does not parse (line %ld): fix it "
                         "(OPENSSL_CONF names it)", path, line);
        else if (!ok)
            tk_cli_error(cli, 0, "cannot read OpenSSL configuration '%s' (OPENSSL_CONF names it)", path);
        ERR_pop_to_mark();
        NCONF_free(conf);
        return ok;
    }
    section = tokenkey_section(conf, path);
    if (section != NULL) {
        snprintf(client_section, sizeof(client_section), "section [%s] of '%s'", section, path);
        if ((value = section_value(conf, section, "module", 0)) != NULL)
            client_provider_module = OPENSSL_strdup(value); /* kept for the process's life */
        warn_unknown_keys(cli, conf, section, path);
    }
    for (const char *const *key = tk_config_keys; ok && section != NULL && *key != NULL; key++) {
        if ((value = section_value(conf, section, *key, 0)) == NULL)
            continue;
        if (!tk_config_set(cfg, *key, value, err, sizeof(err)))
            ok = tk_cli_error(cli, 0, "OpenSSL configuration '%s', section [%s]: %s", path, section, err);
        else if (strcmp(*key, "pin") == 0)
            snprintf(client_pin_origin, sizeof(client_pin_origin), "'pin' in section [%s] of '%s'",
                     section, path);
    }
    ERR_pop_to_mark(); /* missing sections are no error here */
    NCONF_free(conf);
    return ok;
}

const char *tk_cli_client_without_default(const char **default_section)
{
    *default_section = client_default_section[0] != '\0' ? client_default_section : NULL;
    return client_no_default[0] != '\0' ? client_no_default : NULL;
}

const char *tk_cli_client_tokenkey_first(void)
{
    return client_tokenkey_first[0] != '\0' ? client_tokenkey_first : NULL;
}

const char *tk_cli_client_provider_module(const char **origin)
{
    *origin = client_section[0] != '\0' ? client_section : NULL;
    return client_provider_module;
}

const char *tk_cli_client_pin_origin(void)
{
    return client_pin_origin[0] != '\0' ? client_pin_origin : NULL;
}

const TK_CONFIG *tk_cli_client_config(const TK_CLI *cli)
{
    char *path;
    char err[300];
    int ok;

    /* Once: a bad file is reported once, not by every caller. */
    if (client_config_state != UNREAD)
        return client_config_state == READ ? &client_config : NULL;
    client_config_state = FAILED;
    tk_config_init(&client_config);
    if ((path = CONF_get1_default_config_file()) == NULL) {
        tk_cli_error(cli, 0, "out of memory");
        return NULL;
    }
    ok = read_section(cli, path, &client_config);
    OPENSSL_free(path);
    if (ok && !tk_config_from_env(&client_config, err, sizeof(err)))
        ok = tk_cli_error(cli, 0, "%s", err);
    if (!ok) {
        tk_config_clear(&client_config);
        return NULL;
    }
    client_config_state = READ;
    return &client_config;
}
