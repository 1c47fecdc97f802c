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

/* A signature of probe on the token, as the software verifier takes it. */
static CK_RV sign_probe(TK_KEY *k, unsigned char *sig, size_t cap, size_t *siglen)
{
    unsigned char rs[2 * TK_ECDSA_MAX_HALF];
    size_t rslen = sizeof(rs);
    CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
    CK_RV rv;

    *siglen = cap;
    if (k->type == TK_KEY_RSA)
        return tk_key_sign(k, &mech, probe, sizeof(probe), sig, siglen);
    if (k->type == TK_KEY_ED25519) {
        mech.mechanism = CKM_EDDSA;
        return tk_key_sign(k, &mech, probe, sizeof(probe), sig, siglen);
    }
    mech.mechanism = CKM_ECDSA;
    rv = tk_key_sign(k, &mech, probe, sizeof(probe), rs, &rslen);
    if (rv == CKR_OK && !tk_ecdsa_rs_to_der(rs, rslen, sig, cap, siglen))
        rv = CKR_FUNCTION_FAILED;
    return rv;
}

static int verify_probe(TK_KEY *k, EVP_PKEY *pub, const unsigned char *sig, size_t siglen)
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
        /* No digest set: ECDSA verifies probe as the digest, RSA as PKCS#1 v1.5 data. */
        c = EVP_PKEY_CTX_new_from_pkey(libctx, pub, TK_SIG_PUBLIC_PROPQ);
        ok = c != NULL && EVP_PKEY_verify_init(c) == 1
             && (k->type != TK_KEY_RSA || EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) == 1)
             && EVP_PKEY_verify(c, sig, siglen, probe, sizeof(probe)) == 1;
    }
    EVP_MD_CTX_free(md);
    EVP_PKEY_CTX_free(c);
    return ok;
}

static int check_pair(TK_KEY *k, EVP_PKEY *pub)
{
    size_t cap = (size_t)tk_key_max_signature_size(k), siglen = 0;
    unsigned char *sig = OPENSSL_malloc(cap);
    CK_RV rv = sig != NULL ? sign_probe(k, sig, cap, &siglen) : CKR_HOST_MEMORY;
    int ok;

    if (rv != CKR_OK) {
        OPENSSL_free(sig);
        TK_RAISE_RV(k->ctx, rv, "signing on the token to check the key pair");
        return 0;
    }
    ERR_set_mark();
    ok = verify_probe(k, pub, sig, siglen);
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
