/*
 * Slots and tokens: enumeration, matching a token against a pkcs11: URI
 * (RFC 7512 section 3), the per-token state we keep, and its mechanism cache.
 */
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "debug.h"
#include "p11_internal.h"

/* The module made ready by the caller (tk_p11_slot_list). */
static CK_RV read_slot_list(TK_P11_MODULE *m, int token_present, CK_SLOT_ID **slots,
                            CK_ULONG *count)
{
    CK_SLOT_ID *list = NULL;
    CK_ULONG n = 0;
    CK_RV rv = CKR_OK;

    /* The count can grow between the two calls (hot-plug): ask again then. */
    for (int tries = 0; rv == CKR_OK && tries < 4; tries++) {
        rv = TK_P11_TRACED(TK_FN_C_GetSlotList,
                           m->fl->C_GetSlotList(token_present ? CK_TRUE : CK_FALSE, NULL, &n),
                           "present=%d, count", token_present);
        if (rv != CKR_OK)
            break;
        OPENSSL_free(list);
        list = OPENSSL_malloc(sizeof(*list) * (n > 0 ? n : 1));
        if (list == NULL)
            return CKR_HOST_MEMORY;
        rv = TK_P11_TRACED(TK_FN_C_GetSlotList,
                           m->fl->C_GetSlotList(token_present ? CK_TRUE : CK_FALSE, list, &n),
                           "present=%d, list", token_present);
        if (rv != CKR_BUFFER_TOO_SMALL)
            break;
    }
    if (rv != CKR_OK) {
        OPENSSL_free(list);
        return rv;
    }
    *slots = list;
    *count = n;
    return CKR_OK;
}

/* Every search for a token starts here: the place to find the module finalised by another library. */
CK_RV tk_p11_slot_list(TK_P11_MODULE *m, int token_present, CK_SLOT_ID **slots, CK_ULONG *count)
{
    CK_RV rv = tk_p11_module_ready(m);
    unsigned long epoch = tk_p11_module_epoch(m); /* after a forked child's re-initialisation */

    if (rv != CKR_OK)
        return rv;
    rv = read_slot_list(m, token_present, slots, count);
    if (rv == CKR_CRYPTOKI_NOT_INITIALIZED && tk_p11_module_reinitialize(m, epoch) == CKR_OK)
        rv = read_slot_list(m, token_present, slots, count);
    return rv;
}

CK_RV tk_p11_slot_info(TK_P11_MODULE *m, CK_SLOT_ID slot, CK_SLOT_INFO *info)
{
    CK_RV rv = tk_p11_module_ready(m);

    if (rv != CKR_OK)
        return rv;
    return TK_P11_TRACED(TK_FN_C_GetSlotInfo, m->fl->C_GetSlotInfo(slot, info),
                         "slot=%lu", (unsigned long)slot);
}

/*
 * SoftHSM2 rewrites its token file on C_Login, and a C_GetTokenInfo that
 * reads the file meanwhile, from another thread or process, fails with
 * CKR_GENERAL_ERROR: a key that logs in for each signature
 * (CKA_ALWAYS_AUTHENTICATE), signing from several threads, met it now and
 * then. Reading the token's state is safe to repeat, unlike sending a PIN:
 * twice more, a millisecond apart.
 */
static void note_card(TK_P11_MODULE *m, CK_SLOT_ID slot, const CK_TOKEN_INFO *info,
                      unsigned long seq);

/* tk_p11_token_info, and the number of this reading (note_card). */
static CK_RV read_token_info(TK_P11_MODULE *m, CK_SLOT_ID slot, CK_TOKEN_INFO *info,
                             unsigned long *seq)
{
    const struct timespec pause = { 0, 1000 * 1000 };
    CK_RV rv = tk_p11_module_ready(m);

    if (rv != CKR_OK)
        return rv;
    *seq = __atomic_add_fetch(&m->info_reads, 1, __ATOMIC_SEQ_CST);
    for (int tries = 0;; tries++) {
        rv = TK_P11_TRACED(TK_FN_C_GetTokenInfo, m->fl->C_GetTokenInfo(slot, info),
                           "slot=%lu", (unsigned long)slot);
        if (rv == CKR_OK)
            note_card(m, slot, info, *seq);
        if (rv != CKR_GENERAL_ERROR || tries == 2)
            return rv;
        nanosleep(&pause, NULL);
    }
}

