/*
 * The session-object copy signatures use (provider/key.c, issue on
 * performance): made once per key, really a session object that stays
 * sensitive and non-extractable (checked through the module's own function
 * list, not tokenkey's layer), made again after the token lost its
 * sessions, destroyed with the key, and never made when switched off or
 * for a key that wants a login per use.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/provider.h>
#include <openssl/store.h>

#include "sig_test.h"

static SIG_ENV env;
static CK_FUNCTION_LIST *raw;

static const unsigned char msg[130] = "tokenkey session copy test message";

static int setup(void **state)
{
    CK_C_GetFunctionList get;
    void *dl;

    if (sig_env_setup(&env, "sig-copy", NULL) != 0)
        return -1;
    /* The module tokenkey loaded; RTLD_NOLOAD: never a second copy of it. */
    dl = dlopen(tk_fixture_module(&env.fx), RTLD_NOW | RTLD_NOLOAD);
    if (dl == NULL)
        return -1;
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    dlclose(dl);
    return get != NULL && get(&raw) == CKR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    sig_env_teardown(&env);
    return 0;
}

static void sign_once(EVP_PKEY *key, EVP_PKEY *pub)
{
    size_t siglen = 0;
    unsigned char *sig = sig_sign_message(&env, key, "SHA256", NULL, msg, sizeof(msg), 1, &siglen);

    assert_non_null(sig);
    assert_int_equal(sig_verify_message(pub, "SHA256", NULL, sig, siglen, msg, sizeof(msg)), 1);
    OPENSSL_free(sig);
}

/* A signature without the shared helper's one-C_SignInit rule: recovery may retry. */
static void sign_recovering(EVP_PKEY *key, EVP_PKEY *pub)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char sig[256];
    size_t siglen = sizeof(sig);

    assert_non_null(mctx);
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", env.libctx, NULL, key, NULL), 1);
    assert_int_equal(EVP_DigestSign(mctx, sig, &siglen, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(mctx);
    assert_int_equal(sig_verify_message(pub, "SHA256", NULL, sig, siglen, msg, sizeof(msg)), 1);
}

/* The objects matching tmpl, through the raw module (what tokenkey's layer never sees). */
static CK_ULONG raw_find(CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out, CK_ULONG max)
{
    CK_SESSION_HANDLE h;
    CK_ULONG got = 0;

    assert_int_equal(raw->C_OpenSession(tk_p11_token_slot(env.t), CKF_SERIAL_SESSION, NULL, NULL, &h),
                     CKR_OK);
    assert_int_equal(raw->C_FindObjectsInit(h, tmpl, n), CKR_OK);
    assert_int_equal(raw->C_FindObjects(h, out, max, &got), CKR_OK);
    assert_int_equal(raw->C_FindObjectsFinal(h), CKR_OK);
    assert_int_equal(raw->C_CloseSession(h), CKR_OK);
    return got;
}

/* Session (CKA_TOKEN=FALSE) private keys visible to this application. */
static CK_ULONG raw_session_private_keys(CK_OBJECT_HANDLE *out, CK_ULONG max)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_TOKEN, &no, sizeof(no) } };

    return raw_find(tmpl, 2, out, max);
}

/* The private key labelled label: its token object, or (on_token false) its session copy. */
static CK_OBJECT_HANDLE raw_private_key(const char *label, CK_BBOOL on_token)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) },
                            { CKA_TOKEN, &on_token, sizeof(on_token) },
                            { CKA_LABEL, (void *)label, strlen(label) } };
    CK_OBJECT_HANDLE found[2];

    assert_int_equal(raw_find(tmpl, 3, found, 2), 1);
    return found[0];
}

/* Every object labelled label: a key's token objects, public and private, and its copy. */
static CK_ULONG raw_labelled(const char *label, CK_OBJECT_HANDLE *out, CK_ULONG max)
{
    CK_ATTRIBUTE tmpl[] = { { CKA_LABEL, (void *)label, strlen(label) } };

    return raw_find(tmpl, 1, out, max);
}

