/*
 * PKCS#11 layer against a fresh SoftHSM2 token: finding tokens by URI, the
 * mechanism cache, and the guard that keeps secret attributes on the token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "p11_test.h"

/* A label with characters a URI must escape (RFC 7512 section 2.3). */
#define LABEL "tokenkey test#1"
#define LABEL_URI "tokenkey%20test%231"

static TK_P11_TEST env;

static int setup(void)
{
    return tk_p11_test_setup(&env, LABEL, NULL);
}

static void teardown(void)
{
    tk_p11_test_teardown(&env);
}

/* ---- finding tokens ---- */

/* A text field's length: without the blanks PKCS#11 pads with, nor the NULs some modules use. */
static void test_text_field_padding(void **state)
{
    static const unsigned char blanks[8] = "ab c    ", nuls[8] = { 'a', 'b', ' ', 'c', 0, 0, 0, 0 },
                               mixed[8] = { 'a', 'b', 0, 'c', 0, ' ', 0, ' ' },
                               empty[4] = { ' ', 0, ' ', 0 };

    (void)state;
    assert_int_equal(tk_p11_text_len(blanks, sizeof(blanks)), 4);
    assert_int_equal(tk_p11_text_len(nuls, sizeof(nuls)), 4);
    assert_int_equal(tk_p11_text_len(mixed, sizeof(mixed)), 4);
    assert_int_equal(tk_p11_text_len(empty, sizeof(empty)), 0);
}

static CK_RV find(const char *text, TK_P11_TOKEN **tokens, size_t max, size_t *count)
{
    TK_URI *uri = NULL;
    CK_RV rv;

    if (tk_uri_parse(text, &uri, NULL) != TK_URI_OK)
        fail_msg("cannot parse '%s'", text);
    rv = tk_p11_token_find(env.m, uri, tokens, max, count);
    tk_uri_free(uri);
    return rv;
}

static void assert_padded(const unsigned char *field, size_t size, const char *want)
{
    size_t n = strlen(want);

    assert_true(n <= size);
    assert_memory_equal(field, want, n);
    for (size_t i = n; i < size; i++)
        assert_int_equal(field[i], ' ');
}

static void test_find_by_label(void **state)
{
    TK_P11_TOKEN *t[2] = { NULL, NULL };
    size_t count = 99;

    assert_int_equal(find("pkcs11:token=" LABEL_URI, t, 2, &count), CKR_OK);
    assert_int_equal(count, 1);
    assert_ptr_equal(t[0], env.t); /* one TK_P11_TOKEN per slot */
    assert_null(t[1]);
    assert_padded(tk_p11_token_cached_info(t[0])->label, 32, LABEL);
    assert_padded(tk_p11_token_cached_info(t[0])->serialNumber, 16, tk_fixture_serial(&env.fx));
}

static void test_find_by_serial(void **state)
{
    char text[128];
    TK_P11_TOKEN *t = NULL;
    size_t count = 99;

    snprintf(text, sizeof(text), "pkcs11:serial=%s", tk_fixture_serial(&env.fx));
    assert_int_equal(find(text, &t, 1, &count), CKR_OK);
    assert_int_equal(count, 1);
    assert_ptr_equal(t, env.t);
    assert_padded(tk_p11_token_cached_info(t)->label, 32, LABEL);
}

static void test_find_by_every_token_attribute(void **state)
{
    char text[256];
    TK_P11_TOKEN *t = NULL;
    size_t count = 0;

    snprintf(text, sizeof(text),
             "pkcs11:token=%s;manufacturer=SoftHSM%%20project;model=SoftHSM%%20v2;"
             "serial=%s;slot-id=%lu", LABEL_URI, tk_fixture_serial(&env.fx),
             (unsigned long)tk_p11_token_slot(env.t));
    assert_int_equal(find(text, &t, 1, &count), CKR_OK);
    assert_int_equal(count, 1);
    assert_ptr_equal(t, env.t);
}

static void test_find_missing_token(void **state)
{
    static const char *const missing[] = {
        "pkcs11:token=no-such-token",
        "pkcs11:token=tokenkey%20test",        /* a prefix of the label is not the label */
        "pkcs11:token=" LABEL_URI ";serial=0000000000000000", /* every attribute must match */
        "pkcs11:model=SoftHSM",
        NULL
    };
    TK_P11_TOKEN *t = (TK_P11_TOKEN *)&t;

    for (int i = 0; missing[i] != NULL; i++) {
        size_t count = 99;
        CK_RV rv = find(missing[i], &t, 1, &count);

        if (rv != TK_CKR_NO_TOKEN)
            fail_msg("%s: %s, want TK_CKR_NO_TOKEN", missing[i], tk_p11_rv_name(rv));
        assert_int_equal(count, 0);
        assert_ptr_equal(t, (TK_P11_TOKEN *)&t); /* nothing stored */
    }
}

