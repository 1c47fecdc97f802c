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
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "debug.h"
#include "sig_test.h"

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

/*
 * OpenSSL 3.0 fetches a key's signature by the name the key manager gives,
 * from any provider, and tries to export the key to the provider it got
 * (m_sigver.c, signature.c). With the default provider loaded first, a
 * plain "RSA" or "ECDSA" would fetch the default provider's and ask
 * tokenkey for the private key on every signature (a refusal, discarded):
 * tokenkey's keys ask for TOKENKEY-* names (algorithms.h). Its debug log
 * shows no export request at all.
 */
static void test_no_export_per_signature(void **state)
{
    char path[1024], line[1024];
    FILE *f;
    size_t len;
    int exports = 0;

    OPENSSL_free(libssl_sign(&rsa, "SHA256", 1, &len));
    snprintf(path, sizeof(path), "%s/exports.log", env.fx.dir);
    tk_debug_configure(2, path);
    assert_int_equal(tk_debug_enabled(2), 1);
    OPENSSL_free(libssl_sign(&rsa, "SHA256", 1, &len));
    OPENSSL_free(libssl_sign(&rsa, "SHA384", 0, &len));
    OPENSSL_free(libssl_sign(&p256, "SHA256", 0, &len));
    OPENSSL_free(libssl_sign(&ed, NULL, 0, &len));
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, "export of") != NULL) {
            fprintf(stderr, "%s", line);
            exports++;
        }
    fclose(f);
    assert_int_equal(exports, 0);
}

/* The debug log off again for the tests after, whatever the test's outcome. */
static int debug_off(void **state)
{
    __atomic_store_n(&tk_debug_level, 0, __ATOMIC_RELAXED);
    return 0;
}

/* Mutual TLS with k at both ends: a certificate signed on the token with PKCS#1 v1.5 or ECDSA. */
static void handshake(SIG_KEY *k, const char *md, int version, const char *sigalgs,
                      const char *ciphers, int want_sig_type, int want_md)
{
    sig_tls_handshake(&env, k, md, 0, version, sigalgs, ciphers, want_sig_type, want_md);
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
    /* This executable switches tokenkey's debug log on itself (test_no_export_per_signature). */
    unsetenv("TOKENKEY_DEBUG");
    unsetenv("TOKENKEY_DEBUG_FILE");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sequence_tls13_rsa_pss),
        cmocka_unit_test(test_sequence_tls12_rsa_pkcs1),
        cmocka_unit_test(test_sequence_ecdsa),
        cmocka_unit_test(test_second_signature_counts),
        cmocka_unit_test_teardown(test_no_export_per_signature, debug_off),
        cmocka_unit_test(test_tls13_rsa_pss),
        cmocka_unit_test(test_tls12_rsa_pkcs1),
        cmocka_unit_test(test_tls13_ecdsa),
        cmocka_unit_test(test_tls12_ecdsa),
        cmocka_unit_test(test_tls13_ed25519),
    };

    return cmocka_run_group_tests_name("signature-tls", tests, setup, teardown);
}
