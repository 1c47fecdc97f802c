/* tk-tokenshim: see tokenshim.h. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tokenshim.h"
#include "tokenshim_ecdsa.h"

/* The entry point a PKCS#11 module exports (PKCS#11 v2.40 section 5.2). */
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static CK_FUNCTION_LIST shim;
static CK_FUNCTION_LIST *target;
static CK_RV load_rv = CKR_GENERAL_ERROR;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static CK_FLAGS added_flags;
static CK_FLAGS cleared_flags; /* from TK_TOKENFLAGS only, set before any call */
static unsigned long logins;
static int stop_early;
static CK_ATTRIBUTE_TYPE lie_type;
static int lie_how;
/* A serial number shown instead of the real one, blank-padded; used when serial_set. */
static pthread_mutex_t serial_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char serial[16];
static int serial_set;
/* The copy shown early: the delay, and the object being copied while one is under way. */
static int copy_delay_ms;
static int copies_under_way;
static CK_OBJECT_HANDLE copying;
static unsigned long copies_shown; /* searches that listed the copy in the making */
/* copy_delay_ms < 0: the copy waits for tk_tokenshim_release_copy. */
static pthread_mutex_t copy_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t copy_released = PTHREAD_COND_INITIALIZER;
static unsigned long copy_releases;
/* Per thread: the current search already showed the copy (a search runs on one thread). */
static __thread int shown_in_search;

void tk_tokenshim_set_token_flags(CK_FLAGS flags)
{
    __atomic_store_n(&added_flags, flags, __ATOMIC_SEQ_CST);
}

void tk_tokenshim_set_token_serial(const char *text)
{
    pthread_mutex_lock(&serial_lock);
    serial_set = text != NULL;
    memset(serial, ' ', sizeof(serial));
    if (text != NULL)
        memcpy(serial, text, strlen(text) < sizeof(serial) ? strlen(text) : sizeof(serial));
    pthread_mutex_unlock(&serial_lock);
}

unsigned long tk_tokenshim_logins(void)
{
    return __atomic_load_n(&logins, __ATOMIC_SEQ_CST);
}

void tk_tokenshim_set_attrs_stop_early(int on)
{
    __atomic_store_n(&stop_early, on, __ATOMIC_SEQ_CST);
}

void tk_tokenshim_set_attr_length_lie(CK_ATTRIBUTE_TYPE type, int how)
{
    __atomic_store_n(&lie_type, type, __ATOMIC_SEQ_CST);
    __atomic_store_n(&lie_how, how, __ATOMIC_SEQ_CST);
}

void tk_tokenshim_set_copy_shows_early(int ms)
{
    __atomic_store_n(&copy_delay_ms, ms, __ATOMIC_SEQ_CST);
}

int tk_tokenshim_copies_under_way(void)
{
    return __atomic_load_n(&copies_under_way, __ATOMIC_SEQ_CST);
}

unsigned long tk_tokenshim_copies_shown(void)
{
    return __atomic_load_n(&copies_shown, __ATOMIC_SEQ_CST);
}

void tk_tokenshim_release_copy(void)
{
    pthread_mutex_lock(&copy_lock);
    copy_releases++;
    pthread_cond_broadcast(&copy_released);
    pthread_mutex_unlock(&copy_lock);
}

/* A copy held until the test lets it go. */
static void wait_for_release(void)
{
    unsigned long mine;

    pthread_mutex_lock(&copy_lock);
    mine = copy_releases;
    while (copy_releases == mine)
        pthread_cond_wait(&copy_released, &copy_lock);
    pthread_mutex_unlock(&copy_lock);
}

static CK_RV shim_copy_object(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR tmpl,
                              CK_ULONG n, CK_OBJECT_HANDLE_PTR copy)
{
    int ms = __atomic_load_n(&copy_delay_ms, __ATOMIC_SEQ_CST);
    CK_RV rv;

    if (ms == 0)
        return target->C_CopyObject(h, o, tmpl, n, copy);
    __atomic_store_n(&copying, o, __ATOMIC_SEQ_CST);
    __atomic_add_fetch(&copies_under_way, 1, __ATOMIC_SEQ_CST);
    if (ms > 0)
        usleep((useconds_t)ms * 1000);
    else
        wait_for_release();
    rv = target->C_CopyObject(h, o, tmpl, n, copy);
    __atomic_sub_fetch(&copies_under_way, 1, __ATOMIC_SEQ_CST);
    return rv;
}

/* tk_tokenshim_fail_finds_of_class: searches for failing_class answer failing_find_rv. */
static CK_OBJECT_CLASS failing_class = TK_TOKENSHIM_NO_CLASS;
static CK_RV failing_find_rv;

