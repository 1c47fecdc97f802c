/*
 * Reading a token key's public half: from the key object itself, else its
 * public key object, else its certificate (matched by CKA_ID, the PKCS#11
 * convention that ties the three together). Never reads private attributes.
 *
 * Encodings handled without asking OpenSSL's providers (we are one):
 * CKA_EC_PARAMS is DER ECParameters (a namedCurve OID) or, for Edwards
 * curves in PKCS#11 3.0, a PrintableString; CKA_EC_POINT is a DER OCTET
 * STRING around the point, though some tokens give the raw point.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "key.h"
#include "key_public.h"

/* Map CKA_EC_PARAMS to a key type and group name. */
static int ec_params_group(const unsigned char *der, long len, TK_KEY_TYPE *type,
                           char *group, size_t cap)
{
    int nid = tk_p11_ec_params_nid(der, (CK_ULONG)len);

    switch (nid) {
    case NID_X9_62_prime256v1:
    case NID_secp384r1:
    case NID_secp521r1:
        *type = TK_KEY_EC;
        OPENSSL_strlcpy(group, OBJ_nid2sn(nid), cap);
        return 1;
    case NID_ED25519:
        *type = TK_KEY_ED25519;
        group[0] = '\0';
        return 1;
    default:
        return 0;
    }
}

static int field_bits(const char *group)
{
    if (strcmp(group, "prime256v1") == 0)
        return 256;
    if (strcmp(group, "secp384r1") == 0)
        return 384;
    if (strcmp(group, "secp521r1") == 0)
        return 521;
    return 0;
}

/* Whether p is a public point of k's curve: 04 || X || Y, or Ed25519's 32 bytes. */
static int point_fits(const TK_KEY *k, const unsigned char *p, size_t len)
{
    if (k->type == TK_KEY_ED25519)
        return len == 32;
    return len == 1 + 2 * (size_t)((k->bits + 7) / 8) && p[0] == 0x04;
}

/*
 * k's public point from val: the raw point (a certificate's), or with
 * maybe_der a CKA_EC_POINT, which is a DER OCTET STRING around the point
 * though some tokens give the raw point. A raw point can parse as DER
 * itself (04, its first byte, is the OCTET STRING tag, and a first X byte
 * of 3F reads as the length of the rest), so what DER unwrapping gives
 * counts only when it is a point of the right size.
 */
static int set_point(TK_KEY *k, const unsigned char *val, long len, int maybe_der)
{
    const unsigned char *p = val, *point = val;
    size_t point_len = (size_t)len;
    ASN1_OCTET_STRING *os = NULL;
    int ok;

    if (maybe_der) {
        ERR_set_mark();
        os = d2i_ASN1_OCTET_STRING(NULL, &p, len);
        ERR_pop_to_mark();
        if (os != NULL && p == val + len
            && point_fits(k, ASN1_STRING_get0_data(os), (size_t)ASN1_STRING_length(os))) {
            point = ASN1_STRING_get0_data(os);
            point_len = (size_t)ASN1_STRING_length(os);
        }
    }
    ok = point_fits(k, point, point_len);
    OPENSSL_free(k->pub);
    k->pub = ok ? OPENSSL_memdup(point, point_len) : NULL;
    k->pub_len = k->pub != NULL ? point_len : 0;
    ASN1_OCTET_STRING_free(os);
    return k->pub != NULL;
}

/* An attribute's length as a long, for d2i. */
static long attr_len(const CK_ATTRIBUTE *a)
{
    return (long)a->ulValueLen;
}

/* Modulus and exponent, both present and non-zero; k keeps none of them otherwise. */
static CK_RV set_rsa(TK_KEY *k, const CK_ATTRIBUTE *n, const CK_ATTRIBUTE *e)
{
    CK_RV rv = CKR_OK;

    if (n == NULL || e == NULL)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    k->rsa_n = BN_bin2bn(n->pValue, (int)n->ulValueLen, NULL);
    k->rsa_e = BN_bin2bn(e->pValue, (int)e->ulValueLen, NULL);
    if (k->rsa_n == NULL || k->rsa_e == NULL)
        rv = CKR_HOST_MEMORY;
    else if (BN_is_zero(k->rsa_n) || BN_is_zero(k->rsa_e))
        rv = CKR_ATTRIBUTE_VALUE_INVALID;
    if (rv != CKR_OK) {
        BN_free(k->rsa_n);
        BN_free(k->rsa_e);
        k->rsa_n = k->rsa_e = NULL;
        return rv;
    }
    k->bits = BN_num_bits(k->rsa_n);
    return CKR_OK;
}

