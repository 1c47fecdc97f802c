/*
 * tokenkey's keymgmt with keys of every type it handles (RSA 2048, EC
 * P-256/P-384/P-521, Ed25519) generated on a fresh SoftHSM2 token through
 * the provider itself: what the keys report, what leaves them (the public
 * half only), comparisons with default-provider keys in both argument
 * orders (EVP_PKEY_eq, X509/SSL_CTX key checks), import, dup, loading by
 * URI through OSSL_STORE and by reference, signing right after
 * generation, and the key checks (EVP_PKEY_check: the pair by a token
 * signature).
 */
#include "km_test.h"

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/ssl.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "algorithms.h"
#include "key.h"

static KM_ENV env;
static EVP_PKEY *tok[KM_NKINDS];    /* generated through tokenkey */
static EVP_PKEY *pub[KM_NKINDS];    /* their public key objects, read by pkcs11-tool */
static char errs[8192];

static void label_of(int i, char *buf, size_t cap)
{
    snprintf(buf, cap, "km-%s", km_kinds[i].name);
}

static int group_setup(void **state)
{
    char label[64];

    if (km_env_setup(&env, "keymgmt-keys") != 0)
        return -1;
    for (int i = 0; i < KM_NKINDS; i++) {
        label_of(i, label, sizeof(label));
        tok[i] = km_generate(&env, &km_kinds[i], label, NULL);
        pub[i] = tok[i] != NULL ? km_token_public_key(&env, &km_kinds[i], label) : NULL;
        if (tok[i] == NULL || pub[i] == NULL) {
            fprintf(stderr, "test: generating %s failed:\n%s", label, km_errors(errs, sizeof(errs)));
            return -1;
        }
    }
    /*
     * SoftHSM2's C_Initialize queues errors about OpenSSL's rdrand engine
     * in our process; what follows checks that our own calls leave none.
     */
    ERR_clear_error();
    return 0;
}

static int group_teardown(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        EVP_PKEY_free(tok[i]);
        EVP_PKEY_free(pub[i]);
    }
    km_env_teardown(&env);
    return 0;
}

static void assert_no_errors(const char *after)
{
    if (ERR_peek_error() != 0)
        fail_msg("%s left errors behind:\n%s", after, km_errors(errs, sizeof(errs)));
}

/* ---- what the generated keys are ---- */

static void test_generated_keys_are_token_keys(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        assert_string_equal(km_provider(tok[i]), "tokenkey");
        assert_true(EVP_PKEY_is_a(tok[i], km_kinds[i].alg));
        assert_string_equal(km_provider(pub[i]), "default");
    }
}

static void test_get_params_match_openssl(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        EVP_PKEY *soft = km_software_key(&env, &km_kinds[i]);
        char mine[64] = "", theirs[64] = "";
        int rc_mine, rc_theirs;

        assert_non_null(soft);
        /* The same numbers OpenSSL's own keymgmt gives for a key of the same type. */
        assert_int_equal(EVP_PKEY_get_bits(tok[i]), EVP_PKEY_get_bits(soft));
        assert_int_equal(EVP_PKEY_get_security_bits(tok[i]), EVP_PKEY_get_security_bits(soft));
        assert_int_equal(EVP_PKEY_get_size(tok[i]), EVP_PKEY_get_size(soft));
        rc_mine = EVP_PKEY_get_default_digest_name(tok[i], mine, sizeof(mine));
        rc_theirs = EVP_PKEY_get_default_digest_name(soft, theirs, sizeof(theirs));
        assert_int_equal(rc_mine, rc_theirs);
        assert_string_equal(mine, theirs);
        if (km_kinds[i].group != NULL) {
            assert_int_equal(EVP_PKEY_get_group_name(tok[i], mine, sizeof(mine), NULL), 1);
            assert_int_equal(EVP_PKEY_get_group_name(soft, theirs, sizeof(theirs), NULL), 1);
            assert_string_equal(mine, theirs);
            /* What libssl's tls1_check_pkey_comp reads (RFC 8422 section 5.1.2). */
            assert_int_equal(EVP_PKEY_get_ec_point_conv_form(tok[i]),
                             POINT_CONVERSION_UNCOMPRESSED);
            assert_int_equal(EVP_PKEY_get_field_type(tok[i]), NID_X9_62_prime_field);
        }
        EVP_PKEY_free(soft);
    }
    /* And the absolute values, in case OpenSSL's own ever drift. */
    assert_int_equal(EVP_PKEY_get_bits(tok[KM_RSA2048]), 2048);
    assert_int_equal(EVP_PKEY_get_security_bits(tok[KM_RSA2048]), 112);
    assert_int_equal(EVP_PKEY_get_size(tok[KM_RSA2048]), 256);
    assert_int_equal(EVP_PKEY_get_security_bits(tok[KM_P521]), 256);
    assert_int_equal(EVP_PKEY_get_size(tok[KM_P256]), 72);
    assert_int_equal(EVP_PKEY_get_size(tok[KM_ED25519]), 64);
    assert_no_errors("get_params");
}

