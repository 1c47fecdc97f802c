/*
 * ECDSA with token keys (P-256, P-384, P-521). The token signs with
 * CKM_ECDSA over a digest computed here, or with CKM_ECDSA_SHAxxx over the
 * message, and returns r || s (PKCS#11 v2.40 section 2.3.1); OpenSSL and
 * TLS want the DER ECDSA-Sig-Value (RFC 3279 section 2.2.3).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/params.h>

#include "errors.h"
#include "signature.h"

static OSSL_FUNC_signature_newctx_fn tk_ecdsa_newctx;
static OSSL_FUNC_signature_get_ctx_params_fn tk_ecdsa_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn tk_ecdsa_gettable_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn tk_ecdsa_settable_ctx_params;

static void ecdsa_reset(TK_SIG_CTX *ctx)
{
}

static int ecdsa_set_params(TK_SIG_CTX *ctx, const OSSL_PARAM params[])
{
    return params == NULL || tk_sig_set_digest_params(ctx, params);
}

static int ecdsa_plan(TK_SIG_CTX *ctx)
{
    CK_MECHANISM_TYPE combined = 0;

    if (ctx->digest != NULL && ctx->op == TK_SIG_OP_DIGEST_SIGN)
        combined = ctx->digest->ecdsa;
    memset(&ctx->mech, 0, sizeof(ctx->mech));
    ctx->combined = 0;
    if (tk_key_can_use_mechanism(ctx->key, CKM_ECDSA, CKF_SIGN)) {
        ctx->mech.mechanism = CKM_ECDSA;
    } else if (combined != 0 && tk_key_can_use_mechanism(ctx->key, combined, CKF_SIGN)) {
        ctx->mech.mechanism = combined;
        ctx->combined = 1;
    } else {
        tk_sig_raise_no_mechanism(ctx->provctx, ctx->key, "signing", CKM_ECDSA, combined);
        tk_sig_hint_sign_message(ctx, (ctx->digest != NULL ? ctx->digest
                                       : tk_sig_digest_by_nid(NID_sha256))->ecdsa);
        return 0;
    }
    return 1;
}

static int ecdsa_sign(TK_SIG_CTX *ctx, const unsigned char *in, size_t inlen,
                      unsigned char *sig, size_t *siglen, size_t sigsize)
{
    unsigned char rs[2 * TK_ECDSA_MAX_HALF];
    size_t rslen = sizeof(rs), n = (size_t)tk_key_ec_order_bytes(ctx->key);

    /*
     * A digest longer than the group order is cut to its leftmost bits
     * (SEC 1 v2 section 4.1.3 step 5). PKCS#11 leaves that to the token,
     * but not every token does it; our groups' orders are whole bytes
     * (256, 384 bits; 521 bits is longer than any digest we take), so
     * cutting whole bytes here is exact.
     */
    if (!ctx->combined && inlen > n)
        inlen = n;
    if (!tk_sig_token_sign(ctx, in, inlen, rs, &rslen))
        return 0;
    if (rslen != 2 * n) {
        TK_RAISE(ctx->provctx, TK_R_OPERATION_FAILED, "the token returned a %zu-byte ECDSA "
                 "signature for a %zu-byte group order (want r || s)", rslen, n);
        return 0;
    }
    if (!tk_ecdsa_rs_to_der(rs, rslen, sig, sigsize, siglen)) {
        TK_RAISE(ctx->provctx, TK_R_OPERATION_FAILED, "cannot encode the ECDSA signature (%zu "
                 "bytes of r || s into %zu)", rslen, sigsize);
        return 0;
    }
    return 1;
}

static int ecdsa_verify_setup(TK_SIG_CTX *ctx, EVP_PKEY_CTX *pctx)
{
    return ctx->md == NULL || EVP_PKEY_CTX_set_signature_md(pctx, ctx->md) == 1;
}

/* ecdsa-with-SHA256 etc., parameters absent (RFC 5758 section 3.2). */
static int ecdsa_algorithm_id(TK_SIG_CTX *ctx, OSSL_PARAM *p)
{
    X509_ALGOR *alg = NULL;
    int sigid, ok;

    if (ctx->digest == NULL)
        return 1;
    ok = OBJ_find_sigid_by_algs(&sigid, ctx->digest->nid, NID_X9_62_id_ecPublicKey)
         && (alg = X509_ALGOR_new()) != NULL
         && X509_ALGOR_set0(alg, OBJ_nid2obj(sigid), V_ASN1_UNDEF, NULL)
         && tk_sig_set_algor_param(p, alg);
    X509_ALGOR_free(alg);
    if (!ok)
        TK_RAISE(ctx->provctx, TK_R_OPERATION_FAILED, "cannot encode the ECDSA signature's "
                 "AlgorithmIdentifier");
    return ok;
}

static int tk_ecdsa_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    TK_SIG_CTX *ctx = vctx;
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL
        && !ecdsa_algorithm_id(ctx, p))
        return 0;
    if (((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL
         && !OSSL_PARAM_set_utf8_string(p, ctx->md != NULL ? EVP_MD_get0_name(ctx->md) : ""))
        || ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST_SIZE)) != NULL
            && !OSSL_PARAM_set_size_t(p, ctx->digest != NULL ? ctx->digest->size : 0))) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "ECDSA signature parameter of the wrong type");
        return 0;
    }
    return 1;
}

static const OSSL_PARAM ecdsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_ecdsa_gettable_ctx_params(void *vctx, void *provctx)
{
    return ecdsa_gettable;
}

static const OSSL_PARAM ecdsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_ecdsa_settable_ctx_params(void *vctx, void *provctx)
{
    const TK_SIG_CTX *ctx = vctx;

    return ctx != NULL && ctx->md_locked ? ecdsa_settable + 2 : ecdsa_settable;
}

static const TK_SIG_OPS ecdsa_ops = {
    TK_KEY_EC, "ECDSA", ecdsa_reset, ecdsa_set_params, ecdsa_plan, NULL, ecdsa_sign, ecdsa_verify_setup,
};

static void *tk_ecdsa_newctx(void *provctx, const char *propq)
{
    return tk_sig_newctx(provctx, propq, &ecdsa_ops);
}

const OSSL_DISPATCH tk_ecdsa_signature_functions[] = {
    TK_SIG_DIGEST_DISPATCH(tk_ecdsa_newctx, tk_ecdsa_get_ctx_params, tk_ecdsa_gettable_ctx_params,
                           tk_ecdsa_settable_ctx_params),
};
