/* Token keys: lifecycle, loading by URI, and private-key operations (see key.h). */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "debug.h"
#include "errors.h"
#include "key.h"
#include "key_public.h"
#include "objects.h"

TK_KEY *tk_key_new(TK_PROVCTX *ctx, TK_KEY_TYPE type)
{
    TK_KEY *k = OPENSSL_zalloc(sizeof(*k));

    if (k == NULL)
        return NULL;
    k->refs = 1;
    k->ctx = ctx;
    k->type = type;
    k->handle = CK_INVALID_HANDLE;
    k->copy = CK_INVALID_HANDLE;
    k->copy_gen = k->copy_failed_gen = (unsigned long)-1;
    tk_fork_lock_init(&k->lock);
    return k;
}

TK_KEY *tk_key_up_ref(TK_KEY *k)
{
    __atomic_fetch_add(&k->refs, 1, __ATOMIC_RELAXED);
    return k;
}

void tk_key_free(TK_KEY *k)
{
    if (k == NULL || __atomic_sub_fetch(&k->refs, 1, __ATOMIC_ACQ_REL) > 0)
        return;
    if (k->copy_gen != (unsigned long)-1)
        tk_p11_destroy_session_copy(k->token, k->copy, k->copy_gen);
    tk_p11_module_close(k->module);
    tk_pin_source_clear(&k->pin);
    BN_free(k->rsa_n);
    BN_free(k->rsa_e);
    OPENSSL_free(k->pub);
    OPENSSL_free(k->id);
    OPENSSL_free(k->label);
    OPENSSL_free(k->uri);
    OPENSSL_free(k->allowed_mechs);
    tk_fork_lock_destroy(&k->lock);
    OPENSSL_free(k);
}

int tk_key_has_private(const TK_KEY *k)
{
    /* Atomic: another thread may be storing the handle found again (refind_handle). */
    return k->token != NULL && __atomic_load_n(&k->handle, __ATOMIC_RELAXED) != CK_INVALID_HANDLE;
}

int tk_key_has_public(const TK_KEY *k)
{
    if (k->type == TK_KEY_RSA)
        return k->rsa_n != NULL && k->rsa_e != NULL;
    return k->pub != NULL && (k->type != TK_KEY_EC || k->group[0] != '\0');
}

const char *tk_key_type_name(TK_KEY_TYPE type)
{
    switch (type) {
    case TK_KEY_RSA: return "RSA";
    case TK_KEY_EC: return "EC";
    case TK_KEY_ED25519: return "ED25519";
    default: return "?";
    }
}

int tk_key_ec_order_bytes(const TK_KEY *k)
{
    return (k->bits + 7) / 8;
}

/* DER length of an INTEGER of up to n content bytes, plus a sign byte when asked. */
static int der_integer_max(int n, int sign)
{
    int content = n + sign;

    return 1 + (content < 128 ? 1 : content < 256 ? 2 : 3) + content;
}

int tk_key_max_signature_size(const TK_KEY *k)
{
    switch (k->type) {
    case TK_KEY_RSA:
        return (k->bits + 7) / 8;
    case TK_KEY_EC: {
        /* ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } (RFC 3279) */
        /* P-256/P-384 orders start with 0xFF (r, s may need a sign byte); P-521's with 0x01. */
        int body = 2 * der_integer_max(tk_key_ec_order_bytes(k), k->bits % 8 == 0);

        return 1 + (body < 128 ? 1 : body < 256 ? 2 : 3) + body;
    }
    case TK_KEY_ED25519:
        return 64;
    default:
        return 0;
    }
}

int tk_key_security_bits(const TK_KEY *k)
{
    switch (k->type) {
    case TK_KEY_RSA:
        return BN_security_bits(k->bits, -1);
    case TK_KEY_EC:
        /* NIST SP 800-57 part 1 table 2: P-521 counts as 256 bits. */
        return k->bits >= 512 ? 256 : k->bits / 2;
    case TK_KEY_ED25519:
        return 128;
    default:
        return 0;
    }
}

TK_KEY_TYPE tk_key_type_of(CK_KEY_TYPE kt)
{
    switch (kt) {
    case CKK_RSA: return TK_KEY_RSA;
    case CKK_EC: return TK_KEY_EC;
    case CKK_EC_EDWARDS: return TK_KEY_ED25519;
    default: return 0;
    }
}