/* The public values the key reports are the token's public object's. */
static void test_public_params_are_the_tokens(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        if (i == KM_RSA2048) {
            BIGNUM *n1 = NULL, *n2 = NULL, *e1 = NULL, *e2 = NULL;

            assert_true(EVP_PKEY_get_bn_param(tok[i], OSSL_PKEY_PARAM_RSA_N, &n1));
            assert_true(EVP_PKEY_get_bn_param(pub[i], OSSL_PKEY_PARAM_RSA_N, &n2));
            assert_true(EVP_PKEY_get_bn_param(tok[i], OSSL_PKEY_PARAM_RSA_E, &e1));
            assert_true(EVP_PKEY_get_bn_param(pub[i], OSSL_PKEY_PARAM_RSA_E, &e2));
            assert_int_equal(BN_cmp(n1, n2), 0);
            assert_int_equal(BN_cmp(e1, e2), 0);
            assert_true(BN_is_word(e1, 65537));
            BN_free(n1), BN_free(n2), BN_free(e1), BN_free(e2);
        } else {
            unsigned char a[200], b[200], c[200];
            size_t alen = 0, blen = 0, clen = 0;

            assert_true(EVP_PKEY_get_octet_string_param(tok[i], OSSL_PKEY_PARAM_PUB_KEY, a,
                                                        sizeof(a), &alen));
            assert_true(EVP_PKEY_get_octet_string_param(pub[i], OSSL_PKEY_PARAM_PUB_KEY, b,
                                                        sizeof(b), &blen));
            assert_int_equal(alen, blen);
            assert_memory_equal(a, b, alen);
            assert_true(EVP_PKEY_get_octet_string_param(tok[i],
                                                        OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, c,
                                                        sizeof(c), &clen));
            assert_int_equal(clen, blen);
            assert_memory_equal(c, b, clen);
            if (i != KM_ED25519)
                assert_int_equal(a[0], 0x04); /* uncompressed, SEC 1 section 2.3.3 */
        }
    }
    assert_no_errors("public params");
}

/* The EC point by coordinates, and the other names OpenSSL's EC key manager answers to. */
static void test_ec_params_by_name(void **state)
{
    for (int i = KM_P256; i <= KM_P521; i++) {
        static const char *const coords[] = { OSSL_PKEY_PARAM_EC_PUB_X, OSSL_PKEY_PARAM_EC_PUB_Y };
        char mine[32], theirs[32];
        const OSSL_PARAM *gettable = EVP_PKEY_gettable_params(tok[i]);

        for (size_t c = 0; c < 2; c++) {
            BIGNUM *a = NULL, *b = NULL;

            assert_true(EVP_PKEY_get_bn_param(tok[i], coords[c], &a));
            assert_true(EVP_PKEY_get_bn_param(pub[i], coords[c], &b));
            assert_int_equal(BN_cmp(a, b), 0);
            assert_non_null(OSSL_PARAM_locate_const(gettable, coords[c]));
            BN_free(a), BN_free(b);
        }
        assert_true(EVP_PKEY_get_utf8_string_param(tok[i], OSSL_PKEY_PARAM_EC_ENCODING, mine,
                                                   sizeof(mine), NULL));
        assert_true(EVP_PKEY_get_utf8_string_param(pub[i], OSSL_PKEY_PARAM_EC_ENCODING, theirs,
                                                   sizeof(theirs), NULL));
        assert_string_equal(mine, theirs);
        assert_non_null(OSSL_PARAM_locate_const(gettable, OSSL_PKEY_PARAM_GROUP_NAME));
    }
    assert_non_null(OSSL_PARAM_locate_const(EVP_PKEY_gettable_params(tok[KM_RSA2048]),
                                            OSSL_PKEY_PARAM_RSA_N));
    assert_non_null(OSSL_PARAM_locate_const(EVP_PKEY_gettable_params(tok[KM_ED25519]),
                                            OSSL_PKEY_PARAM_PUB_KEY));
    assert_no_errors("EC params by name");
}