static CK_RV set_ec_params(TK_KEY *k, const CK_ATTRIBUTE *params)
{
    TK_KEY_TYPE type;

    if (params == NULL)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    if (!ec_params_group(params->pValue, attr_len(params), &type, k->group, sizeof(k->group))
        || type != k->type)
        return CKR_CURVE_NOT_SUPPORTED;
    k->bits = k->type == TK_KEY_ED25519 ? 255 : field_bits(k->group);
    return CKR_OK;
}

static CK_RV set_ec_point(TK_KEY *k, const CK_ATTRIBUTE *point)
{
    if (point == NULL)
        return CKR_ATTRIBUTE_TYPE_INVALID;
    return set_point(k, point->pValue, attr_len(point), 1) ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}

/* The public half from another object of the key (its public key object). */
static CK_RV read_public_object(TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_HANDLE obj)
{
    CK_ATTRIBUTE a[2] = { { CKA_MODULUS }, { CKA_PUBLIC_EXPONENT } };
    CK_ULONG n = 2;
    CK_RV rv;

    if (k->type != TK_KEY_RSA)
        a[0].type = CKA_EC_POINT, n = 1;
    rv = tk_p11_get_attrs_alloc(s, obj, a, n);
    if (rv != CKR_OK)
        return rv;
    if (k->type == TK_KEY_RSA)
        rv = set_rsa(k, tk_p11_attr_find(a, n, CKA_MODULUS),
                     tk_p11_attr_find(a, n, CKA_PUBLIC_EXPONENT));
    else
        rv = set_ec_point(k, tk_p11_attr_find(a, n, CKA_EC_POINT));
    tk_p11_attrs_free(a, n);
    return rv;
}


/* RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1) */
static int rsa_from_spki(TK_KEY *k, const unsigned char *der, int len)
{
    const unsigned char *p = der;
    ASN1_SEQUENCE_ANY *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    int ok = 0;

    if (seq != NULL && sk_ASN1_TYPE_num(seq) == 2) {
        ASN1_TYPE *n = sk_ASN1_TYPE_value(seq, 0), *e = sk_ASN1_TYPE_value(seq, 1);

        if (n->type == V_ASN1_INTEGER && e->type == V_ASN1_INTEGER) {
            k->rsa_n = ASN1_INTEGER_to_BN(n->value.integer, NULL);
            k->rsa_e = ASN1_INTEGER_to_BN(e->value.integer, NULL);
            ok = k->rsa_n != NULL && k->rsa_e != NULL;
            if (ok)
                k->bits = BN_num_bits(k->rsa_n);
        }
    }
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return ok;
}

/* The public half from the certificate stored next to the key. */
static CK_RV read_from_cert(TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_HANDLE cert)
{
    unsigned char *der = NULL;
    CK_ULONG len;
    const unsigned char *p, *key;
    X509 *x = NULL;
    ASN1_OBJECT *alg;
    const void *pval;
    int keylen, ptype, ok = 0;
    CK_RV rv = tk_p11_get_cert_der(s, cert, &der, &len);

    if (rv != CKR_OK)
        return rv;
    /*
     * A certificate that does not parse is only not this key's: its
     * decoding errors must not stay queued when the key loads anyway.
     */
    ERR_set_mark();
    p = der;
    x = d2i_X509(NULL, &p, (long)len);
    if (x != NULL
        && X509_PUBKEY_get0_param(&alg, &key, &keylen, NULL, X509_get_X509_PUBKEY(x)) == 1) {
        X509_ALGOR *algor;

        X509_PUBKEY_get0_param(NULL, NULL, NULL, &algor, X509_get_X509_PUBKEY(x));
        X509_ALGOR_get0(NULL, &ptype, &pval, algor);
        if (k->type == TK_KEY_RSA) {
            ok = rsa_from_spki(k, key, keylen);
        } else if (k->type == TK_KEY_ED25519) {
            ok = OBJ_obj2nid(alg) == NID_ED25519 && set_point(k, key, keylen, 0);
        } else if (ptype == V_ASN1_OBJECT) {
            int nid = OBJ_obj2nid(pval);

            ok = strcmp(OBJ_nid2sn(nid), k->group) == 0 && set_point(k, key, keylen, 0);
        }
    }
    ERR_pop_to_mark();
    X509_free(x);
    OPENSSL_free(der);
    return ok ? CKR_OK : CKR_ATTRIBUTE_VALUE_INVALID;
}

