/*
 * Logins the token makes hard (and one whose token is busy: below).
 *
 * A login that a token reset overtakes. Thread A logs in; its C_Login is
 * slowed down by tk-faultmod. Meanwhile thread B resets the token's
 * sessions (as the layer does when a call says the token went away), and
 * its first C_CloseSession is slowed down too, so A's C_Login reaches the
 * module on the old anchor while it is still open and succeeds; then B
 * closes the old sessions, which logs the application out.
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

static void test_reset_during_login(void **state)
{
    unsigned long logins = fault_calls("C_Login");
    CK_FUNCTION_LIST *softhsm = tk_test_raw_functions(tk_fixture_module(&env.fx));
    LOGIN a = { env.t, env.pin, CKR_GENERAL_ERROR };
    pthread_t th;
    long raw_state;

    assert_non_null(softhsm);
    assert_false(tk_p11_token_logged_in(env.t));
    assert_int_equal(fault_set("C_Login=delay:400@1,C_CloseSession=delay:1500@1"), 0);
    assert_int_equal(pthread_create(&th, NULL, log_in, &a), 0);
    while (fault_calls("C_Login") == logins) {
        struct timespec tick = { 0, 1000 * 1000 };

        nanosleep(&tick, NULL);
    }
    /* B: A's C_Login is on its way (held back 400 ms); reset the sessions under it. */
    tk_p11_token_reset(env.t);
    pthread_join(th, NULL);
    assert_int_equal(fault_set(""), 0);

    assert_int_equal(a.rv, CKR_OK);
    /* What the layer believes is what the module says. */
    raw_state = tk_test_raw_session_state(softhsm, tk_p11_token_slot(env.t));
    assert_true(tk_p11_token_logged_in(env.t));
    assert_int_equal(raw_state, CKS_RW_USER_FUNCTIONS);
    /* The PIN went twice: once to the sessions the reset took, once to the new ones. */
    assert_int_equal(fault_calls("C_Login") - logins, 2);
}

/*
 * SoftHSM2's C_GetTokenInfo fails with CKR_GENERAL_ERROR while a C_Login
 * elsewhere rewrites its token file. A login reads the PIN flags up to
 * three times, and never sends a PIN without having read them.
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
    return fault_set != NULL && fault_calls != NULL ? 0 : -1;
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
    };

    return tk_test_run("fault-login-race", tests, TK_TEST_COUNT(tests), setup, teardown);
}
