/*
 * Loading PKCS#11 modules: dlopen, the function list, C_Initialize and
 * C_Finalize, one shared instance per library per process, fork and exit.
 *
 * PKCS#11 allows one C_Initialize per process (v2.40 section 5.4), so two
 * OpenSSL library contexts, or the provider and the CLI in one process,
 * share a module through the registry below instead of initialising twice.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "debug.h"
#include "p11_internal.h"

/* PKCS#11 3.0 section 5.2: C_GetInterface; p11-kit's 2.40 header lacks it. */
typedef struct {
    CK_UTF8CHAR *pInterfaceName;
    void *pFunctionList;
    CK_FLAGS flags;
} TK_CK_INTERFACE;
typedef CK_RV (*tk_get_interface_fn)(CK_UTF8CHAR *name, CK_VERSION *version,
                                     TK_CK_INTERFACE **iface, CK_FLAGS flags);

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static TK_P11_MODULE *registry;
static unsigned long fork_generation;   /* bumped in every child */
static int process_exiting;             /* set by our exit handler */
static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;
static __thread char load_error[512];

/*
 * fork: hold every lock of the layer across fork() so the child never
 * inherits one that a parent thread held mid-update (registry -> module ->
 * token lock is the lock order everywhere; no lock is held across a PIN prompt).
 */
/*
 * The fork gate (see p11_internal.h): a count of calls in flight, which
 * fork_prepare waits to fall to zero while new calls wait for the fork.
 * No lock on a call's way in or out (signing threads must not serialize):
 * one atomic add, then a look at the flags. The two sides follow Dekker's
 * pattern with sequentially consistent atomics - a caller increments then
 * reads gate_closed, fork_prepare sets it then reads the count - so at
 * least one of them sees the other. gate_lock and gate_cond are for the
 * waiting only: the caller that brings the count to zero during a fork
 * takes gate_lock to wake fork_prepare, which reads the count under it.
 * At exit the gate closes for good the same way (exit_drain).
 */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static unsigned long gate_inflight;
/*
 * Why the gate is closed: a fork waits (GATE_FORKING), a module is
 * initialised again (GATE_REINIT), or the process exits (GATE_EXITING,
 * for good).
 */
#define GATE_FORKING 1
#define GATE_EXITING 2
#define GATE_REINIT 4
static int gate_closed;
/* This thread closed the gate to initialise a module again: its own calls go through. */
static __thread int gate_owner;
/* One re-initialisation at a time: each closes the gate for every module. */
static pthread_mutex_t reinit_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Module calls this thread is inside. A module may fork inside a call -
 * p11-kit's remote modules start their helper process in C_Initialize - and
 * the fork handlers must then stand aside: this thread may hold the
 * layer's locks around the call (the registry's across C_Initialize), and
 * the calls in flight, its own among them, cannot drain. That child is the
 * module's, and execs at once.
 */
static __thread int calls_in_this_thread;
static __thread int forked_inside_call;

static void gate_release(void)
{
    if (__atomic_sub_fetch(&gate_inflight, 1, __ATOMIC_SEQ_CST) == 0
        && __atomic_load_n(&gate_closed, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&gate_lock);
        pthread_cond_broadcast(&gate_cond);
        pthread_mutex_unlock(&gate_lock);
    }
}

void tk_p11_gate_leave(void)
{
    calls_in_this_thread--;
    gate_release();
}

int tk_p11_gate_enter(void)
{
    for (;;) {
        __atomic_add_fetch(&gate_inflight, 1, __ATOMIC_SEQ_CST);
        int closed = __atomic_load_n(&gate_closed, __ATOMIC_SEQ_CST);

        if (closed == 0 || (closed == GATE_REINIT && gate_owner)) {
            calls_in_this_thread++;
            return 1;
        }
        gate_release();
        if (closed & GATE_EXITING)
            return 0;
        /* A fork or a re-initialisation waits for the calls in flight: step back until it is done. */
        pthread_mutex_lock(&gate_lock);
        while ((closed = __atomic_load_n(&gate_closed, __ATOMIC_SEQ_CST)) != 0
               && !(closed & GATE_EXITING))
            pthread_cond_wait(&gate_cond, &gate_lock);
        pthread_mutex_unlock(&gate_lock);
    }
}

