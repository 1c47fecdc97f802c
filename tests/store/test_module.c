/*
 * tokenkey.so loaded as librdkafka 2.0.2 loads it: ssl.providers=default,
 * tokenkey is OSSL_PROVIDER_load into the SSL_CTX's library context, then
 * ssl.certificate.location / ssl.key.location are SSL_CTX_use_*_file and
 * SSL_CTX_check_private_key. This executable links no tokenkey code; the
 * token's keys are made by tk-store-mkobj (argv[1]) in a subprocess.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>

#include "fixture.h"
#include "store_util.h"

extern char **environ;

static TK_FIXTURE fx;
static const char *mkobj;
static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *deflt, *tokenkey;
static EVP_PKEY *ca_key;
static X509 *ca_cert;

static char *path_of(const char *name)
{
    char *path = NULL;

    assert_true(asprintf(&path, "%s/%s", tk_fixture_dir(&fx), name) > 0);
    return path;
}

/* tk-store-mkobj args...; 0 when it exited 0. */
static int run_mkobj(const char *a1, const char *a2, const char *a3, const char *a4,
                     const char *a5)
{
    char *argv[] = { (char *)mkobj, (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5,
                     NULL };
    pid_t pid;
    int status = -1;

    if (posix_spawn(&pid, mkobj, NULL, NULL, argv, environ) != 0
        || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* A key pair on the token and a CA-signed certificate file for it. */
static int make_key(const char *type, const char *label, const char *idhex)
{
    char name[64], *pub_path, *cert_path;
    FILE *f;
    EVP_PKEY *pub;
    X509 *x;

    snprintf(name, sizeof(name), "%s.pub.pem", label);
    pub_path = path_of(name);
    if (run_mkobj("keygen", type, label, idhex, pub_path) != 0)
        return -1;
    f = fopen(pub_path, "r");
    pub = f != NULL ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
    if (f != NULL)
        fclose(f);
    if (pub == NULL)
        return -1;
    x = st_cert(pub, label, ca_key, ca_cert);
    snprintf(name, sizeof(name), "%s.cert.pem", label);
    cert_path = path_of(name);
    st_write_cert(cert_path, x);
    X509_free(x);
    EVP_PKEY_free(pub);
    free(pub_path);
    free(cert_path);
    return 0;
}

static int group_setup(void **state)
{
    const char *dir = getenv("TK_PROVIDER_DIR");

    if (dir == NULL || mkobj == NULL || tk_fixture_setup(&fx, "tokenkey-module") != 0)
        return -1;
    setenv("TOKENKEY_MODULE", tk_fixture_module(&fx), 1);
    setenv("TOKENKEY_PIN_FILE", tk_fixture_pin_file(&fx), 1);
    st_ca(&ca_key, &ca_cert);
    if (make_key("rsa", "mod-rsa", "a1") != 0 || make_key("ec", "mod-ec", "e1") != 0
        || make_key("rsa", "mod-rsa2", "a2") != 0)
        return -1;
    libctx = OSSL_LIB_CTX_new();
    if (libctx == NULL || !OSSL_PROVIDER_set_default_search_path(libctx, dir)
        || (deflt = OSSL_PROVIDER_load(libctx, "default")) == NULL
        || (tokenkey = OSSL_PROVIDER_load(libctx, "tokenkey")) == NULL) {
        ERR_print_errors_fp(stderr);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    OSSL_PROVIDER_unload(tokenkey);
    OSSL_PROVIDER_unload(deflt);
    OSSL_LIB_CTX_free(libctx);
    EVP_PKEY_free(ca_key);
    X509_free(ca_cert);
    tk_fixture_teardown(&fx);
    return 0;
}

static char *keyref(const char *name, const char *label, const char *desc, const char *key_label)
{
    char *uri = NULL, *pem, *path = path_of(name);

    assert_true(asprintf(&uri, "pkcs11:serial=%s;object=%s;type=private",
                         tk_fixture_serial(&fx), key_label) > 0);
    pem = st_keyref_pem(label, desc, uri, 0);
    st_write(path, pem);
    free(pem);
    free(uri);
    return path;
}

/* ssl.certificate.location + ssl.key.location + the check librdkafka makes. */
static int rdkafka_load(const char *cert_label, const char *key_path)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(libctx, NULL, TLS_client_method());
    char name[64], *cert_path;
    int ok;

    assert_non_null(ctx);
    snprintf(name, sizeof(name), "%s.cert.pem", cert_label);
    cert_path = path_of(name);
    assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, cert_path), 1);
    ok = SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) == 1
         && SSL_CTX_check_private_key(ctx) == 1;
    SSL_CTX_free(ctx);
    free(cert_path);
    return ok;
}