CK_RV tk_p11_token_info(TK_P11_MODULE *m, CK_SLOT_ID slot, CK_TOKEN_INFO *info)
{
    unsigned long seq;

    return read_token_info(m, slot, info, &seq);
}

CK_RV tk_p11_token_card_present(TK_P11_TOKEN *t)
{
    CK_TOKEN_INFO now;
    CK_RV rv = tk_p11_token_info(t->module, t->slot, &now);

    if (rv == CKR_OK && !tk_p11_same_token(&t->info, &now))
        rv = TK_CKR_TOKEN_CHANGED;
    return rv;
}

int tk_p11_text_len(const unsigned char *field, size_t size)
{
    /* PKCS#11 pads with blanks; some modules pad with NULs (C strings copied in). */
    while (size > 0 && (field[size - 1] == ' ' || field[size - 1] == '\0'))
        size--;
    return (int)size;
}

/* PKCS#11 pads text fields with blanks; RFC 7512 compares without them. */
static int field_equals(const char *want, const unsigned char *field, size_t size)
{
    size_t len;

    if (want == NULL)
        return 1;
    len = (size_t)tk_p11_text_len(field, size);
    return strlen(want) == len && memcmp(want, field, len) == 0;
}

int tk_p11_uri_matches(const TK_URI *uri, const CK_INFO *lib, CK_SLOT_ID slot,
                       const CK_SLOT_INFO *si, const CK_TOKEN_INFO *ti)
{
    if (lib != NULL) {
        if (!field_equals(uri->library_manufacturer, lib->manufacturerID, sizeof(lib->manufacturerID))
            || !field_equals(uri->library_description, lib->libraryDescription,
                             sizeof(lib->libraryDescription)))
            return 0;
        if (uri->has_library_version
            && (uri->library_version_major != lib->libraryVersion.major
                || uri->library_version_minor != lib->libraryVersion.minor))
            return 0;
    }
    if (uri->has_slot_id && uri->slot_id != slot)
        return 0;
    if (si != NULL
        && (!field_equals(uri->slot_manufacturer, si->manufacturerID, sizeof(si->manufacturerID))
            || !field_equals(uri->slot_description, si->slotDescription, sizeof(si->slotDescription))))
        return 0;
    if (ti != NULL
        && (!field_equals(uri->token, ti->label, sizeof(ti->label))
            || !field_equals(uri->manufacturer, ti->manufacturerID, sizeof(ti->manufacturerID))
            || !field_equals(uri->model, ti->model, sizeof(ti->model))
            || !field_equals(uri->serial, ti->serialNumber, sizeof(ti->serialNumber))))
        return 0;
    return 1;
}

static int uri_needs_slot_info(const TK_URI *uri)
{
    return uri->slot_manufacturer != NULL || uri->slot_description != NULL;
}

static int uri_needs_library_info(const TK_URI *uri)
{
    return uri->library_manufacturer != NULL || uri->library_description != NULL
           || uri->has_library_version;
}

static CK_RV token_get(TK_P11_MODULE *m, CK_SLOT_ID slot, const CK_TOKEN_INFO *info,
                       unsigned long seq, TK_P11_TOKEN **out);

/*
 * One pass over the slots. *unsure is set when a token could not be read
 * or looked uninitialised: a file-backed token (SoftHSM2) that another
 * process is rewriting - it does so on every login - answers
 * CKR_GENERAL_ERROR or shows an empty token for a moment.
 */
