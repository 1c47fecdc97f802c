/*
 * The one PKCS#11 layer. Nothing outside provider/p11/ calls a C_* function.
 *
 * It owns: the loaded modules (one per library per process, refcounted), the
 * tokens we use (one per card in a slot, owned by their module), each token's pool of
 * sessions, its login state and its mechanism cache. It logs every call
 * with its CKR_ name when TOKENKEY_DEBUG is set, and counts calls so tests
 * and the bench can prove what reached the token.
 *
 * Every function returns a CK_RV; the provider turns those into OpenSSL
 * errors. The codes TK_CKR_* below are ours (vendor-defined range) for
 * conditions PKCS#11 has no code for.
 */
#ifndef TK_P11_H
#define TK_P11_H

#include <stddef.h>
#include <p11-kit/pkcs11.h>

#include "tokenkey/uri.h"

/* Our own outcomes, in the vendor range so they never collide with a token's. */
#define TK_CKR_BASE              (CKR_VENDOR_DEFINED | 0x746b0000UL)
#define TK_CKR_MODULE_LOAD       (TK_CKR_BASE + 1) /* dlopen failed            */
#define TK_CKR_MODULE_SYMBOL     (TK_CKR_BASE + 2) /* no C_GetFunctionList     */
#define TK_CKR_NO_TOKEN          (TK_CKR_BASE + 3) /* no token matches the URI */
#define TK_CKR_PIN_UNAVAILABLE   (TK_CKR_BASE + 4) /* no PIN source, or no PIN from the prompt */
#define TK_CKR_PIN_FINAL_TRY     (TK_CKR_BASE + 5) /* one try left: we won't   */
#define TK_CKR_PIN_NOT_RETRIED   (TK_CKR_BASE + 6) /* this PIN failed before   */
#define TK_CKR_SECRET_ATTRIBUTE  (TK_CKR_BASE + 7) /* refused to read a secret */
#define TK_CKR_NO_PUBLIC_HALF    (TK_CKR_BASE + 8) /* a key's public half is nowhere */
#define TK_CKR_PIN_SOURCE_FAILED (TK_CKR_BASE + 9) /* a PIN source was set and failed */
#define TK_CKR_NO_RANDOM         (TK_CKR_BASE + 10) /* no salt for rejected PINs: none sent */
#define TK_CKR_TOKEN_CHANGED     (TK_CKR_BASE + 11) /* another token is in the key's slot */
#define TK_CKR_KEY_UNNAMED       (TK_CKR_BASE + 12) /* no CKA_ID or label to find a key again by */
#define TK_CKR_KEY_GONE          (TK_CKR_BASE + 13) /* a key looked for again is not on the token */
#define TK_CKR_KEY_TWICE         (TK_CKR_BASE + 14) /* ... and two keys now match its id and label */
#define TK_CKR_KEY_REPLACED      (TK_CKR_BASE + 15) /* ... and the one found has another public key */
#define TK_CKR_PUBLIC_AMBIGUOUS  (TK_CKR_BASE + 16) /* objects with a key's CKA_ID hold different public keys */
#define TK_CKR_ID_SHARED         (TK_CKR_BASE + 17) /* another private key has the key's CKA_ID */
#define TK_CKR_ATTRIBUTE_LENGTH  (TK_CKR_BASE + 18) /* a length no attribute can have, or past the buffer */
#define TK_CKR_OUTPUT_LENGTH     (TK_CKR_BASE + 19) /* a signature or plaintext longer than its buffer */
#define TK_CKR_PROCESS_EXITING   (TK_CKR_BASE + 20) /* a call refused: the process is exiting */
#define TK_CKR_FOUND_STALE       (TK_CKR_BASE + 21) /* the token was reset since an object was found */

typedef struct tk_p11_module TK_P11_MODULE;
typedef struct tk_p11_token TK_P11_TOKEN;

/* A session borrowed from a token's pool; give it back with tk_p11_session_put. */
typedef struct tk_p11_session {
    TK_P11_TOKEN *token;
    CK_SESSION_HANDLE handle;
    unsigned long generation; /* token generation it was opened in */
    unsigned long epoch;      /* module epoch it was opened in (p11_internal.h, TK_P11_ON) */
} TK_P11_SESSION;