/* ---- export: the public half only ---- */

static void test_export_public_equals_token_object(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        OSSL_PARAM *params = NULL;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(env.libctx, km_kinds[i].alg,
                                                       "provider=default");
        EVP_PKEY *copy = NULL, *decoded;
        unsigned char *der = NULL;
        const unsigned char *p;
        int len;

        /* EVP_PKEY_todata -> our export; fromdata -> the default provider's import. */
        assert_int_equal(EVP_PKEY_todata(tok[i], EVP_PKEY_PUBLIC_KEY, &params), 1);
        assert_null(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY));
        assert_null(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_D));
        assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
        assert_int_equal(EVP_PKEY_fromdata(ctx, &copy, EVP_PKEY_PUBLIC_KEY, params), 1);
        assert_string_equal(km_provider(copy), "default");
        assert_int_equal(EVP_PKEY_eq(copy, pub[i]), 1);

        /* SubjectPublicKeyInfo: the default provider's encoder over our export. */
        len = i2d_PUBKEY(tok[i], &der);
        assert_true(len > 0);
        p = der;
        decoded = d2i_PUBKEY_ex(NULL, &p, len, env.libctx, "provider=default");
        assert_non_null(decoded);
        assert_int_equal(EVP_PKEY_eq(decoded, pub[i]), 1);

        OPENSSL_free(der);
        EVP_PKEY_free(decoded);
        EVP_PKEY_free(copy);
        EVP_PKEY_CTX_free(ctx);
        OSSL_PARAM_free(params);
    }
    assert_no_errors("public export");
}

static void test_export_private_refused(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        OSSL_PARAM *params = NULL;

        assert_int_equal(EVP_PKEY_todata(tok[i], EVP_PKEY_KEYPAIR, &params), 0);
        assert_null(params);
        km_errors(errs, sizeof(errs));
        assert_non_null(strstr(errs, "private key material never leaves the token"));
        assert_non_null(strstr(errs, "pkcs11:")); /* which key */
    }
}

/* ---- comparisons ---- */

static void test_eq_same_key_both_orders(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        assert_int_equal(EVP_PKEY_eq(tok[i], pub[i]), 1);
        assert_no_errors("EVP_PKEY_eq(token, public)");
        assert_int_equal(EVP_PKEY_eq(pub[i], tok[i]), 1);
        assert_no_errors("EVP_PKEY_eq(public, token)");
        assert_int_equal(EVP_PKEY_parameters_eq(tok[i], pub[i]), 1);
        assert_int_equal(EVP_PKEY_parameters_eq(pub[i], tok[i]), 1);
        assert_no_errors("EVP_PKEY_parameters_eq");
    }
}

static void test_eq_other_key_both_orders(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        EVP_PKEY *soft = km_software_key(&env, &km_kinds[i]);

        assert_non_null(soft);
        assert_int_not_equal(EVP_PKEY_eq(tok[i], soft), 1);
        assert_int_not_equal(EVP_PKEY_eq(soft, tok[i]), 1);
        EVP_PKEY_free(soft);
    }
    /* Other token keys: another type, and the same type on another curve. */
    assert_int_not_equal(EVP_PKEY_eq(tok[KM_P256], tok[KM_RSA2048]), 1);
    assert_int_not_equal(EVP_PKEY_eq(tok[KM_P256], tok[KM_P384]), 1);
    assert_int_not_equal(EVP_PKEY_eq(tok[KM_P384], pub[KM_P256]), 1);
    assert_int_not_equal(EVP_PKEY_eq(pub[KM_P256], tok[KM_P521]), 1);
    assert_int_not_equal(EVP_PKEY_parameters_eq(tok[KM_P256], pub[KM_P384]), 1);
    ERR_clear_error();
}

