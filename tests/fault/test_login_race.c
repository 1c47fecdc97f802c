/*
 * Logins the token makes hard (and one whose token is busy, and answers
 * lost on their way back: below).
 *
 * A login that a token reset overtakes. Thread A logs in; tk-faultmod holds
 * its C_Login. Meanwhile thread B resets the token's sessions (as the layer
 * does when a call says the token went away), and its first C_CloseSession
 * is held too. A's C_Login is then let go and reaches the module on the old
 * anchor, still open, and succeeds; then B's closes the old sessions, which
 * logs the application out. The holds make that order certain.
 *
 * The layer must not believe it is logged in then: before, A's login set
 * the flag regardless, every later private-object search on the token came
 * back empty ("no private key matches") and nothing corrected it. Now the
 * login sees that its sessions were reset and logs in again on the new
 * ones: when it returns CKR_OK the token is logged in, as the module says.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "faultmod.h"
#include "p11/p11_internal.h"
#include "p11_test.h"

static TK_P11_TEST env;
static tk_fault_set_fn *fault_set;
static tk_fault_calls_fn *fault_calls;
static tk_fault_wait_held_fn *fault_wait_held;
static tk_fault_release_fn *fault_release;

typedef struct {
    TK_P11_TOKEN *t;
    TK_P11_PIN_GETTER pin;
    CK_RV rv;
} LOGIN;

static void *log_in(void *arg)
{
    LOGIN *l = arg;

    l->rv = tk_p11_login(l->t, &l->pin);
    return NULL;
}

static void *reset(void *arg)
{
    tk_p11_token_reset(arg);
    return NULL;
}

static void test_reset_during_login(void **state)
{
    unsigned long logins = fault_calls("C_Login");
    CK_FUNCTION_LIST *softhsm = tk_test_raw_functions(tk_fixture_module(&env.fx));
    LOGIN a = { env.t, env.pin, CKR_GENERAL_ERROR };
    pthread_t th_a, th_b;
    long raw_state;

    assert_non_null(softhsm);
    assert_false(tk_p11_token_logged_in(env.t));
    assert_int_equal(fault_set("C_Login=hold@1,C_CloseSession=hold@1"), 0);
    assert_int_equal(pthread_create(&th_a, NULL, log_in, &a), 0);
    /* A's C_Login is on its way, held; B resets the sessions under it, and is held closing them. */
    fault_wait_held("C_Login", 1);
    assert_int_equal(pthread_create(&th_b, NULL, reset, env.t), 0);
    fault_wait_held("C_CloseSession", 1);
    /*
     * A's login reaches the old anchor, still open; A sees the reset and
     * goes round again, on a new anchor. The old sessions are still open
     * (B is held closing them) and the login is the application's: the
     * module says logged in, and no PIN goes a second time.
     */
    fault_release("C_Login");
    assert_int_equal(pthread_join(th_a, NULL), 0);
    /* Only then the old sessions close. */
    fault_release("C_CloseSession");
    assert_int_equal(pthread_join(th_b, NULL), 0);
    assert_int_equal(fault_set(""), 0);

    assert_int_equal(a.rv, CKR_OK);
    /* What the layer believes is what the module says. */
    raw_state = tk_test_raw_session_state(softhsm, tk_p11_token_slot(env.t));
    assert_true(tk_p11_token_logged_in(env.t));
    assert_int_equal(raw_state, CKS_RW_USER_FUNCTIONS);
    /* The PIN went once; the login held after the old sessions closed (the new anchor keeps it). */
    assert_int_equal(fault_calls("C_Login") - logins, 1);
}

/*
 * SoftHSM2's C_GetTokenInfo fails with CKR_GENERAL_ERROR while a C_Login
 * elsewhere rewrites its token file. A login reads the PIN flags up to
 * three times before it asks for the PIN (once more only after a slow
 * getter or another thread's PIN: not here), and never sends a PIN without
 * having read them.
 */