static void test_copy_made_once_and_used(void **state)
{
    SIG_KEY key;
    SIG_STATS before;

    assert_int_equal(sig_key_make(&env, SIG_P256, "copy-once", &key), 0);
    sig_stats_take(&before);
    sign_once(key.token, key.pub);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_CopyObject), 1);
    sig_stats_take(&before);
    for (int i = 0; i < 5; i++)
        sign_once(key.token, key.pub);
    /* Five signatures: no further copy, one C_SignInit + C_Sign each. */
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_CopyObject), 0);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 5);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 5);
    sig_key_free(&key);
}

static void test_copy_is_sensitive_session_object(void **state)
{
    SIG_KEY key;
    CK_OBJECT_HANDLE objs[4];
    CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, token = CK_TRUE;
    unsigned char id[64];
    CK_ATTRIBUTE attrs[] = {
        { CKA_SENSITIVE, &sensitive, sizeof(sensitive) },
        { CKA_EXTRACTABLE, &extractable, sizeof(extractable) },
        { CKA_TOKEN, &token, sizeof(token) },
        { CKA_ID, id, sizeof(id) },
    };
    CK_SESSION_HANDLE h;

    assert_int_equal(raw_session_private_keys(objs, 4), 0);
    assert_int_equal(sig_key_make(&env, SIG_RSA2048, "copy-attrs", &key), 0);
    sign_once(key.token, key.pub);
    assert_int_equal(raw_session_private_keys(objs, 4), 1);
    assert_int_equal(raw->C_OpenSession(tk_p11_token_slot(env.t), CKF_SERIAL_SESSION, NULL, NULL, &h),
                     CKR_OK);
    assert_int_equal(raw->C_GetAttributeValue(h, objs[0], attrs, 4), CKR_OK);
    assert_int_equal(raw->C_CloseSession(h), CKR_OK);
    assert_int_equal(sensitive, CK_TRUE);
    assert_int_equal(extractable, CK_FALSE);
    assert_int_equal(token, CK_FALSE);
    /* The copy keeps the key's CKA_ID (so it must never turn up in lookups: tk_p11_find). */
    assert_true(attrs[3].ulValueLen > 0);
    /* Freeing the key destroys its copy. */
    sig_key_free(&key);
    assert_int_equal(raw_session_private_keys(objs, 4), 0);
}

static void test_copy_made_again_after_sessions_lost(void **state)
{
    SIG_KEY key;
    SIG_STATS before;

    assert_int_equal(sig_key_make(&env, SIG_P256, "copy-again", &key), 0);
    sign_once(key.token, key.pub);
    /* Another library in the process closes every session: the copy goes with them. */
    assert_int_equal(raw->C_CloseAllSessions(tk_p11_token_slot(env.t)), CKR_OK);
    sig_stats_take(&before);
    sign_recovering(key.token, key.pub);
    /* Logged in again once, a new copy made once, and the signature verifies. */
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_CopyObject), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Login), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 1);
    sig_stats_take(&before);
    sign_once(key.token, key.pub);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_CopyObject), 0);
    sig_key_free(&key);
}

/* Destroy object o through the raw module (a session object of ours, or a token object). */
static void raw_destroy(CK_OBJECT_HANDLE o)
{
    CK_SESSION_HANDLE h;

    assert_int_equal(raw->C_OpenSession(tk_p11_token_slot(env.t), CKF_SERIAL_SESSION | CKF_RW_SESSION,
                                        NULL, NULL, &h), CKR_OK);
    assert_int_equal(raw->C_DestroyObject(h, o), CKR_OK);
    assert_int_equal(raw->C_CloseSession(h), CKR_OK);
}

/*
 * The copy destroyed behind tokenkey's back (another library in the
 * process): the next signature sees CKR_KEY_HANDLE_INVALID, makes a new
 * copy and signs, with no login and no error left.
 */