/*
 * Where a PIN comes from. get() writes at most cap bytes (no NUL needed)
 * and sets *len; it returns CKR_OK, or after raising its own error that
 * says why: TK_CKR_PIN_SOURCE_FAILED when a source was set and failed
 * (missing file, empty variable...), TK_CKR_PIN_UNAVAILABLE when there was
 * none (no source, no PIN from the prompt).
 * The layer wipes the buffer after C_Login.
 * token, when not NULL, is the token the PIN belongs to: it is sent only
 * when the slot holds that token (tk_p11_same_token), else the login
 * fails with TK_CKR_TOKEN_CHANGED before the PIN is asked for.
 * stored(arg), when not NULL, tells whether get() answers from a PIN kept
 * somewhere (a file, a variable, the URI) rather than a prompt: a token
 * with a protected authentication path is sent that PIN, and is otherwise
 * left to read the PIN itself.
 */
typedef struct tk_p11_pin_getter {
    CK_RV (*get)(void *arg, char *buf, size_t cap, size_t *len);
    void *arg;
    const CK_TOKEN_INFO *token;
    int (*stored)(void *arg);
} TK_P11_PIN_GETTER;

/* ---- names and call statistics (p11_names.c, p11_trace.c) ---- */

typedef enum {
    TK_FN_C_Initialize, TK_FN_C_Finalize, TK_FN_C_GetInfo, TK_FN_C_GetSlotList,
    TK_FN_C_GetSlotInfo, TK_FN_C_GetTokenInfo, TK_FN_C_GetMechanismList,
    TK_FN_C_GetMechanismInfo, TK_FN_C_OpenSession, TK_FN_C_CloseSession,
    TK_FN_C_GetSessionInfo, TK_FN_C_Login, TK_FN_C_Logout,
    TK_FN_C_CreateObject, TK_FN_C_CopyObject, TK_FN_C_DestroyObject,
    TK_FN_C_GetAttributeValue, TK_FN_C_SetAttributeValue,
    TK_FN_C_FindObjectsInit, TK_FN_C_FindObjects, TK_FN_C_FindObjectsFinal,
    TK_FN_C_SignInit, TK_FN_C_Sign, TK_FN_C_SignUpdate, TK_FN_C_SignFinal,
    TK_FN_C_DecryptInit, TK_FN_C_Decrypt, TK_FN_C_GenerateKeyPair,
    TK_FN_C_GenerateRandom, TK_FN_C_InitToken, TK_FN_C_InitPIN,
    TK_FN_COUNT
} TK_P11_FN;

/* "CKR_PIN_INCORRECT"; unknown codes as "CKR_0x...". Never NULL; static storage. */
const char *tk_p11_rv_name(CK_RV rv);
const char *tk_p11_fn_name(TK_P11_FN fn);
/* "CKM_ECDSA"; unknown as "CKM_0x..." (thread-local buffer). */
const char *tk_p11_mech_name(CK_MECHANISM_TYPE mech);

/* Process-wide count of calls made to fn (all modules), for tests/bench. */
unsigned long tk_p11_stat(TK_P11_FN fn);

/* ---- modules (p11_module.c) ---- */

/*
 * Load (dlopen) and C_Initialize a module, or take another reference to the
 * one already loaded from the same path. init_args (may be NULL) goes to
 * CK_C_INITIALIZE_ARGS.pReserved, which NSS softokn needs.
 */
CK_RV tk_p11_module_open(const char *path, const char *init_args, TK_P11_MODULE **out);
/* Drop a reference; the last one C_Finalizes and unloads (never at process exit). */
void tk_p11_module_close(TK_P11_MODULE *m);
/* Another reference (keys hold one, so their token outlives them). */
TK_P11_MODULE *tk_p11_module_up_ref(TK_P11_MODULE *m);
const char *tk_p11_module_path(const TK_P11_MODULE *m);
CK_RV tk_p11_module_info(TK_P11_MODULE *m, CK_INFO *info);
/* dlerror() text of the last failed load on this thread, "" if none. */
const char *tk_p11_module_load_error(void);

/* ---- slots and tokens (p11_token.c) ---- */

/* Slots (with a token present when token_present); free *slots with OPENSSL_free. */
CK_RV tk_p11_slot_list(TK_P11_MODULE *m, int token_present, CK_SLOT_ID **slots, CK_ULONG *count);
CK_RV tk_p11_slot_info(TK_P11_MODULE *m, CK_SLOT_ID slot, CK_SLOT_INFO *info);
CK_RV tk_p11_token_info(TK_P11_MODULE *m, CK_SLOT_ID slot, CK_TOKEN_INFO *info);