static void test_find_by_slot_id(void **state)
{
    char text[64];
    TK_P11_TOKEN *t = NULL;
    size_t count = 0;

    snprintf(text, sizeof(text), "pkcs11:slot-id=%lu", (unsigned long)tk_p11_token_slot(env.t));
    assert_int_equal(find(text, &t, 1, &count), CKR_OK);
    assert_ptr_equal(t, env.t);
    snprintf(text, sizeof(text), "pkcs11:slot-id=%lu", (unsigned long)tk_p11_token_slot(env.t) + 7);
    assert_int_equal(find(text, &t, 1, &count), TK_CKR_NO_TOKEN);
}

/*
 * "pkcs11:" matches every present, initialised token (an uninitialised one,
 * like SoftHSM2's spare slot, holds nothing a URI can name); *count is all
 * of them, max bounds what is stored.
 */
static void test_find_counts_beyond_max(void **state)
{
    CK_SLOT_ID slots[16];
    CK_ULONG present = 16, initialised = 0;
    TK_P11_TOKEN *t[1] = { (TK_P11_TOKEN *)&present };
    size_t count = 0;

    /* What the module itself reports. */
    assert_int_equal(env.raw->C_GetSlotList(CK_TRUE, slots, &present), CKR_OK);
    for (CK_ULONG i = 0; i < present; i++) {
        CK_TOKEN_INFO ti;

        assert_int_equal(env.raw->C_GetTokenInfo(slots[i], &ti), CKR_OK);
        initialised += (ti.flags & CKF_TOKEN_INITIALIZED) != 0;
    }
    assert_true(present > initialised);
    assert_true(initialised >= 1);
    /* max 0: nothing stored, every match counted. */
    assert_int_equal(find("pkcs11:", t, 0, &count), CKR_OK);
    assert_int_equal(count, initialised);
    assert_ptr_equal(t[0], (TK_P11_TOKEN *)&present);
}

/* ---- mechanisms ---- */

static void test_mechanism_cache(void **state)
{
    unsigned long list0 = tk_p11_stat(TK_FN_C_GetMechanismList), list1;
    unsigned long info0 = tk_p11_stat(TK_FN_C_GetMechanismInfo), info1;
    CK_MECHANISM_INFO mine, theirs;

    assert_int_equal(tk_p11_has_mechanism(env.t, CKM_ECDSA, CKF_SIGN), 1);
    list1 = tk_p11_stat(TK_FN_C_GetMechanismList);
    info1 = tk_p11_stat(TK_FN_C_GetMechanismInfo);
    /* Read once: the count, then the list (nothing read it before in this process). */
    assert_int_equal(list1 - list0, 2);
    assert_true(info1 > info0);

    assert_int_equal(tk_p11_has_mechanism(env.t, CKM_ECDSA, CKF_SIGN), 1);
    assert_int_equal(tk_p11_has_mechanism(env.t, CKM_ECDSA, CKF_SIGN | CKF_DECRYPT), 0);
    assert_int_equal(tk_p11_has_mechanism(env.t, CKM_RSA_PKCS, CKF_DECRYPT), 1);
    assert_int_equal(tk_p11_has_mechanism(env.t, CKM_VENDOR_DEFINED | 0x4242, 0), 0);
    assert_int_equal(tk_p11_mechanism_info(env.t, CKM_VENDOR_DEFINED | 0x4242, &mine),
                     CKR_MECHANISM_INVALID);
    /* The cached info is what the module says. */
    assert_int_equal(tk_p11_mechanism_info(env.t, CKM_ECDSA, &mine), CKR_OK);
    assert_int_equal(env.raw->C_GetMechanismInfo(tk_p11_token_slot(env.t), CKM_ECDSA, &theirs),
                     CKR_OK);
    assert_memory_equal(&mine, &theirs, sizeof(mine));
    /* None of that went back to the token. */
    assert_int_equal(tk_p11_stat(TK_FN_C_GetMechanismList), list1);
    assert_int_equal(tk_p11_stat(TK_FN_C_GetMechanismInfo), info1);
}

/* ---- the secret-attribute guard ---- */

typedef struct {
    CK_OBJECT_HANDLE pub, priv;
} KEYPAIR;