/*
 * Everything a key needs from its own object, read in one batch (two
 * calls, tk_p11_get_attrs_alloc): a key type's attributes that the object
 * lacks, like an RSA key's CKA_EC_PARAMS, just come back absent.
 */
enum {
    KA_CLASS, KA_KEY_TYPE, KA_ALWAYS_AUTHENTICATE, KA_ID, KA_LABEL,
    KA_MODULUS, KA_PUBLIC_EXPONENT, KA_EC_PARAMS, KA_EC_POINT, KA_ALLOWED_MECHANISMS, KA_N
};

static const CK_ATTRIBUTE_TYPE key_attr_types[KA_N] = {
    CKA_CLASS, CKA_KEY_TYPE, CKA_ALWAYS_AUTHENTICATE, CKA_ID, CKA_LABEL,
    CKA_MODULUS, CKA_PUBLIC_EXPONENT, CKA_EC_PARAMS, CKA_EC_POINT, CKA_ALLOWED_MECHANISMS,
};

/* A fixed-size attribute from the batch, if present with exactly that size. */
static int attr_ulong(const CK_ATTRIBUTE *a, CK_ULONG *v)
{
    if (a->pValue == NULL || a->ulValueLen != sizeof(*v))
        return 0;
    memcpy(v, a->pValue, sizeof(*v));
    return 1;
}

/*
 * CKA_ALLOWED_MECHANISMS (PKCS#11 v2.40 4.6): a key limited to, say,
 * CKM_ECDSA_SHA256 must be asked for that, not CKM_ECDSA. Absent or empty
 * means no limit, as on tokens that predate the attribute.
 */
static int keep_allowed_mechanisms(TK_KEY *k, const CK_ATTRIBUTE *a)
{
    size_t n = a->ulValueLen / sizeof(CK_MECHANISM_TYPE);

    if (a->pValue == NULL || n == 0)
        return 1;
    if ((k->allowed_mechs = OPENSSL_memdup(a->pValue, n * sizeof(CK_MECHANISM_TYPE))) == NULL)
        return 0;
    k->n_allowed_mechs = n;
    return 1;
}

static CK_RV key_from_attrs(TK_PROVCTX *ctx, TK_P11_SESSION *s, CK_OBJECT_HANDLE obj,
                            const CK_ATTRIBUTE *a, TK_KEY **out)
{
    CK_OBJECT_CLASS cls;
    CK_KEY_TYPE kt;
    TK_KEY *k;
    CK_RV rv;

    if (!attr_ulong(&a[KA_CLASS], &cls) || !attr_ulong(&a[KA_KEY_TYPE], &kt))
        return CKR_ATTRIBUTE_TYPE_INVALID;
    if (tk_key_type_of(kt) == 0)
        return CKR_KEY_TYPE_INCONSISTENT;
    k = tk_key_new(ctx, tk_key_type_of(kt));
    if (k == NULL)
        return CKR_HOST_MEMORY;
    k->token = s->token;
    k->token_info = *tk_p11_token_cached_info(s->token);
    k->module = tk_p11_module_up_ref(tk_p11_token_module(s->token));
    k->handle_gen = s->generation;
    if (cls == CKO_PRIVATE_KEY) {
        k->handle = obj;
        /* Absent on tokens that predate it: treat as false. */
        k->always_authenticate = a[KA_ALWAYS_AUTHENTICATE].pValue != NULL
                                 && a[KA_ALWAYS_AUTHENTICATE].ulValueLen == sizeof(CK_BBOOL)
                                 && *(CK_BBOOL *)a[KA_ALWAYS_AUTHENTICATE].pValue == CK_TRUE;
        /* A per-use login must stay bound to the token object itself. */
        k->copy_allowed = !k->always_authenticate
                          && (ctx == NULL || ctx->cfg.session_key_copy != 0);
        if (!keep_allowed_mechanisms(k, &a[KA_ALLOWED_MECHANISMS])) {
            *out = k;
            return CKR_HOST_MEMORY;
        }
    }
    if (a[KA_ID].pValue != NULL
        && (k->id = OPENSSL_memdup(a[KA_ID].pValue, a[KA_ID].ulValueLen > 0 ? a[KA_ID].ulValueLen
                                                                            : 1)) != NULL)
        k->id_len = a[KA_ID].ulValueLen;
    if (a[KA_LABEL].pValue != NULL)
        k->label = OPENSSL_strndup(a[KA_LABEL].pValue, a[KA_LABEL].ulValueLen);
    *out = k;
    rv = tk_key_read_public(k, s, cls, a, KA_N);
    if (rv == CKR_OK
        && (k->uri = tk_objects_uri_named(s->token, k->label, k->id, k->id_len, cls)) == NULL)
        rv = CKR_HOST_MEMORY;
    return rv;
}

