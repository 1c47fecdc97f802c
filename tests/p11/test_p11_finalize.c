/*
 * Another library in the process calls C_Finalize on the module tokenkey
 * shares with it (PKCS#11 allows one initialisation per process): an
 * application that also uses PyKCS11 or libp11 on the same SoftHSM2, say.
 * Every session, login and handle of the layer is gone, and every call
 * answers CKR_CRYPTOKI_NOT_INITIALIZED. The layer initialises the module
 * again and goes on: operations, token searches, and a key the provider
 * loaded before. The module then numbers its handles from the first again,
 * so the layer's handles from before must never reach it: they may name the
 * other library's sessions. The test plays the other library through the
 * module's own function list.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "load_key.h"
#include "p11_test.h"
#include "token_keygen.h"

#define KEY_LABEL "finalize-ec"

static TK_P11_TEST env;
static TK_P11_TEST_PROVIDER prov;

static int setup(void)
{
    if (tk_p11_test_setup(&env, "tokenkey-finalize", NULL) != 0)
        return -1;
    return tk_p11_test_provider_load(&prov, &env, tk_fixture_module(&env.fx));
}

static void teardown(void)
{
    tk_p11_test_provider_unload(&prov);
    tk_p11_test_teardown(&env);
}

/* The other library is done with the module; the module says it is no longer initialised. */
static void finalize_behind_back(void)
{
    CK_INFO info;

    assert_int_equal(env.raw->C_Finalize(NULL), CKR_OK);
    assert_int_equal(env.raw->C_GetInfo(&info), CKR_CRYPTOKI_NOT_INITIALIZED);
}

static void test_operation_after_finalize(void **state)
{
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    unsigned long inits;

    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, NULL), CKR_OK);
    finalize_behind_back();
    inits = tk_p11_stat(TK_FN_C_Initialize);
    /* A private object: the layer logged in again after initialising the module. */
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, &obj), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_Initialize), inits + 1);
    assert_int_equal(tk_p11_token_logged_in(env.t), 1);
    assert_int_equal(tk_test_raw_session_state(env.raw, tk_p11_token_slot(env.t)),
                     CKS_RW_USER_FUNCTIONS);
}

/*
 * A search for a token (every key load starts with one) after the module
 * was finalised: by serial (the slot list first), and by the library's
 * manufacturer (C_GetInfo first).
 */
static void search_after_finalize(const char *attribute)
{
    char text[256];
    TK_URI *uri = NULL;
    TK_P11_TOKEN *found = NULL;
    size_t count = 0;

    snprintf(text, sizeof(text), "pkcs11:%sserial=%s", attribute, tk_fixture_serial(&env.fx));
    assert_int_equal(tk_uri_parse(text, &uri, NULL), TK_URI_OK);
    finalize_behind_back();
    assert_int_equal(tk_p11_token_find(env.m, uri, &found, 1, &count), CKR_OK);
    tk_uri_free(uri);
    assert_int_equal(count, 1);
    assert_ptr_equal(found, env.t);
}

static void test_token_search_after_finalize(void **state)
{
    search_after_finalize("");
    search_after_finalize("library-manufacturer=SoftHSM;");
}

/*
 * A session the layer had out when the module was finalised - a thread in
 * the middle of a signature - comes back after the module was initialised
 * again and the other library opened sessions of its own, one of them with
 * the same number. The layer neither uses nor closes it: it would be the
 * other library's.
 */
static void test_session_from_before_is_not_used(void **state)
{
    TK_P11_SESSION held[4];
    CK_SESSION_HANDLE other[64];
    CK_SESSION_INFO info;
    unsigned char buf[16];
    int n = 0, same = -1;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    /* A few at once, so that the last one's number is past those the layer opens first again. */
    for (int i = 0; i < 4; i++)
        assert_int_equal(tk_p11_session_get(env.t, &held[i]), CKR_OK);
    for (int i = 0; i < 3; i++)
        tk_p11_session_put(&held[i], CKR_OK);
    finalize_behind_back();
    /* Another thread's operation meets the refusal and initialises the module again. */
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_random, NULL), CKR_OK);
    for (; n < 64 && same < 0; n++) {
        assert_int_equal(env.raw->C_OpenSession(tk_p11_token_slot(env.t), CKF_SERIAL_SESSION, NULL,
                                                NULL, &other[n]),
                         CKR_OK);
        if (other[n] == held[3].handle)
            same = n;
    }
    if (same < 0)
        fail_msg("the module gave none of 64 new sessions the number %lu: this test needs a module "
                 "that numbers its handles afresh after C_Initialize, as SoftHSM2 does",
                 (unsigned long)held[3].handle);
    /* Used, it answers as a session that is gone, without the module seeing the call. */
    assert_int_equal(tk_p11_generate_random(&held[3], buf, sizeof(buf)), CKR_SESSION_CLOSED);
    /* Given back after its operation failed, it is not closed: the other session lives on. */
    tk_p11_session_put(&held[3], CKR_CRYPTOKI_NOT_INITIALIZED);
    assert_int_equal(env.raw->C_GetSessionInfo(other[same], &info), CKR_OK);
    for (int i = 0; i < n; i++)
        assert_int_equal(env.raw->C_CloseSession(other[i]), CKR_OK);
    /* And the layer goes on with sessions of its own. */
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_random, NULL), CKR_OK);
}

