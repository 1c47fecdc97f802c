/*
 * Key generation on a token (provider-keymgmt(7) gen_*), so that
 *
 *   openssl genpkey -provider tokenkey -provider default -algorithm EC \
 *       -pkeyopt group:P-256 -pkeyopt token:LABEL -pkeyopt label:mykey \
 *       [-pkeyopt id:0102]
 *
 * makes the key pair with C_GenerateKeyPair on the token and hands back a
 * normal token key (genpkey then writes its key reference). There is never
 * a software fallback: without a token the generation fails and says how
 * to name one. (Which provider's "EC" an unqualified fetch finds depends on
 * the order providers were loaded in; -propquery provider=tokenkey makes
 * it explicit.)
 *
 * gen() gets no passphrase callback (only a progress callback), so the PIN
 * comes from the token URI's pin-source, the provider config or
 * TOKENKEY_PIN_FILE / TOKENKEY_PIN - never a prompt.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "debug.h"
#include "errors.h"
#include "keymgmt_local.h"
#include "objects.h"

#define GEN_ID_LEN 16 /* random CKA_ID when none is given */

typedef struct tk_gen {
    TK_PROVCTX *ctx;
    TK_KEY_TYPE type;
    char *token;            /* token label or pkcs11: URI */
    char *label;            /* CKA_LABEL, NULL: none */
    unsigned char *id;      /* CKA_ID, NULL: random */
    size_t id_len;
    size_t bits;            /* RSA */
    BIGNUM *e;              /* RSA, NULL: 65537 */
    int nid;                /* EC group */
} TK_GEN;

/*
 * What differs between the three key types (PKCS#11 v2.40 Current
 * Mechanisms, "PKCS #1 RSA key pair generation" and "Elliptic curve key
 * pair generation"; v3.0, "Edwards Elliptic curve key pair generation").
 * Everything else in the templates is common, built once in build_templates.
 */
static const struct gen_kind {
    TK_KEY_TYPE type;
    CK_MECHANISM_TYPE mech;
    int decrypt;                /* RSA keys also decrypt (provider-asym_cipher) */
} gen_kinds[] = {
    { TK_KEY_RSA, CKM_RSA_PKCS_KEY_PAIR_GEN, 1 },
    { TK_KEY_EC, CKM_EC_KEY_PAIR_GEN, 0 },
    { TK_KEY_ED25519, CKM_EC_EDWARDS_KEY_PAIR_GEN, 0 },
};

static const struct gen_kind *kind_of(TK_KEY_TYPE type)
{
    for (size_t i = 0; i < sizeof(gen_kinds) / sizeof(gen_kinds[0]); i++)
        if (gen_kinds[i].type == type)
            return &gen_kinds[i];
    return &gen_kinds[0]; /* not reached: every TK_KEY_TYPE is listed */
}

/*
 * CKA_EC_PARAMS for Ed25519: PKCS#11 3.0 allows the RFC 8410 OID
 * id-Ed25519 or the PrintableString "edwards25519"; tokens differ in which
 * they take, so the OID first, the name when the token refuses it.
 */
static const unsigned char ed25519_oid[] = { 0x06, 0x03, 0x2b, 0x65, 0x70 };
static const unsigned char ed25519_name[] = { 0x13, 0x0c, 'e', 'd', 'w', 'a', 'r', 'd', 's',
                                              '2', '5', '5', '1', '9' };

void *tk_km_gen_init(void *provctx, int selection, const OSSL_PARAM params[], TK_KEY_TYPE type)
{
    TK_GEN *g;

    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        TK_RAISE(provctx, TK_R_BAD_ARGUMENT,
                 "tokenkey generates %s key pairs on tokens, not domain parameters",
                 tk_key_type_name(type));
        return NULL;
    }
    g = OPENSSL_zalloc(sizeof(*g));
    if (g == NULL) {
        TK_RAISE(provctx, TK_R_OUT_OF_MEMORY, "key generation context");
        return NULL;
    }
    g->ctx = provctx;
    g->type = type;
    g->bits = 2048;
    g->nid = NID_undef;
    if (!tk_km_gen_set_params(g, params)) {
        tk_km_gen_cleanup(g);
        return NULL;
    }
    return g;
}