static void test_token_info_busy(void **state)
{
    unsigned long infos, logins;

    tk_p11_token_reset(env.t);
    assert_false(tk_p11_token_logged_in(env.t));
    infos = fault_calls("C_GetTokenInfo");
    logins = fault_calls("C_Login");
    assert_int_equal(fault_set("C_GetTokenInfo=CKR_GENERAL_ERROR"), 0);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_GENERAL_ERROR);
    assert_int_equal(fault_calls("C_GetTokenInfo") - infos, 3);
    assert_int_equal(fault_calls("C_Login") - logins, 0);
    assert_false(tk_p11_token_logged_in(env.t));

    /* Busy twice, then readable: the login goes through. */
    infos = fault_calls("C_GetTokenInfo");
    assert_int_equal(fault_set("C_GetTokenInfo=CKR_GENERAL_ERROR@1 "
                               "C_GetTokenInfo=CKR_GENERAL_ERROR@1"), 0);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(fault_set(""), 0);
    assert_int_equal(fault_calls("C_GetTokenInfo") - infos, 3);
    assert_int_equal(fault_calls("C_Login") - logins, 1);
    assert_true(tk_p11_token_logged_in(env.t));
}

/*
 * A C_Login whose answer is lost on its way back (tk-faultmod's after:
 * rule: the token checked the PIN, the application reads CKR_DEVICE_ERROR,
 * as from a card that reset as it answered). For a wrong PIN the token
 * counted a failure (SoftHSM2 raises CKF_USER_PIN_COUNT_LOW): that PIN is
 * as good as rejected and is not sent again. Before, it went again on the
 * next login, and was counted again, until the token locked. For the right
 * PIN the token logged in: the next login finds the application logged in
 * (C_GetSessionInfo), and sends no PIN again.
 */
static void test_lost_answers(void **state)
{
    TK_P11_PIN_GETTER wrong = { tk_test_pin_literal, (void *)"7777-not-the-pin" };
    unsigned long logins;

    tk_p11_token_reset(env.t);
    assert_false(tk_p11_token_logged_in(env.t));
    logins = fault_calls("C_Login");
    assert_int_equal(fault_set("C_Login=after:CKR_DEVICE_ERROR@1"), 0);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_DEVICE_ERROR);
    assert_int_equal(fault_set(""), 0);
    assert_false(tk_p11_token_logged_in(env.t));
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(fault_calls("C_Login") - logins, 1);
    assert_true(tk_p11_token_logged_in(env.t));

    tk_p11_token_reset(env.t); /* the sessions closed: logged out */
    assert_false(tk_p11_token_logged_in(env.t));
    logins = fault_calls("C_Login");
    assert_int_equal(fault_set("C_Login=after:CKR_DEVICE_ERROR@1"), 0);
    assert_int_equal(tk_p11_login(env.t, &wrong), CKR_DEVICE_ERROR);
    assert_int_equal(fault_set(""), 0);
    assert_int_equal(tk_p11_login(env.t, &wrong), TK_CKR_PIN_NOT_RETRIED);
    assert_int_equal(fault_calls("C_Login") - logins, 1);
    /* The right PIN is still sent, and resets the token's count. */
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(fault_calls("C_Login") - logins, 2);
}

/*
 * An answer that says the PIN was not looked at (CKR_SESSION_CLOSED) is
 * believed, even when the token's PIN flags moved meanwhile - another
 * application's wrong PIN, here on a session of its own while ours is held
 * on its way. Before, any failure with moved flags marked the PIN as
 * rejected: the right PIN was then refused for the life of the process.
 */