static void free_public(TK_KEY *k)
{
    BN_free(k->rsa_n);
    BN_free(k->rsa_e);
    OPENSSL_free(k->pub);
    k->rsa_n = k->rsa_e = NULL;
    k->pub = NULL;
    k->pub_len = 0;
}

/*
 * Whether a read of a public half failed on what the object holds or
 * whether it still exists (no such attribute, a value of another type or
 * curve, an object deleted since the search), which makes it only not this
 * key's. Any other failure (a session, the token or memory gone, the
 * module's error or bug) is the caller's to see: skipping the object could
 * hide that two different public halves share the id.
 */
static int not_this_keys(CK_RV rv)
{
    return tk_p11_rv_unavailable(rv) || rv == CKR_ATTRIBUTE_VALUE_INVALID
           || rv == CKR_CURVE_NOT_SUPPORTED || rv == TK_CKR_SECRET_ATTRIBUTE
           || rv == CKR_OBJECT_HANDLE_INVALID;
}

/*
 * The public half from the objects of class cls with the key's CKA_ID.
 * Several may share it - a renewed certificate stored beside the old one,
 * a public key written twice - and count when they all hold the same
 * public key; when they differ, two key pairs share the id and none of
 * them can be told to be this key's (TK_CKR_PUBLIC_AMBIGUOUS).
 * TK_CKR_NO_PUBLIC_HALF when none can be read.
 */
static CK_RV read_public_by_id(TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_CLASS cls)
{
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_ID, k->id, k->id_len },
    };
    CK_OBJECT_HANDLE found[16];
    CK_ULONG n = 0;
    CK_RV rv;
    int have = 0;

    if (k->id == NULL || k->id_len == 0)
        return TK_CKR_NO_PUBLIC_HALF;
    /* A search that fails is the token's failure, not a sign that there is no public half. */
    rv = tk_p11_find(s, tmpl, 2, found, sizeof(found) / sizeof(found[0]), &n);
    if (rv != CKR_OK)
        return rv;
    for (CK_ULONG i = 0; i < n; i++) {
        TK_KEY other = { .type = k->type, .bits = k->bits };
        TK_KEY *into = have ? &other : k;

        memcpy(other.group, k->group, sizeof(other.group));
        rv = cls == CKO_PUBLIC_KEY ? read_public_object(into, s, found[i])
                                   : read_from_cert(into, s, found[i]);
        if (rv != CKR_OK)
            free_public(into); /* whatever a read that failed half-way left */
        if (rv != CKR_OK && !not_this_keys(rv)) {
            free_public(&other);
            free_public(k);
            return rv; /* the token's or the module's failure, not this object's content */
        }
        if (rv == CKR_OK && have && !tk_key_public_eq(k, &other)) {
            free_public(&other);
            free_public(k);
            return TK_CKR_PUBLIC_AMBIGUOUS;
        }
        free_public(&other);
        have |= rv == CKR_OK;
    }
    return have ? CKR_OK : TK_CKR_NO_PUBLIC_HALF;
}

/*
 * TK_CKR_ID_SHARED when another private key could be taken for k by the
 * objects that share its CKA_ID, CKR_OK when it cannot, or the token's
 * error. One of another type (RSA beside EC) or of an EC curve with points
 * of another size cannot, since read_public_by_id passes over what does not
 * fit k. One whose type or curve tokenkey does not know (secp256k1 has
 * P-256's point size) or that does not show them is counted: refusing is
 * the safe side.
 */