/*
 * Wipe and free a string parameter: "token" may be a pkcs11: URI with a
 * pin-value, and the others are wiped alike rather than told apart.
 */
static void free_string(char *s)
{
    if (s != NULL)
        OPENSSL_clear_free(s, strlen(s));
}

void tk_km_gen_cleanup(void *genctx)
{
    TK_GEN *g = genctx;

    if (g == NULL)
        return;
    free_string(g->token);
    free_string(g->label);
    OPENSSL_free(g->id);
    BN_free(g->e);
    OPENSSL_free(g);
}

/* EVP_PKEY_keygen with a parameter key: an EC key's group. */
int tk_km_gen_set_template(void *genctx, void *templ)
{
    TK_GEN *g = genctx;
    const TK_KEY *t = templ;

    if (t != NULL && g->type == TK_KEY_EC && t->type == TK_KEY_EC && t->group[0] != '\0')
        g->nid = tk_km_ec_group_nid(t->group);
    return 1;
}

static int set_string(TK_GEN *g, const OSSL_PARAM *p, char **field)
{
    char *value = NULL;

    if (!OSSL_PARAM_get_utf8_string(p, &value, 0) || value[0] == '\0') {
        free_string(value);
        TK_RAISE(g->ctx, TK_R_BAD_ARGUMENT, "key generation parameter '%s' must be a "
                 "non-empty string", p->key);
        return 0;
    }
    free_string(*field);
    *field = value;
    return 1;
}

/* "id" in hex ("0102" or "01:02"), as -pkeyopt gives it, or raw bytes. */
static int set_id(TK_GEN *g, const OSSL_PARAM *p)
{
    unsigned char *id = NULL;
    char *hex = NULL;
    long len = 0;

    /* A UTF-8 parameter's data need not end in a NUL: take a terminated copy. */
    if (p->data_type == OSSL_PARAM_UTF8_STRING && OSSL_PARAM_get_utf8_string(p, &hex, 0)) {
        ERR_set_mark(); /* bad hex is reported below, in our words */
        id = OPENSSL_hexstr2buf(hex, &len);
        ERR_pop_to_mark();
        OPENSSL_free(hex);
    } else if (p->data_type == OSSL_PARAM_OCTET_STRING && p->data_size > 0) {
        len = (long)p->data_size;
        id = OPENSSL_memdup(p->data, p->data_size);
    }
    if (id == NULL || len <= 0) {
        OPENSSL_free(id);
        TK_RAISE(g->ctx, TK_R_BAD_ARGUMENT, "key generation parameter 'id' must be hex "
                 "digits (CKA_ID), e.g. id:0102");
        return 0;
    }
    OPENSSL_free(g->id);
    g->id = id;
    g->id_len = (size_t)len;
    return 1;
}

static int set_rsa_params(TK_GEN *g, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS)) != NULL
        && (!OSSL_PARAM_get_size_t(p, &g->bits) || g->bits < 2048 || g->bits > 4096)) {
        TK_RAISE(g->ctx, TK_R_BAD_ARGUMENT, "RSA keys on tokens are 2048 to 4096 bits");
        return 0;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E)) != NULL
        && (!OSSL_PARAM_get_BN(p, &g->e) || !BN_is_odd(g->e) || BN_is_one(g->e)
            || BN_num_bytes(g->e) > 8)) {
        TK_RAISE(g->ctx, TK_R_BAD_ARGUMENT, "RSA public exponent must be odd, at least 3 "
                 "and at most 64 bits");
        return 0;
    }
    return 1;
}

int tk_km_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    TK_GEN *g = genctx;
    const OSSL_PARAM *p;
    const char *group = NULL;

    if (params == NULL)
        return 1;
    if ((p = OSSL_PARAM_locate_const(params, TK_KM_GEN_PARAM_TOKEN)) != NULL
        && !set_string(g, p, &g->token))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, TK_KM_GEN_PARAM_LABEL)) != NULL
        && !set_string(g, p, &g->label))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, TK_KM_GEN_PARAM_ID)) != NULL && !set_id(g, p))
        return 0;
    if (g->type == TK_KEY_RSA)
        return set_rsa_params(g, params);
    if (g->type == TK_KEY_EC
        && (p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME)) != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &group)
            || (g->nid = tk_km_ec_group_nid(group)) == NID_undef) {
            TK_RAISE(g->ctx, TK_R_UNSUPPORTED_KEY_TYPE, "EC group '%s': use P-256, P-384 or P-521",
                     group != NULL ? group : "?");
            return 0;
        }
    }
    return 1;
}