void tk_tokenshim_fail_finds_of_class(CK_OBJECT_CLASS cls, CK_RV rv)
{
    __atomic_store_n(&failing_find_rv, rv, __ATOMIC_SEQ_CST);
    __atomic_store_n(&failing_class, cls, __ATOMIC_SEQ_CST);
}

static int searches_failing_class(const CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
    CK_OBJECT_CLASS cls = __atomic_load_n(&failing_class, __ATOMIC_SEQ_CST);

    for (CK_ULONG i = 0; cls != TK_TOKENSHIM_NO_CLASS && i < n; i++)
        if (tmpl[i].type == CKA_CLASS && tmpl[i].ulValueLen == sizeof(cls)
            && memcmp(tmpl[i].pValue, &cls, sizeof(cls)) == 0)
            return 1;
    return 0;
}

static CK_RV shim_find_objects_init(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    shown_in_search = 0;
    if (searches_failing_class(tmpl, n))
        return __atomic_load_n(&failing_find_rv, __ATOMIC_SEQ_CST);
    return target->C_FindObjectsInit(h, tmpl, n);
}

/* The object being copied, once more after the real answer, if the search found it. */
static CK_RV shim_find_objects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max,
                               CK_ULONG_PTR got)
{
    CK_RV rv = target->C_FindObjects(h, out, max, got);

    if (rv != CKR_OK || shown_in_search || *got >= max
        || __atomic_load_n(&copies_under_way, __ATOMIC_SEQ_CST) == 0)
        return rv;
    for (CK_ULONG i = 0; i < *got; i++)
        if (out[i] == __atomic_load_n(&copying, __ATOMIC_SEQ_CST)) {
            out[(*got)++] = out[i];
            shown_in_search = 1;
            __atomic_add_fetch(&copies_shown, 1, __ATOMIC_SEQ_CST);
            break;
        }
    return rv;
}

/*
 * TK_TOKENFLAGS's names: flags shown set, or (NO_USER_PIN) cleared into
 * *cleared; an unknown one is a broken test, so abort loudly.
 */
static CK_FLAGS parse_flags(const char *text, CK_FLAGS *cleared)
{
    static const struct { const char *name; CK_FLAGS flag; int clear; } names[] = {
        { "LOCKED", CKF_USER_PIN_LOCKED, 0 },
        { "FINAL_TRY", CKF_USER_PIN_FINAL_TRY, 0 },
        { "COUNT_LOW", CKF_USER_PIN_COUNT_LOW, 0 },
        { "WRITE_PROTECTED", CKF_WRITE_PROTECTED, 0 },
        { "PROTECTED_PATH", CKF_PROTECTED_AUTHENTICATION_PATH, 0 },
        { "TO_BE_CHANGED", CKF_USER_PIN_TO_BE_CHANGED, 0 },
        { "NO_USER_PIN", CKF_USER_PIN_INITIALIZED, 1 },
    };
    CK_FLAGS flags = 0;

    *cleared = 0;

    while (text != NULL && *text != '\0') {
        size_t len = strcspn(text, ","), i;

        for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strlen(names[i].name) == len && strncmp(names[i].name, text, len) == 0)
                break;
        if (i == sizeof(names) / sizeof(names[0])) {
            fprintf(stderr, "tk-tokenshim: unknown flag '%.*s' in TK_TOKENFLAGS\n", (int)len, text);
            abort();
        }
        if (names[i].clear)
            *cleared |= names[i].flag;
        else
            flags |= names[i].flag;
        text += len + (text[len] == ',');
    }
    return flags;
}

static CK_RV shim_get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    CK_RV rv = target->C_GetTokenInfo(slot, info);

    if (rv == CKR_OK) {
        info->flags |= __atomic_load_n(&added_flags, __ATOMIC_SEQ_CST);
        info->flags &= ~cleared_flags;
        pthread_mutex_lock(&serial_lock);
        if (serial_set)
            memcpy(info->serialNumber, serial, sizeof(info->serialNumber));
        pthread_mutex_unlock(&serial_lock);
    }
    return rv;
}

/* The session limit: sessions open through the shim, counted under session_lock. */
static pthread_mutex_t session_lock = PTHREAD_MUTEX_INITIALIZER;
static int max_sessions, open_sessions;
static unsigned long sessions_refused;

void tk_tokenshim_set_max_sessions(int n)
{
    pthread_mutex_lock(&session_lock);
    max_sessions = n;
    pthread_mutex_unlock(&session_lock);
}

