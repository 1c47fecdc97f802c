/*
 * What libssl 3.0 does with a token key, first as its exact call sequence
 * (EVP_DigestSignInit_ex with the digest name, then for TLS 1.3 RSA
 * EVP_PKEY_CTX_set_rsa_padding(PSS) and set_rsa_pss_saltlen(DIGEST), then
 * EVP_DigestSign twice: size, signature), then as real handshakes over a
 * BIO pair with mutual authentication (the Kafka client case): TLS 1.3
 * RSA-PSS, TLS 1.2 ECDHE-RSA with PKCS#1 v1.5, ECDSA, Ed25519. The
 * certificates are signed by the token key (X509_sign_ctx: the signature
 * AlgorithmIdentifier comes from get_ctx_params). Also: a second signature
 * reaches the token with exactly one C_SignInit and one C_Sign.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sig_test.h"
#include "tls_pair.h"

static SIG_ENV env;
static SIG_KEY rsa, p256, p384, ed;
static unsigned char transcript[300];

/* libssl's tls_construct_cert_verify, for RSA with TLS 1.3 when pss is set. */
static unsigned char *libssl_sign(SIG_KEY *k, const char *md, int pss, size_t *siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig;
    size_t len = 0;

    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, md, env.libctx, NULL, k->token, NULL), 1);
    if (pss) {
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    }
    assert_int_equal(EVP_DigestSign(mctx, NULL, &len, transcript, sizeof(transcript)), 1);
    sig = OPENSSL_malloc(len);
    assert_non_null(sig);
    assert_int_equal(EVP_DigestSign(mctx, sig, &len, transcript, sizeof(transcript)), 1);
    EVP_MD_CTX_free(mctx);
    *siglen = len;
    return sig;
}

static void check_libssl_sign(SIG_KEY *k, const char *md, int pss)
{
    SIG_STATS before;
    size_t len;
    unsigned char *sig;
    int saltlen = 0;
    OSSL_PARAM vp[] = {
        OSSL_PARAM_construct_utf8_string("pad-mode", (char *)"pss", 0),
        OSSL_PARAM_construct_int("saltlen", &saltlen),
        OSSL_PARAM_END
    };

    sig_stats_take(&before);
    sig = libssl_sign(k, md, pss, &len);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 1);
    if (pss) {
        EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);

        saltlen = EVP_MD_get_size(m); /* RFC 8446 4.2.3: salt as long as the digest */
        EVP_MD_free(m);
    }
    assert_true(sig_verify_message(k->pub, md, pss ? vp : NULL, sig, len, transcript,
                                   sizeof(transcript)));
    sig[len - 1] ^= 0x01;
    assert_false(sig_verify_message(k->pub, md, pss ? vp : NULL, sig, len, transcript,
                                    sizeof(transcript)));
    OPENSSL_free(sig);
}

static void test_sequence_tls13_rsa_pss(void **state)
{
    check_libssl_sign(&rsa, "SHA256", 1);
    check_libssl_sign(&rsa, "SHA384", 1);
    check_libssl_sign(&rsa, "SHA512", 1);
}

static void test_sequence_tls12_rsa_pkcs1(void **state)
{
    check_libssl_sign(&rsa, "SHA256", 0);
    check_libssl_sign(&rsa, "SHA384", 0);
    check_libssl_sign(&rsa, "SHA512", 0);
}

static void test_sequence_ecdsa(void **state)
{
    check_libssl_sign(&p256, "SHA256", 0);
    check_libssl_sign(&p384, "SHA384", 0);
}

/*
 * Once a key has signed, the next signature - init included - costs the
 * token exactly C_SignInit + C_Sign: no object search, no attribute read,
 * no mechanism query, no session opened, no login.
 */
static void second_signature(SIG_KEY *k, const char *md, int pss)
{
    SIG_STATS before;
    size_t len;

    OPENSSL_free(libssl_sign(k, md, pss, &len));
    sig_stats_take(&before);
    OPENSSL_free(libssl_sign(k, md, pss, &len));
    for (int fn = 0; fn < TK_FN_COUNT; fn++) {
        unsigned long want = fn == TK_FN_C_SignInit || fn == TK_FN_C_Sign ? 1 : 0;

        if (sig_stats_delta(&before, (TK_P11_FN)fn) != want)
            fail_msg("%s: %lu calls, want %lu", tk_p11_fn_name((TK_P11_FN)fn),
                     sig_stats_delta(&before, (TK_P11_FN)fn), want);
    }
}

static void test_second_signature_counts(void **state)
{
    second_signature(&rsa, "SHA256", 1);
    second_signature(&rsa, "SHA384", 0);
    second_signature(&p256, "SHA256", 0);
    second_signature(&ed, NULL, 0);
}

/* A self-signed certificate for k, signed on the token. */
static X509 *certificate(SIG_KEY *k, const char *md)
{
    X509 *x = X509_new_ex(env.libctx, NULL);
    X509_NAME *name;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"tokenkey test", -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_int_equal(X509_set_pubkey(x, k->pub), 1);
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, md, env.libctx, NULL, k->token, NULL), 1);
    assert_true(X509_sign_ctx(x, mctx) > 0);
    EVP_MD_CTX_free(mctx);
    /* Checked with the default provider's public key. */
    assert_int_equal(X509_verify(x, k->pub), 1);
    return x;
}

