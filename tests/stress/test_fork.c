/*
 * fork() in a process that uses the token, as a Kafka client that spawns
 * helpers does:
 *
 *   - a child of a parent that has signed signs too (its signatures
 *     verified with the default provider), after re-initialising the
 *     module (PKCS#11 v2.40 section 6.7.7), and exits 0 through exit();
 *     the parent keeps signing afterwards;
 *   - a child that never touches the token exits 0 through exit(): the
 *     exit handlers (tokenkey's, OpenSSL's, SoftHSM2's destructors) run in
 *     a process that inherited a loaded module, and none crashes;
 *   - 4 threads sign in a loop while the main thread forks 20 times
 *     (TK_STRESS_FORKS); each child signs once and _exit()s with its
 *     result: no deadlock (each child is bounded by TK_REL_CHILD_TIMEOUT,
 *     the whole test by alarm(), TK_STRESS_FORK_ALARM), every child exits
 *     0, the threads see no error;
 *   - a fork while a thread, mid-way through finding a key's object again
 *     after a token reset, holds that key's lock: the child signs with
 *     the key all the same;
 *   - a child that frees the keys and unloads the provider without using
 *     the token makes no module call: the sessions are the parent's;
 *   - the test program itself, run as a subprocess that does all of this
 *     and then returns from main() (with and without freeing what it
 *     used), exits 0: a crash at exit is a crash;
 *   - the test program, run as a subprocess in which two threads sign
 *     while the main thread calls exit(), exits 0, TK_STRESS_EXIT_RUNS
 *     times (20).
 */
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "p11/p11.h"
#include "rel_env.h"
#include "vg_check.h"
#include "runner.h"

static REL_ENV env;
static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *prov[2];
static EVP_PKEY *rsa, *ec, *rsa_pub, *ec_pub;

/*
 * One fresh signature with key, checked with the default provider. The
 * message is a counter, not RAND_bytes: OpenSSL 3.0's DRBG lock is not
 * fork-safe, and a child forked while another thread of ours held it
 * would hang in OpenSSL, not in tokenkey (signing threads of a real
 * client that use RAND outside the token have that problem with or
 * without tokenkey).
 */
static int sign_once(EVP_PKEY *key, EVP_PKEY *pub)
{
    static __thread unsigned long counter;
    unsigned char msg[130], sig[512];
    size_t siglen = 0;
    unsigned long n = ++counter;
    uintptr_t thread = (uintptr_t)&counter; /* differs per thread */
    pid_t pid = getpid();

    memset(msg, 0x5a, sizeof(msg));
    memcpy(msg, &n, sizeof(n));
    memcpy(msg + sizeof(n), &pid, sizeof(pid));
    memcpy(msg + sizeof(n) + sizeof(pid), &thread, sizeof(thread));
    if (!rel_sign(libctx, key, msg, sizeof(msg), sig, &siglen)) {
        ERR_print_errors_fp(stderr);
        return 0;
    }
    return rel_verify(pub, msg, sizeof(msg), sig, siglen);
}

/* Wait for a child at most TK_REL_CHILD_TIMEOUT seconds; 1 when it exited 0. */
static int child_ok(pid_t pid, const char *what)
{
    int status = rel_wait(pid, (int)rel_env_long("TK_REL_CHILD_TIMEOUT", 120));

    if (status == -1)
        fprintf(stderr, "%s: no exit in time: killed (deadlock?)\n", what);
    else if (WIFSIGNALED(status))
        fprintf(stderr, "%s: killed by signal %d\n", what, WTERMSIG(status));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fprintf(stderr, "%s: exit status %d\n", what, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    else
        return 1;
    return 0;
}

/* ---- a child signs; the parent goes on ---- */

static void test_child_signs(void **state)
{
    unsigned long inits = tk_p11_stat(TK_FN_C_Initialize);
    pid_t pid;

    assert_true(sign_once(ec, ec_pub));
    pid = rel_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        TK_VG vg;
        int ok;

        tk_vg_mark(&vg);
        ok = sign_once(ec, ec_pub) && sign_once(rsa, rsa_pub) && sign_once(ec, ec_pub);
        ok &= tk_vg_clean(&vg, "signing child");

        /* The child initialised the module again before its first call (PKCS#11 6.7.7). */
        if (tk_p11_stat(TK_FN_C_Initialize) <= inits) {
            fprintf(stderr, "the child signed without C_Initialize\n");
            ok = 0;
        }
        /* exit(), not _exit(): the exit handlers run in the child too. */
        exit(ok ? 0 : 1);
    }
    assert_true(child_ok(pid, "signing child"));
    /* The parent's sessions and login are its own: nothing to redo. */
    inits = tk_p11_stat(TK_FN_C_Initialize);
    assert_true(sign_once(ec, ec_pub));
    assert_true(sign_once(rsa, rsa_pub));
    assert_int_equal(tk_p11_stat(TK_FN_C_Initialize), inits);
}

