/*
 * RSA-2048 on a SoftHSM2 token through tokenkey: PKCS#1 v1.5 and PSS with
 * SHA-1/224/256/384/512, salt lengths and MGF1 digests, by EVP_DigestSign*
 * and by EVP_PKEY_sign of a digest, each signature checked by the default
 * provider alone (and a flipped byte refused); the AlgorithmIdentifier
 * compared with the default provider's; RSA decryption (PKCS#1 v1.5, OAEP).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "sig_test.h"

static SIG_ENV env;
static SIG_KEY rsa;
static unsigned char msg[1000];

static const char *const mds[] = { "SHA1", "SHA224", "SHA256", "SHA384", "SHA512" };
#define N_MDS (sizeof(mds) / sizeof(mds[0]))

static int md_size(const char *md)
{
    EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);
    int n = EVP_MD_get_size(m);

    EVP_MD_free(m);
    return n;
}

/* pad-mode "pss", saltlen (string), optional mgf1-digest: what we send tokenkey. */
static void pss_params(OSSL_PARAM *p, const char *saltlen, const char *mgf1)
{
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0);
    if (saltlen != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, (char *)saltlen, 0);
    if (mgf1 != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)mgf1, 0);
    *p = OSSL_PARAM_construct_end();
}

/* What the verifier expects: an exact salt length, so the token's choice is checked. */
static void pss_verify_params(OSSL_PARAM *p, int *saltlen, const char *mgf1)
{
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)"pss", 0);
    *p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, saltlen);
    if (mgf1 != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, (char *)mgf1, 0);
    *p = OSSL_PARAM_construct_end();
}

static void test_pkcs1_message(void **state)
{
    for (size_t i = 0; i < N_MDS; i++)
        for (int oneshot = 0; oneshot < 2; oneshot++) {
            size_t len;
            unsigned char *sig = sig_sign_message(&env, rsa.token, mds[i], NULL, msg, sizeof(msg),
                                                  oneshot, &len);

            assert_int_equal(len, 256);
            assert_true(sig_verify_message(rsa.pub, mds[i], NULL, sig, len, msg, sizeof(msg)));
            sig[len / 2] ^= 0x01;
            assert_false(sig_verify_message(rsa.pub, mds[i], NULL, sig, len, msg, sizeof(msg)));
            OPENSSL_free(sig);
        }
}

/* PKCS#1 v1.5 is deterministic: signing the digest gives the message's signature. */
static void test_pkcs1_digest(void **state)
{
    for (size_t i = 0; i < N_MDS; i++) {
        unsigned char dgst[64];
        size_t dlen = sig_digest(mds[i], msg, sizeof(msg), dgst), len, len2;
        unsigned char *sig = sig_sign_digest(&env, rsa.token, mds[i], NULL, dgst, dlen, &len);
        unsigned char *sig2 = sig_sign_message(&env, rsa.token, mds[i], NULL, msg, sizeof(msg), 1,
                                               &len2);

        assert_int_equal(len, 256);
        assert_memory_equal(sig, sig2, len);
        assert_true(sig_verify_digest(rsa.pub, mds[i], NULL, sig, len, dgst, dlen));
        sig[0] ^= 0x80;
        assert_false(sig_verify_digest(rsa.pub, mds[i], NULL, sig, len, dgst, dlen));
        OPENSSL_free(sig);
        OPENSSL_free(sig2);
    }
}

/* EVP_PKEY_sign without a digest: type-1 padding around the raw input, like OpenSSL's. */
static void test_pkcs1_raw(void **state)
{
    unsigned char in[36], *sig;
    size_t len;
    EVP_PKEY_CTX *pctx;

    memcpy(in, msg, sizeof(in));
    sig = sig_sign_digest(&env, rsa.token, NULL, NULL, in, sizeof(in), &len);
    assert_int_equal(len, 256);
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, rsa.pub, "provider=default");
    assert_int_equal(EVP_PKEY_verify_init(pctx), 1);
    assert_int_equal(EVP_PKEY_verify(pctx, sig, len, in, sizeof(in)), 1);
    in[3] ^= 1;
    assert_int_not_equal(EVP_PKEY_verify(pctx, sig, len, in, sizeof(in)), 1);
    ERR_clear_error();
    EVP_PKEY_CTX_free(pctx);
    OPENSSL_free(sig);
}

