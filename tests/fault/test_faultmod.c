/*
 * tk-faultmod itself, called directly (no tokenkey) over the fixture's
 * SoftHSM2: the rule syntax and its refusals, which call each rule takes
 * (@N, @N+, order, probability), delays and in-flight counts, "reset",
 * the PKCS#11 rule that a failed C_Sign ends the operation but
 * CKR_BUFFER_TOO_SMALL does not, the control file, TK_FAULT, the stats
 * file and C_GetInterface. The sweep (test_faults.c) trusts all of this.
 *
 * Each check runs in a forked child: the module reads its environment
 * once per process.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "rel_env.h"
#include "vg_check.h"
#include "runner.h"

static REL_ENV env;
static CK_FUNCTION_LIST *fl;
static tk_fault_write_stats_fn *write_stats;

/* In a child: print where and exit 1. */
#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            exit(1); \
        } \
    } while (0)
#define CHECK_RV(call, want) \
    do { \
        CK_RV got_ = (call); \
        if (got_ != (CK_RV)(want)) { \
            fprintf(stderr, "%s:%d: %s = 0x%lx, want %s (0x%lx)\n", __FILE__, __LINE__, #call, \
                    (unsigned long)got_, #want, (unsigned long)(want)); \
            exit(1); \
        } \
    } while (0)

/* Run fn in a child with the given extra environment; assert it exits 0. Returns its pid. */
static pid_t in_child(int (*fn)(void), const char *const *envs)
{
    int status;
    pid_t pid;

    pid = rel_fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        TK_VG vg;
        int rc;

        tk_vg_mark(&vg);
        for (size_t i = 0; envs != NULL && envs[i] != NULL; i += 2)
            setenv(envs[i], envs[i + 1], 1);
        rc = fn();
        exit(rc == 0 && !tk_vg_clean(&vg, "faultmod child") ? 99 : rc);
    }
    status = rel_wait(pid, (int)rel_env_long("TK_REL_CHILD_TIMEOUT", 120));
    assert_int_not_equal(status, -1);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    return pid;
}

/* The module's own list, initialised for threads. */
static void open_module(void)
{
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };

    *(void **)&get = dlsym(env.dl, "C_GetFunctionList");
    *(void **)&write_stats = dlsym(env.dl, "tk_fault_write_stats");
    CHECK(get != NULL && write_stats != NULL);
    CHECK_RV(get(&fl), CKR_OK);
    CHECK_RV(fl->C_Initialize(&args), CKR_OK);
}