static CK_RV taken_for(const TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_HANDLE other)
{
    CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
    CK_ATTRIBUTE a = { CKA_KEY_TYPE, &kt, sizeof(kt) };
    unsigned char *params = NULL;
    CK_ULONG len = 0;
    TK_KEY_TYPE type;
    char group[sizeof(k->group)];
    int sizes_differ;
    CK_RV rv = tk_p11_get_attrs(s, other, &a, 1);

    if (rv != CKR_OK && !tk_p11_rv_unavailable(rv))
        return rv;
    if (rv != CKR_OK || a.ulValueLen != sizeof(kt) || tk_key_type_of(kt) == 0)
        return TK_CKR_ID_SHARED;
    if (tk_key_type_of(kt) != k->type)
        return CKR_OK;
    if (k->type != TK_KEY_EC)
        return TK_CKR_ID_SHARED;
    rv = tk_p11_get_attr_alloc(s, other, CKA_EC_PARAMS, &params, &len);
    if (rv != CKR_OK)
        return tk_p11_rv_unavailable(rv) ? TK_CKR_ID_SHARED : rv;
    sizes_differ = ec_params_group(params, (long)len, &type, group, sizeof(group))
                 && type == TK_KEY_EC && field_bits(group) != field_bits(k->group);
    OPENSSL_free(params);
    return sizes_differ ? CKR_OK : TK_CKR_ID_SHARED;
}

/*
 * CKR_OK when no other private key that could be taken for k has k's
 * CKA_ID. When one does, the public keys and certificates with that id may
 * all be the other key's - two key pairs under one id of which one lost
 * its public key object, say - and taking one would give k a public half
 * it does not have: TLS would then fail at the peer, far from the cause
 * (TK_CKR_ID_SHARED). So many private keys under one id that some are not
 * looked at count as shared too.
 */
static CK_RV check_id_is_own(const TK_KEY *k, TK_P11_SESSION *s)
{
    CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &priv, sizeof(priv) },
        { CKA_ID, k->id, k->id_len },
    };
    CK_OBJECT_HANDLE found[8];
    const CK_ULONG max = sizeof(found) / sizeof(found[0]);
    CK_ULONG n = 0;
    CK_RV rv;

    if (k->id == NULL || k->id_len == 0)
        return CKR_OK; /* nothing is found by id then */
    rv = tk_p11_find(s, tmpl, 2, found, max, &n);
    if (rv == CKR_OK && n == max)
        return TK_CKR_ID_SHARED;
    for (CK_ULONG i = 0; rv == CKR_OK && i < n; i++)
        if (found[i] != k->handle)
            rv = taken_for(k, s, found[i]);
    return rv;
}

CK_RV tk_key_read_public(TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_CLASS cls,
                         const CK_ATTRIBUTE *attrs, CK_ULONG nattrs)
{
    CK_RV rv, by_id;

    if (k->type == TK_KEY_RSA) {
        /* Most tokens keep the modulus on the private object too. */
        rv = set_rsa(k, tk_p11_attr_find(attrs, nattrs, CKA_MODULUS),
                     tk_p11_attr_find(attrs, nattrs, CKA_PUBLIC_EXPONENT));
    } else {
        rv = set_ec_params(k, tk_p11_attr_find(attrs, nattrs, CKA_EC_PARAMS));
        if (rv != CKR_OK)
            return rv;
        /*
         * CKA_EC_POINT is a public-key attribute (PKCS#11 v2.40 2.3.3), but
         * some tokens (and PKCS#11 3.0 writers) put it on the private key too.
         */
        rv = set_ec_point(k, tk_p11_attr_find(attrs, nattrs, CKA_EC_POINT));
    }
    if (rv == CKR_OK || cls == CKO_PUBLIC_KEY)
        return rv;
    if ((by_id = check_id_is_own(k, s)) != CKR_OK)
        return by_id;
    if ((by_id = read_public_by_id(k, s, CKO_PUBLIC_KEY)) == TK_CKR_NO_PUBLIC_HALF)
        by_id = read_public_by_id(k, s, CKO_CERTIFICATE);
    if (by_id == TK_CKR_NO_PUBLIC_HALF && k->type == TK_KEY_RSA)
        return rv;
    return by_id;
}

int tk_key_public_eq(const TK_KEY *a, const TK_KEY *b)
{
    if (a->type != b->type)
        return 0;
    if (a->type == TK_KEY_RSA)
        return a->rsa_n != NULL && a->rsa_e != NULL && b->rsa_n != NULL && b->rsa_e != NULL
               && BN_cmp(a->rsa_n, b->rsa_n) == 0 && BN_cmp(a->rsa_e, b->rsa_e) == 0;
    if (a->type == TK_KEY_EC && (a->group[0] == '\0' || strcmp(a->group, b->group) != 0))
        return 0;
    /* Both hold the canonical (uncompressed) form, so bytes compare points. */
    return a->pub != NULL && b->pub != NULL && a->pub_len == b->pub_len
           && memcmp(a->pub, b->pub, a->pub_len) == 0;
}