/*
 * Every digest x salt length digest/max/17, and digest/auto/max as the
 * numbers OpenSSL takes for them in text (-sigopt rsa_pss_saltlen:-1),
 * the token's salt length checked exactly.
 */
static void test_pss_message(void **state)
{
    static const char *const salts[] = { "digest", "max", "17", "-1", "-2", "-3" };

    for (size_t i = 0; i < N_MDS; i++)
        for (size_t j = 0; j < 6; j++) {
            OSSL_PARAM sp[4], vp[4];
            int h = md_size(mds[i]), max = 256 - h - 2;
            int expect = j == 0 || j == 3 ? h : j == 2 ? 17 : max, wrong = expect - 1;
            size_t len;
            unsigned char *sig;

            pss_params(sp, salts[j], NULL);
            sig = sig_sign_message(&env, rsa.token, mds[i], sp, msg, sizeof(msg), (int)(j & 1), &len);
            assert_int_equal(len, 256);
            pss_verify_params(vp, &expect, NULL);
            assert_true(sig_verify_message(rsa.pub, mds[i], vp, sig, len, msg, sizeof(msg)));
            pss_verify_params(vp, &wrong, NULL);
            assert_false(sig_verify_message(rsa.pub, mds[i], vp, sig, len, msg, sizeof(msg)));
            pss_verify_params(vp, &expect, NULL);
            sig[100] ^= 0x10;
            assert_false(sig_verify_message(rsa.pub, mds[i], vp, sig, len, msg, sizeof(msg)));
            OPENSSL_free(sig);
        }
}

static void test_pss_digest(void **state)
{
    for (size_t i = 0; i < N_MDS; i++) {
        unsigned char dgst[64], *sig;
        size_t dlen = sig_digest(mds[i], msg, sizeof(msg), dgst), len;
        OSSL_PARAM sp[4], vp[4];
        int expect = (int)dlen;

        pss_params(sp, "digest", NULL);
        sig = sig_sign_digest(&env, rsa.token, mds[i], sp, dgst, dlen, &len);
        pss_verify_params(vp, &expect, NULL);
        assert_true(sig_verify_digest(rsa.pub, mds[i], vp, sig, len, dgst, dlen));
        assert_true(sig_verify_message(rsa.pub, mds[i], vp, sig, len, msg, sizeof(msg)));
        sig[255] ^= 0x01;
        assert_false(sig_verify_digest(rsa.pub, mds[i], vp, sig, len, dgst, dlen));
        OPENSSL_free(sig);
    }
}

/*
 * An MGF1 digest that differs from the message digest reaches the token
 * as CK_RSA_PKCS_PSS_PARAMS.mgf. SoftHSM2 up to 2.6 refuses that
 * combination in C_SignInit ("Hash and MGF don't match"): then the error
 * must say which parameters the token refused. Where the token takes it,
 * the signature must verify with that MGF1 digest and only with it.
 */
static void test_pss_mgf1(void **state)
{
    static const char *const pairs[][3] = {
        { "SHA256", "SHA1", "hash SHA-256, MGF1 SHA-1" },
        { "SHA512", "SHA256", "hash SHA-512, MGF1 SHA-256" },
        { "SHA1", "SHA512", "hash SHA-1, MGF1 SHA-512" },
        { "SHA384", "SHA224", "hash SHA-384, MGF1 SHA-224" },
    };
    int refuses = sig_module_at_most(&env, 2, 6);

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        OSSL_PARAM sp[4], vp[4];
        int expect = md_size(pairs[i][0]);
        size_t len = 0;
        unsigned char *sig;

        pss_params(sp, "digest", pairs[i][1]);
        if (refuses) {
            EVP_MD_CTX *mctx = EVP_MD_CTX_new();
            unsigned char buf[256];
            SIG_STATS before;
            char *text;

            len = sizeof(buf);
            assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, pairs[i][0], env.libctx, NULL,
                                                   rsa.token, sp), 1);
            sig_stats_take(&before);
            assert_int_not_equal(EVP_DigestSign(mctx, buf, &len, msg, sizeof(msg)), 1);
            assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 1);
            text = sig_errors_text();
            if (strstr(text, "refused CKM_RSA_PKCS_PSS") == NULL || strstr(text, pairs[i][2]) == NULL)
                fail_msg("unexpected error text: %s", text);
            free(text);
            EVP_MD_CTX_free(mctx);
            continue;
        }
        sig = sig_sign_message(&env, rsa.token, pairs[i][0], sp, msg, sizeof(msg), 0, &len);
        pss_verify_params(vp, &expect, pairs[i][1]);
        assert_true(sig_verify_message(rsa.pub, pairs[i][0], vp, sig, len, msg, sizeof(msg)));
        pss_verify_params(vp, &expect, NULL);
        assert_false(sig_verify_message(rsa.pub, pairs[i][0], vp, sig, len, msg, sizeof(msg)));
        OPENSSL_free(sig);
    }
}

