/*
 * The PKCS#11 layer's one instance per module, over tk-faultmod (which
 * wraps the fixture's SoftHSM2 and can slow C_Finalize down):
 *
 *   - a module opened while its last user closes it (the close is inside
 *     C_Finalize) works: before, the open found no entry, got
 *     CKR_CRYPTOKI_ALREADY_INITIALIZED from the module still initialised,
 *     and was then left with a module finalised under it;
 *   - the same library opened by two paths (here a symlink) is one entry:
 *     closing one does not C_Finalize the module the other still uses.
 *
 * The layer initialises a module again when it finds it finalised under
 * it (p11-finalize), which would hide both bugs: the module must still be
 * in its first epoch, never initialised again.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "faultmod.h"
#include "fixture.h"
#include "p11/p11_internal.h"
#include "runner.h"

static TK_FIXTURE fx;
static const char *faultmod;
static char alias[1024];
static void *pinned; /* our own reference: faultmod (and its counters) stay loaded */
static tk_fault_set_fn *fault_set;
static tk_fault_calls_fn *fault_calls;
static tk_fault_wait_held_fn *fault_wait_held;
static tk_fault_release_fn *fault_release;

/* slot list of m: CKR_OK while the module is initialised for us */
static CK_RV list_slots(TK_P11_MODULE *m)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    CK_RV rv = tk_p11_slot_list(m, 1, &slots, &n);

    OPENSSL_free(slots);
    return rv;
}

static void *open_and_close(void *arg)
{
    TK_P11_MODULE *m = NULL;

    *(CK_RV *)arg = tk_p11_module_open(faultmod, NULL, &m);
    if (*(CK_RV *)arg == CKR_OK)
        tk_p11_module_close(m);
    return NULL;
}

typedef struct {
    TK_P11_MODULE *m;
    CK_RV rv;
    int done;
} OPENER;

static void *open_module(void *arg)
{
    OPENER *o = arg;

    o->rv = tk_p11_module_open(faultmod, NULL, &o->m);
    __atomic_store_n(&o->done, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void test_open_during_last_close(void **state)
{
    CK_RV closer_rv = CKR_GENERAL_ERROR;
    OPENER opener = { NULL, CKR_GENERAL_ERROR, 0 };
    pthread_t closer, th;

    /* The other thread's close is held inside C_Finalize. */
    assert_int_equal(fault_set("C_Finalize=hold@1"), 0);
    assert_int_equal(pthread_create(&closer, NULL, open_and_close, &closer_rv), 0);
    fault_wait_held("C_Finalize", 1);
    /*
     * An open now waits for that close to end. Given time to get there, it
     * must not be done (it would have joined the module being finalised);
     * if it did not get there in that time, it opens after the close.
     */
    assert_int_equal(pthread_create(&th, NULL, open_module, &opener), 0);
    nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
    assert_false(__atomic_load_n(&opener.done, __ATOMIC_SEQ_CST));
    fault_release("C_Finalize");
    assert_int_equal(pthread_join(closer, NULL), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(closer_rv, CKR_OK);
    assert_int_equal(opener.rv, CKR_OK);
    assert_int_equal(fault_set(""), 0);
    assert_int_equal(list_slots(opener.m), CKR_OK);
    assert_int_equal(tk_p11_module_epoch(opener.m), 0);
    tk_p11_module_close(opener.m);
}

static void test_two_paths_one_module(void **state)
{
    TK_P11_MODULE *by_path = NULL, *by_alias = NULL;

    assert_int_equal(tk_p11_module_open(faultmod, NULL, &by_path), CKR_OK);
    assert_int_equal(tk_p11_module_open(alias, NULL, &by_alias), CKR_OK);
    assert_ptr_equal(by_alias, by_path);
    tk_p11_module_close(by_path);
    assert_int_equal(list_slots(by_alias), CKR_OK);
    assert_int_equal(tk_p11_module_epoch(by_alias), 0);
    tk_p11_module_close(by_alias);
}

static int setup(void)
{
    if (tk_fixture_setup(&fx, "module-registry") != 0)
        return -1;
    if ((faultmod = getenv("TK_FAULTMOD")) == NULL) {
        fprintf(stderr, "TK_FAULTMOD is not set (run with meson test)\n");
        return -1;
    }
    snprintf(alias, sizeof(alias), "%s/faultmod-alias.so", tk_fixture_dir(&fx));
    if (symlink(faultmod, alias) != 0) {
        perror(alias);
        return -1;
    }
    pinned = dlopen(faultmod, RTLD_NOW | RTLD_LOCAL);
    if (pinned == NULL) {
        fprintf(stderr, "%s\n", dlerror());
        return -1;
    }
    *(void **)&fault_set = dlsym(pinned, "tk_fault_set");
    *(void **)&fault_calls = dlsym(pinned, "tk_fault_calls");
    *(void **)&fault_wait_held = dlsym(pinned, "tk_fault_wait_held");
    *(void **)&fault_release = dlsym(pinned, "tk_fault_release");
    return fault_set != NULL && fault_calls != NULL && fault_wait_held != NULL
                   && fault_release != NULL
               ? 0
               : -1;
}

static void teardown(void)
{
    if (pinned != NULL)
        dlclose(pinned);
    tk_fixture_teardown(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_during_last_close),
        cmocka_unit_test(test_two_paths_one_module),
    };

    return tk_test_run("fault-module-registry", tests, TK_TEST_COUNT(tests), setup, teardown);
}