int tk_tokenshim_sessions_open(void)
{
    int n;

    pthread_mutex_lock(&session_lock);
    n = open_sessions;
    pthread_mutex_unlock(&session_lock);
    return n;
}

unsigned long tk_tokenshim_sessions_refused(void)
{
    return __atomic_load_n(&sessions_refused, __ATOMIC_SEQ_CST);
}

static CK_RV shim_open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app,
                               CK_NOTIFY notify, CK_SESSION_HANDLE_PTR session)
{
    CK_RV rv;

    if ((__atomic_load_n(&added_flags, __ATOMIC_SEQ_CST) & CKF_WRITE_PROTECTED)
        && (flags & CKF_RW_SESSION))
        return CKR_TOKEN_WRITE_PROTECTED;
    pthread_mutex_lock(&session_lock);
    if (max_sessions > 0 && open_sessions >= max_sessions) {
        __atomic_add_fetch(&sessions_refused, 1, __ATOMIC_SEQ_CST);
        rv = CKR_SESSION_COUNT;
    } else {
        rv = target->C_OpenSession(slot, flags, app, notify, session);
        open_sessions += rv == CKR_OK;
    }
    pthread_mutex_unlock(&session_lock);
    return rv;
}

static CK_RV shim_close_session(CK_SESSION_HANDLE h)
{
    CK_RV rv = target->C_CloseSession(h);

    pthread_mutex_lock(&session_lock);
    open_sessions -= rv == CKR_OK && open_sessions > 0;
    pthread_mutex_unlock(&session_lock);
    return rv;
}

/* The tests have one slot: every session is on it. */
static CK_RV shim_close_all_sessions(CK_SLOT_ID slot)
{
    CK_RV rv = target->C_CloseAllSessions(slot);

    pthread_mutex_lock(&session_lock);
    if (rv == CKR_OK)
        open_sessions = 0;
    pthread_mutex_unlock(&session_lock);
    return rv;
}

/* tk_tokenshim_close_sessions_after_next_generate: armed until a generation succeeds. */
static int close_after_generate;
static CK_RV fail_finds_after_generate;
static const char *serial_after_generate; /* the test's string literal */

void tk_tokenshim_swap_card_after_next_generate(const char *other_serial)
{
    __atomic_store_n(&serial_after_generate, other_serial, __ATOMIC_SEQ_CST);
}

void tk_tokenshim_close_sessions_after_next_generate(CK_RV then_fail_finds)
{
    __atomic_store_n(&fail_finds_after_generate, then_fail_finds, __ATOMIC_SEQ_CST);
    __atomic_store_n(&close_after_generate, 1, __ATOMIC_SEQ_CST);
}

static CK_RV shim_generate_key_pair(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech,
                                    CK_ATTRIBUTE_PTR pub, CK_ULONG npub, CK_ATTRIBUTE_PTR priv,
                                    CK_ULONG npriv, CK_OBJECT_HANDLE_PTR hpub,
                                    CK_OBJECT_HANDLE_PTR hpriv)
{
    CK_RV rv = target->C_GenerateKeyPair(h, mech, pub, npub, priv, npriv, hpub, hpriv);
    CK_SESSION_INFO info;

    if (rv == CKR_OK && __atomic_exchange_n(&close_after_generate, 0, __ATOMIC_SEQ_CST)
        && target->C_GetSessionInfo(h, &info) == CKR_OK) {
        CK_RV then = __atomic_load_n(&fail_finds_after_generate, __ATOMIC_SEQ_CST);

        const char *swap = __atomic_exchange_n(&serial_after_generate, NULL, __ATOMIC_SEQ_CST);

        shim_close_all_sessions(info.slotID);
        if (then != CKR_OK)
            tk_tokenshim_fail_finds_of_class(CKO_PRIVATE_KEY, then);
        if (swap != NULL)
            tk_tokenshim_set_token_serial(swap);
    }
    return rv;
}

static CK_RV shim_login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    const char *path = getenv("TK_TOKENFLAGS_LOGINS");

    __atomic_fetch_add(&logins, 1, __ATOMIC_SEQ_CST);
    if (path != NULL) {
        int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);

        /* Never the PIN: the user type, and whether one came (a PIN pad's login has none). */
        if (fd >= 0) {
            dprintf(fd, "C_Login user=%lu%s\n", (unsigned long)user, pin == NULL ? " no-pin" : "");
            close(fd);
        }
    }
    return target->C_Login(h, user, pin, len);
}