/* "mgf1-digest" naming the message digest itself is what every token takes. */
static void test_pss_mgf1_same(void **state)
{
    for (size_t i = 0; i < N_MDS; i++) {
        OSSL_PARAM sp[4], vp[4];
        int expect = md_size(mds[i]);
        size_t len;
        unsigned char *sig;

        pss_params(sp, "digest", mds[i]);
        sig = sig_sign_message(&env, rsa.token, mds[i], sp, msg, sizeof(msg), 1, &len);
        pss_verify_params(vp, &expect, mds[i]);
        assert_true(sig_verify_message(rsa.pub, mds[i], vp, sig, len, msg, sizeof(msg)));
        /* ...and the default provider checks the MGF1 digest: another one fails. */
        pss_verify_params(vp, &expect, strcmp(mds[i], "SHA1") == 0 ? "SHA256" : "SHA1");
        assert_false(sig_verify_message(rsa.pub, mds[i], vp, sig, len, msg, sizeof(msg)));
        OPENSSL_free(sig);
    }
}

/* The AlgorithmIdentifier of a context, DER, from get_ctx_params. */
static size_t algorithm_id(EVP_PKEY_CTX *pctx, unsigned char *buf, size_t cap)
{
    OSSL_PARAM p[2] = {
        OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, buf, cap),
        OSSL_PARAM_END
    };

    assert_int_equal(EVP_PKEY_CTX_get_params(pctx, p), 1);
    return p[0].return_size;
}

/* Ours for the token key against the default provider's for the same public key. */
static void compare_algorithm_id(const char *md, const OSSL_PARAM *ours, const OSSL_PARAM *theirs)
{
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pa = NULL, *pb = NULL;
    unsigned char da[256], db[256];
    size_t la, lb;

    assert_int_equal(EVP_DigestSignInit_ex(a, &pa, md, env.libctx, NULL, rsa.token, ours), 1);
    assert_int_equal(EVP_DigestVerifyInit_ex(b, &pb, md, NULL, "provider=default", rsa.pub, theirs), 1);
    la = algorithm_id(pa, da, sizeof(da));
    lb = algorithm_id(pb, db, sizeof(db));
    assert_true(la > 0);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
}

static void test_algorithm_id(void **state)
{
    for (size_t i = 0; i < N_MDS; i++) {
        OSSL_PARAM sp[4], vp[4];
        int h = md_size(mds[i]), max = 256 - h - 2, twenty = 20;

        compare_algorithm_id(mds[i], NULL, NULL);
        pss_params(sp, "digest", NULL);
        pss_verify_params(vp, &h, NULL);
        compare_algorithm_id(mds[i], sp, vp);
        pss_params(sp, "max", "SHA1");
        pss_verify_params(vp, &max, "SHA1");
        compare_algorithm_id(mds[i], sp, vp);
        pss_params(sp, "20", "SHA512");
        pss_verify_params(vp, &twenty, "SHA512");
        compare_algorithm_id(mds[i], sp, vp);
    }
}

