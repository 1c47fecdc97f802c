/*
 * RSA signatures with token keys: PKCS#1 v1.5 (RFC 8017 8.2) and PSS
 * (RFC 8017 8.1), with the parameters OpenSSL 3.0's own RSA signature
 * takes ("pad-mode", "digest", "saltlen", "mgf1-digest"), as integers or
 * strings: EVP_PKEY_CTX_set_rsa_padding sends an int, `openssl -sigopt`
 * a string.
 *
 * Mechanisms, best first: CKM_RSA_PKCS over DigestInfo || hash computed
 * here, or CKM_RSA_PKCS_PSS over the hash; else the token's combined
 * CKM_SHAxxx_RSA_PKCS[_PSS] over the whole message. Only those the key's
 * CKA_ALLOWED_MECHANISMS lets it use; a key that cannot use PKCS#1 v1.5
 * waits at init for the PSS padding libssl sets afterwards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "errors.h"
#include "signature.h"

static OSSL_FUNC_signature_newctx_fn tk_rsa_sig_newctx;
static OSSL_FUNC_signature_get_ctx_params_fn tk_rsa_sig_get_ctx_params;
static OSSL_FUNC_signature_gettable_ctx_params_fn tk_rsa_sig_gettable_ctx_params;
static OSSL_FUNC_signature_settable_ctx_params_fn tk_rsa_sig_settable_ctx_params;

static void rsa_reset(TK_SIG_CTX *ctx)
{
    ctx->pad = RSA_PKCS1_PADDING;
    ctx->pad_set = 0;
    /* OpenSSL 3.0's default; when signing it means the largest salt. */
    ctx->saltlen = RSA_PSS_SALTLEN_AUTO;
}

/* The names OpenSSL 3.0 gives the integer values, both ways. */
typedef struct {
    int id;
    const char *name;
} NAMED_INT;

static const NAMED_INT pad_modes[] = {
    { RSA_PKCS1_PADDING, OSSL_PKEY_RSA_PAD_MODE_PKCSV15 },
    { RSA_PKCS1_PSS_PADDING, OSSL_PKEY_RSA_PAD_MODE_PSS },
};

static const NAMED_INT salt_names[] = {
    { RSA_PSS_SALTLEN_DIGEST, OSSL_PKEY_RSA_PSS_SALT_LEN_DIGEST },
    { RSA_PSS_SALTLEN_MAX, OSSL_PKEY_RSA_PSS_SALT_LEN_MAX },
    { RSA_PSS_SALTLEN_AUTO, OSSL_PKEY_RSA_PSS_SALT_LEN_AUTO },
};

static int get_pad(TK_SIG_CTX *ctx, const OSSL_PARAM *p, int *pad)
{
    const char *name = NULL;

    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            name = "";
        for (size_t i = 0; i < sizeof(pad_modes) / sizeof(pad_modes[0]); i++)
            if (strcmp(name, pad_modes[i].name) == 0) {
                *pad = pad_modes[i].id;
                return 1;
            }
    } else if (OSSL_PARAM_get_int(p, pad)
               && (*pad == RSA_PKCS1_PADDING || *pad == RSA_PKCS1_PSS_PADDING)) {
        return 1;
    }
    if (name != NULL)
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "RSA padding '%s': token keys sign with "
                 "'pkcs1' or 'pss'", name);
    else
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "RSA padding %d: token keys sign with "
                 "PKCS#1 v1.5 (%d) or PSS (%d)", *pad, RSA_PKCS1_PADDING, RSA_PKCS1_PSS_PADDING);
    return 0;
}

