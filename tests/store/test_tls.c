/*
 * Mutual TLS with the client's key on the token, loaded as librdkafka does
 * it (SSL_CTX_use_certificate_file, SSL_CTX_use_PrivateKey_file on a key
 * reference, SSL_CTX_check_private_key), in-process over a BIO pair: TLS
 * 1.2 and 1.3, RSA and EC. The server requires and verifies the client
 * certificate against a test CA; C_Sign counts prove the token signed.
 */
#include "store_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static ST_ENV env;
static EVP_PKEY *ca_key, *server_key;
static X509 *ca_cert, *server_cert;
static char *ca_path;

static int group_setup(void **state)
{
    if (st_setup(&env, "tokenkey-tls") != 0)
        return -1;
    if (tkst_keygen(env.t, &env.pin, "rsa", "tls-rsa", "0a") != CKR_OK
        || tkst_keygen(env.t, &env.pin, "rsa", "tls-rsa2", "0b") != CKR_OK
        || tkst_keygen(env.t, &env.pin, "ec", "tls-ec", "0e") != CKR_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(server_key);
    X509_free(ca_cert);
    X509_free(server_cert);
    free(ca_path);
    st_teardown(&env);
    return 0;
}

/* The CA and the server's software key, made on first use (cmocka asserts need a test). */
static void make_pki(void)
{
    if (ca_key != NULL)
        return;
    st_ca(&ca_key, &ca_cert);
    server_key = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256");
    assert_non_null(server_key);
    server_cert = st_cert(server_key, "tokenkey test server", ca_key, ca_cert);
    ca_path = st_path(&env, "ca.pem");
    st_write_cert(ca_path, ca_cert);
}

/* Key reference and certificate files for the token key labelled label. */
static void client_files(const char *label, const char *cn, char **key_path, char **cert_path)
{
    char *uri = st_uri(&env, label, "private");
    char *pem = st_keyref_pem("TOKENKEY KEY REFERENCE", "tokenkey key reference v1", uri, 0);
    char name[64];
    X509 *x;

    make_pki();
    snprintf(name, sizeof(name), "%s.key.pem", label);
    *key_path = st_path(&env, name);
    st_write(*key_path, pem);
    snprintf(name, sizeof(name), "%s.cert.pem", label);
    *cert_path = st_path(&env, name);
    x = st_cert_for(&env, label, cn, ca_key, ca_cert);
    st_write_cert(*cert_path, x);
    X509_free(x);
    free(pem);
    free(uri);
}

/* librdkafka's ssl.certificate.location + ssl.key.location, in its order. */
static SSL_CTX *client_ctx(const char *key_path, const char *cert_path)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(env.libctx, NULL, TLS_client_method());
    char *errors;

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate_file(ctx, cert_path, SSL_FILETYPE_PEM), 1);
    if (SSL_CTX_use_PrivateKey_file(ctx, key_path, SSL_FILETYPE_PEM) != 1) {
        errors = st_errors();
        fail_msg("SSL_CTX_use_PrivateKey_file(%s):\n%s", key_path, errors);
    }
    assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca_path, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    return ctx;
}

static SSL_CTX *server_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(env.libctx, NULL, TLS_server_method());

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate(ctx, server_cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, server_key), 1);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, ca_path, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return ctx;
}

static int stuck(SSL *ssl, int rc)
{
    int err = SSL_get_error(ssl, rc);

    return rc != 1 && err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE;
}