static SSL_CTX *tls_ctx(const SSL_METHOD *method, SIG_KEY *k, X509 *cert, int version,
                        const char *sigalgs, const char *ciphers)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(env.libctx, NULL, method);

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, version), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(ctx, version), 1);
    /* The order librdkafka uses: certificate, key, then the check. */
    assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k->token), 1);
    assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
    if (sigalgs != NULL)
        assert_int_equal(SSL_CTX_set1_sigalgs_list(ctx, sigalgs), 1);
    if (ciphers != NULL)
        assert_int_equal(SSL_CTX_set_cipher_list(ctx, ciphers), 1);
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return ctx;
}

/*
 * Mutual TLS between two endpoints that both use k: each signs once
 * (TLS 1.3: both CertificateVerify; TLS 1.2: ServerKeyExchange and the
 * client's CertificateVerify). Checks the peer's signature type.
 */
static void handshake(SIG_KEY *k, const char *md, int version, const char *sigalgs,
                      const char *ciphers, int want_sig_type, int want_md)
{
    X509 *cert = certificate(k, md);
    SSL_CTX *sctx = tls_ctx(TLS_server_method(), k, cert, version, sigalgs, ciphers);
    SSL_CTX *cctx = tls_ctx(TLS_client_method(), k, cert, version, sigalgs, ciphers);
    SSL *s = NULL, *c = NULL;
    SIG_STATS before;
    int nid = 0;

    sig_stats_take(&before);
    if (!tk_test_tls_handshake(cctx, sctx, &c, &s)) {
        char *text = sig_errors_text();

        fail_msg("handshake failed: %s", text);
    }
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 2);
    assert_int_equal(SSL_version(c), version);
    assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
    assert_int_equal(SSL_get_verify_result(s), X509_V_OK);
    assert_int_equal(SSL_get_peer_signature_type_nid(c, &nid), 1);
    assert_int_equal(nid, want_sig_type);
    assert_int_equal(SSL_get_peer_signature_type_nid(s, &nid), 1);
    assert_int_equal(nid, want_sig_type);
    if (want_md != NID_undef) {
        assert_int_equal(SSL_get_peer_signature_nid(c, &nid), 1);
        assert_int_equal(nid, want_md);
    }
    assert_int_equal(tk_test_tls_ping(c, s), 1);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    X509_free(cert);
}

static void test_tls13_rsa_pss(void **state)
{
    handshake(&rsa, "SHA256", TLS1_3_VERSION, "rsa_pss_rsae_sha256", NULL, EVP_PKEY_RSA_PSS,
              NID_sha256);
    handshake(&rsa, "SHA256", TLS1_3_VERSION, "rsa_pss_rsae_sha384", NULL, EVP_PKEY_RSA_PSS,
              NID_sha384);
}

static void test_tls12_rsa_pkcs1(void **state)
{
    handshake(&rsa, "SHA384", TLS1_2_VERSION, "RSA+SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
              EVP_PKEY_RSA, NID_sha256);
}

static void test_tls13_ecdsa(void **state)
{
    handshake(&p256, "SHA256", TLS1_3_VERSION, "ECDSA+SHA256", NULL, EVP_PKEY_EC, NID_sha256);
    handshake(&p384, "SHA384", TLS1_3_VERSION, "ECDSA+SHA384", NULL, EVP_PKEY_EC, NID_sha384);
}

static void test_tls12_ecdsa(void **state)
{
    handshake(&p256, "SHA256", TLS1_2_VERSION, "ECDSA+SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256",
              EVP_PKEY_EC, NID_sha256);
}

static void test_tls13_ed25519(void **state)
{
    handshake(&ed, NULL, TLS1_3_VERSION, "ed25519", NULL, EVP_PKEY_ED25519, NID_undef);
}

static int setup(void **state)
{
    if (sig_env_setup(&env, "sig-tls", NULL) != 0 || sig_key_make(&env, SIG_RSA2048, "rsa", &rsa) != 0
        || sig_key_make(&env, SIG_P256, "p256", &p256) != 0
        || sig_key_make(&env, SIG_P384, "p384", &p384) != 0
        || sig_key_make(&env, SIG_ED25519, "ed25519", &ed) != 0)
        return -1;
    return RAND_bytes(transcript, sizeof(transcript)) == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    sig_key_free(&rsa);
    sig_key_free(&p256);
    sig_key_free(&p384);
    sig_key_free(&ed);
    sig_env_teardown(&env);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_tls13_rsa_pss),
        cmocka_unit_test(test_sequence_tls12_rsa_pkcs1),
        cmocka_unit_test(test_sequence_ecdsa),
        cmocka_unit_test(test_second_signature_counts),
        cmocka_unit_test(test_tls13_rsa_pss),
        cmocka_unit_test(test_tls12_rsa_pkcs1),
        cmocka_unit_test(test_tls13_ecdsa),
        cmocka_unit_test(test_tls12_ecdsa),
        cmocka_unit_test(test_tls13_ed25519),
    };

    return cmocka_run_group_tests_name("signature-tls", tests, setup, teardown);
}
