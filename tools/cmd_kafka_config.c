/*
 * tokenkey kafka-config: everything a librdkafka client (kcat, confluent-
 * kafka-python, a C program) needs to use the token key, in one directory:
 *   key.pem            the key reference (export)
 *   cert.pem           the certificate and intermediates (export)
 *   ca.pem             the CAs that sign the brokers' certificates
 *   client.properties  security.protocol, ssl.providers, the three paths
 *   openssl.cnf        loads default and tokenkey with its PKCS#11 module
 * librdkafka 2.0.2 loads ssl.key.location with SSL_CTX_use_PrivateKey_file
 * through the providers of the default library context, and ssl.providers
 * only calls OSSL_PROVIDER_load(NULL, name): the provider's settings
 * (module, PIN source) come from OPENSSL_CONF. All files are public: the
 * PIN is never in them, at most the path of a PIN file.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "config.h"
#include "pin.h"

#ifndef TK_MODULESDIR
#error "TK_MODULESDIR must be defined (tools/meson.build sets it)"
#endif

#define KAFKA_USAGE "--key LABEL|URI|FILE --ca CAFILE --out-dir DIR [--bootstrap HOST:PORT[,...]] " \
                    "[--provider-module PATH] [--force] [--token LABEL|URI] [--module PATH] " \
                    "[--pin-file FILE]"

static const char *const out_names[] = {
    "key.pem", "cert.pem", "ca.pem", "client.properties", "openssl.cnf"
};
enum { OUT_KEY, OUT_CERT, OUT_CA, OUT_PROPS, OUT_CNF, OUT_N };

/*
 * A value that goes into openssl.cnf and a properties file takes one line
 * in each. Anything else openssl.cnf would read otherwise is quoted there
 * (put_conf_value).
 */
static int one_line(TK_CLI *cli, const char *what, const char *value)
{
    if (strpbrk(value, "\n\r") == NULL)
        return 1;
    tk_cli_error(cli, 0, "%s holds a line break, which openssl.cnf and client.properties can't "
                         "carry: use a path without one", what);
    return 0;
}

/*
 * key = prefix value, in openssl.cnf. Unquoted, OpenSSL drops ' and `
 * (quote characters), expands $, ends the value at #, takes \ as an
 * escape and trims blanks at either end: such a value is written in double
 * quotes, where only " and \ need a \ before them.
 */