CK_RV tk_p11_gate_refused(void)
{
    /* Not CKR_CRYPTOKI_NOT_INITIALIZED: that one makes the layer initialise the module again. */
    return TK_CKR_PROCESS_EXITING;
}

CK_RV tk_p11_gate_stale(void)
{
    tk_p11_gate_leave();
    return CKR_SESSION_CLOSED;
}

unsigned long tk_p11_module_epoch(const TK_P11_MODULE *m)
{
    return __atomic_load_n(&m->epoch, __ATOMIC_ACQUIRE);
}

static void fork_prepare(void)
{
    forked_inside_call = calls_in_this_thread > 0;
    if (forked_inside_call)
        return;
    pthread_mutex_lock(&registry_lock);
    for (TK_P11_MODULE *m = registry; m != NULL; m = m->next) {
        pthread_mutex_lock(&m->lock);
        for (struct tk_p11_token *t = m->tokens; t != NULL; t = t->next)
            pthread_mutex_lock(&t->lock);
    }
    /* Last: a thread inside a module call holds none of the locks above while in it. */
    pthread_mutex_lock(&gate_lock);
    __atomic_or_fetch(&gate_closed, GATE_FORKING, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&gate_inflight, __ATOMIC_SEQ_CST) > 0)
        pthread_cond_wait(&gate_cond, &gate_lock);
}

static void fork_release_locks(void)
{
    for (TK_P11_MODULE *m = registry; m != NULL; m = m->next) {
        for (struct tk_p11_token *t = m->tokens; t != NULL; t = t->next)
            pthread_mutex_unlock(&t->lock);
        pthread_mutex_unlock(&m->lock);
    }
    pthread_mutex_unlock(&registry_lock);
}

