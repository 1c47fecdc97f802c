/* Test key pairs on a token: see token_keygen.h. */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include "token_keygen.h"

/* DER of the curve's OID, as CKA_EC_PARAMS (namedCurve, RFC 5480 2.1.1.1). */
static int ec_params(TK_TEST_KEY_KIND kind, unsigned char *der, size_t cap)
{
    int nid = kind == TK_TEST_P256 ? NID_X9_62_prime256v1 : kind == TK_TEST_P384 ? NID_secp384r1
            : kind == TK_TEST_P521 ? NID_secp521r1 : NID_ED25519;
    ASN1_OBJECT *oid = OBJ_nid2obj(nid);
    int len = i2d_ASN1_OBJECT(oid, NULL);
    unsigned char *p = der;

    if (len <= 0 || (size_t)len > cap)
        return -1;
    return i2d_ASN1_OBJECT(oid, &p);
}

CK_RV tk_test_keygen(TK_P11_SESSION *s, TK_TEST_KEY_KIND kind, const char *label,
                     const unsigned char *id, size_t idlen, CK_OBJECT_HANDLE *hpub,
                     CK_OBJECT_HANDLE *hpriv)
{
    return tk_test_keygen_flags(s, kind, 0, label, id, idlen, hpub, hpriv);
}

CK_RV tk_test_keygen_flags(TK_P11_SESSION *s, TK_TEST_KEY_KIND kind, unsigned flags,
                           const char *label, const unsigned char *id, size_t idlen,
                           CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv)
{
    return tk_test_keygen_limited(s, kind, flags, NULL, 0, label, id, idlen, hpub, hpriv);
}

CK_RV tk_test_keygen_limited(TK_P11_SESSION *s, TK_TEST_KEY_KIND kind, unsigned flags,
                             const CK_MECHANISM_TYPE *allowed, size_t n_allowed, const char *label,
                             const unsigned char *id, size_t idlen, CK_OBJECT_HANDLE *hpub,
                             CK_OBJECT_HANDLE *hpriv)
{
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = 2048, llen = strlen(label);
    unsigned char exponent[] = { 0x01, 0x00, 0x01 };
    unsigned char params[16];
    int rsa = kind == TK_TEST_RSA2048;
    int plen = rsa ? 0 : ec_params(kind, params, sizeof(params));
    CK_MECHANISM mech = {
        rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN
        : kind == TK_TEST_ED25519 ? CKM_EC_EDWARDS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0
    };
    CK_ATTRIBUTE pubt[7] = {
        { CKA_TOKEN, &yes, sizeof(yes) },
        { CKA_VERIFY, &yes, sizeof(yes) },
        { CKA_ID, (void *)id, idlen },
        { CKA_LABEL, (void *)label, llen },
    };
    CK_BBOOL always_auth = (flags & TK_TEST_ALWAYS_AUTHENTICATE) ? CK_TRUE : CK_FALSE;
    CK_ATTRIBUTE privt[] = {
        { CKA_ALWAYS_AUTHENTICATE, &always_auth, sizeof(always_auth) },
        { CKA_TOKEN, &yes, sizeof(yes) },
        { CKA_PRIVATE, &yes, sizeof(yes) },
        { CKA_SENSITIVE, &yes, sizeof(yes) },
        { CKA_EXTRACTABLE, &no, sizeof(no) },
        { CKA_SIGN, &yes, sizeof(yes) },
        { CKA_ID, (void *)id, idlen },
        { CKA_LABEL, (void *)label, llen },
        { CKA_DECRYPT, &yes, sizeof(yes) }, /* RSA only */
        { CKA_ALLOWED_MECHANISMS, (void *)allowed, (CK_ULONG)(n_allowed * sizeof(*allowed)) },
    };
    CK_ULONG npub = 4, npriv = sizeof(privt) / sizeof(privt[0]) - 1;

    if (rsa) {
        pubt[npub++] = (CK_ATTRIBUTE){ CKA_MODULUS_BITS, &bits, sizeof(bits) };
        pubt[npub++] = (CK_ATTRIBUTE){ CKA_PUBLIC_EXPONENT, exponent, sizeof(exponent) };
        pubt[npub++] = (CK_ATTRIBUTE){ CKA_ENCRYPT, &yes, sizeof(yes) };
    } else {
        if (plen <= 0)
            return CKR_GENERAL_ERROR;
        pubt[npub++] = (CK_ATTRIBUTE){ CKA_EC_PARAMS, params, (CK_ULONG)plen };
        privt[npriv - 1] = privt[npriv]; /* no CKA_DECRYPT */
        npriv--;
    }
    if (n_allowed > 0)
        npriv++;
    return tk_p11_generate_key_pair(s, &mech, pubt, npub, privt, npriv, hpub, hpriv);
}