static void handshake(const char *label, const char *cn, int version)
{
    char *key_path, *cert_path, *errors;
    SSL_CTX *cctx, *sctx;
    SSL *c, *s;
    BIO *cb, *sb;
    X509 *peer;
    char peer_cn[64] = "";
    unsigned long signs;
    int rc = 0, rs = 0, done = 0;

    client_files(label, cn, &key_path, &cert_path);
    cctx = client_ctx(key_path, cert_path);
    sctx = server_ctx();
    assert_int_equal(SSL_CTX_set_min_proto_version(cctx, version), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(cctx, version), 1);
    c = SSL_new(cctx);
    s = SSL_new(sctx);
    assert_non_null(c);
    assert_non_null(s);
    assert_int_equal(BIO_new_bio_pair(&cb, 0, &sb, 0), 1);
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);

    signs = tk_p11_stat(TK_FN_C_Sign);
    for (int i = 0; i < 50 && !done; i++) {
        if (rc != 1)
            rc = SSL_do_handshake(c);
        if (rs != 1)
            rs = SSL_do_handshake(s);
        if (stuck(c, rc) || stuck(s, rs))
            break;
        done = rc == 1 && rs == 1;
    }
    errors = st_errors();
    if (!done)
        fail_msg("%s handshake failed (client %d, server %d, server verify: %s):\n%s", label, rc,
                 rs, X509_verify_cert_error_string(SSL_get_verify_result(s)), errors);
    free(errors);

    assert_int_equal(SSL_version(c), version);
    assert_int_equal(SSL_get_verify_result(s), X509_V_OK);
    assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
    peer = SSL_get1_peer_certificate(s);
    assert_non_null(peer);
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, peer_cn,
                              sizeof(peer_cn));
    assert_string_equal(peer_cn, cn);
    /* CertificateVerify was signed on the token (RFC 8446 4.4.3, RFC 5246 7.4.8). */
    assert_true(tk_p11_stat(TK_FN_C_Sign) > signs);

    X509_free(peer);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    free(key_path);
    free(cert_path);
}

static void test_rsa_tls12(void **state)
{
    handshake("tls-rsa", "tokenkey client rsa", TLS1_2_VERSION);
}

static void test_rsa_tls13(void **state)
{
    handshake("tls-rsa", "tokenkey client rsa", TLS1_3_VERSION);
}

static void test_ec_tls12(void **state)
{
    handshake("tls-ec", "tokenkey client ec", TLS1_2_VERSION);
}

static void test_ec_tls13(void **state)
{
    handshake("tls-ec", "tokenkey client ec", TLS1_3_VERSION);
}

/* A key reference for one key with the certificate of another: refused. */
static void test_key_cert_mismatch(void **state)
{
    char *key_a, *cert_a, *key_b, *cert_b, *errors;
    SSL_CTX *ctx = SSL_CTX_new_ex(env.libctx, NULL, TLS_client_method());

    client_files("tls-rsa", "a", &key_a, &cert_a);
    client_files("tls-rsa2", "b", &key_b, &cert_b);
    assert_non_null(ctx);
    /* librdkafka's order: certificate, key, check. */
    assert_int_equal(SSL_CTX_use_certificate_file(ctx, cert_b, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key_a, SSL_FILETYPE_PEM), 0);
    errors = st_errors();
    st_assert_contains(errors, "key values mismatch");
    free(errors);
    assert_int_equal(SSL_CTX_check_private_key(ctx), 0);
    ERR_clear_error();
    SSL_CTX_free(ctx);

    /* The other order: the certificate replaces the key that does not match it. */
    ctx = SSL_CTX_new_ex(env.libctx, NULL, TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key_a, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_certificate_file(ctx, cert_b, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_check_private_key(ctx), 0);
    ERR_clear_error();
    SSL_CTX_free(ctx);

    /* And the matching pair passes. */
    ctx = SSL_CTX_new_ex(env.libctx, NULL, TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_use_certificate_file(ctx, cert_b, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key_b, SSL_FILETYPE_PEM), 1);
    assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
    SSL_CTX_free(ctx);
    free(key_a);
    free(cert_a);
    free(key_b);
    free(cert_b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_tls12),
        cmocka_unit_test(test_rsa_tls13),
        cmocka_unit_test(test_ec_tls12),
        cmocka_unit_test(test_ec_tls13),
        cmocka_unit_test(test_key_cert_mismatch),
    };

    return cmocka_run_group_tests_name("store-tls", tests, group_setup, group_teardown);
}