static CK_RV find_once(TK_P11_MODULE *m, const TK_URI *uri, const CK_INFO *lib,
                       TK_P11_TOKEN **tokens, size_t max, size_t *count, int *unsure,
                       CK_RV *unreadable)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    size_t found = 0;
    CK_RV rv = tk_p11_slot_list(m, 1, &slots, &n);

    for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
        CK_SLOT_INFO si;
        CK_TOKEN_INFO ti;
        TK_P11_TOKEN *t;

        if (uri_needs_slot_info(uri) && tk_p11_slot_info(m, slots[i], &si) != CKR_OK)
            continue;
        /* A token can vanish between the list and this call: skip it, but say why if none matched. */
        unsigned long seq = 0;
        CK_RV irv = read_token_info(m, slots[i], &ti, &seq);

        if (irv != CKR_OK) {
            *unsure = 1;
            *unreadable = irv;
            continue;
        }
        /* An uninitialised token (SoftHSM2's spare slot) holds nothing a URI can name. */
        if (!(ti.flags & CKF_TOKEN_INITIALIZED)) {
            *unsure = 1;
            continue;
        }
        if (!tk_p11_uri_matches(uri, lib, slots[i], uri_needs_slot_info(uri) ? &si : NULL, &ti))
            continue;
        if (found < max) {
            rv = token_get(m, slots[i], &ti, seq, &t);
            if (rv != CKR_OK)
                break;
            tokens[found] = t;
        }
        found++;
    }
    OPENSSL_free(slots);
    *count = found;
    return rv;
}

CK_RV tk_p11_token_find(TK_P11_MODULE *m, const TK_URI *uri,
                        TK_P11_TOKEN **tokens, size_t max, size_t *count)
{
    CK_INFO lib;
    CK_RV rv = CKR_OK, unreadable = CKR_OK;
    int unsure;

    if (uri_needs_library_info(uri))
        rv = tk_p11_module_info(m, &lib);
    /* Look again, briefly, only when a token might have been mid-rewrite. */
    for (int attempt = 0; rv == CKR_OK; attempt++) {
        unsure = 0;
        unreadable = CKR_OK;
        rv = find_once(m, uri, uri_needs_library_info(uri) ? &lib : NULL, tokens, max, count,
                       &unsure, &unreadable);
        if (rv != CKR_OK || *count > 0 || !unsure || attempt == 4)
            break;
        nanosleep(&(struct timespec){ 0, 20000000L * (attempt + 1) }, NULL);
    }
    if (rv != CKR_OK)
        return rv;
    return *count > 0 ? CKR_OK : unreadable != CKR_OK ? unreadable : TK_CKR_NO_TOKEN;
}

CK_RV tk_p11_token_find_all(TK_P11_MODULE *m, const TK_URI *uri,
                            TK_P11_TOKEN ***tokens, size_t *count)
{
    TK_P11_TOKEN **found = NULL, **grown;
    size_t room = 8;
    CK_RV rv;

    *tokens = NULL;
    /* Room for what matched last time: a second pass only if tokens were added meanwhile. */
    for (;;) {
        grown = OPENSSL_realloc(found, room * sizeof(*found));
        if (grown == NULL) {
            OPENSSL_free(found);
            return CKR_HOST_MEMORY;
        }
        found = grown;
        rv = tk_p11_token_find(m, uri, found, room, count);
        if (rv != CKR_OK || *count <= room)
            break;
        room = *count;
    }
    if (rv != CKR_OK) {
        OPENSSL_free(found);
        return rv;
    }
    *tokens = found;
    return CKR_OK;
}

/*
 * Under m->lock: the token of slot that shows the card info describes.
 * Each card put in a slot gets a token of its own: its identity, flags,
 * login and sessions are not the previous card's, and keys loaded from that
 * card keep theirs and find it gone (TK_CKR_TOKEN_CHANGED).
 */
static struct tk_p11_token *token_of_card(TK_P11_MODULE *m, CK_SLOT_ID slot,
                                          const CK_TOKEN_INFO *info)
{
    for (struct tk_p11_token *t = m->tokens; t != NULL; t = t->next)
        if (t->slot == slot && tk_p11_same_token(&t->info, info))
            return t;
    return NULL;
}

