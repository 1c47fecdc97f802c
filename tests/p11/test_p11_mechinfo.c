/*
 * The token's mechanism list is read at a key's first signature, with each
 * mechanism's info. A failure to read one (the token gone for a moment, a
 * device error) must fail that read and be tried again at the next use:
 * kept as "no flags", it refused the mechanism for good, and the key never
 * signed again in that process. tk-tokenshim fails one mechanism's info
 * once: CKM_ECDSA for an EC key, or CKM_RSA_PKCS_PSS for an RSA key that
 * may only sign with PSS (argument "rsa-pss"), whose choice of mechanism
 * waits for the padding. One process per test: the list is read once.
 * With argument "other": a mechanism the key does not use answers
 * CKR_FUNCTION_FAILED, as a vendor mechanism may on an HSM; that concerns
 * that mechanism only, and the first signature is made. With "again":
 * CKM_ECDSA's own info answers CKR_GENERAL_ERROR once; it is asked for
 * again when the signature wants it, and the first signature is made (kept
 * as "no flags", ECDSA would be refused for the life of the process).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "p11_keyed.h"
#include "tokenshim.h"

#define LABEL "mechinfo-key"

static TK_P11_TEST env;
static TK_P11_TEST_PROVIDER prov;
static tk_tokenshim_fail_mechanism_info_fn *fail_info;
static int rsa_pss; /* the test's key: an RSA key limited to CKM_RSA_PKCS_PSS, else P-256 */
static int other;   /* "other": a mechanism the key does not use fails */
static int again;   /* "again": the key's own mechanism fails once, not for the token */

static int setup(void)
{
    static const unsigned char id[] = { 0x3e };
    static const CK_MECHANISM_TYPE pss_only[] = { CKM_RSA_PKCS_PSS };
    const char *shim = tk_test_tokenshim();
    CK_OBJECT_HANDLE pub, priv;
    TK_P11_SESSION s;
    CK_RV rv;

    if (shim == NULL || tk_p11_test_setup(&env, "tokenkey-mechinfo", shim) != 0)
        return -1;
    *(void **)&fail_info = tk_test_loaded_symbol(shim, "tk_tokenshim_fail_mechanism_info");
    if (fail_info == NULL || tk_p11_login(env.t, &env.pin) != CKR_OK
        || tk_p11_session_get(env.t, &s) != CKR_OK)
        return -1;
    if (rsa_pss)
        rv = tk_test_keygen_limited(&s, TK_TEST_RSA2048, 0, pss_only, 1, LABEL, id, sizeof(id),
                                    &pub, &priv);
    else
        rv = tk_test_keygen(&s, TK_TEST_P256, LABEL, id, sizeof(id), &pub, &priv);
    tk_p11_session_put(&s, rv);
    return rv == CKR_OK ? tk_p11_test_provider_load(&prov, &env, shim) : -1;
}

static void teardown(void)
{
    tk_p11_test_provider_unload(&prov);
    tk_p11_test_teardown(&env);
}

/* A SHA-256 signature with the test's key, PSS-padded for the RSA key: 1, or 0 (errors queued). */
static int sign(EVP_PKEY *key)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    int ok;

    ok = md != NULL && EVP_DigestSignInit_ex(md, &pctx, "SHA256", prov.libctx, NULL, key, NULL) == 1
         && (!rsa_pss || EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1)
         && EVP_DigestSign(md, sig, &siglen, (const unsigned char *)"test", 4) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void test_failed_mechanism_info_is_read_again(void **state)
{
    EVP_PKEY *key = tk_p11_test_load_labelled(&env, &prov, LABEL);
    char *errors;

    assert_non_null(key);

    /*
     * The first signature fails, and says why: the token's mechanisms could
     * not be read. Not that it lacks them: the lookup of the combined
     * mechanism after CKM_ECDSA's read the list again, and said "supports
     * neither CKM_ECDSA nor CKM_ECDSA_SHA256" when the choice did not read
     * the list once for all its lookups.
     */
    fail_info(rsa_pss ? CKM_RSA_PKCS_PSS : CKM_ECDSA, CKR_DEVICE_ERROR);
    ERR_clear_error();
    assert_int_equal(sign(key), 0);
    errors = tk_test_error_text();
    if (strstr(errors, "reading the mechanisms") == NULL || strstr(errors, "CKR_DEVICE_ERROR") == NULL
        || strstr(errors, "supports neither") != NULL || strstr(errors, "not support") != NULL)
        fail_msg("the failed signature does not say the mechanisms could not be read: %s", errors);
    free(errors);

    /* The next signature reads the list again, and signs: nothing was kept of the failure. */
    if (sign(key) != 1) {
        ERR_print_errors_fp(stderr);
        fail_msg("no signature once the mechanism info could be read");
    }
    EVP_PKEY_free(key);
}

static void test_one_mechanism_failing_once_is_not_the_tokens(void **state)
{
    EVP_PKEY *key = tk_p11_test_load_labelled(&env, &prov, LABEL);

    assert_non_null(key);
    fail_info(again ? CKM_ECDSA : CKM_SHA256, again ? CKR_GENERAL_ERROR : CKR_FUNCTION_FAILED);
    ERR_clear_error();
    if (sign(key) != 1) {
        ERR_print_errors_fp(stderr);
        fail_msg("a P-256 key did not sign because %s's info failed to read once",
                 again ? "CKM_ECDSA" : "CKM_SHA256");
    }
    EVP_PKEY_free(key);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_mechanism_info_is_read_again),
    };
    const struct CMUnitTest other_tests[] = {
        cmocka_unit_test(test_one_mechanism_failing_once_is_not_the_tokens),
    };

    rsa_pss = argc > 1 && strcmp(argv[1], "rsa-pss") == 0;
    other = argc > 1 && strcmp(argv[1], "other") == 0;
    again = argc > 1 && strcmp(argv[1], "again") == 0;
    if (other || again)
        return tk_test_run(again ? "p11-mechinfo-again" : "p11-mechinfo-other", other_tests,
                           TK_TEST_COUNT(other_tests), setup, teardown);
    return tk_test_run(rsa_pss ? "p11-mechinfo-pss" : "p11-mechinfo", tests,
                       TK_TEST_COUNT(tests), setup, teardown);
}
