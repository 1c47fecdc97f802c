/*
 * The fault sweep: every PKCS#11 function tokenkey calls, times the errors
 * a token really returns, injected by tk-faultmod on the first call of
 * that function during each of six operations:
 *
 *   load     OSSL_STORE load of the RSA key in a process that never used
 *            the token (module load, slots, login, search, attributes)
 *   sign     EVP_DigestSign with the loaded key (fresh init, like libssl)
 *   tls      a TLS 1.3 handshake whose client key (EC) is on the token
 *   relogin  a signature after the token closed every session (a reset
 *            seen by the application: sessions and login are gone)
 *   removal  a signature whose C_SignInit says CKR_DEVICE_REMOVED first
 *   unload   unloading the provider (sessions closed, C_Finalize)
 *
 * For each: nothing crashes; the operation either succeeds through
 * tokenkey's recovery - and must, for the codes the PKCS#11 layer
 * promises to recover from (session gone, login lost once, token removed
 * once) when they hit the signature itself - or fails with an error whose
 * text names the injected CKR_; the PKCS#11 layer's call counts
 * (tk_p11_stat) equal what the module saw; recovery shows in the counts
 * (login redone, sessions reopened); and once the fault is cleared the
 * same operation succeeds. A wrong PIN is the exception by design: it is
 * never sent twice, so after CKR_PIN_INCORRECT the next attempt is refused
 * without a C_Login.
 *
 * Each (function, error) runs in its own forked child, so every case
 * starts with no module state (the PKCS#11 layer keeps one module per
 * path per process) and a crash is that case's failure. The parent never
 * calls into the module. Also: a wrong PIN on the login that recovery
 * makes, and a token that cannot be read at all while a key is loaded.
 *
 * Environment: TK_FAULT_JOBS cases at a time (2; each on its own copy of
 * the token), TK_FAULT_SWEEP_ERRORS (which CKR_ names; under valgrind and
 * ASan three by default, see select_errors), TK_REL_CHILD_TIMEOUT seconds
 * per case (120), TK_REL_GDB_ON_HANG=1 (stacks of a case that hangs).
 */
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
#include <openssl/rand.h>

#include "p11/p11.h"
#include "rel_env.h"
#include "vg_check.h"
#include "runner.h"

static REL_ENV env;

static const char *const sweep_fns[] = {
    "C_Initialize", "C_GetSlotList", "C_GetTokenInfo", "C_OpenSession", "C_GetSessionInfo",
    "C_Login", "C_FindObjectsInit", "C_FindObjects", "C_FindObjectsFinal",
    "C_GetAttributeValue", "C_GetMechanismList", "C_GetMechanismInfo", "C_CopyObject",
    "C_SignInit", "C_Sign", "C_DestroyObject", "C_CloseSession", "C_Finalize",
};
#define N_FNS (sizeof(sweep_fns) / sizeof(sweep_fns[0]))

static const char *const sweep_errors[] = {
    "CKR_DEVICE_REMOVED", "CKR_SESSION_HANDLE_INVALID", "CKR_SESSION_CLOSED",
    "CKR_USER_NOT_LOGGED_IN", "CKR_DEVICE_ERROR", "CKR_PIN_INCORRECT", "CKR_FUNCTION_FAILED",
    "CKR_BUFFER_TOO_SMALL", "CKR_TOKEN_NOT_PRESENT", "CKR_GENERAL_ERROR",
};
#define N_ERRORS (sizeof(sweep_errors) / sizeof(sweep_errors[0]))

enum { ST_LOAD, ST_SIGN, ST_TLS, ST_RELOGIN, ST_REMOVAL, ST_UNLOAD, ST_COUNT };
#define ALL_STAGES ((1u << ST_COUNT) - 1)
static const char *const stage_names[ST_COUNT] = {
    "load", "sign", "tls", "relogin", "removal", "unload"
};
/* The rules a stage's fault is added to (tk-faultmod tries rules in order). */
static const char *const stage_base[ST_COUNT] = {
    "", "", "", "C_SignInit=reset@1", "C_SignInit=CKR_DEVICE_REMOVED@1", ""
};