/*
 * TK_TOKENSHIM_FORK_IN_INITIALIZE=1: start a helper process inside
 * C_Initialize, as p11-kit's remote modules ("remote: |command") do: the
 * child execs at once, the parent goes on.
 */
static CK_RV shim_initialize(CK_VOID_PTR args)
{
    const char *fork_in = getenv("TK_TOKENSHIM_FORK_IN_INITIALIZE");
    const char *want_args = getenv("TK_TOKENSHIM_INIT_ARGS");
    CK_C_INITIALIZE_ARGS without_args;

    /*
     * TK_TOKENSHIM_INIT_ARGS=TEXT: a module that needs arguments of its
     * own, as NSS softokn does: pReserved must be exactly TEXT. SoftHSM2
     * beneath refuses any, so it gets none.
     */
    if (want_args != NULL) {
        const CK_C_INITIALIZE_ARGS *in = args;

        if (in == NULL || in->pReserved == NULL || strcmp(in->pReserved, want_args) != 0)
            return CKR_ARGUMENTS_BAD;
        without_args = *in;
        without_args.pReserved = NULL;
        args = &without_args;
    }

    if (fork_in != NULL && strcmp(fork_in, "1") == 0) {
        pid_t pid = fork();
        int status;

        if (pid == 0) {
            execl("/bin/true", "true", (char *)NULL);
            _exit(127);
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)
            || WEXITSTATUS(status) != 0)
            return CKR_GENERAL_ERROR;
    }
    return target->C_Initialize(args);
}

/*
 * tk_tokenshim_fail_next_sign: the next C_Sign that would write a signature
 * answers rv instead, after setting the length to 0, as some modules do on
 * failure (the real operation stays active on that session).
 */
static CK_RV fail_next_sign_rv;
static CK_ULONG sign_length_extra;
static CK_RV (*next_sign)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);

static CK_RV shim_sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                       CK_ULONG_PTR siglen)
{
    CK_RV rv = sig != NULL ? __atomic_exchange_n(&fail_next_sign_rv, CKR_OK, __ATOMIC_SEQ_CST)
                           : CKR_OK;

    if (rv != CKR_OK) {
        *siglen = 0;
        return rv;
    }
    rv = next_sign(h, data, len, sig, siglen);
    if (rv == CKR_OK && sig != NULL)
        *siglen += __atomic_exchange_n(&sign_length_extra, 0, __ATOMIC_SEQ_CST);
    return rv;
}

/* tk_tokenshim_refuse_session_keys: C_SignInit with a session object answers this. */
static CK_RV session_key_rv;
static unsigned long session_keys_refused;
static CK_RV (*next_sign_init)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);

static CK_RV shim_sign_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    CK_RV refuse = __atomic_load_n(&session_key_rv, __ATOMIC_SEQ_CST);
    CK_BBOOL on_token = CK_TRUE;
    CK_ATTRIBUTE a = { CKA_TOKEN, &on_token, sizeof(on_token) };

    if (refuse != CKR_OK && target->C_GetAttributeValue(h, key, &a, 1) == CKR_OK && !on_token) {
        __atomic_add_fetch(&session_keys_refused, 1, __ATOMIC_SEQ_CST);
        return refuse;
    }
    return next_sign_init(h, mech, key);
}

void tk_tokenshim_refuse_session_keys(CK_RV rv)
{
    __atomic_store_n(&session_key_rv, rv, __ATOMIC_SEQ_CST);
}

unsigned long tk_tokenshim_session_keys_refused(void)
{
    return __atomic_load_n(&session_keys_refused, __ATOMIC_SEQ_CST);
}

void tk_tokenshim_lie_next_sign_length(CK_ULONG extra)
{
    __atomic_store_n(&sign_length_extra, extra, __ATOMIC_SEQ_CST);
}

void tk_tokenshim_fail_next_sign(CK_RV rv)
{
    __atomic_store_n(&fail_next_sign_rv, rv, __ATOMIC_SEQ_CST);
}

/* The lengths a module with a bug reports for lie_type (tk_tokenshim_set_attr_length_lie). */
static void tell_lies(CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    CK_ATTRIBUTE_TYPE type = __atomic_load_n(&lie_type, __ATOMIC_SEQ_CST);
    int how = __atomic_load_n(&lie_how, __ATOMIC_SEQ_CST);

    for (CK_ULONG i = 0; how != 0 && i < n; i++) {
        if (tmpl[i].type != type || tmpl[i].ulValueLen == CK_UNAVAILABLE_INFORMATION)
            continue;
        if (how == TK_TOKENSHIM_LIE_HUGE && tmpl[i].pValue == NULL)
            tmpl[i].ulValueLen = 2UL * 1024 * 1024;
        else if (how == TK_TOKENSHIM_LIE_PAST_BUFFER && tmpl[i].pValue != NULL)
            tmpl[i].ulValueLen += 64;
    }
}

