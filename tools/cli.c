/* Shared pieces of the tokenkey subcommands (see cli.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/provider.h>

#include "cli.h"
#include "config.h"
#include "pin.h"
#include "pinfile.h"

int tk_cli_error(const TK_CLI *cli, int code, const char *fmt, ...)
{
    char small[1024], *msg = small;
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (len >= (int)sizeof(small) && (msg = OPENSSL_malloc((size_t)len + 1)) != NULL) {
        va_start(ap, fmt);
        vsnprintf(msg, (size_t)len + 1, fmt, ap);
        va_end(ap);
    }
    if (cli->keep_error != NULL) {
        if (*cli->keep_error == NULL)
            *cli->keep_error = OPENSSL_strdup(msg != NULL ? msg : small);
        if (msg != small)
            OPENSSL_free(msg);
        return code;
    }
    fprintf(stderr, "%s %s: ", cli->prog, cli->cmd);
    /* Labels and paths in it come from tokens and users: keep it one line. */
    tk_cli_put_text(stderr, msg != NULL ? msg : small);
    fputc('\n', stderr);
    if (msg != small)
        OPENSSL_free(msg);
    return code;
}

int tk_cli_open_module(TK_CLI *cli)
{
    const TK_CONFIG *cfg = tk_cli_client_config(cli);
    CK_RV rv;

    if (cli->module == NULL || *cli->module == '\0') {
        tk_cli_error(cli, 0, "no PKCS#11 module: " TK_CLI_MODULE_HINT);
        return 0;
    }
    if (cfg == NULL)
        return 0;
    /* As the module loader takes it (p11_module.c): a path, never dlopen's search. */
    if (strchr(cli->module, '/') == NULL) {
        tk_cli_error(cli, 0, "PKCS#11 module '%s' is not a path: give the module's path (./%s for "
                             "the one in the current directory)", cli->module, cli->module);
        return 0;
    }
    if (access(cli->module, R_OK) != 0) {
        tk_cli_error(cli, 0, "PKCS#11 module '%s': %s", cli->module, strerror(errno));
        return 0;
    }
    rv = tk_p11_module_open(cli->module, cfg->init_args, &cli->m);
    if (rv == TK_CKR_MODULE_LOAD)
        tk_cli_error(cli, 0, "cannot load PKCS#11 module '%s': %s", cli->module,
                     tk_p11_module_load_error());
    else if (rv == TK_CKR_MODULE_SYMBOL)
        tk_cli_error(cli, 0, "'%s' has no C_GetFunctionList: it is not a PKCS#11 module (pass the "
                             "token's PKCS#11 library with --module)", cli->module);
    else if (rv != CKR_OK)
        tk_cli_error(cli, 0, "PKCS#11 module '%s' failed to initialise: %s", cli->module,
                     tk_p11_rv_name(rv));
    return rv == CKR_OK;
}

void tk_cli_close(TK_CLI *cli)
{
    /* The provider holds its own reference to the module: free it first. */
    /* tokenkey before default, the reverse of loading. */
    for (int i = 1; i >= 0; i--) {
        OSSL_PROVIDER_unload(cli->providers[i]);
        cli->providers[i] = NULL;
    }
    OSSL_LIB_CTX_free(cli->libctx);
    cli->libctx = NULL;
    tk_p11_module_close(cli->m);
    cli->m = NULL;
    OPENSSL_free(cli->key_file_problem);
    cli->key_file_problem = NULL;
    tk_cli_files_discard(cli); /* files not put in place by now never will be */
}

static CK_RV pin_from_file(TK_CLI *cli, const char *path, char *buf, size_t cap, size_t *len)
{
    char name[PATH_MAX + 3];
    unsigned mode;
    int err = 0;
    TK_PINFILE_STATUS st = tk_pinfile_read(path, buf, cap, len, &mode, &err);

    if (st != TK_PINFILE_UNREADABLE && tk_pinfile_too_open(mode))
        fprintf(stderr, "%s %s: warning: PIN file '%s' can be read by other users (mode %04o): "
                        "chmod 600 it\n", cli->prog, cli->cmd, path, mode);
    switch (st) {
    case TK_PINFILE_OK:
        return CKR_OK;
    case TK_PINFILE_UNREADABLE:
        tk_cli_error(cli, 0, "cannot read PIN file %s: %s",
                     tk_pin_target_display(TK_PIN_FILE, path, name, sizeof(name)), strerror(err));
        break;
    case TK_PINFILE_TOO_LONG:
        tk_cli_error(cli, 0, "PIN file '%s' is longer than %zu bytes: is it the right file?", path, cap);
        break;
    case TK_PINFILE_NO_DATA:
        tk_cli_error(cli, 0, "PIN file '%s' is a pipe or device that gave no PIN (a line, or its "
                             "end) in %d seconds: give a regular file, or start the program that "
                             "writes it first", path, TK_PINFILE_WAIT_SECONDS);
        break;
    case TK_PINFILE_EMPTY:
    default:
        tk_cli_error(cli, 0, "PIN file '%s' is empty", path);
        break;
    }
    return TK_CKR_PIN_UNAVAILABLE;
}