/* The parameters read back, as ints and as the names OpenSSL uses. */
static void test_get_params(void **state)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    OSSL_PARAM sp[4];
    char pad[16] = "", salt[16] = "", md[32] = "", mgf1[32] = "";
    int padn = 0, saltn = 0;
    OSSL_PARAM gp[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, pad, sizeof(pad)),
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, salt, sizeof(salt)),
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, md, sizeof(md)),
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, mgf1, sizeof(mgf1)),
        OSSL_PARAM_END
    };

    pss_params(sp, "digest", "SHA1");
    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, "SHA384", env.libctx, NULL, rsa.token, sp), 1);
    assert_int_equal(EVP_PKEY_CTX_get_params(pctx, gp), 1);
    assert_string_equal(pad, "pss");
    assert_string_equal(salt, "digest");
    assert_string_equal(md, "SHA2-384");
    assert_string_equal(mgf1, "SHA1");
    /* libcrypto 3.0 returns the length of the name it translated, not 1. */
    assert_true(EVP_PKEY_CTX_get_rsa_padding(pctx, &padn) > 0);
    assert_int_equal(padn, RSA_PKCS1_PSS_PADDING);
    assert_true(EVP_PKEY_CTX_get_rsa_pss_saltlen(pctx, &saltn) > 0);
    assert_int_equal(saltn, RSA_PSS_SALTLEN_DIGEST);
    /* The digest of EVP_DigestSign is fixed once it started, as in OpenSSL. */
    {
        OSSL_PARAM dp[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_END
        };

        assert_int_not_equal(EVP_PKEY_CTX_set_params(pctx, dp), 1);
        ERR_clear_error();
    }
    EVP_MD_CTX_free(mctx);
}

/*
 * An application that names tokenkey in its property query (to reach the
 * token key) still gets a software digest, which tokenkey has none of; the
 * parameter lists it can ask for; and the digest's own parameters, passed
 * on to the digest running in software.
 */
static void test_property_query_and_param_lists(void **state)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char ms[48] = { 0 };
    OSSL_PARAM mp[] = {
        OSSL_PARAM_construct_octet_string(OSSL_DIGEST_PARAM_SSL3_MS, ms, sizeof(ms)),
        OSSL_PARAM_END
    };
    size_t len;
    unsigned char *sig = OPENSSL_malloc(256);

    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", env.libctx, "provider=tokenkey",
                                           rsa.token, NULL), 1);
    assert_non_null(OSSL_PARAM_locate_const(EVP_PKEY_CTX_gettable_params(pctx),
                                            OSSL_SIGNATURE_PARAM_DIGEST));
    assert_non_null(OSSL_PARAM_locate_const(EVP_PKEY_CTX_settable_params(pctx),
                                            OSSL_SIGNATURE_PARAM_PAD_MODE));
    len = 256;
    assert_int_equal(EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)), 1);
    assert_true(sig_verify_message(rsa.pub, "SHA256", NULL, sig, len, msg, sizeof(msg)));
    /* SHA-1's SSLv3 master-secret parameter: only the digest itself knows it. */
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA1", env.libctx, NULL, rsa.token, NULL), 1);
    assert_non_null(OSSL_PARAM_locate_const(EVP_MD_CTX_settable_params(mctx),
                                            OSSL_DIGEST_PARAM_SSL3_MS));
    assert_int_equal(EVP_MD_CTX_set_params(mctx, mp), 1);
    assert_int_equal(ERR_peek_error(), 0);
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(sig);
}

/* Verification through tokenkey runs in software: no token call at all. */
static void test_verify_in_software(void **state)
{
    OSSL_PARAM sp[4];
    size_t len;
    unsigned char *sig;
    EVP_MD_CTX *mctx;
    SIG_STATS before;

    pss_params(sp, "digest", NULL);
    sig = sig_sign_message(&env, rsa.token, "SHA256", sp, msg, sizeof(msg), 1, &len);
    mctx = EVP_MD_CTX_new();
    sig_stats_take(&before);
    assert_int_equal(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA256", env.libctx, NULL, rsa.token, sp), 1);
    assert_int_equal(EVP_DigestVerifyUpdate(mctx, msg, 10), 1);
    assert_int_equal(EVP_DigestVerifyUpdate(mctx, msg + 10, sizeof(msg) - 10), 1);
    assert_int_equal(EVP_DigestVerifyFinal(mctx, sig, len), 1);
    assert_int_equal(EVP_DigestVerifyInit_ex(mctx, NULL, "SHA256", env.libctx, NULL, rsa.token, sp), 1);
    sig[7] ^= 0x02;
    assert_int_not_equal(EVP_DigestVerify(mctx, sig, len, msg, sizeof(msg)), 1);
    ERR_clear_error();
    sig_assert_no_token_calls(&before);
    EVP_MD_CTX_free(mctx);
    OPENSSL_free(sig);
}

/* EVP_PKEY_verify of a digest with the token key (PKCS#1 v1.5 and PSS): software too. */
static void test_verify_digest_in_software(void **state)
{
    unsigned char dgst[32];
    size_t dlen = sig_digest("SHA256", msg, sizeof(msg), dgst);

    for (int pss = 0; pss < 2; pss++) {
        int pad = pss ? RSA_PKCS1_PSS_PADDING : RSA_PKCS1_PADDING;
        OSSL_PARAM sp[4];
        size_t len;
        unsigned char *sig;
        EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, rsa.token, NULL);
        SIG_STATS before;

        pss_params(sp, "digest", NULL);
        sig = sig_sign_digest(&env, rsa.token, "SHA256", pss ? sp : NULL, dgst, dlen, &len);
        sig_stats_take(&before);
        assert_int_equal(EVP_PKEY_verify_init(pctx), 1);
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, pad), 1);
        assert_int_equal(EVP_PKEY_verify(pctx, sig, len, dgst, dlen), 1);
        sig[len - 1] ^= 0x01;
        assert_int_not_equal(EVP_PKEY_verify(pctx, sig, len, dgst, dlen), 1);
        ERR_clear_error();
        sig_assert_no_token_calls(&before);
        EVP_PKEY_CTX_free(pctx);
        OPENSSL_free(sig);
    }
}

