/*
 * Key generation on a token through tokenkey: what is refused and how it
 * is said (no token, existing label or id, bad group or size), what the
 * token holds afterwards as an independent PKCS#11 client (OpenSC's
 * pkcs11-tool, not tokenkey's layer) sees it, and `openssl genpkey` on the
 * command line.
 */
#include "km_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <openssl/core_names.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

static KM_ENV env;
static char errs[8192];

static int group_setup(void **state)
{
    EVP_PKEY *first;

    if (km_env_setup(&env, "keymgmt-gen") != 0)
        return -1;
    /* SoftHSM2's C_Initialize queues OpenSSL errors (its rdrand engine): get that over with. */
    first = km_generate(&env, &km_kinds[KM_P256], "gen-first", NULL);
    if (first == NULL) {
        fprintf(stderr, "test: first key: %s", km_errors(errs, sizeof(errs)));
        return -1;
    }
    EVP_PKEY_free(first);
    ERR_clear_error();
    return 0;
}

static int group_teardown(void **state)
{
    km_env_teardown(&env);
    return 0;
}

/* A UTF-8 string parameter (OSSL_PARAM wants char *, -Wwrite-strings gives const). */
static OSSL_PARAM str(const char *key, const char *value)
{
    return OSSL_PARAM_construct_utf8_string(key, (char *)value, 0);
}

/* Generation through EVP with params; returns the key or NULL (errors into errs). */
static EVP_PKEY *generate_with(const char *alg, const OSSL_PARAM *params)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(env.libctx, alg, "provider=tokenkey");
    EVP_PKEY *pk = NULL;

    assert_non_null(ctx);
    assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
    if (!EVP_PKEY_CTX_set_params(ctx, params) || EVP_PKEY_generate(ctx, &pk) <= 0) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    km_errors(errs, sizeof(errs));
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