/* ---- the PKCS#11 templates: one builder for every type ---- */

typedef struct {
    CK_ATTRIBUTE pub[10], priv[12];
    CK_ULONG npub, npriv;
    CK_BBOOL yes, no;
    CK_ULONG modulus_bits;
    unsigned char exponent[8];
    unsigned char ec_params[16];
} TEMPLATES;

static void add(CK_ATTRIBUTE *list, CK_ULONG *n, CK_ATTRIBUTE_TYPE type, void *value, CK_ULONG len)
{
    list[(*n)++] = (CK_ATTRIBUTE){ type, value, len };
}

/*
 * PKCS#11 v2.40 section 4.9: a private key that is sensitive and never
 * extractable from its creation (so CKA_ALWAYS_SENSITIVE and
 * CKA_NEVER_EXTRACTABLE end up true), private to the logged-in user, both
 * halves on the token with one CKA_ID and CKA_LABEL (the convention that
 * ties a key to its certificate), usable for signing (and RSA
 * decryption) only. ed25519_alt picks the other CKA_EC_PARAMS spelling
 * for Edwards curves.
 */
static int build_templates(const TK_GEN *g, const struct gen_kind *kind, unsigned char *id,
                           size_t id_len, int ed25519_alt, TEMPLATES *t)
{
    CK_ULONG label_len = g->label != NULL ? strlen(g->label) : 0;

    memset(t, 0, sizeof(*t));
    t->yes = CK_TRUE;
    t->no = CK_FALSE;
    add(t->pub, &t->npub, CKA_TOKEN, &t->yes, sizeof(t->yes));
    add(t->pub, &t->npub, CKA_PRIVATE, &t->no, sizeof(t->no));
    add(t->pub, &t->npub, CKA_VERIFY, &t->yes, sizeof(t->yes));
    add(t->pub, &t->npub, CKA_ID, id, id_len);
    add(t->priv, &t->npriv, CKA_TOKEN, &t->yes, sizeof(t->yes));
    add(t->priv, &t->npriv, CKA_PRIVATE, &t->yes, sizeof(t->yes));
    add(t->priv, &t->npriv, CKA_SENSITIVE, &t->yes, sizeof(t->yes));
    add(t->priv, &t->npriv, CKA_EXTRACTABLE, &t->no, sizeof(t->no));
    add(t->priv, &t->npriv, CKA_SIGN, &t->yes, sizeof(t->yes));
    add(t->priv, &t->npriv, CKA_ID, id, id_len);
    if (g->label != NULL) {
        add(t->pub, &t->npub, CKA_LABEL, g->label, label_len);
        add(t->priv, &t->npriv, CKA_LABEL, g->label, label_len);
    }
    /* Least privilege: say "no" to what tokens may default to yes (SoftHSM2 does). */
    add(t->pub, &t->npub, CKA_ENCRYPT, kind->decrypt ? &t->yes : &t->no, sizeof(t->yes));
    add(t->pub, &t->npub, CKA_WRAP, &t->no, sizeof(t->no));
    add(t->priv, &t->npriv, CKA_DECRYPT, kind->decrypt ? &t->yes : &t->no, sizeof(t->yes));
    add(t->priv, &t->npriv, CKA_UNWRAP, &t->no, sizeof(t->no));

    if (g->type == TK_KEY_RSA) {
        int elen = g->e != NULL ? BN_bn2bin(g->e, t->exponent) : 3;

        if (g->e == NULL)
            memcpy(t->exponent, "\x01\x00\x01", 3); /* 65537 */
        t->modulus_bits = (CK_ULONG)g->bits;
        add(t->pub, &t->npub, CKA_MODULUS_BITS, &t->modulus_bits, sizeof(t->modulus_bits));
        add(t->pub, &t->npub, CKA_PUBLIC_EXPONENT, t->exponent, (CK_ULONG)elen);
    } else if (g->type == TK_KEY_EC) {
        /* ECParameters ::= namedCurve OBJECT IDENTIFIER (RFC 5480 section 2.1.1) */
        unsigned char *p = t->ec_params;
        int len = i2d_ASN1_OBJECT(OBJ_nid2obj(g->nid), NULL);

        if (len <= 0 || (size_t)len > sizeof(t->ec_params))
            return 0;
        i2d_ASN1_OBJECT(OBJ_nid2obj(g->nid), &p);
        add(t->pub, &t->npub, CKA_EC_PARAMS, t->ec_params, (CK_ULONG)len);
    } else {
        const unsigned char *params = ed25519_alt ? ed25519_name : ed25519_oid;
        size_t len = ed25519_alt ? sizeof(ed25519_name) : sizeof(ed25519_oid);

        memcpy(t->ec_params, params, len);
        add(t->pub, &t->npub, CKA_EC_PARAMS, t->ec_params, (CK_ULONG)len);
    }
    return 1;
}