/* ---- a child that never uses the token ---- */

static void test_child_without_token(void **state)
{
    pid_t pid = rel_fork();

    assert_true(pid >= 0);
    if (pid == 0)
        exit(0);
    assert_true(child_ok(pid, "child without the token"));
    assert_true(sign_once(ec, ec_pub));
}

/* ---- fork while threads sign ---- */

typedef struct {
    int stop;
    long signatures, errors;
} LOOP;

static void *sign_loop(void *arg)
{
    LOOP *l = arg;

    while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
        if (sign_once(ec, ec_pub))
            __atomic_fetch_add(&l->signatures, 1, __ATOMIC_RELAXED);
        else
            __atomic_fetch_add(&l->errors, 1, __ATOMIC_RELAXED);
    }
    OPENSSL_thread_stop();
    return NULL;
}

/*
 * n children forked while threads sign: each child signs once and
 * _exit()s with the result. Returns how many children failed.
 */
static int fork_while_signing(int n_threads, int n_forks, long *signatures, long *errors)
{
    pthread_t th[8];
    LOOP loop = { 0, 0, 0 };
    int failed = 0;

    for (int i = 0; i < n_threads; i++)
        if (pthread_create(&th[i], NULL, sign_loop, &loop) != 0)
            return -1;
    for (int i = 0; i < n_forks; i++) {
        long before = __atomic_load_n(&loop.signatures, __ATOMIC_RELAXED);
        pid_t pid;

        /* Fork while signatures are under way: wait for the threads to make progress. */
        while (__atomic_load_n(&loop.signatures, __ATOMIC_RELAXED) == before
               && __atomic_load_n(&loop.errors, __ATOMIC_RELAXED) == 0) {
            struct timespec tick = { 0, 1000 * 1000 };

            nanosleep(&tick, NULL);
        }
        pid = rel_fork();
        if (pid == 0) {
            TK_VG vg;
            int ok;

            tk_vg_mark(&vg);
            ok = sign_once(ec, ec_pub);
            _exit(ok && tk_vg_clean(&vg, "child forked while signing") ? 0 : 1);
        }
        /* The first failure is enough: the next children would wait out their time too. */
        if (pid < 0 || !child_ok(pid, "child forked while signing")) {
            failed++;
            break;
        }
    }
    __atomic_store_n(&loop.stop, 1, __ATOMIC_RELEASE);
    for (int i = 0; i < n_threads; i++)
        pthread_join(th[i], NULL);
    *signatures = loop.signatures;
    *errors = loop.errors;
    return failed;
}

static void test_fork_while_signing(void **state)
{
    long signatures = 0, errors = 0;
    int failed;

    /* The whole test is bounded: a deadlock in the parent ends it with SIGALRM. */
    alarm((unsigned)rel_env_long("TK_STRESS_FORK_ALARM", 300));
    failed = fork_while_signing(4, (int)rel_env_long("TK_STRESS_FORKS", 20), &signatures, &errors);
    alarm(0);
    assert_int_equal(failed, 0);
    assert_int_equal(errors, 0);
    assert_true(signatures >= 20);
    print_message("20 children forked during %ld signatures in 4 threads\n", signatures);
    assert_true(sign_once(ec, ec_pub));
}

/* ---- a child that frees what it inherited ---- */

/*
 * A child that frees the keys and unloads the provider without having
 * used the token: the sessions and session copies it would close are the
 * parent's (with a module whose sessions live in a daemon or on a card,
 * closing them would close the parent's), so it makes no module call.
 */
