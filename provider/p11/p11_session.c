/*
 * Sessions: a small pool per token, and the recovery a long-lived client
 * needs when the token closes sessions, forgets the login or goes away.
 *
 * The pool lock is held only to push or pop a handle - and, once per token
 * generation, across the C_OpenSession of the anchor - never across any
 * other call into the module, so threads sign in parallel (PKCS#11 v2.40 section 5.1:
 * one operation at a time per session, any number of sessions per thread).
 */
#include <time.h>

#include "debug.h"
#include "p11_internal.h"

CK_RV tk_p11_session_open(struct tk_p11_token *t, unsigned long epoch, CK_SESSION_HANDLE *h)
{
    TK_P11_MODULE *m = t->module;
    CK_FLAGS flags = CKF_SERIAL_SESSION;
    CK_RV rv;

    if (!(t->info.flags & CKF_WRITE_PROTECTED))
        flags |= CKF_RW_SESSION;
    /* In epoch: a session opened after the module moved on would be counted in the old one. */
    rv = TK_P11_TRACED_IN(m, epoch, TK_FN_C_OpenSession,
                          m->fl->C_OpenSession(t->slot, flags, NULL, NULL, h),
                          "slot=%lu, rw=%d", (unsigned long)t->slot, (flags & CKF_RW_SESSION) != 0);
    /* A token may turn write-protected after we read its flags. */
    if (rv == CKR_TOKEN_WRITE_PROTECTED && (flags & CKF_RW_SESSION))
        rv = TK_P11_TRACED_IN(m, epoch, TK_FN_C_OpenSession,
                              m->fl->C_OpenSession(t->slot, CKF_SERIAL_SESSION, NULL, NULL, h),
                              "slot=%lu, rw=0", (unsigned long)t->slot);
    return rv;
}

void tk_p11_session_close(struct tk_p11_token *t, CK_SESSION_HANDLE h, unsigned long epoch)
{
    /* Of an older epoch, h may be another library's session now: never closed then. */
    TK_P11_TRACED_IN(t->module, epoch, TK_FN_C_CloseSession, t->module->fl->C_CloseSession(h),
                     "session=%lu", (unsigned long)h);
}

/* Read together under t->lock, which a new generation or epoch takes too. */
CK_SESSION_HANDLE tk_p11_anchor(struct tk_p11_token *t, unsigned long *generation,
                                unsigned long *epoch)
{
    CK_SESSION_HANDLE h;

    pthread_mutex_lock(&t->lock);
    h = t->anchor;
    if (generation != NULL)
        *generation = t->generation;
    *epoch = tk_p11_module_epoch(t->module);
    pthread_mutex_unlock(&t->lock);
    return h;
}

/*
 * The anchor keeps the login alive when the pool is empty; see
 * p11_internal.h. Opened under the lock (once per token lifetime) so
 * threads starting together don't each open one.
 */
static CK_RV ensure_anchor(struct tk_p11_token *t)
{
    CK_RV rv = CKR_OK;

    if (__atomic_load_n(&t->anchor, __ATOMIC_ACQUIRE) != CK_INVALID_HANDLE)
        return CKR_OK;
    pthread_mutex_lock(&t->lock);
    if (t->anchor == CK_INVALID_HANDLE) {
        CK_SESSION_HANDLE h;

        /* The epoch cannot move while t->lock is held (tk_p11_module_reinitialize takes it). */
        rv = tk_p11_session_open(t, tk_p11_module_epoch(t->module), &h);
        if (rv == CKR_OK)
            __atomic_store_n(&t->anchor, h, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&t->lock);
    return rv;
}

CK_RV tk_p11_anchor_check(struct tk_p11_token *t)
{
    CK_SESSION_INFO info;
    unsigned long epoch;
    CK_SESSION_HANDLE h = tk_p11_anchor(t, NULL, &epoch);
    CK_RV rv;

    if (h != CK_INVALID_HANDLE) {
        rv = TK_P11_TRACED_IN(t->module, epoch, TK_FN_C_GetSessionInfo,
                              t->module->fl->C_GetSessionInfo(h, &info),
                              "anchor session=%lu", (unsigned long)h);
        if (rv == CKR_OK)
            return CKR_OK;
        /* Any other answer: the anchor (and the login it kept) can't be trusted. */
        TK_DEBUG("slot %lu: the anchor session answers %s; forgetting all sessions",
                 (unsigned long)t->slot, tk_p11_rv_name(rv));
        if (tk_p11_rv_token_gone(rv))
            tk_p11_token_reset(t);
        else
            tk_p11_token_forget_sessions(t);
    }
    return ensure_anchor(t);
}

void tk_p11_session_back_init(struct tk_p11_token *t)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->session_back, &attr);
    pthread_condattr_destroy(&attr);
}

