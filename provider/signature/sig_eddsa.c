/*
 * Ed25519 with token keys: CKM_EDDSA over the whole message (PKCS#11 3.0
 * section 2.3.14; no CK_EDDSA_PARAMS means pure Ed25519, RFC 8032 5.1).
 * Ed25519 hashes inside the algorithm, twice over the message, so it is
 * one-shot in OpenSSL too: EVP_DigestSign only, no update/final (libcrypto
 * fails EVP_DigestSignUpdate cleanly when the table has no update).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/params.h>

#include "errors.h"
#include "signature.h"

static OSSL_FUNC_signature_newctx_fn tk_ed25519_newctx;
static OSSL_FUNC_signature_digest_sign_init_fn tk_ed25519_digest_sign_init;
static OSSL_FUNC_signature_digest_verify_init_fn tk_ed25519_digest_verify_init;
static OSSL_FUNC_signature_get_ctx_params_fn tk_ed25519_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn tk_ed25519_gettable_ctx_params;

#define TK_ED25519_SIG_LEN 64

static void eddsa_reset(TK_SIG_CTX *ctx)
{
}

/* Nothing to set (the 3.0 Ed25519 has no context string or prehash variants). */
static int eddsa_set_params(TK_SIG_CTX *ctx, const OSSL_PARAM params[])
{
    return 1;
}

static int eddsa_plan(TK_SIG_CTX *ctx)
{
    memset(&ctx->mech, 0, sizeof(ctx->mech));
    ctx->combined = 1; /* the token sees the message */
    if (!tk_key_can_use_mechanism(ctx->key, CKM_EDDSA, CKF_SIGN)) {
        tk_sig_raise_no_mechanism(ctx->provctx, ctx->key, "signing", CKM_EDDSA, 0);
        return 0;
    }
    ctx->mech.mechanism = CKM_EDDSA;
    return 1;
}

static int eddsa_sign(TK_SIG_CTX *ctx, const unsigned char *in, size_t inlen,
                      unsigned char *sig, size_t *siglen, size_t sigsize)
{
    size_t outlen = sigsize;

    if (!tk_sig_token_sign(ctx, in, inlen, sig, &outlen))
        return 0;
    if (outlen != TK_ED25519_SIG_LEN) {
        TK_RAISE(ctx->provctx, TK_R_OPERATION_FAILED, "the token returned a %zu-byte Ed25519 "
                 "signature (RFC 8032: 64)", outlen);
        return 0;
    }
    *siglen = outlen;
    return 1;
}

/* Not used: verification goes through EVP_DigestVerify of the whole message. */
static int eddsa_verify_setup(TK_SIG_CTX *ctx, EVP_PKEY_CTX *pctx)
{
    return 1;
}

static int no_digest(TK_SIG_CTX *ctx, const char *mdname)
{
    if (mdname != NULL && *mdname != '\0') {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "Ed25519 takes no digest (got '%s'): pass "
                 "NULL to EVP_DigestSignInit", mdname);
        return 0;
    }
    return 1;
}

static int tk_ed25519_digest_sign_init(void *vctx, const char *mdname, void *provkey,
                                       const OSSL_PARAM params[])
{
    return no_digest(vctx, mdname) && tk_sig_digest_sign_init(vctx, NULL, provkey, params);
}

static int tk_ed25519_digest_verify_init(void *vctx, const char *mdname, void *provkey,
                                         const OSSL_PARAM params[])
{
    return no_digest(vctx, mdname) && tk_sig_digest_verify_init(vctx, NULL, provkey, params);
}

/* id-Ed25519 with parameters absent (RFC 8410 section 3). */
static int tk_ed25519_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    TK_SIG_CTX *ctx = vctx;
    OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    X509_ALGOR *alg = NULL;
    int ok;

    if (p == NULL)
        return 1;
    ok = (alg = X509_ALGOR_new()) != NULL
         && X509_ALGOR_set0(alg, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL)
         && tk_sig_set_algor_param(p, alg);
    X509_ALGOR_free(alg);
    if (!ok)
        TK_RAISE(ctx->provctx, TK_R_OPERATION_FAILED, "cannot encode the Ed25519 "
                 "AlgorithmIdentifier");
    return ok;
}

static const OSSL_PARAM eddsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_ed25519_gettable_ctx_params(void *vctx, void *provctx)
{
    return eddsa_gettable;
}

static const TK_SIG_OPS eddsa_ops = {
    TK_KEY_ED25519, "Ed25519", eddsa_reset, eddsa_set_params, eddsa_plan, NULL, eddsa_sign,
    eddsa_verify_setup,
};

static void *tk_ed25519_newctx(void *provctx, const char *propq)
{
    return tk_sig_newctx(provctx, propq, &eddsa_ops);
}

const OSSL_DISPATCH tk_ed25519_signature_functions[] = {
    { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))tk_ed25519_newctx },
    { OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))tk_sig_freectx },
    { OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))tk_sig_dupctx },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))tk_ed25519_digest_sign_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))tk_sig_digest_sign },
    /*
     * Ed25519 signs in one go. The streaming calls are there to refuse with
     * "use EVP_DigestSign": without them libcrypto 3.0's EVP_DigestSignFinal
     * calls a NULL digest_sign_final (a crash, with OpenSSL's own Ed25519 too).
     */
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))tk_sig_digest_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))tk_sig_digest_sign_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))tk_ed25519_digest_verify_init },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))tk_sig_digest_update },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))tk_sig_digest_verify_final },
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))tk_sig_digest_verify },
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))tk_ed25519_get_ctx_params },
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))tk_ed25519_gettable_ctx_params },
    { 0, NULL }
};
