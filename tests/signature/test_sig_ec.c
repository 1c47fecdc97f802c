/*
 * ECDSA (P-256, P-384, P-521 x SHA-1/224/256/384/512) and Ed25519 on a
 * SoftHSM2 token through tokenkey, each signature checked by the default
 * provider alone and refused once a byte is flipped.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "sig_test.h"

static SIG_ENV env;
static SIG_KEY ec[3], ed;
static unsigned char msg[777];

static const char *const mds[] = { "SHA1", "SHA224", "SHA256", "SHA384", "SHA512" };
#define N_MDS (sizeof(mds) / sizeof(mds[0]))
static const char *const names[] = { "P-256", "P-384", "P-521" };

/* Flip a bit of s (inside the DER ECDSA-Sig-Value, past its headers). */
static void corrupt_ecdsa(unsigned char *sig, size_t len)
{
    sig[len - 3] ^= 0x04;
}

/* The DER is a proper ECDSA-Sig-Value whose r and s fit the group order. */
static void check_der(const unsigned char *sig, size_t len, int order_bytes)
{
    const unsigned char *p = sig;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
    const BIGNUM *r = NULL, *ss = NULL;

    assert_non_null(s);
    assert_ptr_equal(p, sig + len);
    ECDSA_SIG_get0(s, &r, &ss);
    assert_true(BN_num_bytes(r) <= order_bytes && BN_num_bytes(ss) <= order_bytes);
    ECDSA_SIG_free(s);
}

static void test_ecdsa_message(void **state)
{
    static const int order_bytes[] = { 32, 48, 66 };

    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < N_MDS; i++) {
            size_t len;
            unsigned char *sig = sig_sign_message(&env, ec[c].token, mds[i], NULL, msg, sizeof(msg),
                                                  (int)(i & 1), &len);

            check_der(sig, len, order_bytes[c]);
            assert_true(sig_verify_message(ec[c].pub, mds[i], NULL, sig, len, msg, sizeof(msg)));
            corrupt_ecdsa(sig, len);
            assert_false(sig_verify_message(ec[c].pub, mds[i], NULL, sig, len, msg, sizeof(msg)));
            OPENSSL_free(sig);
        }
}

/*
 * EVP_PKEY_sign of a digest; for P-256 and P-384 the longer digests are
 * cut to the order's length (SEC 1 4.1.3 step 5) and still verify.
 */
static void test_ecdsa_digest(void **state)
{
    for (int c = 0; c < 3; c++)
        for (size_t i = 0; i < N_MDS; i++) {
            unsigned char dgst[64], *sig;
            size_t dlen = sig_digest(mds[i], msg, sizeof(msg), dgst), len;

            sig = sig_sign_digest(&env, ec[c].token, mds[i], NULL, dgst, dlen, &len);
            assert_true(sig_verify_digest(ec[c].pub, mds[i], NULL, sig, len, dgst, dlen));
            assert_true(sig_verify_message(ec[c].pub, mds[i], NULL, sig, len, msg, sizeof(msg)));
            corrupt_ecdsa(sig, len);
            assert_false(sig_verify_digest(ec[c].pub, mds[i], NULL, sig, len, dgst, dlen));
            OPENSSL_free(sig);
        }
}

/* ecdsa-with-SHAxxx, as the default provider encodes it. */
static void test_ecdsa_algorithm_id(void **state)
{
    for (size_t i = 0; i < N_MDS; i++) {
        EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
        EVP_PKEY_CTX *pa = NULL, *pb = NULL;
        unsigned char da[64], db[64];
        OSSL_PARAM pda[] = { OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, da,
                                                               sizeof(da)), OSSL_PARAM_END };
        OSSL_PARAM pdb[] = { OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, db,
                                                               sizeof(db)), OSSL_PARAM_END };

        assert_int_equal(EVP_DigestSignInit_ex(a, &pa, mds[i], env.libctx, NULL, ec[0].token, NULL), 1);
        assert_int_equal(EVP_DigestVerifyInit_ex(b, &pb, mds[i], NULL, "provider=default", ec[0].pub,
                                                 NULL), 1);
        assert_int_equal(EVP_PKEY_CTX_get_params(pa, pda), 1);
        assert_int_equal(EVP_PKEY_CTX_get_params(pb, pdb), 1);
        assert_true(pda[0].return_size > 0);
        assert_int_equal(pda[0].return_size, pdb[0].return_size);
        assert_memory_equal(da, db, pda[0].return_size);
        EVP_MD_CTX_free(a);
        EVP_MD_CTX_free(b);
    }
}