/* ---- generation, inside tk_p11_with_session ---- */

typedef struct {
    const TK_GEN *g;
    const struct gen_kind *kind;
    TK_PIN_SOURCE *pin;
    unsigned char *id;        /* the CKA_ID: given, or random_id */
    size_t id_len;
    unsigned char random_id[GEN_ID_LEN];
    enum { DUP_NONE, DUP_LABEL, DUP_ID } dup; /* a key object has our label / id */
    CK_OBJECT_CLASS dup_class;
    int made;                 /* C_GenerateKeyPair made a pair, and it was not destroyed */
    TK_KEY *key;              /* the result */
} GEN_OP;

/*
 * A key object on the token with our label or id already: two keys behind
 * one name is the ambiguity loading refuses later (key.c), so refuse now.
 */
static CK_RV find_duplicate(TK_P11_SESSION *s, GEN_OP *op)
{
    static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY };

    for (size_t i = 0; i < 2; i++) {
        CK_OBJECT_CLASS cls = classes[i];
        CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) } };
        CK_OBJECT_HANDLE h;
        CK_ULONG n = 0;
        CK_RV rv;

        if (op->g->label != NULL) {
            tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, op->g->label, strlen(op->g->label) };
            if ((rv = tk_p11_find(s, tmpl, 2, &h, 1, &n)) != CKR_OK)
                return rv;
            if (n > 0) {
                op->dup = DUP_LABEL;
                op->dup_class = cls;
                return CKR_OK;
            }
        }
        tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, op->id, op->id_len };
        if ((rv = tk_p11_find(s, tmpl, 2, &h, 1, &n)) != CKR_OK)
            return rv;
        if (n > 0) {
            op->dup = DUP_ID;
            op->dup_class = cls;
            return CKR_OK;
        }
    }
    return CKR_OK;
}

/* A random CKA_ID from the token's generator, else from OpenSSL's. */
static CK_RV random_id(TK_P11_SESSION *s, GEN_OP *op)
{
    CK_RV rv = tk_p11_generate_random(s, op->random_id, sizeof(op->random_id));
    int ok;

    if (rv == CKR_RANDOM_NO_RNG || rv == CKR_FUNCTION_NOT_SUPPORTED) {
        /* A probe: RAND may first look for engines and queue errors about them. */
        ERR_set_mark();
        ok = RAND_bytes_ex(op->g->ctx->libctx, op->random_id, sizeof(op->random_id), 0) == 1;
        ERR_pop_to_mark();
        rv = ok ? CKR_OK : CKR_FUNCTION_FAILED;
    }
    op->id = op->random_id;
    op->id_len = sizeof(op->random_id);
    return rv;
}

/* The one object of class cls with the new pair's CKA_ID (find_duplicate made sure of one). */
static CK_RV find_made(TK_P11_SESSION *s, const GEN_OP *op, CK_OBJECT_CLASS cls,
                       CK_OBJECT_HANDLE *h)
{
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_ID, op->id, op->id_len },
    };
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 0;
    CK_RV rv = tk_p11_find(s, tmpl, 2, found, 2, &n);

    if (rv == CKR_OK && n != 1)
        return n == 0 ? TK_CKR_KEY_GONE : TK_CKR_KEY_TWICE;
    *h = found[0];
    return rv;
}

