/*
 * OSSL_STORE loader for "pkcs11:" URIs (RFC 7512): what `openssl storeutl`,
 * `-key pkcs11:...` / `-inkey pkcs11:...` and OSSL_STORE_open() reach.
 *
 * open() only parses the URI: OSSL_STORE_expect() and OSSL_STORE_find()
 * arrive after it (as set_ctx_params), so the token is searched on the
 * first load(). Objects come back one per load() call:
 *   private keys  OSSL_OBJECT_PKEY, a reference (TK_KEY *, see key.h)
 *   public keys   OSSL_OBJECT_PKEY, a reference to a public-only TK_KEY
 *   certificates  OSSL_OBJECT_CERT, the DER ("Certificate")
 * filtered by the URI's type= and by the expected kind. We log in only
 * when private keys are wanted (type=private, no type, or EXPECT PKEY):
 * certificates and public keys are public objects (PKCS#11 v2.40 4.4).
 * When private keys alone are wanted, exactly one must match: the load
 * fails listing them all rather than pick one (tk_key_load_private).
 */
#include <string.h>

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "algorithms.h"
#include "debug.h"
#include "errors.h"
#include "key.h"
#include "objects.h"

/* Objects listed per class (the search stops there; the debug log says so). */
#define TK_STORE_MAX 64

/* What a load may return, as bits. */
#define WANT_PRIVATE 1
#define WANT_PUBLIC 2
#define WANT_CERT 4

typedef struct tk_store_item {
    CK_OBJECT_CLASS cls;
    TK_FOUND where;
    int cert_public_key;        /* a certificate handed out as its public key */
} TK_STORE_ITEM;

typedef struct tk_store_ctx {
    TK_PROVCTX *provctx;
    TK_URI *uri;
    int expect;                 /* OSSL_STORE_INFO_*, 0 for anything */
    unsigned char *subject;     /* DER X509_NAME to match certificates, or NULL */
    size_t subject_len;

    int searched;               /* the first load() did the search */
    int eof;
    TK_KEY *single;             /* the one private key, when only private keys are wanted */
    TK_STORE_ITEM items[3 * TK_STORE_MAX];
    size_t n_items, next;
    size_t n_emitted;           /* items handed to the caller, not skipped */
    size_t n_private;           /* private keys the URI matches, beyond TK_STORE_MAX too */
    TK_PIN_SOURCE pin;          /* for the keys handed out (lasting sources are copied) */
} TK_STORE_CTX;

static OSSL_FUNC_store_open_fn tk_store_open;
static OSSL_FUNC_store_settable_ctx_params_fn tk_store_settable_ctx_params;
static OSSL_FUNC_store_set_ctx_params_fn tk_store_set_ctx_params;
static OSSL_FUNC_store_load_fn tk_store_load;
static OSSL_FUNC_store_eof_fn tk_store_eof;
static OSSL_FUNC_store_close_fn tk_store_close;

static void *tk_store_open(void *provctx, const char *text)
{
    TK_STORE_CTX *sctx;
    TK_URI_ERROR err;
    TK_URI *uri = NULL;
    TK_URI_ERR rc;

    if (!tk_provctx_ready(provctx))
        return NULL;
    memset(&err, 0, sizeof(err));
    rc = tk_uri_parse(text, &uri, &err);
    if (rc != TK_URI_OK) {
        /* Position and attribute, never the text itself: it may hold a pin-value. */
        TK_RAISE(provctx, TK_R_BAD_URI, "%s at offset %zu%s%s%s", tk_uri_strerror(err.code),
                 err.offset, err.attr[0] != '\0' ? " (attribute '" : "", err.attr,
                 err.attr[0] != '\0' ? "')" : "");
        return NULL;
    }
    sctx = OPENSSL_zalloc(sizeof(*sctx));
    if (sctx == NULL) {
        tk_uri_free(uri);
        TK_RAISE(provctx, TK_R_OUT_OF_MEMORY, "store context");
        return NULL;
    }
    sctx->provctx = provctx;
    sctx->uri = uri;
    return sctx;
}

static const OSSL_PARAM *tk_store_settable_ctx_params(void *provctx)
{
    static const OSSL_PARAM settable[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
        OSSL_PARAM_octet_string(OSSL_STORE_PARAM_SUBJECT, NULL, 0),
        OSSL_PARAM_END
    };

    return settable;
}