CK_RV tk_key_from_object(TK_PROVCTX *ctx, TK_P11_SESSION *s, CK_OBJECT_HANDLE obj,
                         const TK_PIN_SOURCE *pin, TK_KEY **out)
{
    CK_ATTRIBUTE a[KA_N];
    TK_KEY *k = NULL;
    CK_RV rv;

    for (int i = 0; i < KA_N; i++)
        a[i] = (CK_ATTRIBUTE){ key_attr_types[i], NULL, 0 };
    rv = tk_p11_get_attrs_alloc(s, obj, a, KA_N);
    if (rv != CKR_OK)
        return rv;
    rv = key_from_attrs(ctx, s, obj, a, &k);
    tk_p11_attrs_free(a, KA_N);
    if (rv == CKR_OK && pin != NULL && !tk_pin_source_copy_lasting(&k->pin, pin))
        rv = CKR_HOST_MEMORY;
    if (rv != CKR_OK) {
        tk_key_free(k);
        return rv;
    }
    *out = k;
    return CKR_OK;
}

void tk_key_raise_ambiguous(TK_PROVCTX *ctx, const TK_URI *uri, const TK_FOUND *found, size_t n)
{
    char list[1024] = "";
    char *text = tk_objects_uri_for_message(uri);

    for (size_t i = 0; i < n && i < 4; i++) {
        TK_P11_SESSION s;
        char *one = NULL;

        if (tk_objects_session_for(&found[i], &s) == CKR_OK)
            one = tk_objects_uri(&s, found[i].handle, CKO_PRIVATE_KEY);
        tk_p11_session_put(&s, CKR_OK);
        OPENSSL_strlcat(list, i > 0 ? " and " : "", sizeof(list));
        OPENSSL_strlcat(list, one != NULL ? one : "(unnamed)", sizeof(list));
        OPENSSL_free(one);
    }
    TK_RAISE(ctx, TK_R_OBJECT_AMBIGUOUS, "%s matches %zu private keys: %s", text, n, list);
    OPENSSL_free(text);
}