/* Whether uri's library/slot/token attributes all match (RFC 7512 section 3). */
int tk_p11_uri_matches(const TK_URI *uri, const CK_INFO *lib, CK_SLOT_ID slot,
                       const CK_SLOT_INFO *si, const CK_TOKEN_INFO *ti);

/*
 * Tokens present that uri matches, in slot order. Up to max are stored in
 * tokens[]; *count is the total number that matched. TK_CKR_NO_TOKEN when
 * none did. The tokens belong to the module.
 */
CK_RV tk_p11_token_find(TK_P11_MODULE *m, const TK_URI *uri,
                        TK_P11_TOKEN **tokens, size_t max, size_t *count);
/*
 * All tokens present that uri matches, however many: *tokens is an array
 * of *count (OPENSSL_free it; the tokens belong to the module). For a
 * search that must see every token to tell "one key" from "two".
 */
CK_RV tk_p11_token_find_all(TK_P11_MODULE *m, const TK_URI *uri,
                            TK_P11_TOKEN ***tokens, size_t *count);

TK_P11_MODULE *tk_p11_token_module(const TK_P11_TOKEN *t);
CK_SLOT_ID tk_p11_token_slot(const TK_P11_TOKEN *t);
/* CK_TOKEN_INFO read when the token was opened (labels don't change). */
const CK_TOKEN_INFO *tk_p11_token_cached_info(const TK_P11_TOKEN *t);
/* The length of a PKCS#11 text field (a label, a serial...) without its blank padding. */
int tk_p11_text_len(const unsigned char *field, size_t size);
/*
 * Whether two token infos name the same token: serial number, label,
 * manufacturer and model. After a removal a slot may hold another card
 * with the same object ids (PIV cards use fixed ones).
 */
int tk_p11_same_token(const CK_TOKEN_INFO *a, const CK_TOKEN_INFO *b);
/*
 * CKR_OK when t's slot holds t's card now (C_GetTokenInfo read now),
 * TK_CKR_TOKEN_CHANGED when it holds another, else the read's failure.
 */
CK_RV tk_p11_token_card_present(TK_P11_TOKEN *t);
/*
 * Bumped whenever the token lost its sessions, login or object handles
 * (device removed, fork). Keys compare it to know when to find their
 * object handles again.
 */
unsigned long tk_p11_token_generation(const TK_P11_TOKEN *t);
/* Forget every session and the login (the token went away or came back). */
void tk_p11_token_reset(TK_P11_TOKEN *t);

/* ---- mechanisms, cached per token (p11_token.c) ---- */

/*
 * Read the token's mechanism list with each mechanism's info, unless a
 * read worked before; CKR_OK, or why it could not be read (tried again at
 * the next call). A choice among mechanisms reads it first, so that its
 * lookups all see one reading.
 */
CK_RV tk_p11_mechanisms_read(TK_P11_TOKEN *t);
/* CKR_MECHANISM_INVALID when the token does not list mech. */
CK_RV tk_p11_mechanism_info(TK_P11_TOKEN *t, CK_MECHANISM_TYPE mech, CK_MECHANISM_INFO *info);
/* 1 when the token lists mech with all of the flags in need (e.g. CKF_SIGN). */
int tk_p11_has_mechanism(TK_P11_TOKEN *t, CK_MECHANISM_TYPE mech, CK_FLAGS need);
/*
 * 1 when a key's CKA_ALLOWED_MECHANISMS (PKCS#11 v2.40 4.6; allowed, n
 * entries) lets it use mech. None (n == 0, as on tokens that predate the
 * attribute) means no limit.
 */
int tk_p11_mechanism_allowed(const CK_MECHANISM_TYPE *allowed, size_t n, CK_MECHANISM_TYPE mech);

/* ---- sessions (p11_session.c) ---- */

/*
 * How long a thread waits for a session of ours to come back when the
 * token is at its session limit (CKR_SESSION_COUNT). An operation holds a
 * session for milliseconds; the bound is for one that waits on a person
 * (a PIN pad) or a token that hangs. A number, for messages too.
 */
#define TK_P11_SESSION_WAIT_SECONDS 10

/* A session from the token's pool, or a new one (read-write unless the token is write-protected). */
CK_RV tk_p11_session_get(TK_P11_TOKEN *t, TK_P11_SESSION *s);
/*
 * Give a session back. last_rv is the result of the last call made on it:
 * a dead-session code closes it instead of pooling it, a token-gone code
 * resets the token. Safe to call with an unset session (handle 0).
 */
void tk_p11_session_put(TK_P11_SESSION *s, CK_RV last_rv);