/* Objects on the token with label, as pkcs11-tool lists them (after login). */
static char *list_objects(void)
{
    const char *args[] = { "--list-objects", NULL };
    int status;
    char *out = km_pkcs11_tool(&env, 1, args, &status);

    assert_non_null(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("pkcs11-tool --list-objects failed (status 0x%x):\n%s", (unsigned)status, out);
    return out;
}

/* ---- refusals ---- */

static void test_no_token_refused(void **state)
{
    OSSL_PARAM params[] = {
        str(OSSL_PKEY_PARAM_GROUP_NAME, "P-256"),
        str("label", "no-token"),
        OSSL_PARAM_construct_end()
    };

    assert_null(generate_with("EC", params));
    assert_non_null(strstr(errs, "pass -pkeyopt token:LABEL"));
    assert_non_null(strstr(errs, "never makes keys in software"));
}

static void test_duplicate_label_refused(void **state)
{
    OSSL_PARAM params[] = {
        str("token", tk_fixture_token(&env.fx)),
        str("label", "gen-first"),
        OSSL_PARAM_construct_end()
    };
    char *listing;
    char block[2048];

    assert_null(generate_with("ED25519", params));
    assert_non_null(strstr(errs, "already has a private key labelled 'gen-first'"));
    /* Still exactly one key pair with that label (object_block fails on two). */
    listing = list_objects();
    km_object_block(listing, "Private Key Object", "gen-first", block, sizeof(block));
    km_object_block(listing, "Public Key Object", "gen-first", block, sizeof(block));
    free(listing);
}

static void test_duplicate_id_refused(void **state)
{
    OSSL_PARAM params[] = {
        str("token", tk_fixture_token(&env.fx)),
        str("label", "gen-id-1"),
        str("id", "a1b2c3"),
        str(OSSL_PKEY_PARAM_GROUP_NAME, "P-384"),
        OSSL_PARAM_construct_end()
    };
    EVP_PKEY *pk = generate_with("EC", params);

    assert_non_null(pk);
    EVP_PKEY_free(pk);
    params[1] = str("label", "gen-id-2");
    params[2] = str("id", "A1:B2:C3");
    assert_null(generate_with("EC", params));
    assert_non_null(strstr(errs, "already has a private key with id A1:B2:C3"));
}

static void test_bad_parameters_refused(void **state)
{
    OSSL_PARAM ec[] = {
        str("token", tk_fixture_token(&env.fx)),
        str(OSSL_PKEY_PARAM_GROUP_NAME, "brainpoolP256r1"),
        OSSL_PARAM_construct_end()
    };
    OSSL_PARAM no_group[] = {
        str("token", tk_fixture_token(&env.fx)),
        OSSL_PARAM_construct_end()
    };
    size_t bits = 1024;
    OSSL_PARAM rsa[] = {
        str("token", tk_fixture_token(&env.fx)),
        OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits),
        OSSL_PARAM_construct_end()
    };
    OSSL_PARAM bad_id[] = {
        str("token", tk_fixture_token(&env.fx)),
        str("id", "xyz"),
        OSSL_PARAM_construct_end()
    };
    OSSL_PARAM no_such_token[] = {
        str("token", "no-such-token"),
        OSSL_PARAM_construct_end()
    };
    /* A token URI may carry a pin-value: no message may repeat it. */
    OSSL_PARAM secret_in_uri[] = {
        str("token", "pkcs11:token=no-such-token?pin-value=Secret-4711"),
        OSSL_PARAM_construct_end()
    };
    OSSL_PARAM secret_in_bad_uri[] = {
        str("token", "pkcs11:token=no-such-token;bogus=1?pin-value=Secret-4711"),
        OSSL_PARAM_construct_end()
    };

    assert_null(generate_with("EC", ec));
    assert_non_null(strstr(errs, "EC group 'brainpoolP256r1': use P-256, P-384 or P-521"));
    assert_null(generate_with("EC", no_group));
    assert_non_null(strstr(errs, "pass -pkeyopt group:P-256"));
    assert_null(generate_with("RSA", rsa));
    assert_non_null(strstr(errs, "2048 to 4096 bits"));
    assert_null(generate_with("ED25519", bad_id));
    assert_non_null(strstr(errs, "'id' must be hex digits"));
    assert_null(generate_with("ED25519", no_such_token));
    assert_non_null(strstr(errs, "matches 'pkcs11:token=no-such-token'"));
    assert_null(generate_with("ED25519", secret_in_uri));
    assert_non_null(strstr(errs, "no-such-token"));
    assert_null(strstr(errs, "Secret-4711"));
    assert_null(generate_with("ED25519", secret_in_bad_uri));
    assert_non_null(strstr(errs, "unknown attribute"));
    assert_null(strstr(errs, "Secret-4711"));
}

/* Public exponents a token must not be asked for: even, 1, longer than 64 bits. */
static void test_bad_exponent_refused(void **state)
{
    static const unsigned char even[] = { 0x01, 0x00, 0x00 }, one[] = { 0x01 },
                               big[] = { 0x01, 0, 0, 0, 0, 0, 0, 0, 0x01 };
    static const struct { const unsigned char *e; size_t len; } bad[] = {
        { even, sizeof(even) }, { one, sizeof(one) }, { big, sizeof(big) },
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
        BIGNUM *e = BN_bin2bn(bad[i].e, (int)bad[i].len, NULL);
        OSSL_PARAM *params;

        assert_non_null(bld);
        assert_non_null(e);
        assert_int_equal(OSSL_PARAM_BLD_push_utf8_string(bld, "token", tk_fixture_token(&env.fx), 0), 1);
        assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e), 1);
        assert_non_null(params = OSSL_PARAM_BLD_to_param(bld));
        assert_null(generate_with("RSA", params));
        OSSL_PARAM_free(params);
        OSSL_PARAM_BLD_free(bld);
        BN_free(e);
        if (strstr(errs, "RSA public exponent must be odd, at least 3 and at most 64 bits") == NULL)
            fail_msg("exponent %zu: %s", i, errs);
    }
}

/*
 * A token URI's object= and id= name the new key; an id may come as bytes
 * (an octet string) as well as hex text. Both are what the key is found by.
 */
