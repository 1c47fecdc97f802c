/*
 * tk-faultmod's rules engine: parsing rules, deciding per call which fire,
 * the control file, the counters and the stats file. The syntax is
 * documented at the top of faultmod.c.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "faultmod.h"
#include "faultmod_rules.h"

#define FM_EXPORT __attribute__((visibility("default")))
#define FM_MAX_RULES 64
#define FM_CONTROL_MAX 65536

static const char *const fn_names[FM_COUNT] = {
    "C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList",
    "C_GetSlotList", "C_GetSlotInfo", "C_GetTokenInfo", "C_GetMechanismList",
    "C_GetMechanismInfo", "C_InitToken", "C_InitPIN", "C_SetPIN",
    "C_OpenSession", "C_CloseSession", "C_CloseAllSessions", "C_GetSessionInfo",
    "C_GetOperationState", "C_SetOperationState", "C_Login", "C_Logout",
    "C_CreateObject", "C_CopyObject", "C_DestroyObject", "C_GetObjectSize",
    "C_GetAttributeValue", "C_SetAttributeValue", "C_FindObjectsInit", "C_FindObjects",
    "C_FindObjectsFinal", "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate",
    "C_EncryptFinal", "C_DecryptInit", "C_Decrypt", "C_DecryptUpdate",
    "C_DecryptFinal", "C_DigestInit", "C_Digest", "C_DigestUpdate",
    "C_DigestKey", "C_DigestFinal", "C_SignInit", "C_Sign",
    "C_SignUpdate", "C_SignFinal", "C_SignRecoverInit", "C_SignRecover",
    "C_VerifyInit", "C_Verify", "C_VerifyUpdate", "C_VerifyFinal",
    "C_VerifyRecoverInit", "C_VerifyRecover", "C_DigestEncryptUpdate",
    "C_DecryptDigestUpdate", "C_SignEncryptUpdate", "C_DecryptVerifyUpdate",
    "C_GenerateKey", "C_GenerateKeyPair", "C_WrapKey", "C_UnwrapKey",
    "C_DeriveKey", "C_SeedRandom", "C_GenerateRandom", "C_GetFunctionStatus",
    "C_CancelFunction", "C_WaitForSlotEvent",
};

/* The CKR_ values a rule may name (PKCS#11 v2.40 section 11.1). */
static const struct {
    const char *name;
    CK_RV rv;
} ckr_names[] = {
    { "CKR_CANCEL", CKR_CANCEL },
    { "CKR_HOST_MEMORY", CKR_HOST_MEMORY },
    { "CKR_SLOT_ID_INVALID", CKR_SLOT_ID_INVALID },
    { "CKR_GENERAL_ERROR", CKR_GENERAL_ERROR },
    { "CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED },
    { "CKR_ARGUMENTS_BAD", CKR_ARGUMENTS_BAD },
    { "CKR_NO_EVENT", CKR_NO_EVENT },
    { "CKR_NEED_TO_CREATE_THREADS", CKR_NEED_TO_CREATE_THREADS },
    { "CKR_CANT_LOCK", CKR_CANT_LOCK },
    { "CKR_ATTRIBUTE_READ_ONLY", CKR_ATTRIBUTE_READ_ONLY },
    { "CKR_ATTRIBUTE_SENSITIVE", CKR_ATTRIBUTE_SENSITIVE },
    { "CKR_ATTRIBUTE_TYPE_INVALID", CKR_ATTRIBUTE_TYPE_INVALID },
    { "CKR_ATTRIBUTE_VALUE_INVALID", CKR_ATTRIBUTE_VALUE_INVALID },
    { "CKR_ACTION_PROHIBITED", CKR_ACTION_PROHIBITED },
    { "CKR_DATA_INVALID", CKR_DATA_INVALID },
    { "CKR_DATA_LEN_RANGE", CKR_DATA_LEN_RANGE },
    { "CKR_DEVICE_ERROR", CKR_DEVICE_ERROR },
    { "CKR_DEVICE_MEMORY", CKR_DEVICE_MEMORY },
    { "CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED },
    { "CKR_ENCRYPTED_DATA_INVALID", CKR_ENCRYPTED_DATA_INVALID },
    { "CKR_ENCRYPTED_DATA_LEN_RANGE", CKR_ENCRYPTED_DATA_LEN_RANGE },
    { "CKR_FUNCTION_CANCELED", CKR_FUNCTION_CANCELED },
    { "CKR_FUNCTION_NOT_PARALLEL", CKR_FUNCTION_NOT_PARALLEL },
    { "CKR_FUNCTION_NOT_SUPPORTED", CKR_FUNCTION_NOT_SUPPORTED },
    { "CKR_KEY_HANDLE_INVALID", CKR_KEY_HANDLE_INVALID },
    { "CKR_KEY_SIZE_RANGE", CKR_KEY_SIZE_RANGE },
    { "CKR_KEY_TYPE_INCONSISTENT", CKR_KEY_TYPE_INCONSISTENT },
    { "CKR_KEY_NOT_NEEDED", CKR_KEY_NOT_NEEDED },
    { "CKR_KEY_CHANGED", CKR_KEY_CHANGED },
    { "CKR_KEY_NEEDED", CKR_KEY_NEEDED },
    { "CKR_KEY_INDIGESTIBLE", CKR_KEY_INDIGESTIBLE },
    { "CKR_KEY_FUNCTION_NOT_PERMITTED", CKR_KEY_FUNCTION_NOT_PERMITTED },
    { "CKR_KEY_NOT_WRAPPABLE", CKR_KEY_NOT_WRAPPABLE },
    { "CKR_KEY_UNEXTRACTABLE", CKR_KEY_UNEXTRACTABLE },
    { "CKR_MECHANISM_INVALID", CKR_MECHANISM_INVALID },
    { "CKR_MECHANISM_PARAM_INVALID", CKR_MECHANISM_PARAM_INVALID },
    { "CKR_OBJECT_HANDLE_INVALID", CKR_OBJECT_HANDLE_INVALID },
    { "CKR_OPERATION_ACTIVE", CKR_OPERATION_ACTIVE },
    { "CKR_OPERATION_NOT_INITIALIZED", CKR_OPERATION_NOT_INITIALIZED },
    { "CKR_PIN_INCORRECT", CKR_PIN_INCORRECT },
    { "CKR_PIN_INVALID", CKR_PIN_INVALID },
    { "CKR_PIN_LEN_RANGE", CKR_PIN_LEN_RANGE },
    { "CKR_PIN_EXPIRED", CKR_PIN_EXPIRED },
    { "CKR_PIN_LOCKED", CKR_PIN_LOCKED },
    { "CKR_SESSION_CLOSED", CKR_SESSION_CLOSED },
    { "CKR_SESSION_COUNT", CKR_SESSION_COUNT },
    { "CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID },
    { "CKR_SESSION_PARALLEL_NOT_SUPPORTED", CKR_SESSION_PARALLEL_NOT_SUPPORTED },
    { "CKR_SESSION_READ_ONLY", CKR_SESSION_READ_ONLY },
    { "CKR_SESSION_EXISTS", CKR_SESSION_EXISTS },
    { "CKR_SESSION_READ_ONLY_EXISTS", CKR_SESSION_READ_ONLY_EXISTS },
    { "CKR_SESSION_READ_WRITE_SO_EXISTS", CKR_SESSION_READ_WRITE_SO_EXISTS },
    { "CKR_SIGNATURE_INVALID", CKR_SIGNATURE_INVALID },
    { "CKR_SIGNATURE_LEN_RANGE", CKR_SIGNATURE_LEN_RANGE },
    { "CKR_TEMPLATE_INCOMPLETE", CKR_TEMPLATE_INCOMPLETE },
    { "CKR_TEMPLATE_INCONSISTENT", CKR_TEMPLATE_INCONSISTENT },
    { "CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT },
    { "CKR_TOKEN_NOT_RECOGNIZED", CKR_TOKEN_NOT_RECOGNIZED },
    { "CKR_TOKEN_WRITE_PROTECTED", CKR_TOKEN_WRITE_PROTECTED },
    { "CKR_UNWRAPPING_KEY_HANDLE_INVALID", CKR_UNWRAPPING_KEY_HANDLE_INVALID },
    { "CKR_UNWRAPPING_KEY_SIZE_RANGE", CKR_UNWRAPPING_KEY_SIZE_RANGE },
    { "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT", CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT },
    { "CKR_USER_ALREADY_LOGGED_IN", CKR_USER_ALREADY_LOGGED_IN },
    { "CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN },
    { "CKR_USER_PIN_NOT_INITIALIZED", CKR_USER_PIN_NOT_INITIALIZED },
    { "CKR_USER_TYPE_INVALID", CKR_USER_TYPE_INVALID },
    { "CKR_USER_ANOTHER_ALREADY_LOGGED_IN", CKR_USER_ANOTHER_ALREADY_LOGGED_IN },
    { "CKR_USER_TOO_MANY_TYPES", CKR_USER_TOO_MANY_TYPES },
    { "CKR_WRAPPED_KEY_INVALID", CKR_WRAPPED_KEY_INVALID },
    { "CKR_WRAPPED_KEY_LEN_RANGE", CKR_WRAPPED_KEY_LEN_RANGE },
    { "CKR_WRAPPING_KEY_HANDLE_INVALID", CKR_WRAPPING_KEY_HANDLE_INVALID },
    { "CKR_WRAPPING_KEY_SIZE_RANGE", CKR_WRAPPING_KEY_SIZE_RANGE },
    { "CKR_WRAPPING_KEY_TYPE_INCONSISTENT", CKR_WRAPPING_KEY_TYPE_INCONSISTENT },
    { "CKR_RANDOM_SEED_NOT_SUPPORTED", CKR_RANDOM_SEED_NOT_SUPPORTED },
    { "CKR_RANDOM_NO_RNG", CKR_RANDOM_NO_RNG },
    { "CKR_DOMAIN_PARAMS_INVALID", CKR_DOMAIN_PARAMS_INVALID },
    { "CKR_CURVE_NOT_SUPPORTED", CKR_CURVE_NOT_SUPPORTED },
    { "CKR_BUFFER_TOO_SMALL", CKR_BUFFER_TOO_SMALL },
    { "CKR_SAVED_STATE_INVALID", CKR_SAVED_STATE_INVALID },
    { "CKR_INFORMATION_SENSITIVE", CKR_INFORMATION_SENSITIVE },
    { "CKR_STATE_UNSAVEABLE", CKR_STATE_UNSAVEABLE },
    { "CKR_CRYPTOKI_NOT_INITIALIZED", CKR_CRYPTOKI_NOT_INITIALIZED },
    { "CKR_CRYPTOKI_ALREADY_INITIALIZED", CKR_CRYPTOKI_ALREADY_INITIALIZED },
    { "CKR_MUTEX_BAD", CKR_MUTEX_BAD },
    { "CKR_MUTEX_NOT_LOCKED", CKR_MUTEX_NOT_LOCKED },
    { "CKR_NEW_PIN_MODE", CKR_NEW_PIN_MODE },
    { "CKR_NEXT_OTP", CKR_NEXT_OTP },
    { "CKR_EXCEEDED_MAX_ITERATIONS", CKR_EXCEEDED_MAX_ITERATIONS },
    { "CKR_FIPS_SELF_TEST_FAILED", CKR_FIPS_SELF_TEST_FAILED },
    { "CKR_LIBRARY_LOAD_FAILED", CKR_LIBRARY_LOAD_FAILED },
    { "CKR_PIN_TOO_WEAK", CKR_PIN_TOO_WEAK },
    { "CKR_PUBLIC_KEY_INVALID", CKR_PUBLIC_KEY_INVALID },
    { "CKR_FUNCTION_REJECTED", CKR_FUNCTION_REJECTED },
};

typedef enum { ACT_ERROR, ACT_DELAY, ACT_RESET, ACT_HOLD, ACT_AFTER } FM_ACT;
typedef enum { WHEN_NTH, WHEN_FROM, WHEN_ALWAYS, WHEN_PROB } FM_WHEN;

typedef struct {
    FM_FN fn;
    FM_ACT act;
    CK_RV rv;               /* ACT_ERROR, ACT_AFTER */
    unsigned long ms;       /* ACT_DELAY */
    FM_WHEN when;
    unsigned long n;        /* WHEN_NTH, WHEN_FROM: 1-based call number */
    double p;               /* WHEN_PROB */
    unsigned long seen;     /* calls that reached this rule, under rules_lock */
} FM_RULE;

/* The rules in force: read under rules_lock; has_rule[] is the lock-free fast path. */
static pthread_mutex_t rules_lock = PTHREAD_MUTEX_INITIALIZER;
static FM_RULE rules[FM_MAX_RULES];
static size_t n_rules;
static unsigned char has_rule[FM_COUNT];

/* Counters: relaxed atomics (statistics; read after the work is done). */
static unsigned long calls[FM_COUNT], injected[FM_COUNT];
static unsigned long inflight[FM_COUNT], max_inflight[FM_COUNT];

static const char *control_path;
/* What the control file looked like when last read; 1: no file (nothing happens until one appears). */
static uint64_t control_sig = 1;
static int verbose;
static uint64_t seed = 1;
static uint64_t draws;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_ok = 1;

const char *fm_fn_name(FM_FN fn)
{
    return fn < FM_COUNT ? fn_names[fn] : "?";
}

static int fn_by_name(const char *name, size_t len, FM_FN *out)
{
    for (int i = 0; i < FM_COUNT; i++)
        if (strlen(fn_names[i]) == len && memcmp(fn_names[i], name, len) == 0) {
            *out = (FM_FN)i;
            return 1;
        }
    return 0;
}

static const char *rv_name(CK_RV rv)
{
    for (size_t i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
        if (ckr_names[i].rv == rv)
            return ckr_names[i].name;
    return "CKR_(vendor)";
}

/* ---- parsing ---- */

static int parse_action(const char *s, FM_RULE *r, char *err, size_t errlen)
{
    char *end;

    if (strncmp(s, "delay:", 6) == 0) {
        errno = 0;
        r->ms = strtoul(s + 6, &end, 10);
        if (errno != 0 || end == s + 6 || *end != '\0' || r->ms > 600000) {
            snprintf(err, errlen, "bad delay '%.200s' (milliseconds, at most 600000)", s + 6);
            return 0;
        }
        r->act = ACT_DELAY;
        return 1;
    }
    if (strcmp(s, "reset") == 0) {
        r->act = ACT_RESET;
        return 1;
    }
    if (strcmp(s, "hold") == 0) {
        r->act = ACT_HOLD;
        return 1;
    }
    /* after:CKR_X: the call runs, and its answer is replaced (lost on the way back). */
    if (strncmp(s, "after:", 6) == 0) {
        if (strncmp(s + 6, "after:", 6) != 0 && parse_action(s + 6, r, err, errlen)
            && r->act == ACT_ERROR) {
            r->act = ACT_AFTER;
            return 1;
        }
        snprintf(err, errlen, "bad action '%.200s' (after:<a CKR_ name or 0x<hex>>)", s);
        return 0;
    }
    r->act = ACT_ERROR;
    if (strncmp(s, "0x", 2) == 0 || strncmp(s, "0X", 2) == 0) {
        errno = 0;
        r->rv = strtoul(s + 2, &end, 16);
        if (errno == 0 && end != s + 2 && *end == '\0' && r->rv != CKR_OK)
            return 1;
    } else {
        for (size_t i = 0; i < sizeof(ckr_names) / sizeof(ckr_names[0]); i++)
            if (strcmp(ckr_names[i].name, s) == 0) {
                r->rv = ckr_names[i].rv;
                return 1;
            }
    }
    snprintf(err, errlen, "unknown action '%.200s' (a CKR_ name, 0x<hex>, after:<CKR_ name>, "
                          "delay:<ms>, reset or hold)", s);
    return 0;
}

static int parse_when(const char *s, FM_RULE *r, char *err, size_t errlen)
{
    size_t len = strlen(s);
    char *end;

    if (strcmp(s, "always") == 0) {
        r->when = WHEN_ALWAYS;
        return 1;
    }
    if (s[0] == 'p' || (len > 1 && s[len - 1] == '%')) {
        errno = 0;
        r->p = strtod(s[0] == 'p' ? s + 1 : s, &end);
        if (s[0] != 'p')
            r->p /= 100.0;
        if (errno == 0 && end != s && (s[0] == 'p' ? *end == '\0' : *end == '%')
            && r->p >= 0.0 && r->p <= 1.0) {
            r->when = WHEN_PROB;
            return 1;
        }
    } else {
        errno = 0;
        r->n = strtoul(s, &end, 10);
        if (errno == 0 && end != s && r->n >= 1 && (*end == '\0' || strcmp(end, "+") == 0)) {
            r->when = *end == '+' ? WHEN_FROM : WHEN_NTH;
            return 1;
        }
    }
    snprintf(err, errlen, "bad '@%.200s' (N, N+, always, pP or P%%)", s);
    return 0;
}

/* One "C_Fn=action[@when]" (a NUL-terminated copy). */
static int parse_rule(char *text, FM_RULE *r, char *err, size_t errlen)
{
    char *eq = strchr(text, '='), *at;

    memset(r, 0, sizeof(*r));
    if (eq == NULL || !fn_by_name(text, (size_t)(eq - text), &r->fn)) {
        snprintf(err, errlen, "'%.200s': expected C_<Function>=<action>[@<when>] with a PKCS#11 "
                 "v2.40 function name", text);
        return 0;
    }
    at = strchr(eq + 1, '@');
    if (at != NULL)
        *at = '\0';
    r->when = WHEN_ALWAYS;
    if (!parse_action(eq + 1, r, err, errlen))
        return 0;
    return at == NULL || parse_when(at + 1, r, err, errlen);
}

/* Rules separated by commas, semicolons, blanks or newlines; '#' comments to the line's end. */
static int parse_rules(const char *text, FM_RULE *out, size_t *n, char *err, size_t errlen)
{
    const char *p = text != NULL ? text : "";

    *n = 0;
    while (*p != '\0') {
        char word[256];
        size_t len = 0;

        if (*p == '#') {
            while (*p != '\0' && *p != '\n')
                p++;
            continue;
        }
        if (strchr(",; \t\r\n", *p) != NULL) {
            p++;
            continue;
        }
        while (p[len] != '\0' && strchr(",; \t\r\n#", p[len]) == NULL)
            len++;
        if (len >= sizeof(word)) {
            snprintf(err, errlen, "rule too long: '%.40s...'", p);
            return 0;
        }
        if (*n == FM_MAX_RULES) {
            snprintf(err, errlen, "more than %d rules", FM_MAX_RULES);
            return 0;
        }
        memcpy(word, p, len);
        word[len] = '\0';
        if (!parse_rule(word, &out[*n], err, errlen))
            return 0;
        (*n)++;
        p += len;
    }
    return 1;
}

/* Under rules_lock. */
static void install(const FM_RULE *in, size_t n)
{
    unsigned char mask[FM_COUNT] = { 0 };

    memcpy(rules, in, n * sizeof(*in));
    n_rules = n;
    for (size_t i = 0; i < n; i++)
        mask[rules[i].fn] = 1;
    for (int i = 0; i < FM_COUNT; i++)
        __atomic_store_n(&has_rule[i], mask[i], __ATOMIC_RELEASE);
}

static int set_rules(const char *text, const char *where)
{
    FM_RULE parsed[FM_MAX_RULES];
    char err[320];
    size_t n = 0;

    if (!parse_rules(text, parsed, &n, err, sizeof(err))) {
        fprintf(stderr, "tk-faultmod: %s: %s\n", where, err);
        return -1;
    }
    pthread_mutex_lock(&rules_lock);
    install(parsed, n);
    pthread_mutex_unlock(&rules_lock);
    return 0;
}

/* ---- the control file ---- */

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

/*
 * Whether the control file changed since we read it: inode, size, mtime
 * and ctime. File times are coarse (a kernel tick), so a writer that
 * rewrites it twice within milliseconds should rename() a new file into
 * place (a new inode) or change its size.
 */
static uint64_t control_signature(void)
{
    struct stat st;
    uint64_t h = 0x51ed270b27d1a7d5ULL;

    if (stat(control_path, &st) != 0)
        return 1; /* no file: no rules */
    h = mix(h, (uint64_t)st.st_ino);
    h = mix(h, (uint64_t)st.st_dev);
    h = mix(h, (uint64_t)st.st_size);
    h = mix(h, (uint64_t)st.st_mtim.tv_sec);
    h = mix(h, (uint64_t)st.st_mtim.tv_nsec);
    h = mix(h, (uint64_t)st.st_ctim.tv_sec);
    h = mix(h, (uint64_t)st.st_ctim.tv_nsec);
    return h < 2 ? h + 2 : h;
}

static void control_check(void)
{
    uint64_t sig = control_signature();
    char *text = NULL;
    FILE *f;

    if (sig == __atomic_load_n(&control_sig, __ATOMIC_ACQUIRE))
        return;
    if (sig != 1 && (f = fopen(control_path, "r")) != NULL) {
        size_t got;

        text = calloc(1, FM_CONTROL_MAX + 1);
        got = text != NULL ? fread(text, 1, FM_CONTROL_MAX, f) : 0;
        if (text != NULL)
            text[got] = '\0';
        fclose(f);
    }
    /* Several threads may see the change; reading the rules twice is harmless. */
    pthread_mutex_lock(&rules_lock);
    if (sig != __atomic_load_n(&control_sig, __ATOMIC_ACQUIRE)) {
        FM_RULE parsed[FM_MAX_RULES];
        char err[320];
        size_t n = 0;

        if (parse_rules(text, parsed, &n, err, sizeof(err)))
            install(parsed, n);
        else
            fprintf(stderr, "tk-faultmod: %s: %s (rules unchanged)\n", control_path, err);
        __atomic_store_n(&control_sig, sig, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&rules_lock);
    free(text);
}

static void init(void)
{
    const char *env = getenv("TK_FAULT"), *s;

    control_path = getenv("TK_FAULT_CONTROL");
    if (control_path != NULL && *control_path == '\0')
        control_path = NULL;
    s = getenv("TK_FAULT_VERBOSE");
    verbose = s != NULL && strcmp(s, "1") == 0;
    s = getenv("TK_FAULT_SEED");
    if (s != NULL)
        seed = strtoull(s, NULL, 0);
    if (env != NULL && set_rules(env, "TK_FAULT") != 0)
        init_ok = 0;
}

void fm_rules_init(void)
{
    pthread_once(&init_once, init);
}

int fm_rules_ok(void)
{
    fm_rules_init();
    return init_ok;
}

/* ---- per call ---- */

/* A uniform draw in [0, 1): splitmix64 over a shared counter (reproducible for one thread). */
static double draw(void)
{
    uint64_t z = seed + 0x9e3779b97f4a7c15ULL * (__atomic_fetch_add(&draws, 1, __ATOMIC_RELAXED) + 1);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static int fires(FM_RULE *r)
{
    unsigned long n = ++r->seen;

    switch (r->when) {
    case WHEN_NTH: return n == r->n;
    case WHEN_FROM: return n >= r->n;
    case WHEN_PROB: return draw() < r->p;
    default: return 1;
    }
}

static void sleep_ms(unsigned long ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/*
 * Held calls: each waits until the test releases its function
 * (tk_fault_release), so that a test can order calls of several threads
 * exactly, where a delay only makes an order likely.
 */
static pthread_mutex_t hold_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hold_cond = PTHREAD_COND_INITIALIZER;
static unsigned long held[FM_COUNT];     /* calls of each function waiting now */
static unsigned long releases[FM_COUNT]; /* tk_fault_release calls so far */

static void hold_call(FM_FN fn)
{
    unsigned long mine;

    pthread_mutex_lock(&hold_lock);
    mine = releases[fn];
    held[fn]++;
    pthread_cond_broadcast(&hold_cond);
    while (releases[fn] == mine)
        pthread_cond_wait(&hold_cond, &hold_lock);
    held[fn]--;
    pthread_mutex_unlock(&hold_lock);
}

/* What a token reset looks like to the application: every session of the slot is gone. */
static void reset_slot(FM_BY by, CK_ULONG id)
{
    CK_FUNCTION_LIST *t = fm_target();
    CK_SLOT_ID slot = id;

    if (t == NULL || by == FM_BY_NONE)
        return;
    if (by == FM_BY_SESSION) {
        CK_SESSION_INFO si;

        if (t->C_GetSessionInfo(id, &si) != CKR_OK)
            return;
        slot = si.slotID;
    }
    t->C_CloseAllSessions(slot);
}

int fm_enter(FM_CALL *c, FM_FN fn, FM_BY by, CK_ULONG id)
{
    unsigned long now, max, delay = 0;
    int reset = 0, inject = 0, hold = 0;

    c->fn = fn;
    c->rv = CKR_OK;
    c->after = 0;
    __atomic_fetch_add(&calls[fn], 1, __ATOMIC_RELAXED);
    now = __atomic_add_fetch(&inflight[fn], 1, __ATOMIC_ACQ_REL);
    max = __atomic_load_n(&max_inflight[fn], __ATOMIC_RELAXED);
    while (now > max
           && !__atomic_compare_exchange_n(&max_inflight[fn], &max, now, 1, __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED))
        ;
    if (control_path != NULL)
        control_check();
    if (!__atomic_load_n(&has_rule[fn], __ATOMIC_ACQUIRE))
        return 0;

    pthread_mutex_lock(&rules_lock);
    /* In order; a rule sees only the calls no earlier error rule took. */
    for (size_t i = 0; i < n_rules && !inject; i++) {
        FM_RULE *r = &rules[i];

        if (r->fn != fn || !fires(r))
            continue;
        if (r->act == ACT_DELAY)
            delay += r->ms;
        else if (r->act == ACT_RESET)
            reset = 1;
        else if (r->act == ACT_HOLD)
            hold = 1;
        else if (r->act == ACT_AFTER) {
            /* Takes the call as an error rule does: later rules don't see it. */
            c->after = 1;
            c->rv = r->rv;
            break;
        } else {
            inject = 1;
            c->rv = r->rv;
        }
    }
    pthread_mutex_unlock(&rules_lock);

    if (reset)
        reset_slot(by, id);
    if (delay > 0)
        sleep_ms(delay);
    if (hold)
        hold_call(fn);
    if (inject) {
        unsigned long k = __atomic_add_fetch(&injected[fn], 1, __ATOMIC_RELAXED);

        if (verbose)
            fprintf(stderr, "tk-faultmod: %s: injecting %s (injection %lu)\n", fn_names[fn],
                    rv_name(c->rv), k);
    }
    return inject;
}

CK_RV fm_leave(FM_CALL *c, CK_RV rv)
{
    if (c->after) {
        unsigned long k = __atomic_add_fetch(&injected[c->fn], 1, __ATOMIC_RELAXED);

        if (verbose)
            fprintf(stderr, "tk-faultmod: %s: answered %s, replaced by %s (injection %lu)\n",
                    fn_names[c->fn], rv_name(rv), rv_name(c->rv), k);
        rv = c->rv;
    }
    __atomic_sub_fetch(&inflight[c->fn], 1, __ATOMIC_ACQ_REL);
    return rv;
}

/* ---- stats ---- */

static int write_stats(const char *path)
{
    char real[4096];
    size_t o = 0;
    FILE *f;

    /* %p: the process id, so forked children don't overwrite their parent's file. */
    for (const char *p = path; *p != '\0' && o + 24 < sizeof(real); p++) {
        if (p[0] == '%' && p[1] == 'p') {
            o += (size_t)snprintf(real + o, sizeof(real) - o, "%ld", (long)getpid());
            p++;
        } else {
            real[o++] = *p;
        }
    }
    real[o] = '\0';
    f = fopen(real, "w");
    if (f == NULL)
        return -1;
    fprintf(f, "# tk-faultmod counts, process %ld\n", (long)getpid());
    for (int i = 0; i < FM_COUNT; i++) {
        unsigned long n = __atomic_load_n(&calls[i], __ATOMIC_RELAXED);

        if (n > 0)
            fprintf(f, "%s calls=%lu injected=%lu max_inflight=%lu\n", fn_names[i], n,
                    __atomic_load_n(&injected[i], __ATOMIC_RELAXED),
                    __atomic_load_n(&max_inflight[i], __ATOMIC_RELAXED));
    }
    return fclose(f) == 0 ? 0 : -1;
}

void fm_stats_autowrite(void)
{
    const char *path = getenv("TK_FAULT_STATS");

    if (path != NULL && *path != '\0' && write_stats(path) != 0)
        fprintf(stderr, "tk-faultmod: cannot write TK_FAULT_STATS '%s'\n", path);
}

/* ---- the control API (faultmod.h) ---- */

static int fn_index(const char *fn)
{
    FM_FN i;

    return fn != NULL && fn_by_name(fn, strlen(fn), &i) ? (int)i : -1;
}

FM_EXPORT int tk_fault_set(const char *text)
{
    fm_rules_init();
    return set_rules(text, "tk_fault_set");
}

FM_EXPORT unsigned long tk_fault_calls(const char *fn)
{
    int i = fn_index(fn);

    return i < 0 ? 0 : __atomic_load_n(&calls[i], __ATOMIC_RELAXED);
}

FM_EXPORT unsigned long tk_fault_injected(const char *fn)
{
    int i = fn_index(fn);

    return i < 0 ? 0 : __atomic_load_n(&injected[i], __ATOMIC_RELAXED);
}

FM_EXPORT unsigned long tk_fault_max_inflight(const char *fn)
{
    int i = fn_index(fn);

    return i < 0 ? 0 : __atomic_load_n(&max_inflight[i], __ATOMIC_RELAXED);
}

FM_EXPORT void tk_fault_wait_held(const char *fn, unsigned long n)
{
    int i = fn_index(fn);

    if (i < 0)
        return;
    pthread_mutex_lock(&hold_lock);
    while (held[i] < n)
        pthread_cond_wait(&hold_cond, &hold_lock);
    pthread_mutex_unlock(&hold_lock);
}

FM_EXPORT void tk_fault_release(const char *fn)
{
    int i = fn_index(fn);

    if (i < 0)
        return;
    pthread_mutex_lock(&hold_lock);
    releases[i]++;
    pthread_cond_broadcast(&hold_cond);
    pthread_mutex_unlock(&hold_lock);
}

FM_EXPORT void tk_fault_reset_counts(void)
{
    for (int i = 0; i < FM_COUNT; i++) {
        __atomic_store_n(&calls[i], 0, __ATOMIC_RELAXED);
        __atomic_store_n(&injected[i], 0, __ATOMIC_RELAXED);
        /* Calls in flight right now still count towards the next maximum. */
        __atomic_store_n(&max_inflight[i], __atomic_load_n(&inflight[i], __ATOMIC_RELAXED),
                         __ATOMIC_RELAXED);
    }
}

FM_EXPORT int tk_fault_write_stats(const char *path)
{
    return path != NULL ? write_stats(path) : -1;
}