/* Whether rv means the session is gone / the token is gone / login was lost. */
int tk_p11_rv_session_dead(CK_RV rv);
int tk_p11_rv_token_gone(CK_RV rv);

/*
 * Run op on a pooled session, recovering once from what a long-lived client
 * meets: a session closed behind our back (a fresh one is opened), a lost
 * login (CKR_USER_NOT_LOGGED_IN: log in again with pin, when pin != NULL),
 * a token that went away and came back (token reset, then retry), a module
 * another library in the process finalised (initialised again, then retry).
 */
typedef CK_RV tk_p11_op_fn(TK_P11_SESSION *s, void *arg);
CK_RV tk_p11_with_session(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin,
                          tk_p11_op_fn *op, void *arg);

/*
 * A session-object copy of key object o (C_CopyObject with CKA_TOKEN=FALSE,
 * PKCS#11 v2.40 section 5.7): it keeps o's CKA_SENSITIVE and
 * non-extractable attributes (PKCS#11 forbids weakening them on copy),
 * lives only in the token's memory for as long as the token's anchor
 * session, and on tokens that keep token objects encrypted at rest
 * (SoftHSM2) signs faster. generation: the token generation o's handle
 * holds in, which the copy then belongs to (a reset of the token
 * invalidates it); CKR_SESSION_CLOSED, without a call, when the token is
 * in another one by now - o may name another object then.
 */
CK_RV tk_p11_copy_to_session(TK_P11_TOKEN *t, CK_OBJECT_HANDLE o, unsigned long generation,
                             CK_OBJECT_HANDLE *copy);
/* Destroy such a copy if its generation is still current (and not at process exit). */
void tk_p11_destroy_session_copy(TK_P11_TOKEN *t, CK_OBJECT_HANDLE copy, unsigned long generation);

/* ---- login (p11_login.c) ---- */

/*
 * Log the user in unless already logged in (or the token needs no login).
 * The one PIN function: refuses a locked PIN, refuses to spend the last
 * try (CKF_USER_PIN_FINAL_TRY), and never resends a PIN the token already
 * rejected. Thread-safe: concurrent callers log in once.
 */
CK_RV tk_p11_login(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin);
/* CKU_CONTEXT_SPECIFIC login on s, for CKA_ALWAYS_AUTHENTICATE keys (after C_SignInit). */
CK_RV tk_p11_login_context(TK_P11_SESSION *s, const TK_P11_PIN_GETTER *pin);
int tk_p11_token_logged_in(TK_P11_TOKEN *t);
/*
 * Whether the module says the application is logged in as the user, asked
 * on s (C_GetSessionInfo): the login is the application's, and may have
 * been made, or ended, by another library in the process. Returns the
 * call's answer; *logged_in is meaningful only with CKR_OK.
 */
CK_RV tk_p11_session_logged_in(const TK_P11_SESSION *s, int *logged_in);

/* ---- objects (p11_object.c) ---- */

/*
 * Up to max handles of token objects (CKA_TOKEN=TRUE is added to tmpl)
 * matching tmpl; *count is how many were stored. At most
 * TK_P11_FIND_MAX_ATTRS attributes in tmpl.
 */
#define TK_P11_FIND_MAX_ATTRS 15
CK_RV tk_p11_find(TK_P11_SESSION *s, CK_ATTRIBUTE *tmpl, CK_ULONG n,
                  CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *count);
/*
 * C_GetAttributeValue, refusing (TK_CKR_SECRET_ATTRIBUTE, before any call
 * reaches the token) the attributes that hold private or secret key
 * material: CKA_VALUE, CKA_PRIVATE_EXPONENT, CKA_PRIME_1/2, CKA_EXPONENT_1/2,
 * CKA_COEFFICIENT. Certificates' CKA_VALUE comes from tk_p11_get_cert_der.
 * A length the module reports past a buffer it was given is its bug, and
 * TK_CKR_ATTRIBUTE_LENGTH (at most TK_P11_GET_ATTRS_MAX attributes).
 */
#define TK_P11_GET_ATTRS_MAX 16
CK_RV tk_p11_get_attrs(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *a, CK_ULONG n);
/*
 * Whether rv only says some attribute is absent or not shown
 * (CKR_ATTRIBUTE_TYPE_INVALID, CKR_ATTRIBUTE_SENSITIVE), as opposed to a
 * failed call.
 */
int tk_p11_rv_unavailable(CK_RV rv);
/* One attribute into a new buffer (OPENSSL_free it); same refusals. */
CK_RV tk_p11_get_attr_alloc(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type,
                            unsigned char **val, CK_ULONG *len);
