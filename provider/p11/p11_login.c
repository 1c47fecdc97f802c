/*
 * The one PIN function. A wrong PIN must never be sent twice: tokens lock
 * after a few failures (PKCS#11 v2.40 CKF_USER_PIN_COUNT_LOW / FINAL_TRY /
 * LOCKED), and a client that retries in a loop locks its own token.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "debug.h"
#include "p11_internal.h"

/* Longest PIN we accept; PKCS#11 tokens report far smaller ulMaxPinLen. */
#define TK_PIN_MAX 256
/* A PIN getter slower than this (0.1 s) may have prompted: the token's PIN state is read again. */
#define TK_PIN_GETTER_SLOW_NS 100000000LL

/*
 * We remember a rejected PIN only as a salted hash, to refuse sending it
 * again; the salt is per process so the hash is useless outside it.
 *
 * The salt must be unpredictable: a rejected PIN is often the right one
 * with a typo, and with a known salt its hash could be looked up in a
 * table made in advance (PINs are short). RAND_bytes fails where the
 * application's default library context has no random generator (a
 * program that loads only tokenkey), so the kernel's generator is asked
 * next. With neither we fail closed: a constant salt would defeat the
 * point, and without remembering rejected PINs we could resend one and
 * lock the token, so no PIN is sent at all (TK_CKR_NO_RANDOM).
 */
static unsigned char pin_salt[16];
static int pin_salt_ok;
static pthread_once_t salt_once = PTHREAD_ONCE_INIT;

static int kernel_random(unsigned char *buf, size_t len)
{
    ssize_t n;

    do
        n = getrandom(buf, len, 0);
    while (n < 0 && errno == EINTR);
    return n == (ssize_t)len;
}

static void make_salt(void)
{
    ERR_set_mark(); /* a failed RAND_bytes is not the application's error */
    pin_salt_ok = RAND_bytes(pin_salt, sizeof(pin_salt)) == 1;
    ERR_pop_to_mark();
    if (!pin_salt_ok)
        pin_salt_ok = kernel_random(pin_salt, sizeof(pin_salt));
}

static int salt_ready(void)
{
    pthread_once(&salt_once, make_salt);
    return pin_salt_ok;
}

/* Only after salt_ready() said yes. */
static void pin_hash(const char *pin, size_t len, unsigned char out[32])
{
    unsigned char buf[sizeof(pin_salt) + TK_PIN_MAX];

    memcpy(buf, pin_salt, sizeof(pin_salt));
    memcpy(buf + sizeof(pin_salt), pin, len);
    SHA256(buf, sizeof(pin_salt) + len, out);
    OPENSSL_cleanse(buf, sizeof(buf));
}

static int pin_rejected_before(CK_RV rv)
{
    return rv == CKR_PIN_INCORRECT || rv == CKR_PIN_INVALID || rv == CKR_PIN_LEN_RANGE;
}

/* Under t->lock: was this PIN (by hash) rejected, among the last TK_P11_FAILED_PINS? */
static int pin_failed_before(struct tk_p11_token *t, const unsigned char hash[32])
{
    for (int i = 0; i < t->n_failed_pins && i < TK_P11_FAILED_PINS; i++)
        if (CRYPTO_memcmp(hash, t->failed_pins[i], 32) == 0)
            return 1;
    return 0;
}

/*
 * Under t->lock: remember a rejected PIN (ring of TK_P11_FAILED_PINS).
 * Another PIN's success forgets nothing: two keys on one token may have two
 * PIN sources, one of them stale, and the good one's logins must not make
 * the stale one sendable again. Nor can the token's PIN become a rejected
 * one without a PIN change, which a person makes and follows with a
 * restart of the client.
 */
static void record_rejected_pin(struct tk_p11_token *t, const unsigned char hash[32])
{
    memcpy(t->failed_pins[t->n_failed_pins % TK_P11_FAILED_PINS], hash, 32);
    t->n_failed_pins++;
}

/*
 * Answers after which the token may have checked the PIN without saying
 * how it went: a failure of the device or the module, or a rejection lost
 * on its way back from a card that reset. Not the answers that say the
 * PIN was not looked at (a wrong session or user type), nor
 * CKR_PIN_EXPIRED (the PIN was right).
 */