/* ---- threads that meet the refusal together ---- */

#define THREADS 8

typedef struct {
    pthread_barrier_t *parked, *go; /* between them the module is finalised, no call in flight */
    CK_RV before, after;
} WORKER;

static void *worker(void *p)
{
    WORKER *w = p;

    w->before = tk_p11_with_session(env.t, &env.pin, tk_test_op_random, NULL);
    pthread_barrier_wait(w->parked);
    pthread_barrier_wait(w->go);
    w->after = tk_p11_with_session(env.t, &env.pin, tk_test_op_random, NULL);
    return NULL;
}

/*
 * Eight threads, each with an operation of its own, all meet the refusal:
 * the module is initialised again once, not eight times (each C_Initialize
 * after the first would answer ALREADY_INITIALIZED and forget the sessions
 * the first one's threads just opened), and every operation goes through.
 */
static void test_threads_initialise_once(void **state)
{
    pthread_barrier_t parked, go;
    pthread_t th[THREADS];
    WORKER w[THREADS];
    unsigned long inits;

    pthread_barrier_init(&parked, NULL, THREADS + 1);
    pthread_barrier_init(&go, NULL, THREADS + 1);
    for (int i = 0; i < THREADS; i++) {
        w[i] = (WORKER){ &parked, &go, CKR_GENERAL_ERROR, CKR_GENERAL_ERROR };
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    pthread_barrier_wait(&parked);
    finalize_behind_back();
    inits = tk_p11_stat(TK_FN_C_Initialize);
    pthread_barrier_wait(&go);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&parked);
    pthread_barrier_destroy(&go);
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(w[i].before, CKR_OK);
        assert_int_equal(w[i].after, CKR_OK);
    }
    assert_int_equal(tk_p11_stat(TK_FN_C_Initialize), inits + 1);
}

static void make_key(void)
{
    CK_OBJECT_HANDLE pub, priv;
    TK_P11_SESSION s;
    CK_RV rv;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    rv = tk_test_keygen(&s, TK_TEST_P256, KEY_LABEL, (const unsigned char *)"\x42", 1, &pub, &priv);
    tk_p11_session_put(&s, rv);
    assert_int_equal(rv, CKR_OK);
}

static EVP_PKEY *load_key(void)
{
    char uri[256];
    EVP_PKEY *key;

    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;object=" KEY_LABEL ";type=private",
             tk_fixture_serial(&env.fx));
    key = tk_test_load_private(prov.libctx, uri);
    if (key == NULL)
        ERR_print_errors_fp(stderr);
    assert_non_null(key);
    return key;
}

/* What a Kafka client sees: the key it loaded before goes on signing, and keys still load. */
static void test_key_signs_after_finalize(void **state)
{
    EVP_PKEY *key, *again;

    make_key();
    key = load_key();
    assert_true(tk_p11_test_provider_sign(&prov, key));
    finalize_behind_back();
    if (!tk_p11_test_provider_sign(&prov, key)) {
        char *errors = tk_test_error_text();

        fail_msg("no signature after another library's C_Finalize:\n%s", errors);
    }
    assert_true(tk_p11_test_provider_sign(&prov, key));
    finalize_behind_back();
    again = load_key();
    assert_true(tk_p11_test_provider_sign(&prov, again));
    EVP_PKEY_free(again);
    EVP_PKEY_free(key);
}

/*
 * The other library finalised and initialised the module again before the
 * layer's next call: no refusal to see, only sessions that are gone.
 */
static void test_key_signs_after_finalize_and_initialize(void **state)
{
    EVP_PKEY *key = load_key();
    CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
    unsigned long inits;

    assert_true(tk_p11_test_provider_sign(&prov, key));
    finalize_behind_back();
    assert_int_equal(env.raw->C_Initialize(&args), CKR_OK);
    inits = tk_p11_stat(TK_FN_C_Initialize);
    assert_true(tk_p11_test_provider_sign(&prov, key));
    /* Initialised by the other library, not by the layer a second time. */
    assert_int_equal(tk_p11_stat(TK_FN_C_Initialize), inits);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_operation_after_finalize),
        cmocka_unit_test(test_token_search_after_finalize),
        cmocka_unit_test(test_session_from_before_is_not_used),
        cmocka_unit_test(test_threads_initialise_once),
        cmocka_unit_test(test_key_signs_after_finalize),
        cmocka_unit_test(test_key_signs_after_finalize_and_initialize),
    };

    return tk_test_run("p11-finalize", tests, TK_TEST_COUNT(tests), setup, teardown);
}