/* What the user reads when the token rejected the PIN, and when tokenkey refuses to resend it. */
#define TEXT_PIN_INCORRECT "the token rejected the PIN; it was not retried: fix the PIN source " \
                           "before the token locks"
#define TEXT_PIN_NOT_RETRIED "this PIN was already rejected by the token and is not sent again"

/*
 * The errors swept: all of them, or under valgrind (TK_UNDER_VALGRIND=1,
 * set by the 'valgrind' test setup) and in an ASan build (where
 * fast_unwind_on_malloc=0 makes each case cost a second) one of each kind
 * tokenkey treats differently: token gone, session gone, and any other
 * failure. TK_FAULT_SWEEP_ERRORS (comma-separated CKR_ names) chooses others.
 */
#if defined(__SANITIZE_ADDRESS__)
#define TK_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TK_ASAN_BUILD 1
#endif
#endif
#ifndef TK_ASAN_BUILD
#define TK_ASAN_BUILD 0
#endif

static int error_selected[N_ERRORS];
static size_t n_selected;

static int select_errors(void)
{
    const char *list = getenv("TK_FAULT_SWEEP_ERRORS");

    if (list == NULL && (getenv("TK_UNDER_VALGRIND") != NULL || TK_ASAN_BUILD))
        list = "CKR_DEVICE_REMOVED,CKR_SESSION_HANDLE_INVALID,CKR_DEVICE_ERROR";
    for (size_t e = 0; e < N_ERRORS; e++) {
        const char *p = list != NULL ? strstr(list, sweep_errors[e]) : NULL;
        size_t len = strlen(sweep_errors[e]);

        /* Whole names only: CKR_SESSION_CLOSED is not in "..._CLOSED_X". */
        error_selected[e] = list == NULL
                            || (p != NULL && (p == list || p[-1] == ',')
                                && (p[len] == '\0' || p[len] == ','));
        n_selected += (size_t)error_selected[e];
    }
    if (n_selected == 0) {
        fprintf(stderr, "fault-sweep: TK_FAULT_SWEEP_ERRORS names none of the swept errors\n");
        return -1;
    }
    return 0;
}

/* Which stages each (function, error) was injected in, from the children's reports. */
static unsigned fired_in[N_FNS][N_ERRORS];

/* ---- one case, in a child process ---- */

typedef struct {
    const char *fn, *err;
    const char *when;           /* tk-faultmod's @when: "1" (the first call) or "always" */
    unsigned armed;             /* stages in which the fault is injected */
    FILE *report;               /* lines for the parent: "<stage> fired|missed ok|failed" */
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *prov[2];
    EVP_PKEY *rsa, *ec;
    SSL_CTX *cctx, *sctx;
    int stage;
    unsigned long p11[TK_FN_COUNT], fm[TK_FN_COUNT], injected;
    char errors[4096];
} CASE;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3), noreturn))
#endif
static void case_fail(CASE *c, const char *fmt, ...)
{
    char line[8192];
    int n;
    va_list ap;

    /* One write: cases run side by side and share stderr. */
    n = snprintf(line, sizeof(line), "FAIL %s=%s@%s, %s%s: ", c->fn, c->err, c->when,
                 c->stage >= 0 ? "stage " : "",
                 c->stage >= 0 && c->stage < ST_COUNT ? stage_names[c->stage] : "at the end");
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof(line) - 2)
        vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    line[sizeof(line) - 2] = '\0';
    strcat(line, "\n");
    fputs(line, stderr);
    fflush(stderr);
    exit(1);
}