/* An RSA key the token WOULD reveal (not sensitive, extractable): only the layer stops it. */
static CK_RV op_gen_rsa(TK_P11_SESSION *s, void *arg)
{
    KEYPAIR *kp = arg;
    CK_MECHANISM mech = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
    CK_ULONG bits = 2048;
    CK_BYTE e[] = { 0x01, 0x00, 0x01 };
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE pub[] = {
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_MODULUS_BITS, &bits, sizeof(bits) },
        { CKA_PUBLIC_EXPONENT, e, sizeof(e) },
        { CKA_VERIFY, &yes, sizeof(yes) },
    };
    CK_ATTRIBUTE priv[] = {
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_PRIVATE, &yes, sizeof(yes) },
        { CKA_SENSITIVE, &no, sizeof(no) },
        { CKA_EXTRACTABLE, &yes, sizeof(yes) },
        { CKA_SIGN, &yes, sizeof(yes) },
    };

    return tk_p11_generate_key_pair(s, &mech, pub, 4, priv, 5, &kp->pub, &kp->priv);
}

static CK_RV op_gen_ec(TK_P11_SESSION *s, void *arg)
{
    KEYPAIR *kp = arg;
    CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    /* DER OID 1.2.840.10045.3.1.7 (P-256) */
    CK_BYTE params[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE pub[] = {
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_EC_PARAMS, params, sizeof(params) },
    };
    CK_ATTRIBUTE priv[] = {
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_SENSITIVE, &no, sizeof(no) },
        { CKA_EXTRACTABLE, &yes, sizeof(yes) },
        { CKA_SIGN, &yes, sizeof(yes) },
    };

    return tk_p11_generate_key_pair(s, &mech, pub, 2, priv, 4, &kp->pub, &kp->priv);
}

/* The module hands out attr of o to a client that asks it directly. */
static void assert_token_reveals(CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE attr)
{
    CK_SESSION_HANDLE h;
    CK_ATTRIBUTE a = { attr, NULL, 0 };

    assert_int_equal(env.raw->C_OpenSession(tk_p11_token_slot(env.t), CKF_SERIAL_SESSION, NULL,
                                            NULL, &h), CKR_OK);
    assert_int_equal(env.raw->C_GetAttributeValue(h, o, &a, 1), CKR_OK);
    assert_true(a.ulValueLen > 0 && a.ulValueLen != CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(env.raw->C_CloseSession(h), CKR_OK);
}

static void test_secret_attributes_refused(void **state)
{
    static const CK_ATTRIBUTE_TYPE rsa_secrets[] = {
        CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2,
        CKA_COEFFICIENT,
    };
    KEYPAIR rsa, ec;
    TK_P11_SESSION s;
    unsigned char *val = (unsigned char *)&val, modulus[512];
    CK_ULONG len = 12345;
    unsigned long ga0;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, op_gen_rsa, &rsa), CKR_OK);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, op_gen_ec, &ec), CKR_OK);
    /* Not the token's doing: it would answer. */
    assert_token_reveals(rsa.priv, CKA_PRIVATE_EXPONENT);
    assert_token_reveals(ec.priv, CKA_VALUE);

    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    ga0 = tk_p11_stat(TK_FN_C_GetAttributeValue);
    for (size_t i = 0; i < sizeof(rsa_secrets) / sizeof(rsa_secrets[0]); i++) {
        assert_int_equal(tk_p11_get_attr_alloc(&s, rsa.priv, rsa_secrets[i], &val, &len),
                         TK_CKR_SECRET_ATTRIBUTE);
        assert_ptr_equal(val, (unsigned char *)&val);
        assert_int_equal(len, 12345);
    }
    assert_int_equal(tk_p11_get_attr_alloc(&s, ec.priv, CKA_VALUE, &val, &len),
                     TK_CKR_SECRET_ATTRIBUTE);
    /* A template that hides one secret among public attributes: all refused, nothing written. */
    {
        unsigned char d[512];
        CK_ATTRIBUTE tmpl[] = {
            { CKA_MODULUS, modulus, sizeof(modulus) },
            { CKA_PRIVATE_EXPONENT, d, sizeof(d) },
        };

        memset(modulus, 0xee, sizeof(modulus));
        assert_int_equal(tk_p11_get_attrs(&s, rsa.priv, tmpl, 2), TK_CKR_SECRET_ATTRIBUTE);
        assert_int_equal(tmpl[0].ulValueLen, sizeof(modulus));
        assert_int_equal(modulus[0], 0xee);
    }
    /* The key is not a certificate: its CKA_VALUE is not a certificate's either. */
    {
        unsigned long before = tk_p11_stat(TK_FN_C_GetAttributeValue);

        assert_int_equal(tk_p11_get_cert_der(&s, ec.priv, &val, &len), TK_CKR_SECRET_ATTRIBUTE);
        /* Only CKA_CLASS was read. */
        assert_int_equal(tk_p11_stat(TK_FN_C_GetAttributeValue) - before, 1);
        ga0 += 1;
    }
    /* No secret request reached the token. */
    assert_int_equal(tk_p11_stat(TK_FN_C_GetAttributeValue), ga0);

    /* Public attributes still come through, and they are counted. */
    assert_int_equal(tk_p11_get_attr_alloc(&s, rsa.priv, CKA_MODULUS, &val, &len), CKR_OK);
    assert_int_equal(len, 256);
    assert_true(val[0] & 0x80); /* a 2048-bit modulus has its top bit set */
    OPENSSL_free(val);
    assert_int_equal(tk_p11_stat(TK_FN_C_GetAttributeValue), ga0 + 2);
    tk_p11_session_put(&s, CKR_OK);
}