static void test_child_frees_inherited(void **state)
{
    pid_t pid;

    assert_true(sign_once(ec, ec_pub));
    assert_true(sign_once(rsa, rsa_pub));
    pid = rel_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static const TK_P11_FN fns[] = { TK_FN_C_CloseSession, TK_FN_C_DestroyObject,
                                         TK_FN_C_Finalize, TK_FN_C_Logout };
        unsigned long before[4];
        int ok = 1;

        for (int i = 0; i < 4; i++)
            before[i] = tk_p11_stat(fns[i]);
        EVP_PKEY_free(ec);
        EVP_PKEY_free(rsa);
        rel_libctx_free(libctx, prov);
        for (int i = 0; i < 4; i++)
            if (tk_p11_stat(fns[i]) != before[i]) {
                fprintf(stderr, "the child made %lu call(s) to %s with the parent's handles\n",
                        tk_p11_stat(fns[i]) - before[i], tk_p11_fn_name(fns[i]));
                ok = 0;
            }
        _exit(ok ? 0 : 1);
    }
    assert_true(child_ok(pid, "child freeing what it inherited"));
    /* The parent's sessions and copies are intact: no new session, no new copy. */
    {
        unsigned long opens = tk_p11_stat(TK_FN_C_OpenSession);
        unsigned long copies = tk_p11_stat(TK_FN_C_CopyObject);

        assert_true(sign_once(ec, ec_pub));
        assert_true(sign_once(rsa, rsa_pub));
        assert_int_equal(tk_p11_stat(TK_FN_C_OpenSession), opens);
        assert_int_equal(tk_p11_stat(TK_FN_C_CopyObject), copies);
    }
}

/* ---- fork while a thread holds the key's own lock ---- */

static void *sign_in_thread(void *arg)
{
    int *ok = arg;

    *ok = sign_once(ec, ec_pub);
    OPENSSL_thread_stop();
    return NULL;
}

/*
 * After a token reset a key finds its object again, under its own lock,
 * in several module calls. A fork between two of them (fork waits at the
 * gate for the call in flight; the thread then waits at the gate for its
 * next call, still holding the key's lock) gives the child a key whose
 * lock is held by a thread that is not there: the child's first signature
 * with that key must not wait for it.
 */
static void test_fork_while_key_locked(void **state)
{
    unsigned long finds = env.calls("C_FindObjectsInit");
    int thread_ok = 0;
    pthread_t th;
    pid_t pid;

    assert_true(sign_once(ec, ec_pub));
    /* The thread's C_SignInit finds the sessions gone; the key's search then takes a second. */
    assert_int_equal(env.set("C_SignInit=reset@1,C_FindObjectsInit=delay:1000@1"), 0);
    assert_int_equal(pthread_create(&th, NULL, sign_in_thread, &thread_ok), 0);
    while (env.calls("C_FindObjectsInit") == finds) {
        struct timespec tick = { 0, 1000 * 1000 };

        nanosleep(&tick, NULL);
    }
    pid = rel_fork();
    if (pid == 0) {
        int ok = sign_once(ec, ec_pub) && sign_once(ec, ec_pub);

        _exit(ok ? 0 : 1);
    }
    assert_true(pid > 0);
    pthread_join(th, NULL);
    assert_int_equal(env.set(""), 0);
    assert_true(child_ok(pid, "child forked while a key was locked"));
    assert_true(thread_ok);
    assert_true(sign_once(ec, ec_pub));
}

/* ---- the program itself exits normally after all this ---- */

static int load_from_environment(void)
{
    const char *serial = getenv("TOKENKEY_TEST_SERIAL"), *dir = getenv("TOKENKEY_TEST_DIR");
    char uri[512], path[1024];
    FILE *f;

    if (serial == NULL || dir == NULL || (libctx = rel_libctx_new(prov)) == NULL)
        return -1;
    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;object=ec;type=private", serial);
    ec = tk_test_load_private(libctx, uri);
    snprintf(path, sizeof(path), "%s/ec.pub.pem", dir);
    if ((f = fopen(path, "r")) != NULL) {
        ec_pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        fclose(f);
    }
    return ec != NULL && ec_pub != NULL ? 0 : -1;
}

/* argv[1] = "exit-scenario" or "exit-scenario-clean": run by test_program_exits. */
static int exit_scenario(int clean)
{
    long signatures = 0, errors = 0;
    pid_t pid;

    if (load_from_environment() != 0 || !sign_once(ec, ec_pub)) {
        fprintf(stderr, "exit scenario: cannot sign\n");
        ERR_print_errors_fp(stderr);
        return 2;
    }
    if (fork_while_signing(2, 3, &signatures, &errors) != 0 || errors != 0)
        return 3;
    pid = rel_fork();
    if (pid == 0)
        exit(0);
    if (!child_ok(pid, "child without the token") || !sign_once(ec, ec_pub))
        return 4;
    if (clean) {
        EVP_PKEY_free(ec);
        EVP_PKEY_free(ec_pub);
        rel_libctx_free(libctx, prov);
    }
    /* Return from main: the exit handlers run with the module loaded (or unloaded). */
    return 0;
}