static CK_SLOT_ID first_slot(void)
{
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4;

    CHECK_RV(fl->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    CHECK(n >= 1);
    return slots[0];
}

static CK_RV get_info(void)
{
    CK_INFO info;

    return fl->C_GetInfo(&info);
}

/* ---- rules ---- */

static int child_rules(void)
{
    CK_ULONG n;
    int fired = 0;

    /* Refused, with the rules in force unchanged. */
    CHECK(env.set("C_GetInfo=CKR_DEVICE_ERROR") == 0);
    CHECK(env.set("C_Bogus=CKR_DEVICE_ERROR") == -1);
    CHECK(env.set("C_GetInfo=CKR_NOT_A_CODE") == -1);
    CHECK(env.set("C_GetInfo=0x0") == -1);            /* CKR_OK is not a fault */
    CHECK(env.set("C_GetInfo=CKR_DEVICE_ERROR@0") == -1);
    CHECK(env.set("C_GetInfo=CKR_DEVICE_ERROR@p2") == -1);
    CHECK(env.set("C_GetInfo=delay:soon") == -1);
    CHECK(env.set("C_GetInfo=after:reset") == -1);
    CHECK(env.set("C_GetInfo=after:after:CKR_DEVICE_ERROR") == -1);
    CHECK(env.set("C_GetInfo") == -1);
    open_module();
    CHECK_RV(get_info(), CKR_DEVICE_ERROR);

    /* @N: that call only, counted from when the rule was set. */
    CHECK(env.set("C_GetSlotList=CKR_DEVICE_ERROR@2") == 0);
    env.reset_counts();
    CHECK_RV(fl->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    CHECK_RV(fl->C_GetSlotList(CK_TRUE, NULL, &n), CKR_DEVICE_ERROR);
    CHECK_RV(fl->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    CHECK(env.calls("C_GetSlotList") == 3 && env.injected("C_GetSlotList") == 1);

    /* @N+: from that call on. */
    CHECK(env.set("C_GetInfo=CKR_GENERAL_ERROR@2+") == 0);
    CHECK_RV(get_info(), CKR_OK);
    CHECK_RV(get_info(), CKR_GENERAL_ERROR);
    CHECK_RV(get_info(), CKR_GENERAL_ERROR);

    /* In order, and a rule counts only the calls earlier error rules left it. */
    CHECK(env.set("C_GetInfo=CKR_DEVICE_REMOVED@1; C_GetInfo=0x30@1 # CKR_DEVICE_ERROR") == 0);
    CHECK_RV(get_info(), CKR_DEVICE_REMOVED);
    CHECK_RV(get_info(), CKR_DEVICE_ERROR);
    CHECK_RV(get_info(), CKR_OK);

    /* Probability: never, always, and about half (seeded, so always the same count). */
    CHECK(env.set("C_GetInfo=CKR_DEVICE_ERROR@p0") == 0);
    for (int i = 0; i < 50; i++)
        CHECK_RV(get_info(), CKR_OK);
    CHECK(env.set("C_GetInfo=CKR_DEVICE_ERROR@100%") == 0);
    for (int i = 0; i < 50; i++)
        CHECK_RV(get_info(), CKR_DEVICE_ERROR);
    CHECK(env.set("C_GetInfo=CKR_DEVICE_ERROR@p0.5") == 0);
    for (int i = 0; i < 400; i++)
        fired += get_info() != CKR_OK;
    CHECK(fired > 100 && fired < 300);

    /* A delay lets the call through; no rules: nothing is injected. */
    CHECK(env.set("C_GetInfo=delay:1") == 0);
    CHECK_RV(get_info(), CKR_OK);
    CHECK(env.set("") == 0);
    env.reset_counts();
    for (int i = 0; i < 10; i++)
        CHECK_RV(get_info(), CKR_OK);
    CHECK(env.calls("C_GetInfo") == 10 && env.injected("C_GetInfo") == 0);
    CHECK_RV(fl->C_Finalize(NULL), CKR_OK);
    return 0;
}

static void test_rules(void **state)
{
    in_child(child_rules, NULL);
}

/* ---- reset, and how an injected error ends an operation ---- */

static CK_SESSION_HANDLE logged_in_session(CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE h;
    char *pin = tk_fixture_read_pin(tk_fixture_pin_file(&env.fx));

    CHECK(pin != NULL);
    CHECK_RV(fl->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &h), CKR_OK);
    CHECK_RV(fl->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin)), CKR_OK);
    free(pin);
    return h;
}

static CK_OBJECT_HANDLE ec_key(CK_SESSION_HANDLE h)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_LABEL, (void *)"ec", 2 } };
    CK_OBJECT_HANDLE k;
    CK_ULONG n = 0;

    CHECK_RV(fl->C_FindObjectsInit(h, tmpl, 2), CKR_OK);
    CHECK_RV(fl->C_FindObjects(h, &k, 1, &n), CKR_OK);
    CHECK_RV(fl->C_FindObjectsFinal(h), CKR_OK);
    CHECK(n == 1);
    return k;
}

static int child_operations(void)
{
    CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 };
    unsigned char digest[32] = { 1, 2, 3 }, sig[128];
    CK_ULONG siglen = sizeof(sig);
    CK_SESSION_INFO si;
    CK_SESSION_HANDLE h;
    CK_OBJECT_HANDLE k;

    open_module();
    h = logged_in_session(first_slot());
    k = ec_key(h);

    /* PKCS#11 v2.40 5.12: a failed C_Sign ends the operation... */
    CHECK(env.set("C_Sign=CKR_DEVICE_ERROR@1") == 0);
    CHECK_RV(fl->C_SignInit(h, &ecdsa, k), CKR_OK);
    CHECK_RV(fl->C_Sign(h, digest, sizeof(digest), sig, &siglen), CKR_DEVICE_ERROR);
    CHECK_RV(fl->C_SignInit(h, &ecdsa, k), CKR_OK);
    siglen = sizeof(sig);
    CHECK_RV(fl->C_Sign(h, digest, sizeof(digest), sig, &siglen), CKR_OK);
    /* ...except with CKR_BUFFER_TOO_SMALL: the same operation goes on. */
    CHECK(env.set("C_Sign=CKR_BUFFER_TOO_SMALL@1") == 0);
    CHECK_RV(fl->C_SignInit(h, &ecdsa, k), CKR_OK);
    siglen = sizeof(sig);
    CHECK_RV(fl->C_Sign(h, digest, sizeof(digest), sig, &siglen), CKR_BUFFER_TOO_SMALL);
    siglen = sizeof(sig);
    CHECK_RV(fl->C_Sign(h, digest, sizeof(digest), sig, &siglen), CKR_OK);

    /* after: the call reaches the real module, and only its answer is replaced. */
    {
        char *pin = tk_fixture_read_pin(tk_fixture_pin_file(&env.fx));

        CHECK(pin != NULL);
        CHECK_RV(fl->C_Logout(h), CKR_OK);
        CHECK(env.set("C_Login=after:CKR_DEVICE_ERROR@1") == 0);
        CHECK_RV(fl->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin)), CKR_DEVICE_ERROR);
        CHECK(env.injected("C_Login") == 1);
        CHECK_RV(fl->C_GetSessionInfo(h, &si), CKR_OK);
        CHECK(si.state == CKS_RW_USER_FUNCTIONS || si.state == CKS_RO_USER_FUNCTIONS);
        CHECK_RV(fl->C_Login(h, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin)),
                 CKR_USER_ALREADY_LOGGED_IN);
        free(pin);
    }

    /* reset: every session of the slot is gone, and the real module says so. */
    CHECK(env.set("C_GetSessionInfo=reset@1") == 0);
    CHECK_RV(fl->C_GetSessionInfo(h, &si), CKR_SESSION_HANDLE_INVALID);
    CHECK(env.injected("C_GetSessionInfo") == 0);
    CHECK_RV(fl->C_Finalize(NULL), CKR_OK);
    return 0;
}

