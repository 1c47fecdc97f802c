/*
 * Keys limited by CKA_ALLOWED_MECHANISMS (PKCS#11 v2.40 section 4.6) on a
 * token that has every mechanism: SoftHSM2 2.6.1 refuses C_SignInit with
 * any other. tokenkey picks among the mechanisms the key may use - a key
 * limited to the combined CKM_SHA256_RSA_PKCS_PSS signs TLS 1.3 through it
 * - and parameters no allowed mechanism fits fail before any token call
 * (signatures, decryption, the pairwise check), with the key's list and
 * each candidate's reason in the message.
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
static SIG_KEY pss_raw, pss_sha256, pss_sha384, pkcs1, ec_sha256;
static unsigned char transcript[300];

/* EVP_DigestSign of transcript with md, PSS when pss; NULL after a failure (errors queued). */
static unsigned char *sign(SIG_KEY *k, const char *md, int pss, size_t *len)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *sig = OPENSSL_malloc(256);
    int ok;

    *len = 256;
    ok = EVP_DigestSignInit_ex(mctx, &pctx, md, env.libctx, NULL, k->token, NULL) == 1
         && (!pss || (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
                      && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1))
         && EVP_DigestSign(mctx, sig, len, transcript, sizeof(transcript)) == 1;
    EVP_MD_CTX_free(mctx);
    if (!ok) {
        OPENSSL_free(sig);
        return NULL;
    }
    return sig;
}

static int verifies(SIG_KEY *k, const char *md, int pss, const unsigned char *sig, size_t len)
{
    int saltlen = RSA_PSS_SALTLEN_DIGEST;
    OSSL_PARAM vp[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0),
        OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltlen),
        OSSL_PARAM_END
    };

    return sig_verify_message(k->pub, md, pss ? vp : NULL, sig, len, transcript, sizeof(transcript));
}

/* The error of a refused signature: no token call, the key's URI and its allowed list. */
static void check_refused(SIG_KEY *k, const char *md, int pss, const char *allowed,
                          const char *reason)
{
    SIG_STATS before;
    size_t len;
    char *text;

    sig_stats_take(&before);
    assert_null(sign(k, md, pss, &len));
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 0);
    text = sig_errors_text();
    if (strstr(text, allowed) == NULL || strstr(text, reason) == NULL
        || strstr(text, "pkcs11:") == NULL)
        fail_msg("want '%s' and '%s' in: %s", allowed, reason, text);
    free(text);
}

/* Limited to CKM_RSA_PKCS_PSS: PSS signs, PKCS#1 v1.5 is refused by tokenkey, not the token. */
static void test_pss_raw(void **state)
{
    size_t len;
    unsigned char *sig = sign(&pss_raw, "SHA384", 1, &len);

    assert_non_null(sig);
    assert_true(verifies(&pss_raw, "SHA384", 1, sig, len));
    OPENSSL_free(sig);
    check_refused(&pss_raw, "SHA256", 0, "lists CKM_RSA_PKCS_PSS;",
                  "CKM_RSA_PKCS is not among them, CKM_SHA256_RSA_PKCS is not among them");
}

/* Limited to the combined CKM_SHA256_RSA_PKCS_PSS: chosen for SHA-256 with PSS, one C_Sign. */
static void test_pss_combined_only(void **state)
{
    SIG_STATS before;
    size_t len;
    unsigned char *sig;

    sig_stats_take(&before);
    sig = sign(&pss_sha256, "SHA256", 1, &len);
    assert_non_null(sig);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignUpdate), 0);
    assert_true(verifies(&pss_sha256, "SHA256", 1, sig, len));
    sig[10] ^= 1;
    assert_false(verifies(&pss_sha256, "SHA256", 1, sig, len));
    OPENSSL_free(sig);
    /* SHA-384 with no padding the key may use: refused already at init, for PKCS#1 v1.5. */
    check_refused(&pss_sha256, "SHA384", 1, "lists CKM_SHA256_RSA_PKCS_PSS;",
                  "CKM_RSA_PKCS is not among them, CKM_SHA384_RSA_PKCS is not among them");
}

/*
 * Limited to CKM_RSA_PKCS: PKCS#1 v1.5 signs; asking for PSS (TLS 1.3's
 * only RSA choice) is refused at once, and the context still signs with
 * PKCS#1 v1.5 afterwards.
 */
static void test_pkcs1_only(void **state)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[256];
    size_t len = sizeof(sig);
    char *text;

    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", env.libctx, NULL, pkcs1.token,
                                           NULL), 1);
    assert_int_not_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    text = sig_errors_text();
    if (strstr(text, "lists CKM_RSA_PKCS; CKM_RSA_PKCS_PSS is not among them") == NULL)
        fail_msg("unexpected error: %s", text);
    free(text);
    assert_int_equal(EVP_DigestSign(mctx, sig, &len, transcript, sizeof(transcript)), 1);
    assert_true(verifies(&pkcs1, "SHA256", 0, sig, len));
    EVP_MD_CTX_free(mctx);
}

