/*
 * Modules that bend PKCS#11: C_GetAttributeValue that stops at the first
 * attribute it cannot return (v2.40 section 5.7 says to go on). SoftHSM2
 * processes whole templates, so the token is reached through tk-tokenshim
 * (tokenshim.h), which answers one attribute at a time and stops there.
 * Key loading reads a key's attributes in one template in which some are
 * always absent (an EC key has no CKA_MODULUS): through such a module it
 * must still find everything that is there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "tokenshim.h"
#include "load_key.h"
#include "p11_test.h"
#include "token_keygen.h"
#include "token_pubkey.h"

static TK_P11_TEST env;
static tk_tokenshim_set_attrs_stop_early_fn *stop_early;
static tk_tokenshim_set_attr_length_lie_fn *length_lie;
static tk_tokenshim_fail_next_sign_fn *fail_next_sign;
static tk_tokenshim_lie_next_sign_length_fn *lie_sign_length;
static tk_tokenshim_fail_object_reads_fn *fail_reads;
static tk_tokenshim_fail_finds_of_class_fn *fail_finds;
static tk_tokenshim_close_sessions_after_next_generate_fn *close_after_generate;
static tk_tokenshim_swap_card_after_next_generate_fn *swap_after_generate;
static tk_tokenshim_set_token_serial_fn *set_serial;
static CK_OBJECT_HANDLE ec_pub, ec_priv;

#define EC_LABEL "quirky-ec"

static int setup(void)
{
    static const unsigned char id[] = { 0x51 };
    const char *shim = tk_test_tokenshim();
    TK_P11_SESSION s;
    CK_RV rv;

    if (shim == NULL || tk_p11_test_setup(&env, "tokenkey-quirks", shim) != 0)
        return -1;
    /* The layer loaded the shim; its control is in that same copy. */
    *(void **)&stop_early = tk_test_loaded_symbol(shim, "tk_tokenshim_set_attrs_stop_early");
    *(void **)&length_lie = tk_test_loaded_symbol(shim, "tk_tokenshim_set_attr_length_lie");
    *(void **)&fail_next_sign = tk_test_loaded_symbol(shim, "tk_tokenshim_fail_next_sign");
    *(void **)&lie_sign_length = tk_test_loaded_symbol(shim, "tk_tokenshim_lie_next_sign_length");
    *(void **)&fail_reads = tk_test_loaded_symbol(shim, "tk_tokenshim_fail_object_reads");
    *(void **)&fail_finds = tk_test_loaded_symbol(shim, "tk_tokenshim_fail_finds_of_class");
    *(void **)&close_after_generate =
        tk_test_loaded_symbol(shim, "tk_tokenshim_close_sessions_after_next_generate");
    *(void **)&swap_after_generate =
        tk_test_loaded_symbol(shim, "tk_tokenshim_swap_card_after_next_generate");
    *(void **)&set_serial = tk_test_loaded_symbol(shim, "tk_tokenshim_set_token_serial");
    if (stop_early == NULL || length_lie == NULL || fail_next_sign == NULL
        || lie_sign_length == NULL || fail_reads == NULL || fail_finds == NULL
        || close_after_generate == NULL || swap_after_generate == NULL || set_serial == NULL
        || tk_p11_login(env.t, &env.pin) != CKR_OK
        || tk_p11_session_get(env.t, &s) != CKR_OK)
        return -1;
    rv = tk_test_keygen(&s, TK_TEST_P256, EC_LABEL, id, sizeof(id), &ec_pub, &ec_priv);
    tk_p11_session_put(&s, rv);
    return rv == CKR_OK ? 0 : -1;
}

static void teardown(void)
{
    tk_p11_test_teardown(&env);
}

static int whole_templates(void **state)
{
    stop_early(0);
    length_lie(0, 0);
    fail_reads(CK_INVALID_HANDLE, CKR_OK);
    fail_finds(TK_TOKENSHIM_NO_CLASS, CKR_OK);
    return 0;
}