static void test_copy_destroyed_behind(void **state)
{
    SIG_KEY key;
    SIG_STATS before;

    assert_int_equal(sig_key_make(&env, SIG_P256, "copy-gone", &key), 0);
    sign_once(key.token, key.pub);
    raw_destroy(raw_private_key("copy-gone", CK_FALSE));
    sig_stats_take(&before);
    sign_recovering(key.token, key.pub);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 2);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_CopyObject), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Login), 0);
    assert_int_equal(ERR_peek_error(), 0);
    raw_private_key("copy-gone", CK_FALSE); /* a new one */
    sig_key_free(&key);
}

/* A signature that must fail, with want in the error; no token signature made. */
static void sign_fails(EVP_PKEY *key, const char *want)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char sig[256];
    size_t siglen = sizeof(sig);
    SIG_STATS before;
    char *text;

    sig_stats_take(&before);
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, "SHA256", env.libctx, NULL, key, NULL), 1);
    assert_int_not_equal(EVP_DigestSign(mctx, sig, &siglen, msg, sizeof(msg)), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 0);
    text = sig_errors_text();
    if (strstr(text, want) == NULL)
        fail_msg("want '%s' in: %s", want, text);
    free(text);
    EVP_MD_CTX_free(mctx);
}

/*
 * The key deleted from the token while loaded: it keeps signing through
 * its copy (docs/design.md), and once the copy is gone too, the signature
 * fails, saying the key is no longer on the token.
 */
static void test_key_deleted_from_token(void **state)
{
    SIG_KEY key;
    CK_OBJECT_HANDLE copy;

    assert_int_equal(sig_key_make(&env, SIG_P256, "copy-deleted", &key), 0);
    sign_once(key.token, key.pub);
    copy = raw_private_key("copy-deleted", CK_FALSE);
    raw_destroy(raw_private_key("copy-deleted", CK_TRUE));
    sign_once(key.token, key.pub);
    raw_destroy(copy);
    sign_fails(key.token, "the key is no longer on the token (deleted, or its CKA_ID or label "
                          "changed)");
    sig_key_free(&key);
}

/*
 * Looked for again (its copy was destroyed), the key's id and label now
 * match two keys: neither is used - never another key's signature.
 */
static void test_key_found_twice(void **state)
{
    SIG_KEY key;
    CK_OBJECT_HANDLE hpub, hpriv;
    TK_P11_SESSION s;

    assert_int_equal(sig_key_make(&env, SIG_P256, "copy-twice", &key), 0);
    sign_once(key.token, key.pub);
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    assert_int_equal(tk_test_keygen(&s, TK_TEST_P256, "copy-twice", (const unsigned char *)"copy-twice",
                                    10, &hpub, &hpriv), CKR_OK);
    tk_p11_session_put(&s, CKR_OK);
    raw_destroy(raw_private_key("copy-twice", CK_FALSE));
    sign_fails(key.token, "two private keys on the token now have the key's CKA_ID and label, so "
                          "tokenkey uses neither");
    sig_key_free(&key);
}

/*
 * A rotation while the key is loaded: deleted, and a new key pair made
 * under the same CKA_ID and label. Looked for again, the new private key
 * has another public key: refused, never used in the old one's place.
 */
static void test_key_replaced(void **state)
{
    SIG_KEY key;
    CK_OBJECT_HANDLE objs[4], hpub, hpriv;
    TK_P11_SESSION s;
    CK_ULONG n;

    assert_int_equal(sig_key_make(&env, SIG_P256, "copy-rotated", &key), 0);
    sign_once(key.token, key.pub);
    /* The private and public token objects, and the copy. */
    n = raw_labelled("copy-rotated", objs, 4);
    assert_int_equal(n, 3);
    for (CK_ULONG i = 0; i < n; i++)
        raw_destroy(objs[i]);
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    assert_int_equal(tk_test_keygen(&s, TK_TEST_P256, "copy-rotated",
                                    (const unsigned char *)"copy-rotated", 12, &hpub, &hpriv), CKR_OK);
    tk_p11_session_put(&s, CKR_OK);
    sign_fails(key.token, "the private key now under the key's CKA_ID and label has another "
                          "public key (the key was replaced)");
    sig_key_free(&key);
}