int tk_key_load_private(TK_PROVCTX *ctx, const TK_URI *uri, OSSL_PASSPHRASE_CALLBACK *cb,
                        void *cbarg, TK_KEY **out)
{
    TK_PIN_SOURCE pin;
    TK_FOUND found[4];
    size_t n = 0;
    TK_P11_SESSION s;
    CK_RV rv;
    int ok = 0, searches = 0;

    if (!tk_provctx_ready(ctx) || !tk_provctx_has_digests(ctx)
        || !tk_pin_source_choose(&pin, ctx, uri, ctx->cfg.pin, cb, cbarg))
        return 0;
search:
    n = 0;
    searches++;
    if (!tk_objects_find(ctx, uri, CKO_PRIVATE_KEY, NULL, &pin, 1, found, 4, &n))
        goto end;
    if (n == 0) {
        char *text = tk_objects_uri_for_message(uri);

        TK_RAISE(ctx, TK_R_OBJECT_NOT_FOUND, "no private key matches %s", text);
        OPENSSL_free(text);
        goto end;
    }
    /* Never pick one of several silently: the wrong key is worse than none. */
    if (n > 1) {
        tk_key_raise_ambiguous(ctx, uri, found, n);
        goto end;
    }
    rv = tk_objects_session_for(&found[0], &s);
    /* The token was reset between the search and now: its handle may be another object's. */
    if (rv == TK_CKR_FOUND_STALE && searches < 2)
        goto search;
    if (rv == CKR_OK)
        rv = tk_key_from_object(ctx, &s, found[0].handle, &pin, out);
    tk_p11_session_put(&s, rv);
    if (rv == CKR_KEY_TYPE_INCONSISTENT || rv == CKR_CURVE_NOT_SUPPORTED) {
        char *text = tk_objects_uri_for_message(uri);

        TK_RAISE(ctx, TK_R_UNSUPPORTED_KEY_TYPE, "the private key %s is of a type or curve "
                 "tokenkey does not handle", text);
        OPENSSL_free(text);
    } else if (rv == TK_CKR_NO_PUBLIC_HALF) {
        char *text = tk_objects_uri_for_message(uri);

        /* Signing needs no public half, but TLS and OpenSSL's key checks do. */
        TK_RAISE(ctx, TK_R_OBJECT_NOT_FOUND, "%s has no public half on the token: no "
                 "CKA_EC_POINT on the private key, and no public key or certificate with its "
                 "CKA_ID; write its certificate to the token with the key's CKA_ID "
                 "(pkcs11-tool --write-object CERT --type cert --id ID)", text);
        OPENSSL_free(text);
    } else if (rv == TK_CKR_PUBLIC_AMBIGUOUS) {
        char *text = tk_objects_uri_for_message(uri);

        TK_RAISE(ctx, TK_R_ID_SHARED, "%s: the public keys (or certificates) with its CKA_ID hold "
                 "different public keys (pkcs11-tool --keypairgen --id gives a key pair its id)", text);
        OPENSSL_free(text);
    } else if (rv == TK_CKR_ID_SHARED) {
        char *text = tk_objects_uri_for_message(uri);

        TK_RAISE(ctx, TK_R_ID_SHARED, "%s: another private key has its CKA_ID, and the key's public "
                 "half would have to come from the public keys or certificates with that id "
                 "(pkcs11-tool --keypairgen --id gives a key pair its id)", text);
        OPENSSL_free(text);
    } else if (rv != CKR_OK) {
        TK_RAISE_RV(ctx, rv, "reading the key's public part");
    }
    ok = rv == CKR_OK;
    if (ok)
        TK_DEBUG("loaded %s key %s", tk_key_type_name((*out)->type), (*out)->uri);
end:
    tk_pin_source_clear(&pin);
    return ok;
}

/*
 * The object found again is the key that was loaded: a key deleted and
 * made anew under the same CKA_ID and label (a rotation) has another public
 * key, read the way the key's own was - from the private object when it
 * carries it (RSA), else from the public key object or certificate with the
 * CKA_ID, so a private key replaced alone, beside a stale public object, is
 * not caught (that would take a signature, which a key that wants a PIN
 * per use cannot make unasked).
 */
static CK_RV check_same_key(TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_HANDLE found)
{
    TK_KEY *now = NULL;
    CK_RV rv = tk_key_from_object(k->ctx, s, found, NULL, &now);

    /* Now of another type or curve, or another point: not the key that was loaded. */
    if ((rv == CKR_OK && !tk_key_public_eq(k, now)) || rv == CKR_KEY_TYPE_INCONSISTENT
        || rv == CKR_CURVE_NOT_SUPPORTED)
        rv = TK_CKR_KEY_REPLACED;
    tk_key_free(now);
    return rv;
}

/*
 * Under k->lock: the private key's handle, valid in generation gen. After
 * the token went away and came back, handles change, so find it again by
 * CKA_ID (and label) - the same object, never another one: not on another
 * card in the same slot (PIV cards have fixed ids), not another key made
 * under the same id and label, and not for a key with neither id nor label,
 * which would match any private key.
 */
