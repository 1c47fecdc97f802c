/*
 * The login lost while the sessions stay: another library in the process
 * calls C_Logout (the login is the application's), or a token lets a
 * login lapse. PKCS#11 v2.40 section 5.6 (C_Logout): the private objects'
 * handles go invalid, the private session objects - tokenkey's session copy
 * of a key - are destroyed, and a search no longer sees private keys. The
 * next signature must log in again (one PIN) and sign, not report the key
 * gone from the token. tk-tokenshim counts the C_Login calls.
 */
#include <stdio.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "p11_keyed.h"
#include "tokenshim.h"

#define LABEL "logout-key"

static TK_P11_TEST env;
static TK_P11_TEST_PROVIDER prov;
static tk_tokenshim_logins_fn *logins;

static int setup(void)
{
    static const unsigned char id[] = { 0x10, 0x90 };
    const char *shim = tk_test_tokenshim();

    if (shim == NULL || tk_p11_test_setup_keyed(&env, &prov, "tokenkey-logout", shim,
                                                TK_TEST_P256, LABEL, id, sizeof(id)) != 0)
        return -1;
    *(void **)&logins = tk_test_loaded_symbol(shim, "tk_tokenshim_logins");
    return logins != NULL ? 0 : -1;
}

static void teardown(void)
{
    tk_p11_test_provider_unload(&prov);
    tk_p11_test_teardown(&env);
}

/* C_Logout as another library would make it: on a session of its own, through the module. */
static void log_out_elsewhere(void)
{
    CK_SESSION_HANDLE h;

    assert_int_equal(env.raw->C_OpenSession(tk_p11_token_slot(env.t), CKF_SERIAL_SESSION, NULL,
                                            NULL, &h), CKR_OK);
    assert_int_equal(env.raw->C_Logout(h), CKR_OK);
    assert_int_equal(env.raw->C_CloseSession(h), CKR_OK);
}

static void sign_or_fail(EVP_PKEY *key, const char *when)
{
    ERR_clear_error();
    if (tk_p11_test_provider_sign(&prov, key) != 1) {
        ERR_print_errors_fp(stderr);
        fail_msg("no signature %s", when);
    }
}

static void test_signs_again_after_a_logout_elsewhere(void **state)
{
    EVP_PKEY *key = tk_p11_test_load_labelled(&env, &prov, LABEL);
    unsigned long before;

    (void)state;
    assert_non_null(key);
    sign_or_fail(key, "before the logout"); /* the session copy is made */

    for (int round = 1; round <= 2; round++) {
        before = logins();
        log_out_elsewhere();
        sign_or_fail(key, "after another library's C_Logout");
        /* One PIN, no more: the login is made again once, then the key found and copied again. */
        assert_int_equal(logins() - before, 1);
        before = logins();
        sign_or_fail(key, "after the login was made again");
        assert_int_equal(logins() - before, 0);
    }
    EVP_PKEY_free(key);
}

/*
 * A freed key destroys its session copy; but a copy the logout destroyed
 * is not destroyed again by its number, which a module that reuses handle
 * numbers may have given to another object (a token key) since.
 */
static void test_copy_gone_with_the_logout_is_not_destroyed_by_number(void **state)
{
    EVP_PKEY *key = tk_p11_test_load_labelled(&env, &prov, LABEL);
    unsigned long destroys;

    (void)state;
    assert_non_null(key);
    sign_or_fail(key, "with a fresh key (its copy is made)");
    destroys = tk_p11_stat(TK_FN_C_DestroyObject);
    EVP_PKEY_free(key);
    assert_int_equal(tk_p11_stat(TK_FN_C_DestroyObject) - destroys, 1); /* the control */

    key = tk_p11_test_load_labelled(&env, &prov, LABEL);
    assert_non_null(key);
    sign_or_fail(key, "with a fresh key (its copy is made)");
    log_out_elsewhere();
    destroys = tk_p11_stat(TK_FN_C_DestroyObject);
    EVP_PKEY_free(key);
    assert_int_equal(tk_p11_stat(TK_FN_C_DestroyObject) - destroys, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_signs_again_after_a_logout_elsewhere),
        cmocka_unit_test(test_copy_gone_with_the_logout_is_not_destroyed_by_number),
    };

    return tk_test_run("p11-logout", tests, TK_TEST_COUNT(tests), setup, teardown);
}