/* EVP_MD_CTX_copy_ex mid-message needs dupctx: both copies finish on their own. */
static void test_dupctx(void **state)
{
    EVP_MD_CTX *a = EVP_MD_CTX_new(), *b = EVP_MD_CTX_new();
    unsigned char sa[256], sb[256], other[sizeof(msg)];
    size_t la = sizeof(sa), lb = sizeof(sb);
    SIG_STATS before;

    memcpy(other, msg, sizeof(msg));
    other[sizeof(other) - 1] ^= 0xff;
    assert_int_equal(EVP_DigestSignInit_ex(a, NULL, "SHA256", env.libctx, NULL, rsa.token, NULL), 1);
    assert_int_equal(EVP_DigestSignUpdate(a, msg, 500), 1);
    assert_int_equal(EVP_MD_CTX_copy_ex(b, a), 1);
    assert_int_equal(EVP_DigestSignUpdate(a, msg + 500, sizeof(msg) - 500), 1);
    assert_int_equal(EVP_DigestSignUpdate(b, other + 500, sizeof(other) - 500), 1);
    sig_stats_take(&before);
    assert_int_equal(EVP_DigestSignFinal(a, sa, &la), 1);
    assert_int_equal(EVP_DigestSignFinal(b, sb, &lb), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 2);
    assert_true(sig_verify_message(rsa.pub, "SHA256", NULL, sa, la, msg, sizeof(msg)));
    assert_true(sig_verify_message(rsa.pub, "SHA256", NULL, sb, lb, other, sizeof(other)));
    assert_false(sig_verify_message(rsa.pub, "SHA256", NULL, sb, lb, msg, sizeof(msg)));
    EVP_MD_CTX_free(a);
    EVP_MD_CTX_free(b);
}

/* Errors a user can act on, raised before anything reaches the token. */
static void test_errors(void **state)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    OSSL_PARAM sp[4];
    unsigned char sig[256], dgst[32] = { 0 };
    size_t len = sizeof(sig);
    char *text;
    SIG_STATS before;

    sig_stats_take(&before);
    /* No PKCS#11 mechanism names SHA-3. */
    assert_int_not_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA3-256", env.libctx, NULL, rsa.token,
                                               NULL), 1);
    text = sig_errors_text();
    assert_non_null(strstr(text, "SHA3-256"));
    free(text);
    /* A salt that does not fit: 2048-bit key, SHA-512: at most 190 bytes. */
    pss_params(sp, "191", NULL);
    assert_int_not_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA512", env.libctx, NULL, rsa.token,
                                               sp), 1);
    text = sig_errors_text();
    assert_non_null(strstr(text, "at most 190"));
    free(text);
    /* X9.31 padding is not something a token key signs with. */
    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", env.libctx, NULL, rsa.token, NULL), 1);
    assert_int_not_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_X931_PADDING), 1);
    ERR_clear_error();
    /* EVP_PKEY_sign with a digest set takes exactly that digest's length. */
    pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, rsa.token, NULL);
    assert_int_equal(EVP_PKEY_sign_init(pctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha384()), 1);
    assert_int_not_equal(EVP_PKEY_sign(pctx, sig, &len, dgst, sizeof(dgst)), 1);
    text = sig_errors_text();
    assert_non_null(strstr(text, "SHA-384"));
    free(text);
    EVP_PKEY_CTX_free(pctx);
    /* A buffer too small for the signature: said before the token signs. */
    len = 100;
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", env.libctx, NULL, rsa.token, NULL), 1);
    assert_int_not_equal(EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)), 1);
    text = sig_errors_text();
    if (strstr(text, "signature buffer of 100 bytes") == NULL)
        fail_msg("unexpected error: %s", text);
    free(text);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 0);
    EVP_MD_CTX_free(mctx);
}