static void test_copy_switched_off(void **state)
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();
    OSSL_STORE_CTX *sc;
    OSSL_STORE_INFO *info;
    EVP_PKEY *pkey = NULL;
    SIG_KEY key;
    SIG_STATS before;
    char uri[512];
    OSSL_LIB_CTX *saved = env.libctx;
    OSSL_PROVIDER *deflt, *tokenkey;

    assert_int_equal(sig_key_make(&env, SIG_P256, "copy-off", &key), 0);
    /* The provider reads its configuration when it loads: a second one, told no. */
    setenv("TOKENKEY_SESSION_KEY_COPY", "no", 1);
    assert_non_null(libctx);
    assert_non_null(deflt = OSSL_PROVIDER_load(libctx, "default"));
    assert_int_equal(OSSL_PROVIDER_add_builtin(libctx, "tokenkey", OSSL_provider_init), 1);
    assert_non_null(tokenkey = OSSL_PROVIDER_load(libctx, "tokenkey"));
    unsetenv("TOKENKEY_SESSION_KEY_COPY");
    sig_key_uri(&env, "copy-off", uri, sizeof(uri));
    sc = OSSL_STORE_open_ex(uri, libctx, NULL, NULL, NULL, NULL, NULL, NULL);
    assert_non_null(sc);
    while (pkey == NULL && (info = OSSL_STORE_load(sc)) != NULL) {
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(sc);
    assert_non_null(pkey);
    sig_stats_take(&before);
    env.libctx = libctx;
    sign_once(pkey, key.pub);
    sign_once(pkey, key.pub);
    env.libctx = saved;
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_CopyObject), 0);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 2);
    EVP_PKEY_free(pkey);
    OSSL_PROVIDER_unload(tokenkey);
    OSSL_PROVIDER_unload(deflt);
    OSSL_LIB_CTX_free(libctx);
    sig_key_free(&key);
}

/*
 * A key that wants a login for each use (CKA_ALWAYS_AUTHENTICATE) is never
 * copied (the copy would not carry the token's rule), and each signature
 * makes exactly C_SignInit, a context-specific C_Login, C_Sign.
 */
static void test_always_authenticate_key(void **state)
{
    SIG_KEY key;
    SIG_STATS before;

    assert_int_equal(sig_key_make_flags(&env, SIG_P256, TK_TEST_ALWAYS_AUTHENTICATE, "copy-always",
                                        &key), 0);
    for (int i = 0; i < 3; i++) {
        sig_stats_take(&before);
        sign_once(key.token, key.pub);
        assert_int_equal(sig_stats_delta(&before, TK_FN_C_CopyObject), 0);
        assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 1);
        assert_int_equal(sig_stats_delta(&before, TK_FN_C_Login), 1);
        assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 1);
        assert_int_equal(sig_stats_delta(&before, TK_FN_C_FindObjectsInit), 0);
        assert_int_equal(sig_stats_delta(&before, TK_FN_C_GetAttributeValue), 0);
    }
    sig_key_free(&key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_made_once_and_used),
        cmocka_unit_test(test_copy_is_sensitive_session_object),
        cmocka_unit_test(test_copy_made_again_after_sessions_lost),
        cmocka_unit_test(test_copy_destroyed_behind),
        cmocka_unit_test(test_key_deleted_from_token),
        cmocka_unit_test(test_key_found_twice),
        cmocka_unit_test(test_key_replaced),
        cmocka_unit_test(test_copy_switched_off),
        cmocka_unit_test(test_always_authenticate_key),
    };

    return cmocka_run_group_tests_name("signature-copy", tests, setup, teardown);
}
