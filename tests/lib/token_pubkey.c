/* Public key objects as default-provider keys: see token_pubkey.h. */
#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "token_pubkey.h"

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(NULL, type, "provider=default");
    EVP_PKEY *pkey = NULL;

    if (params == NULL || pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1
        || EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pkey = NULL;
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(pctx);
    return pkey;
}

static EVP_PKEY *rsa_public(const CK_ATTRIBUTE *n, const CK_ATTRIBUTE *e)
{
    BIGNUM *bn = BN_bin2bn(n->pValue, (int)n->ulValueLen, NULL);
    BIGNUM *be = BN_bin2bn(e->pValue, (int)e->ulValueLen, NULL);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;

    if (bn != NULL && be != NULL && bld != NULL
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn)
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be))
        pkey = from_params("RSA", bld);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pkey;
}

static EVP_PKEY *ec_public(const CK_ATTRIBUTE *params, const CK_ATTRIBUTE *point)
{
    const unsigned char *p = params->pValue;
    ASN1_OBJECT *oid = d2i_ASN1_OBJECT(NULL, &p, (long)params->ulValueLen);
    int nid = oid != NULL ? OBJ_obj2nid(oid) : NID_undef;
    ASN1_OCTET_STRING *os;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *pkey = NULL;

    p = point->pValue;
    os = d2i_ASN1_OCTET_STRING(NULL, &p, (long)point->ulValueLen);
    if (os != NULL && nid == NID_ED25519) {
        pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", "provider=default",
                                              ASN1_STRING_get0_data(os),
                                              (size_t)ASN1_STRING_length(os));
    } else if (os != NULL && nid != NID_undef && bld != NULL
               && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                                  OBJ_nid2sn(nid), 0)
               && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                                   ASN1_STRING_get0_data(os),
                                                   (size_t)ASN1_STRING_length(os))) {
        pkey = from_params("EC", bld);
    }
    OSSL_PARAM_BLD_free(bld);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
    return pkey;
}

EVP_PKEY *tk_test_token_public_key(TK_P11_SESSION *s, CK_OBJECT_HANDLE pub)
{
    CK_ATTRIBUTE a[] = {
        { CKA_MODULUS }, { CKA_PUBLIC_EXPONENT }, { CKA_EC_PARAMS }, { CKA_EC_POINT },
    };
    EVP_PKEY *pkey = NULL;

    if (tk_p11_get_attrs_alloc(s, pub, a, 4) != CKR_OK)
        return NULL;
    if (a[0].pValue != NULL && a[1].pValue != NULL)
        pkey = rsa_public(&a[0], &a[1]);
    else if (a[2].pValue != NULL && a[3].pValue != NULL)
        pkey = ec_public(&a[2], &a[3]);
    tk_p11_attrs_free(a, 4);
    return pkey;
}