static void test_operations(void **state)
{
    in_child(child_operations, NULL);
}

/* ---- calls in flight at once ---- */

static pthread_barrier_t go;

static void *slow_info(void *arg)
{
    pthread_barrier_wait(&go);
    *(CK_RV *)arg = get_info();
    return NULL;
}

static int child_inflight(void)
{
    pthread_t th[4];
    CK_RV rv[4];

    open_module();
    CHECK(env.set("C_GetInfo=delay:200") == 0);
    env.reset_counts();
    CHECK(pthread_barrier_init(&go, NULL, 4) == 0);
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&th[i], NULL, slow_info, &rv[i]) == 0);
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(th[i], NULL) == 0);
        CHECK_RV(rv[i], CKR_OK);
    }
    pthread_barrier_destroy(&go);
    CHECK(env.calls("C_GetInfo") == 4);
    CHECK(env.max_inflight("C_GetInfo") >= 2 && env.max_inflight("C_GetInfo") <= 4);
    CHECK(env.max_inflight("C_GetSlotList") == 0);
    CHECK_RV(fl->C_Finalize(NULL), CKR_OK);
    return 0;
}

static void test_inflight(void **state)
{
    in_child(child_inflight, NULL);
}

/* ---- the control file and the stats file ---- */

static char control[1024], stats[1024];

/* A new file renamed into place: a new inode, whatever the clock's resolution. */
static void write_control(const char *rules)
{
    char tmp[1100];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.new", control);
    f = fopen(tmp, "w");
    CHECK(f != NULL && fputs(rules, f) >= 0 && fclose(f) == 0);
    CHECK(rename(tmp, control) == 0);
}

static int read_file(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL)
        return -1;
    n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return 0;
}

static int child_control(void)
{
    char text[4096], path[1100];
    CK_ULONG n;

    unlink(control);
    open_module();
    /* No file yet: rules set otherwise stay. */
    CHECK(env.set("C_GetInfo=CKR_DEVICE_ERROR@1") == 0);
    CHECK_RV(get_info(), CKR_DEVICE_ERROR);
    write_control("# a comment\nC_GetInfo=CKR_TOKEN_NOT_PRESENT@1\n");
    CHECK_RV(get_info(), CKR_TOKEN_NOT_PRESENT);
    CHECK_RV(get_info(), CKR_OK);
    write_control("C_GetInfo=CKR_FUNCTION_FAILED\n");
    CHECK_RV(get_info(), CKR_FUNCTION_FAILED);
    CHECK_RV(get_info(), CKR_FUNCTION_FAILED);
    /* A bad file leaves the rules as they were. */
    write_control("C_GetInfo=CKR_FUNCTION_FAILED@@\n");
    CHECK_RV(get_info(), CKR_FUNCTION_FAILED);
    unlink(control);
    CHECK_RV(get_info(), CKR_OK);

    /* The stats, on demand... */
    env.reset_counts();
    CHECK(env.set("C_GetSlotList=CKR_DEVICE_ERROR@2") == 0);
    for (int i = 0; i < 3; i++)
        fl->C_GetSlotList(CK_TRUE, NULL, &n);
    snprintf(path, sizeof(path), "%s.now", stats);
    CHECK(write_stats(path) == 0);
    CHECK(read_file(path, text, sizeof(text)) == 0);
    CHECK(strstr(text, "\nC_GetSlotList calls=3 injected=1 max_inflight=1\n") != NULL);
    CHECK(strstr(text, "C_GetInfo") == NULL);
    /* ...and at exit (TK_FAULT_STATS, %p: this process): the parent reads it. */
    CHECK(env.set("") == 0);
    CHECK_RV(get_info(), CKR_OK);
    return 0;
}

