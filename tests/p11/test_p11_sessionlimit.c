/*
 * A token with a session limit (a smartcard allows a few; an HSM partition
 * has a quota): when it answers C_OpenSession with CKR_SESSION_COUNT while
 * sessions of ours are out, the thread waits for one of them to come back
 * instead of failing its signature. When none of ours are out, other
 * applications hold the token's sessions: the answer is at once. The
 * limit is tk-tokenshim's (tokenshim.h), over the fixture's SoftHSM2.
 */
#include <pthread.h>
#include <unistd.h>

#include "p11_test.h"
#include "token_keygen.h"
#include "tokenshim.h"

#define KEY_LABEL "sessionlimit-key"
#define THREADS 6
#define OPS_PER_THREAD 40

static TK_P11_TEST env;
static tk_tokenshim_set_max_sessions_fn *set_max_sessions;
static tk_tokenshim_sessions_open_fn *sessions_open;
static tk_tokenshim_sessions_refused_fn *sessions_refused;

static int setup(void)
{
    static const unsigned char id[] = { 0x5e };
    const char *shim = tk_test_tokenshim();
    CK_OBJECT_HANDLE pub, priv;
    TK_P11_SESSION s;
    CK_RV rv;

    if (shim == NULL || tk_p11_test_setup(&env, "tokenkey-sessionlimit", shim) != 0)
        return -1;
    *(void **)&set_max_sessions = tk_test_loaded_symbol(shim, "tk_tokenshim_set_max_sessions");
    *(void **)&sessions_open = tk_test_loaded_symbol(shim, "tk_tokenshim_sessions_open");
    *(void **)&sessions_refused = tk_test_loaded_symbol(shim, "tk_tokenshim_sessions_refused");
    if (set_max_sessions == NULL || sessions_open == NULL || sessions_refused == NULL
        || tk_p11_login(env.t, &env.pin) != CKR_OK || tk_p11_session_get(env.t, &s) != CKR_OK)
        return -1;
    /* A private key: found only by a session of a logged-in application. */
    rv = tk_test_keygen(&s, TK_TEST_P256, KEY_LABEL, id, sizeof(id), &pub, &priv);
    tk_p11_session_put(&s, rv);
    return rv == CKR_OK ? 0 : -1;
}

static void teardown(void)
{
    set_max_sessions(0);
    tk_p11_test_teardown(&env);
}

/*
 * The layer holds no session (its pool and anchor closed), and the token
 * allows `room` more than are open now: the anchor takes one of them.
 */
static void limit_to(int room)
{
    set_max_sessions(0);
    tk_p11_token_reset(env.t);
    set_max_sessions(sessions_open() + room);
}

/* C_GenerateRandom with the session held a millisecond longer: the threads overlap. */
static CK_RV op_slow_random(TK_P11_SESSION *s, void *arg)
{
    usleep(1000);
    return tk_test_op_random(s, arg);
}

static void *sign_many(void *arg)
{
    CK_RV *rv = arg;

    for (int i = 0; i < OPS_PER_THREAD && *rv == CKR_OK; i++)
        *rv = tk_p11_with_session(env.t, NULL, op_slow_random, NULL);
    return NULL;
}

