/*
 * Sessions of the PKCS#11 layer against a fresh SoftHSM2 token: the pool
 * under eight threads, recovery from sessions closed behind the layer's
 * back (this test closes them through the module's own function list, as
 * another client in the process could), and use from a forked child.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "p11_test.h"
#include "vg_check.h"

static TK_P11_TEST env;

static int setup(void)
{
    return tk_p11_test_setup(&env, "tokenkey-session", NULL);
}

static void teardown(void)
{
    tk_p11_test_teardown(&env);
}

/*
 * Each test starts from an empty pool, no anchor and no login (closing
 * every session of ours logs the application out), checked with the module.
 */
static int fresh_pool(void **state)
{
    tk_p11_token_reset(env.t);
    if (tk_test_raw_session_state(env.raw, tk_p11_token_slot(env.t)) != CKS_RW_PUBLIC_SESSION) {
        fprintf(stderr, "test: could not reset the token before the test\n");
        return -1;
    }
    return 0;
}

/* ---- eight threads share the pool ---- */

#define THREADS 8
#define ROUNDS 200

typedef struct {
    pthread_barrier_t *held, *go; /* every thread holds its first session between these */
    CK_SESSION_HANDLE first;
    int failures;
    CK_RV last_error;
} WORKER;

static void *worker(void *p)
{
    WORKER *w = p;

    for (int i = 0; i < ROUNDS; i++) {
        TK_P11_SESSION s;
        unsigned char buf[16];
        CK_RV rv = tk_p11_session_get(env.t, &s);

        if (rv == CKR_OK)
            rv = tk_p11_generate_random(&s, buf, sizeof(buf));
        if (i == 0) {
            w->first = s.handle;
            pthread_barrier_wait(w->held);
            pthread_barrier_wait(w->go);
        }
        tk_p11_session_put(&s, rv);
        if (rv != CKR_OK) {
            w->failures++;
            w->last_error = rv;
        }
    }
    return NULL;
}

static void test_threads_share_pool(void **state)
{
    unsigned long opened0 = tk_p11_stat(TK_FN_C_OpenSession);
    unsigned long closed0 = tk_p11_stat(TK_FN_C_CloseSession);
    unsigned long random0 = tk_p11_stat(TK_FN_C_GenerateRandom);
    unsigned long opened_held, closed_held;
    pthread_barrier_t held, go;
    pthread_t th[THREADS];
    WORKER w[THREADS];

    memset(w, 0, sizeof(w));
    assert_int_equal(pthread_barrier_init(&held, NULL, THREADS + 1), 0);
    assert_int_equal(pthread_barrier_init(&go, NULL, THREADS + 1), 0);
    /* All eight start on a cold token at once: no anchor, nothing pooled. */
    for (int i = 0; i < THREADS; i++) {
        w[i].held = &held;
        w[i].go = &go;
        assert_int_equal(pthread_create(&th[i], NULL, worker, &w[i]), 0);
    }
    pthread_barrier_wait(&held);
    opened_held = tk_p11_stat(TK_FN_C_OpenSession);
    closed_held = tk_p11_stat(TK_FN_C_CloseSession);
    pthread_barrier_wait(&go);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&held);
    pthread_barrier_destroy(&go);

    for (int i = 0; i < THREADS; i++) {
        if (w[i].failures != 0)
            fail_msg("thread %d: %d failures, last %s", i, w[i].failures,
                     tk_p11_rv_name(w[i].last_error));
        /* Sessions held at the same time are different sessions. */
        assert_int_not_equal(w[i].first, CK_INVALID_HANDLE);
        for (int j = 0; j < i; j++)
            assert_int_not_equal(w[i].first, w[j].first);
    }
    assert_int_equal(tk_p11_stat(TK_FN_C_GenerateRandom) - random0, THREADS * ROUNDS);
    /*
     * Eight sessions and the anchor are open while all threads hold one;
     * threads racing to open the anchor may open (and close) a few more.
     */
    assert_int_equal((opened_held - opened0) - (closed_held - closed0), THREADS + 1);
    /* Then 1592 more uses, and not one more session: the pool served them all. */
    assert_int_equal(tk_p11_stat(TK_FN_C_OpenSession), opened_held);
    assert_int_equal(tk_p11_stat(TK_FN_C_CloseSession), closed_held);
    if (opened_held - opened0 > THREADS + 1)
        print_message("note: %lu sessions opened for 8 threads: %lu lost the race for the anchor\n",
                      opened_held - opened0, opened_held - opened0 - (THREADS + 1));
}

/* ---- a session closed behind the layer's back ---- */

typedef struct {
    int calls;
    CK_SESSION_HANDLE handles[4];
    CK_RV results[4];
} TRACE;

/* tk_test_op_random, recording which session each call got and what it returned. */
static CK_RV op_traced_random(TK_P11_SESSION *s, void *arg)
{
    TRACE *tr = arg;
    CK_RV rv = tk_test_op_random(s, NULL);

    if (tr->calls < 4) {
        tr->handles[tr->calls] = s->handle;
        tr->results[tr->calls] = rv;
    }
    tr->calls++;
    return rv;
}

