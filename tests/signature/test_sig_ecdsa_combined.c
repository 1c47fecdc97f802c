/*
 * ECDSA on a token that hashes inside: only the combined mechanisms
 * (CKM_ECDSA_SHA1 ... CKM_ECDSA_SHA512), no CKM_ECDSA, as an HSM can be set
 * up. SoftHSM2 2.6.1 has none of them; tk-tokenshim makes them from its
 * CKM_ECDSA and hides that one (TK_TOKENSHIM_ECDSA=combined-only), so every
 * signature here went through a combined mechanism or failed, and the shim
 * counts which. tokenkey then hands the token the whole message in one
 * C_Sign and turns its r || s into DER; what needs the raw mechanism (a
 * precomputed digest) fails at init, naming it.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "sig_test.h"
#include "tokenshim.h"

static SIG_ENV env;
static SIG_KEY p256, p384, p521;
static unsigned char msg[3000];
static tk_tokenshim_combined_signatures_fn *combined_signatures;

static const struct {
    const char *md;
    CK_MECHANISM_TYPE mech;
} digests[] = {
    { "SHA1", CKM_ECDSA_SHA1 },
    { "SHA224", CKM_ECDSA_SHA224 },
    { "SHA256", CKM_ECDSA_SHA256 },
    { "SHA384", CKM_ECDSA_SHA384 },
    { "SHA512", CKM_ECDSA_SHA512 },
};

/*
 * Every digest, one-shot and in parts: one C_Sign on the token through the
 * digest's own combined mechanism, never C_SignUpdate, and a signature the
 * default provider verifies (and rejects once changed). SHA-512 with P-256
 * is a digest longer than the group order: the token cuts it, not tokenkey.
 */
static void test_message_signatures(void **state)
{
    SIG_KEY *keys[] = { &p256, &p384, &p521 };

    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
        for (size_t d = 0; d < sizeof(digests) / sizeof(digests[0]); d++)
            for (int oneshot = 0; oneshot < 2; oneshot++) {
                unsigned long made = combined_signatures(digests[d].mech);
                SIG_STATS before;
                unsigned char *sig;
                size_t len;

                sig_stats_take(&before);
                sig = sig_sign_message(&env, keys[k]->token, digests[d].md, NULL, msg, sizeof(msg),
                                       oneshot, &len);
                assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignUpdate), 0);
                assert_int_equal(combined_signatures(digests[d].mech), made + 1);
                assert_true(sig_verify_message(keys[k]->pub, digests[d].md, NULL, sig, len, msg,
                                               sizeof(msg)));
                sig[len - 1] ^= 0x01;
                assert_false(sig_verify_message(keys[k]->pub, digests[d].md, NULL, sig, len, msg,
                                                sizeof(msg)));
                OPENSSL_free(sig);
            }
}

/*
 * A precomputed digest needs CKM_ECDSA: refused at init, with no token
 * call, naming it and saying to sign the message instead.
 */
static void test_sign_digest_refused(void **state)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, p256.token, NULL);
    SIG_STATS before;
    char *text;

    sig_stats_take(&before);
    assert_int_not_equal(EVP_PKEY_sign_init(pctx), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 0);
    text = sig_errors_text();
    if (strstr(text, "does not support CKM_ECDSA for signing") == NULL
        || strstr(text, "object=p256;") == NULL
        || strstr(text, " signs only messages the token hashes itself (CKM_ECDSA_SHA256): sign "
                        "the message, not its digest") == NULL)
        fail_msg("unexpected error: %s", text);
    free(text);
    EVP_PKEY_CTX_free(pctx);
}

/* openssl pkey -check: the probe signs through CKM_ECDSA_SHA256 and verifies. */
static void test_pairwise_check(void **state)
{
    SIG_KEY *keys[] = { &p256, &p384, &p521 };

    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, keys[k]->token, NULL);
        unsigned long made = combined_signatures(CKM_ECDSA_SHA256);

        assert_int_equal(EVP_PKEY_pairwise_check(pctx), 1);
        assert_int_equal(combined_signatures(CKM_ECDSA_SHA256), made + 1);
        assert_int_equal(ERR_peek_error(), 0);
        EVP_PKEY_CTX_free(pctx);
    }
}

/* Mutual TLS 1.3 and 1.2, the certificates signed on the token too; each end signs once. */
static void test_tls(void **state)
{
    unsigned long made = combined_signatures(CKM_ECDSA_SHA384);

    sig_tls_handshake(&env, &p256, "SHA256", 0, TLS1_3_VERSION, "ECDSA+SHA256", NULL, EVP_PKEY_EC,
                      NID_sha256);
    sig_tls_handshake(&env, &p384, "SHA384", 0, TLS1_3_VERSION, "ECDSA+SHA384", NULL, EVP_PKEY_EC,
                      NID_sha384);
    /* The certificate and both ends' CertificateVerify. */
    assert_int_equal(combined_signatures(CKM_ECDSA_SHA384), made + 3);
    sig_tls_handshake(&env, &p256, "SHA256", 0, TLS1_2_VERSION, "ECDSA+SHA256",
                      "ECDHE-ECDSA-AES128-GCM-SHA256", EVP_PKEY_EC, NID_sha256);
}

static int setup(void **state)
{
    const char *shim = getenv("TK_TOKENSHIM");
    void *dl;

    if (shim == NULL) {
        fprintf(stderr, "test: TK_TOKENSHIM is not set (run with 'meson test')\n");
        return -1;
    }
    /* Read when the shim loads, before the token's mechanisms are. */
    setenv("TK_TOKENSHIM_ECDSA", "combined-only", 1);
    if (sig_env_setup_module(&env, "sig-ecdsa-combined", NULL, shim) != 0
        || (dl = dlopen(shim, RTLD_NOW | RTLD_NOLOAD)) == NULL)
        return -1;
    *(void **)&combined_signatures = dlsym(dl, "tk_tokenshim_combined_signatures");
    dlclose(dl); /* the provider's reference keeps it loaded */
    if (combined_signatures == NULL
        || sig_key_make(&env, SIG_P256, "p256", &p256) != 0
        || sig_key_make(&env, SIG_P384, "p384", &p384) != 0
        || sig_key_make(&env, SIG_P521, "p521", &p521) != 0)
        return -1;
    return RAND_bytes(msg, sizeof(msg)) == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    sig_key_free(&p256);
    sig_key_free(&p384);
    sig_key_free(&p521);
    sig_env_teardown(&env);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_signatures),
        cmocka_unit_test(test_sign_digest_refused),
        cmocka_unit_test(test_pairwise_check),
        cmocka_unit_test(test_tls),
    };

    return cmocka_run_group_tests_name("signature-ecdsa-combined", tests, setup, teardown);
}