/*
 * Under m->lock: reading number seq found in slot the card of token t
 * (NULL: a card the layer has no token for yet). When the card there
 * changed, the sessions of the one seen there before are gone with it:
 * forgotten, not closed - their handle numbers may be the new card's
 * sessions' now - and its keys, at the new generation, find their card
 * gone (TK_CKR_TOKEN_CHANGED) instead of signing through them. A reading
 * older than the one that put the present card in the slot changes
 * nothing: it may have been taken before a swap.
 */
static void now_in_slot(TK_P11_MODULE *m, CK_SLOT_ID slot, struct tk_p11_token *t,
                        unsigned long seq)
{
    for (struct tk_p11_token *o = m->tokens; o != NULL; o = o->next)
        if (o != t && o->slot == slot && o->in_slot && o->in_slot_seq > seq)
            return;
    for (struct tk_p11_token *o = m->tokens; o != NULL; o = o->next)
        if (o != t && o->slot == slot && o->in_slot) {
            o->in_slot = 0;
            tk_p11_token_forget_sessions(o);
        }
    if (t != NULL) {
        t->in_slot = 1;
        if (seq > t->in_slot_seq)
            t->in_slot_seq = seq;
    }
}

/* Which card slot holds, from every successful C_GetTokenInfo (searches, logins, key checks). */
static void note_card(TK_P11_MODULE *m, CK_SLOT_ID slot, const CK_TOKEN_INFO *info,
                      unsigned long seq)
{
    /* Neither serial nor label: nothing to tell one card from another by. */
    if (tk_p11_text_len(info->serialNumber, sizeof(info->serialNumber)) == 0
        && tk_p11_text_len(info->label, sizeof(info->label)) == 0)
        return;
    pthread_mutex_lock(&m->lock);
    now_in_slot(m, slot, token_of_card(m, slot, info), seq);
    pthread_mutex_unlock(&m->lock);
}

/*
 * The token for the card in slot, whose CK_TOKEN_INFO reading number seq
 * just returned (owned by the module).
 */
static CK_RV token_get(TK_P11_MODULE *m, CK_SLOT_ID slot, const CK_TOKEN_INFO *info,
                       unsigned long seq, TK_P11_TOKEN **out)
{
    struct tk_p11_token *t, *other;

    pthread_mutex_lock(&m->lock);
    t = token_of_card(m, slot, info);
    pthread_mutex_unlock(&m->lock);
    if (t != NULL) {
        *out = t;
        return CKR_OK;
    }

    t = OPENSSL_zalloc(sizeof(*t));
    if (t == NULL)
        return CKR_HOST_MEMORY;
    t->module = m;
    t->slot = slot;
    t->info = *info;
    __atomic_store_n(&t->anchor, CK_INVALID_HANDLE, __ATOMIC_RELEASE);
    pthread_mutex_init(&t->mech_lock, NULL);
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->login_done, NULL);
    tk_p11_session_back_init(t);

    pthread_mutex_lock(&m->lock);
    /* Another thread may have opened the same card meanwhile: use its. */
    if ((other = token_of_card(m, slot, info)) != NULL) {
        pthread_mutex_unlock(&m->lock);
        tk_p11_token_free(t);
        *out = other;
        return CKR_OK;
    }
    t->next = m->tokens;
    m->tokens = t;
    now_in_slot(m, slot, t, seq);
    pthread_mutex_unlock(&m->lock);
    *out = t;
    return CKR_OK;
}

TK_P11_MODULE *tk_p11_token_module(const TK_P11_TOKEN *t)
{
    return t->module;
}

CK_SLOT_ID tk_p11_token_slot(const TK_P11_TOKEN *t)
{
    return t->slot;
}

const CK_TOKEN_INFO *tk_p11_token_cached_info(const TK_P11_TOKEN *t)
{
    return &t->info;
}

int tk_p11_same_token(const CK_TOKEN_INFO *a, const CK_TOKEN_INFO *b)
{
    return memcmp(a->serialNumber, b->serialNumber, sizeof(a->serialNumber)) == 0
           && memcmp(a->label, b->label, sizeof(a->label)) == 0
           && memcmp(a->manufacturerID, b->manufacturerID, sizeof(a->manufacturerID)) == 0
           && memcmp(a->model, b->model, sizeof(a->model)) == 0;
}