/* A certificate for key i's public half, issued by a software CA. */
static X509 *make_cert(int i, EVP_PKEY *ca)
{
    X509 *x = X509_new_ex(env.libctx, "provider=default");
    X509_NAME *name = X509_NAME_new();

    assert_non_null(x);
    assert_true(X509_set_version(x, X509_VERSION_3));
    assert_true(ASN1_INTEGER_set(X509_get_serialNumber(x), i + 1));
    assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                           (const unsigned char *)km_kinds[i].name, -1, -1, 0));
    assert_true(X509_set_subject_name(x, name));
    assert_true(X509_set_issuer_name(x, name));
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    assert_true(X509_set_pubkey(x, pub[i]));
    assert_true(X509_sign(x, ca, EVP_sha256()) > 0);
    X509_NAME_free(name);
    return x;
}

/*
 * What librdkafka does: SSL_CTX_use_certificate + SSL_CTX_use_PrivateKey
 * (which runs X509_check_private_key) and SSL_CTX_check_private_key, in
 * both orders of loading, and a certificate for another key refused.
 */
static void test_ssl_ctx_key_checks(void **state)
{
    EVP_PKEY *ca = EVP_PKEY_Q_keygen(env.libctx, "provider=default", "EC", "P-256");

    assert_non_null(ca);
    for (int i = 0; i < KM_NKINDS; i++) {
        X509 *cert = make_cert(i, ca), *other = make_cert((i + 1) % KM_NKINDS, ca);
        SSL_CTX *ctx = SSL_CTX_new_ex(env.libctx, NULL, TLS_method());

        assert_non_null(ctx);
        assert_int_equal(X509_check_private_key(cert, tok[i]), 1);
        assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(ctx, tok[i]), 1);
        assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
        assert_no_errors("SSL_CTX key checks (certificate first)");
        SSL_CTX_free(ctx);

        ctx = SSL_CTX_new_ex(env.libctx, NULL, TLS_method());
        assert_int_equal(SSL_CTX_use_PrivateKey(ctx, tok[i]), 1);
        assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
        assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
        assert_no_errors("SSL_CTX key checks (key first)");
        SSL_CTX_free(ctx);

        assert_int_equal(X509_check_private_key(other, tok[i]), 0);
        ERR_clear_error();
        X509_free(cert);
        X509_free(other);
    }
    EVP_PKEY_free(ca);
}

/* ---- import: public parts only ---- */

static void test_import_private_refused(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        EVP_PKEY *soft = km_software_key(&env, &km_kinds[i]), *out = NULL;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(env.libctx, km_kinds[i].alg,
                                                       "provider=tokenkey");
        OSSL_PARAM *params = NULL;

        assert_non_null(soft);
        assert_int_equal(EVP_PKEY_todata(soft, EVP_PKEY_KEYPAIR, &params), 1);
        assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
        assert_true(EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_KEYPAIR, params) <= 0);
        assert_null(out);
        km_errors(errs, sizeof(errs));
        assert_non_null(strstr(errs, "refusing to import"));
        OSSL_PARAM_free(params);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(soft);
    }
}

static int check_with(EVP_PKEY *pk, int (*check)(EVP_PKEY_CTX *));

static void test_import_public(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        EVP_PKEY *soft = km_software_key(&env, &km_kinds[i]), *out = NULL;
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(env.libctx, km_kinds[i].alg,
                                                       "provider=tokenkey");
        OSSL_PARAM *params = NULL;

        assert_non_null(soft);
        assert_int_equal(EVP_PKEY_todata(soft, EVP_PKEY_PUBLIC_KEY, &params), 1);
        assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
        assert_int_equal(EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_PUBLIC_KEY, params), 1);
        assert_string_equal(km_provider(out), "tokenkey");
        assert_int_equal(EVP_PKEY_get_bits(out), EVP_PKEY_get_bits(soft));
        assert_int_equal(EVP_PKEY_eq(out, soft), 1);
        assert_int_equal(EVP_PKEY_eq(soft, out), 1);
        assert_int_not_equal(EVP_PKEY_eq(out, tok[i]), 1);
        /* A public key alone passes the public check; a full check says what it lacks. */
        assert_int_equal(check_with(out, EVP_PKEY_public_check), 1);
        assert_int_not_equal(check_with(out, EVP_PKEY_check), 1);
        if (strstr(km_errors(errs, sizeof(errs)), "needs a private half") == NULL)
            fail_msg("%s: EVP_PKEY_check on a public key: %s", km_kinds[i].name, errs);
        /* A public key alone has nothing to export under a private selection. */
        OSSL_PARAM_free(params);
        params = NULL;
        assert_int_equal(EVP_PKEY_todata(out, EVP_PKEY_KEYPAIR, &params), 1);
        assert_null(OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PRIV_KEY));
        assert_no_errors("public import");
        OSSL_PARAM_free(params);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(out);
        EVP_PKEY_free(soft);
    }
}