static int get_saltlen(TK_SIG_CTX *ctx, const OSSL_PARAM *p, int *saltlen)
{
    const char *name = NULL;
    char *end;
    long v;

    if (p->data_type != OSSL_PARAM_UTF8_STRING) {
        if (OSSL_PARAM_get_int(p, saltlen) && *saltlen >= RSA_PSS_SALTLEN_MAX)
            return 1;
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "PSS salt length %d", *saltlen);
        return 0;
    }
    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
        name = "";
    for (size_t i = 0; i < sizeof(salt_names) / sizeof(salt_names[0]); i++)
        if (strcmp(name, salt_names[i].name) == 0) {
            *saltlen = salt_names[i].id;
            return 1;
        }
    /* "-1", "-2", "-3" as text (openssl -sigopt rsa_pss_saltlen:-1): the named values, as OpenSSL takes them. */
    v = strtol(name, &end, 10);
    if (*name == '\0' || *end != '\0' || v < RSA_PSS_SALTLEN_MAX) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "PSS salt length '%s': a number, 'digest', "
                 "'max' or 'auto'", name);
        return 0;
    }
    if (v > 0xffff) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "PSS salt length '%s': more bytes than any RSA "
                 "key holds", name);
        return 0;
    }
    *saltlen = (int)v;
    return 1;
}

static int set_mgf1(TK_SIG_CTX *ctx, const OSSL_PARAM *p, const OSSL_PARAM *props)
{
    const char *name = NULL, *propq = NULL;
    EVP_MD *md;
    const TK_SIG_DIGEST *d;

    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)
        || (props != NULL && !OSSL_PARAM_get_utf8_string_ptr(props, &propq))) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "'%s' must be a string",
                 OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
        return 0;
    }
    if (!tk_sig_md_fetch(ctx->provctx, name, propq != NULL ? propq : ctx->propq, &md, &d))
        return 0;
    EVP_MD_free(ctx->mgf1_md);
    ctx->mgf1_md = md;
    ctx->mgf1 = d;
    return 1;
}

static int rsa_set_params(TK_SIG_CTX *ctx, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p, *pad_param;
    int pad = ctx->pad, saltlen = ctx->saltlen;

    if (params == NULL)
        return 1;
    if (!tk_sig_set_digest_params(ctx, params))
        return 0;
    /* Padding first: salt and MGF1 only mean something with PSS, as in OpenSSL. */
    pad_param = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (pad_param != NULL && !get_pad(ctx, pad_param, &pad))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL) {
        if (pad != RSA_PKCS1_PSS_PADDING) {
            TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "a salt length needs PSS padding");
            return 0;
        }
        if (!get_saltlen(ctx, p, &saltlen))
            return 0;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
        if (pad != RSA_PKCS1_PSS_PADDING) {
            TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "an MGF1 digest needs PSS padding");
            return 0;
        }
        if (!set_mgf1(ctx, p, OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES)))
            return 0;
    }
    ctx->pad = pad;
    ctx->pad_set |= pad_param != NULL;
    ctx->saltlen = saltlen;
    /* PSS always hashes: OpenSSL 3.0 picks SHA-1 when nothing was said. */
    if (pad == RSA_PKCS1_PSS_PADDING && ctx->md == NULL && !tk_sig_set_digest(ctx, "SHA1", NULL))
        return 0;
    return 1;
}

/* The salt length PSS will use (RFC 8017 9.1.1: emLen >= hLen + sLen + 2). */
static int pss_saltlen(TK_SIG_CTX *ctx, int *slen)
{
    int emlen = (ctx->key->bits - 1 + 7) / 8, hlen = (int)ctx->digest->size;
    int max = emlen - hlen - 2;

    switch (ctx->saltlen) {
    case RSA_PSS_SALTLEN_DIGEST:
        *slen = hlen;
        break;
    case RSA_PSS_SALTLEN_AUTO:
    case RSA_PSS_SALTLEN_MAX:
        *slen = max;
        break;
    default:
        *slen = ctx->saltlen;
        break;
    }
    if (*slen < 0 || *slen > max) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "PSS salt of %d bytes with %s does not fit a "
                 "%d-bit key (at most %d)", *slen, ctx->digest->name, ctx->key->bits, max);
        return 0;
    }
    return 1;
}

/*
 * The mechanisms that sign with padding pad, best first: the raw one, then
 * the combined one for this digest (0 if none). Combined mechanisms hash
 * the message: not for EVP_PKEY_sign of a digest.
 */
static CK_MECHANISM_TYPE rsa_combined(const TK_SIG_DIGEST *d, int pad)
{
    return pad == RSA_PKCS1_PSS_PADDING ? d->rsa_pss : d->rsa_pkcs;
}