static void test_control_file(void **state)
{
    const char *envs[] = { "TK_FAULT_CONTROL", control, "TK_FAULT_STATS", NULL, NULL };
    char pattern[1100], text[4096], path[1100];
    pid_t pid;

    snprintf(control, sizeof(control), "%s/fault.rules", tk_fixture_dir(&env.fx));
    snprintf(stats, sizeof(stats), "%s/fault.stats", tk_fixture_dir(&env.fx));
    snprintf(pattern, sizeof(pattern), "%s.%%p", stats);
    envs[3] = pattern;
    pid = in_child(child_control, envs);
    /* The child's file, named after its process id. */
    snprintf(path, sizeof(path), "%s.%ld", stats, (long)pid);
    assert_int_equal(read_file(path, text, sizeof(text)), 0);
    assert_non_null(strstr(text, "\nC_GetInfo calls="));
    assert_non_null(strstr(text, "\nC_GetSlotList calls=3 injected=1 max_inflight=1\n"));
}

/* ---- TK_FAULT and C_GetInterface ---- */

static int child_env_bad(void)
{
    CK_C_GetFunctionList get;
    CK_FUNCTION_LIST *list = NULL;

    *(void **)&get = dlsym(env.dl, "C_GetFunctionList");
    CHECK(get != NULL);
    /* A module that would silently not inject is worse than none. */
    CHECK_RV(get(&list), CKR_ARGUMENTS_BAD);
    return 0;
}

static int child_env_good(void)
{
    open_module();
    CHECK_RV(get_info(), CKR_DEVICE_ERROR);
    CHECK_RV(get_info(), CKR_OK);
    CHECK_RV(fl->C_Finalize(NULL), CKR_OK);
    return 0;
}

/* PKCS#11 3.0 section 5.2: C_GetInterface, which tokenkey prefers. */
typedef struct {
    CK_UTF8CHAR *name;
    void *list;
    CK_FLAGS flags;
} IFACE;
typedef CK_RV get_interface_fn(CK_UTF8CHAR *, CK_VERSION *, IFACE **, CK_FLAGS);

static int child_interface(void)
{
    get_interface_fn *get;
    IFACE *iface = NULL;
    CK_FUNCTION_LIST *list;
    CK_VERSION v30 = { 3, 0 };

    *(void **)&get = dlsym(env.dl, "C_GetInterface");
    CHECK(get != NULL);
    if (getenv("TK_FAULT_NO_INTERFACE") != NULL) {
        CHECK_RV(get((CK_UTF8CHAR *)"PKCS 11", NULL, &iface, 0), CKR_FUNCTION_NOT_SUPPORTED);
        return 0;
    }
    CHECK_RV(get((CK_UTF8CHAR *)"Vendor X", NULL, &iface, 0), CKR_ARGUMENTS_BAD);
    CHECK_RV(get(NULL, &v30, &iface, 0), CKR_ARGUMENTS_BAD);
    CHECK_RV(get((CK_UTF8CHAR *)"PKCS 11", NULL, &iface, 0), CKR_OK);
    CHECK(iface != NULL && strcmp((char *)iface->name, "PKCS 11") == 0);
    list = iface->list;
    open_module();
    CHECK(list == fl);
    return 0;
}

static void test_environment(void **state)
{
    const char *bad[] = { "TK_FAULT", "C_GetInfo=CKR_DEVICE_ERROR@soon", NULL };
    const char *good[] = { "TK_FAULT", "C_GetInfo=CKR_DEVICE_ERROR@1", NULL };
    const char *noiface[] = { "TK_FAULT_NO_INTERFACE", "1", NULL };

    in_child(child_env_bad, bad);
    in_child(child_env_good, good);
    in_child(child_interface, NULL);
    in_child(child_interface, noiface);
}

static int setup(void)
{
    return rel_env_setup(&env, "faultmod");
}

static void teardown(void)
{
    rel_env_teardown(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_operations),
        cmocka_unit_test(test_inflight),
        cmocka_unit_test(test_control_file),
        cmocka_unit_test(test_environment),
    };

    return tk_test_run("faultmod", tests, TK_TEST_COUNT(tests), setup, teardown);
}