/* Under t->lock: a session from the pool, counted as handed out; 0 when the pool is empty. */
static int take_pooled(struct tk_p11_token *t, TK_P11_SESSION *s)
{
    s->generation = t->generation;
    s->epoch = tk_p11_module_epoch(t->module);
    if (t->pool_len == 0)
        return 0;
    s->handle = t->pool[--t->pool_len];
    t->sessions_out++;
    return 1;
}

/* Under t->lock: a session just opened in s->generation is handed out. */
static void count_opened(struct tk_p11_token *t, const TK_P11_SESSION *s)
{
    if (s->generation == t->generation)
        t->sessions_out++;
}

/*
 * Under t->lock, after C_OpenSession answered CKR_SESSION_COUNT: the token
 * holds as many sessions as it allows. When some are ours, one comes back
 * soon (an operation takes milliseconds), so wait for it - from the pool,
 * or, when it was closed instead (a failure, a full pool), open the one it
 * freed - up to TK_P11_SESSION_WAIT_SECONDS. With none of ours out, the
 * others' holders are other applications: fail at once.
 * seen: t->sessions_back before the C_OpenSession that failed, so that a
 * session given back before this thread took the lock is not missed.
 * When the sessions are lost meanwhile (a new generation), the login and
 * the anchor went with them: CKR_SESSION_CLOSED sends tk_p11_with_session
 * round again, through both, instead of handing out a session without.
 */
static CK_RV wait_for_session(struct tk_p11_token *t, TK_P11_SESSION *s, unsigned long seen)
{
    unsigned long generation = s->generation;
    struct timespec until;
    CK_RV rv;

    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += TK_P11_SESSION_WAIT_SECONDS;
    for (;;) {
        if (t->generation != generation) {
            TK_DEBUG("slot %lu: sessions lost while waiting for one", (unsigned long)t->slot);
            return CKR_SESSION_CLOSED;
        }
        if (take_pooled(t, s))
            return CKR_OK;
        if (t->sessions_back == seen) {
            if (t->sessions_out == 0)
                break;
            if (pthread_cond_timedwait(&t->session_back, &t->lock, &until) != 0) {
                /* ETIMEDOUT; one may have come back just now. */
                if (t->generation == generation && take_pooled(t, s))
                    return CKR_OK;
                break;
            }
            continue;
        }
        seen = t->sessions_back;
        pthread_mutex_unlock(&t->lock);
        rv = tk_p11_session_open(t, s->epoch, &s->handle);
        pthread_mutex_lock(&t->lock);
        if (rv == CKR_OK)
            count_opened(t, s);
        if (rv != CKR_SESSION_COUNT)
            return rv;
    }
    TK_DEBUG("slot %lu: the token allows no more sessions, and %lu of ours %s",
             (unsigned long)t->slot, t->sessions_out,
             t->sessions_out > 0 ? "did not come back in time" : "are out");
    return CKR_SESSION_COUNT;
}

CK_RV tk_p11_session_get(TK_P11_TOKEN *t, TK_P11_SESSION *s)
{
    CK_RV rv = tk_p11_module_ready(t->module);
    unsigned long seen;
    int pooled;

    s->token = t;
    s->handle = CK_INVALID_HANDLE;
    s->epoch = tk_p11_module_epoch(t->module);
    if (rv == CKR_OK)
        rv = ensure_anchor(t);
    if (rv != CKR_OK)
        return rv;

    pthread_mutex_lock(&t->lock);
    pooled = take_pooled(t, s);
    seen = t->sessions_back;
    pthread_mutex_unlock(&t->lock);
    if (pooled)
        return CKR_OK;
    rv = tk_p11_session_open(t, s->epoch, &s->handle);
    pthread_mutex_lock(&t->lock);
    if (rv == CKR_OK)
        count_opened(t, s);
    else if (rv == CKR_SESSION_COUNT)
        rv = wait_for_session(t, s, seen);
    pthread_mutex_unlock(&t->lock);
    return rv;
}