static int tk_store_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    TK_STORE_CTX *sctx = vctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (p != NULL && !OSSL_PARAM_get_int(p, &sctx->expect)) {
        TK_RAISE(sctx->provctx, TK_R_BAD_ARGUMENT, "%s must be an integer",
                 OSSL_STORE_PARAM_EXPECT);
        return 0;
    }
    p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_SUBJECT);
    if (p != NULL) {
        void *subject = NULL;
        size_t len = 0;

        if (!OSSL_PARAM_get_octet_string(p, &subject, 0, &len)) {
            TK_RAISE(sctx->provctx, TK_R_BAD_ARGUMENT, "%s must be a DER name",
                     OSSL_STORE_PARAM_SUBJECT);
            return 0;
        }
        OPENSSL_free(sctx->subject);
        sctx->subject = subject;
        sctx->subject_len = len;
    }
    return 1;
}

/* The URI's type= and the caller's expectation, as WANT_* bits. */
static int wanted(const TK_STORE_CTX *sctx)
{
    int want;

    switch (sctx->uri->type) {
    case TK_URI_TYPE_ANY: want = WANT_PRIVATE | WANT_PUBLIC | WANT_CERT; break;
    case TK_URI_TYPE_PRIVATE: want = WANT_PRIVATE; break;
    case TK_URI_TYPE_PUBLIC: want = WANT_PUBLIC; break;
    case TK_URI_TYPE_CERT: want = WANT_CERT; break;
    default: want = 0; break;
    }
    switch (sctx->expect) {
    case 0: break;
    case OSSL_STORE_INFO_PKEY: want &= WANT_PRIVATE; break;
    case OSSL_STORE_INFO_PUBKEY: want &= WANT_PUBLIC; break;
    case OSSL_STORE_INFO_CERT: want &= WANT_CERT; break;
    default: want = 0; break;
    }
    /* A name search (OSSL_STORE_find by subject) is a search for certificates. */
    if (sctx->subject != NULL)
        want &= WANT_CERT;
    return want;
}

static int find_class(TK_STORE_CTX *sctx, CK_OBJECT_CLASS cls, int login)
{
    TK_FOUND found[TK_STORE_MAX];
    size_t count = 0;
    CK_ATTRIBUTE subject = { CKA_SUBJECT, sctx->subject, sctx->subject_len };
    int by_subject = cls == CKO_CERTIFICATE && sctx->subject != NULL;

    /*
     * A search by name lets the token match CKA_SUBJECT, so that the
     * certificate is found among any number. A token that stored the
     * subject in another DER encoding (or none) matches nothing that way:
     * then every certificate is listed and emit_item compares the names
     * themselves, as X509_NAME_cmp does.
     */
    if (!tk_objects_find(sctx->provctx, sctx->uri, cls, by_subject ? &subject : NULL, &sctx->pin,
                         login, found, TK_STORE_MAX, &count))
        return 0;
    if (by_subject && count == 0) {
        TK_DEBUG("no certificate has that CKA_SUBJECT; comparing the subjects of all of them");
        if (!tk_objects_find(sctx->provctx, sctx->uri, cls, NULL, &sctx->pin, login, found,
                             TK_STORE_MAX, &count))
            return 0;
    }
    if (count > TK_STORE_MAX)
        TK_DEBUG("%zu objects of class %lu match; listing the first %d", count,
                 (unsigned long)cls, TK_STORE_MAX);
    if (cls == CKO_PRIVATE_KEY)
        sctx->n_private = count;
    for (size_t i = 0; i < count && i < TK_STORE_MAX; i++)
        sctx->items[sctx->n_items++] = (TK_STORE_ITEM){ cls, found[i] };
    return 1;
}

/*
 * A listing that can hand out private keys hands out one at most: an
 * application that takes the first private key a URI gives (nginx's
 * store: keys, a loop over OSSL_STORE_load) must not get one of several
 * silently. More is an error listing them, as for type=private.
 */
static int one_private_key(TK_STORE_CTX *sctx)
{
    TK_FOUND keys[4];
    size_t n = 0;

    for (size_t i = 0; i < sctx->n_items && n < 4; i++)
        if (sctx->items[i].cls == CKO_PRIVATE_KEY)
            keys[n++] = sctx->items[i].where;
    if (sctx->n_private > 1)
        tk_key_raise_ambiguous(sctx->provctx, sctx->uri, keys, sctx->n_private);
    return sctx->n_private <= 1;
}

