/*
 * A token without the raw signature mechanisms: SoftHSM2 limited to key
 * generation, the combined RSA mechanisms and OAEP (softhsm2.conf
 * slots.mechanisms; 2.6.1 honours a list of what to keep, not the "-"
 * form). RSA then signs with CKM_SHAxxx_RSA_PKCS[_PSS] over the whole
 * message - still one C_Sign, never C_SignUpdate - and what has no
 * mechanism left (ECDSA, EVP_PKEY_sign of a digest) fails at init, naming
 * the mechanisms.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "sig_test.h"

static SIG_ENV env;
static SIG_KEY rsa, p256;
static unsigned char msg[5000];

static void test_pkcs1_combined(void **state)
{
    static const char *const mds[] = { "SHA1", "SHA224", "SHA256", "SHA384", "SHA512" };

    for (size_t i = 0; i < 5; i++)
        for (int oneshot = 0; oneshot < 2; oneshot++) {
            SIG_STATS before;
            size_t len;
            unsigned char *sig;

            sig_stats_take(&before);
            sig = sig_sign_message(&env, rsa.token, mds[i], NULL, msg, sizeof(msg), oneshot, &len);
            assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignUpdate), 0);
            assert_true(sig_verify_message(rsa.pub, mds[i], NULL, sig, len, msg, sizeof(msg)));
            sig[3] ^= 0x01;
            assert_false(sig_verify_message(rsa.pub, mds[i], NULL, sig, len, msg, sizeof(msg)));
            OPENSSL_free(sig);
        }
}

static void test_pss_combined(void **state)
{
    int saltlen = 48;
    OSSL_PARAM sp[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, (char *)"digest", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)"SHA384", 0),
        OSSL_PARAM_END
    };
    OSSL_PARAM vp[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0),
        OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltlen),
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)"SHA384", 0),
        OSSL_PARAM_END
    };
    size_t len;
    unsigned char *sig = sig_sign_message(&env, rsa.token, "SHA384", sp, msg, sizeof(msg), 0, &len);

    assert_true(sig_verify_message(rsa.pub, "SHA384", vp, sig, len, msg, sizeof(msg)));
    saltlen = 47;
    assert_false(sig_verify_message(rsa.pub, "SHA384", vp, sig, len, msg, sizeof(msg)));
    OPENSSL_free(sig);
}

/* The kept message is copied with the context (EVP_DigestSignFinal dups it). */
static void test_dupctx_keeps_message(void **state)
{
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    unsigned char sa[256], sb[256];
    size_t la = sizeof(sa), lb = sizeof(sb);

    assert_int_equal(EVP_DigestSignInit_ex(a, NULL, "SHA256", env.libctx, NULL, rsa.token, NULL), 1);
    assert_int_equal(EVP_DigestSignUpdate(a, msg, 1000), 1);
    assert_int_equal(EVP_MD_CTX_copy_ex(b, a), 1);
    assert_int_equal(EVP_DigestSignUpdate(a, msg + 1000, sizeof(msg) - 1000), 1);
    assert_int_equal(EVP_DigestSignFinal(a, sa, &la), 1);
    assert_int_equal(EVP_DigestSignFinal(b, sb, &lb), 1);
    assert_true(sig_verify_message(rsa.pub, "SHA256", NULL, sa, la, msg, sizeof(msg)));
    assert_true(sig_verify_message(rsa.pub, "SHA256", NULL, sb, lb, msg, 1000));
    /*
     * EVP_DigestSignFinal signs a copy: the message is still kept, and
     * PKCS#1 v1.5 being deterministic, a second final gives the same bytes.
     */
    {
        unsigned char again[256];
        size_t lagain = sizeof(again);

        assert_int_equal(EVP_DigestSignFinal(a, again, &lagain), 1);
        assert_int_equal(lagain, la);
        assert_memory_equal(again, sa, la);
    }
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
}

/* A precomputed digest needs the raw mechanism: refused at init, naming it and what works. */
static void test_sign_digest_refused(void **state)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, rsa.token, NULL);
    char *text;

    assert_int_not_equal(EVP_PKEY_sign_init(pctx), 1);
    text = sig_errors_text();
    assert_non_null(strstr(text, "does not support CKM_RSA_PKCS for signing"));
    assert_non_null(strstr(text, "signs only messages the token hashes itself "
                                 "(CKM_SHA256_RSA_PKCS): sign the message, not its digest"));
    free(text);
    EVP_PKEY_CTX_free(pctx);
}

/* SoftHSM2 2.6.1 has no CKM_ECDSA_SHAxxx: with CKM_ECDSA gone, nothing is left. */
static void test_ecdsa_unsupported(void **state)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    SIG_STATS before;
    char *text;

    sig_stats_take(&before);
    assert_int_not_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", env.libctx, NULL, p256.token,
                                               NULL), 1);
    text = sig_errors_text();
    assert_non_null(strstr(text, "supports neither CKM_ECDSA nor CKM_ECDSA_SHA256"));
    assert_non_null(strstr(text, "sig-combined"));
    free(text);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 0);
    EVP_MD_CTX_free(mctx);
}

static int setup(void **state)
{
    if (sig_env_setup(&env, "sig-combined",
                      "slots.mechanisms = CKM_RSA_PKCS_KEY_PAIR_GEN,CKM_EC_KEY_PAIR_GEN,"
                      "CKM_SHA1_RSA_PKCS,CKM_SHA224_RSA_PKCS,CKM_SHA256_RSA_PKCS,"
                      "CKM_SHA384_RSA_PKCS,CKM_SHA512_RSA_PKCS,CKM_SHA1_RSA_PKCS_PSS,"
                      "CKM_SHA224_RSA_PKCS_PSS,CKM_SHA256_RSA_PKCS_PSS,CKM_SHA384_RSA_PKCS_PSS,"
                      "CKM_SHA512_RSA_PKCS_PSS,CKM_RSA_PKCS_OAEP") != 0
        || sig_key_make(&env, SIG_RSA2048, "rsa", &rsa) != 0
        || sig_key_make(&env, SIG_P256, "p256", &p256) != 0)
        return -1;
    return RAND_bytes(msg, sizeof(msg)) == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    sig_key_free(&rsa);
    sig_key_free(&p256);
    sig_env_teardown(&env);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pkcs1_combined),
        cmocka_unit_test(test_pss_combined),
        cmocka_unit_test(test_dupctx_keeps_message),
        cmocka_unit_test(test_sign_digest_refused),
        cmocka_unit_test(test_ecdsa_unsupported),
    };

    return cmocka_run_group_tests_name("signature-combined", tests, setup, teardown);
}