/* A signature with key whose errors are dropped, not printed. */
static int sign_quietly(EVP_PKEY *key)
{
    unsigned char msg[32] = "exit while signing", sig[512];
    size_t siglen = 0;
    int ok = rel_sign(libctx, key, msg, sizeof(msg), sig, &siglen);

    ERR_clear_error();
    return ok;
}

/* exit-while-signing's threads: sign until a signature is refused, then wait for the end. */
static void *sign_until_refused(void *arg)
{
    LOOP *l = arg;

    while (sign_quietly(ec))
        __atomic_fetch_add(&l->signatures, 1, __ATOMIC_RELAXED);
    for (;;)
        pause(); /* the process is exiting: exit() ends this thread */
    return NULL;
}

/*
 * argv[1] = "exit-while-signing": two threads sign while the main thread
 * calls exit(), as a client does that exits without stopping its threads.
 * The module's teardown (SoftHSM2's static destructors) runs among the
 * exit handlers; a thread inside a module call then crashed the process.
 *
 * OpenSSL's own exit handler is left out (OPENSSL_INIT_NO_ATEXIT): it
 * frees what the threads still use, a race of every OpenSSL application
 * that exits with threads running, tokenkey or not (ThreadSanitizer
 * reports it), and not the one under test.
 */
static int exit_while_signing(void)
{
    static LOOP loop;
    pthread_t th[2];

    if (OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL) != 1
        || load_from_environment() != 0 || !sign_once(ec, ec_pub))
        return 2;
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, sign_until_refused, &loop) != 0)
            return 3;
    /* Exit while the signatures are under way. */
    while (__atomic_load_n(&loop.signatures, __ATOMIC_RELAXED) < 20) {
        struct timespec tick = { 0, 1000 * 1000 };

        nanosleep(&tick, NULL);
    }
    exit(0);
}

/* This program's path: argv[0] (under valgrind /proc/self/exe is valgrind's tool). */
static const char *self_path = "/proc/self/exe";

static void run_self(const char *scenario)
{
    pid_t pid = rel_fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        execl(self_path, self_path, scenario, (char *)NULL);
        _exit(127);
    }
    if (!child_ok(pid, scenario))
        fail_msg("the program running '%s' did not exit 0", scenario);
}

static void test_program_exits(void **state)
{
    run_self("exit-scenario");
    run_self("exit-scenario-clean");
}

/* exit() while threads sign, TK_STRESS_EXIT_RUNS times (a crash there is a matter of timing). */
static void test_exit_while_signing(void **state)
{
    long runs = rel_env_long("TK_STRESS_EXIT_RUNS", 20);

    for (long i = 0; i < runs; i++)
        run_self("exit-while-signing");
    print_message("%ld processes exited while two threads signed\n", runs);
}

static int setup(void)
{
    if (rel_env_setup(&env, "stress-fork") != 0)
        return -1;
    rsa_pub = env.rsa_pub;
    ec_pub = env.ec_pub;
    return rel_open_keys(&env, &libctx, prov, &rsa, &ec);
}

static void teardown(void)
{
    rel_close_keys(libctx, prov, rsa, ec);
    rel_env_teardown(&env);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_child_signs),
        cmocka_unit_test(test_child_without_token),
        cmocka_unit_test(test_fork_while_signing),
        cmocka_unit_test(test_fork_while_key_locked),
        cmocka_unit_test(test_child_frees_inherited),
        cmocka_unit_test(test_program_exits),
        cmocka_unit_test(test_exit_while_signing),
    };

    if (argc > 0 && strchr(argv[0], '/') != NULL)
        self_path = argv[0];
    if (argc > 1 && strcmp(argv[1], "exit-scenario") == 0)
        return exit_scenario(0);
    if (argc > 1 && strcmp(argv[1], "exit-while-signing") == 0)
        return exit_while_signing();
    if (argc > 1 && strcmp(argv[1], "exit-scenario-clean") == 0)
        return exit_scenario(1);
    return tk_test_run("stress-fork", tests, TK_TEST_COUNT(tests), setup, teardown);
}