static void test_closed_session_replaced(void **state)
{
    TK_P11_SESSION s;
    CK_SESSION_HANDLE dead;
    unsigned long opened;
    TRACE tr = { 0 };

    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    dead = s.handle;
    assert_int_equal(env.raw->C_CloseSession(dead), CKR_OK);
    /* The layer doesn't know: the session goes back to the pool, on top. */
    tk_p11_session_put(&s, CKR_OK);

    opened = tk_p11_stat(TK_FN_C_OpenSession);
    assert_int_equal(tk_p11_with_session(env.t, NULL, op_traced_random, &tr), CKR_OK);
    assert_int_equal(tr.calls, 2);
    assert_int_equal(tr.handles[0], dead);
    assert_int_equal(tr.results[0], CKR_SESSION_HANDLE_INVALID);
    assert_int_equal(tr.results[1], CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_OpenSession), opened + 1);

    /* The dead handle is gone from the pool: the next use needs no recovery. */
    memset(&tr, 0, sizeof(tr));
    assert_int_equal(tk_p11_with_session(env.t, NULL, op_traced_random, &tr), CKR_OK);
    assert_int_equal(tr.calls, 1);
}

/* ---- every session closed behind the layer's back, login lost ---- */

static void close_all_behind_back(void)
{
    assert_int_equal(env.raw->C_CloseAllSessions(tk_p11_token_slot(env.t)), CKR_OK);
    /* PKCS#11 v2.40 5.6: no sessions left, no login left. */
    assert_int_equal(tk_test_raw_session_state(env.raw, tk_p11_token_slot(env.t)),
                     CKS_RW_PUBLIC_SESSION);
}

/* op: C_GetAttributeValue(CKA_PRIVATE) of the object in arg. */
static CK_RV op_is_private(TK_P11_SESSION *s, void *arg)
{
    CK_BBOOL v = CK_FALSE;
    CK_RV rv = tk_p11_get_bool(s, *(CK_OBJECT_HANDLE *)arg, CKA_PRIVATE, &v);

    return rv == CKR_OK && v != CK_TRUE ? CKR_GENERAL_ERROR : rv;
}

/* From a fresh pool, login and one op leave one pooled session and the anchor. */
static void test_close_all_sessions_relogin(void **state)
{
    CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
    unsigned long logins;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, NULL), CKR_OK);
    close_all_behind_back();
    /* The layer still believes it is logged in. */
    assert_int_equal(tk_p11_token_logged_in(env.t), 1);

    logins = tk_p11_stat(TK_FN_C_Login);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, &obj), CKR_OK);
    /* It logged in again, once: never on the dead anchor (test_close_all_sessions_one_login). */
    assert_int_equal(tk_p11_stat(TK_FN_C_Login) - logins, 1);
    logins = tk_p11_stat(TK_FN_C_Login);
    assert_int_equal(tk_p11_token_logged_in(env.t), 1);
    assert_int_equal(tk_test_raw_session_state(env.raw, tk_p11_token_slot(env.t)),
                     CKS_RW_USER_FUNCTIONS);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, op_is_private, &obj), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins);
}

/* Without a PIN getter there is no recovering a lost login. */
static void test_close_all_sessions_no_pin(void **state)
{
    unsigned long logins;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    close_all_behind_back();
    logins = tk_p11_stat(TK_FN_C_Login);
    assert_int_equal(tk_p11_with_session(env.t, NULL, tk_test_op_create_private, NULL),
                     CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins);
}

/* ---- fork ---- */

/* Child exit codes: which step failed (the child must not run cmocka asserts). */
enum { CHILD_OK, CHILD_LOGIN, CHILD_LOGGED_IN, CHILD_OP, CHILD_PRIVATE_OP, CHILD_REINIT,
       CHILD_VALGRIND };

static int child_main(void)
{
    CK_OBJECT_HANDLE obj;
    unsigned long inits = tk_p11_stat(TK_FN_C_Initialize);
    unsigned long logins = tk_p11_stat(TK_FN_C_Login);

    /*
     * Sessions and login from the parent are not the child's: its first
     * operation initialises the module again and logs in itself, instead
     * of trusting the parent's "logged in".
     */
    if (tk_p11_with_session(env.t, &env.pin, tk_test_op_random, NULL) != CKR_OK)
        return CHILD_OP;
    /* Re-initialised: SoftHSM2 says ALREADY_INITIALIZED, so the layer finalises first. */
    if (tk_p11_stat(TK_FN_C_Initialize) <= inits)
        return CHILD_REINIT;
    if (tk_p11_stat(TK_FN_C_Login) != logins + 1 || tk_p11_token_logged_in(env.t) != 1)
        return CHILD_LOGGED_IN;
    if (tk_p11_login(env.t, &env.pin) != CKR_OK || tk_p11_stat(TK_FN_C_Login) != logins + 1)
        return CHILD_LOGIN;
    if (tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, &obj) != CKR_OK)
        return CHILD_PRIVATE_OP;
    return CHILD_OK;
}