static void test_key_named_by_token_uri(void **state)
{
    static const unsigned char id[] = { 0xc0, 0xff, 0xee };
    char uri[256];
    OSSL_PARAM by_uri[] = {
        str("token", NULL),
        str(OSSL_PKEY_PARAM_GROUP_NAME, "P-256"),
        OSSL_PARAM_construct_end()
    };
    OSSL_PARAM by_bytes[] = {
        str("token", tk_fixture_token(&env.fx)),
        str("label", "gen-bytes-id"),
        OSSL_PARAM_construct_octet_string("id", (void *)id, sizeof(id)),
        OSSL_PARAM_construct_end()
    };
    EVP_PKEY *pk;
    char *listing;
    char block[2048];

    snprintf(uri, sizeof(uri), "pkcs11:token=%s;object=gen-by-uri;id=%%0b%%0c",
             tk_fixture_token(&env.fx));
    by_uri[0] = str("token", uri);
    pk = generate_with("EC", by_uri);
    if (pk == NULL)
        fail_msg("by URI: %s", errs);
    EVP_PKEY_free(pk);
    pk = generate_with("ED25519", by_bytes);
    if (pk == NULL)
        fail_msg("id as bytes: %s", errs);
    EVP_PKEY_free(pk);
    listing = list_objects();
    km_object_block(listing, "Private Key Object", "gen-by-uri", block, sizeof(block));
    if (strstr(block, "ID:         0b0c") == NULL)
        fail_msg("gen-by-uri's id: %s", block);
    km_object_block(listing, "Private Key Object", "gen-bytes-id", block, sizeof(block));
    if (strstr(block, "ID:         c0ffee") == NULL)
        fail_msg("gen-bytes-id's id: %s", block);
    free(listing);
}

/* ---- what the token holds, seen by an independent client ---- */

static void test_token_attributes_independent(void **state)
{
    static const struct { int kind; const char *label; const char *usage; } made[] = {
        { KM_RSA2048, "attr-rsa", "decrypt, sign" },
        { KM_P256, "attr-p256", "sign" },
        { KM_P521, "attr-p521", "sign" },
        { KM_ED25519, "attr-ed25519", "sign" },
    };
    char *listing;
    char block[2048], want[64];

    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
        EVP_PKEY *pk = km_generate(&env, &km_kinds[made[i].kind], made[i].label, NULL);

        if (pk == NULL)
            fail_msg("generating %s: %s", made[i].label, km_errors(errs, sizeof(errs)));
        EVP_PKEY_free(pk);
    }
    listing = list_objects();
    for (size_t i = 0; i < sizeof(made) / sizeof(made[0]); i++) {
        km_object_block(listing, "Private Key Object", made[i].label, block, sizeof(block));
        /* PKCS#11 v2.40 4.9: sensitive and never extractable, from birth. */
        assert_true(km_line_has(block, "Access:", "sensitive"));
        assert_true(km_line_has(block, "Access:", "always sensitive"));
        assert_true(km_line_has(block, "Access:", "never extractable"));
        assert_false(km_line_has(block, "Access:", "extractable"));
        assert_true(km_line_has(block, "Access:", "local")); /* generated on the token */
        snprintf(want, sizeof(want), "  Usage:      %s\n", made[i].usage);
        if (strstr(block, want) == NULL)
            fail_msg("%s: expected usage '%s' in:\n%s", made[i].label, made[i].usage, block);
        /* The public half is on the token too, with the same label. */
        km_object_block(listing, "Public Key Object", made[i].label, block, sizeof(block));
    }
    free(listing);
}

/* A private key is invisible without login: CKA_PRIVATE=TRUE. */
static void test_private_key_needs_login(void **state)
{
    const char *args[] = { "--list-objects", NULL };
    int status;
    char *out = km_pkcs11_tool(&env, 0, args, &status);

    assert_non_null(out);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_null(strstr(out, "Private Key Object"));
    assert_non_null(strstr(out, "label:      gen-first"));
    free(out);
}

/* ---- the command line ---- */