static CK_RV pin_from_variable(TK_CLI *cli, const char *name, char *buf, size_t cap, size_t *len)
{
    const char *value = getenv(name);
    char shown[256];

    *len = value != NULL ? tk_pin_trimmed_len(value, strlen(value)) : 0;
    if (*len == 0) {
        tk_cli_error(cli, 0, "environment variable %s is empty or not set",
                     tk_pin_target_display(TK_PIN_ENV, name, shown, sizeof(shown)));
        return TK_CKR_PIN_UNAVAILABLE;
    }
    if (*len > cap) {
        tk_cli_error(cli, 0, "environment variable %s is longer than %zu bytes: is it the PIN?",
                     name, cap);
        return TK_CKR_PIN_UNAVAILABLE;
    }
    memcpy(buf, value, *len);
    return CKR_OK;
}

/* A PIN source as the provider reads it (provider/pin.c): a file, or an environment variable. */
static CK_RV pin_from_spec(TK_CLI *cli, const char *spec, char *buf, size_t cap, size_t *len)
{
    TK_PIN_KIND kind;
    const char *target = tk_pin_spec_target(spec, &kind);

    if (*target == '\0') {
        tk_cli_error(cli, 0, "empty PIN source '%s'", spec);
        return TK_CKR_PIN_UNAVAILABLE;
    }
    return kind == TK_PIN_ENV ? pin_from_variable(cli, target, buf, cap, len)
                              : pin_from_file(cli, target, buf, cap, len);
}

/*
 * The pin-source= of the --key or --token URI: the provider takes it before
 * any setting (provider/pin.c), and so does the CLI. A URI that does not
 * parse has none here; the command reports it where it uses the URI.
 */
static const char *uri_pin_source(const TK_CLI *cli, TK_URI **parsed)
{
    const char *texts[] = { cli->key, cli->token };

    for (size_t i = 0; i < 2; i++) {
        if (!tk_uri_is_pkcs11(texts[i])
            || tk_uri_parse(texts[i], parsed, NULL) != TK_URI_OK)
            continue;
        if ((*parsed)->pin_source != NULL)
            return (*parsed)->pin_source;
        tk_uri_free(*parsed);
    }
    *parsed = NULL;
    return NULL;
}

char *tk_cli_pin_spec(const TK_CLI *cli, int *failed)
{
    const TK_CONFIG *cfg = NULL;
    TK_URI *uri;
    const char *found = uri_pin_source(cli, &uri);
    char *spec;

    *failed = 0;
    if (found == NULL && (cfg = tk_cli_client_config(cli)) == NULL) {
        *failed = 1;
        return NULL;
    }
    if (found == NULL && (found = cfg->pin) == NULL)
        return NULL;
    if ((spec = OPENSSL_strdup(found)) == NULL) {
        tk_cli_error(cli, 0, "out of memory");
        *failed = 1;
    }
    tk_uri_free(uri);
    return spec;
}

static CK_RV cli_pin_get(void *arg, char *buf, size_t cap, size_t *len)
{
    TK_CLI *cli = arg;
    int failed;
    char *spec;
    CK_RV rv;

    if (cli->pin_file != NULL)
        return pin_from_file(cli, cli->pin_file, buf, cap, len);
    if ((spec = tk_cli_pin_spec(cli, &failed)) == NULL)
        return failed ? TK_CKR_PIN_UNAVAILABLE : tk_cli_pin_from_prompt(cli, buf, cap, len);
    rv = pin_from_spec(cli, spec, buf, cap, len);
    OPENSSL_free(spec);
    return rv;
}

const char *tk_cli_pin_origin(const TK_CLI *cli)
{
    const TK_CONFIG *cfg;
    TK_URI *uri;

    if (cli->pin_file != NULL)
        return "--pin-file FILE";
    if (uri_pin_source(cli, &uri) != NULL) {
        tk_uri_free(uri);
        return "pin-source= in the --key or --token URI";
    }
    if ((cfg = tk_cli_client_config(cli)) == NULL || cfg->pin == NULL)
        return NULL;
    if (tk_cli_client_pin_origin() != NULL)
        return tk_cli_client_pin_origin();
    return "the environment (TOKENKEY_PIN_SOURCE, TOKENKEY_PIN_FILE or TOKENKEY_PIN, the first one set)";
}

