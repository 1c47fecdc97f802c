/*
 * Helpers for the store/decoder/encoder tests that run tokenkey in-process
 * (OSSL_PROVIDER_add_builtin with the static library), so they can make
 * objects through the PKCS#11 layer and read tk_p11_stat() call counts.
 */
#ifndef TK_STORE_TEST_H
#define TK_STORE_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "fixture.h"
#include "objects_test.h"
#include "store_util.h"

typedef struct st_env {
    TK_FIXTURE fx;
    TK_P11_MODULE *m;
    TK_P11_TOKEN *t;
    TK_P11_PIN_GETTER pin;      /* the fixture's user PIN, for making objects */
    OSSL_LIB_CTX *libctx;       /* default + tokenkey (builtin), PIN from TOKENKEY_PIN_FILE */
} ST_ENV;

/* Fresh token labelled label, the layer's view of it, and the library context. 0 or -1. */
int st_setup(ST_ENV *e, const char *label);
void st_teardown(ST_ENV *e);

/*
 * Another library context with default + tokenkey (builtin), whose
 * provider reads TOKENKEY_PIN_FILE only when with_pin (config is read when
 * a provider loads).
 */
OSSL_LIB_CTX *st_libctx(const ST_ENV *e, int with_pin);
/* Unload its providers and free it. */
void st_libctx_free(OSSL_LIB_CTX *libctx);

/* fx.dir/name (free() it). */
char *st_path(const ST_ENV *e, const char *name);

/* "pkcs11:serial=<fixture serial>;object=<label>;type=<type>" (free() it). */
char *st_uri(const ST_ENV *e, const char *label, const char *type);

/* Key pair on the token (asserts), and a certificate for it from the software CA. */
void st_keygen(ST_ENV *e, const char *type, const char *label, const char *idhex);
X509 *st_cert_for(ST_ENV *e, const char *label, const char *cn, EVP_PKEY *ca_key, X509 *ca);

#endif