/* The first load(): find what the URI names. */
static int search(TK_STORE_CTX *sctx, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    TK_PROVCTX *ctx = sctx->provctx;
    int want = wanted(sctx);
    char *text;

    if (sctx->uri->type == TK_URI_TYPE_SECRET || sctx->uri->type == TK_URI_TYPE_DATA) {
        TK_RAISE(ctx, TK_R_BAD_ARGUMENT, "type=%s: tokenkey loads private keys, public keys "
                 "and certificates", tk_uri_type_name(sctx->uri->type));
        return 0;
    }
    if (want == 0 && sctx->uri->type != TK_URI_TYPE_ANY && sctx->subject == NULL
        && (sctx->expect == OSSL_STORE_INFO_PKEY || sctx->expect == OSSL_STORE_INFO_PUBKEY
            || sctx->expect == OSSL_STORE_INFO_CERT)) {
        /* -inkey 'pkcs11:...;type=public': say why nothing loads, not just "could not read". */
        int pkey = sctx->expect == OSSL_STORE_INFO_PKEY, pub = sctx->expect == OSSL_STORE_INFO_PUBKEY;

        TK_RAISE(ctx, TK_R_BAD_ARGUMENT, "the URI says type=%s, but %s is wanted here: use %s, "
                 "or no type=", tk_uri_type_name(sctx->uri->type),
                 pkey ? "a private key" : pub ? "a public key" : "a certificate",
                 pkey ? "type=private" : pub ? "type=public" : "type=cert");
        return 0;
    }
    if (want == 0)
        return 1; /* nothing of the expected kind can match: an empty result */
    /* Private keys alone: exactly one, or an error that names the URI or lists them. */
    if (want == WANT_PRIVATE)
        return tk_key_load_private(ctx, sctx->uri, pw_cb, pw_cbarg, &sctx->single);

    if ((want & WANT_PRIVATE) != 0
        && (!tk_provctx_has_digests(ctx)
            || !tk_pin_source_choose(&sctx->pin, ctx, sctx->uri, ctx->cfg.pin, pw_cb, pw_cbarg)))
        return 0;
    if ((want & WANT_PRIVATE) != 0 && (!find_class(sctx, CKO_PRIVATE_KEY, 1)
                                       || !one_private_key(sctx)))
        return 0;
    if (((want & WANT_PUBLIC) != 0 && !find_class(sctx, CKO_PUBLIC_KEY, 0))
        || ((want & WANT_CERT) != 0 && !find_class(sctx, CKO_CERTIFICATE, 0)))
        return 0;
    /*
     * An application that asks for a public key (OSSL_STORE_expect PUBKEY:
     * openssl pkey -pubin, pkeyutl -verify -pubin) of a token that keeps
     * no public key object for it - smartcards often keep the certificate
     * only - gets the public keys of the certificates the URI matches: the
     * public half tokenkey itself takes for such a key (key_public.c).
     */
    if (sctx->n_items == 0 && want == WANT_PUBLIC && sctx->expect == OSSL_STORE_INFO_PUBKEY) {
        if (!find_class(sctx, CKO_CERTIFICATE, 0))
            return 0;
        for (size_t i = 0; i < sctx->n_items; i++)
            sctx->items[i].cert_public_key = 1;
    }
    /*
     * A search by name that finds nothing is an empty result, not an error:
     * it is how X509_LOOKUP_store asks a CA store for an issuer, and an
     * error left on the queue during a handshake makes SSL_get_error report
     * a failure for a mere want-read.
     */
    if (sctx->n_items == 0 && sctx->subject != NULL)
        return 1;
    if (sctx->n_items == 0) {
        text = tk_objects_uri_for_message(sctx->uri);
        TK_RAISE(ctx, TK_R_OBJECT_NOT_FOUND, "no %s matches %s",
                 want == WANT_CERT ? "certificate" : want == WANT_PUBLIC ? "public key" : "object",
                 text);
        OPENSSL_free(text);
        return 0;
    }
    return 1;
}

