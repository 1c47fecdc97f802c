/*
 * A token that lets tokenkey copy a key into a session object, then
 * refuses to sign with the copy (an HSM whose policy is bound to the stored
 * object): the signature is made with the token object, and the copy is
 * dropped for good - not refused again at every signature. tk-tokenshim
 * refuses C_SignInit on session objects.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "p11_keyed.h"
#include "tokenshim.h"

#define LABEL "copyrefused-key"
#define SIGNATURES 10
#define THREADS 8
#define ROUNDS 3

static TK_P11_TEST env;
static TK_P11_TEST_PROVIDER prov;
static tk_tokenshim_refuse_session_keys_fn *refuse_session_keys;
static tk_tokenshim_session_keys_refused_fn *session_keys_refused;

static int setup(void)
{
    static const unsigned char id[] = { 0x4c };
    const char *shim = tk_test_tokenshim();

    if (shim == NULL || tk_p11_test_setup_keyed(&env, &prov, "tokenkey-copyrefused", shim,
                                                TK_TEST_P256, LABEL, id, sizeof(id)) != 0)
        return -1;
    *(void **)&refuse_session_keys = tk_test_loaded_symbol(shim, "tk_tokenshim_refuse_session_keys");
    *(void **)&session_keys_refused = tk_test_loaded_symbol(shim,
                                                            "tk_tokenshim_session_keys_refused");
    return refuse_session_keys != NULL && session_keys_refused != NULL ? 0 : -1;
}

static void teardown(void)
{
    refuse_session_keys(CKR_OK);
    tk_p11_test_provider_unload(&prov);
    tk_p11_test_teardown(&env);
}

static void test_refused_copy_falls_back_to_the_token_object(void **state)
{
    EVP_PKEY *key = tk_p11_test_load_labelled(&env, &prov, LABEL);

    (void)state;
    assert_non_null(key);
    refuse_session_keys(CKR_KEY_FUNCTION_NOT_PERMITTED);
    for (int i = 0; i < SIGNATURES; i++) {
        ERR_clear_error();
        if (tk_p11_test_provider_sign(&prov, key) != 1) {
            ERR_print_errors_fp(stderr);
            fail_msg("signature %d failed: the token object was not tried after the copy", i + 1);
        }
    }
    /* The first signature met the refusal; the others went to the token object directly. */
    assert_int_equal(session_keys_refused(), 1);
    EVP_PKEY_free(key);
}

typedef struct {
    EVP_PKEY *key;
    pthread_barrier_t *start;
    int ok;
} SIGNER;

static void *sign_at_once(void *arg)
{
    SIGNER *s = arg;

    pthread_barrier_wait(s->start);
    s->ok = tk_p11_test_provider_sign(&prov, s->key);
    return NULL;
}

/*
 * Threads meeting the refusal together, on a key's first signatures: each
 * goes to the token object, even when another thread dropped the copy
 * between its refusal and its look at the copy.
 */
static void test_threads_refused_together_all_sign(void **state)
{
    (void)state;
    refuse_session_keys(CKR_KEY_FUNCTION_NOT_PERMITTED);
    for (int round = 0; round < ROUNDS; round++) {
        EVP_PKEY *key = tk_p11_test_load_labelled(&env, &prov, LABEL); /* no copy yet */
        pthread_barrier_t start;
        pthread_t th[THREADS];
        SIGNER s[THREADS];

        assert_non_null(key);
        assert_int_equal(pthread_barrier_init(&start, NULL, THREADS), 0);
        for (int i = 0; i < THREADS; i++) {
            s[i] = (SIGNER){ key, &start, 0 };
            assert_int_equal(pthread_create(&th[i], NULL, sign_at_once, &s[i]), 0);
        }
        for (int i = 0; i < THREADS; i++)
            assert_int_equal(pthread_join(th[i], NULL), 0);
        pthread_barrier_destroy(&start);
        for (int i = 0; i < THREADS; i++)
            if (!s[i].ok)
                fail_msg("round %d: thread %d's signature failed", round + 1, i + 1);
        EVP_PKEY_free(key);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_copy_falls_back_to_the_token_object),
        cmocka_unit_test(test_threads_refused_together_all_sign),
    };

    return tk_test_run("p11-copyrefused", tests, TK_TEST_COUNT(tests), setup, teardown);
}