/*
 * Parameters refused as a whole change nothing, as with OpenSSL's own RSA:
 * the context still signs with what it had (here a digest set before a
 * refused salt length, and a PSS salt before a refused one).
 */
static void test_refused_params_change_nothing(void **state)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, rsa.token, NULL);
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char dgst[32], sig[256];
    size_t len = sizeof(sig);
    int saltlen = 32;
    OSSL_PARAM digest_then_salt[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, (char *)"SHA384", 0),
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, (char *)"digest", 0),
        OSSL_PARAM_END
    };
    OSSL_PARAM bad_salt[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, (char *)"lots", 0),
        OSSL_PARAM_END
    };
    OSSL_PARAM vp[3];

    assert_int_equal(RAND_bytes(dgst, sizeof(dgst)), 1);
    assert_int_equal(EVP_PKEY_sign_init(pctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_signature_md(pctx, EVP_sha256()), 1);
    /* A salt length without PSS is refused after the digest was read. */
    assert_int_not_equal(EVP_PKEY_CTX_set_params(pctx, digest_then_salt), 1);
    ERR_clear_error();
    assert_int_equal(EVP_PKEY_sign(pctx, sig, &len, dgst, sizeof(dgst)), 1);
    assert_true(sig_verify_digest(rsa.pub, "SHA256", NULL, sig, len, dgst, sizeof(dgst)));
    EVP_PKEY_CTX_free(pctx);

    pctx = NULL;
    len = sizeof(sig);
    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", env.libctx, NULL, rsa.token, NULL), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST), 1);
    assert_int_not_equal(EVP_PKEY_CTX_set_params(pctx, bad_salt), 1);
    ERR_clear_error();
    assert_int_equal(EVP_DigestSign(mctx, sig, &len, msg, sizeof(msg)), 1);
    pss_verify_params(vp, &saltlen, NULL);
    assert_true(sig_verify_message(rsa.pub, "SHA256", vp, sig, len, msg, sizeof(msg)));
    EVP_MD_CTX_free(mctx);
}

/*
 * Encrypt with the default provider, decrypt on the token. refused: NULL
 * when the token must decrypt it, else the parameters the error must name
 * because the token refuses them (C_DecryptInit reached it once).
 */