static void test_fork_child_uses_token(void **state)
{
    CK_OBJECT_HANDLE obj;
    unsigned long logins;
    int status;
    pid_t pid;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, &obj), CKR_OK);
    logins = tk_p11_stat(TK_FN_C_Login);

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        TK_VG vg;
        int rc;

        tk_vg_mark(&vg);
        rc = child_main();
        if (rc == CHILD_OK && !tk_vg_clean(&vg, "forked child"))
            rc = CHILD_VALGRIND;
        exit(rc); /* exit(), not _exit(): a crash at exit is a failure too */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != CHILD_OK)
        fail_msg("child: %s %d", WIFEXITED(status) ? "exit status" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));

    /* The parent keeps its sessions and its login: no new C_Login. */
    assert_int_equal(tk_p11_token_logged_in(env.t), 1);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, op_is_private, &obj), CKR_OK);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, NULL), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins);
}

/*
 * The anchor keeps the login while the pool is empty (PKCS#11 v2.40 5.6:
 * the login ends with the application's last session), also after the
 * layer replaced it following C_CloseAllSessions.
 */
static void test_anchor_survives_close_all(void **state)
{
    TK_P11_SESSION s[THREADS];
    unsigned long opened;
    int n = 0;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    close_all_behind_back();
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, NULL), CKR_OK);
    /* Empty the pool: take sessions until the layer has to open a new one. */
    opened = tk_p11_stat(TK_FN_C_OpenSession);
    while (n < THREADS) {
        assert_int_equal(tk_p11_session_get(env.t, &s[n]), CKR_OK);
        n++;
        if (tk_p11_stat(TK_FN_C_OpenSession) != opened)
            break;
    }
    /* Close them all, as the layer does with a session left mid-operation. */
    for (int i = 0; i < n; i++)
        tk_p11_session_put(&s[i], CKR_OPERATION_ACTIVE);
    /* The anchor still holds the login. */
    assert_int_equal(tk_test_raw_session_state(env.raw, tk_p11_token_slot(env.t)),
                     CKS_RW_USER_FUNCTIONS);
}

/* ---- bugs fixed since: each test failed before its fix ---- */

/*
 * After C_CloseAllSessions every pooled session is dead, but
 * tk_p11_with_session recovered from a dead session only once: with two or
 * more sessions in the pool, the second dead one was returned to the caller.
 */
static void test_close_all_sessions_deep_pool(void **state)
{
    TK_P11_SESSION s[3];

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(tk_p11_session_get(env.t, &s[i]), CKR_OK);
    for (int i = 0; i < 3; i++)
        tk_p11_session_put(&s[i], CKR_OK);
    close_all_behind_back();
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, NULL), CKR_OK);
}

/*
 * When an op without a PIN getter meets CKR_USER_NOT_LOGGED_IN, the layer
 * keeps believing it is logged in (tk_p11_with_session clears logged_in
 * only on its pin != NULL path), so tk_p11_login returns CKR_OK without a
 * C_Login and the token stays logged out: login, op, fail, for ever.
 */
static void test_login_after_lost_login(void **state)
{
    unsigned long logins;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    close_all_behind_back();
    assert_int_equal(tk_p11_with_session(env.t, NULL, tk_test_op_create_private, NULL),
                     CKR_USER_NOT_LOGGED_IN);
    assert_int_equal(tk_p11_token_logged_in(env.t), 0);
    logins = tk_p11_stat(TK_FN_C_Login);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_true(tk_p11_stat(TK_FN_C_Login) > logins);
    assert_int_equal(tk_p11_with_session(env.t, NULL, tk_test_op_create_private, NULL), CKR_OK);
}

/*
 * Recovering from C_CloseAllSessions, the layer first sent the PIN over
 * its dead anchor (C_Login -> CKR_SESSION_HANDLE_INVALID), then reset the
 * token and logged in again: two C_Login calls, where the session-dead
 * result it had just seen could have told it the anchor was gone too.
 */
static void test_close_all_sessions_one_login(void **state)
{
    unsigned long logins;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, NULL), CKR_OK);
    close_all_behind_back();
    logins = tk_p11_stat(TK_FN_C_Login);
    assert_int_equal(tk_p11_with_session(env.t, &env.pin, tk_test_op_create_private, NULL), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_threads_share_pool, fresh_pool),
        cmocka_unit_test_setup(test_closed_session_replaced, fresh_pool),
        cmocka_unit_test_setup(test_close_all_sessions_relogin, fresh_pool),
        cmocka_unit_test_setup(test_close_all_sessions_no_pin, fresh_pool),
        cmocka_unit_test_setup(test_fork_child_uses_token, fresh_pool),
        cmocka_unit_test_setup(test_anchor_survives_close_all, fresh_pool),
        cmocka_unit_test_setup(test_close_all_sessions_deep_pool, fresh_pool),
        cmocka_unit_test_setup(test_close_all_sessions_one_login, fresh_pool),
        cmocka_unit_test_setup(test_login_after_lost_login, fresh_pool),
    };

    return tk_test_run("p11-session", tests, TK_TEST_COUNT(tests), setup, teardown);
}