static void test_rsa_key_reference(void **state)
{
    char *key = keyref("rsa.key.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                       "mod-rsa");
    char *errors;
    int ok = rdkafka_load("mod-rsa", key);

    errors = st_errors();
    if (!ok)
        fail_msg("librdkafka-style load failed:\n%s", errors);
    free(errors);
    free(key);
}

static void test_ec_key_reference(void **state)
{
    char *key = keyref("ec.key.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                       "mod-ec");
    char *errors;
    int ok = rdkafka_load("mod-ec", key);

    errors = st_errors();
    if (!ok)
        fail_msg("librdkafka-style load failed:\n%s", errors);
    free(errors);
    free(key);
}

static void test_pkcs11_provider_file(void **state)
{
    char *key = keyref("p11.key.pem", "PKCS#11 PROVIDER URI", "PKCS#11 Provider URI v1.0",
                       "mod-rsa");

    assert_int_equal(rdkafka_load("mod-rsa", key), 1);
    free(key);
}

static void test_mismatch(void **state)
{
    char *key = keyref("mismatch.key.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                       "mod-rsa");
    char *errors;

    assert_int_equal(rdkafka_load("mod-rsa2", key), 0);
    errors = st_errors();
    st_assert_contains(errors, "key values mismatch");
    free(errors);
    free(key);
}

static void test_no_such_key(void **state)
{
    char *key = keyref("none.key.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                       "mod-none");
    char *errors;

    assert_int_equal(rdkafka_load("mod-rsa", key), 0);
    errors = st_errors();
    st_assert_contains(errors, "no private key matches pkcs11:serial=");
    st_assert_contains(errors, "object=mod-none;type=private");
    free(errors);
    free(key);
}

/* A software key in PKCS#8 PEM still loads with tokenkey in the context. */
static void test_pkcs8_still_loads(void **state)
{
    EVP_PKEY *soft = EVP_PKEY_Q_keygen(libctx, NULL, "EC", "P-256"), *back;
    char *path = path_of("soft.key.pem");
    FILE *f = fopen(path, "w");
    X509 *x;
    SSL_CTX *ctx = SSL_CTX_new_ex(libctx, NULL, TLS_client_method());

    assert_non_null(soft);
    assert_non_null(f);
    assert_non_null(ctx);
    assert_int_equal(PEM_write_PrivateKey(f, soft, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    back = st_read_key(libctx, path);
    assert_non_null(back);
    assert_string_equal(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(back)), "default");
    x = st_cert(soft, "soft", ca_key, ca_cert);
    assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
    SSL_CTX_free(ctx);
    X509_free(x);
    EVP_PKEY_free(soft);
    EVP_PKEY_free(back);
    free(path);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_key_reference),
        cmocka_unit_test(test_ec_key_reference),
        cmocka_unit_test(test_pkcs11_provider_file),
        cmocka_unit_test(test_mismatch),
        cmocka_unit_test(test_no_such_key),
        cmocka_unit_test(test_pkcs8_still_loads),
    };

    if (argc != 2) {
        fprintf(stderr, "usage: test_store_module PATH-OF-tk-store-mkobj\n");
        return 1;
    }
    mkobj = argv[1];
    return cmocka_run_group_tests_name("store-module", tests, group_setup, group_teardown);
}