int tk_p11_rv_session_dead(CK_RV rv)
{
    return rv == CKR_SESSION_HANDLE_INVALID || rv == CKR_SESSION_CLOSED;
}

int tk_p11_rv_token_gone(CK_RV rv)
{
    return rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT
           || rv == CKR_TOKEN_NOT_RECOGNIZED;
}

/*
 * Under t->lock: s is back (pooled, or closed), so the token has room for
 * a thread waiting in wait_for_session.
 */
static void session_back(struct tk_p11_token *t, const TK_P11_SESSION *s)
{
    if (s->generation == t->generation && t->sessions_out > 0) {
        t->sessions_out--;
        t->sessions_back++;
        pthread_cond_signal(&t->session_back);
    }
}

/* s is gone without a close (the module closed it): only the count changes. */
static void forget_session(TK_P11_SESSION *s)
{
    pthread_mutex_lock(&s->token->lock);
    session_back(s->token, s);
    pthread_mutex_unlock(&s->token->lock);
    s->handle = CK_INVALID_HANDLE;
}

void tk_p11_session_drop(TK_P11_SESSION *s)
{
    tk_p11_session_close(s->token, s->handle, s->epoch);
    forget_session(s);
}

void tk_p11_session_put(TK_P11_SESSION *s, CK_RV last_rv)
{
    TK_P11_TOKEN *t = s->token;
    int pooled = 0;

    if (t == NULL || s->handle == CK_INVALID_HANDLE) {
        if (t != NULL && tk_p11_rv_token_gone(last_rv))
            tk_p11_token_reset(t);
        return;
    }
    if (tk_p11_rv_token_gone(last_rv)) {
        TK_DEBUG("token in slot %lu went away (%s): resetting", (unsigned long)t->slot,
                 tk_p11_rv_name(last_rv));
        tk_p11_token_reset(t);
    } else if (last_rv == CKR_OK) {
        /* After a failure the session's state is unknown (an operation or a search left active). */
        pthread_mutex_lock(&t->lock);
        if (s->generation == t->generation && t->pool_len < TK_P11_POOL_MAX) {
            t->pool[t->pool_len++] = s->handle;
            session_back(t, s);
            pooled = 1;
        }
        pthread_mutex_unlock(&t->lock);
    }
    if (pooled)
        s->handle = CK_INVALID_HANDLE;
    else if (tk_p11_rv_session_dead(last_rv))
        forget_session(s);
    else
        tk_p11_session_drop(s);
}

CK_RV tk_p11_with_session(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin,
                          tk_p11_op_fn *op, void *arg)
{
    TK_P11_SESSION s;
    CK_RV rv = CKR_OK;
    /* Each kind of recovery a bounded number of times, so a broken token can't loop us. */
    int reopened = 0, relogged = 0, reset = 0, checked = 0, reinitialized = 0;
    int told_logged_out = 0; /* the module answered CKR_USER_NOT_LOGGED_IN */

    for (;;) {
        unsigned long epoch;

        /* A forked child's own re-initialisation first: it moves the epoch too. */
        if ((rv = tk_p11_module_ready(t->module)) != CKR_OK)
            return rv;
        /* Before the calls: their failure says the module was finalised in this epoch. */
        epoch = tk_p11_module_epoch(t->module);

        /* A login lost before (a recovery that failed half-way) is redone first. */
        if (pin == NULL)
            rv = CKR_OK;
        else
            rv = told_logged_out ? tk_p11_login_again(t, pin) : tk_p11_login(t, pin);
        if (rv == CKR_OK) {
            rv = tk_p11_session_get(t, &s);
            if (rv == CKR_OK)
                rv = op(&s, arg);
            tk_p11_session_put(&s, rv);
        } else if (tk_p11_rv_token_gone(rv)) {
            tk_p11_token_reset(t);
        }

        /*
         * One dead session usually means others died with it (the module
         * closed all of them): the anchor tells, and then all are forgotten.
         */
        if (tk_p11_rv_session_dead(rv) && reopened < 2) {
            reopened++;
            rv = tk_p11_anchor_check(t);
            if (rv == CKR_OK)
                continue;
        }
        /* An object handle gone may mean the sessions, and the login, went with it. */
        if ((rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID) && !checked) {
            unsigned long gen = tk_p11_token_generation(t);

            checked = 1;
            if (tk_p11_anchor_check(t) == CKR_OK && tk_p11_token_generation(t) != gen)
                continue;
        }
        if (tk_p11_rv_token_gone(rv) && !reset) {
            reset = 1;
            continue;
        }
        if (rv == CKR_CRYPTOKI_NOT_INITIALIZED && !reinitialized) {
            reinitialized = 1;
            if (tk_p11_module_reinitialize(t->module, epoch) == CKR_OK)
                continue;
        }
        /* Whatever we believed, the token says we are not logged in. */
        if (rv == CKR_USER_NOT_LOGGED_IN) {
            told_logged_out = 1;
            __atomic_store_n(&t->logged_in, 0, __ATOMIC_RELEASE);
            if (pin != NULL && !relogged) {
                relogged = 1;
                continue;
            }
        }
        return rv;
    }
}