static void rsa_mechanisms(const TK_SIG_CTX *ctx, int pad, CK_MECHANISM_TYPE m[2])
{
    m[0] = pad == RSA_PKCS1_PSS_PADDING ? CKM_RSA_PKCS_PSS : CKM_RSA_PKCS;
    m[1] = 0;
    if (ctx->digest != NULL && ctx->op == TK_SIG_OP_DIGEST_SIGN)
        m[1] = rsa_combined(ctx->digest, pad);
}

static int rsa_padding_usable(const TK_SIG_CTX *ctx, int pad)
{
    CK_MECHANISM_TYPE m[2];

    rsa_mechanisms(ctx, pad, m);
    return tk_key_can_use_mechanism(ctx->key, m[0], CKF_SIGN)
           || (m[1] != 0 && tk_key_can_use_mechanism(ctx->key, m[1], CKF_SIGN));
}

/*
 * The default padding has no mechanism the key can use, PSS has: a token
 * or key that signs with PSS only, which libssl asks for only after
 * EVP_DigestSignInit_ex (EVP_PKEY_CTX_set_rsa_padding). A padding asked
 * for is planned at once, so that asking for one the key cannot use fails.
 */
static int rsa_plan_later(const TK_SIG_CTX *ctx)
{
    return !ctx->pad_set && !rsa_padding_usable(ctx, ctx->pad)
           && rsa_padding_usable(ctx, RSA_PKCS1_PSS_PADDING);
}

static int rsa_plan(TK_SIG_CTX *ctx)
{
    CK_MECHANISM_TYPE m[2];

    rsa_mechanisms(ctx, ctx->pad, m);
    memset(&ctx->mech, 0, sizeof(ctx->mech));
    ctx->combined = 0;
    if (ctx->pad == RSA_PKCS1_PSS_PADDING) {
        const TK_SIG_DIGEST *mgf1 = ctx->mgf1 != NULL ? ctx->mgf1 : ctx->digest;
        int slen;

        if (!pss_saltlen(ctx, &slen))
            return 0;
        /* PKCS#11 v2.40 2.1.14: the same parameters for the raw and combined mechanisms. */
        ctx->pss.hashAlg = ctx->digest->hash;
        ctx->pss.mgf = mgf1->mgf1;
        ctx->pss.sLen = (CK_ULONG)slen;
        ctx->mech.pParameter = &ctx->pss;
        ctx->mech.ulParameterLen = sizeof(ctx->pss);
    }
    if (tk_key_can_use_mechanism(ctx->key, m[0], CKF_SIGN)) {
        ctx->mech.mechanism = m[0];
    } else if (m[1] != 0 && tk_key_can_use_mechanism(ctx->key, m[1], CKF_SIGN)) {
        ctx->mech.mechanism = m[1];
        ctx->combined = 1;
    } else {
        tk_sig_raise_no_mechanism(ctx->provctx, ctx->key, "signing", m[0], m[1]);
        /* Only when the other padding cannot sign the digest either. */
        if (!rsa_padding_usable(ctx, ctx->pad == RSA_PKCS1_PSS_PADDING ? RSA_PKCS1_PADDING
                                                                       : RSA_PKCS1_PSS_PADDING))
            tk_sig_hint_sign_message(ctx, rsa_combined(ctx->digest != NULL ? ctx->digest
                                                       : tk_sig_digest_by_nid(NID_sha256),
                                                       ctx->pad));
        if (rsa_plan_later(ctx)) /* here: a signature while still waiting for PSS */
            TK_RAISE(ctx->provctx, TK_R_UNSUPPORTED_MECHANISM, "%s signs with PSS only: ask for "
                     "the PSS padding (EVP_PKEY_CTX_set_rsa_padding, -sigopt "
                     "rsa_padding_mode:pss)", ctx->key->uri != NULL ? ctx->key->uri : "the key");
        return 0;
    }
    return 1;
}