unsigned long tk_p11_token_generation(const TK_P11_TOKEN *t)
{
    return __atomic_load_n(&t->generation, __ATOMIC_ACQUIRE);
}

/*
 * Under t->lock: the sessions handed out so far belong to the old
 * generation and no longer count; a thread waiting for one of them to come
 * back tries to open one instead.
 */
static void new_generation(struct tk_p11_token *t)
{
    __atomic_fetch_add(&t->generation, 1, __ATOMIC_RELEASE);
    t->sessions_out = 0;
    t->sessions_back++;
    pthread_cond_broadcast(&t->session_back);
}

void tk_p11_token_reset(TK_P11_TOKEN *t)
{
    CK_SESSION_HANDLE closing[TK_P11_POOL_MAX + 1];
    size_t n = 0;
    unsigned long epoch;

    pthread_mutex_lock(&t->lock);
    epoch = tk_p11_module_epoch(t->module);
    memcpy(closing, t->pool, t->pool_len * sizeof(closing[0]));
    n = t->pool_len;
    t->pool_len = 0;
    if (t->anchor != CK_INVALID_HANDLE)
        closing[n++] = t->anchor;
    __atomic_store_n(&t->anchor, CK_INVALID_HANDLE, __ATOMIC_RELEASE);
    /* Before the new generation wakes anyone: a thread woken must find itself logged out. */
    __atomic_store_n(&t->logged_in, 0, __ATOMIC_RELEASE);
    new_generation(t);
    pthread_mutex_unlock(&t->lock);

    /* Close outside the lock: a dead token can be slow to answer. */
    for (size_t i = 0; i < n; i++)
        tk_p11_session_close(t, closing[i], epoch);
}

void tk_p11_token_forget(struct tk_p11_token *t)
{
    /*
     * Called in a fork child with the module lock held; nothing to close.
     * A login that a parent thread had in progress is not ours to wait for.
     */
    pthread_cond_init(&t->login_done, NULL);
    /* Nor are the sessions parent threads held, or their waits for one. */
    tk_p11_session_back_init(t);
    t->sessions_out = 0;
    /* A read of the mechanism list a parent thread had under way is not ours to wait for. */
    pthread_mutex_init(&t->mech_lock, NULL);
    t->login_busy = 0;
    t->pin_in_flight = 0;
    t->pool_len = 0;
    __atomic_store_n(&t->anchor, CK_INVALID_HANDLE, __ATOMIC_RELEASE);
    t->logged_in = 0;
    /* A copy a parent thread had under way is not ours to wait for (tk_p11_find). */
    t->copies_begun = t->copies_ended = 0;
    t->generation++;
}

void tk_p11_token_forget_sessions_locked(struct tk_p11_token *t)
{
    t->pool_len = 0;
    __atomic_store_n(&t->anchor, CK_INVALID_HANDLE, __ATOMIC_RELEASE);
    __atomic_store_n(&t->logged_in, 0, __ATOMIC_RELEASE);
    new_generation(t);
}

void tk_p11_token_forget_sessions(struct tk_p11_token *t)
{
    pthread_mutex_lock(&t->lock);
    tk_p11_token_forget_sessions_locked(t);
    pthread_mutex_unlock(&t->lock);
}

void tk_p11_token_free(struct tk_p11_token *t)
{
    pthread_mutex_destroy(&t->lock);
    /*
     * In a forked child that never used the module, or at exit, the
     * condition variables may still count waiters (the parent's threads,
     * threads the exit left waiting): glibc's pthread_cond_destroy waits
     * for them, for ever. They hold no resources; leave them.
     */
    if (!tk_p11_module_hands_off(t->module)) {
        pthread_cond_destroy(&t->login_done);
        pthread_cond_destroy(&t->session_back);
    }
    pthread_mutex_destroy(&t->mech_lock);
    OPENSSL_free(t->mechs);
    OPENSSL_free(t->mech_info);
    OPENSSL_free(t->mech_info_rv);
    OPENSSL_free(t->mech_asked_at);
    OPENSSL_clear_free(t, sizeof(*t)); /* the rejected PINs' hashes */
}