static CK_RV refind_handle(TK_KEY *k, TK_P11_SESSION *s)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[3] = { { CKA_CLASS, &cls, sizeof(cls) } };
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 1, got = 0;
    CK_RV rv;

    if (k->id_len == 0 && (k->label == NULL || k->label[0] == '\0'))
        return TK_CKR_KEY_UNNAMED;
    /*
     * A token that needs no login was not checked by the PIN getter: check
     * here. k->token is the card k->token_info describes (one token per card).
     */
    rv = tk_p11_token_card_present(k->token);
    if (rv != CKR_OK)
        return rv;
    if (k->id_len > 0)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, k->id, k->id_len };
    if (k->label != NULL)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, k->label, strlen(k->label) };
    rv = tk_p11_find(s, tmpl, n, found, 2, &got);
    /*
     * Private objects are out of sight, and a copy destroyed, once the login
     * is lost while the sessions stay (another library's C_Logout, a login
     * the token let lapse; PKCS#11 v2.40 section 5.6, C_Logout): not a key
     * gone. CKR_USER_NOT_LOGGED_IN has tk_p11_with_session log in again and
     * look once more.
     */
    if (rv == CKR_OK && got == 0 && (tk_p11_token_cached_info(k->token)->flags & CKF_LOGIN_REQUIRED)) {
        int logged_in = 1;

        /* A failure to ask (the session gone, the token) is answered as it is. */
        rv = tk_p11_session_logged_in(s, &logged_in);
        if (rv == CKR_OK && !logged_in)
            rv = CKR_USER_NOT_LOGGED_IN;
    }
    if (rv == CKR_OK && got != 1)
        rv = got == 0 ? TK_CKR_KEY_GONE : TK_CKR_KEY_TWICE;
    if (rv == CKR_OK)
        rv = check_same_key(k, s, found[0]);
    if (rv == CKR_OK) {
        __atomic_store_n(&k->handle, found[0], __ATOMIC_RELAXED);
        __atomic_store_n(&k->handle_gen, s->generation, __ATOMIC_RELEASE);
        TK_DEBUG("key %s found again as object %lu", k->uri, (unsigned long)found[0]);
    }
    return rv;
}

/* Under k->lock: make the session copy for this generation, once. */
static void make_copy(TK_KEY *k, unsigned long gen)
{
    CK_OBJECT_HANDLE copy;
    CK_RV rv = tk_p11_copy_to_session(k->token, k->handle, gen, &copy);

    if (rv == CKR_OK) {
        __atomic_store_n(&k->copy, copy, __ATOMIC_RELAXED);
        __atomic_store_n(&k->copy_gen, gen, __ATOMIC_RELEASE);
        return;
    }
    TK_DEBUG("key %s: no session copy (%s); signing with the token object", k->uri,
             tk_p11_rv_name(rv));
    __atomic_store_n(&k->copy_failed_gen, gen, __ATOMIC_RELEASE);
}

/*
 * The object to sign with on session s: the session copy when there is
 * one for s's generation (*is_copy set), else the token object. The fast
 * path is two atomic loads; the lock is taken once per key per token
 * generation.
 */
static CK_RV signing_handle(TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_HANDLE *h, int *is_copy)
{
    unsigned long gen = s->generation;
    CK_RV rv = CKR_OK;

    *is_copy = 0;
    if (__atomic_load_n(&k->copy_gen, __ATOMIC_ACQUIRE) == gen) {
        *h = __atomic_load_n(&k->copy, __ATOMIC_RELAXED);
        *is_copy = 1;
        return CKR_OK;
    }
    if (__atomic_load_n(&k->handle_gen, __ATOMIC_ACQUIRE) == gen
        && (!k->copy_allowed || __atomic_load_n(&k->copy_failed_gen, __ATOMIC_RELAXED) == gen)) {
        *h = __atomic_load_n(&k->handle, __ATOMIC_RELAXED);
        return CKR_OK;
    }
    tk_fork_lock_acquire(&k->lock);
    if (k->handle_gen != gen)
        rv = refind_handle(k, s);
    if (rv == CKR_OK && k->copy_allowed && k->copy_gen != gen && k->copy_failed_gen != gen)
        make_copy(k, gen);
    *is_copy = k->copy_gen == gen;
    *h = *is_copy ? k->copy : k->handle;
    tk_fork_lock_release(&k->lock);
    return rv;
}

/* The token object itself, found again if its handle is of an older generation. */
static CK_RV token_object_handle(TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_HANDLE *h)
{
    CK_RV rv = CKR_OK;

    if (__atomic_load_n(&k->handle_gen, __ATOMIC_ACQUIRE) != s->generation) {
        tk_fork_lock_acquire(&k->lock);
        if (k->handle_gen != s->generation)
            rv = refind_handle(k, s);
        tk_fork_lock_release(&k->lock);
    }
    *h = __atomic_load_n(&k->handle, __ATOMIC_RELAXED);
    return rv;
}

/* A token's label and serial for a message, without their blank padding. */
static void describe_token(const CK_TOKEN_INFO *ti, char *out, size_t cap)
{
    int label = tk_p11_text_len(ti->label, sizeof(ti->label));
    int serial = tk_p11_text_len(ti->serialNumber, sizeof(ti->serialNumber));

    snprintf(out, cap, "token '%.*s' (serial %.*s)", label, (const char *)ti->label, serial,
             (const char *)ti->serialNumber);
}