/* Absent attributes first, present ones after them. */
static void read_public(CK_ATTRIBUTE *a, CK_ULONG n, unsigned long calls)
{
    TK_P11_SESSION s;
    unsigned long ga0;

    for (CK_ULONG i = 0; i < n; i++)
        a[i] = (CK_ATTRIBUTE){ a[i].type, NULL, 0 };
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    ga0 = tk_p11_stat(TK_FN_C_GetAttributeValue);
    assert_int_equal(tk_p11_get_attrs_alloc(&s, ec_pub, a, n), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_GetAttributeValue) - ga0, calls);
    tk_p11_session_put(&s, CKR_OK);
}

static void test_skipped_attributes_asked_alone(void **state)
{
    static const unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    CK_ATTRIBUTE whole[] = {
        { CKA_CLASS }, { CKA_MODULUS }, { CKA_EC_PARAMS }, { CKA_PUBLIC_EXPONENT },
        { CKA_EC_POINT }, { CKA_LABEL },
    };
    CK_ATTRIBUTE quirky[] = {
        { CKA_CLASS }, { CKA_MODULUS }, { CKA_EC_PARAMS }, { CKA_PUBLIC_EXPONENT },
        { CKA_EC_POINT }, { CKA_LABEL },
    };
    const CK_ULONG n = sizeof(whole) / sizeof(whole[0]);

    /* A module that follows the standard: lengths, then values. */
    read_public(whole, n, 2);

    /*
     * One that stops at CKA_MODULUS: the lengths call, the four it left
     * unanswered one by one (CKA_PUBLIC_EXPONENT is absent alone too), values.
     */
    stop_early(1);
    read_public(quirky, n, 1 + 4 + 1);

    assert_int_equal(*(CK_OBJECT_CLASS *)quirky[0].pValue, CKO_PUBLIC_KEY);
    assert_null(quirky[1].pValue);
    assert_int_equal(quirky[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(quirky[2].ulValueLen, sizeof(p256));
    assert_memory_equal(quirky[2].pValue, p256, sizeof(p256));
    assert_null(quirky[3].pValue);
    assert_int_equal(quirky[3].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(quirky[5].ulValueLen, strlen(EC_LABEL));
    assert_memory_equal(quirky[5].pValue, EC_LABEL, strlen(EC_LABEL));
    /* The same answers either way. */
    for (CK_ULONG i = 0; i < n; i++) {
        assert_int_equal(quirky[i].ulValueLen, whole[i].ulValueLen);
        if (whole[i].pValue != NULL)
            assert_memory_equal(quirky[i].pValue, whole[i].pValue, whole[i].ulValueLen);
    }
    tk_p11_attrs_free(whole, n);
    tk_p11_attrs_free(quirky, n);
}

/* Through the provider: an EC key (no CKA_MODULUS) loads, and is the token's key. */
static void test_ec_key_loads(void **state)
{
    TK_P11_TEST_PROVIDER prov;
    EVP_PKEY *key, *pub;
    TK_P11_SESSION s;
    char uri[256];

    assert_int_equal(tk_p11_test_provider_load(&prov, &env, tk_test_tokenshim()), 0);

    stop_early(1);
    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;object=" EC_LABEL ";type=private",
             tk_fixture_serial(&env.fx));
    key = tk_test_load_private(prov.libctx, uri);
    if (key == NULL) {
        ERR_print_errors_fp(stderr);
        fail_msg("%s did not load through a module that stops early", uri);
    }
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    pub = tk_test_token_public_key(&s, ec_pub);
    tk_p11_session_put(&s, CKR_OK);
    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_eq(key, pub), 1);

    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    tk_p11_test_provider_unload(&prov);
}

/*
 * A module's bug in attribute lengths: one no attribute has (2 MiB) is not
 * allocated, and one past the buffer the module was given is not believed
 * (TK_CKR_ATTRIBUTE_LENGTH), in the two-call reads, in the fixed-buffer
 * reads, and up to the key a provider loads.
 */
static void test_lengths_no_attribute_has(void **state)
{
    TK_P11_TEST_PROVIDER prov;
    CK_ATTRIBUTE a[] = { { CKA_EC_PARAMS }, { CKA_EC_POINT } };
    const CK_ULONG n = sizeof(a) / sizeof(a[0]);
    CK_OBJECT_CLASS cls = 0;
    TK_P11_SESSION s;
    EVP_PKEY *key;
    char uri[256];
    char *why = NULL;

    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    for (int how = TK_TOKENSHIM_LIE_HUGE; how <= TK_TOKENSHIM_LIE_PAST_BUFFER; how++) {
        length_lie(CKA_EC_POINT, how);
        assert_int_equal(tk_p11_get_attrs_alloc(&s, ec_pub, a, n), TK_CKR_ATTRIBUTE_LENGTH);
        for (CK_ULONG i = 0; i < n; i++)
            assert_null(a[i].pValue);
    }
    length_lie(CKA_CLASS, TK_TOKENSHIM_LIE_PAST_BUFFER);
    assert_int_equal(tk_p11_get_ulong(&s, ec_pub, CKA_CLASS, &cls), TK_CKR_ATTRIBUTE_LENGTH);
    length_lie(0, 0);
    assert_int_equal(tk_p11_get_ulong(&s, ec_pub, CKA_CLASS, &cls), CKR_OK);
    assert_int_equal(cls, CKO_PUBLIC_KEY);
    tk_p11_session_put(&s, CKR_OK);

    /* The key whose public point the module misreports does not load, and says why. */
    assert_int_equal(tk_p11_test_provider_load(&prov, &env, tk_test_tokenshim()), 0);
    length_lie(CKA_EC_POINT, TK_TOKENSHIM_LIE_PAST_BUFFER);
    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;object=" EC_LABEL ";type=private",
             tk_fixture_serial(&env.fx));
    ERR_clear_error();
    key = tk_test_load_private(prov.libctx, uri);
    assert_null(key);
    free(why);
    why = tk_test_error_text();
    if (strstr(why, "attribute length past the buffer") == NULL)
        fail_msg("no error says the module reported a length past the buffer:\n%s", why);
    length_lie(0, 0);
    key = tk_test_load_private(prov.libctx, uri);
    assert_non_null(key);
    EVP_PKEY_free(key);
    free(why);
    tk_p11_test_provider_unload(&prov);
}