static void test_threads_take_turns_at_the_limit(void **state)
{
    pthread_t th[THREADS];
    CK_RV rv[THREADS];
    unsigned long refused0 = sessions_refused();

    limit_to(3); /* the anchor and two sessions for six threads */
    for (int i = 0; i < THREADS; i++) {
        rv[i] = CKR_OK;
        assert_int_equal(pthread_create(&th[i], NULL, sign_many, &rv[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    for (int i = 0; i < THREADS; i++)
        if (rv[i] != CKR_OK)
            fail_msg("thread %d: %s", i, tk_p11_rv_name(rv[i]));
    /* Otherwise the limit was never met, and this proved nothing. */
    assert_true(sessions_refused() > refused0);
}

static void test_no_wait_when_others_hold_every_session(void **state)
{
    unsigned long refused0 = sessions_refused();

    limit_to(1); /* the anchor, and no room for a session to work in */
    assert_int_equal(tk_p11_with_session(env.t, NULL, tk_test_op_random, NULL),
                     CKR_SESSION_COUNT);
    /* One refusal: nothing of ours could come back, so nothing was waited for or retried. */
    assert_int_equal(sessions_refused() - refused0, 1);
}

static void *random_once(void *arg)
{
    CK_RV *rv = arg;

    *rv = tk_p11_with_session(env.t, NULL, tk_test_op_random, NULL);
    return NULL;
}

/* Wait (bounded, not timed: a hang guard) until the token has refused more than before. */
static int refused_since(unsigned long before)
{
    for (int i = 0; i < 60000; i++) {
        if (sessions_refused() > before)
            return 1;
        usleep(1000);
    }
    return 0;
}

/*
 * Logged in, with room for the anchor and one session, which the test
 * holds in *held; then a thread running fn(rv) is refused a session of its
 * own, and waits.
 */
static void start_waiter(TK_P11_SESSION *held, pthread_t *waiter, void *(*fn)(void *), CK_RV *rv)
{
    unsigned long refused0;

    limit_to(2);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_session_get(env.t, held), CKR_OK);
    refused0 = sessions_refused();
    assert_int_equal(pthread_create(waiter, NULL, fn, rv), 0);
    assert_true(refused_since(refused0));
}

/*
 * A session closed instead of given back to the pool (its operation
 * failed) frees a place on the token: the waiting thread opens a session
 * there.
 */
static void test_closed_session_makes_room(void **state)
{
    TK_P11_SESSION held;
    pthread_t waiter;
    CK_RV rv = CKR_GENERAL_ERROR;

    start_waiter(&held, &waiter, random_once, &rv);
    tk_p11_session_put(&held, CKR_GENERAL_ERROR); /* closed, not pooled */
    assert_int_equal(pthread_join(waiter, NULL), 0);
    assert_int_equal(rv, CKR_OK);
}

/* op: the test's private key is found (CKR_GENERAL_ERROR when the search finds nothing). */
static CK_RV op_find_private_key(TK_P11_SESSION *s, void *arg)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_LABEL, (void *)KEY_LABEL, sizeof(KEY_LABEL) - 1 },
    };
    CK_OBJECT_HANDLE h;
    CK_ULONG n = 0;
    CK_RV rv = tk_p11_find(s, tmpl, 2, &h, 1, &n);

    return rv != CKR_OK ? rv : n == 1 ? CKR_OK : CKR_GENERAL_ERROR;
}

static void *find_private_key_once(void *arg)
{
    CK_RV *rv = arg;

    *rv = tk_p11_with_session(env.t, &env.pin, op_find_private_key, NULL);
    return NULL;
}

/*
 * The sessions, and with them the login, are lost while a thread waits for
 * one (another library's C_CloseAllSessions, then a reset): the thread
 * must not take a session in the new generation without logging in again,
 * where its search finds no private key and a key would seem gone.
 */
static void test_sessions_lost_while_waiting(void **state)
{
    TK_P11_SESSION held;
    pthread_t waiter;
    CK_RV rv = CKR_GENERAL_ERROR;

    start_waiter(&held, &waiter, find_private_key_once, &rv);
    /* Behind the layer's back: every session closed, so the token logged the process out. */
    assert_int_equal(env.raw->C_CloseAllSessions(tk_p11_token_slot(env.t)), CKR_OK);
    tk_p11_token_reset(env.t);
    tk_p11_session_put(&held, CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(pthread_join(waiter, NULL), 0);
    if (rv != CKR_OK)
        fail_msg("the waiting thread's search: %s", tk_p11_rv_name(rv));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_take_turns_at_the_limit),
        cmocka_unit_test(test_no_wait_when_others_hold_every_session),
        cmocka_unit_test(test_closed_session_makes_room),
        cmocka_unit_test(test_sessions_lost_while_waiting),
    };

    return tk_test_run("p11-sessionlimit", tests, TK_TEST_COUNT(tests), setup, teardown);
}
