/*
 * The salt of the rejected-PIN hashes when OpenSSL has no random
 * generator (RAND_bytes fails: an application whose default library
 * context has none). Linked with -Wl,--wrap for RAND_bytes and getrandom,
 * which replaces them for the layer's code in this executable only, not
 * for SoftHSM2:
 *   - built with TK_SALT_KERNEL, getrandom works: the kernel's generator
 *     gives the salt, and a rejected PIN is still never resent;
 *   - without it, getrandom fails too: no login is attempted at all
 *     (TK_CKR_NO_RANDOM), nor is the PIN asked for.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "p11_test.h"

int __wrap_RAND_bytes(unsigned char *buf, int num);
ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags);
ssize_t __real_getrandom(void *buf, size_t len, unsigned int flags);

static int rand_calls, getrandom_calls;

int __wrap_RAND_bytes(unsigned char *buf, int num)
{
    rand_calls++;
    return 0;
}

ssize_t __wrap_getrandom(void *buf, size_t len, unsigned int flags)
{
    getrandom_calls++;
#ifdef TK_SALT_KERNEL
    return __real_getrandom(buf, len, flags);
#else
    errno = ENOSYS;
    return -1;
#endif
}

static TK_P11_TEST env;

static int setup(void)
{
    return tk_p11_test_setup(&env, "tokenkey-salt", NULL);
}

static void teardown(void)
{
    tk_p11_test_teardown(&env);
}

#ifdef TK_SALT_KERNEL
static void test_kernel_salt(void **state)
{
    char wrong[] = "5151-not-the-pin";
    TK_P11_PIN_GETTER bad = { tk_test_pin_literal, wrong };
    unsigned long logins = tk_p11_stat(TK_FN_C_Login);

    assert_int_equal(tk_p11_login(env.t, &bad), CKR_PIN_INCORRECT);
    assert_true(rand_calls >= 1);
    assert_int_equal(getrandom_calls, 1);
    /* The salt works: the same wrong PIN is known again and not sent. */
    assert_int_equal(tk_p11_login(env.t, &bad), TK_CKR_PIN_NOT_RETRIED);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(getrandom_calls, 1); /* once per process */
}
#else
static void test_no_salt_no_login(void **state)
{
    TK_TEST_COUNTING_PIN c = { env.pin, 0 };
    TK_P11_PIN_GETTER g = { tk_test_pin_counting, &c };
    unsigned long logins = tk_p11_stat(TK_FN_C_Login);

    assert_int_equal(tk_p11_login(env.t, &g), TK_CKR_NO_RANDOM);
    assert_true(rand_calls >= 1);
    assert_true(getrandom_calls >= 1);
    assert_int_equal(c.calls, 0);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins);
    assert_int_equal(tk_p11_token_logged_in(env.t), 0);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifdef TK_SALT_KERNEL
        cmocka_unit_test(test_kernel_salt),
#else
        cmocka_unit_test(test_no_salt_no_login),
#endif
    };

    return tk_test_run("p11-salt", tests, TK_TEST_COUNT(tests), setup, teardown);
}
