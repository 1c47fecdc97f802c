/*
 * "Never a silent fallback to another key", after the token went away and
 * came back: a key loaded by the provider (linked in) is found again only
 * on the token it was loaded from, and only by its CKA_ID or label.
 *
 * tk-tokenshim (tokenshim.h) plays the other card: it shows another serial
 * number for the same SoftHSM2 token, objects and CKA_IDs unchanged, as
 * with two PIV cards. Closing every session in the module is the removal
 * and re-insertion the layer then notices by itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

#include "load_key.h"
#include "p11_test.h"
#include "token_keygen.h"
#include "tokenshim.h"

#define SWAP_LABEL "swap-ec"
#define OTHER_SERIAL "0ther-card-0001"

static TK_P11_TEST env;
static tk_tokenshim_set_token_serial_fn *set_serial;
static tk_tokenshim_logins_fn *shim_logins;
static TK_P11_TEST_PROVIDER prov;

static int setup(void)
{
    const char *shim = tk_test_tokenshim();

    if (shim == NULL || tk_p11_test_setup(&env, "tokenkey-swap", shim) != 0)
        return -1;
    /* The layer loaded the shim; its controls are in that same copy. */
    *(void **)&set_serial = tk_test_loaded_symbol(shim, "tk_tokenshim_set_token_serial");
    *(void **)&shim_logins = tk_test_loaded_symbol(shim, "tk_tokenshim_logins");
    if (set_serial == NULL || shim_logins == NULL)
        return -1;
    return tk_p11_test_provider_load(&prov, &env, shim);
}

static void teardown(void)
{
    tk_p11_test_provider_unload(&prov);
    tk_p11_test_teardown(&env);
}

static void make_key(TK_TEST_KEY_KIND kind, const char *label, const unsigned char *id,
                     size_t idlen)
{
    CK_OBJECT_HANDLE pub, priv;
    TK_P11_SESSION s;
    CK_RV rv;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    rv = tk_test_keygen(&s, kind, label, id, idlen, &pub, &priv);
    tk_p11_session_put(&s, rv);
    assert_int_equal(rv, CKR_OK);
}

/* A SHA-256 signature with key; 1 or 0 (the errors stay on the queue). */
static int sign_once(EVP_PKEY *key)
{
    return tk_p11_test_provider_sign(&prov, key);
}

/* The queue holds the error of a key used with another card in its slot (and is emptied). */
static void expect_other_token_error(void)
{
    char *errors = tk_test_error_text();

    if (strstr(errors, "the slot holds another token than the one the key was loaded from") == NULL)
        fail_msg("expected the other-token error, got:\n%s", errors);
    free(errors);
}

/* What the module shows when every session is gone: a removal and re-insertion. */
static void reinsert(void)
{
    assert_int_equal(env.raw->C_CloseAllSessions(tk_p11_token_slot(env.t)), CKR_OK);
}

static EVP_PKEY *load(const char *what)
{
    char uri[256];
    EVP_PKEY *key;

    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;%stype=private", tk_fixture_serial(&env.fx),
             what);
    key = tk_test_load_private(prov.libctx, uri);
    if (key == NULL)
        ERR_print_errors_fp(stderr);
    assert_non_null(key);
    return key;
}

/*
 * First, while it is the token's only private key: one with neither
 * CKA_ID nor CKA_LABEL. Found again, it would be "any private key there".
 */
static void test_unnamed_key_not_found_again(void **state)
{
    EVP_PKEY *key;
    char *errors;

    make_key(TK_TEST_RSA2048, "", NULL, 0);
    key = load("");
    assert_int_equal(sign_once(key), 1);
    reinsert();
    assert_int_equal(sign_once(key), 0);
    errors = tk_test_error_text();
    if (strstr(errors, "neither CKA_ID nor CKA_LABEL") == NULL)
        fail_msg("expected the unnamed-key error, got:\n%s", errors);
    free(errors);
    EVP_PKEY_free(key);
}