/* Name both tokens: the one the key came from and the one in its slot now. */
static void raise_token_changed(const TK_KEY *k)
{
    CK_TOKEN_INFO now;
    char was[96], is[96] = "another token";

    describe_token(&k->token_info, was, sizeof(was));
    if (tk_p11_token_info(k->module, tk_p11_token_slot(k->token), &now) == CKR_OK)
        describe_token(&now, is, sizeof(is));
    TK_RAISE(k->ctx, TK_R_TOKEN_CHANGED, "the key %s was loaded from %s, but slot %lu now holds "
             "%s: put the key's token back, or load a key from the token there",
             k->uri != NULL ? k->uri : "", was, (unsigned long)tk_p11_token_slot(k->token), is);
}

typedef struct {
    TK_KEY *key;
    CK_MECHANISM *mech;
    const unsigned char *in;
    size_t inlen;
    unsigned char *out;
    CK_ULONG cap;    /* the room at out */
    CK_ULONG outlen; /* what the module wrote there */
    int decrypt;
    TK_P11_PIN_GETTER pin;
    CK_OBJECT_HANDLE used;   /* the object the last try signed with, */
    unsigned long used_gen;  /* in this token generation; */
    int used_copy;           /* it was the session copy */
    int token_object;        /* sign with the token object, not the copy */
} PRIVATE_OP;

static CK_RV private_op(TK_P11_SESSION *s, void *arg)
{
    PRIVATE_OP *op = arg;
    const TK_P11_PIN_GETTER *ctx_pin = op->key->always_authenticate ? &op->pin : NULL;
    CK_OBJECT_HANDLE h;
    int is_copy = 0;
    CK_RV rv = op->token_object ? token_object_handle(op->key, s, &h)
                                : signing_handle(op->key, s, &h, &is_copy);

    if (rv != CKR_OK)
        return rv;
    op->used = h;
    op->used_gen = s->generation;
    op->used_copy = is_copy;
    /* A module may have written a length on a failed try before this one (a session lost). */
    op->outlen = op->cap;
    if (op->decrypt)
        return tk_p11_decrypt(s, op->mech, h, op->in, op->inlen, op->out, &op->outlen, ctx_pin);
    return tk_p11_sign(s, op->mech, h, op->in, op->inlen, op->out, &op->outlen, ctx_pin);
}

/*
 * Forget the object a private operation found gone (same token generation:
 * destroyed behind us), so that the next try finds the key again and copies
 * it again. Only while it is still the one kept: another thread that met
 * the same failure may have replaced it already, and forgetting that new
 * copy would leave it in the anchor session, unused, until the token's next
 * generation. A token object found gone takes only itself (and the failed
 * copy's mark) along: a copy kept now was made after it was found again.
 */
static void forget_gone_object(TK_KEY *k, CK_OBJECT_HANDLE used, unsigned long gen)
{
    tk_fork_lock_acquire(&k->lock);
    if (k->copy_gen == gen && k->copy == used) {
        __atomic_store_n(&k->copy_gen, (unsigned long)-1, __ATOMIC_RELEASE);
        __atomic_store_n(&k->copy_failed_gen, (unsigned long)-1, __ATOMIC_RELEASE);
        __atomic_store_n(&k->handle_gen, (unsigned long)-1, __ATOMIC_RELEASE);
    } else if (k->handle_gen == gen && k->handle == used) {
        __atomic_store_n(&k->copy_failed_gen, (unsigned long)-1, __ATOMIC_RELEASE);
        __atomic_store_n(&k->handle_gen, (unsigned long)-1, __ATOMIC_RELEASE);
    }
    tk_fork_lock_release(&k->lock);
}

/*
 * Answers with which a token may refuse, by its policy, to use a session
 * copy it let us make while it uses the token object (an HSM whose policy
 * is bound to the stored object). Not those about the input, the login or
 * a lost session, which a copy does not cause; nor a module's general
 * failures, which the token object would only repeat (SoftHSM2 answers
 * CKR_GENERAL_ERROR to OAEP parameters it does not take).
 */
static int copy_may_be_refused(CK_RV rv)
{
    return rv == CKR_KEY_FUNCTION_NOT_PERMITTED || rv == CKR_ACTION_PROHIBITED
           || rv == CKR_KEY_TYPE_INCONSISTENT || rv == CKR_MECHANISM_INVALID
           || rv == CKR_FUNCTION_NOT_SUPPORTED;
}