static int emit_key(TK_STORE_CTX *sctx, TK_KEY *k, OSSL_CALLBACK *object_cb, void *object_cbarg)
{
    int objtype = OSSL_OBJECT_PKEY;
    OSSL_PARAM params[4];

    /* The reference convention shared with keymgmt load: the bytes of a TK_KEY pointer. */
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                 (char *)tk_key_type_name(k->type), 0);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof(k));
    params[3] = OSSL_PARAM_construct_end();
    return object_cb(params, object_cbarg);
}

/* Whether a certificate's subject is the one searched for (always, with no search). */
static int subject_matches(const TK_STORE_CTX *sctx, const unsigned char *der, CK_ULONG len)
{
    const unsigned char *p = der, *q = sctx->subject;
    X509 *x;
    X509_NAME *want;
    int same;

    if (sctx->subject == NULL)
        return 1;
    /* A certificate that does not parse is only not the one searched for: no errors left. */
    ERR_set_mark();
    x = d2i_X509(NULL, &p, (long)len);
    want = d2i_X509_NAME(NULL, &q, (long)sctx->subject_len);
    same = x != NULL && want != NULL && X509_NAME_cmp(X509_get_subject_name(x), want) == 0;
    ERR_pop_to_mark();
    X509_free(x);
    X509_NAME_free(want);
    return same;
}

/* A certificate's public key, as the SubjectPublicKeyInfo OpenSSL decodes; *skipped if unreadable. */
static int emit_cert_public_key(TK_STORE_CTX *sctx, const unsigned char *der, CK_ULONG len,
                                OSSL_CALLBACK *object_cb, void *object_cbarg, int *skipped)
{
    const unsigned char *p = der;
    X509 *x;
    EVP_PKEY *pub;
    unsigned char *spki = NULL;
    int spki_len, objtype = OSSL_OBJECT_PKEY, ok = 1;
    OSSL_PARAM params[5];

    /* A certificate OpenSSL cannot read is skipped: its errors are not the caller's. */
    ERR_set_mark();
    x = d2i_X509(NULL, &p, (long)len);
    pub = x != NULL ? X509_get0_pubkey(x) : NULL;
    spki_len = pub != NULL ? i2d_PUBKEY(pub, &spki) : -1;
    ERR_pop_to_mark();
    if (spki_len <= 0) {
        TK_DEBUG("skipping a certificate whose public key cannot be read");
        *skipped = 1;
    } else {
        params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                     (char *)EVP_PKEY_get0_type_name(pub), 0);
        params[2] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                                     (char *)"SubjectPublicKeyInfo", 0);
        params[3] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, spki,
                                                      (size_t)spki_len);
        params[4] = OSSL_PARAM_construct_end();
        ok = object_cb(params, object_cbarg);
    }
    OPENSSL_free(spki);
    X509_free(x);
    return ok;
}

/* Hand out one listed object; *skipped when it is not one to return. */
static int emit_item(TK_STORE_CTX *sctx, const TK_STORE_ITEM *item, OSSL_CALLBACK *object_cb,
                     void *object_cbarg, int *skipped)
{
    TK_PROVCTX *ctx = sctx->provctx;
    TK_P11_SESSION s;
    TK_KEY *k = NULL;
    unsigned char *der = NULL;
    CK_ULONG len = 0;
    CK_RV rv = tk_objects_session_for(&item->where, &s);
    int ok = 0;

    *skipped = 0;
    if (rv == CKR_OK && item->cls == CKO_CERTIFICATE)
        rv = tk_p11_get_cert_der(&s, item->where.handle, &der, &len);
    else if (rv == CKR_OK)
        rv = tk_key_from_object(ctx, &s, item->where.handle, &sctx->pin, &k);
    tk_p11_session_put(&s, rv);

    if (rv == CKR_KEY_TYPE_INCONSISTENT || rv == CKR_CURVE_NOT_SUPPORTED) {
        /* A DSA key or an unknown curve next to ours: not an error in a listing. */
        TK_DEBUG("skipping a key of a type tokenkey does not handle");
        *skipped = 1;
        return 1;
    }
    if (rv == TK_CKR_NO_PUBLIC_HALF || rv == TK_CKR_PUBLIC_AMBIGUOUS
        || rv == TK_CKR_ID_SHARED) {
        /* Loading it by its own URI says what is wrong (key.c); a listing goes on. */
        TK_DEBUG("skipping a private key whose public half is not known: %s", tk_p11_rv_name(rv));
        *skipped = 1;
        return 1;
    }
    if (rv != CKR_OK) {
        TK_RAISE_RV(ctx, rv, item->cls == CKO_CERTIFICATE ? "reading a certificate"
                                                          : "reading a key");
        return 0;
    }
    if (k != NULL) {
        ok = emit_key(sctx, k, object_cb, object_cbarg);
        tk_key_free(k);
    } else if (item->cert_public_key) {
        ok = emit_cert_public_key(sctx, der, len, object_cb, object_cbarg, skipped);
    } else if (!subject_matches(sctx, der, len)) {
        *skipped = 1;
        ok = 1;
    } else {
        int objtype = OSSL_OBJECT_CERT;
        OSSL_PARAM params[4];

        params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                                     (char *)"Certificate", 0);
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der, len);
        params[3] = OSSL_PARAM_construct_end();
        ok = object_cb(params, object_cbarg);
    }
    OPENSSL_free(der);
    return ok;
}

