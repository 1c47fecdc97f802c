/*
 * The CLI uses the provider for every key operation (keygen, CSR, checks):
 * an OpenSSL library context with the default provider and tokenkey built
 * in. Being the same code in the same process, the provider shares the
 * CLI's PKCS#11 layer (one module instance, one login), so the PIN the
 * CLI got is used once and the provider never asks again.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/ui.h>

#include "cli.h"
#include "pin.h"

extern OSSL_provider_init_fn OSSL_provider_init;

void tk_cli_print_openssl_errors(const TK_CLI *cli)
{
    unsigned long e;
    const char *data;
    int flags;
    char buf[256];

    /* The last error is the one closest to the cause; show all, most recent last. */
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "%s %s:   %s%s%s\n", cli->prog, cli->cmd, buf,
                (flags & ERR_TXT_STRING) && data != NULL && *data ? ": " : "",
                (flags & ERR_TXT_STRING) && data != NULL ? data : "");
    }
}

static int set_pin_source(TK_CLI *cli)
{
    TK_PIN_KIND kind = TK_PIN_FILE;
    const char *target = cli->pin_file;
    char *spec = NULL, *source;
    int ok = 0, failed;

    if (target == NULL) {
        if ((spec = tk_cli_pin_spec(cli, &failed)) == NULL)
            return !failed;
        target = tk_pin_spec_target(spec, &kind);
    }
    if (*target == '\0') {
        tk_cli_error(cli, 0, "empty PIN source '%s'", spec != NULL ? spec : "");
    } else if ((source = OPENSSL_malloc(strlen(target) + 8)) != NULL) {
        /*
         * The provider's setting takes file:... or env:NAME only (config.c), not a
         * bare path; file:// keeps a path that starts with "//" a path.
         */
        strcpy(source, kind == TK_PIN_ENV ? "env:" : "file://");
        strcat(source, target);
        ok = setenv("TOKENKEY_PIN_SOURCE", source, 1) == 0;
        OPENSSL_free(source);
    }
    OPENSSL_free(spec);
    return ok;
}

OSSL_LIB_CTX *tk_cli_libctx(TK_CLI *cli)
{
    OSSL_LIB_CTX *libctx;

    if (cli->libctx != NULL)
        return cli->libctx;
    /*
     * The provider here has no config section and reads the environment: give
     * it the CLI's module and PIN source, for a login of its own (the
     * context-specific one of a CKA_ALWAYS_AUTHENTICATE key).
     */
    if (cli->module != NULL)
        setenv("TOKENKEY_MODULE", cli->module, 1);
    if (!set_pin_source(cli))
        return NULL;
    libctx = OSSL_LIB_CTX_new();
    /* default first: unqualified fetches (TLS key exchange, software keys) must get its algorithms */
    if (libctx == NULL || (cli->providers[0] = OSSL_PROVIDER_load(libctx, "default")) == NULL
        || !OSSL_PROVIDER_add_builtin(libctx, "tokenkey", OSSL_provider_init)
        || (cli->providers[1] = OSSL_PROVIDER_load(libctx, "tokenkey")) == NULL) {
        tk_cli_error(cli, 0, "cannot load the OpenSSL providers (default, tokenkey):");
        tk_cli_print_openssl_errors(cli);
        OSSL_PROVIDER_unload(cli->providers[0]);
        cli->providers[0] = NULL;
        OSSL_LIB_CTX_free(libctx);
        return NULL;
    }
    cli->libctx = libctx;
    return libctx;
}

char *tk_cli_key_uri_text(TK_CLI *cli, const TK_URI *uri)
{
    TK_URI copy = *uri;

    /* A key is a private key unless the URI says otherwise. */
    if (copy.type == TK_URI_TYPE_ANY)
        copy.type = TK_URI_TYPE_PRIVATE;
    /*
     * The provider would take a pin-source= here before TOKENKEY_PIN_SOURCE:
     * the CLI chose the PIN source already (--pin-file first) and exported it.
     */
    copy.pin_source = NULL;
    return tk_uri_format(&copy);
}

const char *tk_cli_key_file_note(const char *key)
{
    static char note[PATH_MAX + 128]; /* the CLI is one thread */

    /* A key reference file's path was read already: its URI is what is left here. */
    if (key == NULL || strchr(key, '/') != NULL || tk_uri_is_pkcs11(key) || access(key, R_OK) != 0)
        return "";
    snprintf(note, sizeof(note), " (a file of that name is in this directory: give it as ./%s to "
                                 "read it as a key reference)", key);
    return note;
}

char *tk_cli_key_named(TK_CLI *cli, const char *text, const TK_URI *uri)
{
    return uri->pin_source == NULL ? OPENSSL_strdup(text) : tk_cli_key_uri_text(cli, uri);
}

EVP_PKEY *tk_cli_load_key(TK_CLI *cli, const TK_URI *uri)
{
    OSSL_LIB_CTX *libctx = tk_cli_libctx(cli);
    OSSL_STORE_CTX *store;
    EVP_PKEY *pkey = NULL;
    char *text;

    if (libctx == NULL)
        return NULL;
    text = tk_cli_key_uri_text(cli, uri);
    if (text == NULL)
        return NULL;
    store = OSSL_STORE_open_ex(text, libctx, "provider=tokenkey", NULL, NULL, NULL, NULL, NULL);
    if (store != NULL && OSSL_STORE_expect(store, OSSL_STORE_INFO_PKEY)) {
        while (pkey == NULL && !OSSL_STORE_eof(store)) {
            OSSL_STORE_INFO *info = OSSL_STORE_load(store);

            if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
                pkey = OSSL_STORE_INFO_get1_PKEY(info);
            OSSL_STORE_INFO_free(info);
            if (info == NULL)
                break;
        }
    }
    OSSL_STORE_close(store);
    if (pkey == NULL) {
        tk_cli_error(cli, 0, "cannot load key '%s':", text);
        tk_cli_print_openssl_errors(cli);
    }
    OPENSSL_free(text);
    ERR_clear_error();
    return pkey;
}
