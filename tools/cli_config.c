/*
 * The settings a Kafka client's tokenkey provider gets, read the way it
 * gets them: the tokenkey section of the OpenSSL configuration file the
 * client loads (OPENSSL_CONF, else OpenSSL's default file), then the
 * environment for what the section does not set (provider/config.c does
 * both checks). The CLI takes its module, init-args and PIN source from
 * there when the command line does not say, so that `tokenkey doctor` run
 * in the client's environment checks the setup the client really has.
 */
#include <string.h>

#include <openssl/conf.h>
#include <openssl/err.h>

#include "cli.h"
#include "config.h"

/* Read once per process and kept to its end: the CLI runs one command. */
static TK_CONFIG client_config;
static int client_config_read;

/* NCONF_get_string without the error it queues for a missing value. */
static const char *conf_value(const CONF *conf, const char *section, const char *name)
{
    const char *v;

    if (section == NULL)
        return NULL;
    ERR_set_mark();
    v = NCONF_get_string(conf, section, name);
    ERR_pop_to_mark();
    return v;
}

/* The tokenkey provider section, as OpenSSL finds it: openssl_conf -> providers -> tokenkey. */
static const char *tokenkey_section(const CONF *conf)
{
    const char *init = conf_value(conf, "default", "openssl_conf");
    const char *providers = conf_value(conf, init, "providers");

    return conf_value(conf, providers, "tokenkey");
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
    if (NCONF_load(conf, path, &line) <= 0) {
        /* No file is no configuration, for OpenSSL too. */
        ok = ERR_GET_REASON(ERR_peek_last_error()) == CONF_R_NO_SUCH_FILE;
        if (!ok)
            tk_cli_error(cli, 0, "OpenSSL configuration '%s' does not parse (line %ld): fix it "
                         "(OPENSSL_CONF names it)", path, line);
        ERR_clear_error();
        NCONF_free(conf);
        return ok;
    }
    section = tokenkey_section(conf);
    for (const char *const *key = tk_config_keys; ok && section != NULL && *key != NULL; key++) {
        if ((value = conf_value(conf, section, *key)) == NULL)
            continue;
        if (!tk_config_set(cfg, *key, value, err, sizeof(err)))
            ok = tk_cli_error(cli, 0, "OpenSSL configuration '%s', section [%s]: %s", path, section, err);
    }
    NCONF_free(conf);
    return ok;
}

const TK_CONFIG *tk_cli_client_config(const TK_CLI *cli)
{
    char *path;
    char err[300];
    int ok;

    if (client_config_read)
        return &client_config;
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
    client_config_read = 1;
    return &client_config;
}