/*
 * A module that zeroes the signature length when a C_Sign fails on a lost
 * session: the layer's retry on another session must offer the whole
 * buffer again, not the 0 bytes the failed try left.
 */
static void test_signature_after_a_session_lost_mid_sign(void **state)
{
    TK_P11_TEST_PROVIDER prov;
    unsigned long signs;
    EVP_PKEY *key;
    char uri[256];
    char *why = NULL;

    assert_int_equal(tk_p11_test_provider_load(&prov, &env, tk_test_tokenshim()), 0);
    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;object=" EC_LABEL ";type=private",
             tk_fixture_serial(&env.fx));
    key = tk_test_load_private(prov.libctx, uri);
    assert_non_null(key);
    assert_int_equal(tk_p11_test_provider_sign(&prov, key), 1);

    signs = tk_p11_stat(TK_FN_C_Sign);
    fail_next_sign(CKR_SESSION_CLOSED);
    if (tk_p11_test_provider_sign(&prov, key) != 1) {
        ERR_print_errors_fp(stderr);
        fail_msg("no signature after a C_Sign that failed with CKR_SESSION_CLOSED");
    }
    assert_int_equal(tk_p11_stat(TK_FN_C_Sign) - signs, 2);

    /* A signature longer than the buffer the module was given: refused, never read. */
    lie_sign_length(100000);
    ERR_clear_error();
    assert_int_equal(tk_p11_test_provider_sign(&prov, key), 0);
    free(why);
    why = tk_test_error_text();
    if (strstr(why, "longer than the buffer it was given") == NULL)
        fail_msg("no error says the signature was longer than its buffer:\n%s", why);
    assert_int_equal(tk_p11_test_provider_sign(&prov, key), 1);
    EVP_PKEY_free(key);
    free(why);
    tk_p11_test_provider_unload(&prov);
}


/*
 * The public key object gone between the search and its read (another
 * process deleted it): only not this key's, and the key has no public half
 * left - the error says so. A module failing the read, or the search: its
 * failure, not a missing public half.
 */
