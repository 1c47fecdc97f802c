/*
 * Login through the PKCS#11 layer against a fresh SoftHSM2 token: the
 * right PIN once, a wrong PIN never twice, and what the token itself
 * reports afterwards (read both through the layer and by OpenSC's
 * pkcs11-tool, a separate process reading SoftHSM2's files).
 *
 * Run with "known-bugs" as argument for the cases the layer gets wrong
 * today (meson expects that run to fail; see tests/p11/meson.build).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "p11_test.h"
#include "vg_check.h"
#include "token_keygen.h"

static TK_P11_TEST env;

static int setup(void)
{
    return tk_p11_test_setup(&env, "tokenkey-login", NULL);
}

static void teardown(void)
{
    tk_p11_test_teardown(&env);
}

/*
 * Each test starts logged out: closing every session of ours logs the
 * application out (PKCS#11 v2.40 section 5.6); check it with the module.
 */
static int logged_out(void **state)
{
    tk_p11_token_reset(env.t);
    if (tk_p11_token_logged_in(env.t) != 0
        || tk_test_raw_session_state(env.raw, tk_p11_token_slot(env.t)) != CKS_RW_PUBLIC_SESSION) {
        fprintf(stderr, "test: could not log out before the test\n");
        return -1;
    }
    return 0;
}

/* ---- PIN getters ---- */

static TK_P11_PIN_GETTER wrong_pin(const char *pin)
{
    TK_P11_PIN_GETTER g = { tk_test_pin_literal, (void *)pin };

    return g;
}

/*
 * Another library in the process logged the application in through the
 * same module (login state is the application's): the layer needs no PIN,
 * and asks for none.
 */
static void test_logged_in_by_another_library(void **state)
{
    TK_P11_PIN_GETTER none = { NULL, NULL };
    CK_SESSION_HANDLE h;
    char pin[64];
    size_t len = 0;

    (void)state;
    assert_int_equal(env.pin.get(env.pin.arg, pin, sizeof(pin), &len), CKR_OK);
    assert_int_equal(env.raw->C_OpenSession(tk_p11_token_slot(env.t), CKF_SERIAL_SESSION, NULL,
                                            NULL, &h), CKR_OK);
    assert_int_equal(env.raw->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, (CK_ULONG)len), CKR_OK);
    OPENSSL_cleanse(pin, sizeof(pin));
    assert_int_equal(tk_p11_login(env.t, &none), CKR_OK);
    assert_int_equal(tk_p11_token_logged_in(env.t), 1);
    assert_int_equal(env.raw->C_CloseSession(h), CKR_OK);
}

/* The token-flags line pkcs11-tool prints for our token. */
static char *pkcs11_tool_flags(void)
{
    char tool[] = "pkcs11-tool", module[] = "--module", list[] = "--list-token-slots";
    char *argv[] = { tool, module, (char *)tk_fixture_module(&env.fx), list, NULL };
    char want[64], *out, *p, *flags = NULL;
    int status;

    out = tk_test_run_capture(argv, &status);
    assert_non_null(out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("pkcs11-tool failed (status 0x%x):\n%s", (unsigned)status, out);
    snprintf(want, sizeof(want), "token label        : %s\n", tk_fixture_token(&env.fx));
    p = strstr(out, want);
    if (p != NULL)
        p = strstr(p, "token flags");
    if (p == NULL)
        fail_msg("pkcs11-tool shows no flags for token '%s':\n%s", tk_fixture_token(&env.fx), out);
    flags = strndup(p, strcspn(p, "\n"));
    free(out);
    return flags;
}

/* ---- tests ---- */

static void test_login_right_pin(void **state)
{
    unsigned long logins = tk_p11_stat(TK_FN_C_Login);
    TK_TEST_COUNTING_PIN c = { env.pin, 0 };
    TK_P11_PIN_GETTER g = { tk_test_pin_counting, &c };

    assert_int_equal(tk_p11_token_logged_in(env.t), 0);
    assert_int_equal(tk_p11_login(env.t, &g), CKR_OK);
    assert_int_equal(tk_p11_token_logged_in(env.t), 1);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);
    /* The module agrees. */
    assert_int_equal(tk_test_raw_session_state(env.raw, tk_p11_token_slot(env.t)),
                     CKS_RW_USER_FUNCTIONS);
    /* Already logged in: no C_Login, and the PIN is not even read. */
    assert_int_equal(tk_p11_login(env.t, &g), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);
    assert_int_equal(c.calls, 1);
    /* Nor does an op that needs the login. */
    assert_int_equal(tk_p11_with_session(env.t, &g, tk_test_op_create_private, NULL), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);
}