/*
 * The key from the pair just made (hpub may be CK_INVALID_HANDLE: a token
 * that keeps no public key object); a pair it cannot be made from is not
 * left behind.
 */
static CK_RV key_from_pair(TK_P11_SESSION *s, GEN_OP *op, CK_OBJECT_HANDLE hpub,
                           CK_OBJECT_HANDLE hpriv)
{
    CK_RV rv = tk_key_from_object(op->g->ctx, s, hpriv, op->pin, &op->key);

    /*
     * Leave no half-made key behind to trip the duplicate check next time.
     * Unless the session or the login is what failed: tk_p11_with_session
     * then runs generate again, which finds the pair (the destroy would fail
     * anyway).
     */
    if (rv != CKR_OK && !tk_p11_rv_session_dead(rv) && rv != CKR_USER_NOT_LOGGED_IN
        && tk_p11_destroy(s, hpriv) == CKR_OK
        && (hpub == CK_INVALID_HANDLE || tk_p11_destroy(s, hpub) == CKR_OK))
        op->made = 0;
    return rv;
}

static CK_RV generate(TK_P11_SESSION *s, void *arg)
{
    GEN_OP *op = arg;
    CK_MECHANISM mech = { op->kind->mech, NULL, 0 };
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
    TEMPLATES t;
    CK_RV rv = CKR_OK;

    /*
     * Run again after the pair was made (its session or login was lost
     * before the key was read): generating again would leave the first
     * pair orphaned, and the duplicate check would refuse our own label.
     */
    if (op->made) {
        /* Only on the card it was made on (a token without login has no PIN check to stop a swap). */
        if ((rv = tk_p11_token_card_present(s->token)) != CKR_OK
            || (rv = find_made(s, op, CKO_PRIVATE_KEY, &hpriv)) != CKR_OK)
            return rv;
        /* The public half only to destroy on failure (the key reads what it needs): may be none. */
        rv = find_made(s, op, CKO_PUBLIC_KEY, &hpub);
        if (rv == TK_CKR_KEY_GONE)
            hpub = CK_INVALID_HANDLE;
        else if (rv != CKR_OK)
            return rv;
        return key_from_pair(s, op, hpub, hpriv);
    }
    if (op->g->id == NULL && op->id == NULL)
        rv = random_id(s, op);
    if (rv == CKR_OK)
        rv = find_duplicate(s, op);
    if (rv != CKR_OK || op->dup != DUP_NONE)
        return rv;
    for (int alt = 0; alt < 2; alt++) {
        if (!build_templates(op->g, op->kind, op->id, op->id_len, alt, &t))
            return CKR_HOST_MEMORY;
        rv = tk_p11_generate_key_pair(s, &mech, t.pub, t.npub, t.priv, t.npriv, &hpub, &hpriv);
        /* Only Ed25519 has a second CKA_EC_PARAMS spelling to try. */
        if (op->g->type != TK_KEY_ED25519
            || (rv != CKR_ATTRIBUTE_VALUE_INVALID && rv != CKR_CURVE_NOT_SUPPORTED
                && rv != CKR_DOMAIN_PARAMS_INVALID && rv != CKR_TEMPLATE_INCONSISTENT))
            break;
    }
    if (rv != CKR_OK)
        return rv;
    op->made = 1;
    return key_from_pair(s, op, hpub, hpriv);
}

/* The token's label without CK_TOKEN_INFO's space padding, for messages. */
static void token_label(TK_P11_TOKEN *t, char *buf, size_t cap)
{
    const CK_TOKEN_INFO *ti = tk_p11_token_cached_info(t);
    snprintf(buf, cap, "%.*s", tk_p11_text_len(ti->label, sizeof(ti->label)), (const char *)ti->label);
}

