/*
 * validate: what EVP_PKEY_check, EVP_PKEY_public_check and
 * EVP_PKEY_pairwise_check ask (openssl pkey -check). Without it OpenSSL
 * reports any key valid.
 *
 * The public half tokenkey holds for a key was read off the token - from
 * the private key object, or else from the public key object or the
 * certificate with the same CKA_ID (key_public.c) - so the check that
 * matters is the pair: a signature made on the token, verified in
 * software with that public half. It shows that the key TLS will sign
 * with and the public key its certificate must carry belong together. The
 * public half alone goes to the default provider's own validation (point
 * on the curve, RSA modulus).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "errors.h"
#include "keymgmt_local.h"
#include "signature/signature.h"

/* What the token signs: any fixed 32 bytes do (a digest's size, for ECDSA and raw RSA). */
static const unsigned char probe[32] = "tokenkey pairwise check, 32 b.";

static int check_public(TK_KEY *k, EVP_PKEY *pub, int checktype)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(k->ctx->libctx, pub, TK_SIG_PUBLIC_PROPQ);
    int ok = c != NULL
             && (checktype == OSSL_KEYMGMT_VALIDATE_QUICK_CHECK ? EVP_PKEY_public_check_quick(c)
                                                               : EVP_PKEY_public_check(c)) == 1;

    EVP_PKEY_CTX_free(c);
    if (!ok)
        TK_RAISE(k->ctx, TK_R_KEY_MISMATCH, "the public half of %s is not a valid %s public key",
                 k->uri != NULL ? k->uri : "the key", tk_key_type_name(k->type));
    return ok;
}

/*
 * How the token signs probe: the raw mechanism of the key type. An RSA key
 * that may not use PKCS#1 v1.5 (a token or CKA_ALLOWED_MECHANISMS that
 * allows PSS only) signs probe as a SHA-256 digest with PSS.
 */
static int probe_mechanism(TK_KEY *k, CK_MECHANISM *mech, CK_RSA_PKCS_PSS_PARAMS *pss)
{
    CK_MECHANISM_TYPE want = k->type == TK_KEY_RSA ? CKM_RSA_PKCS
                             : k->type == TK_KEY_ED25519 ? CKM_EDDSA : CKM_ECDSA;

    *mech = (CK_MECHANISM){ want, NULL, 0 };
    if (tk_key_can_use_mechanism(k, want, CKF_SIGN))
        return 1;
    if (k->type == TK_KEY_RSA && tk_key_can_use_mechanism(k, CKM_RSA_PKCS_PSS, CKF_SIGN)) {
        *pss = (CK_RSA_PKCS_PSS_PARAMS){ CKM_SHA256, CKG_MGF1_SHA256, sizeof(probe) };
        *mech = (CK_MECHANISM){ CKM_RSA_PKCS_PSS, pss, sizeof(*pss) };
        return 1;
    }
    tk_sig_raise_no_mechanism(k->ctx, k, "signing", want,
                              k->type == TK_KEY_RSA ? CKM_RSA_PKCS_PSS : 0);
    return 0;
}

/* A signature of probe on the token with mech, as the software verifier takes it. */
static CK_RV sign_probe(TK_KEY *k, CK_MECHANISM *mech, unsigned char *sig, size_t cap,
                        size_t *siglen)
{
    unsigned char rs[2 * TK_ECDSA_MAX_HALF];
    size_t rslen = sizeof(rs);
    CK_RV rv;

    *siglen = cap;
    if (k->type != TK_KEY_EC)
        return tk_key_sign(k, mech, probe, sizeof(probe), sig, siglen);
    rv = tk_key_sign(k, mech, probe, sizeof(probe), rs, &rslen);
    if (rv == CKR_OK && !tk_ecdsa_rs_to_der(rs, rslen, sig, cap, siglen))
        rv = CKR_FUNCTION_FAILED;
    return rv;
}

/* RSA: PKCS#1 v1.5 over probe as data, or PSS over probe as a SHA-256 digest. */
static int rsa_verify_padding(EVP_PKEY_CTX *c, const CK_MECHANISM *mech)
{
    if (mech->mechanism != CKM_RSA_PKCS_PSS)
        return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1;
    return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1
           && EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1
           && EVP_PKEY_CTX_set_rsa_pss_saltlen(c, (int)sizeof(probe)) == 1;
}

static int verify_probe(TK_KEY *k, EVP_PKEY *pub, const CK_MECHANISM *mech,
                        const unsigned char *sig, size_t siglen)
{
    OSSL_LIB_CTX *libctx = k->ctx->libctx;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY_CTX *c = NULL;
    int ok;

    if (k->type == TK_KEY_ED25519) {
        md = EVP_MD_CTX_new();
        ok = md != NULL
             && EVP_DigestVerifyInit_ex(md, NULL, NULL, libctx, TK_SIG_PUBLIC_PROPQ, pub, NULL) == 1
             && EVP_DigestVerify(md, sig, siglen, probe, sizeof(probe)) == 1;
    } else {
        /* No digest set: ECDSA verifies probe as the digest. */
        c = EVP_PKEY_CTX_new_from_pkey(libctx, pub, TK_SIG_PUBLIC_PROPQ);
        ok = c != NULL && EVP_PKEY_verify_init(c) == 1
             && (k->type != TK_KEY_RSA || rsa_verify_padding(c, mech))
             && EVP_PKEY_verify(c, sig, siglen, probe, sizeof(probe)) == 1;
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(c);
    return ok;
}

static int check_pair(TK_KEY *k, EVP_PKEY *pub)
{
    size_t cap = (size_t)tk_key_max_signature_size(k), siglen = 0;
    CK_MECHANISM mech;
    CK_RSA_PKCS_PSS_PARAMS pss;
    unsigned char *sig;
    CK_RV rv;
    int ok;

    if (!probe_mechanism(k, &mech, &pss))
        return 0;
    sig = OPENSSL_malloc(cap);
    rv = sig != NULL ? sign_probe(k, &mech, sig, cap, &siglen) : CKR_HOST_MEMORY;
    if (rv != CKR_OK) {
        OPENSSL_free(sig);
        TK_RAISE_RV(k->ctx, rv, "signing on the token to check the key pair");
        return 0;
    }
    ERR_set_mark();
    ok = verify_probe(k, pub, &mech, sig, siglen);
    ERR_pop_to_mark();
    OPENSSL_free(sig);
    if (!ok)
        TK_RAISE(k->ctx, TK_R_KEY_MISMATCH, "the private key %s and the public half read with it "
                 "(from the key, or the public key object or certificate with its CKA_ID) are "
                 "not one key pair: a signature on the token does not verify with it",
                 k->uri != NULL ? k->uri : "");
    return ok;
}

int tk_km_validate(const void *keydata, int selection, int checktype)
{
    TK_KEY *k = (TK_KEY *)keydata;
    EVP_PKEY *pub = NULL;
    int want_public = (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0;
    int want_pair = (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == OSSL_KEYMGMT_SELECT_KEYPAIR;
    int ok = 1;

    if (k == NULL || !tk_km_has(k, selection))
        return 0;
    if (!want_public && !want_pair)
        return 1; /* domain parameters (an EC group tokenkey knows) or a private key alone */
    if (!tk_sig_public_pkey(k->ctx, k, &pub))
        return 0;
    if (want_public)
        ok = check_public(k, pub, checktype);
    /* A quick check does not use the token. */
    if (ok && want_pair && checktype != OSSL_KEYMGMT_VALIDATE_QUICK_CHECK)
        ok = check_pair(k, pub);
    EVP_PKEY_free(pub);
    return ok;
}
