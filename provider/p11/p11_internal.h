/* State shared by the files of the PKCS#11 layer; nothing outside p11/ includes this. */
#ifndef TK_P11_INTERNAL_H
#define TK_P11_INTERNAL_H

#include <pthread.h>
#include <time.h>

#include <openssl/err.h>

#include "p11.h"

struct tk_p11_module {
    struct tk_p11_module *next;  /* process-wide registry (p11_module.c)       */
    char *path;
    char *init_args;
    void *dl;
    CK_FUNCTION_LIST *fl;
    int refs;                    /* under the registry lock                     */
    int we_initialized;          /* C_Initialize returned CKR_OK, not ALREADY_* */
    unsigned long fork_gen;      /* fork generation we initialised in           */
    /*
     * Bumped each time the module is initialised again in this process
     * after another library finalised it (tk_p11_module_reinitialize): its
     * session and object handles then start again from its first numbers,
     * and one of an older epoch may name another session or object -
     * another library's, a token key. Changed only with the gate drained
     * and every token lock held, or in a forked child before its first
     * use of the module; read atomically.
     */
    unsigned long epoch;
    pthread_mutex_t lock;        /* tokens list, re-initialisation              */
    unsigned long info_reads;    /* C_GetTokenInfo calls begun, numbering them  */
    struct tk_p11_token *tokens; /* every token we opened, one per card in a slot */
};

/* Idle sessions kept per token; more than this are closed when given back. */
#define TK_P11_POOL_MAX 32
/* Rejected PINs remembered per token (a ring: the oldest is forgotten). */
#define TK_P11_FAILED_PINS 8

struct tk_p11_token {
    struct tk_p11_token *next;
    TK_P11_MODULE *module;
    CK_SLOT_ID slot;
    /*
     * Read at open, never changed: the labels and flags that matter don't
     * change while the card stays; another card in the slot gets a token of
     * its own (p11_token.c, token_get).
     */
    CK_TOKEN_INFO info;
    /* The card the layer last saw in the slot, and that reading's number (under module lock). */
    int in_slot;
    unsigned long in_slot_seq;

    pthread_mutex_t lock;        /* pool, anchor, generation                     */
    CK_SESSION_HANDLE pool[TK_P11_POOL_MAX];
    size_t pool_len;
    /*
     * A session we keep open for the token's lifetime: PKCS#11 login state
     * belongs to the application and ends when its last session closes
     * (PKCS#11 v2.40 section 5.6), so an empty pool must not log us out.
     */
    CK_SESSION_HANDLE anchor;
    unsigned long generation;
    /*
     * Sessions of this generation handed out and not given back yet, and
     * the signal that one came back: a token at its session limit (a
     * smartcard allows a few) makes the next thread wait for one of ours
     * instead of failing its signature (tk_p11_session_get).
     */
    unsigned long sessions_out;
    unsigned long sessions_back; /* sessions given back (or freed by a reset), ever: a count */
    pthread_cond_t session_back;

    /*
     * Login is serialised by a flag and a condition variable under lock,
     * not by a mutex held across the PIN getter: a getter may prompt for a
     * long time or fork (pinentry), and fork_prepare takes our locks.
     */
    int login_busy;
    pthread_cond_t login_done;
    int logged_in;
    /*
     * A PIN is on its way to the token (C_Login of any user type): the next
     * waits for its result on login_done, so that a PIN the token is about
     * to reject is not sent again meanwhile by another thread.
     */
    int pin_in_flight;
    /* Salted hashes of the last PINs the token rejected (never forgotten on a good login). */
    unsigned char failed_pins[TK_P11_FAILED_PINS][32];
    int n_failed_pins;

    /*
     * Our C_CopyObject calls on this token, begun and ended: a search that
     * overlapped one may list the copy in the making (tk_p11_find).
     */
    unsigned long copies_begun, copies_ended;

    pthread_mutex_t mech_lock;   /* reading the mechanism list (until it works)   */
    int mechs_ready;
    CK_RV mech_rv;
    CK_MECHANISM_TYPE *mechs;
    CK_MECHANISM_INFO *mech_info;
    /*
     * Per mechanism: CKR_OK once its info is in mech_info (set with release
     * order, after the info), else the module's answer when it would not
     * give it; asked again, under mech_lock, when that mechanism is wanted.
     */
    CK_RV *mech_info_rv;
    time_t *mech_asked_at;       /* when (CLOCK_MONOTONIC s) each was asked, under mech_lock */
    CK_ULONG n_mechs;
};

/*
 * Every call into a module goes through this macro. The comma operator
 * sets an error-queue mark before the call runs; tk_p11_traced pops back
 * to it afterwards, because modules built on OpenSSL (SoftHSM2) leave
 * their own errors on our thread's queue, which would then show up under
 * tokenkey's errors or make a later successful operation look failed.
 * It also counts the call and logs it with its CKR_ name when debugging.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
CK_RV tk_p11_traced(TK_P11_FN fn, CK_RV rv, const char *file, int line, const char *fmt, ...);
#define TK_P11_TRACED(fn, call, ...) \
    (tk_p11_gate_enter() \
         ? (ERR_set_mark(), tk_p11_traced(fn, (call), __FILE__, __LINE__, __VA_ARGS__)) \
         : tk_p11_gate_refused())

/*
 * The same for a call on session or object handles of module m's epoch:
 * made only if m is still in that epoch, checked inside the gate, which a
 * change of epoch waits to drain. Refused, the module is not called and
 * the result is CKR_SESSION_CLOSED: the session is gone, as after any
 * reset, and the recovery the same.
 */