/* The token param as a URI: a pkcs11: URI as given, else a token label. */
static TK_URI *token_uri(const TK_GEN *g)
{
    TK_URI *uri = NULL;
    TK_URI_ERROR err;

    if (tk_uri_is_pkcs11(g->token)) {
        /* Never echo the text: it may carry a pin-value. */
        if (tk_uri_parse(g->token, &uri, &err) != TK_URI_OK) {
            TK_RAISE(g->ctx, TK_R_BAD_URI, "token URI: %s at offset %zu%s%s",
                     tk_uri_strerror(err.code), err.offset, err.attr[0] ? " in " : "", err.attr);
            return NULL;
        }
    } else if (tk_uri_parse("pkcs11:", &uri, NULL) != TK_URI_OK
               || (uri->token = OPENSSL_strdup(g->token)) == NULL) {
        tk_uri_free(uri);
        TK_RAISE(g->ctx, TK_R_OUT_OF_MEMORY, "token URI");
        return NULL;
    }
    return uri;
}

/* Exactly one token, logged in. */
static int find_token(const TK_GEN *g, const TK_URI *uri, TK_PIN_SOURCE *pin, TK_P11_TOKEN **out)
{
    TK_P11_MODULE *m;
    TK_P11_TOKEN *tokens[2];
    TK_P11_PIN_GETTER getter = tk_pin_getter(pin);
    size_t count = 0;
    char label[40];
    CK_RV rv;

    if (!tk_provctx_module(g->ctx, uri, &m))
        return 0;
    rv = tk_p11_token_find(m, uri, tokens, 2, &count);
    if (rv == TK_CKR_NO_TOKEN) {
        char *text = tk_objects_uri_for_message(uri);

        TK_RAISE(g->ctx, TK_R_TOKEN_NOT_FOUND, "no token in '%s' matches '%s'",
                 tk_p11_module_path(m), text);
        OPENSSL_free(text);
        return 0;
    }
    if (rv != CKR_OK) {
        TK_RAISE_RV(g->ctx, rv, "listing tokens");
        return 0;
    }
    if (count > 1) {
        char *text = tk_objects_uri_for_message(uri);

        TK_RAISE(g->ctx, TK_R_BAD_ARGUMENT, "'%s' matches %zu tokens: name one with a "
                 "pkcs11: URI giving its serial", text, count);
        OPENSSL_free(text);
        return 0;
    }
    token_label(tokens[0], label, sizeof(label));
    /* A list that cannot be read is not a token that cannot generate: say which. */
    if ((rv = tk_p11_mechanisms_read(tokens[0])) != CKR_OK) {
        char what[96];

        snprintf(what, sizeof(what), "reading the mechanisms of token '%s'", label);
        TK_RAISE_RV(g->ctx, rv, what);
        return 0;
    }
    if (!tk_p11_has_mechanism(tokens[0], kind_of(g->type)->mech, CKF_GENERATE_KEY_PAIR)) {
        TK_RAISE(g->ctx, TK_R_UNSUPPORTED_MECHANISM, "token '%s' cannot generate %s keys (%s)",
                 label, tk_key_type_name(g->type), tk_p11_mech_name(kind_of(g->type)->mech));
        return 0;
    }
    /*
     * gen has no prompt callback: without a PIN source we can only use a
     * token that needs no login or is logged in already (the CLI does that).
     */
    if (pin->kind == TK_PIN_NONE && !tk_p11_token_logged_in(tokens[0])
        && (tk_p11_token_cached_info(tokens[0])->flags & CKF_LOGIN_REQUIRED)) {
        TK_RAISE(g->ctx, TK_R_PIN_UNAVAILABLE, "generating a key on token '%s' needs the user "
                 "PIN and there is no prompt here: set TOKENKEY_PIN_FILE, 'pin' in the "
                 "provider's config, or pin-source in a token URI", label);
        return 0;
    }
    rv = tk_p11_login(tokens[0], &getter);
    if (rv != CKR_OK) {
        char what[96];

        snprintf(what, sizeof(what), "logging in to token '%s'", label);
        TK_RAISE_RV(g->ctx, rv, what);
        return 0;
    }
    *out = tokens[0];
    return 1;
}

static const char *class_name(CK_OBJECT_CLASS cls)
{
    return cls == CKO_PRIVATE_KEY ? "private key" : "public key";
}