static void test_public_object_failing_reads(void **state)
{
    TK_P11_TEST_PROVIDER prov;
    char uri[256];
    char *why = NULL;

    assert_int_equal(tk_p11_test_provider_load(&prov, &env, tk_test_tokenshim()), 0);
    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;object=" EC_LABEL ";type=private",
             tk_fixture_serial(&env.fx));

    fail_reads(ec_pub, CKR_OBJECT_HANDLE_INVALID);
    ERR_clear_error();
    assert_null(tk_test_load_private(prov.libctx, uri));
    free(why);
    why = tk_test_error_text();
    if (strstr(why, "has no public half on the token") == NULL)
        fail_msg("a vanished public key object: %s", why);

    fail_reads(ec_pub, CKR_GENERAL_ERROR);
    assert_null(tk_test_load_private(prov.libctx, uri));
    free(why);
    why = tk_test_error_text();
    if (strstr(why, "CKR_GENERAL_ERROR") == NULL || strstr(why, "no public half") != NULL)
        fail_msg("a failing read of the public key object: %s", why);
    fail_reads(CK_INVALID_HANDLE, CKR_OK);

    /* Nor is a search for public keys that fails a sign that there are none. */
    fail_finds(CKO_PUBLIC_KEY, CKR_DEVICE_ERROR);
    assert_null(tk_test_load_private(prov.libctx, uri));
    free(why);
    why = tk_test_error_text();
    if (strstr(why, "CKR_DEVICE_ERROR") == NULL || strstr(why, "no public half") != NULL)
        fail_msg("a failing search for the public key object: %s", why);
    free(why);
    tk_p11_test_provider_unload(&prov);
}

/*
 * Objects of class cls labelled label on the token, through the layer's
 * token: the provider linked into this test shares its module instance
 * (the registry is keyed by path), so its login is this one's.
 */
static CK_ULONG count_labelled(CK_OBJECT_CLASS cls, const char *label)
{
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_LABEL, (void *)label, strlen(label) },
    };
    CK_OBJECT_HANDLE found[4];
    CK_ULONG n = 0;
    TK_P11_SESSION s;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    assert_int_equal(tk_p11_find(&s, tmpl, 2, found, 4, &n), CKR_OK);
    tk_p11_session_put(&s, CKR_OK);
    return n;
}

/*
 * The token closes every session right after C_GenerateKeyPair made the
 * pair (a reset, another library's C_CloseAllSessions): the generation is
 * recovered by reading the pair it made, not by making a second one - which
 * the duplicate check refused, as the first pair had the label already,
 * leaving that pair behind with the error.
 */
/* A context for a P-256 key generation on the fixture's token, with label and id (hex; may be NULL). */
static EVP_PKEY_CTX *p256_keygen(const TK_P11_TEST_PROVIDER *prov, const char *label,
                                 const char *id)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(prov->libctx, "EC", "provider=tokenkey");
    OSSL_PARAM params[5];
    size_t n = 0;

    params[n++] = OSSL_PARAM_construct_utf8_string("token", (char *)tk_fixture_token(&env.fx), 0);
    params[n++] = OSSL_PARAM_construct_utf8_string("label", (char *)label, 0);
    if (id != NULL)
        params[n++] = OSSL_PARAM_construct_utf8_string("id", (char *)id, 0);
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0);
    params[n] = OSSL_PARAM_construct_end();
    assert_non_null(ctx);
    assert_true(EVP_PKEY_keygen_init(ctx) > 0);
    assert_true(EVP_PKEY_CTX_set_params(ctx, params) > 0);
    return ctx;
}

/* The errors of a generation with ctx that must fail (else the test fails with why_not); free() them. */
static char *failed_generation(EVP_PKEY_CTX *ctx, const char *why_not)
{
    EVP_PKEY *key = NULL;

    ERR_clear_error();
    if (EVP_PKEY_generate(ctx, &key) > 0) {
        EVP_PKEY_free(key);
        fail_msg("%s", why_not);
    }
    return tk_test_error_text();
}