#define TK_P11_TRACED_IN(m, epoch, fn, call, ...) \
    (tk_p11_gate_enter() \
         ? (tk_p11_module_epoch(m) == (epoch) \
                ? (ERR_set_mark(), tk_p11_traced(fn, (call), __FILE__, __LINE__, __VA_ARGS__)) \
                : tk_p11_gate_stale()) \
         : tk_p11_gate_refused())
/* ... on a session borrowed from the pool. */
#define TK_P11_ON(s, fn, call, ...) \
    TK_P11_TRACED_IN((s)->token->module, (s)->epoch, fn, call, __VA_ARGS__)

/*
 * The fork gate: every call into a module is counted in flight (entered in
 * TK_P11_TRACED, left in tk_p11_traced); fork_prepare, after taking the
 * layer's locks, waits for the count to reach zero and holds new calls
 * back, so no thread is inside a module when fork() copies the process. A
 * module's own locks (SoftHSM2 has no atfork handlers) are then never
 * inherited held by the child.
 */
int tk_p11_gate_enter(void);   /* 0: the process is exiting, no call may start */
void tk_p11_gate_leave(void);
CK_RV tk_p11_gate_refused(void); /* what a call refused at exit returns */
CK_RV tk_p11_gate_stale(void);   /* leaves the gate: a call on handles of an older epoch */
unsigned long tk_p11_module_epoch(const TK_P11_MODULE *m);

/* Re-initialise a module in a forked child before its first use there. */
CK_RV tk_p11_module_ready(TK_P11_MODULE *m);
/*
 * A call answered CKR_CRYPTOKI_NOT_INITIALIZED: another library in the
 * process called C_Finalize on the module we share. seen: the module's
 * epoch read before that call. Unless another thread did it since, the
 * tokens forget their sessions and login, the module moves to a new epoch
 * and is initialised again. CKR_OK when the call is worth making again.
 */
CK_RV tk_p11_module_reinitialize(TK_P11_MODULE *m, unsigned long seen);
/*
 * 1 when tearing down what we hold in m (sessions, session copies,
 * C_Finalize, dlclose) is not ours to do: the process is exiting (the
 * module may be gone already, see p11_module.c), or this is a forked
 * child that has not used m yet, whose sessions and objects are still the
 * parent's (a module whose sessions live in a daemon or on a card would
 * close the parent's).
 */
int tk_p11_module_hands_off(const TK_P11_MODULE *m);
/* Token bookkeeping after fork: handles from the parent are meaningless here. */
void tk_p11_token_forget(struct tk_p11_token *t);
/*
 * The module closed every session behind our back (C_CloseAllSessions by
 * another library, a token reset): forget them all without closing - a
 * handle number may already belong to someone else's new session.
 */
void tk_p11_token_forget_sessions(struct tk_p11_token *t);
/* The same with t->lock held. */
void tk_p11_token_forget_sessions_locked(struct tk_p11_token *t);
void tk_p11_token_free(struct tk_p11_token *t);
/* Initialise t->session_back (a monotonic clock: waits are bounded). */
void tk_p11_session_back_init(struct tk_p11_token *t);
/*
 * Make sure the anchor session is alive (C_GetSessionInfo): when it is
 * gone, every session went with it (C_CloseAllSessions, token reset), so
 * forget them all and open a new anchor. Login state is then lost too.
 */
CK_RV tk_p11_anchor_check(struct tk_p11_token *t);
/*
 * tk_p11_login after the module answered an operation with
 * CKR_USER_NOT_LOGGED_IN: the PIN goes whatever the module's session state
 * says (p11_login.c, log_in).
 */
CK_RV tk_p11_login_again(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin);
/* The anchor (CK_INVALID_HANDLE if none), its generation (generation may be NULL) and module epoch. */
CK_SESSION_HANDLE tk_p11_anchor(struct tk_p11_token *t, unsigned long *generation,
                                unsigned long *epoch);
/* Opens a session on t (not pooled); used by the pool and by login. */
/* In the module's epoch `epoch` (CKR_SESSION_CLOSED when it moved on). */
CK_RV tk_p11_session_open(struct tk_p11_token *t, unsigned long epoch, CK_SESSION_HANDLE *h);
void tk_p11_session_close(struct tk_p11_token *t, CK_SESSION_HANDLE h, unsigned long epoch);
/*
 * Close a session that tk_p11_session_get handed out instead of giving it
 * back (an operation left active in it); s->handle becomes unset, so a
 * tk_p11_session_put after it does nothing.
 */
void tk_p11_session_drop(TK_P11_SESSION *s);

#endif