/*
 * A token key cannot be changed: each setter fails with an error that says
 * so (without set_params libcrypto reported success and changed nothing).
 */
static void test_set_params_refused(void **state)
{
    unsigned char *other_point = NULL;
    size_t other_len = EVP_PKEY_get1_encoded_public_key(pub[KM_P384], &other_point);
    BIGNUM *e = BN_new();

    (void)state;
    assert_true(other_len > 0 && e != NULL && BN_set_word(e, 3));
    assert_int_not_equal(EVP_PKEY_set1_encoded_public_key(tok[KM_P256], other_point, other_len), 1);
    if (strstr(km_errors(errs, sizeof(errs)), "a token key cannot be changed") == NULL)
        fail_msg("set1_encoded_public_key: %s", errs);
    assert_int_not_equal(EVP_PKEY_set_utf8_string_param(tok[KM_P256], OSSL_PKEY_PARAM_GROUP_NAME,
                                                        "secp384r1"), 1);
    if (strstr(km_errors(errs, sizeof(errs)), "(asked to set 'group')") == NULL)
        fail_msg("set group: %s", errs);
    assert_int_not_equal(EVP_PKEY_set_bn_param(tok[KM_RSA2048], OSSL_PKEY_PARAM_RSA_E, e), 1);
    if (strstr(km_errors(errs, sizeof(errs)), "a token key cannot be changed") == NULL)
        fail_msg("set e: %s", errs);
    assert_int_not_equal(EVP_PKEY_set_octet_string_param(tok[KM_ED25519], OSSL_PKEY_PARAM_PUB_KEY,
                                                         other_point, 32), 1);
    if (strstr(km_errors(errs, sizeof(errs)), "a token key cannot be changed") == NULL)
        fail_msg("set Ed25519 pub: %s", errs);
    /* And the keys are as they were (a setter that did change one would show here). */
    for (int i = 0; i < KM_NKINDS; i++)
        assert_int_equal(EVP_PKEY_eq(tok[i], pub[i]), 1);
    assert_null(EVP_PKEY_settable_params(tok[KM_P256])[0].key);
    assert_no_errors("set_params");
    OPENSSL_free(other_point);
    BN_free(e);
}

/* An RSA public key with an n of the given size (odd, top bit set; not a real modulus). */
static EVP_PKEY *rsa_public_of_size(const char *propq, int nbits)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(env.libctx, "RSA", propq);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *n = BN_new(), *e = BN_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY *out = NULL;

    assert_true(ctx != NULL && bld != NULL && n != NULL && e != NULL);
    assert_true(BN_set_bit(n, nbits - 1) && BN_set_bit(n, 0) && BN_set_word(e, 65537));
    assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n)
                && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e));
    assert_non_null(params = OSSL_PARAM_BLD_to_param(bld));
    assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
    assert_int_equal(EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_PUBLIC_KEY, params), 1);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    EVP_PKEY_CTX_free(ctx);
    return out;
}

/*
 * An RSA key's security bits are what OpenSSL's RSA keys answer, for every
 * size: libssl chooses a TLS 1.2 server's automatic DHE group by them, and
 * BN_security_bits' steps gave RSA-4096 128 where OpenSSL says 152.
 */