void tk_cli_pin_source(const TK_CLI *cli, char *out, size_t cap)
{
    TK_PIN_KIND kind;
    const char *target;
    char *spec, name[PATH_MAX + 3];
    int failed;

    if (cli->pin_file != NULL) {
        snprintf(out, cap, "the PIN from %s",
                 tk_pin_target_display(TK_PIN_FILE, cli->pin_file, name, sizeof(name)));
        return;
    }
    if ((spec = tk_cli_pin_spec(cli, &failed)) == NULL) {
        snprintf(out, cap, failed ? "the PIN source set in the client's configuration"
                                  : "the PIN typed at the prompt");
        return;
    }
    target = tk_pin_spec_target(spec, &kind);
    snprintf(out, cap, kind == TK_PIN_ENV ? "the PIN in %s" : "the PIN from %s",
             tk_pin_target_display(kind, target, name, sizeof(name)));
    OPENSSL_free(spec);
}

int tk_cli_pin_stored(const TK_CLI *cli)
{
    int failed, stored;
    char *spec;
    TK_PIN_KIND kind;
    const char *target;

    if (cli->pin_file != NULL)
        return 1;
    if ((spec = tk_cli_pin_spec(cli, &failed)) == NULL)
        return 0;
    /* A variable not set keeps no PIN: a PIN pad then reads it. */
    target = tk_pin_spec_target(spec, &kind);
    stored = kind != TK_PIN_ENV || (getenv(target) != NULL && *getenv(target) != '\0');
    OPENSSL_free(spec);
    return stored;
}

static int cli_pin_stored(void *arg)
{
    return tk_cli_pin_stored(arg);
}

TK_P11_PIN_GETTER tk_cli_pin_getter(TK_CLI *cli)
{
    TK_P11_PIN_GETTER g = { cli_pin_get, cli, NULL, cli_pin_stored };

    return g;
}

void tk_cli_field(char *out, size_t cap, const unsigned char *field, size_t size)
{
    size_t len = (size_t)tk_p11_text_len(field, size);

    if (len >= cap)
        len = cap - 1;
    memcpy(out, field, len);
    out[len] = '\0';
}

int tk_cli_utf8_char(const unsigned char *p, size_t left, unsigned long *cp)
{
    int n;

    *cp = *p;
    if (*p < 0x80)
        return 1;
    n = UTF8_getc(p, left > INT_MAX ? INT_MAX : (int)left, cp);
    /* UTF8_getc takes surrogates and values past U+10FFFF; UTF-8 has neither (RFC 3629). */
    return n > 0 && !(*cp >= 0xd800 && *cp <= 0xdfff) && *cp <= 0x10ffff ? n : 0;
}

int tk_cli_is_control(unsigned long cp)
{
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0);
}

void tk_cli_put_text(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);

    while (left > 0) {
        unsigned long cp;
        int n = tk_cli_utf8_char(p, left, &cp);

        /* A control character in a label is escaped; a stray byte is no text. */
        if (n == 0 || tk_cli_is_control(cp)) {
            if (n == 0)
                n = 1;
            for (int i = 0; i < n; i++)
                fprintf(out, "\\x%02x", p[i]);
        } else {
            fwrite(p, 1, (size_t)n, out);
        }
        p += n;
        left -= (size_t)n;
    }
}

char *tk_cli_shell_quoted(const char *s)
{
    size_t len = strlen(s), o = 0;
    char *q;

    if (len > 0 && strpbrk(s, " \t\n'\"`$&|;<>()*?[]{}~!#\\") == NULL)
        return OPENSSL_strdup(s);
    /* Each ' becomes '\'' (4 bytes), plus the two quotes and the NUL. */
    if ((q = OPENSSL_malloc(len * 4 + 3)) == NULL)
        return NULL;
    q[o++] = '\'';
    for (; *s != '\0'; s++) {
        if (*s == '\'') {
            memcpy(q + o, "'\\''", 4);
            o += 4;
        } else {
            q[o++] = *s;
        }
    }
    q[o++] = '\'';
    q[o] = '\0';
    return q;
}

void tk_cli_json_string(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);

    fputc('"', out);
    while (left > 0) {
        unsigned long cp;
        /* A label from another tool may not be UTF-8; JSON must be (RFC 8259 8.1). */
        int n = tk_cli_utf8_char(p, left, &cp);

        if (n == 0) {
            fputs("\\ufffd", out); /* U+FFFD REPLACEMENT CHARACTER for the byte */
            n = 1;
        } else if (cp == '"' || cp == '\\') {
            fprintf(out, "\\%c", (int)cp);
        } else if (cp < 0x20) {
            fprintf(out, "\\u%04lx", cp);
        } else {
            fwrite(p, 1, (size_t)n, out);
        }
        p += n;
        left -= (size_t)n;
    }
    fputc('"', out);
}