/* Verification through tokenkey: software, no token call. */
static void test_ecdsa_verify_in_software(void **state)
{
    size_t len;
    unsigned char *sig = sig_sign_message(&env, ec[1].token, "SHA384", NULL, msg, sizeof(msg), 0, &len);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    SIG_STATS before;

    sig_stats_take(&before);
    assert_int_equal(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA384", env.libctx, NULL, ec[1].token, NULL), 1);
    assert_int_equal(EVP_DigestVerify(mctx, sig, len, msg, sizeof(msg)), 1);
    assert_int_equal(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA384", env.libctx, NULL, ec[1].token, NULL), 1);
    corrupt_ecdsa(sig, len);
    assert_int_not_equal(EVP_DigestVerify(mctx, sig, len, msg, sizeof(msg)), 1);
    ERR_clear_error();
    sig_assert_no_token_calls(&before);
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(sig);
}

/* EVP_PKEY_verify of a digest with the token key: software too. */
static void test_ecdsa_verify_digest(void **state)
{
    unsigned char dgst[48];
    size_t len, dlen = sig_digest("SHA384", msg, sizeof(msg), dgst);
    unsigned char *sig = sig_sign_digest(&env, ec[1].token, "SHA384", NULL, dgst, dlen, &len);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, ec[1].token, NULL);
    SIG_STATS before;

    sig_stats_take(&before);
    assert_int_equal(EVP_PKEY_verify_init(pctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha384()), 1);
    assert_int_equal(EVP_PKEY_verify(pctx, sig, len, dgst, dlen), 1);
    dgst[0] ^= 0x01;
    assert_int_not_equal(EVP_PKEY_verify(pctx, sig, len, dgst, dlen), 1);
    ERR_clear_error();
    sig_assert_no_token_calls(&before);
    EVP_PKEY_CTX_free(pctx);
    OPENSSL_free(sig);
}

static void test_ed25519(void **state)
{
    size_t len;
    unsigned char *sig = sig_sign_message(&env, ed.token, NULL, NULL, msg, sizeof(msg), 1, &len);
    unsigned char sig2[64];
    size_t len2 = sizeof(sig2);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();

    assert_int_equal(len, 64);
    assert_true(sig_verify_message(ed.pub, NULL, NULL, sig, len, msg, sizeof(msg)));
    /* Ed25519 is deterministic (RFC 8032 5.1.6): the same message, the same signature. */
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, NULL, env.libctx, NULL, ed.token, NULL), 1);
    assert_int_equal(EVP_DigestSign(mctx, sig2, &len2, msg, sizeof(msg)), 1);
    assert_memory_equal(sig, sig2, 64);
    sig[10] ^= 0x01;
    assert_false(sig_verify_message(ed.pub, NULL, NULL, sig, len, msg, sizeof(msg)));
    assert_false(sig_verify_message(ed.pub, NULL, NULL, sig2, len2, msg, sizeof(msg) - 1));
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(sig);
}

/* The error queue holds text (and is emptied). */
static void errors_say(const char *after, const char *text)
{
    char *all = sig_errors_text();

    if (all == NULL || strstr(all, text) == NULL)
        fail_msg("%s: no '%s' in: %s", after, text, all != NULL ? all : "(nothing)");
    free(all);
}

/* One-shot only: update fails cleanly, and a digest name is refused. */
static void test_ed25519_one_shot(void **state)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    SIG_STATS before;
    unsigned char sig[64];
    size_t len = sizeof(sig);

    sig_stats_take(&before);
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, NULL, env.libctx, NULL, ed.token, NULL), 1);
    assert_int_not_equal(EVP_DigestSignUpdate(mctx, msg, 10), 1);
    errors_say("update", "signs in one go: use EVP_DigestSign");
    /* Final after a refused update: an error (libcrypto 3.0 called a NULL final: SIGSEGV). */
    assert_int_not_equal(EVP_DigestSignFinal(mctx, sig, &len), 1);
    errors_say("final", "signs in one go: use EVP_DigestSign");
    len = sizeof(sig);
    assert_int_equal(EVP_DigestVerifyInit_ex(mctx, NULL, NULL, env.libctx, NULL, ed.token, NULL), 1);
    assert_int_not_equal(EVP_DigestVerifyUpdate(mctx, msg, 10), 1);
    ERR_clear_error();
    assert_int_not_equal(EVP_DigestVerifyFinal(mctx, sig, sizeof(sig)), 1);
    errors_say("verify final", "verifies in one go: use EVP_DigestVerify");
    assert_int_not_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", env.libctx, NULL, ed.token,
                                               NULL), 1);
    ERR_clear_error();
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 0);
    /* The context is still usable for a one-shot signature afterwards. */
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, NULL, env.libctx, NULL, ed.token, NULL), 1);
    assert_int_equal(EVP_DigestSign(mctx, sig, &len, msg, 5), 1);
    assert_true(sig_verify_message(ed.pub, NULL, NULL, sig, len, msg, 5));
    /* Verification through tokenkey. */
    assert_int_equal(EVP_DigestVerifyInit_ex(mctx, NULL, NULL, env.libctx, NULL, ed.token, NULL), 1);
    assert_int_equal(EVP_DigestVerify(mctx, sig, len, msg, 5), 1);
    EVP_MD_CTX_free(mctx);
}

static int setup(void **state)
{
    static const SIG_KIND kinds[] = { SIG_P256, SIG_P384, SIG_P521 };

    if (sig_env_setup(&env, "sig-ec", NULL) != 0)
        return -1;
    for (int c = 0; c < 3; c++)
        if (sig_key_make(&env, kinds[c], names[c], &ec[c]) != 0)
            return -1;
    if (sig_key_make(&env, SIG_ED25519, "ed25519", &ed) != 0)
        return -1;
    return RAND_bytes(msg, sizeof(msg)) == 1 ? 0 : -1;
}

static int teardown(void **state)
{
    for (int c = 0; c < 3; c++)
        sig_key_free(&ec[c]);
    sig_key_free(&ed);
    sig_env_teardown(&env);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ecdsa_message),
        cmocka_unit_test(test_ecdsa_digest),
        cmocka_unit_test(test_ecdsa_algorithm_id),
        cmocka_unit_test(test_ecdsa_verify_in_software),
        cmocka_unit_test(test_ecdsa_verify_digest),
        cmocka_unit_test(test_ed25519),
        cmocka_unit_test(test_ed25519_one_shot),
    };

    return cmocka_run_group_tests_name("signature-ec", tests, setup, teardown);
}