static int pin_maybe_checked(CK_RV rv)
{
    return rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_MEMORY || rv == CKR_DEVICE_REMOVED
           || rv == CKR_TOKEN_NOT_PRESENT || rv == CKR_FUNCTION_FAILED || rv == CKR_GENERAL_ERROR
           || rv == CKR_FUNCTION_CANCELED;
}

/*
 * After such an answer: whether the token counted a failure all the same.
 * Its count flags tell, when they move between the last reading before
 * C_Login (send_pin: before the getter, again after a slow one) and now; a PIN the token counted is as good as rejected,
 * and sending it again would count again. When the flags were up already,
 * or the token cannot be read, nothing tells: the flags are read again
 * before the next PIN goes (pin_state_refusal).
 */
static int failure_counted(struct tk_p11_token *t, const CK_TOKEN_INFO *before)
{
    const CK_FLAGS counted = CKF_USER_PIN_COUNT_LOW | CKF_USER_PIN_FINAL_TRY | CKF_USER_PIN_LOCKED;
    CK_TOKEN_INFO now;

    if (tk_p11_token_info(t->module, t->slot, &now) != CKR_OK)
        return 0;
    return (now.flags & counted & ~before->flags) != 0;
}

/* The token's PIN state forbids sending a PIN now (CKR_OK: it does not). */
static CK_RV pin_state_refusal(const CK_TOKEN_INFO *info)
{
    if (info->flags & CKF_USER_PIN_LOCKED)
        return CKR_PIN_LOCKED;
    /* One try left: a wrong PIN now locks the token, so leave it to a person. */
    if (info->flags & CKF_USER_PIN_FINAL_TRY)
        return TK_CKR_PIN_FINAL_TRY;
    return CKR_OK;
}

/*
 * Wait until no other PIN is on its way to t, then, unless this PIN was
 * rejected before, take the turn (1). Context-specific logins are not
 * serialised otherwise: threads signing with a CKA_ALWAYS_AUTHENTICATE key
 * would all send the same wrong PIN at once, each before the first
 * rejection is known, and lock a card that allows three tries.
 */
static int take_pin_turn(struct tk_p11_token *t, const unsigned char hash[32], int *waited)
{
    int refused;

    pthread_mutex_lock(&t->lock);
    *waited = t->pin_in_flight;
    while (t->pin_in_flight)
        pthread_cond_wait(&t->login_done, &t->lock);
    refused = pin_failed_before(t, hash);
    t->pin_in_flight = !refused;
    pthread_mutex_unlock(&t->lock);
    return !refused;
}

static void end_pin_turn(struct tk_p11_token *t, const unsigned char hash[32], int rejected)
{
    pthread_mutex_lock(&t->lock);
    if (rejected)
        record_rejected_pin(t, hash);
    t->pin_in_flight = 0;
    pthread_cond_broadcast(&t->login_done);
    pthread_mutex_unlock(&t->lock);
}

/*
 * Check the token's PIN state, get the PIN, send it once. Never called
 * with a lock held: the getter may prompt for long, or fork.
 */
