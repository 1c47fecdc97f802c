/* Helpers for the in-process store tests: see store_test.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "store_test.h"

/* The provider's entry point, from the static library this test links. */
extern OSSL_provider_init_fn OSSL_provider_init;

OSSL_LIB_CTX *st_libctx(const ST_ENV *e, int with_pin)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();

    assert_non_null(libctx);
    setenv("TOKENKEY_MODULE", tk_fixture_module(&e->fx), 1);
    if (with_pin)
        setenv("TOKENKEY_PIN_FILE", tk_fixture_pin_file(&e->fx), 1);
    else
        unsetenv("TOKENKEY_PIN_FILE");
    assert_int_equal(OSSL_PROVIDER_add_builtin(libctx, "tokenkey", OSSL_provider_init), 1);
    /* librdkafka's order: ssl.providers=default,tokenkey */
    assert_non_null(OSSL_PROVIDER_load(libctx, "default"));
    assert_non_null(OSSL_PROVIDER_load(libctx, "tokenkey"));
    setenv("TOKENKEY_PIN_FILE", tk_fixture_pin_file(&e->fx), 1);
    return libctx;
}

static int collect_provider(OSSL_PROVIDER *prov, void *arg)
{
    OSSL_PROVIDER **list = arg;

    for (int i = 0; i < 7; i++)
        if (list[i] == NULL) {
            list[i] = prov;
            break;
        }
    return 1;
}

void st_libctx_free(OSSL_LIB_CTX *libctx)
{
    OSSL_PROVIDER *loaded[8] = { NULL };

    /* OSSL_PROVIDER_load's activation is undone by unload only, not by freeing the context. */
    OSSL_PROVIDER_do_all(libctx, collect_provider, loaded);
    for (int i = 0; loaded[i] != NULL; i++)
        OSSL_PROVIDER_unload(loaded[i]);
    OSSL_LIB_CTX_free(libctx);
}

int st_setup(ST_ENV *e, const char *label)
{
    memset(e, 0, sizeof(*e));
    if (tk_fixture_setup(&e->fx, label) != 0)
        return -1;
    e->t = tkst_token(tk_fixture_module(&e->fx), tk_fixture_serial(&e->fx), &e->m);
    if (e->t == NULL)
        return -1;
    e->pin = tk_fixture_user_pin(&e->fx);
    e->libctx = st_libctx(e, 1);
    return 0;
}

void st_teardown(ST_ENV *e)
{
    /* Providers first: they hold module references of their own. */
    st_libctx_free(e->libctx);
    if (e->m != NULL)
        tk_p11_module_close(e->m);
    tk_fixture_teardown(&e->fx);
}

char *st_path(const ST_ENV *e, const char *name)
{
    char *path = NULL;

    assert_true(asprintf(&path, "%s/%s", tk_fixture_dir(&e->fx), name) > 0);
    return path;
}





char *st_uri(const ST_ENV *e, const char *label, const char *type)
{
    char *uri = NULL;

    assert_true(asprintf(&uri, "pkcs11:serial=%s;object=%s;type=%s", tk_fixture_serial(&e->fx),
                         label, type) > 0);
    return uri;
}



void st_keygen(ST_ENV *e, const char *type, const char *label, const char *idhex)
{
    CK_RV rv = tkst_keygen(e->t, &e->pin, type, label, idhex);

    if (rv != CKR_OK)
        fail_msg("keygen %s %s: %s", type, label, tk_p11_rv_name(rv));
}

X509 *st_cert_for(ST_ENV *e, const char *label, const char *cn, EVP_PKEY *ca_key, X509 *ca)
{
    EVP_PKEY *pub = tkst_public_key(e->t, label);
    X509 *x;

    assert_non_null(pub);
    x = st_cert(pub, cn, ca_key, ca);
    EVP_PKEY_free(pub);
    return x;
}