static void test_rsa_security_bits_as_openssl(void **state)
{
    (void)state;
    for (int nbits = 512; nbits <= 16384; nbits += nbits < 4200 ? 1 : 13) {
        EVP_PKEY *soft = rsa_public_of_size("provider=default", nbits);
        EVP_PKEY *ours = rsa_public_of_size("provider=tokenkey", nbits);

        assert_string_equal(km_provider(ours), "tokenkey");
        if (EVP_PKEY_get_security_bits(ours) != EVP_PKEY_get_security_bits(soft))
            fail_msg("RSA-%d: %d security bits, OpenSSL says %d", nbits,
                     EVP_PKEY_get_security_bits(ours), EVP_PKEY_get_security_bits(soft));
        EVP_PKEY_free(soft);
        EVP_PKEY_free(ours);
    }
    /* And on the token: the RSA-2048 key (the sweep's keys are imported public halves). */
    assert_int_equal(EVP_PKEY_get_security_bits(tok[KM_RSA2048]), 112);
    assert_no_errors("RSA security bits");
}

/*
 * A key made from no parameters at all holds nothing: printing it is an
 * error, not a crash (print_rsa once read the missing modulus).
 */
static void test_print_empty_key(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(env.libctx, km_kinds[i].alg,
                                                       "provider=tokenkey");
        OSSL_PARAM none[] = { OSSL_PARAM_END };
        EVP_PKEY *out = NULL;
        BIO *mem = BIO_new(BIO_s_mem());
        char why[2048];

        assert_non_null(mem);
        assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
        if (EVP_PKEY_fromdata(ctx, &out, EVP_PKEY_KEY_PARAMETERS, none) != 1) {
            /* EC refuses a key without a curve; RSA (the crash) takes it, so must print. */
            assert_string_not_equal(km_kinds[i].alg, "RSA");
            ERR_clear_error();
            BIO_free(mem);
            EVP_PKEY_CTX_free(ctx);
            continue;
        }
        assert_true(EVP_PKEY_print_public(mem, out, 0, NULL) <= 0);
        km_errors(why, sizeof(why));
        if (strstr(why, "has no public half to print") == NULL)
            fail_msg("%s: %s", km_kinds[i].alg, why);
        assert_true(EVP_PKEY_print_private(mem, out, 0, NULL) <= 0);
        km_errors(why, sizeof(why));
        assert_non_null(strstr(why, "has no public half to print"));
        /* The parameters alone: nothing to say, and nothing read that is not there. */
        assert_int_equal(EVP_PKEY_print_params(mem, out, 0, NULL), 1);
        ERR_clear_error();
        BIO_free(mem);
        EVP_PKEY_CTX_free(ctx);
        EVP_PKEY_free(out);
    }
}

/* ---- dup and parameter copies ---- */

static void test_dup_and_copy_parameters(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        EVP_PKEY *dup = EVP_PKEY_dup(tok[i]);

        assert_non_null(dup);
        assert_string_equal(km_provider(dup), "tokenkey");
        assert_int_equal(EVP_PKEY_eq(dup, pub[i]), 1);
        EVP_PKEY_free(dup);
    }
    /* Copying an EC key's parameters gives its group, not its key. */
    for (int i = KM_P256; i <= KM_P521; i++) {
        EVP_PKEY *params = EVP_PKEY_new();
        char a[32], b[32];
        size_t len;

        assert_int_equal(EVP_PKEY_copy_parameters(params, tok[i]), 1);
        assert_int_equal(EVP_PKEY_get_group_name(params, a, sizeof(a), NULL), 1);
        assert_int_equal(EVP_PKEY_get_group_name(tok[i], b, sizeof(b), NULL), 1);
        assert_string_equal(a, b);
        assert_int_equal(EVP_PKEY_parameters_eq(params, tok[i]), 1);
        assert_no_errors("EVP_PKEY_copy_parameters");
        assert_int_equal(EVP_PKEY_get_octet_string_param(params, OSSL_PKEY_PARAM_PUB_KEY, NULL,
                                                         0, &len), 0);
        ERR_clear_error();
        EVP_PKEY_free(params);
    }
}

/* ---- usable at once: sign with the new key, verify with the token's public object ---- */