static int rsa_sign(TK_SIG_CTX *ctx, const unsigned char *in, size_t inlen,
                    unsigned char *sig, size_t *siglen, size_t sigsize)
{
    unsigned char buf[32 + EVP_MAX_MD_SIZE];
    const unsigned char *tbs = in;
    size_t tbslen = inlen, outlen = sigsize, k = (size_t)(ctx->key->bits + 7) / 8;

    if (!ctx->combined && ctx->pad == RSA_PKCS1_PADDING) {
        if (ctx->digest != NULL) {
            /* EMSA-PKCS1-v1_5 steps 2-3 (RFC 8017 9.2); CKM_RSA_PKCS adds the padding. */
            memcpy(buf, ctx->digest->digest_info, ctx->digest->digest_info_len);
            memcpy(buf + ctx->digest->digest_info_len, in, inlen);
            tbs = buf;
            tbslen = ctx->digest->digest_info_len + inlen;
        } else if (inlen > k - 11) {
            /* RFC 8017 7.2.1 (the same block-type-1 bound as OpenSSL's raw signing) */
            TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "%zu bytes are too many for PKCS#1 v1.5 "
                     "with a %d-bit key (at most %zu)", inlen, ctx->key->bits, k - 11);
            return 0;
        }
    }
    if (!tk_sig_token_sign(ctx, tbs, tbslen, sig, &outlen))
        return 0;
    *siglen = outlen;
    return 1;
}

static int rsa_verify_setup(TK_SIG_CTX *ctx, EVP_PKEY_CTX *pctx)
{
    OSSL_PARAM params[5], *p = params;
    int pad = ctx->pad, saltlen = ctx->saltlen;

    *p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PAD_MODE, &pad);
    if (ctx->md != NULL)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST,
                                                (char *)EVP_MD_get0_name(ctx->md), 0);
    if (pad == RSA_PKCS1_PSS_PADDING) {
        *p++ = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &saltlen);
        if (ctx->mgf1_md != NULL)
            *p++ = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST,
                                                    (char *)EVP_MD_get0_name(ctx->mgf1_md), 0);
    }
    *p = OSSL_PARAM_construct_end();
    return EVP_PKEY_CTX_set_params(pctx, params) == 1;
}

/*
 * RSASSA-PSS-params (RFC 4055 section 3.1). Values equal to the DEFAULTs
 * (sha1, mgf1SHA1, salt 20, trailer 1) are left out, as DER requires; the
 * hash identifiers carry NULL parameters, as RFC 4055's sha256Identifier.
 */
static ASN1_STRING *pss_params_der(TK_SIG_CTX *ctx, int slen)
{
    RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
    const TK_SIG_DIGEST *mgf1 = ctx->mgf1 != NULL ? ctx->mgf1 : ctx->digest;
    X509_ALGOR *mgf1_hash = NULL;
    ASN1_STRING *mgf1_der = NULL, *der = NULL;

    if (pss == NULL)
        return NULL;
    if (ctx->digest->nid != NID_sha1
        && ((pss->hashAlgorithm = X509_ALGOR_new()) == NULL
            || !X509_ALGOR_set0(pss->hashAlgorithm, OBJ_nid2obj(ctx->digest->nid), V_ASN1_NULL, NULL)))
        goto end;
    if (mgf1->nid != NID_sha1) {
        if ((mgf1_hash = X509_ALGOR_new()) == NULL
            || !X509_ALGOR_set0(mgf1_hash, OBJ_nid2obj(mgf1->nid), V_ASN1_NULL, NULL)
            || (mgf1_der = ASN1_item_pack(mgf1_hash, ASN1_ITEM_rptr(X509_ALGOR), NULL)) == NULL
            || (pss->maskGenAlgorithm = X509_ALGOR_new()) == NULL
            || !X509_ALGOR_set0(pss->maskGenAlgorithm, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE,
                                mgf1_der))
            goto end;
        mgf1_der = NULL; /* owned by maskGenAlgorithm now */
    }
    if (slen != 20
        && ((pss->saltLength = ASN1_INTEGER_new()) == NULL || !ASN1_INTEGER_set(pss->saltLength, slen)))
        goto end;
    der = ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), NULL);
end:
    ASN1_STRING_free(mgf1_der);
    X509_ALGOR_free(mgf1_hash);
    RSA_PSS_PARAMS_free(pss);
    return der;
}