static CK_RV send_pin(struct tk_p11_token *t, CK_SESSION_HANDLE h, unsigned long epoch,
                      CK_USER_TYPE user, const TK_P11_PIN_GETTER *getter)
{
    CK_TOKEN_INFO info;
    char pin[TK_PIN_MAX];
    unsigned char hash[32];
    size_t len = 0;
    int rejected = 0, waited;
    struct timespec asked, got;
    CK_RV rv;

    rv = tk_p11_token_info(t->module, t->slot, &info);
    if (rv != CKR_OK)
        return rv;
    /* Another card in the slot since the key was loaded: its PIN is not this one's. */
    if (getter != NULL && getter->token != NULL && !tk_p11_same_token(getter->token, &info))
        return TK_CKR_TOKEN_CHANGED;
    if ((rv = pin_state_refusal(&info)) != CKR_OK)
        return rv;

    /*
     * PKCS#11 v2.40 5.6: a token with a protected authentication path (a PIN
     * pad, an HSM's PED) authenticates the user without a PIN from us when
     * pPin is NULL. A PIN kept for it is sent all the same: OpenSC uses a PIN
     * it is given, and an HSM partition activated at its PED takes its
     * challenge secret as the PIN. Only without one is the path used (a
     * prompt on our side would ask for what the pad reads).
     */
    if ((info.flags & CKF_PROTECTED_AUTHENTICATION_PATH)
        && (getter == NULL || getter->stored == NULL || !getter->stored(getter->arg)))
        return TK_P11_TRACED_IN(t->module, epoch, TK_FN_C_Login,
                                t->module->fl->C_Login(h, user, NULL, 0),
                             "session=%lu, user=%lu, protected path", (unsigned long)h,
                             (unsigned long)user);

    /* No user PIN set yet: whatever we sent would be refused, so send none. */
    if (user == CKU_USER && !(info.flags & CKF_USER_PIN_INITIALIZED))
        return CKR_USER_PIN_NOT_INITIALIZED;
    if (getter == NULL || getter->get == NULL)
        return TK_CKR_PIN_UNAVAILABLE;
    /* Before asking for the PIN: no prompt for a PIN we would not send. */
    if (!salt_ready())
        return TK_CKR_NO_RANDOM;
    clock_gettime(CLOCK_MONOTONIC, &asked);
    rv = getter->get(getter->arg, pin, sizeof(pin), &len);
    clock_gettime(CLOCK_MONOTONIC, &got);
    if (rv != CKR_OK) {
        OPENSSL_cleanse(pin, sizeof(pin));
        return rv;
    }
    if (len > sizeof(pin))
        len = sizeof(pin);
    pin_hash(pin, len, hash);
    if (!take_pin_turn(t, hash, &waited)) {
        OPENSSL_cleanse(pin, sizeof(pin));
        OPENSSL_cleanse(hash, sizeof(hash));
        return TK_CKR_PIN_NOT_RETRIED;
    }
    /*
     * The PIN state again when time passed since it was read: another PIN
     * (another thread's, which went first, or another process's while the
     * getter prompted) may have used up a try, and failure_counted must
     * compare with a reading taken right before this PIN. A PIN file or
     * variable answers at once: a CKA_ALWAYS_AUTHENTICATE key logs in for
     * every signature, and is spared the second read then.
     */
    if (waited || (long long)(got.tv_sec - asked.tv_sec) * 1000000000LL
                      + (got.tv_nsec - asked.tv_nsec) > TK_PIN_GETTER_SLOW_NS) {
        if ((rv = tk_p11_token_info(t->module, t->slot, &info)) == CKR_OK)
            rv = pin_state_refusal(&info);
    }
    if (rv == CKR_OK) {
        /* The PIN itself never reaches the log: only its length. */
        rv = TK_P11_TRACED_IN(t->module, epoch, TK_FN_C_Login,
                              t->module->fl->C_Login(h, user, (CK_UTF8CHAR *)pin, (CK_ULONG)len),
                              "session=%lu, user=%lu, pin length %zu", (unsigned long)h,
                              (unsigned long)user, len);
        rejected = pin_rejected_before(rv) || (pin_maybe_checked(rv) && failure_counted(t, &info));
    }
    OPENSSL_cleanse(pin, sizeof(pin));
    end_pin_turn(t, hash, rejected);
    OPENSSL_cleanse(hash, sizeof(hash));
    return rv;
}

/*
 * Whether the application is logged in already: login state belongs to the
 * application (PKCS#11 v2.40 section 5.6), and another library in the
 * process sharing the module (libp11, a second provider) may have logged
 * it in. Then no PIN is needed, nor asked for: with no PIN source of ours,
 * the login would fail where the token needs none.
 */
static CK_RV user_state_at(struct tk_p11_token *t, CK_SESSION_HANDLE h, unsigned long epoch,
                           int *logged_in)
{
    CK_SESSION_INFO info;
    CK_RV rv = TK_P11_TRACED_IN(t->module, epoch, TK_FN_C_GetSessionInfo,
                                t->module->fl->C_GetSessionInfo(h, &info),
                                "session=%lu, login state", (unsigned long)h);

    *logged_in = rv == CKR_OK
                 && (info.state == CKS_RO_USER_FUNCTIONS || info.state == CKS_RW_USER_FUNCTIONS);
    return rv;
}

CK_RV tk_p11_session_logged_in(const TK_P11_SESSION *s, int *logged_in)
{
    return user_state_at(s->token, s->handle, s->epoch, logged_in);
}

