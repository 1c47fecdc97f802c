/*
 * A module that forks inside a call: p11-kit's remote modules
 * ("remote: |command") start their helper process in C_Initialize. The
 * layer holds its registry lock across C_Initialize and counts the call in
 * flight, so fork handlers that took the locks and waited for the calls to
 * drain would wait for the forking thread itself, for ever. tk-tokenshim
 * plays such a module (TK_TOKENSHIM_FORK_IN_INITIALIZE, tokenshim.h); the
 * module must open, sign, and be used again in a child process of ours,
 * where it is initialised again and forks again.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "p11_test.h"
#include "vg_check.h"

static TK_P11_TEST env;

static int setup(void)
{
    memset(&env, 0, sizeof(env));
    return tk_fixture_setup(&env.fx, "tokenkey-forkinit");
}

static void teardown(void)
{
    tk_fixture_teardown(&env.fx);
}

/* In a child: open the shim, which forks in C_Initialize; sign; fork; use it there. */
static int open_and_use(const char *shim)
{
    int status = 0;
    pid_t pid;
    TK_VG vg;

    tk_vg_mark(&vg);
    if (setenv("TK_TOKENSHIM_FORK_IN_INITIALIZE", "1", 1) != 0 || tk_p11_test_open(&env, shim) != 0)
        return 2;
    if (tk_p11_login(env.t, &env.pin) != CKR_OK
        || tk_p11_with_session(env.t, &env.pin, tk_test_op_random, NULL) != CKR_OK)
        return 3;
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        TK_VG child_vg;

        tk_vg_mark(&child_vg);
        if (tk_p11_with_session(env.t, &env.pin, tk_test_op_random, NULL) != CKR_OK)
            _exit(4);
        _exit(tk_vg_clean(&child_vg, "grandchild") ? 0 : 7);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return 5;
    if (WEXITSTATUS(status) != 0)
        return WEXITSTATUS(status);
    tk_p11_module_close(env.m);
    return tk_vg_clean(&vg, "child") ? 0 : 6;
}

static void test_module_that_forks_in_initialize(void **state)
{
    const char *shim = tk_test_tokenshim();
    int status = 0;
    pid_t pid, done = 0;

    assert_non_null(shim);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(open_and_use(shim));
    /* Generous: under valgrind SoftHSM2 starts three times (parent, child, grandchild). */
    for (int i = 0; i < 1200 && done == 0; i++) {
        done = waitpid(pid, &status, WNOHANG);
        if (done == 0)
            nanosleep(&(struct timespec){ 0, 50 * 1000 * 1000 }, NULL);
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("a module that forks in C_Initialize: no answer in 60 s (deadlock)");
    }
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("a module that forks in C_Initialize: step %d failed", WEXITSTATUS(status));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_module_that_forks_in_initialize),
    };

    return tk_test_run("p11-forkinit", tests, TK_TEST_COUNT(tests), setup, teardown);
}
