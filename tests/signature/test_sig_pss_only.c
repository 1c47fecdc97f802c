/*
 * A token whose RSA signs with PSS only: SoftHSM2 limited to key
 * generation and CKM_RSA_PKCS_PSS (softhsm2.conf slots.mechanisms), as a
 * token under a policy without PKCS#1 v1.5 signatures. libssl asks for PSS
 * only after EVP_DigestSignInit_ex, so the init must not fail for the
 * PKCS#1 v1.5 default; a signature made without PSS fails at the
 * signature, naming the mechanisms, with no token call.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>

#include "sig_test.h"

static SIG_ENV env;
static SIG_KEY rsa;
static unsigned char transcript[300];

/* libssl's TLS 1.3 CertificateVerify: init with the digest, then PSS, salt as long as the digest. */
static void test_libssl_sequence(void **state)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[256];
    size_t len = sizeof(sig);
    SIG_STATS before;
    int saltlen = 32;
    OSSL_PARAM vp[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0),
        OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltlen),
        OSSL_PARAM_END
    };

    sig_stats_take(&before);
    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", env.libctx, NULL, rsa.token,
                                           NULL), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    assert_int_equal(EVP_DigestSign(mctx, sig, &len, transcript, sizeof(transcript)), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 1);
    assert_true(sig_verify_message(rsa.pub, "SHA256", vp, sig, len, transcript, sizeof(transcript)));
    saltlen = 20;
    assert_false(sig_verify_message(rsa.pub, "SHA256", vp, sig, len, transcript, sizeof(transcript)));
    EVP_MD_CTX_free(mctx);
}

/* "no mechanism" for PKCS#1 v1.5, then the hint to ask for PSS. */
static void check_pkcs1_refusal(void)
{
    char *text = sig_errors_text();

    if (strstr(text, "supports neither CKM_RSA_PKCS nor CKM_SHA256_RSA_PKCS for signing") == NULL
        || strstr(text, "sig-pss-only") == NULL
        || strstr(text, "signs with PSS only: ask for the PSS padding") == NULL)
        fail_msg("unexpected error: %s", text);
    free(text);
}

/* Nothing asked for PSS: the data, or the signature, fails, with no token call. */
static void test_pkcs1_refused_at_signature(void **state)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char sig[256];
    size_t len = sizeof(sig);
    SIG_STATS before;

    sig_stats_take(&before);
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", env.libctx, NULL, rsa.token, NULL),
                     1);
    assert_int_not_equal(EVP_DigestSignUpdate(mctx, transcript, 10), 1);
    check_pkcs1_refusal();
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", env.libctx, NULL, rsa.token, NULL),
                     1);
    assert_int_not_equal(EVP_DigestSign(mctx, sig, &len, transcript, sizeof(transcript)), 1);
    check_pkcs1_refusal();
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 0);
    EVP_MD_CTX_free(mctx);
}

/* Asking for PKCS#1 v1.5 is refused at once, and leaves the context waiting for PSS. */
static void test_pkcs1_asked_refused(void **state)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[256];
    size_t len = sizeof(sig);
    char *text;
    OSSL_PARAM pss[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0),
        OSSL_PARAM_END
    };

    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", env.libctx, NULL, rsa.token,
                                           NULL), 1);
    assert_int_not_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING), 1);
    text = sig_errors_text();
    assert_non_null(strstr(text, "supports neither CKM_RSA_PKCS nor CKM_SHA256_RSA_PKCS"));
    free(text);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_DigestSign(mctx, sig, &len, transcript, sizeof(transcript)), 1);
    assert_true(sig_verify_message(rsa.pub, "SHA256", pss, sig, len, transcript, sizeof(transcript)));
    EVP_MD_CTX_free(mctx);
}