static void test_generated_keys_sign(void **state)
{
    static const unsigned char msg[] = "keys made by tokenkey sign at once";

    for (int i = 0; i < KM_NKINDS; i++) {
        const char *md = i == KM_ED25519 ? NULL : "SHA256";
        EVP_MD_CTX *sctx = EVP_MD_CTX_new(), *vctx = EVP_MD_CTX_new();
        unsigned char sig[600];
        size_t siglen = sizeof(sig);

        assert_int_equal(EVP_DigestSignInit_ex(sctx, NULL, md, env.libctx, NULL, tok[i], NULL), 1);
        assert_int_equal(EVP_DigestSign(sctx, sig, &siglen, msg, sizeof(msg)), 1);
        assert_no_errors("signing");
        assert_int_equal(EVP_DigestVerifyInit_ex(vctx, NULL, md, env.libctx, "provider=default",
                                                 pub[i], NULL), 1);
        assert_int_equal(EVP_DigestVerify(vctx, sig, siglen, msg, sizeof(msg)), 1);
        EVP_MD_CTX_free(sctx);
        EVP_MD_CTX_free(vctx);
    }
}

/* ---- loading ---- */

static EVP_PKEY *store_load(const char *uri)
{
    OSSL_STORE_CTX *store = OSSL_STORE_open_ex(uri, env.libctx, NULL, NULL, NULL, NULL, NULL,
                                               NULL);
    EVP_PKEY *pk = NULL;

    while (store != NULL && pk == NULL && !OSSL_STORE_eof(store)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(store);

        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pk = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(store);
    return pk;
}

static void test_load_by_uri(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        char label[64], uri[256];
        EVP_PKEY *loaded;

        label_of(i, label, sizeof(label));
        snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=%s;type=private",
                 tk_fixture_token(&env.fx), label);
        loaded = store_load(uri);
        if (loaded == NULL)
            fail_msg("OSSL_STORE could not load %s:\n%s", uri, km_errors(errs, sizeof(errs)));
        assert_string_equal(km_provider(loaded), "tokenkey");
        assert_int_equal(EVP_PKEY_eq(loaded, tok[i]), 1);
        assert_int_equal(EVP_PKEY_eq(loaded, pub[i]), 1);
        assert_int_equal(EVP_PKEY_get_bits(loaded), EVP_PKEY_get_bits(tok[i]));
        EVP_PKEY_free(loaded);
        assert_no_errors("loading by URI");
        ERR_clear_error();
    }
}

/* ---- key checks (openssl pkey -check): validate ---- */

static int check_with(EVP_PKEY *pk, int (*check)(EVP_PKEY_CTX *))
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(env.libctx, pk, NULL);
    int r = c != NULL ? check(c) : -1;

    EVP_PKEY_CTX_free(c);
    return r;
}

/* Every generated key passes the full, public and pairwise checks: a signature on the token verifies. */
static void test_checks_pass(void **state)
{
    for (int i = 0; i < KM_NKINDS; i++) {
        if (check_with(tok[i], EVP_PKEY_check) != 1 || check_with(tok[i], EVP_PKEY_public_check) != 1
            || check_with(tok[i], EVP_PKEY_pairwise_check) != 1)
            fail_msg("%s: a check failed:\n%s", km_kinds[i].name, km_errors(errs, sizeof(errs)));
        assert_no_errors("checking a key");
    }
}

/*
 * A private key whose public half, found by its CKA_ID, is another key's
 * (a public key object written by hand with the wrong id): the public
 * check passes - it is a valid public key - and the pair check fails,
 * saying why. Before validate existed, both said "valid".
 */
static void test_check_finds_a_foreign_public_half(void **state)
{
    EVP_PKEY *a = km_generate(&env, &km_kinds[KM_P256], "km-pair-a", "a1a1");
    EVP_PKEY *b = km_generate(&env, &km_kinds[KM_P256], "km-pair-b", "b2b2");
    EVP_PKEY *b_pub = km_token_public_key(&env, &km_kinds[KM_P256], "km-pair-b"), *loaded;
    const char *del[] = { "--delete-object", "--type", "pubkey", "--label", "km-pair-a", NULL };
    char path[1024], uri[256];
    const char *write[] = { "--write-object", path, "--type", "pubkey", "--id", "a1a1",
                            "--label", "km-pair-a", NULL };
    int status;
    char *out;
    FILE *f;

    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(b_pub);
    snprintf(path, sizeof(path), "%s/b.pub.der", tk_fixture_dir(&env.fx));
    assert_non_null(f = fopen(path, "wb"));
    assert_int_equal(i2d_PUBKEY_fp(f, b_pub), 1);
    fclose(f);
    out = km_pkcs11_tool(&env, 1, del, &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("pkcs11-tool --delete-object failed:\n%s", out);
    free(out);
    out = km_pkcs11_tool(&env, 1, write, &status);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("pkcs11-tool --write-object failed:\n%s", out);
    free(out);

    snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=km-pair-a;type=private",
             tk_fixture_token(&env.fx));
    loaded = store_load(uri);
    if (loaded == NULL)
        fail_msg("could not load %s:\n%s", uri, km_errors(errs, sizeof(errs)));
    /* The setup did what it meant to: tokenkey took B's public half for A's private key. */
    assert_int_equal(EVP_PKEY_eq(loaded, b_pub), 1);
    assert_int_equal(check_with(loaded, EVP_PKEY_public_check), 1);
    assert_int_not_equal(check_with(loaded, EVP_PKEY_check), 1);
    km_errors(errs, sizeof(errs));
    if (strstr(errs, "are not one key pair: a signature on the token does not verify with it") == NULL)
        fail_msg("the failed check does not say why:\n%s", errs);
    assert_int_not_equal(check_with(loaded, EVP_PKEY_pairwise_check), 1);
    ERR_clear_error();
    EVP_PKEY_free(loaded);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    EVP_PKEY_free(b_pub);
}