/* The pair was made, the generation failed after, and the pair could not be destroyed. */
static void raise_pair_left(const TK_GEN *g, const GEN_OP *op, const char *label)
{
    char *hex = OPENSSL_buf2hexstr(op->id, (long)op->id_len);

    TK_RAISE(g->ctx, TK_R_OPERATION_FAILED, "the key pair was made on token '%s' before the "
             "failure and may still be there, with id %s: check with 'tokenkey list', and "
             "delete it or load it by that id", label, hex != NULL ? hex : "?");
    OPENSSL_free(hex);
}

static int run_generation(const TK_GEN *g, TK_P11_TOKEN *t, TK_PIN_SOURCE *pin, TK_KEY **out)
{
    GEN_OP op = { g, kind_of(g->type), pin, g->id, g->id_len };
    TK_P11_PIN_GETTER getter = tk_pin_getter(pin);
    char label[40], what[160];
    CK_RV rv;

    /* A login again after a reset only on this card: not another one put in the slot meanwhile. */
    getter.token = tk_p11_token_cached_info(t);
    token_label(t, label, sizeof(label));
    rv = tk_p11_with_session(t, &getter, generate, &op);
    if (rv == CKR_OK && op.dup == DUP_LABEL) {
        TK_RAISE(g->ctx, TK_R_BAD_ARGUMENT, "token '%s' already has a %s labelled '%s': "
                 "choose another label", label, class_name(op.dup_class), g->label);
        return 0;
    }
    if (rv == CKR_OK && op.dup == DUP_ID) {
        char *hex = OPENSSL_buf2hexstr(op.id, (long)op.id_len);

        TK_RAISE(g->ctx, TK_R_BAD_ARGUMENT, "token '%s' already has a %s with id %s: "
                 "choose another id", label, class_name(op.dup_class), hex != NULL ? hex : "?");
        OPENSSL_free(hex);
        return 0;
    }
    if (rv != CKR_OK) {
        snprintf(what, sizeof(what), "generating the %s key on token '%s'",
                 tk_key_type_name(g->type), label);
        TK_RAISE_RV(g->ctx, rv, what);
        if (op.made)
            raise_pair_left(g, &op, label);
        return 0;
    }
    TK_DEBUG("generated %s key %s", tk_key_type_name(g->type), op.key->uri);
    *out = op.key;
    return 1;
}

void *tk_km_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    TK_GEN *g = genctx;
    TK_URI *uri;
    TK_PIN_SOURCE pin;
    TK_P11_TOKEN *t;
    TK_KEY *key = NULL;

    if (g->token == NULL) {
        /* Reached for a software key too when tokenkey is loaded before default. */
        TK_RAISE(g->ctx, TK_R_BAD_ARGUMENT, "no token to generate the %s key on: pass "
                 "-pkeyopt token:LABEL (a token label or pkcs11: URI); tokenkey never makes "
                 "keys in software: for one, load the default provider before tokenkey",
                 tk_key_type_name(g->type));
        return NULL;
    }
    if (g->type == TK_KEY_EC && g->nid == NID_undef) {
        TK_RAISE(g->ctx, TK_R_BAD_ARGUMENT, "no EC group: pass -pkeyopt group:P-256 "
                 "(or P-384, P-521)");
        return NULL;
    }
    if (!tk_provctx_ready(g->ctx) || !tk_provctx_has_digests(g->ctx) || (uri = token_uri(g)) == NULL)
        return NULL;
    /* A token URI's object= and id= name the new key unless label/id say otherwise. */
    if (g->label == NULL && uri->object != NULL)
        g->label = OPENSSL_strdup(uri->object);
    if (g->id == NULL && uri->has_id && uri->id_len > 0
        && (g->id = OPENSSL_memdup(uri->id, uri->id_len)) != NULL)
        g->id_len = uri->id_len;
    if (!tk_pin_source_choose(&pin, g->ctx, uri, g->ctx->cfg.pin, NULL, NULL)) {
        tk_uri_free(uri);
        return NULL;
    }
    if (find_token(g, uri, &pin, &t))
        run_generation(g, t, &pin, &key);
    tk_pin_source_clear(&pin);
    tk_uri_free(uri);
    return key;
}