/* A context copied while it waits (EVP_MD_CTX_copy_ex, as EVP_DigestSignFinal does) waits too. */
static void test_copy_while_waiting(void **state)
{
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    unsigned char sig[256];
    size_t len = sizeof(sig);
    int saltlen = 32;
    OSSL_PARAM vp[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0),
        OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltlen),
        OSSL_PARAM_END
    };

    assert_int_equal(EVP_DigestSignInit_ex(a, NULL, "SHA256", env.libctx, NULL, rsa.token, NULL), 1);
    assert_int_equal(EVP_MD_CTX_copy_ex(b, a), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(EVP_MD_CTX_get_pkey_ctx(b), RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(EVP_MD_CTX_get_pkey_ctx(b),
                                                      RSA_PSS_SALTLEN_DIGEST), 1);
    assert_int_equal(EVP_DigestSign(b, sig, &len, transcript, sizeof(transcript)), 1);
    assert_true(sig_verify_message(rsa.pub, "SHA256", vp, sig, len, transcript, sizeof(transcript)));
    len = sizeof(sig);
    assert_int_not_equal(EVP_DigestSign(a, sig, &len, transcript, sizeof(transcript)), 1);
    check_pkcs1_refusal();
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
}

/* EVP_PKEY_sign of a digest: the padding and digest come after the init, in either order. */
static void sign_digest_pss(int padding_first)
{
    unsigned char dgst[48], sig[256];
    size_t len = sizeof(sig);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, rsa.token, NULL);
    int saltlen = 48;
    OSSL_PARAM vp[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0),
        OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltlen),
        OSSL_PARAM_END
    };

    assert_int_equal(RAND_bytes(dgst, sizeof(dgst)), 1);
    assert_int_equal(EVP_PKEY_sign_init(pctx), 1);
    if (padding_first)
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha384()), 1);
    if (!padding_first)
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    assert_int_equal(EVP_PKEY_sign(pctx, sig, &len, dgst, sizeof(dgst)), 1);
    assert_true(sig_verify_digest(rsa.pub, "SHA384", vp, sig, len, dgst, sizeof(dgst)));
    dgst[0] ^= 1;
    assert_false(sig_verify_digest(rsa.pub, "SHA384", vp, sig, len, dgst, sizeof(dgst)));
    EVP_PKEY_CTX_free(pctx);
}

static void test_sign_digest_pss(void **state)
{
    sign_digest_pss(0);
    sign_digest_pss(1);
}

/* openssl pkey -check: the pair is checked with a PSS signature when PKCS#1 v1.5 is not there. */
static void test_pairwise_check(void **state)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, rsa.token, NULL);
    SIG_STATS before;

    sig_stats_take(&before);
    assert_int_equal(EVP_PKEY_pairwise_check(pctx), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 1);
    EVP_PKEY_CTX_free(pctx);
}

/* Real handshakes: TLS 1.3, and TLS 1.2 with a PSS signature algorithm. */
static void test_tls13(void **state)
{
    sig_tls_handshake(&env, &rsa, "SHA256", 1, TLS1_3_VERSION, NULL, NULL, EVP_PKEY_RSA_PSS,
                      NID_undef);
}

static void test_tls12_pss(void **state)
{
    sig_tls_handshake(&env, &rsa, "SHA256", 1, TLS1_2_VERSION, "rsa_pss_rsae_sha384",
                      "ECDHE-RSA-AES128-GCM-SHA256", EVP_PKEY_RSA_PSS, NID_sha384);
}

static int setup(void **state)
{
    if (sig_env_setup(&env, "sig-pss-only",
                      "slots.mechanisms = CKM_RSA_PKCS_KEY_PAIR_GEN,CKM_RSA_PKCS_PSS") != 0
        || sig_key_make(&env, SIG_RSA2048, "rsa", &rsa) != 0)
        return -1;
    return RAND_bytes(transcript, sizeof(transcript)) == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    sig_key_free(&rsa);
    sig_env_teardown(&env);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libssl_sequence),
        cmocka_unit_test(test_pkcs1_refused_at_signature),
        cmocka_unit_test(test_pkcs1_asked_refused),
        cmocka_unit_test(test_copy_while_waiting),
        cmocka_unit_test(test_sign_digest_pss),
        cmocka_unit_test(test_pairwise_check),
        cmocka_unit_test(test_tls13),
        cmocka_unit_test(test_tls12_pss),
    };

    return cmocka_run_group_tests_name("signature-pss-only", tests, setup, teardown);
}