static void decrypt_case(const char *pad, const char *oaep_md, const char *label, size_t outsize,
                         const char *refused)
{
    EVP_PKEY_CTX *enc = EVP_PKEY_CTX_new_from_pkey(NULL, rsa.pub, "provider=default");
    EVP_PKEY_CTX *dec = EVP_PKEY_CTX_new_from_pkey(env.libctx, rsa.token, NULL);
    OSSL_PARAM p[4], *q = p;
    unsigned char ct[256], pt[256];
    size_t ctlen = sizeof(ct), ptlen = 0;
    SIG_STATS before;

    *q++ = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, (char *)pad, 0);
    if (oaep_md != NULL)
        *q++ = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)oaep_md, 0);
    if (label != NULL)
        *q++ = OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, (char *)label,
                                                 strlen(label));
    *q = OSSL_PARAM_construct_end();
    assert_int_equal(EVP_PKEY_encrypt_init_ex(enc, p), 1);
    assert_int_equal(EVP_PKEY_encrypt(enc, ct, &ctlen, msg, 48), 1);
    assert_int_equal(EVP_PKEY_decrypt_init_ex(dec, p), 1);
    assert_int_equal(EVP_PKEY_decrypt(dec, NULL, &ptlen, ct, ctlen), 1);
    assert_int_equal(ptlen, 256); /* the size query: the modulus */
    sig_stats_take(&before);
    ptlen = outsize;
    if (refused != NULL) {
        char *text;

        assert_int_not_equal(EVP_PKEY_decrypt(dec, pt, &ptlen, ct, ctlen), 1);
        assert_int_equal(sig_stats_delta(&before, TK_FN_C_DecryptInit), 1);
        text = sig_errors_text();
        if (strstr(text, refused) == NULL)
            fail_msg("want '%s' in: %s", refused, text);
        /* What SoftHSM2's own libcrypto left on the queue is not passed on. */
        if (strstr(text, "rsa routines") != NULL)
            fail_msg("the module's errors leaked: %s", text);
        free(text);
    } else {
        assert_int_equal(EVP_PKEY_decrypt(dec, pt, &ptlen, ct, ctlen), 1);
        assert_int_equal(sig_stats_delta(&before, TK_FN_C_Decrypt), 1);
        assert_int_equal(ptlen, 48);
        assert_memory_equal(pt, msg, 48);
        /* A ciphertext longer than the modulus: said so, without asking the token. */
        {
            unsigned char longer[257];
            char *text;

            memcpy(longer + 1, ct, 256);
            longer[0] = 0;
            sig_stats_take(&before);
            ptlen = sizeof(pt);
            assert_int_not_equal(EVP_PKEY_decrypt(dec, pt, &ptlen, longer, sizeof(longer)), 1);
            assert_int_equal(sig_stats_delta(&before, TK_FN_C_DecryptInit), 0);
            text = sig_errors_text();
            if (strstr(text, "RSA ciphertext of 257 bytes") == NULL
                || strstr(text, "an RSA-2048 ciphertext is 256 bytes") == NULL)
                fail_msg("long ciphertext: %s", text);
            free(text);
        }
        /*
         * One with its leading zero bytes left out decrypts, as with a software
         * key: encrypt until a ciphertext starts with 0 (1 in 256; missing in
         * 5000 tries happens once in 10^8 runs).
         */
        {
            unsigned char zct[256] = { 1 };
            size_t zlen = 0, skip = 0;

            for (int tries = 0; tries < 5000 && zct[0] != 0; tries++) {
                zlen = sizeof(zct);
                assert_int_equal(EVP_PKEY_encrypt(enc, zct, &zlen, msg, 48), 1);
            }
            assert_int_equal(zct[0], 0);
            while (skip < zlen && zct[skip] == 0)
                skip++;
            ptlen = sizeof(pt);
            assert_int_equal(EVP_PKEY_decrypt(dec, pt, &ptlen, zct + skip, zlen - skip), 1);
            assert_int_equal(ptlen, 48);
            assert_memory_equal(pt, msg, 48);
        }
        /* The ciphertext changed: the token's padding check refuses it. */
        ct[5] ^= 0x01;
        ptlen = sizeof(pt);
        assert_int_not_equal(EVP_PKEY_decrypt(dec, pt, &ptlen, ct, ctlen), 1);
        ERR_clear_error();
    }
    EVP_PKEY_CTX_free(enc);
    EVP_PKEY_CTX_free(dec);
}

/*
 * PKCS#1 v1.5 and OAEP. SoftHSM2 up to 2.6 takes OAEP with SHA-1 only (its
 * C_DecryptInit answers CKR_ARGUMENTS_BAD otherwise: the error must name
 * the refused parameters), and ignores the label, decrypting as if it were
 * empty, so a labelled ciphertext fails its padding check there.
 */
static void test_decrypt(void **state)
{
    int old = sig_module_at_most(&env, 2, 6);

    decrypt_case("pkcs1", NULL, NULL, 256, NULL);
    decrypt_case("pkcs1", NULL, NULL, 48, NULL); /* a caller buffer smaller than the modulus */
    decrypt_case("oaep", NULL, NULL, 256, NULL); /* OAEP's default: SHA-1 */
    decrypt_case("oaep", "SHA1", NULL, 64, NULL);
    decrypt_case("oaep", "SHA256", NULL, 256,
                 old ? "refused CKM_RSA_PKCS_OAEP with hash SHA-256, MGF1 SHA-256, 0-byte label" : NULL);
    decrypt_case("oaep", "SHA1", "tokenkey label", 256,
                 old ? "(CKM_RSA_PKCS_OAEP): CKR_GENERAL_ERROR" : NULL);
    decrypt_case("oaep", "SHA256", "tokenkey label", 256,
                 old ? "refused CKM_RSA_PKCS_OAEP with hash SHA-256, MGF1 SHA-256, 14-byte label" : NULL);
}