static void test_wrong_pin_not_retried(void **state)
{
    unsigned long logins = tk_p11_stat(TK_FN_C_Login);
    TK_P11_PIN_GETTER wrong = wrong_pin("0000-not-the-pin");
    char *flags;

    /* Before: a clean token, as both the layer and pkcs11-tool see it. */
    assert_int_equal(tk_test_live_token_flags(&env) & CKF_USER_PIN_COUNT_LOW, 0);
    flags = pkcs11_tool_flags();
    assert_null(strstr(flags, "count low"));
    free(flags);

    assert_int_equal(tk_p11_login(env.t, &wrong), CKR_PIN_INCORRECT);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);
    assert_int_equal(tk_p11_token_logged_in(env.t), 0);

    /* The same PIN again: refused by the layer, never sent. */
    assert_int_equal(tk_p11_login(env.t, &wrong), TK_CKR_PIN_NOT_RETRIED);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);
    /* Nor through the recovery path of tk_p11_with_session. */
    assert_int_equal(tk_p11_with_session(env.t, &wrong, tk_test_op_create_private, NULL),
                     TK_CKR_PIN_NOT_RETRIED);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);

    /*
     * The token counted a failure. PKCS#11 exposes no count, only flags:
     * SoftHSM2 sets COUNT_LOW on any failure and never FINAL_TRY/LOCKED.
     */
    {
        CK_FLAGS f = tk_test_live_token_flags(&env);

        assert_true(f & CKF_USER_PIN_COUNT_LOW);
        assert_false(f & (CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED));
    }
    flags = pkcs11_tool_flags();
    if (strstr(flags, "user PIN count low") == NULL)
        fail_msg("pkcs11-tool: %s", flags);
    assert_null(strstr(flags, "final try"));
    assert_null(strstr(flags, "locked"));
    free(flags);

    /* The token is not locked: the right PIN works, and resets the token's count. */
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 2);
    assert_int_equal(tk_p11_token_logged_in(env.t), 1);
    assert_int_equal(tk_test_live_token_flags(&env) & CKF_USER_PIN_COUNT_LOW, 0);
    flags = pkcs11_tool_flags();
    assert_null(strstr(flags, "count low"));
    free(flags);
}

/* Only the PIN that failed is refused: a different one is the user's new attempt. */
static void test_other_wrong_pin_sent_once(void **state)
{
    unsigned long logins = tk_p11_stat(TK_FN_C_Login);
    TK_P11_PIN_GETTER a = wrong_pin("1111-not-the-pin"), b = wrong_pin("2222-not-the-pin");

    assert_int_equal(tk_p11_login(env.t, &a), CKR_PIN_INCORRECT);
    assert_int_equal(tk_p11_login(env.t, &b), CKR_PIN_INCORRECT);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 2);
    assert_int_equal(tk_p11_login(env.t, &b), TK_CKR_PIN_NOT_RETRIED);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 2);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
}

/*
 * Two keys on one token, two PIN sources, one of them stale: the good
 * one's logins do not make the rejected PIN sendable again. Before, any
 * good login forgot every rejected PIN, and the stale one was sent again
 * after each, one failure counted by the token every time.
 */
static void test_rejected_pin_stays_refused(void **state)
{
    unsigned long logins = tk_p11_stat(TK_FN_C_Login);
    TK_P11_PIN_GETTER stale = wrong_pin("6666-not-the-pin");

    assert_int_equal(tk_p11_login(env.t, &stale), CKR_PIN_INCORRECT);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 2);
    /* Logged out again (the sessions closed), as a token reset does. */
    tk_p11_token_reset(env.t);
    assert_int_equal(tk_p11_token_logged_in(env.t), 0);
    assert_int_equal(tk_p11_login(env.t, &stale), TK_CKR_PIN_NOT_RETRIED);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 2);
    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 3);
}