static int recoverable(const char *err)
{
    return strcmp(err, "CKR_SESSION_HANDLE_INVALID") == 0 || strcmp(err, "CKR_SESSION_CLOSED") == 0
           || strcmp(err, "CKR_USER_NOT_LOGGED_IN") == 0 || strcmp(err, "CKR_DEVICE_REMOVED") == 0
           || strcmp(err, "CKR_TOKEN_NOT_PRESENT") == 0;
}

static void snapshot(CASE *c)
{
    for (int i = 0; i < TK_FN_COUNT; i++) {
        c->p11[i] = tk_p11_stat((TK_P11_FN)i);
        c->fm[i] = env.calls(tk_p11_fn_name((TK_P11_FN)i));
    }
    c->injected = env.injected(c->fn);
}

/* Calls of fn the module saw since the snapshot. */
static unsigned long seen(CASE *c, const char *fn)
{
    for (int i = 0; i < TK_FN_COUNT; i++)
        if (strcmp(tk_p11_fn_name((TK_P11_FN)i), fn) == 0)
            return env.calls(fn) - c->fm[i];
    case_fail(c, "%s is not a function the PKCS#11 layer counts", fn);
}

/* Every call the PKCS#11 layer counted reached the module, and no other. */
static void check_counts_agree(CASE *c)
{
    for (int i = 0; i < TK_FN_COUNT; i++) {
        const char *name = tk_p11_fn_name((TK_P11_FN)i);
        unsigned long layer = tk_p11_stat((TK_P11_FN)i) - c->p11[i];
        unsigned long module = env.calls(name) - c->fm[i];

        if (layer != module)
            case_fail(c, "tk_p11_stat counted %lu %s, the module saw %lu", layer, name, module);
    }
}

static void arm(CASE *c, int armed)
{
    char rules[256];
    const char *base = stage_base[c->stage];

    if (armed)
        snprintf(rules, sizeof(rules), "%s%s%s=%s@%s", base, *base != '\0' ? "," : "", c->fn,
                 c->err, c->when);
    else
        snprintf(rules, sizeof(rules), "%s", base);
    if (env.set(rules) != 0)
        case_fail(c, "tk-faultmod refused the rules '%s'", rules);
    ERR_clear_error();
    snapshot(c);
}

static void disarm(CASE *c)
{
    if (env.set("") != 0)
        case_fail(c, "tk-faultmod refused to clear its rules");
}

static void free_tls(CASE *c)
{
    SSL_CTX_free(c->cctx);
    SSL_CTX_free(c->sctx);
    c->cctx = c->sctx = NULL;
}

static void free_all(CASE *c)
{
    free_tls(c);
    EVP_PKEY_free(c->rsa);
    EVP_PKEY_free(c->ec);
    c->rsa = c->ec = NULL;
    if (c->libctx != NULL)
        rel_libctx_free(c->libctx, c->prov);
    c->libctx = NULL;
}

/* The operation of each stage: 1 when it succeeded, else 0 with the errors in c->errors. */
static int op_load(CASE *c)
{
    EVP_PKEY *k = tk_test_load_private(c->libctx, env.rsa_uri);

    if (k == NULL) {
        rel_errors(c->errors, sizeof(c->errors));
        return 0;
    }
    EVP_PKEY_free(c->rsa);
    c->rsa = k;
    ERR_clear_error();
    return 1;
}

static int op_sign(CASE *c)
{
    unsigned char msg[130], sig[512];
    size_t siglen = 0;

    if (c->rsa == NULL)
        case_fail(c, "no key to sign with");
    if (RAND_bytes(msg, sizeof(msg)) != 1)
        case_fail(c, "RAND_bytes");
    if (!rel_sign(c->libctx, c->rsa, msg, sizeof(msg), sig, &siglen)) {
        rel_errors(c->errors, sizeof(c->errors));
        return 0;
    }
    /* A signature that comes back must be a good one, fault or not. */
    if (!rel_verify(env.rsa_pub, msg, sizeof(msg), sig, siglen))
        case_fail(c, "EVP_DigestSign succeeded but the signature does not verify");
    ERR_clear_error();
    return 1;
}