static void test_other_card_in_the_slot(void **state)
{
    static const unsigned char id[] = { 0x9a };
    unsigned long logins;
    EVP_PKEY *key;
    char *errors, want[64];

    make_key(TK_TEST_P256, SWAP_LABEL, id, sizeof(id));
    key = load("object=" SWAP_LABEL ";");
    assert_int_equal(sign_once(key), 1);

    /* Another card, same ids: nothing signs, and it never sees the PIN. */
    set_serial(OTHER_SERIAL);
    reinsert();
    logins = shim_logins();
    assert_int_equal(sign_once(key), 0);
    set_serial(NULL);
    assert_int_equal(shim_logins(), logins);
    errors = tk_test_error_text();
    snprintf(want, sizeof(want), "(serial %s)", tk_fixture_serial(&env.fx));
    if (strstr(errors, "the slot holds another token than the one the key was loaded from") == NULL
        || strstr(errors, want) == NULL || strstr(errors, "(serial " OTHER_SERIAL ")") == NULL)
        fail_msg("expected an error naming both tokens, got:\n%s", errors);
    free(errors);

    /* The key's own card back: it signs again. */
    reinsert();
    assert_int_equal(sign_once(key), 1);
    EVP_PKEY_free(key);
}

/*
 * Every session closed behind the layer's back (another library's
 * C_CloseAllSessions, a token reset): the next key load finds its pooled
 * sessions dead, and must recover as a signature does, login included.
 */
static void test_load_after_sessions_closed(void **state)
{
    static const unsigned char id[] = { 0x9c };
    EVP_PKEY *key;

    make_key(TK_TEST_P256, "swap-third", id, sizeof(id));
    key = load("object=swap-third;");
    EVP_PKEY_free(key);
    reinsert();
    key = load("object=swap-third;");
    assert_int_equal(sign_once(key), 1);
    EVP_PKEY_free(key);
}

/* Whether the key reference the provider writes for key (its URI, in DER) holds text. */
static int key_reference_holds(EVP_PKEY *key, const char *text)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long len = 0;
    size_t n = strlen(text);
    int found = 0;

    if (b != NULL
        && PEM_write_bio_PrivateKey_ex(b, key, NULL, NULL, 0, NULL, NULL, prov.libctx, NULL) == 1
        && PEM_read_bio(b, &name, &header, &der, &len) == 1)
        for (long i = 0; !found && i + (long)n <= len; i++)
            found = memcmp(der + i, text, n) == 0;
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(b);
    return found;
}

/*
 * A key loaded while the other card is in the slot is that card's: it
 * signs, and keeps signing after the sessions are lost and found again on
 * the same card. Its URI names that card; the first card's key and this
 * one each refuse the other's card.
 */
static void test_key_of_the_card_now_in_the_slot(void **state)
{
    static const unsigned char id[] = { 0x9b };
    EVP_PKEY *first, *second;

    make_key(TK_TEST_P256, "swap-second", id, sizeof(id));
    first = load("object=swap-second;");
    assert_int_equal(sign_once(first), 1);

    /*
     * The other card, seen first by a search (its sessions not yet found
     * closed): from then on the first card's key stops signing, though its
     * session and object handles still answer - on a module that reuses
     * handle numbers they could be the new card's.
     */
    set_serial(OTHER_SERIAL);
    second = tk_test_load_private(prov.libctx, "pkcs11:serial=" OTHER_SERIAL
                                               ";object=swap-second;type=private");
    if (second == NULL)
        ERR_print_errors_fp(stderr);
    assert_non_null(second);
    assert_int_equal(sign_once(first), 0);
    expect_other_token_error();
    reinsert();
    if (!key_reference_holds(second, "serial=" OTHER_SERIAL ";"))
        fail_msg("the key reference of the key loaded from the other card names another card");
    assert_int_equal(sign_once(second), 1);
    reinsert();
    assert_int_equal(sign_once(second), 1);
    assert_int_equal(sign_once(first), 0);
    ERR_clear_error();

    /*
     * The first card back, seen by no search, only by its own key checking
     * its card: from then on the other card's key stops signing too.
     */
    assert_int_equal(sign_once(second), 1);
    set_serial(NULL);
    assert_int_equal(sign_once(first), 1);
    assert_int_equal(sign_once(second), 0);
    expect_other_token_error();

    /* And after the sessions were lost: its keys load and sign, the other card's do not. */
    reinsert();
    EVP_PKEY_free(load("object=swap-second;"));
    assert_int_equal(sign_once(first), 1);
    assert_int_equal(sign_once(second), 0);
    expect_other_token_error();
    EVP_PKEY_free(first);
    EVP_PKEY_free(second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unnamed_key_not_found_again),
        cmocka_unit_test(test_other_card_in_the_slot),
        cmocka_unit_test(test_key_of_the_card_now_in_the_slot),
        cmocka_unit_test(test_load_after_sessions_closed),
    };

    return tk_test_run("p11-swap", tests, TK_TEST_COUNT(tests), setup, teardown);
}