/* ---- concurrent callers log in once ---- */

#define THREADS 8

typedef struct {
    pthread_barrier_t *go;
    const TK_P11_PIN_GETTER *pin;
    CK_RV rv;
} LOGIN_ARG;

static void *login_thread(void *p)
{
    LOGIN_ARG *a = p;

    pthread_barrier_wait(a->go);
    a->rv = tk_p11_login(env.t, a->pin);
    return NULL;
}

static void test_concurrent_login_once(void **state)
{
    unsigned long logins = tk_p11_stat(TK_FN_C_Login);
    TK_TEST_COUNTING_PIN c = { env.pin, 0 };
    TK_P11_PIN_GETTER g = { tk_test_pin_counting, &c };
    pthread_barrier_t go;
    pthread_t th[THREADS];
    LOGIN_ARG args[THREADS];

    assert_int_equal(pthread_barrier_init(&go, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (LOGIN_ARG){ &go, &g, CKR_GENERAL_ERROR };
        assert_int_equal(pthread_create(&th[i], NULL, login_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(args[i].rv, CKR_OK);
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);
    assert_int_equal(c.calls, 1);
    assert_int_equal(tk_p11_token_logged_in(env.t), 1);
}

/*
 * Threads signing with a CKA_ALWAYS_AUTHENTICATE key each make a
 * context-specific login. When the PIN source gives a wrong PIN (a rotated
 * file), the first one the token rejects must be the only one sent: the
 * others were read before the rejection was known, and sending them too
 * would lock a card that allows three tries.
 */
typedef struct {
    pthread_barrier_t *go;
    const TK_P11_PIN_GETTER *pin;
    CK_OBJECT_HANDLE key;
    CK_RV rv;
} CONTEXT_ARG;

/* A wrong PIN read slowly: every thread holds it before any sends it. */
static CK_RV slow_wrong_pin(void *arg, char *buf, size_t cap, size_t *len)
{
    nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
    return tk_test_pin_literal(arg, buf, cap, len);
}

static void *context_login_thread(void *p)
{
    CONTEXT_ARG *a = p;
    CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
    TK_P11_SESSION s;

    a->rv = tk_p11_session_get(env.t, &s);
    if (a->rv == CKR_OK)
        a->rv = env.raw->C_SignInit(s.handle, &ecdsa, a->key);
    pthread_barrier_wait(a->go);
    if (a->rv == CKR_OK)
        a->rv = tk_p11_login_context(&s, a->pin);
    /* Not pooled: its signing operation is still active. */
    tk_p11_session_put(&s, CKR_OPERATION_ACTIVE);
    return NULL;
}

static void test_concurrent_context_logins_send_wrong_pin_once(void **state)
{
    static const unsigned char id[] = { 0xc7, 0x01 };
    TK_P11_PIN_GETTER wrong = { slow_wrong_pin, (void *)"5555-not-the-pin" };
    CK_OBJECT_HANDLE pub, priv;
    TK_P11_SESSION s;
    pthread_barrier_t go;
    pthread_t th[THREADS];
    CONTEXT_ARG args[THREADS];
    unsigned long logins;
    int rejected = 0, refused = 0;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    assert_int_equal(tk_test_keygen_flags(&s, TK_TEST_P256, TK_TEST_ALWAYS_AUTHENTICATE,
                                          "always-auth", id, sizeof(id), &pub, &priv),
                     CKR_OK);
    tk_p11_session_put(&s, CKR_OK);

    logins = tk_p11_stat(TK_FN_C_Login);
    assert_int_equal(pthread_barrier_init(&go, NULL, THREADS), 0);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (CONTEXT_ARG){ &go, &wrong, priv, CKR_GENERAL_ERROR };
        assert_int_equal(pthread_create(&th[i], NULL, context_login_thread, &args[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        if (args[i].rv == CKR_PIN_INCORRECT)
            rejected++;
        else if (args[i].rv == TK_CKR_PIN_NOT_RETRIED)
            refused++;
        else
            fail_msg("thread %d: rv 0x%lx", i, (unsigned long)args[i].rv);
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(rejected, 1);
    assert_int_equal(refused, THREADS - 1);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 1);
}

/* ---- bugs fixed since: each test failed before its fix ---- */

/*
 * p11.h: the layer "never resends a PIN the token already rejected". It
 * remembered only the last rejected PIN, so two wrong PIN sources used in
 * turn (two keys' pin-source files, say) were each sent again and again
 * until the token locked.
 */
static void test_alternating_wrong_pins_not_resent(void **state)
{
    unsigned long logins = tk_p11_stat(TK_FN_C_Login);
    TK_P11_PIN_GETTER a = wrong_pin("3333-not-the-pin"), b = wrong_pin("4444-not-the-pin");

    assert_int_equal(tk_p11_login(env.t, &a), CKR_PIN_INCORRECT);
    assert_int_equal(tk_p11_login(env.t, &b), CKR_PIN_INCORRECT);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 2);
    assert_int_equal(tk_p11_login(env.t, &a), TK_CKR_PIN_NOT_RETRIED);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins + 2);
}

/*
 * A PIN getter that runs a helper process (a pinentry, an askpass): it
 * forks. The layer holds the token's login_lock across the getter, and its
 * pthread_atfork prepare handler (p11_module.c fork_prepare) locks every
 * token's login_lock: the getter's fork() deadlocks on a mutex its own
 * thread holds. Run in a child process so the deadlock can be seen and
 * killed.
 */
static CK_RV forking_pin(void *arg, char *buf, size_t cap, size_t *len)
{
    int fds[2], status;
    ssize_t got;
    pid_t pid;

    if (pipe(fds) != 0)
        return TK_CKR_PIN_UNAVAILABLE;
    pid = fork();
    if (pid == 0) {
        char pin[256];
        size_t n = 0;

        close(fds[0]);
        if (tk_fixture_pin_from_file(arg, pin, sizeof(pin), &n) == CKR_OK)
            (void)!write(fds[1], pin, n);
        _exit(0);
    }
    close(fds[1]);
    got = pid > 0 ? read(fds[0], buf, cap) : -1;
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (got <= 0)
        return TK_CKR_PIN_UNAVAILABLE;
    *len = (size_t)got;
    return CKR_OK;
}

static void test_pin_getter_may_fork(void **state)
{
    TK_P11_PIN_GETTER g = { forking_pin, (void *)tk_fixture_pin_file(&env.fx) };
    int status = 0;
    pid_t pid, done = 0;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        TK_VG vg;
        int ok;

        tk_vg_mark(&vg);
        ok = tk_p11_login(env.t, &g) == CKR_OK && tk_p11_token_logged_in(env.t);
        _exit(!ok ? 2 : tk_vg_clean(&vg, "forked child") ? 0 : 3);
    }
    /* A hang detector only, generous for valgrind: a deadlock never returns. */
    for (int i = 0; i < 600 && done == 0; i++) {
        struct timespec tick = { 0, 100 * 1000 * 1000 };

        done = waitpid(pid, &status, WNOHANG);
        if (done == 0)
            nanosleep(&tick, NULL);
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("tk_p11_login with a PIN getter that forks did not return in 60 s (deadlock)");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_login_right_pin, logged_out),
        cmocka_unit_test_setup(test_logged_in_by_another_library, logged_out),
        cmocka_unit_test_setup(test_wrong_pin_not_retried, logged_out),
        cmocka_unit_test_setup(test_rejected_pin_stays_refused, logged_out),
        cmocka_unit_test_setup(test_other_wrong_pin_sent_once, logged_out),
        cmocka_unit_test_setup(test_concurrent_login_once, logged_out),
        cmocka_unit_test_setup(test_concurrent_context_logins_send_wrong_pin_once, logged_out),
        cmocka_unit_test_setup(test_alternating_wrong_pins_not_resent, logged_out),
        cmocka_unit_test_setup(test_pin_getter_may_fork, logged_out),
    };

    return tk_test_run("p11-login", tests, TK_TEST_COUNT(tests), setup, teardown);
}