/* ---- several attributes in one batch ---- */

static void test_attributes_in_one_batch(void **state)
{
    static const CK_BYTE p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    KEYPAIR ec;
    TK_P11_SESSION s;
    CK_ATTRIBUTE mixed[] = {
        { CKA_KEY_TYPE }, { CKA_MODULUS }, { CKA_EC_PARAMS }, { CKA_PUBLIC_EXPONENT }, { CKA_SIGN },
    };
    CK_ATTRIBUTE none[] = { { CKA_MODULUS }, { CKA_PUBLIC_EXPONENT } };
    CK_ATTRIBUTE with_secret[] = { { CKA_EC_PARAMS, (void *)p256, 1 }, { CKA_VALUE } };
    const CK_ATTRIBUTE *found;
    unsigned long ga0;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, op_gen_ec, &ec), CKR_OK);
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);

    /* Present and absent attributes of any size: two calls, lengths then values. */
    ga0 = tk_p11_stat(TK_FN_C_GetAttributeValue);
    assert_int_equal(tk_p11_get_attrs_alloc(&s, ec.priv, mixed, 5), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_GetAttributeValue) - ga0, 2);
    assert_int_equal(mixed[0].ulValueLen, sizeof(CK_KEY_TYPE));
    assert_int_equal(*(CK_KEY_TYPE *)mixed[0].pValue, CKK_EC);
    assert_null(mixed[1].pValue);
    assert_int_equal(mixed[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(mixed[2].ulValueLen, sizeof(p256));
    assert_memory_equal(mixed[2].pValue, p256, sizeof(p256));
    assert_null(mixed[3].pValue);
    assert_int_equal(mixed[4].ulValueLen, sizeof(CK_BBOOL));
    assert_int_equal(*(CK_BBOOL *)mixed[4].pValue, CK_TRUE);
    found = tk_p11_attr_find(mixed, 5, CKA_EC_PARAMS);
    assert_ptr_equal(found, &mixed[2]);
    assert_null(tk_p11_attr_find(mixed, 5, CKA_MODULUS));
    tk_p11_attrs_free(mixed, 5);
    assert_null(mixed[2].pValue);

    /* Nothing there: one call, nothing allocated, still CKR_OK. */
    ga0 = tk_p11_stat(TK_FN_C_GetAttributeValue);
    assert_int_equal(tk_p11_get_attrs_alloc(&s, ec.priv, none, 2), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_GetAttributeValue) - ga0, 1);
    assert_null(none[0].pValue);
    assert_null(none[1].pValue);

    /* A secret in the template: refused before any call, the template untouched. */
    ga0 = tk_p11_stat(TK_FN_C_GetAttributeValue);
    assert_int_equal(tk_p11_get_attrs_alloc(&s, ec.priv, with_secret, 2),
                     TK_CKR_SECRET_ATTRIBUTE);
    assert_int_equal(tk_p11_stat(TK_FN_C_GetAttributeValue), ga0);
    assert_ptr_equal(with_secret[0].pValue, p256);
    assert_int_equal(with_secret[0].ulValueLen, 1);

    /* The token's own failure comes back as such. */
    assert_int_equal(tk_p11_get_attrs_alloc(&s, (CK_OBJECT_HANDLE)0x7fffff, none, 2),
                     CKR_OBJECT_HANDLE_INVALID);
    tk_p11_session_put(&s, CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_field_padding),
        cmocka_unit_test(test_find_by_label),
        cmocka_unit_test(test_find_by_serial),
        cmocka_unit_test(test_find_by_every_token_attribute),
        cmocka_unit_test(test_find_by_slot_id),
        cmocka_unit_test(test_find_missing_token),
        cmocka_unit_test(test_find_counts_beyond_max),
        cmocka_unit_test(test_mechanism_cache),
        cmocka_unit_test(test_secret_attributes_refused),
        cmocka_unit_test(test_attributes_in_one_batch),
    };

    return tk_test_run("p11-token", tests, TK_TEST_COUNT(tests), setup, teardown);
}