static void test_unchecked_answer_keeps_the_pin(void **state)
{
    CK_FUNCTION_LIST *softhsm = tk_test_raw_functions(tk_fixture_module(&env.fx));
    LOGIN a = { env.t, env.pin, CKR_GENERAL_ERROR };
    CK_SESSION_HANDLE other;
    pthread_t th_a;
    unsigned long logins;

    assert_non_null(softhsm);
    tk_p11_token_reset(env.t);
    assert_false(tk_p11_token_logged_in(env.t));
    logins = fault_calls("C_Login");
    assert_int_equal(fault_set("C_Login=hold@1 C_Login=CKR_SESSION_CLOSED@1"), 0);
    assert_int_equal(pthread_create(&th_a, NULL, log_in, &a), 0);
    fault_wait_held("C_Login", 1);
    /* Another application's wrong PIN: the token raises CKF_USER_PIN_COUNT_LOW. */
    assert_int_equal(softhsm->C_OpenSession(tk_p11_token_slot(env.t), CKF_SERIAL_SESSION, NULL,
                                            NULL, &other), CKR_OK);
    assert_int_equal(softhsm->C_Login(other, CKU_USER, (CK_UTF8CHAR *)"8888-not-the-pin", 16),
                     CKR_PIN_INCORRECT);
    assert_int_equal(softhsm->C_CloseSession(other), CKR_OK);
    fault_release("C_Login");
    assert_int_equal(pthread_join(th_a, NULL), 0);
    assert_int_equal(fault_set(""), 0);
    assert_int_equal(a.rv, CKR_SESSION_CLOSED);
    /* The right PIN goes again, and logs in. */
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(fault_calls("C_Login") - logins, 2);
}

/* The fixture's PIN, after a pause as long as a person at a prompt. */
static CK_RV slow_pin(void *arg, char *buf, size_t cap, size_t *len)
{
    struct timespec pause = { 0, 300 * 1000 * 1000 };

    (void)arg;
    nanosleep(&pause, NULL);
    return env.pin.get(env.pin.arg, buf, cap, len);
}

/*
 * The PIN state is read once before the PIN is asked for; a getter that
 * took long (a prompt) gets it read again right before C_Login, a PIN
 * file does not: a CKA_ALWAYS_AUTHENTICATE key logs in for every signature.
 */
static void test_slow_getter_reads_the_state_again(void **state)
{
    TK_P11_PIN_GETTER slow = { slow_pin, NULL };
    unsigned long infos;

    tk_p11_token_reset(env.t);
    infos = fault_calls("C_GetTokenInfo");
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(fault_calls("C_GetTokenInfo") - infos, 1);
    tk_p11_token_reset(env.t);
    infos = fault_calls("C_GetTokenInfo");
    assert_int_equal(tk_p11_login(env.t, &slow), CKR_OK);
    assert_int_equal(fault_calls("C_GetTokenInfo") - infos, 2);
}

static int setup(void)
{
    const char *faultmod = getenv("TK_FAULTMOD");

    if (faultmod == NULL) {
        fprintf(stderr, "TK_FAULTMOD is not set (run with meson test)\n");
        return -1;
    }
    if (tk_p11_test_setup(&env, "login-race", faultmod) != 0)
        return -1;
    *(void **)&fault_set = tk_test_loaded_symbol(faultmod, "tk_fault_set");
    *(void **)&fault_calls = tk_test_loaded_symbol(faultmod, "tk_fault_calls");
    *(void **)&fault_wait_held = tk_test_loaded_symbol(faultmod, "tk_fault_wait_held");
    *(void **)&fault_release = tk_test_loaded_symbol(faultmod, "tk_fault_release");
    return fault_set != NULL && fault_calls != NULL && fault_wait_held != NULL
                   && fault_release != NULL
               ? 0
               : -1;
}

static void teardown(void)
{
    tk_p11_test_teardown(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_during_login),
        cmocka_unit_test(test_token_info_busy),
        cmocka_unit_test(test_lost_answers),
        cmocka_unit_test(test_unchecked_answer_keeps_the_pin),
        cmocka_unit_test(test_slow_getter_reads_the_state_again),
    };

    return tk_test_run("fault-login-race", tests, TK_TEST_COUNT(tests), setup, teardown);
}