static int op_tls(CASE *c)
{
    if (!rel_handshake(c->cctx, c->sctx)) {
        rel_errors(c->errors, sizeof(c->errors));
        return 0;
    }
    ERR_clear_error();
    return 1;
}

static int op_unload(CASE *c)
{
    free_all(c);
    ERR_clear_error();
    return 1;
}

static int run_op(CASE *c)
{
    c->errors[0] = '\0';
    switch (c->stage) {
    case ST_LOAD: return op_load(c);
    case ST_TLS: return op_tls(c);
    case ST_UNLOAD: return op_unload(c);
    default: return op_sign(c);
    }
}

/* What a stage needs in place before its fault is armed. */
static void prepare(CASE *c)
{
    if (c->libctx == NULL && (c->libctx = rel_libctx_new(c->prov)) == NULL)
        case_fail(c, "no library context");
    if (c->stage != ST_LOAD && c->rsa == NULL && !op_load(c))
        case_fail(c, "loading the RSA key before the fault: %s", c->errors);
    if (c->stage == ST_TLS && c->ec == NULL) {
        c->ec = tk_test_load_private(c->libctx, env.ec_uri);
        if (c->ec == NULL)
            case_fail(c, "loading the EC key: %s", rel_errors(c->errors, sizeof(c->errors)));
    }
    if (c->stage == ST_TLS && c->cctx == NULL) {
        c->cctx = rel_tls_client(&env, c->libctx, c->ec, env.ec_cert);
        c->sctx = rel_tls_server(&env, c->libctx);
        if (c->cctx == NULL || c->sctx == NULL)
            case_fail(c, "no TLS contexts");
    }
}

/* After unload, everything comes back from scratch. */
static int op_after_unload(CASE *c)
{
    prepare(c);
    return op_sign(c);
}

/*
 * The fault fired and the operation failed: the error must name the
 * injected code. A wrong PIN also gets tokenkey's own words for it.
 */
static void check_failure_text(CASE *c)
{
    if (strstr(c->errors, c->err) == NULL)
        case_fail(c, "the operation failed, but no error names %s: \"%s\"", c->err, c->errors);
    if (strcmp(c->fn, "C_Login") == 0 && strcmp(c->err, "CKR_PIN_INCORRECT") == 0
        && strstr(c->errors, TEXT_PIN_INCORRECT) == NULL)
        case_fail(c, "a rejected PIN is not reported as \"%s\": \"%s\"", TEXT_PIN_INCORRECT,
                  c->errors);
}

/*
 * Where the PKCS#11 layer recovers (a signature, tk_p11_with_session), the
 * module's counts show how: the token was reset and logged in again, or
 * the login was redone, or another session was used.
 */
static void check_recovery(CASE *c)
{
    if (strcmp(c->err, "CKR_DEVICE_REMOVED") == 0 || strcmp(c->err, "CKR_TOKEN_NOT_PRESENT") == 0) {
        if (seen(c, "C_CloseSession") < 1 || seen(c, "C_OpenSession") < 1 || seen(c, "C_Login") != 1)
            case_fail(c, "recovered from %s without resetting the token: %lu C_CloseSession, "
                      "%lu C_OpenSession, %lu C_Login (want >= 1, >= 1, 1)", c->err,
                      seen(c, "C_CloseSession"), seen(c, "C_OpenSession"), seen(c, "C_Login"));
    } else if (strcmp(c->err, "CKR_USER_NOT_LOGGED_IN") == 0) {
        /*
         * The PIN goes again even though the module's session state (which
         * only the answer contradicts here) says logged in: a module may
         * cache that state. A login really lost is p11-logout's.
         */
        if (seen(c, "C_Login") != 1)
            case_fail(c, "recovered from CKR_USER_NOT_LOGGED_IN with %lu C_Login (want 1)",
                      seen(c, "C_Login"));
    } else if (seen(c, "C_Login") != 0) {
        case_fail(c, "recovered from %s with %lu C_Login: the login was not lost", c->err,
                  seen(c, "C_Login"));
    }
    /* Exactly one signature reached the token and came back. */
    if (seen(c, "C_Sign") - (strcmp(c->fn, "C_Sign") == 0 ? 1 : 0) != 1)
        case_fail(c, "%lu C_Sign reached the token for one signature", seen(c, "C_Sign"));
}