/*
 * A decryption context's parameters read back, and a copy of it
 * (EVP_PKEY_CTX_dup) that decrypts on its own after the original is gone.
 */
static void test_decrypt_ctx_dup_and_params(void **state)
{
    EVP_PKEY_CTX *enc = EVP_PKEY_CTX_new_from_pkey(NULL, rsa.pub, "provider=default");
    EVP_PKEY_CTX *dec = EVP_PKEY_CTX_new_from_pkey(env.libctx, rsa.token, NULL), *copy;
    unsigned char ct[256], pt[256];
    size_t ctlen = sizeof(ct), ptlen = sizeof(pt);
    const EVP_MD *md = NULL;
    char mgf1[32] = "";
    int pad = 0;

    assert_int_equal(EVP_PKEY_encrypt_init(enc), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(enc, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_encrypt(enc, ct, &ctlen, msg, 40), 1);
    assert_int_equal(EVP_PKEY_decrypt_init(dec), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(dec, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_oaep_md(dec, EVP_sha1()), 1);
    assert_true(EVP_PKEY_CTX_get_rsa_padding(dec, &pad) > 0);
    assert_int_equal(pad, RSA_PKCS1_OAEP_PADDING);
    assert_int_equal(EVP_PKEY_CTX_get_rsa_oaep_md(dec, &md), 1);
    assert_true(EVP_MD_is_a(md, "SHA1"));
    assert_int_equal(EVP_PKEY_CTX_get_rsa_mgf1_md_name(dec, mgf1, sizeof(mgf1)), 1);
    assert_true(EVP_MD_is_a(md, mgf1));
    copy = EVP_PKEY_CTX_dup(dec);
    assert_non_null(copy);
    EVP_PKEY_CTX_free(dec);
    assert_int_equal(EVP_PKEY_decrypt(copy, pt, &ptlen, ct, ctlen), 1);
    assert_int_equal(ptlen, 40);
    assert_memory_equal(pt, msg, 40);
    EVP_PKEY_CTX_free(copy);
    EVP_PKEY_CTX_free(enc);
}

/* EVP_PKEY_encrypt with the token key works too, in software. */
static void test_encrypt_in_software(void **state)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, rsa.token, NULL);
    unsigned char ct[256], pt[256];
    size_t ctlen = sizeof(ct), ptlen = sizeof(pt);
    SIG_STATS before;

    sig_stats_take(&before);
    assert_int_equal(EVP_PKEY_encrypt_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_encrypt(ctx, ct, &ctlen, msg, 20), 1);
    assert_int_equal(ctlen, 256);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Decrypt), 0);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 0);
    assert_int_equal(EVP_PKEY_decrypt_init(ctx), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 1);
    assert_int_equal(EVP_PKEY_decrypt(ctx, pt, &ptlen, ct, ctlen), 1);
    assert_int_equal(ptlen, 20);
    assert_memory_equal(pt, msg, 20);
    EVP_PKEY_CTX_free(ctx);
}

static int setup(void **state)
{
    if (sig_env_setup(&env, "sig-rsa", NULL) != 0 || sig_key_make(&env, SIG_RSA2048, "rsa2048", &rsa) != 0)
        return -1;
    return RAND_bytes(msg, sizeof(msg)) == 1 ? 0 : -1;
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
        cmocka_unit_test(test_pkcs1_message),
        cmocka_unit_test(test_pkcs1_digest),
        cmocka_unit_test(test_pkcs1_raw),
        cmocka_unit_test(test_pss_message),
        cmocka_unit_test(test_pss_digest),
        cmocka_unit_test(test_pss_mgf1),
        cmocka_unit_test(test_pss_mgf1_same),
        cmocka_unit_test(test_algorithm_id),
        cmocka_unit_test(test_get_params),
        cmocka_unit_test(test_property_query_and_param_lists),
        cmocka_unit_test(test_verify_in_software),
        cmocka_unit_test(test_verify_digest_in_software),
        cmocka_unit_test(test_dupctx),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_refused_params_change_nothing),
        cmocka_unit_test(test_decrypt),
        cmocka_unit_test(test_decrypt_ctx_dup_and_params),
        cmocka_unit_test(test_encrypt_in_software),
    };

    return cmocka_run_group_tests_name("signature-rsa", tests, setup, teardown);
}