static void test_sessions_lost_after_key_generation(void **state)
{
    static const char label[] = "quirky-generated";
    TK_P11_TEST_PROVIDER prov;
    EVP_PKEY_CTX *ctx;
    EVP_PKEY *key = NULL;

    assert_int_equal(tk_p11_test_provider_load(&prov, &env, tk_test_tokenshim()), 0);
    ctx = p256_keygen(&prov, label, NULL);
    close_after_generate(CKR_OK);
    if (EVP_PKEY_generate(ctx, &key) <= 0) {
        char *why = tk_test_error_text();

        fail_msg("key generation with the sessions lost after C_GenerateKeyPair: %s", why);
    }
    /* The key signs, and the token holds the one pair that was made. */
    assert_int_equal(tk_p11_test_provider_sign(&prov, key), 1);
    assert_int_equal(count_labelled(CKO_PRIVATE_KEY, label), 1);
    assert_int_equal(count_labelled(CKO_PUBLIC_KEY, label), 1);
    EVP_PKEY_free(key);
    EVP_PKEY_CTX_free(ctx);
    tk_p11_test_provider_unload(&prov);
}

/*
 * The same, but the pair cannot be found again (the token fails searches
 * for private keys from then on): the generation fails, and says that the
 * pair it made may still be on the token, with its id.
 */
static void test_pair_left_after_failed_generation(void **state)
{
    static const char label[] = "quirky-left";
    TK_P11_TEST_PROVIDER prov;
    EVP_PKEY_CTX *ctx;
    char *why;

    assert_int_equal(tk_p11_test_provider_load(&prov, &env, tk_test_tokenshim()), 0);
    ctx = p256_keygen(&prov, label, "c0ffee");
    close_after_generate(CKR_DEVICE_ERROR);
    why = failed_generation(ctx, "a generation succeeded with its pair not to be found again");
    if (strstr(why, "CKR_DEVICE_ERROR") == NULL || strstr(why, "may still be there") == NULL
        || strstr(why, "C0:FF:EE") == NULL)
        fail_msg("a generation that failed after making the pair: %s", why);
    free(why);
    fail_finds(TK_TOKENSHIM_NO_CLASS, CKR_OK);
    assert_int_equal(count_labelled(CKO_PRIVATE_KEY, label), 1);
    EVP_PKEY_CTX_free(ctx);
    tk_p11_test_provider_unload(&prov);
}

/*
 * Another card in the slot when the generation is run again after the
 * pair was made: the generation does not log in to it, nor take a key of
 * that card's with the pair's id for the one it made; it fails, and says
 * the pair may be left on the first card.
 */
static void test_card_swapped_after_key_generation(void **state)
{
    static const char label[] = "quirky-swapped";
    TK_P11_TEST_PROVIDER prov;
    EVP_PKEY_CTX *ctx;
    char *why;

    assert_int_equal(tk_p11_test_provider_load(&prov, &env, tk_test_tokenshim()), 0);
    ctx = p256_keygen(&prov, label, "5a5a");
    close_after_generate(CKR_OK);
    swap_after_generate("0000swapped");
    why = failed_generation(ctx, "a generation took a key from the card swapped in after it "
                                 "made its pair");
    set_serial(NULL);
    if (strstr(why, "another token is in the slot") == NULL
        || strstr(why, "may still be there") == NULL)
        fail_msg("a generation with another card in the slot: %s", why);
    free(why);
    /* Back in the slot, the first card holds the pair, once. */
    assert_int_equal(count_labelled(CKO_PRIVATE_KEY, label), 1);
    EVP_PKEY_CTX_free(ctx);
    tk_p11_test_provider_unload(&prov);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_skipped_attributes_asked_alone, whole_templates),
        cmocka_unit_test_setup(test_ec_key_loads, whole_templates),
        cmocka_unit_test_setup(test_lengths_no_attribute_has, whole_templates),
        cmocka_unit_test_setup(test_signature_after_a_session_lost_mid_sign, whole_templates),
        cmocka_unit_test_setup(test_public_object_failing_reads, whole_templates),
        cmocka_unit_test_setup(test_sessions_lost_after_key_generation, whole_templates),
        cmocka_unit_test_setup(test_pair_left_after_failed_generation, whole_templates),
        cmocka_unit_test_setup(test_card_swapped_after_key_generation, whole_templates),
    };

    return tk_test_run("p11-quirks", tests, TK_TEST_COUNT(tests), setup, teardown);
}
