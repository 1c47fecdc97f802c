/*
 * A key loaded while another handle of the same key makes its session
 * copy (its first signature). SoftHSM2 2.6.1's C_CopyObject shows the
 * copy in the making with all the original's attributes, CKA_TOKEN=TRUE
 * among them, so a search from another thread in that window found the
 * key twice and the load failed: "matches 2 private keys" (seen with four
 * librdkafka clients starting together in one process, under valgrind).
 * tk-tokenshim holds that window open (tokenshim.h) until the load's
 * search has listed the copy: the load must then wait for the copy to be
 * made, and find the key once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include "load_key.h"
#include "p11_test.h"
#include "token_keygen.h"
#include "tokenshim.h"

static TK_P11_TEST env;
static tk_tokenshim_set_copy_shows_early_fn *shows_early;
static tk_tokenshim_copies_under_way_fn *under_way;
static tk_tokenshim_release_copy_fn *release_copy;
static tk_tokenshim_copies_shown_fn *copies_shown;
static TK_P11_TEST_PROVIDER prov;

static int setup(void)
{
    const char *shim = tk_test_tokenshim();

    if (shim == NULL || tk_p11_test_setup(&env, "tokenkey-copyrace", shim) != 0)
        return -1;
    *(void **)&shows_early = tk_test_loaded_symbol(shim, "tk_tokenshim_set_copy_shows_early");
    *(void **)&under_way = tk_test_loaded_symbol(shim, "tk_tokenshim_copies_under_way");
    *(void **)&release_copy = tk_test_loaded_symbol(shim, "tk_tokenshim_release_copy");
    *(void **)&copies_shown = tk_test_loaded_symbol(shim, "tk_tokenshim_copies_shown");
    if (shows_early == NULL || under_way == NULL || release_copy == NULL || copies_shown == NULL)
        return -1;
    return tk_p11_test_provider_load(&prov, &env, shim);
}

static void teardown(void)
{
    tk_p11_test_provider_unload(&prov);
    tk_p11_test_teardown(&env);
}

static int sign_once(EVP_PKEY *key)
{
    return tk_p11_test_provider_sign(&prov, key);
}

static void *first_signature(void *arg)
{
    EVP_PKEY *key = arg;
    int ok = sign_once(key);

    OPENSSL_thread_stop();
    return ok ? key : NULL;
}

/* Lets the copy be made once a search has listed it in the making. */
static void *release_when_shown(void *arg)
{
    unsigned long shown = *(unsigned long *)arg;

    while (copies_shown() == shown) {
        struct timespec tick = { 0, 1000 * 1000 };

        nanosleep(&tick, NULL);
    }
    release_copy();
    return NULL;
}

static EVP_PKEY *load(void)
{
    char uri[256];
    EVP_PKEY *key;

    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;object=race;type=private",
             tk_fixture_serial(&env.fx));
    key = tk_test_load_private(prov.libctx, uri);
    if (key == NULL)
        ERR_print_errors_fp(stderr);
    return key;
}

static void test_load_while_the_key_is_copied(void **state)
{
    static const unsigned char id[] = { 0x0c, 0x09 };
    CK_OBJECT_HANDLE pub, priv;
    EVP_PKEY *first, *second;
    TK_P11_SESSION s;
    pthread_t th, releaser;
    void *signed_by;
    unsigned long shown;
    CK_RV rv;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    rv = tk_test_keygen(&s, TK_TEST_P256, "race", id, sizeof(id), &pub, &priv);
    tk_p11_session_put(&s, rv);
    assert_int_equal(rv, CKR_OK);

    first = load();
    assert_non_null(first);
    shows_early(-1);
    shown = copies_shown();
    assert_int_equal(pthread_create(&th, NULL, first_signature, first), 0);
    while (under_way() == 0) {
        struct timespec tick = { 0, 1000 * 1000 };

        nanosleep(&tick, NULL);
    }
    /* The copy is in the making, and stays so until this load's search has listed it. */
    assert_int_equal(pthread_create(&releaser, NULL, release_when_shown, &shown), 0);
    second = load();
    assert_int_equal(pthread_join(releaser, NULL), 0);
    pthread_join(th, &signed_by);
    shows_early(0);
    assert_ptr_equal(signed_by, first);
    assert_non_null(second);
    assert_int_equal(sign_once(second), 1);
    EVP_PKEY_free(first);
    EVP_PKEY_free(second);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_while_the_key_is_copied),
    };

    return tk_test_run("p11-copyrace", tests, TK_TEST_COUNT(tests), setup, teardown);
}