static void report(CASE *c, int fired, int ok)
{
    fprintf(c->report, "%s %s %s\n", stage_names[c->stage], fired ? "fired" : "missed",
            ok ? "ok" : "failed");
    fflush(c->report);
}

/* Returns 0 when the case is over (a rejected PIN: nothing can succeed afterwards). */
static int run_stage(CASE *c)
{
    int armed = (c->armed >> c->stage) & 1, ok, fired, pin_rejected;
    unsigned long logins;

    prepare(c);
    arm(c, armed);
    ok = run_op(c);
    fired = env.injected(c->fn) > c->injected;
    logins = seen(c, "C_Login");
    disarm(c);
    check_counts_agree(c);
    report(c, fired, ok);

    if (!fired) {
        /* The fault never fired: only the stage's own rules applied, and they are recovered from. */
        if (!ok)
            case_fail(c, "%s was not called, yet the operation failed: %s", c->fn, c->errors);
        return 1;
    }
    pin_rejected = strcmp(c->fn, "C_Login") == 0 && strcmp(c->err, "CKR_PIN_INCORRECT") == 0;
    if (!ok && c->stage != ST_UNLOAD)
        check_failure_text(c);
    if (!ok && recoverable(c->err) && (c->stage == ST_SIGN || c->stage == ST_TLS)
        && (strcmp(c->fn, "C_SignInit") == 0 || strcmp(c->fn, "C_Sign") == 0))
        case_fail(c, "no recovery from %s in %s: %s", c->err, c->fn, c->errors);
    if (ok && recoverable(c->err) && c->stage == ST_SIGN
        && (strcmp(c->fn, "C_SignInit") == 0 || strcmp(c->fn, "C_Sign") == 0))
        check_recovery(c);
    if (pin_rejected) {
        /* One wrong PIN, and never the same PIN again: the next attempt is refused here. */
        if (ok)
            case_fail(c, "CKR_PIN_INCORRECT from C_Login, and yet the operation succeeded");
        if (logins != 1)
            case_fail(c, "%lu C_Login for one operation with a rejected PIN (want 1)", logins);
        snapshot(c);
        if (run_op(c))
            case_fail(c, "the operation succeeded after the PIN was rejected");
        if (strstr(c->errors, TEXT_PIN_NOT_RETRIED) == NULL)
            case_fail(c, "after a rejected PIN the next attempt says \"%s\", not \"%s\"", c->errors,
                      TEXT_PIN_NOT_RETRIED);
        if (seen(c, "C_Login") != 0)
            case_fail(c, "the rejected PIN was sent again (%lu C_Login)", seen(c, "C_Login"));
        return 0;
    }
    /* The fault is gone: the same operation works again. */
    snapshot(c);
    if (!(c->stage == ST_UNLOAD ? op_after_unload(c) : run_op(c)))
        case_fail(c, "after %s in %s cleared, the operation still fails: %s", c->err, c->fn,
                  c->errors);
    return 1;
}

static int run_case(const char *fn, const char *err, const char *when, unsigned armed, FILE *out)
{
    CASE c;
    TK_VG vg;

    memset(&c, 0, sizeof(c));
    c.fn = fn;
    c.err = err;
    c.when = when != NULL ? when : "1";
    c.armed = armed;
    c.report = out;
    c.stage = -1;
    tk_vg_mark(&vg);
    for (c.stage = 0; c.stage < ST_COUNT; c.stage++)
        if (!run_stage(&c))
            break;
    free_all(&c);
    c.stage = -1;
    if (!tk_vg_clean(&vg, "fault-sweep case"))
        case_fail(&c, "memory errors or leaks (above)");
    return 0;
}