static void fork_release(void)
{
    if (forked_inside_call)
        return;
    __atomic_and_fetch(&gate_closed, ~GATE_FORKING, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
    fork_release_locks();
}

static void fork_child(void)
{
    if (forked_inside_call) {
        /*
         * The module's helper, which must exec: it inherits the locks this
         * thread holds around the call, so it cannot use the layer. The
         * generation is bumped all the same.
         */
        __atomic_fetch_add(&fork_generation, 1, __ATOMIC_SEQ_CST);
        return;
    }
    /* The parent's threads that waited at the gate are not in this process. */
    __atomic_and_fetch(&gate_closed, ~GATE_FORKING, __ATOMIC_SEQ_CST);
    __atomic_store_n(&gate_inflight, 0, __ATOMIC_SEQ_CST);
    pthread_cond_init(&gate_cond, NULL);
    pthread_mutex_unlock(&gate_lock);
    fork_release_locks();
    __atomic_fetch_add(&fork_generation, 1, __ATOMIC_SEQ_CST);
}

/*
 * At exit, a C++ module such as SoftHSM2 has already run its static
 * destructors by the time OpenSSL's own exit handler unloads providers.
 * Ours runs before OpenSSL's (see install_hooks). From
 * then on the module must not be called: no C_Finalize, no dlclose; the
 * operating system reclaims the rest.
 */
static void on_exit_handler(void)
{
    __atomic_store_n(&process_exiting, 1, __ATOMIC_SEQ_CST);
}

/*
 * Registered after each module is loaded and initialised, so it runs at
 * exit() before that module's own teardown (C++ static destructors, run
 * in the reverse order of registration): threads that still sign when the
 * application calls exit() - it should stop them first, but a Kafka client
 * with its threads is easily caught out - would otherwise call into a
 * module being destroyed, and crash the process. From here on calls are
 * refused (TK_CKR_PROCESS_EXITING) and the calls in flight are
 * waited for, up to a bound: a PIN pad waiting for a person must not
 * hold the exit up for ever.
 */
static struct timespec drain_until; /* one deadline for every registration (under gate_lock) */
static int drain_registrations;     /* under registry_lock */

static void exit_drain(void)
{
    __atomic_store_n(&process_exiting, 1, __ATOMIC_SEQ_CST);
    __atomic_or_fetch(&gate_closed, GATE_EXITING, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&gate_lock);
    if (drain_until.tv_sec == 0) {
        clock_gettime(CLOCK_REALTIME, &drain_until);
        drain_until.tv_sec += 2;
    }
    while (__atomic_load_n(&gate_inflight, __ATOMIC_SEQ_CST) > 0
           && pthread_cond_timedwait(&gate_cond, &gate_lock, &drain_until) == 0)
        ;
    pthread_mutex_unlock(&gate_lock);
}

static void install_hooks(void)
{
    pthread_atfork(fork_prepare, fork_release, fork_child);
    /*
     * Once is enough: OpenSSL registered its exit handler before any
     * provider could load a module, so ours always runs before it. When
     * this library is itself dlclose'd, glibc runs the handler then, which
     * is also right: nothing of ours runs after that.
     */
    atexit(on_exit_handler);
}

static CK_RV get_function_list(TK_P11_MODULE *m)
{
    tk_get_interface_fn get_interface;
    CK_C_GetFunctionList get_list;
    TK_CK_INTERFACE *iface = NULL;

    /* Prefer the 3.0 entry point; its list starts with the 2.40 layout. */
    *(void **)&get_interface = dlsym(m->dl, "C_GetInterface");
    if (get_interface != NULL
        && get_interface((CK_UTF8CHAR *)"PKCS 11", NULL, &iface, 0) == CKR_OK
        && iface != NULL && iface->pFunctionList != NULL) {
        m->fl = iface->pFunctionList;
        return CKR_OK;
    }
    *(void **)&get_list = dlsym(m->dl, "C_GetFunctionList");
    if (get_list == NULL)
        return TK_CKR_MODULE_SYMBOL;
    return get_list(&m->fl);
}

static CK_RV initialize(TK_P11_MODULE *m)
{
    CK_C_INITIALIZE_ARGS args;
    CK_RV rv;

    memset(&args, 0, sizeof(args));
    /* We call from many threads; let the module use the OS's locks. */
    args.flags = CKF_OS_LOCKING_OK;
    args.pReserved = m->init_args;
    rv = TK_P11_TRACED(TK_FN_C_Initialize, m->fl->C_Initialize(&args),
                       "%s", m->path);
    m->we_initialized = rv == CKR_OK;
    /* Someone else in this process (e.g. libp11) initialised it: share it. */
    if (rv == CKR_CRYPTOKI_ALREADY_INITIALIZED)
        rv = CKR_OK;
    return rv;
}

static void module_free(TK_P11_MODULE *m)
{
    struct tk_p11_token *t, *next;

    for (t = m->tokens; t != NULL; t = next) {
        next = t->next;
        tk_p11_token_free(t);
    }
    if (m->dl != NULL)
        dlclose(m->dl);
    pthread_mutex_destroy(&m->lock);
    OPENSSL_free(m->path);
    OPENSSL_free(m->init_args);
    OPENSSL_free(m);
}

/* Under registry_lock: the entry whose module has these functions (the same library). */
static TK_P11_MODULE *registry_find_functions(const CK_FUNCTION_LIST *fl)
{
    for (TK_P11_MODULE *m = registry; m != NULL; m = m->next)
        if (m->fl == fl)
            return m;
    return NULL;
}

/*
 * Under registry_lock: load path, or join the entry already loaded from the
 * same library (then *out is that entry, its reference count raised).
 */
static CK_RV module_load(const char *path, const char *init_args, TK_P11_MODULE **out)
{
    TK_P11_MODULE *m = OPENSSL_zalloc(sizeof(*m));
    CK_RV rv;

    if (m == NULL)
        return CKR_HOST_MEMORY;
    pthread_mutex_init(&m->lock, NULL);
    m->path = OPENSSL_strdup(path);
    m->init_args = init_args != NULL ? OPENSSL_strdup(init_args) : NULL;
    if (m->path == NULL || (init_args != NULL && m->init_args == NULL)) {
        module_free(m);
        return CKR_HOST_MEMORY;
    }
    /*
     * A module is given by its path. A bare name would be dlopen's search
     * (not the file in the current directory that the configuration check
     * and the CLI looked at), or, opened as ./NAME, whatever file of that
     * name the process's current directory holds when the key is first
     * used: neither is the module meant, so neither is loaded.
     */
    if (strchr(path, '/') == NULL) {
        snprintf(load_error, sizeof(load_error), "'%s' is not a path: give the module's path "
                 "(./%s for the one in the current directory)", path, path);
        module_free(m);
        return TK_CKR_MODULE_LOAD;
    }
    m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (m->dl == NULL) {
        const char *why = dlerror();

        snprintf(load_error, sizeof(load_error), "%s", why != NULL ? why : "");
        module_free(m);
        return TK_CKR_MODULE_LOAD;
    }
    rv = get_function_list(m);
    if (rv == CKR_OK && (*out = registry_find_functions(m->fl)) != NULL) {
        /*
         * The same library by another path (a symlink, a multiarch path):
         * one instance, one entry, or closing one would C_Finalize the
         * module under the other's feet.
         */
        TK_DEBUG("module %s is %s, already loaded", path, (*out)->path);
        (*out)->refs++;
        module_free(m);
        return CKR_OK;
    }
    if (rv == CKR_OK)
        rv = initialize(m);
    if (rv != CKR_OK) {
        TK_DEBUG("module %s: %s", path, tk_p11_rv_name(rv));
        module_free(m);
        return rv;
    }
    m->fork_gen = __atomic_load_n(&fork_generation, __ATOMIC_SEQ_CST);
    m->refs = 1;
    /*
     * After the module registered its own teardown - when it was mapped,
     * by us or by another library before - so that ours runs first (see
     * exit_drain). A process that opens modules again and again stops
     * registering after a while: each registration stays until exit.
     */
    if (drain_registrations < 32 && atexit(exit_drain) == 0)
        drain_registrations++;
    *out = m;
    return CKR_OK;
}

CK_RV tk_p11_module_open(const char *path, const char *init_args, TK_P11_MODULE **out)
{
    TK_P11_MODULE *m;
    CK_RV rv = CKR_OK;

    if (path == NULL || *path == '\0')
        return CKR_ARGUMENTS_BAD;
    pthread_once(&hooks_once, install_hooks);
    load_error[0] = '\0';
    pthread_mutex_lock(&registry_lock);
    for (m = registry; m != NULL; m = m->next)
        if (strcmp(m->path, path) == 0)
            break;
    if (m != NULL) {
        m->refs++;
    } else {
        rv = module_load(path, init_args, &m);
        if (rv == CKR_OK && m->refs == 1) {
            m->next = registry;
            registry = m;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (rv == CKR_OK) {
        rv = tk_p11_module_ready(m);
        if (rv != CKR_OK) {
            tk_p11_module_close(m);
            return rv;
        }
        *out = m;
    }
    return rv;
}

/*
 * The last reference to a module: its sessions closed and C_Finalize, in
 * the calling process's own case only (below). Called under registry_lock.
 */
static void module_shutdown(TK_P11_MODULE *m)
{
    if (tk_p11_module_hands_off(m)) {
        /* Our own memory is freed; the module, its sessions and its mapping are not touched. */
        TK_DEBUG("%s: leaving %s alone",
                 __atomic_load_n(&process_exiting, __ATOMIC_SEQ_CST) ? "process exiting"
                                                                     : "forked child", m->path);
        m->dl = NULL;
        module_free(m);
        return;
    }
    /* Closing our sessions first keeps modules that count them happy. */
    for (struct tk_p11_token *t = m->tokens; t != NULL; t = t->next)
        tk_p11_token_reset(t);
    if (m->we_initialized)
        TK_P11_TRACED(TK_FN_C_Finalize, m->fl->C_Finalize(NULL), "%s", m->path);
    module_free(m);
}

void tk_p11_module_close(TK_P11_MODULE *m)
{
    TK_P11_MODULE **pp;

    if (m == NULL)
        return;
    /*
     * Finalised before registry_lock is let go: an open of the same path
     * in between would find no entry, C_Initialize a module that is still
     * initialised (CKR_CRYPTOKI_ALREADY_INITIALIZED, taken as shared) and
     * lose it to this C_Finalize. A fork waits (fork_prepare takes
     * registry_lock before it closes the gate, so these calls get through).
     */
    pthread_mutex_lock(&registry_lock);
    if (--m->refs == 0) {
        for (pp = &registry; *pp != NULL; pp = &(*pp)->next)
            if (*pp == m) {
                *pp = m->next;
                break;
            }
        module_shutdown(m);
    }
    pthread_mutex_unlock(&registry_lock);
}

/*
 * PKCS#11 v2.40 section 6.7.7: a child process must C_Initialize before it
 * uses a module it inherited. Sessions, logins and object handles from the
 * parent are not ours any more; the tokens forget them.
 */
CK_RV tk_p11_module_ready(TK_P11_MODULE *m)
{
    unsigned long gen = __atomic_load_n(&fork_generation, __ATOMIC_ACQUIRE);
    CK_RV rv = CKR_OK;

    if (__atomic_load_n(&m->fork_gen, __ATOMIC_ACQUIRE) == gen)
        return CKR_OK;
    pthread_mutex_lock(&m->lock);
    if (m->fork_gen != gen) {
        TK_DEBUG("forked child: re-initialising %s", m->path);
        for (struct tk_p11_token *t = m->tokens; t != NULL; t = t->next)
            tk_p11_token_forget(t);
        /* The module numbers its handles afresh here too (one thread in a new child: no gate). */
        __atomic_store_n(&m->epoch, m->epoch + 1, __ATOMIC_RELEASE);
        rv = initialize(m);
        /* A module that ignores fork still thinks it is initialised. */
        if (rv == CKR_OK && !m->we_initialized) {
            TK_P11_TRACED(TK_FN_C_Finalize, m->fl->C_Finalize(NULL), "%s", m->path);
            rv = initialize(m);
        }
        if (rv == CKR_OK)
            __atomic_store_n(&m->fork_gen, gen, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&m->lock);
    return rv;
}

/*
 * PKCS#11 allows one initialisation per process (v2.40 section 5.4), so a
 * module is shared with any other library in the process that uses it (we
 * take CKR_CRYPTOKI_ALREADY_INITIALIZED as that). When that library calls
 * C_Finalize - it is done with the module, or is being unloaded - every
 * session, login and object handle of ours is gone with it and every call
 * answers CKR_CRYPTOKI_NOT_INITIALIZED. A Kafka client must not stop
 * signing for good over that.
 *
 * The module starts numbering its handles again once initialised (SoftHSM2
 * does), so one of ours from before may then name another session or
 * object: another library's, a token key that C_DestroyObject on a stale
 * session copy would delete. The new epoch keeps them apart: calls with
 * handles check theirs inside the gate (TK_P11_TRACED_IN), and the epoch
 * changes only with the gate drained, so no such call is in flight or can
 * start with an old handle after. The token locks are taken before the
 * gate closes, as fork_prepare does: a thread holding one (the anchor is
 * opened under it) may be waiting at the gate.
 */
static void close_gate_for_reinit(void)
{
    pthread_mutex_lock(&gate_lock);
    __atomic_or_fetch(&gate_closed, GATE_REINIT, __ATOMIC_SEQ_CST);
    while (__atomic_load_n(&gate_inflight, __ATOMIC_SEQ_CST) > 0)
        pthread_cond_wait(&gate_cond, &gate_lock);
    gate_owner = 1;
    pthread_mutex_unlock(&gate_lock);
}

static void open_gate_after_reinit(void)
{
    pthread_mutex_lock(&gate_lock);
    gate_owner = 0;
    __atomic_and_fetch(&gate_closed, ~GATE_REINIT, __ATOMIC_SEQ_CST);
    pthread_cond_broadcast(&gate_cond);
    pthread_mutex_unlock(&gate_lock);
}

CK_RV tk_p11_module_reinitialize(TK_P11_MODULE *m, unsigned long seen)
{
    CK_RV rv = tk_p11_module_ready(m);

    if (rv != CKR_OK)
        return rv;
    /* At exit the module may be torn down already: never initialise it then. */
    if (__atomic_load_n(&process_exiting, __ATOMIC_SEQ_CST))
        return TK_CKR_PROCESS_EXITING;
    pthread_mutex_lock(&reinit_lock);
    pthread_mutex_lock(&m->lock);
    if (m->epoch == seen) {
        TK_DEBUG("%s was finalised by another library in this process: initialising it again",
                 m->path);
        for (struct tk_p11_token *t = m->tokens; t != NULL; t = t->next)
            pthread_mutex_lock(&t->lock);
        close_gate_for_reinit();
        /* Before any token lock goes: under one, the new generation comes with the new epoch. */
        __atomic_store_n(&m->epoch, seen + 1, __ATOMIC_RELEASE);
        for (struct tk_p11_token *t = m->tokens; t != NULL; t = t->next) {
            tk_p11_token_forget_sessions_locked(t);
            pthread_mutex_unlock(&t->lock);
        }
        /* ALREADY_INITIALIZED: the other library came back first; it is then its to finalise. */
        rv = initialize(m);
        open_gate_after_reinit();
    }
    pthread_mutex_unlock(&m->lock);
    pthread_mutex_unlock(&reinit_lock);
    return rv;
}

TK_P11_MODULE *tk_p11_module_up_ref(TK_P11_MODULE *m)
{
    pthread_mutex_lock(&registry_lock);
    m->refs++;
    pthread_mutex_unlock(&registry_lock);
    return m;
}

int tk_p11_module_hands_off(const TK_P11_MODULE *m)
{
    return __atomic_load_n(&process_exiting, __ATOMIC_SEQ_CST)
           || __atomic_load_n(&m->fork_gen, __ATOMIC_ACQUIRE)
                  != __atomic_load_n(&fork_generation, __ATOMIC_ACQUIRE);
}

const char *tk_p11_module_path(const TK_P11_MODULE *m)
{
    return m->path;
}

CK_RV tk_p11_module_info(TK_P11_MODULE *m, CK_INFO *info)
{
    CK_RV rv = tk_p11_module_ready(m);
    unsigned long epoch = tk_p11_module_epoch(m);

    if (rv != CKR_OK)
        return rv;
    /* A token search by library attributes starts here, before the slot list. */
    rv = TK_P11_TRACED(TK_FN_C_GetInfo, m->fl->C_GetInfo(info), "%s", m->path);
    if (rv == CKR_CRYPTOKI_NOT_INITIALIZED && tk_p11_module_reinitialize(m, epoch) == CKR_OK)
        rv = TK_P11_TRACED(TK_FN_C_GetInfo, m->fl->C_GetInfo(info), "%s", m->path);
    return rv;
}

const char *tk_p11_module_load_error(void)
{
    return load_error;
}
