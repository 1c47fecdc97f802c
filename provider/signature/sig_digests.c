/*
 * The digests a token signature can use, and fetching them.
 *
 * Limited to SHA-1 and SHA-2 because those are what PKCS#11 v2.40 names in
 * CK_RSA_PKCS_PSS_PARAMS.hashAlg, CKG_MGF1_* and the combined mechanisms;
 * TLS 1.2/1.3 and X.509 need nothing else.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>

#include "errors.h"
#include "signature.h"

/*
 * DER of DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier,
 * digest OCTET STRING } up to the digest's bytes: the fixed prefixes of
 * RFC 8017 section 9.2, note 1. CKM_RSA_PKCS signs DigestInfo || hash.
 */
static const unsigned char di_sha1[] = {
    0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14
};
static const unsigned char di_sha224[] = {
    0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04,
    0x05, 0x00, 0x04, 0x1c
};
static const unsigned char di_sha256[] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    0x05, 0x00, 0x04, 0x20
};
static const unsigned char di_sha384[] = {
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
    0x05, 0x00, 0x04, 0x30
};
static const unsigned char di_sha512[] = {
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
    0x05, 0x00, 0x04, 0x40
};

static const TK_SIG_DIGEST digests[] = {
    { NID_sha1, "SHA-1", 20, CKM_SHA_1, CKG_MGF1_SHA1, CKM_SHA1_RSA_PKCS,
      CKM_SHA1_RSA_PKCS_PSS, CKM_ECDSA_SHA1, di_sha1, sizeof(di_sha1) },
    { NID_sha224, "SHA-224", 28, CKM_SHA224, CKG_MGF1_SHA224, CKM_SHA224_RSA_PKCS,
      CKM_SHA224_RSA_PKCS_PSS, CKM_ECDSA_SHA224, di_sha224, sizeof(di_sha224) },
    { NID_sha256, "SHA-256", 32, CKM_SHA256, CKG_MGF1_SHA256, CKM_SHA256_RSA_PKCS,
      CKM_SHA256_RSA_PKCS_PSS, CKM_ECDSA_SHA256, di_sha256, sizeof(di_sha256) },
    { NID_sha384, "SHA-384", 48, CKM_SHA384, CKG_MGF1_SHA384, CKM_SHA384_RSA_PKCS,
      CKM_SHA384_RSA_PKCS_PSS, CKM_ECDSA_SHA384, di_sha384, sizeof(di_sha384) },
    { NID_sha512, "SHA-512", 64, CKM_SHA512, CKG_MGF1_SHA512, CKM_SHA512_RSA_PKCS,
      CKM_SHA512_RSA_PKCS_PSS, CKM_ECDSA_SHA512, di_sha512, sizeof(di_sha512) },
};

const TK_SIG_DIGEST *tk_sig_digest_by_nid(int nid)
{
    for (size_t i = 0; i < sizeof(digests) / sizeof(digests[0]); i++)
        if (digests[i].nid == nid)
            return &digests[i];
    return NULL;
}

/*
 * The application's property query selects implementations for its own
 * fetches; if it names us (provider=tokenkey, to reach our keys), it
 * cannot find a digest, which we do not have: then any provider's will do.
 */
static int propq_names_us(const char *propq)
{
    return propq != NULL && strstr(propq, TK_PROV_NAME) != NULL;
}

int tk_sig_md_fetch(TK_PROVCTX *pc, const char *name, const char *propq, EVP_MD **md,
                    const TK_SIG_DIGEST **d)
{
    EVP_MD *m;
    const TK_SIG_DIGEST *entry;

    ERR_set_mark();
    m = EVP_MD_fetch(pc->digest_libctx, name, propq);
    if (m == NULL && propq_names_us(propq))
        m = EVP_MD_fetch(pc->digest_libctx, name, NULL);
    ERR_pop_to_mark();
    if (m == NULL) {
        TK_RAISE(pc, TK_R_BAD_ARGUMENT, "unknown digest '%s'%s%s", name,
                 propq != NULL ? " with properties " : "", propq != NULL ? propq : "");
        return 0;
    }
    entry = tk_sig_digest_by_nid(EVP_MD_get_type(m));
    if (entry == NULL) {
        TK_RAISE(pc, TK_R_BAD_ARGUMENT,
                 "digest '%s': token keys sign with SHA-1, SHA-224, SHA-256, SHA-384 or SHA-512",
                 name);
        EVP_MD_free(m);
        return 0;
    }
    *md = m;
    *d = entry;
    return 1;
}

int tk_sig_set_algor_param(OSSL_PARAM *p, const X509_ALGOR *alg)
{
    unsigned char *der = NULL;
    int len = i2d_X509_ALGOR(alg, &der);
    int ok = len > 0 && OSSL_PARAM_set_octet_string(p, der, (size_t)len);

    OPENSSL_free(der);
    return ok;
}