/*
 * The token refused the copy and signed with the token object: sign with
 * that for the rest of this generation, as when no copy could be made.
 * The copy is left to the anchor session, which ends with the generation:
 * other threads may be about to use its handle, and a module that reuses
 * handle numbers could give it to another object, which a later destroy
 * would hit.
 */
static void drop_refused_copy(TK_KEY *k, CK_OBJECT_HANDLE copy, unsigned long gen, CK_RV why)
{
    tk_fork_lock_acquire(&k->lock);
    if (k->copy_gen == gen && k->copy == copy) {
        __atomic_store_n(&k->copy_failed_gen, gen, __ATOMIC_RELEASE);
        __atomic_store_n(&k->copy_gen, (unsigned long)-1, __ATOMIC_RELEASE);
        TK_DEBUG("key %s: the token refused its session copy (%s) and signs with the token "
                 "object: the copy is not used again", k->uri, tk_p11_rv_name(why));
    }
    tk_fork_lock_release(&k->lock);
}

static int handle_gone(CK_RV rv)
{
    return rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID;
}

/*
 * One try; when the object it used was removed behind us (same token
 * generation), it is forgotten, so that the key is found again and copied
 * again, and there is one more try.
 */
static CK_RV try_private_op(TK_KEY *k, PRIVATE_OP *op)
{
    CK_RV rv;

    op->used = CK_INVALID_HANDLE;
    op->used_copy = 0;
    rv = tk_p11_with_session(k->token, &op->pin, private_op, op);
    if (handle_gone(rv)) {
        if (op->used != CK_INVALID_HANDLE) /* else it was the search that met a vanished object */
            forget_gone_object(k, op->used, op->used_gen);
        rv = tk_p11_with_session(k->token, &op->pin, private_op, op);
    }
    return rv;
}

static CK_RV run_private_op(TK_KEY *k, CK_MECHANISM *mech, const unsigned char *in, size_t inlen,
                            unsigned char *out, size_t *outlen, int decrypt)
{
    PRIVATE_OP op = { k, mech, in, inlen, out, *outlen, 0, decrypt, tk_pin_getter(&k->pin),
                      CK_INVALID_HANDLE, 0, 0, 0 };
    CK_RV rv;

    if (!tk_key_has_private(k))
        return CKR_KEY_HANDLE_INVALID;
    op.pin.token = &k->token_info; /* the key's PIN only to the key's token */
    rv = try_private_op(k, &op);
    /*
     * Refused on the copy (whether or not another thread dropped it since):
     * the token object, and when that works the copy is not used again. The
     * token object's handle may be stale in turn (the key replaced since
     * it was found): found again as above.
     */
    if (copy_may_be_refused(rv) && op.used_copy) {
        CK_OBJECT_HANDLE copy = op.used;
        unsigned long gen = op.used_gen;
        CK_RV refused = rv;

        op.token_object = 1;
        rv = try_private_op(k, &op);
        if (rv == CKR_OK)
            drop_refused_copy(k, copy, gen, refused);
    }
    if (rv == CKR_OK)
        *outlen = op.outlen;
    if (rv == TK_CKR_TOKEN_CHANGED)
        raise_token_changed(k);
    return rv;
}

CK_RV tk_key_sign(TK_KEY *k, CK_MECHANISM *mech, const unsigned char *in, size_t inlen,
                  unsigned char *out, size_t *outlen)
{
    return run_private_op(k, mech, in, inlen, out, outlen, 0);
}

CK_RV tk_key_decrypt(TK_KEY *k, CK_MECHANISM *mech, const unsigned char *in, size_t inlen,
                     unsigned char *out, size_t *outlen)
{
    return run_private_op(k, mech, in, inlen, out, outlen, 1);
}

int tk_key_allows_mechanism(const TK_KEY *k, CK_MECHANISM_TYPE mech)
{
    return tk_p11_mechanism_allowed(k->allowed_mechs, k->n_allowed_mechs, mech);
}

int tk_key_can_use_mechanism(const TK_KEY *k, CK_MECHANISM_TYPE mech, CK_FLAGS need)
{
    return k->token != NULL && tk_key_allows_mechanism(k, mech)
           && tk_p11_has_mechanism(k->token, mech, need);
}