/* Wait for another thread's login to finish; then claim the next one if still needed. */
static int claim_login(struct tk_p11_token *t)
{
    int claimed;

    pthread_mutex_lock(&t->lock);
    while (t->login_busy)
        pthread_cond_wait(&t->login_done, &t->lock);
    claimed = !__atomic_load_n(&t->logged_in, __ATOMIC_ACQUIRE);
    t->login_busy = claimed;
    pthread_mutex_unlock(&t->lock);
    return claimed;
}

/*
 * A login holds only for the sessions it was made on. If they were reset
 * while the PIN was on its way (another thread saw the token go), closing
 * them logged the application out again: the flag stays down. Returns
 * whether the login was kept.
 */
static int release_login(struct tk_p11_token *t, CK_RV rv, unsigned long generation)
{
    int kept;

    pthread_mutex_lock(&t->lock);
    kept = rv == CKR_OK && t->generation == generation;
    if (kept)
        __atomic_store_n(&t->logged_in, 1, __ATOMIC_RELEASE);
    t->login_busy = 0;
    pthread_cond_broadcast(&t->login_done);
    pthread_mutex_unlock(&t->lock);
    return kept;
}

/*
 * trust_state: a module that says the application is logged in is
 * believed (another library logged it in, or a login's answer was lost).
 * Not after the module itself answered CKR_USER_NOT_LOGGED_IN to an
 * operation: a module that caches the state (a card that lost its
 * verification in a reset by another process, an HSM client whose login
 * lapsed on the server) would say logged in for ever, and only a PIN
 * heals that.
 */
static CK_RV log_in(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, int trust_state)
{
    TK_P11_SESSION probe;
    unsigned long generation = 0, epoch;
    CK_SESSION_HANDLE anchor;
    CK_RV rv;

    /* A few rounds at most: each is a login undone by a reset, which does not go on for long. */
    for (int round = 0; round < 3; round++) {
        if (__atomic_load_n(&t->logged_in, __ATOMIC_ACQUIRE))
            return CKR_OK;
        if (!(t->info.flags & CKF_LOGIN_REQUIRED))
            return CKR_OK;

        /* Taking a session makes sure the module is ready and the anchor open. */
        rv = tk_p11_session_get(t, &probe);
        tk_p11_session_put(&probe, rv);
        if (rv != CKR_OK)
            return rv;

        /* Concurrent first users: one logs in (one prompt), the others wait for it. */
        if (!claim_login(t))
            continue; /* logged in by the other thread, unless its sessions were reset */
        /* Never spend a PIN on a session that is gone: check the anchor first. */
        rv = tk_p11_anchor_check(t);
        if (rv == CKR_OK) {
            int already = 0;

            anchor = tk_p11_anchor(t, &generation, &epoch);
            if (trust_state && user_state_at(t, anchor, epoch, &already) == CKR_OK && already)
                TK_DEBUG("slot %lu: logged in already (by another library in the process)",
                         (unsigned long)t->slot);
            else
                rv = send_pin(t, anchor, epoch, CKU_USER, pin);
        }
        if (rv == CKR_USER_ALREADY_LOGGED_IN)
            rv = CKR_OK;
        if (release_login(t, rv, generation) || rv != CKR_OK)
            return rv;
        /* The PIN was right, but its sessions are gone: once more, on the new ones. */
        TK_DEBUG("slot %lu: sessions reset during the login; logging in again",
                 (unsigned long)t->slot);
    }
    return __atomic_load_n(&t->logged_in, __ATOMIC_ACQUIRE) ? CKR_OK : CKR_USER_NOT_LOGGED_IN;
}

CK_RV tk_p11_login(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin)
{
    return log_in(t, pin, 1);
}

CK_RV tk_p11_login_again(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin)
{
    return log_in(t, pin, 0);
}

CK_RV tk_p11_login_context(TK_P11_SESSION *s, const TK_P11_PIN_GETTER *pin)
{
    /* Per operation and per session: only the PIN's way to the token is one at a time. */
    return send_pin(s->token, s->handle, s->epoch, CKU_CONTEXT_SPECIFIC, pin);
}

int tk_p11_token_logged_in(TK_P11_TOKEN *t)
{
    return __atomic_load_n(&t->logged_in, __ATOMIC_ACQUIRE);
}