/* tk_tokenshim_fail_mechanism_info: the next C_GetMechanismInfo of failing_mech answers failing_mech_rv. */
static CK_MECHANISM_TYPE failing_mech;
static CK_RV failing_mech_rv;

void tk_tokenshim_fail_mechanism_info(CK_MECHANISM_TYPE m, CK_RV rv)
{
    __atomic_store_n(&failing_mech, m, __ATOMIC_SEQ_CST);
    __atomic_store_n(&failing_mech_rv, rv, __ATOMIC_SEQ_CST);
}

static CK_RV (*next_mechanism_info)(CK_SLOT_ID, CK_MECHANISM_TYPE, CK_MECHANISM_INFO_PTR);

static CK_RV shim_get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE m,
                                     CK_MECHANISM_INFO_PTR info)
{
    if (m == __atomic_load_n(&failing_mech, __ATOMIC_SEQ_CST)) {
        CK_RV rv = __atomic_exchange_n(&failing_mech_rv, CKR_OK, __ATOMIC_SEQ_CST);

        if (rv != CKR_OK)
            return rv;
    }
    return next_mechanism_info(slot, m, info);
}

/* tk_tokenshim_fail_object_reads: reads of failing_object answer failing_rv. */
static CK_OBJECT_HANDLE failing_object = CK_INVALID_HANDLE;
static CK_RV failing_rv;

void tk_tokenshim_fail_object_reads(CK_OBJECT_HANDLE o, CK_RV rv)
{
    __atomic_store_n(&failing_rv, rv, __ATOMIC_SEQ_CST);
    __atomic_store_n(&failing_object, o, __ATOMIC_SEQ_CST);
}

static CK_RV shim_get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE o,
                                      CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
    CK_RV rv = CKR_OK;

    if (o != CK_INVALID_HANDLE && o == __atomic_load_n(&failing_object, __ATOMIC_SEQ_CST))
        return __atomic_load_n(&failing_rv, __ATOMIC_SEQ_CST);
    if (!__atomic_load_n(&stop_early, __ATOMIC_SEQ_CST)) {
        rv = target->C_GetAttributeValue(h, o, tmpl, n);
    } else {
        for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++)
            rv = target->C_GetAttributeValue(h, o, &tmpl[i], 1);
    }
    tell_lies(tmpl, n);
    return rv;
}

static void load(void)
{
    const char *path = getenv("TK_TOKENSHIM_TARGET");
    CK_C_GetFunctionList get;
    void *dl;

    if (path == NULL)
        path = getenv("TOKENKEY_TEST_MODULE");
    if (path == NULL || (dl = dlopen(path, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "tk-tokenshim: cannot load %s: %s\n", path != NULL ? path : "(unset)",
                path != NULL ? dlerror() : "set TK_TOKENSHIM_TARGET");
        return;
    }
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    if (get == NULL || get(&target) != CKR_OK)
        return;
    added_flags = parse_flags(getenv("TK_TOKENFLAGS"), &cleared_flags);
    shim = *target;
    shim.C_GetFunctionList = C_GetFunctionList;
    shim.C_Initialize = shim_initialize;
    shim.C_GetTokenInfo = shim_get_token_info;
    shim.C_OpenSession = shim_open_session;
    shim.C_CloseSession = shim_close_session;
    shim.C_CloseAllSessions = shim_close_all_sessions;
    shim.C_GenerateKeyPair = shim_generate_key_pair;
    shim.C_Login = shim_login;
    shim.C_GetAttributeValue = shim_get_attribute_value;
    shim.C_CopyObject = shim_copy_object;
    shim.C_FindObjectsInit = shim_find_objects_init;
    shim.C_FindObjects = shim_find_objects;
    tk_tokenshim_ecdsa_wire(&shim, target, getenv("TK_TOKENSHIM_ECDSA"));
    next_sign = shim.C_Sign;
    shim.C_Sign = shim_sign;
    next_sign_init = shim.C_SignInit;
    shim.C_SignInit = shim_sign_init;
    next_mechanism_info = shim.C_GetMechanismInfo;
    shim.C_GetMechanismInfo = shim_get_mechanism_info;
    load_rv = CKR_OK;
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
    pthread_once(&load_once, load);
    if (load_rv != CKR_OK)
        return load_rv;
    *list = &shim;
    return CKR_OK;
}