CK_RV tk_p11_copy_to_session(TK_P11_TOKEN *t, CK_OBJECT_HANDLE o, unsigned long generation,
                             CK_OBJECT_HANDLE *copy)
{
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = { { CKA_TOKEN, &no, sizeof(no) } };
    CK_SESSION_HANDLE anchor;
    unsigned long now, epoch;
    CK_RV rv = ensure_anchor(t);

    if (rv != CKR_OK)
        return rv;
    /*
     * Copy in the anchor session: session objects belong to the session
     * that made them, and the anchor lives as long as the generation - the
     * one o was found in, or o is not ours to name.
     */
    anchor = tk_p11_anchor(t, &now, &epoch);
    if (now != generation)
        return CKR_SESSION_CLOSED;
    __atomic_add_fetch(&t->copies_begun, 1, __ATOMIC_SEQ_CST);
    rv = TK_P11_TRACED_IN(t->module, epoch, TK_FN_C_CopyObject,
                          t->module->fl->C_CopyObject(anchor, o, tmpl, 1, copy),
                          "anchor session=%lu, object=%lu, CKA_TOKEN=FALSE", (unsigned long)anchor,
                          (unsigned long)o);
    __atomic_add_fetch(&t->copies_ended, 1, __ATOMIC_SEQ_CST);
    return rv;
}

void tk_p11_destroy_session_copy(TK_P11_TOKEN *t, CK_OBJECT_HANDLE copy, unsigned long generation)
{
    CK_SESSION_HANDLE anchor;
    unsigned long now, epoch;
    CK_BBOOL on_token = CK_TRUE;
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE what[] = { { CKA_TOKEN, &on_token, sizeof(on_token) },
                            { CKA_CLASS, &cls, sizeof(cls) } };

    /* At exit the module may be gone; in a child that has not used it, the copy is the parent's. */
    if (tk_p11_module_hands_off(t->module))
        return;
    anchor = tk_p11_anchor(t, &now, &epoch);
    /*
     * Only in the copy's own generation, and epoch (checked in the gate): a
     * number from before may name a token key by now, which this would delete.
     */
    if (now != generation || anchor == CK_INVALID_HANDLE)
        return;
    /*
     * And only a private key that is a session object: a login lost while
     * the sessions stayed (another library's C_Logout) destroyed the copy
     * without a new generation, and a module that reuses handle numbers
     * may have given its number to another object since - a token key,
     * which must never be what this destroys.
     */
    if (TK_P11_TRACED_IN(t->module, epoch, TK_FN_C_GetAttributeValue,
                         t->module->fl->C_GetAttributeValue(anchor, copy, what, 2),
                         "anchor session=%lu, session copy=%lu, CKA_TOKEN, CKA_CLASS",
                         (unsigned long)anchor, (unsigned long)copy) == CKR_OK
        && on_token == CK_FALSE && cls == CKO_PRIVATE_KEY)
        TK_P11_TRACED_IN(t->module, epoch, TK_FN_C_DestroyObject,
                         t->module->fl->C_DestroyObject(anchor, copy),
                         "anchor session=%lu, session copy=%lu", (unsigned long)anchor,
                         (unsigned long)copy);
}