static void put_conf_value(BIO *cnf, const char *key, const char *prefix, const char *value)
{
    size_t n = strlen(value);
    int quote = strpbrk(value, "\"'`$#\\") != NULL
                || (n > 0 && (isspace((unsigned char)value[0])
                              || isspace((unsigned char)value[n - 1])));

    if (!quote) {
        BIO_printf(cnf, "%s = %s%s\n", key, prefix, value);
        return;
    }
    BIO_printf(cnf, "%s = \"%s", key, prefix);
    for (const char *p = value; *p != '\0'; p++)
        BIO_printf(cnf, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
    BIO_printf(cnf, "\"\n");
}

/*
 * path made absolute (the client runs from anywhere), without resolving
 * symbolic links: /usr/lib/softhsm/libsofthsm2.so should outlive the
 * versioned file it points at today. NULL after printing why.
 */
static char *absolute(TK_CLI *cli, const char *what, const char *path, int pin_file)
{
    char *cwd = NULL, *abs;

    if (access(path, F_OK) != 0) {
        int err = errno;
        char name[PATH_MAX + 3];

        /* A PIN written where a PIN file's path belongs must not show. */
        if (pin_file)
            tk_pin_target_display(TK_PIN_FILE, path, name, sizeof(name));
        else
            snprintf(name, sizeof(name), "'%s'", path);
        tk_cli_error(cli, 0, "%s %s: %s", what, name, strerror(err));
        return NULL;
    }
    if (path[0] == '/') {
        abs = OPENSSL_strdup(path);
    } else if ((cwd = getcwd(NULL, 0)) == NULL) {
        tk_cli_error(cli, 0, "%s '%s': cannot tell the current directory: %s", what, path,
                     strerror(errno));
        return NULL;
    } else {
        const char *rest = path;

        /* Links stay as given (a client follows them at each start); "./" and "." go. */
        while (strncmp(rest, "./", 2) == 0)
            for (rest += 2; *rest == '/'; rest++)
                continue;
        abs = *rest == '\0' || strcmp(rest, ".") == 0 ? OPENSSL_strdup(cwd)
                                                     : tk_cli_path_join(cwd, rest);
    }
    free(cwd);
    if (abs == NULL) {
        tk_cli_error(cli, 0, "out of memory");
        return NULL;
    }
    if (!one_line(cli, what, abs)) {
        OPENSSL_free(abs);
        return NULL;
    }
    return abs;
}

/* HOST:PORT[,HOST:PORT...]: printable, no spaces, each with a port 1-65535. */
static int bootstrap_ok(const char *s)
{
    const char *item = s;

    if (*s == '\0')
        return 0;
    for (;;) {
        const char *end = strchr(item, ','), *colon;
        size_t len = end != NULL ? (size_t)(end - item) : strlen(item);
        long port = 0;

        colon = len > 0 ? memrchr(item, ':', len) : NULL;
        if (colon == NULL || colon == item || (size_t)(colon - item) + 1 >= len)
            return 0;
        for (const char *p = item; p < colon; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                return 0;
        for (const char *p = colon + 1; p < item + len; p++) {
            if (*p < '0' || *p > '9' || (port = port * 10 + (*p - '0')) > 65535)
                return 0;
        }
        if (port == 0)
            return 0;
        if (end == NULL)
            return 1;
        item = end + 1;
    }
}

/* s as one shell word on a line the user copies. */
static void print_quoted(const char *s)
{
    char *q = tk_cli_shell_quoted(s);

    /* Paths with control characters are printed escaped; such a line is not for copying. */
    tk_cli_put_text(stdout, q != NULL ? q : s);
    OPENSSL_free(q);
}

static int write_ca(TK_CLI *cli, const char *path, STACK_OF(X509) *cas, int force)
{
    BIO *b = BIO_new(BIO_s_mem());
    int ok = b != NULL;

    /* A CA given with trust settings (TRUSTED CERTIFICATE) keeps them: they may narrow its trust. */
    for (int i = 0; ok && i < sk_X509_num(cas); i++)
        ok = X509_trusted(sk_X509_value(cas, i)) ? PEM_write_bio_X509_AUX(b, sk_X509_value(cas, i))
                                                  : PEM_write_bio_X509(b, sk_X509_value(cas, i));
    if (ok)
        ok = tk_cli_write_bio(cli, path, b, force);
    else
        tk_cli_error(cli, 0, "cannot encode the CA certificates");
    BIO_free(b);
    return ok;
}

typedef struct {
    const char *key_uri;
    char *paths[OUT_N];
    char *provider, *pkcs11, *pin_file; /* absolute */
    char *pin_env;                      /* or the variable the PIN source names */
    const char *init_args;              /* the module's, from the tokenkey section or environment */
    const char *bootstrap;
    char *kept_bootstrap; /* what bootstrap points at when it came from the old file */
    int made_dir;         /* --out-dir was made by this run */
} KAFKA_FILES;

/* The provider for openssl.cnf, and how messages name where it came from. */
typedef struct {
    const char *path;
    char what[PATH_MAX + 400]; /* "--provider-module", "the 'module' in ...," */
    char from[PATH_MAX + 400]; /* after the path when not found: "", " (from OPENSSL_MODULES)" */
    char found[4200];          /* the path, when found as a client would find it */
} PROVIDER_CHOICE;

static int write_configs(TK_CLI *cli, const KAFKA_FILES *f, int force)
{
    BIO *props = BIO_new(BIO_s_mem()), *cnf = BIO_new(BIO_s_mem());
    int ok = props != NULL && cnf != NULL;

    if (ok) {
        BIO_printf(props, "# librdkafka client properties for the token key\n#   %s\n"
                          "# written by tokenkey kafka-config; use with\n"
                          "#   OPENSSL_CONF=%s\n", f->key_uri, f->paths[OUT_CNF]);
        if (f->bootstrap != NULL)
            BIO_printf(props, "bootstrap.servers=%s\n", f->bootstrap);
        BIO_printf(props, "security.protocol=ssl\n"
                          "# librdkafka loads only the providers listed here: default too.\n"
                          "ssl.providers=default,tokenkey\n"
                          "ssl.key.location=%s\nssl.certificate.location=%s\nssl.ca.location=%s\n",
                   f->paths[OUT_KEY], f->paths[OUT_CERT], f->paths[OUT_CA]);

        BIO_printf(cnf, "# OpenSSL configuration for the token key\n#   %s\n"
                        "# written by tokenkey kafka-config; use with\n#   export OPENSSL_CONF=%s\n"
                        "openssl_conf = openssl_init\n\n[openssl_init]\n"
                        "providers = provider_sect\n\n[provider_sect]\n"
                        "default = default_sect\ntokenkey = tokenkey_sect\n\n"
                        "[default_sect]\nactivate = 1\n\n[tokenkey_sect]\n", f->key_uri,
                   f->paths[OUT_CNF]);
        put_conf_value(cnf, "module", "", f->provider);
        put_conf_value(cnf, "pkcs11-module", "", f->pkcs11);
        /* The module's own C_Initialize arguments (NSS softokn needs them), as this run used them. */
        if (f->init_args != NULL)
            put_conf_value(cnf, "init-args", "", f->init_args);
        /* Where the PIN is, never the PIN: the provider refuses a PIN here anyway. */
        if (f->pin_file != NULL)
            put_conf_value(cnf, "pin", "file:", f->pin_file);
        else if (f->pin_env != NULL)
            BIO_printf(cnf, "pin = env:%s\n", f->pin_env);
        else
            BIO_printf(cnf, "# No PIN source was given: set TOKENKEY_PIN_FILE=/path/to/pin-file "
                            "(mode 0600)\n# in the client's environment, or add here:\n"
                            "#   pin = file:/path/to/pin-file\n");
        BIO_printf(cnf, "activate = 1\n");
        ok = tk_cli_write_bio(cli, f->paths[OUT_PROPS], props, force)
             && tk_cli_write_bio(cli, f->paths[OUT_CNF], cnf, force);
    }
    BIO_free(props);
    BIO_free(cnf);
    return ok;
}

/* A name a shell variable can have, and one that is set: never a PIN written in its place. */
static int variable_name(const char *name)
{
    if (getenv(name) == NULL || (*name != '_' && !isalpha((unsigned char)*name)))
        return 0;
    for (; *name != '\0'; name++)
        if (*name != '_' && !isalnum((unsigned char)*name))
            return 0;
    return 1;
}

/*
 * The pin line must name a file the client can read later: not bash's
 * <(...) (/dev/fd/63) or another pipe, gone when this run ends.
 */
static int lasting_pin_file(TK_CLI *cli, const char *what, const char *path)
{
    struct stat st;

    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        return 1;
    tk_cli_error(cli, 0, "%s '%s' is not a regular file: openssl.cnf must name a PIN file the client "
                         "can read later", what, path);
    return 0;
}

/*
 * Without --pin-file, the PIN source this run uses (the URI's pin-source,
 * the tokenkey section of OPENSSL_CONF, TOKENKEY_PIN_SOURCE or
 * TOKENKEY_PIN_FILE), as the module already comes from them: run again
 * with --force to renew, the new openssl.cnf keeps the old one's PIN file.
 * Not TOKENKEY_PIN (the PIN itself): the provider reads that variable
 * anyway, and a pin line would make it ignore the client's own
 * TOKENKEY_PIN_FILE. 1, or 0 after printing why.
 */
static int pin_source_in_effect(TK_CLI *cli, KAFKA_FILES *f)
{
    int failed = 0, ok = 1;
    char *spec = tk_cli_pin_spec(cli, &failed);
    TK_PIN_KIND kind;
    const char *target;

    if (spec == NULL)
        return !failed;
    target = tk_pin_spec_target(spec, &kind);
    if (kind == TK_PIN_FILE)
        ok = (f->pin_file = absolute(cli, "PIN file", target, 1)) != NULL
             && lasting_pin_file(cli, "PIN file", f->pin_file);
    else if (strcmp(target, "TOKENKEY_PIN") != 0 && variable_name(target))
        ok = (f->pin_env = OPENSSL_strdup(target)) != NULL;
    /*
     * Anything else is not written down: it may be a PIN typed where a
     * variable's name belongs (the login that follows then fails and says so).
     */
    OPENSSL_free(spec);
    return ok;
}

/*
 * Without --bootstrap, the bootstrap.servers of the client.properties
 * about to be overwritten: renewing with --force keeps the brokers.
 */
static void keep_bootstrap(KAFKA_FILES *f)
{
    char *kept = tk_cli_client_property(f->paths[OUT_PROPS], "bootstrap.servers");

    if (kept != NULL && bootstrap_ok(kept))
        f->bootstrap = f->kept_bootstrap = kept;
    else
        OPENSSL_free(kept);
}

/*
 * What OpenSSL does with --provider-module when the client starts: dlopen it
 * and look up OSSL_provider_init. Any other file (a PKCS#11 module, libz)
 * would fail there, and OpenSSL 3.0 drops the errors of a provider that
 * fails to activate from openssl.cnf: the client would only say that no
 * store loader or key was found. The module is not initialised here.
 */
static int check_provider_module(TK_CLI *cli, const char *what, const char *path)
{
    char why[1200];

    if (tk_cli_provider_loadable(path, why, sizeof(why)))
        return 1;
    return tk_cli_error(cli, 0, "%s %s%s: give the path of tokenkey.so", what,
                        why[0] == '\'' ? "" : "cannot be loaded: ", why);
}

/*
 * The client trusts the brokers through --ca. A file of leaf certificates
 * only (the client's own, or a broker's) makes every connection fail on the
 * broker's chain, far from the cause. A self-signed certificate is an anchor
 * whatever its extensions (a test broker's own certificate, say).
 */
static int check_ca_certs(TK_CLI *cli, const char *path, STACK_OF(X509) *cas)
{
    X509 *first = sk_X509_value(cas, 0);
    char subject[256], issuer[256];

    for (int i = 0; i < sk_X509_num(cas); i++) {
        X509 *x = sk_X509_value(cas, i);

        if (X509_check_ca(x) != 0 || X509_self_signed(x, 0) == 1)
            return 1;
    }
    tk_cli_name(subject, sizeof(subject), X509_get_subject_name(first));
    tk_cli_name(issuer, sizeof(issuer), X509_get_issuer_name(first));
    return tk_cli_error(cli, 0, "--ca '%s' holds no CA certificate ('%s', issued by '%s', is not "
                                "one): give the certificate of the CA that signs the brokers' "
                                "certificates", path, subject, issuer);
}

/*
 * The tokenkey.so written into openssl.cnf when --provider-module is not
 * given. A renewal (OPENSSL_CONF naming the client's file) keeps the
 * client's provider. Else the one OpenSSL would load by name: under
 * OPENSSL_MODULES when that is set (a build tree, or tokenkey installed
 * elsewhere), the file doctor checks too; else the installed one.
 */
static void choose_provider(PROVIDER_CHOICE *p)
{
    const char *origin, *module = tk_cli_client_provider_module(&origin);
    const char *modules_dir = getenv("OPENSSL_MODULES");

    tk_cli_client_provider_path(p->found, sizeof(p->found), module);
    p->path = p->found;
    if (module != NULL) {
        snprintf(p->what, sizeof(p->what), "the 'module' in %s,", origin);
        snprintf(p->from, sizeof(p->from), " (the 'module' in %s)", origin);
    } else if (modules_dir != NULL && *modules_dir != '\0') {
        snprintf(p->what, sizeof(p->what), "tokenkey.so in OPENSSL_MODULES");
        snprintf(p->from, sizeof(p->from), " (from OPENSSL_MODULES)");
    } else {
        p->path = TK_MODULESDIR "/tokenkey.so";
    }
}

/*
 * Resolve every path first, so a bad one stops us before the token is
 * touched, and before --out-dir is made.
 */
static int prepare(TK_CLI *cli, KAFKA_FILES *f, const char *out_dir,
                   const PROVIDER_CHOICE *provider, int force)
{
    char *dir;
    const TK_CONFIG *cfg;
    int ok;

    if (access(provider->path, R_OK) != 0)
        return tk_cli_error(cli, TK_EXIT_SETUP, "provider module '%s'%s not found: install "
                                                "tokenkey, or pass --provider-module PATH",
                            provider->path, provider->from);
    /* The path openssl.cnf gets: a bare name is in the current directory, not dlopen's search. */
    ok = (f->provider = absolute(cli, provider->what, provider->path, 0)) != NULL
         && check_provider_module(cli, provider->what, f->provider)
         && (f->pkcs11 = absolute(cli, "--module", cli->module, 0)) != NULL
         && (cli->pin_file != NULL
                 ? (f->pin_file = absolute(cli, "--pin-file", cli->pin_file, 1)) != NULL
                       && lasting_pin_file(cli, "--pin-file", f->pin_file)
                 : pin_source_in_effect(cli, f));
    cfg = ok ? tk_cli_client_config(cli) : NULL;
    if (cfg != NULL)
        f->init_args = cfg->init_args;
    if (ok && f->init_args != NULL)
        ok = one_line(cli, "init-args", f->init_args);
    if (!ok)
        return TK_EXIT_SETUP;
    if (!tk_cli_out_dir(cli, out_dir, &f->made_dir))
        return TK_EXIT_FAILURE;
    if ((dir = absolute(cli, "--out-dir", out_dir, 0)) == NULL)
        return TK_EXIT_FAILURE;
    for (int i = 0; ok && i < OUT_N; i++)
        ok = (f->paths[i] = tk_cli_path_join(dir, out_names[i])) != NULL
             && tk_cli_check_new_file(cli, f->paths[i], force);
    OPENSSL_free(dir);
    if (!ok)
        return TK_EXIT_FAILURE;
    if (f->bootstrap == NULL)
        keep_bootstrap(f);
    return TK_EXIT_OK;
}

int tk_cmd_kafka_config(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "kafka-config" };
    const char *ca = NULL, *out_dir = NULL;
    PROVIDER_CHOICE provider = { .what = "--provider-module" };
    int force = 0, code;
    KAFKA_FILES f = { 0 };
    const TK_CLI_OPTION opts[] = {
        { "--ca", &ca, NULL, "CA certificate(s) that sign the brokers' certificates (required)" },
        { "--out-dir", &out_dir, NULL, "directory for the five files (required; made if "
                                       "missing)" },
        { "--bootstrap", &f.bootstrap, NULL, "HOST:PORT[,...] for bootstrap.servers" },
        { "--provider-module", &provider.path, NULL, "tokenkey.so for openssl.cnf (default: the "
                                                "one OPENSSL_CONF's tokenkey section names, else "
                                                "$OPENSSL_MODULES/tokenkey.so, else "
                                                TK_MODULESDIR "/tokenkey.so)" },
        { "--force", NULL, &force, "overwrite files that exist" },
        { NULL, NULL, NULL, NULL }
    };
    STACK_OF(X509) *cas = NULL;
    TK_CLI_KEY k;

    if (tk_cli_parse(&cli, argc, argv, TK_USES_KEY_ACCESS, opts, KAFKA_USAGE, &code) < 0)
        return code;
    if (cli.key == NULL || ca == NULL || out_dir == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "%s is required",
                            cli.key == NULL ? "--key LABEL|URI|FILE"
                            : ca == NULL ? "--ca CAFILE" : "--out-dir DIR");
    if (f.bootstrap != NULL && !bootstrap_ok(f.bootstrap))
        return tk_cli_error(&cli, TK_EXIT_USAGE, "bad --bootstrap '%s': give HOST:PORT, or "
                                                 "several separated by commas", f.bootstrap);
    if (cli.module == NULL || *cli.module == '\0')
        return tk_cli_error(&cli, TK_EXIT_SETUP, "no PKCS#11 module: " TK_CLI_MODULE_HINT);
    if (provider.path == NULL) {
        if (tk_cli_client_config(&cli) == NULL)
            return TK_EXIT_SETUP;
        choose_provider(&provider);
    }
    code = TK_EXIT_FAILURE;
    if ((cas = tk_cli_read_certs(&cli, "--ca", ca)) == NULL || !check_ca_certs(&cli, ca, cas))
        goto end;
    if ((code = prepare(&cli, &f, out_dir, &provider, force)) != TK_EXIT_OK)
        goto end;
    if ((code = tk_cli_key_open(&cli, &k)) == TK_EXIT_OK) {
        f.key_uri = k.uri_text;
        code = tk_cli_export(&cli, &k, f.paths[OUT_KEY], f.paths[OUT_CERT], force);
        /* All five written before any takes its name: a failed renewal leaves the old set. */
        if (code == TK_EXIT_OK && !(write_ca(&cli, f.paths[OUT_CA], cas, force)
                                    && write_configs(&cli, &f, force) && tk_cli_files_commit(&cli)))
            code = TK_EXIT_FAILURE;
    }
    if (code == TK_EXIT_OK) {
        /* The two lines to use it (the brokers' address goes where BROKER is). */
        fputs("export OPENSSL_CONF=", stdout);
        print_quoted(f.paths[OUT_CNF]);
        fputs("\nkcat -F ", stdout);
        print_quoted(f.paths[OUT_PROPS]);
        fputs(f.bootstrap != NULL ? " -L\n" : " -b BROKER:PORT -L\n", stdout);
    }
    sk_X509_pop_free(cas, X509_free); /* before the providers go, whatever they cached */
    cas = NULL;
    tk_cli_key_close(&cli, &k);
end:
    tk_cli_files_discard(&cli);
    if (code != TK_EXIT_OK)
        tk_cli_out_dir_undo(out_dir, f.made_dir);
    for (int i = 0; i < OUT_N; i++)
        OPENSSL_free(f.paths[i]);
    OPENSSL_free(f.provider);
    OPENSSL_free(f.pkcs11);
    OPENSSL_free(f.pin_file);
    OPENSSL_free(f.pin_env);
    OPENSSL_free(f.kept_bootstrap);
    sk_X509_pop_free(cas, X509_free);
    return code;
}