/* The token's mechanism list and their infos, read once (pthread_once). */
static __thread struct tk_p11_token *mech_loading;

/* Answers that say a mechanism's info will never be given: kept as no flags. */
static int mech_info_never(CK_RV rv)
{
    return rv == CKR_MECHANISM_INVALID || rv == CKR_FUNCTION_NOT_SUPPORTED;
}

/*
 * C_GetMechanismInfo answers that say the token or the module could not
 * answer now (PKCS#11 v2.40 section 5.5): the whole read fails, and the
 * next use tries again. Any other failure concerns that mechanism alone
 * (a vendor mechanism a module will not describe, with CKR_FUNCTION_FAILED
 * or the like) and must not keep every key on the token from signing: its
 * info is asked for again when that mechanism is wanted (a passing
 * CKR_GENERAL_ERROR must not refuse CKM_ECDSA for good either).
 */
static int mech_info_failed_for_now(CK_RV rv)
{
    return tk_p11_rv_token_gone(rv) || rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_MEMORY
           || rv == CKR_HOST_MEMORY || rv == CKR_SLOT_ID_INVALID
           || rv == CKR_CRYPTOKI_NOT_INITIALIZED || rv == CKR_FUNCTION_CANCELED;
}

static void load_mechanisms(void)
{
    struct tk_p11_token *t = mech_loading;
    CK_FUNCTION_LIST *fl = t->module->fl;
    CK_ULONG n = 0;
    CK_RV rv;

    rv = TK_P11_TRACED(TK_FN_C_GetMechanismList, fl->C_GetMechanismList(t->slot, NULL, &n),
                       "slot=%lu, count", (unsigned long)t->slot);
    if (rv == CKR_OK) {
        t->mechs = OPENSSL_malloc(sizeof(*t->mechs) * (n > 0 ? n : 1));
        t->mech_info = OPENSSL_zalloc(sizeof(*t->mech_info) * (n > 0 ? n : 1));
        t->mech_info_rv = OPENSSL_zalloc(sizeof(*t->mech_info_rv) * (n > 0 ? n : 1));
        t->mech_asked_at = OPENSSL_zalloc(sizeof(*t->mech_asked_at) * (n > 0 ? n : 1));
        if (t->mechs == NULL || t->mech_info == NULL || t->mech_info_rv == NULL
            || t->mech_asked_at == NULL)
            rv = CKR_HOST_MEMORY;
    }
    if (rv == CKR_OK)
        rv = TK_P11_TRACED(TK_FN_C_GetMechanismList, fl->C_GetMechanismList(t->slot, t->mechs, &n),
                           "slot=%lu, list", (unsigned long)t->slot);
    for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++) {
        CK_RV irv = TK_P11_TRACED(TK_FN_C_GetMechanismInfo,
                                  fl->C_GetMechanismInfo(t->slot, t->mechs[i], &t->mech_info[i]),
                                  "slot=%lu, %s", (unsigned long)t->slot,
                                  tk_p11_mech_name(t->mechs[i]));

        /*
         * A mechanism the module lists but says it will not describe
         * (CKR_MECHANISM_INVALID) stays listed with no flags: unusable. A
         * failure of the token (gone, a device error) fails the whole read,
         * which the next use tries again: kept, it would refuse that
         * mechanism for good, and say only that the token lacks it. Any
         * other failure is that mechanism's: asked again when wanted.
         */
        if (irv != CKR_OK && mech_info_failed_for_now(irv))
            rv = irv;
        else if (irv != CKR_OK && !mech_info_never(irv))
            TK_DEBUG("slot %lu: no info for %s (%s) yet", (unsigned long)t->slot,
                     tk_p11_mech_name(t->mechs[i]), tk_p11_rv_name(irv));
        if (irv != CKR_OK) /* nothing a failed call left there is taken for flags */
            memset(&t->mech_info[i], 0, sizeof(t->mech_info[i]));
        t->mech_asked_at[i] = (time_t)-1; /* the first want asks again at once */
        t->mech_info_rv[i] = mech_info_never(irv) ? CKR_OK : irv;
    }
    t->n_mechs = rv == CKR_OK ? n : 0;
    t->mech_rv = rv;
}