/* The keymgmt load function of algorithm alg, from the table query_operation hands out. */
static OSSL_FUNC_keymgmt_load_fn *load_fn(const char *alg)
{
    for (const OSSL_ALGORITHM *a = tk_keymgmt_algorithms; a->algorithm_names != NULL; a++) {
        if (strncmp(a->algorithm_names, alg, strlen(alg)) != 0
            || a->algorithm_names[strlen(alg)] != ':')
            continue;
        for (const OSSL_DISPATCH *d = a->implementation; d->function_id != 0; d++)
            if (d->function_id == OSSL_FUNC_KEYMGMT_LOAD)
                return OSSL_FUNC_keymgmt_load(d);
    }
    return NULL;
}

/* The reference convention: the bytes of a TK_KEY pointer; load takes a reference. */
static void test_load_by_reference(void **state)
{
    OSSL_FUNC_keymgmt_load_fn *ec_load = load_fn("EC"), *rsa_load = load_fn("RSA");
    TK_KEY *k = tk_key_new(NULL, TK_KEY_EC), *got;

    assert_non_null(ec_load);
    assert_non_null(rsa_load);
    assert_non_null(k);
    got = ec_load(&k, sizeof(k));
    assert_ptr_equal(got, k);
    assert_int_equal(k->refs, 2);
    tk_key_free(got);
    assert_int_equal(k->refs, 1);

    assert_null(rsa_load(&k, sizeof(k)));
    km_errors(errs, sizeof(errs));
    assert_non_null(strstr(errs, "is a EC key, not RSA"));
    assert_int_equal(k->refs, 1);

    /* (No provider context here to name the reason: the data says it.) */
    assert_null(ec_load(&k, sizeof(k) - 1));
    km_errors(errs, sizeof(errs));
    assert_non_null(strstr(errs, "key reference of 7 bytes"));
    tk_key_free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generated_keys_are_token_keys),
        cmocka_unit_test(test_get_params_match_openssl),
        cmocka_unit_test(test_public_params_are_the_tokens),
        cmocka_unit_test(test_ec_params_by_name),
        cmocka_unit_test(test_export_public_equals_token_object),
        cmocka_unit_test(test_export_private_refused),
        cmocka_unit_test(test_eq_same_key_both_orders),
        cmocka_unit_test(test_eq_other_key_both_orders),
        cmocka_unit_test(test_ssl_ctx_key_checks),
        cmocka_unit_test(test_import_private_refused),
        cmocka_unit_test(test_import_public),
        cmocka_unit_test(test_rsa_security_bits_as_openssl),
        cmocka_unit_test(test_set_params_refused),
        cmocka_unit_test(test_print_empty_key),
        cmocka_unit_test(test_dup_and_copy_parameters),
        cmocka_unit_test(test_generated_keys_sign),
        cmocka_unit_test(test_load_by_uri),
        cmocka_unit_test(test_load_by_reference),
        cmocka_unit_test(test_checks_pass),
        cmocka_unit_test(test_check_finds_a_foreign_public_half),
    };

    return cmocka_run_group_tests_name("keymgmt-keys", tests, group_setup, group_teardown);
}