/* ---- the parent: one child per case, a few at a time ---- */

typedef struct {
    size_t f, e;
    const char *when;           /* NULL: "1" */
    unsigned armed;
    pid_t pid;
    FILE *in;
    long started;               /* now_ms() when it started */
    int slot;                   /* which copy of the token it uses */
} JOB;

/*
 * SoftHSM2's file store is not safe for two processes at once (a login
 * rewrites the token file while another process reads it): each job that
 * runs at the same time as another gets its own copy of the token
 * directory (same serial, label and keys) and its own softhsm2.conf.
 */
#define MAX_JOBS 8
static char token_conf[MAX_JOBS][1024];
static long n_jobs;

static int make_token_copies(void)
{
    const char *dir = tk_fixture_dir(&env.fx);

    n_jobs = rel_env_long("TK_FAULT_JOBS", 2);
    if (n_jobs > MAX_JOBS)
        n_jobs = MAX_JOBS;
    snprintf(token_conf[0], sizeof(token_conf[0]), "%s", env.fx.softhsm_conf);
    for (long i = 1; i < n_jobs; i++) {
        char cmd[2048];
        FILE *f;

        snprintf(cmd, sizeof(cmd), "cp -a '%s/tokens' '%s/tokens-%ld'", dir, dir, i);
        if (system(cmd) != 0)
            return -1;
        snprintf(token_conf[i], sizeof(token_conf[i]), "%s/softhsm2-%ld.conf", dir, i);
        f = fopen(token_conf[i], "w");
        if (f == NULL)
            return -1;
        fprintf(f, "directories.tokendir = %s/tokens-%ld\nobjectstore.backend = file\n"
                "log.level = ERROR\nslots.removable = false\n", dir, i);
        if (fclose(f) != 0)
            return -1;
    }
    return 0;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void job_start(JOB *j)
{
    int fds[2];

    assert_int_equal(pipe(fds), 0);
    j->pid = rel_fork();
    assert_true(j->pid >= 0);
    if (j->pid == 0) {
        FILE *out = fdopen(fds[1], "w");

        close(fds[0]);
        setenv("SOFTHSM2_CONF", token_conf[j->slot], 1);
        /* exit(), not _exit(): a crash at exit is a crash too. */
        exit(out == NULL ? 2 : run_case(sweep_fns[j->f], sweep_errors[j->e], j->when, j->armed,
                                        out));
    }
    close(fds[1]);
    j->in = fdopen(fds[0], "r");
    assert_non_null(j->in);
    j->started = now_ms();
}

/* The child is gone: read its report, judge its exit. Returns 0, or -1 after saying why. */
static int job_finish(JOB *j, int status, int killed)
{
    const char *fn = sweep_fns[j->f], *err = sweep_errors[j->e];
    char line[128];

    while (fgets(line, sizeof(line), j->in) != NULL) {
        char stage[16], fired[16], ok[16];

        if (sscanf(line, "%15s %15s %15s", stage, fired, ok) != 3)
            continue;
        for (int s = 0; s < ST_COUNT; s++)
            if (strcmp(stage, stage_names[s]) == 0 && strcmp(fired, "fired") == 0)
                fired_in[j->f][j->e] |= 1u << s;
    }
    fclose(j->in);
    if (killed)
        print_error("%s=%s: the case did not finish in time (killed)\n", fn, err);
    else if (WIFSIGNALED(status))
        print_error("%s=%s: the case crashed with signal %d\n", fn, err, WTERMSIG(status));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        print_error("%s=%s: the case failed (exit status %d; why is above)\n", fn, err,
                    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    else
        return 0;
    return -1;
}

/*
 * Run the cases, TK_FAULT_JOBS (default 2, at most 8) at a time, each
 * bounded by TK_REL_CHILD_TIMEOUT seconds (default 120). Returns how many failed.
 */
static int run_jobs(JOB *jobs, size_t n)
{
    long limit = rel_env_long("TK_REL_CHILD_TIMEOUT", 120) * 1000;
    size_t next = 0, done = 0;
    int failed = 0, busy[MAX_JOBS] = { 0 };
    long running = 0;

    while (done < n) {
        while (running < n_jobs && next < n) {
            int slot = 0;

            while (busy[slot])
                slot++;
            busy[slot] = 1;
            jobs[next].slot = slot;
            job_start(&jobs[next++]);
            running++;
        }
        {
            struct timespec tick = { 0, 5 * 1000 * 1000 };

            nanosleep(&tick, NULL);
        }
        for (size_t i = 0; i < next; i++) {
            JOB *j = &jobs[i];
            int status = 0;
            pid_t got;

            if (j->pid == 0)
                continue;
            got = waitpid(j->pid, &status, WNOHANG);
            if (got == 0 && now_ms() - j->started < limit)
                continue;
            if (got == 0) {
                kill(j->pid, SIGKILL);
                waitpid(j->pid, &status, 0);
            }
            failed += job_finish(j, status, got == 0) != 0;
            busy[j->slot] = 0;
            j->pid = 0;
            running--;
            done++;
        }
    }
    return failed;
}

/* Every error on one function; all cases run, then the failures are counted. */
static void sweep(size_t f)
{
    JOB jobs[N_ERRORS];
    char summary[256] = "";
    unsigned stages = 0;
    size_t o = 0, n = 0;
    int failed;

    memset(jobs, 0, sizeof(jobs));
    for (size_t e = 0; e < N_ERRORS; e++)
        if (error_selected[e])
            jobs[n++] = (JOB){ .f = f, .e = e, .armed = ALL_STAGES };
    failed = run_jobs(jobs, n);
    /* A function no stage calls would make its line of the sweep test nothing. */
    for (size_t e = 0; e < N_ERRORS; e++) {
        if (!error_selected[e])
            continue;
        stages |= fired_in[f][e];
        if (fired_in[f][e] == 0) {
            print_error("%s=%s was never injected: no stage called %s\n", sweep_fns[f],
                        sweep_errors[e], sweep_fns[f]);
            failed++;
        }
    }
    for (int s = 0; s < ST_COUNT; s++)
        if (stages & (1u << s))
            o += (size_t)snprintf(summary + o, sizeof(summary) - o, " %s", stage_names[s]);
    print_message("%s: %zu errors, injected in%s\n", sweep_fns[f], n, summary);
    if (failed > 0)
        fail_msg("%s: %d of %zu cases failed", sweep_fns[f], failed, n);
}

static void test_sweep_initialize(void **state) { sweep(0); }
static void test_sweep_get_slot_list(void **state) { sweep(1); }
static void test_sweep_get_token_info(void **state) { sweep(2); }
static void test_sweep_open_session(void **state) { sweep(3); }
static void test_sweep_get_session_info(void **state) { sweep(4); }
static void test_sweep_login(void **state) { sweep(5); }
static void test_sweep_find_objects_init(void **state) { sweep(6); }
static void test_sweep_find_objects(void **state) { sweep(7); }
static void test_sweep_find_objects_final(void **state) { sweep(8); }
static void test_sweep_get_attribute_value(void **state) { sweep(9); }
static void test_sweep_get_mechanism_list(void **state) { sweep(10); }
static void test_sweep_get_mechanism_info(void **state) { sweep(11); }
static void test_sweep_copy_object(void **state) { sweep(12); }
static void test_sweep_sign_init(void **state) { sweep(13); }
static void test_sweep_sign(void **state) { sweep(14); }
static void test_sweep_destroy_object(void **state) { sweep(15); }
static void test_sweep_close_session(void **state) { sweep(16); }
static void test_sweep_finalize(void **state) { sweep(17); }

static size_t index_of(const char *const *list, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return i;
    fail_msg("%s is not in the sweep", name);
    return 0;
}

/*
 * A wrong PIN on the login that recovery makes (after the token lost every
 * session, and after it was removed): reported as a wrong PIN, sent once,
 * refused afterwards without a second C_Login (asserted in run_stage).
 */
static void test_wrong_pin_on_relogin(void **state)
{
    size_t f = index_of(sweep_fns, N_FNS, "C_Login");
    size_t e = index_of(sweep_errors, N_ERRORS, "CKR_PIN_INCORRECT");

    JOB jobs[1];

    fired_in[f][e] = 0;
    jobs[0] = (JOB){ .f = f, .e = e, .armed = 1u << ST_RELOGIN };
    assert_int_equal(run_jobs(jobs, 1), 0);
    assert_int_equal(fired_in[f][e], 1u << ST_RELOGIN);
    fired_in[f][e] = 0;
    jobs[0] = (JOB){ .f = f, .e = e, .armed = 1u << ST_REMOVAL };
    assert_int_equal(run_jobs(jobs, 1), 0);
    assert_int_equal(fired_in[f][e], 1u << ST_REMOVAL);
}

/*
 * A token that cannot be read at all (every C_GetTokenInfo fails) while a
 * key is loaded: the error names the token's answer, not "no token
 * matches the URI", which would send the user looking for a typo.
 */
static void test_token_unreadable(void **state)
{
    size_t f = index_of(sweep_fns, N_FNS, "C_GetTokenInfo");
    size_t e = index_of(sweep_errors, N_ERRORS, "CKR_DEVICE_ERROR");
    JOB jobs[1] = { { .f = f, .e = e, .when = "always", .armed = 1u << ST_LOAD } };

    fired_in[f][e] = 0;
    assert_int_equal(run_jobs(jobs, 1), 0);
    assert_int_equal(fired_in[f][e] & (1u << ST_LOAD), 1u << ST_LOAD);
}

static int setup(void)
{
    if (select_errors() != 0 || rel_env_setup(&env, "fault-sweep") != 0)
        return -1;
    if (make_token_copies() != 0) {
        fprintf(stderr, "fault-sweep: cannot copy the token for parallel jobs\n");
        return -1;
    }
    return 0;
}

static void teardown(void)
{
    rel_env_teardown(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sweep_initialize),
        cmocka_unit_test(test_sweep_get_slot_list),
        cmocka_unit_test(test_sweep_get_token_info),
        cmocka_unit_test(test_sweep_open_session),
        cmocka_unit_test(test_sweep_get_session_info),
        cmocka_unit_test(test_sweep_login),
        cmocka_unit_test(test_sweep_find_objects_init),
        cmocka_unit_test(test_sweep_find_objects),
        cmocka_unit_test(test_sweep_find_objects_final),
        cmocka_unit_test(test_sweep_get_attribute_value),
        cmocka_unit_test(test_sweep_get_mechanism_list),
        cmocka_unit_test(test_sweep_get_mechanism_info),
        cmocka_unit_test(test_sweep_copy_object),
        cmocka_unit_test(test_sweep_sign_init),
        cmocka_unit_test(test_sweep_sign),
        cmocka_unit_test(test_sweep_destroy_object),
        cmocka_unit_test(test_sweep_close_session),
        cmocka_unit_test(test_sweep_finalize),
        cmocka_unit_test(test_wrong_pin_on_relogin),
        cmocka_unit_test(test_token_unreadable),
    };

    return tk_test_run("fault-sweep", tests, TK_TEST_COUNT(tests), setup, teardown);
}