CK_RV tk_p11_mechanisms_read(TK_P11_TOKEN *t)
{
    CK_RV rv = tk_p11_module_ready(t->module);

    if (rv != CKR_OK)
        return rv;
    /* Read once when it works; a failed read is tried again on the next use. */
    if (!__atomic_load_n(&t->mechs_ready, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&t->mech_lock);
        if (!t->mechs_ready) {
            OPENSSL_free(t->mechs);
            OPENSSL_free(t->mech_info);
            OPENSSL_free(t->mech_info_rv);
            OPENSSL_free(t->mech_asked_at);
            t->mechs = NULL;
            t->mech_info = NULL;
            t->mech_info_rv = NULL;
            t->mech_asked_at = NULL;
            mech_loading = t;
            load_mechanisms();
            if (t->mech_rv == CKR_OK)
                __atomic_store_n(&t->mechs_ready, 1, __ATOMIC_RELEASE);
        }
        rv = t->mech_rv;
        pthread_mutex_unlock(&t->mech_lock);
    }
    return rv;
}

/*
 * Entry i's info; one the module would not give when the list was read is
 * asked for again now (the list is read, so mechs and the arrays stay) -
 * at most once a second: a signature that wants it while it keeps failing
 * (a combined mechanism then signs) does not cost a module call each time,
 * nor hold the other threads at mech_lock.
 */
static CK_RV mechanism_info_at(TK_P11_TOKEN *t, CK_ULONG i, CK_MECHANISM_INFO *info)
{
    CK_RV rv = __atomic_load_n(&t->mech_info_rv[i], __ATOMIC_ACQUIRE);

    if (rv != CKR_OK) {
        CK_MECHANISM_INFO fresh;
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        pthread_mutex_lock(&t->mech_lock);
        rv = t->mech_info_rv[i];
        if (rv != CKR_OK && now.tv_sec != t->mech_asked_at[i]) {
            t->mech_asked_at[i] = now.tv_sec;
            rv = TK_P11_TRACED(TK_FN_C_GetMechanismInfo,
                               t->module->fl->C_GetMechanismInfo(t->slot, t->mechs[i], &fresh),
                               "slot=%lu, %s, again", (unsigned long)t->slot,
                               tk_p11_mech_name(t->mechs[i]));
            if (mech_info_never(rv)) { /* it will not be described: no flags */
                memset(&fresh, 0, sizeof(fresh));
                rv = CKR_OK;
            }
            if (rv == CKR_OK) {
                t->mech_info[i] = fresh;
                __atomic_store_n(&t->mech_info_rv[i], CKR_OK, __ATOMIC_RELEASE);
            }
        }
        pthread_mutex_unlock(&t->mech_lock);
        if (rv != CKR_OK)
            return rv;
    }
    *info = t->mech_info[i];
    return CKR_OK;
}

CK_RV tk_p11_mechanism_info(TK_P11_TOKEN *t, CK_MECHANISM_TYPE mech, CK_MECHANISM_INFO *info)
{
    CK_RV rv = tk_p11_mechanisms_read(t);

    if (rv != CKR_OK)
        return rv;
    for (CK_ULONG i = 0; i < t->n_mechs; i++)
        if (t->mechs[i] == mech)
            return mechanism_info_at(t, i, info);
    return CKR_MECHANISM_INVALID;
}

int tk_p11_has_mechanism(TK_P11_TOKEN *t, CK_MECHANISM_TYPE mech, CK_FLAGS need)
{
    CK_MECHANISM_INFO info;

    return tk_p11_mechanism_info(t, mech, &info) == CKR_OK && (info.flags & need) == need;
}

int tk_p11_mechanism_allowed(const CK_MECHANISM_TYPE *allowed, size_t n, CK_MECHANISM_TYPE mech)
{
    if (n == 0)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (allowed[i] == mech)
            return 1;
    return 0;
}