/*
 * Every object the search found was passed over (keys tokenkey cannot
 * use): an empty listing is an error, as a search that finds nothing is.
 * Not for a search by name (see search()).
 */
static int nothing_usable(TK_STORE_CTX *sctx)
{
    char *text = tk_objects_uri_for_message(sctx->uri);

    TK_RAISE(sctx->provctx, TK_R_OBJECT_NOT_FOUND,
             "nothing tokenkey can use matches %s: the keys there are of a type tokenkey "
             "does not handle, or their public half is not known (load one by its own URI "
             "to see why)", text);
    OPENSSL_free(text);
    return 0;
}

static int tk_store_load(void *vctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
                         OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    TK_STORE_CTX *sctx = vctx;
    int ok = 1, skipped = 1;

    if (sctx->eof)
        return 1;
    /* A prompt is valid during the call that gave it only. */
    sctx->pin.cb = pw_cb;
    sctx->pin.cbarg = pw_cbarg;
    if (!sctx->searched) {
        sctx->searched = 1;
        if (!search(sctx, pw_cb, pw_cbarg)) {
            /* Callers loop until eof, printing each error: stop here. */
            sctx->eof = 1;
            return 0;
        }
    }
    if (sctx->single != NULL) {
        ok = emit_key(sctx, sctx->single, object_cb, object_cbarg);
        tk_key_free(sctx->single);
        sctx->single = NULL;
        sctx->eof = 1;
        return ok;
    }
    while (ok && skipped && sctx->next < sctx->n_items)
        ok = emit_item(sctx, &sctx->items[sctx->next++], object_cb, object_cbarg, &skipped);
    if (ok && !skipped)
        sctx->n_emitted++;
    if (!ok || sctx->next == sctx->n_items)
        sctx->eof = 1;
    /* (No items at all is the empty result of an expectation nothing here meets: -crls.) */
    if (ok && skipped && sctx->n_emitted == 0 && sctx->n_items > 0 && sctx->subject == NULL)
        return nothing_usable(sctx);
    return ok;
}

static int tk_store_eof(void *vctx)
{
    TK_STORE_CTX *sctx = vctx;

    return sctx->eof;
}

static int tk_store_close(void *vctx)
{
    TK_STORE_CTX *sctx = vctx;

    tk_key_free(sctx->single);
    tk_pin_source_clear(&sctx->pin);
    tk_uri_free(sctx->uri);
    OPENSSL_free(sctx->subject);
    OPENSSL_free(sctx);
    return 1;
}

static const OSSL_DISPATCH tk_store_functions[] = {
    { OSSL_FUNC_STORE_OPEN, (void (*)(void))tk_store_open },
    { OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, (void (*)(void))tk_store_settable_ctx_params },
    { OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))tk_store_set_ctx_params },
    { OSSL_FUNC_STORE_LOAD, (void (*)(void))tk_store_load },
    { OSSL_FUNC_STORE_EOF, (void (*)(void))tk_store_eof },
    { OSSL_FUNC_STORE_CLOSE, (void (*)(void))tk_store_close },
    { 0, NULL }
};

const OSSL_ALGORITHM tk_store_algorithms[] = {
    { "pkcs11", "provider=tokenkey", tk_store_functions, "PKCS#11 token objects by pkcs11: URI" },
    { NULL, NULL, NULL, NULL }
};