/*
 * No key attribute or certificate comes near this many bytes: a module that
 * reports more is not given the memory (TK_CKR_ATTRIBUTE_LENGTH).
 */
#define TK_P11_ATTR_VALUE_MAX (1024UL * 1024UL)
/*
 * Several attributes of one object, whatever their sizes, in two calls
 * (lengths, then values; plus one for each length a module that stops at
 * the first missing attribute left unanswered). On CKR_OK each a[i].pValue
 * is a new buffer of a[i].ulValueLen bytes, or NULL with ulValueLen
 * CK_UNAVAILABLE_INFORMATION when the object has no such attribute or it
 * is sensitive; free them with tk_p11_attrs_free. On another CK_RV nothing
 * is allocated. At most TK_P11_ATTRS_ALLOC_MAX attributes; same refusals
 * as tk_p11_get_attrs.
 */
#define TK_P11_ATTRS_ALLOC_MAX 16
CK_RV tk_p11_get_attrs_alloc(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE *a, CK_ULONG n);
void tk_p11_attrs_free(CK_ATTRIBUTE *a, CK_ULONG n);
/* The entry of that type in a, if tk_p11_get_attrs_alloc found it; else NULL. */
const CK_ATTRIBUTE *tk_p11_attr_find(const CK_ATTRIBUTE *a, CK_ULONG n, CK_ATTRIBUTE_TYPE type);
CK_RV tk_p11_get_ulong(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_ULONG *v);
CK_RV tk_p11_get_bool(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE type, CK_BBOOL *v);
/* CKA_VALUE of an object whose CKA_CLASS is CKO_CERTIFICATE (checked first). */
CK_RV tk_p11_get_cert_der(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, unsigned char **der, CK_ULONG *len);
/*
 * The curve a CKA_EC_PARAMS value names, as an OpenSSL NID: DER
 * ECParameters with a namedCurve OID, or (PKCS#11 3.0, Edwards curves) a
 * PrintableString "edwards25519"/"edwards448". NID_undef for anything else;
 * nothing is left on OpenSSL's error queue.
 */
int tk_p11_ec_params_nid(const unsigned char *der, CK_ULONG len);

CK_RV tk_p11_create(TK_P11_SESSION *s, CK_ATTRIBUTE *tmpl, CK_ULONG n, CK_OBJECT_HANDLE *out);
CK_RV tk_p11_destroy(TK_P11_SESSION *s, CK_OBJECT_HANDLE o);
CK_RV tk_p11_generate_key_pair(TK_P11_SESSION *s, CK_MECHANISM *mech,
                               CK_ATTRIBUTE *pub, CK_ULONG npub,
                               CK_ATTRIBUTE *priv, CK_ULONG npriv,
                               CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv);
CK_RV tk_p11_generate_random(TK_P11_SESSION *s, unsigned char *buf, CK_ULONG len);

/* ---- token administration (p11_admin.c): fixtures and the CLI ---- */

/* C_InitToken on slot with the SO PIN, label padded as PKCS#11 wants. */
CK_RV tk_p11_init_token(TK_P11_MODULE *m, CK_SLOT_ID slot, const TK_P11_PIN_GETTER *so_pin,
                        const char *label);
/* Log in as SO on a fresh session, C_InitPIN with the user PIN, log out. */
CK_RV tk_p11_init_pin(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *so_pin,
                      const TK_P11_PIN_GETTER *user_pin);

/* ---- private-key operations (p11_crypto.c) ---- */

/*
 * C_SignInit + C_Sign in one go. sig must hold *siglen bytes (the key's
 * maximum signature size); *siglen becomes the actual length. When
 * ctx_pin != NULL (CKA_ALWAYS_AUTHENTICATE keys) a context-specific login
 * happens between the two. A failed C_Sign leaves no operation active.
 */
CK_RV tk_p11_sign(TK_P11_SESSION *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                  const unsigned char *in, CK_ULONG inlen,
                  unsigned char *sig, CK_ULONG *siglen,
                  const TK_P11_PIN_GETTER *ctx_pin);
/* C_DecryptInit + C_Decrypt, same conventions. */
CK_RV tk_p11_decrypt(TK_P11_SESSION *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                     const unsigned char *in, CK_ULONG inlen,
                     unsigned char *out, CK_ULONG *outlen,
                     const TK_P11_PIN_GETTER *ctx_pin);

#endif