static char *genpkey(const char *const extra[], const char *unset_var, int *status)
{
    const char *argv[24] = { "openssl", "genpkey", NULL };
    size_t n = 2;

    for (size_t i = 0; extra[i] != NULL && n < 23; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    /* The environment carries OPENSSL_MODULES, SOFTHSM2_CONF, TOKENKEY_MODULE and _PIN_FILE. */
    return km_run(&env, (char *const *)argv, NULL, unset_var, status);
}

static void test_genpkey_command_line(void **state)
{
    char token[96], out[4096], *text, *listing;
    char block[2048];
    FILE *f;
    char pem[64] = "";
    int status;

    snprintf(token, sizeof(token), "token:%s", tk_fixture_token(&env.fx));
    snprintf(out, sizeof(out), "%s/cli-ec.pem", tk_fixture_dir(&env.fx));
    {
        /*
         * SoftHSM2 runs inside the openssl process and needs the default
         * provider for its own hashing, so both are loaded; tokenkey first
         * so that its EC keymgmt is the one "-algorithm EC" finds.
         */
        const char *args[] = { "-provider", "tokenkey", "-provider", "default",
                               "-algorithm", "EC", "-pkeyopt", "group:P-256",
                               "-pkeyopt", token, "-pkeyopt", "label:cli-ec",
                               "-pkeyopt", "id:0102", "-out", out, NULL };

        text = genpkey(args, NULL, &status);
        assert_non_null(text);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("openssl genpkey failed (status 0x%x):\n%s", (unsigned)status, text);
        free(text);
    }
    /* What genpkey wrote is a key reference (tokenkey's encoder), never key material. */
    f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(pem, sizeof(pem), f));
    fclose(f);
    assert_non_null(strstr(pem, "-----BEGIN "));
    assert_null(strstr(pem, "PRIVATE KEY"));
    {
        /* An explicit property query picks tokenkey whatever the load order. */
        const char *args[] = { "-provider", "default", "-provider", "tokenkey",
                               "-propquery", "provider=tokenkey", "-algorithm", "RSA",
                               "-pkeyopt", "rsa_keygen_bits:3072", "-pkeyopt", token,
                               "-pkeyopt", "label:cli-rsa", "-out", "/dev/null", NULL };

        text = genpkey(args, NULL, &status);
        assert_non_null(text);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fail_msg("openssl genpkey -propquery failed (status 0x%x):\n%s", (unsigned)status,
                     text);
        free(text);
    }
    listing = list_objects();
    km_object_block(listing, "Private Key Object", "cli-ec", block, sizeof(block));
    assert_non_null(strstr(block, "  ID:         0102\n"));
    assert_true(km_line_has(block, "Access:", "never extractable"));
    km_object_block(listing, "Private Key Object", "cli-rsa", block, sizeof(block));
    free(listing);
}

static void test_genpkey_refusals(void **state)
{
    char token[96], *text;
    int status;
    const char *no_token[] = { "-provider", "tokenkey", "-provider", "default",
                               "-algorithm", "EC", "-pkeyopt", "group:P-256",
                               "-pkeyopt", "label:cli-none", "-out", "/dev/null", NULL };
    const char *no_pin[] = { "-provider", "tokenkey", "-provider", "default",
                             "-algorithm", "ED25519", "-pkeyopt", token,
                             "-pkeyopt", "label:cli-nopin", "-out", "/dev/null", NULL };

    snprintf(token, sizeof(token), "token:%s", tk_fixture_token(&env.fx));
    text = genpkey(no_token, NULL, &status);
    assert_non_null(text);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_non_null(strstr(text, "pass -pkeyopt token:LABEL"));
    free(text);

    text = genpkey(no_pin, "TOKENKEY_PIN_FILE", &status);
    assert_non_null(text);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    assert_non_null(strstr(text, "needs the user PIN"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_token_refused),
        cmocka_unit_test(test_duplicate_label_refused),
        cmocka_unit_test(test_duplicate_id_refused),
        cmocka_unit_test(test_bad_parameters_refused),
        cmocka_unit_test(test_bad_exponent_refused),
        cmocka_unit_test(test_key_named_by_token_uri),
        cmocka_unit_test(test_token_attributes_independent),
        cmocka_unit_test(test_private_key_needs_login),
        cmocka_unit_test(test_genpkey_command_line),
        cmocka_unit_test(test_genpkey_refusals),
    };

    return cmocka_run_group_tests_name("keymgmt-gen", tests, group_setup, group_teardown);
}
