/*
 * The layer refuses to send a PIN to a token whose user PIN is locked, or
 * has one try left, before C_Login and before reading the PIN. SoftHSM2
 * never reports those states, so the token is reached through tk-tokenshim
 * (tokenshim.h), which adds them to C_GetTokenInfo: the token, its sessions
 * and the PIN check stay SoftHSM2's.
 */

#include "tokenshim.h"
#include "p11_test.h"

static TK_P11_TEST env;
static tk_tokenshim_set_token_flags_fn *set_flags;
static tk_tokenshim_logins_fn *shim_logins;

static int setup(void)
{
    const char *shim = tk_test_tokenshim();

    if (shim == NULL || tk_p11_test_setup(&env, "tokenkey-pinlock", shim) != 0)
        return -1;
    /* The layer loaded the shim; its controls are in that same copy. */
    *(void **)&set_flags = tk_test_loaded_symbol(shim, "tk_tokenshim_set_token_flags");
    *(void **)&shim_logins = tk_test_loaded_symbol(shim, "tk_tokenshim_logins");
    return set_flags != NULL && shim_logins != NULL ? 0 : -1;
}

static void teardown(void)
{
    tk_p11_test_teardown(&env);
}

/* Logged out, no flags added. */
static int clean_token(void **state)
{
    set_flags(0);
    tk_p11_token_reset(env.t);
    return tk_test_raw_session_state(env.raw, tk_p11_token_slot(env.t)) == CKS_RW_PUBLIC_SESSION
           ? 0 : -1;
}

static int pin_reads;

static CK_RV counting_pin(void *arg, char *buf, size_t cap, size_t *len)
{
    pin_reads++;
    return tk_fixture_pin_from_file(arg, buf, cap, len);
}

/* With the token reporting flags, a login with the RIGHT PIN is refused unsent. */
static void assert_refused(CK_FLAGS flags, CK_RV want)
{
    TK_P11_PIN_GETTER pin = { counting_pin, (void *)tk_fixture_pin_file(&env.fx) };
    unsigned long logins = tk_p11_stat(TK_FN_C_Login), reached = shim_logins();

    set_flags(flags);
    assert_true(tk_test_live_token_flags(&env) & flags);
    pin_reads = 0;
    assert_int_equal(tk_p11_login(env.t, &pin), want);
    /* Nor through tk_p11_with_session's recovery from USER_NOT_LOGGED_IN. */
    assert_int_equal(tk_p11_with_session(env.t, &pin, tk_test_op_create_private, NULL), want);
    assert_int_equal(tk_p11_token_logged_in(env.t), 0);
    assert_int_equal(pin_reads, 0);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins);
    assert_int_equal(shim_logins(), reached);

    /* The same PIN works once the token no longer reports the state. */
    set_flags(0);
    assert_int_equal(tk_p11_login(env.t, &pin), CKR_OK);
    assert_int_equal(pin_reads, 1);
    assert_int_equal(shim_logins(), reached + 1);
}

static void test_locked_pin_refused(void **state)
{
    assert_refused(CKF_USER_PIN_LOCKED, CKR_PIN_LOCKED);
}

static void test_final_try_refused(void **state)
{
    assert_refused(CKF_USER_PIN_FINAL_TRY, TK_CKR_PIN_FINAL_TRY);
}

/* Locked wins over final try: the user needs the SO, not a careful retry. */
static void test_locked_and_final_try(void **state)
{
    assert_refused(CKF_USER_PIN_LOCKED | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_COUNT_LOW,
                   CKR_PIN_LOCKED);
}

/* COUNT_LOW alone (what SoftHSM2 shows after any failure) does not stop a login. */
static void test_count_low_allows_login(void **state)
{
    unsigned long reached = shim_logins();

    set_flags(CKF_USER_PIN_COUNT_LOW);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(shim_logins(), reached + 1);
    assert_int_equal(tk_p11_token_logged_in(env.t), 1);
}

/* The shim is only a window: SoftHSM2's own PIN check still decides. */
static void test_shim_keeps_real_pin_check(void **state)
{
    char wrong[] = "5555-not-the-pin";
    TK_P11_PIN_GETTER g = { tk_test_pin_literal, wrong };
    unsigned long reached = shim_logins();

    assert_int_equal(tk_p11_login(env.t, &g), CKR_PIN_INCORRECT);
    assert_int_equal(shim_logins(), reached + 1);
    assert_true(tk_test_live_token_flags(&env) & CKF_USER_PIN_COUNT_LOW);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_locked_pin_refused, clean_token),
        cmocka_unit_test_setup(test_final_try_refused, clean_token),
        cmocka_unit_test_setup(test_locked_and_final_try, clean_token),
        cmocka_unit_test_setup(test_count_low_allows_login, clean_token),
        cmocka_unit_test_setup(test_shim_keeps_real_pin_check, clean_token),
    };

    return tk_test_run("p11-pinlock", tests, TK_TEST_COUNT(tests), setup, teardown);
}