/* sha256WithRSAEncryption (NULL parameters, RFC 8017 A.2.4) or RSASSA-PSS with its parameters. */
static int rsa_algorithm_id(TK_SIG_CTX *ctx, OSSL_PARAM *p)
{
    X509_ALGOR *alg;
    int ok = 0, sigid, slen;

    if (ctx->digest == NULL)
        return 1; /* raw PKCS#1 input: no AlgorithmIdentifier names that */
    if ((alg = X509_ALGOR_new()) == NULL)
        goto end;
    if (ctx->pad == RSA_PKCS1_PSS_PADDING) {
        ASN1_STRING *params;

        if (!pss_saltlen(ctx, &slen))
            goto end;
        if ((params = pss_params_der(ctx, slen)) == NULL)
            goto end;
        if (!X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, params)) {
            ASN1_STRING_free(params);
            goto end;
        }
    } else if (!OBJ_find_sigid_by_algs(&sigid, ctx->digest->nid, NID_rsaEncryption)
               || !X509_ALGOR_set0(alg, OBJ_nid2obj(sigid), V_ASN1_NULL, NULL)) {
        goto end;
    }
    ok = tk_sig_set_algor_param(p, alg);
end:
    X509_ALGOR_free(alg);
    if (!ok)
        TK_RAISE(ctx->provctx, TK_R_OPERATION_FAILED, "cannot encode the RSA signature's "
                 "AlgorithmIdentifier");
    return ok;
}

/* An int parameter as asked: the number, or its name when the caller wants a string. */
static int set_int_or_name(OSSL_PARAM *p, int v, const NAMED_INT *names, size_t n)
{
    if (p->data_type != OSSL_PARAM_UTF8_STRING)
        return OSSL_PARAM_set_int(p, v);
    for (size_t i = 0; i < n; i++)
        if (names[i].id == v)
            return OSSL_PARAM_set_utf8_string(p, names[i].name);
    {
        char num[16];

        snprintf(num, sizeof(num), "%d", v);
        return OSSL_PARAM_set_utf8_string(p, num);
    }
}

static int tk_rsa_sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    TK_SIG_CTX *ctx = vctx;
    const EVP_MD *mgf1 = ctx->mgf1_md != NULL ? ctx->mgf1_md : ctx->md;
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL
        && !rsa_algorithm_id(ctx, p))
        return 0;
    if (((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL
         && !set_int_or_name(p, ctx->pad, pad_modes, sizeof(pad_modes) / sizeof(pad_modes[0])))
        || ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL
            && !OSSL_PARAM_set_utf8_string(p, ctx->md != NULL ? EVP_MD_get0_name(ctx->md) : ""))
        || ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL
            && !set_int_or_name(p, ctx->saltlen, salt_names,
                                sizeof(salt_names) / sizeof(salt_names[0])))
        || ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL
            && !OSSL_PARAM_set_utf8_string(p, mgf1 != NULL ? EVP_MD_get0_name(mgf1) : ""))) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "RSA signature parameter of the wrong type");
        return 0;
    }
    return 1;
}

static const OSSL_PARAM rsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_rsa_sig_gettable_ctx_params(void *vctx, void *provctx)
{
    return rsa_gettable;
}

static const OSSL_PARAM rsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
    OSSL_PARAM_END
};

/* Once EVP_DigestSign* started, the digest is fixed: don't offer it. */
static const OSSL_PARAM *tk_rsa_sig_settable_ctx_params(void *vctx, void *provctx)
{
    const TK_SIG_CTX *ctx = vctx;

    return ctx != NULL && ctx->md_locked ? rsa_settable + 2 : rsa_settable;
}

static const TK_SIG_OPS rsa_ops = {
    TK_KEY_RSA, "RSA", rsa_reset, rsa_set_params, rsa_plan, rsa_plan_later, rsa_sign,
    rsa_verify_setup,
};

static void *tk_rsa_sig_newctx(void *provctx, const char *propq)
{
    return tk_sig_newctx(provctx, propq, &rsa_ops);
}

const OSSL_DISPATCH tk_rsa_signature_functions[] = {
    TK_SIG_DIGEST_DISPATCH(tk_rsa_sig_newctx, tk_rsa_sig_get_ctx_params, tk_rsa_sig_gettable_ctx_params,
                           tk_rsa_sig_settable_ctx_params),
};