/* Decryption too: a key limited to PSS signatures does not reach C_DecryptInit. */
static void test_decrypt_refused(void **state)
{
    EVP_PKEY_CTX *enc = EVP_PKEY_CTX_new_from_pkey(NULL, pss_raw.pub, "provider=default");
    EVP_PKEY_CTX *dec = EVP_PKEY_CTX_new_from_pkey(env.libctx, pss_raw.token, NULL);
    unsigned char ct[256], pt[256];
    size_t ctlen = sizeof(ct), ptlen = sizeof(pt);
    SIG_STATS before;
    char *text;

    assert_int_equal(EVP_PKEY_encrypt_init(enc), 1);
    assert_int_equal(EVP_PKEY_encrypt(enc, ct, &ctlen, transcript, 32), 1);
    sig_stats_take(&before);
    if (EVP_PKEY_decrypt_init(dec) == 1)
        assert_int_not_equal(EVP_PKEY_decrypt(dec, pt, &ptlen, ct, ctlen), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_DecryptInit), 0);
    text = sig_errors_text();
    if (strstr(text, "cannot be used for decryption: its CKA_ALLOWED_MECHANISMS lists "
                     "CKM_RSA_PKCS_PSS; CKM_RSA_PKCS is not among them") == NULL)
        fail_msg("unexpected error: %s", text);
    free(text);
    EVP_PKEY_CTX_free(enc);
    EVP_PKEY_CTX_free(dec);
}

/*
 * An EC key limited to CKM_ECDSA_SHA256, which SoftHSM2 2.6.1 does not
 * have: each candidate named with its own reason.
 */
static void test_ec_limited_to_missing(void **state)
{
    static const char want[] = "its CKA_ALLOWED_MECHANISMS lists CKM_ECDSA_SHA256; CKM_ECDSA is not "
                               "among them, CKM_ECDSA_SHA256 is not supported by the token";
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, ec_sha256.token, NULL);
    char *text;

    assert_int_not_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", env.libctx, NULL,
                                               ec_sha256.token, NULL), 1);
    text = sig_errors_text();
    if (strstr(text, want) == NULL)
        fail_msg("unexpected error: %s", text);
    free(text);
    assert_int_not_equal(EVP_PKEY_pairwise_check(pctx), 1);
    text = sig_errors_text();
    if (strstr(text, want) == NULL)
        fail_msg("unexpected error: %s", text);
    free(text);
    EVP_PKEY_CTX_free(pctx);
    EVP_MD_CTX_free(mctx);
}

/* openssl pkey -check signs on the token with a mechanism the key may use (combined SHA-2 too). */
static void test_pairwise_check(void **state)
{
    SIG_KEY *keys[] = { &pss_raw, &pss_sha256, &pss_sha384, &pkcs1 };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, keys[i]->token, NULL);
        SIG_STATS before;

        sig_stats_take(&before);
        assert_int_equal(EVP_PKEY_pairwise_check(pctx), 1);
        assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 1);
        assert_int_equal(ERR_peek_error(), 0);
        EVP_PKEY_CTX_free(pctx);
    }
}

/* Mutual TLS 1.3 with each PSS-limited key (the certificate signed with PSS too). */
static void test_tls13(void **state)
{
    sig_tls_handshake(&env, &pss_raw, "SHA256", 1, TLS1_3_VERSION, NULL, NULL, EVP_PKEY_RSA_PSS,
                      NID_undef);
    sig_tls_handshake(&env, &pss_sha256, "SHA256", 1, TLS1_3_VERSION, "rsa_pss_rsae_sha256", NULL,
                      EVP_PKEY_RSA_PSS, NID_sha256);
}

static int setup(void **state)
{
    static const CK_MECHANISM_TYPE raw[] = { CKM_RSA_PKCS_PSS };
    static const CK_MECHANISM_TYPE combined[] = { CKM_SHA256_RSA_PKCS_PSS };
    static const CK_MECHANISM_TYPE combined384[] = { CKM_SHA384_RSA_PKCS_PSS };
    static const CK_MECHANISM_TYPE v15[] = { CKM_RSA_PKCS };
    static const CK_MECHANISM_TYPE ecdsa_sha256[] = { CKM_ECDSA_SHA256 };

    if (sig_env_setup(&env, "sig-allowed", NULL) != 0
        || sig_key_make_limited(&env, SIG_RSA2048, 0, raw, 1, "pss", &pss_raw) != 0
        || sig_key_make_limited(&env, SIG_RSA2048, 0, combined, 1, "pss-sha256", &pss_sha256) != 0
        || sig_key_make_limited(&env, SIG_RSA2048, 0, combined384, 1, "pss-sha384", &pss_sha384) != 0
        || sig_key_make_limited(&env, SIG_RSA2048, 0, v15, 1, "pkcs1", &pkcs1) != 0
        || sig_key_make_limited(&env, SIG_P256, 0, ecdsa_sha256, 1, "ec-sha256", &ec_sha256) != 0)
        return -1;
    return RAND_bytes(transcript, sizeof(transcript)) == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    sig_key_free(&pss_raw);
    sig_key_free(&pss_sha256);
    sig_key_free(&pss_sha384);
    sig_key_free(&pkcs1);
    sig_key_free(&ec_sha256);
    sig_env_teardown(&env);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pss_raw),
        cmocka_unit_test(test_pss_combined_only),
        cmocka_unit_test(test_pkcs1_only),
        cmocka_unit_test(test_decrypt_refused),
        cmocka_unit_test(test_ec_limited_to_missing),
        cmocka_unit_test(test_pairwise_check),
        cmocka_unit_test(test_tls13),
    };

    return cmocka_run_group_tests_name("signature-allowed", tests, setup, teardown);
}
