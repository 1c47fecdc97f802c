/*
 * The signature context shared by RSA, ECDSA and Ed25519: its lifecycle,
 * the digest, the data of EVP_DigestSign* (hashed in software, or kept
 * for a combined mechanism), and verification with the public half in
 * another provider. The algorithm files (sig_rsa.c, sig_ecdsa.c,
 * sig_eddsa.c) supply the parameters, the mechanism and the token call.
 *
 * libcrypto 3.0 calls, among others:
 *   EVP_DigestSignFinal  - dupctx, then digest_sign_final on the copy
 *                          (so the original can go on: dupctx must copy
 *                          the running hash or the kept message);
 *   EVP_DigestSign       - digest_sign, first with sig == NULL for the
 *                          size (libssl does this for CertificateVerify),
 *                          which must leave the context untouched.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>

#include "algorithms.h"
#include "debug.h"
#include "errors.h"
#include "signature.h"

void *tk_sig_newctx(void *provctx, const char *propq, const TK_SIG_OPS *ops)
{
    TK_SIG_CTX *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL || (propq != NULL && (ctx->propq = OPENSSL_strdup(propq)) == NULL)) {
        OPENSSL_free(ctx);
        TK_RAISE(provctx, TK_R_OUT_OF_MEMORY, "%s signature context", ops->name);
        return NULL;
    }
    ctx->provctx = provctx;
    ctx->ops = ops;
    ops->reset(ctx);
    return ctx;
}

/* Forget the previous operation's digest, data and mechanism. */
static void clear_operation(TK_SIG_CTX *ctx)
{
    EVP_MD_free(ctx->md);
    EVP_MD_free(ctx->mgf1_md);
    ctx->md = ctx->mgf1_md = NULL;
    ctx->digest = ctx->mgf1 = NULL;
    ctx->md_locked = ctx->buffering = ctx->data_fed = ctx->combined = ctx->ready = 0;
    ctx->planning_later = 0;
    ctx->msg_len = 0;
    memset(&ctx->mech, 0, sizeof(ctx->mech));
    ctx->op = TK_SIG_OP_NONE;
}

void tk_sig_freectx(void *vctx)
{
    TK_SIG_CTX *ctx = vctx;

    if (ctx == NULL)
        return;
    clear_operation(ctx);
    EVP_MD_CTX_free(ctx->mdctx);
    OPENSSL_free(ctx->msg);
    EVP_PKEY_free(ctx->pub);
    tk_key_free(ctx->key);
    OPENSSL_free(ctx->propq);
    OPENSSL_free(ctx);
}

void *tk_sig_dupctx(void *vctx)
{
    TK_SIG_CTX *src = vctx, *dst = OPENSSL_memdup(src, sizeof(*src));

    if (dst == NULL)
        goto oom;
    /* Nothing owned is shared: take references or copies of each. */
    dst->propq = NULL;
    dst->key = NULL;
    dst->md = dst->mgf1_md = NULL;
    dst->mdctx = NULL;
    dst->msg = NULL;
    dst->pub = NULL;
    if (src->propq != NULL && (dst->propq = OPENSSL_strdup(src->propq)) == NULL)
        goto oom;
    if (src->key != NULL)
        dst->key = tk_key_up_ref(src->key);
    if (src->md != NULL && EVP_MD_up_ref(src->md))
        dst->md = src->md;
    if (src->mgf1_md != NULL && EVP_MD_up_ref(src->mgf1_md))
        dst->mgf1_md = src->mgf1_md;
    if (dst->md != src->md || dst->mgf1_md != src->mgf1_md)
        goto oom;
    if (src->mdctx != NULL
        && ((dst->mdctx = EVP_MD_CTX_new()) == NULL || !EVP_MD_CTX_copy_ex(dst->mdctx, src->mdctx)))
        goto oom;
    if (src->msg != NULL && (dst->msg = OPENSSL_memdup(src->msg, src->msg_cap)) == NULL)
        goto oom;
    if (src->pub != NULL && EVP_PKEY_up_ref(src->pub))
        dst->pub = src->pub;
    if (dst->pub != src->pub)
        goto oom;
    if (src->mech.pParameter == &src->pss)
        dst->mech.pParameter = &dst->pss;
    return dst;

oom:
    tk_sig_freectx(dst);
    TK_RAISE(src->provctx, TK_R_OUT_OF_MEMORY, "copying a %s signature context", src->ops->name);
    return NULL;
}

int tk_sig_set_digest(TK_SIG_CTX *ctx, const char *name, const char *props)
{
    EVP_MD *md = NULL;
    const TK_SIG_DIGEST *d = NULL;

    if (name != NULL
        && !tk_sig_md_fetch(ctx->provctx, name, props != NULL ? props : ctx->propq, &md, &d))
        return 0;
    EVP_MD_free(ctx->md);
    ctx->md = md;
    ctx->digest = d;
    return 1;
}

int tk_sig_set_digest_params(TK_SIG_CTX *ctx, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
    const OSSL_PARAM *pp = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PROPERTIES);
    const char *name = NULL, *props = NULL;

    if (p == NULL)
        return 1;
    if (ctx->md_locked) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "the digest of EVP_DigestSign/Verify is chosen "
                 "at init and cannot change afterwards");
        return 0;
    }
    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)
        || (pp != NULL && !OSSL_PARAM_get_utf8_string_ptr(pp, &props))) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "'%s' and '%s' must be strings",
                 OSSL_SIGNATURE_PARAM_DIGEST, OSSL_SIGNATURE_PARAM_PROPERTIES);
        return 0;
    }
    return tk_sig_set_digest(ctx, name, props);
}

/*
 * Decide what the token will be asked (sign operations), and set up the
 * data path of digest operations: a running hash, or a kept message when
 * the mechanism hashes on the token. Called at init and after parameters
 * change; never per update.
 */
static int prepare(TK_SIG_CTX *ctx)
{
    int signing = ctx->op == TK_SIG_OP_SIGN || ctx->op == TK_SIG_OP_DIGEST_SIGN;
    int buffering = 0;

    ctx->ready = ctx->planning_later = 0;
    if (signing) {
        /* One reading of the token's mechanisms for the whole choice, plan_later's and plan's. */
        if (!tk_sig_mechanisms_known(ctx->provctx, ctx->key))
            return 0;
        /* libssl asks for RSA-PSS only after EVP_DigestSignInit_ex: a PSS-only key waits for it. */
        if (ctx->ops->plan_later != NULL && !ctx->data_fed && ctx->ops->plan_later(ctx)) {
            ctx->planning_later = 1;
            return 1;
        }
        if (!ctx->ops->plan(ctx))
            return 0;
        buffering = ctx->op == TK_SIG_OP_DIGEST_SIGN && ctx->combined;
        TK_TRACE("%s: %s%s", ctx->key->uri != NULL ? ctx->key->uri : "key",
                 tk_p11_mech_name(ctx->mech.mechanism),
                 ctx->combined ? " over the message" : "");
    }
    if ((ctx->op == TK_SIG_OP_DIGEST_SIGN || ctx->op == TK_SIG_OP_DIGEST_VERIFY) && ctx->md != NULL) {
        if (ctx->data_fed) {
            if (buffering != ctx->buffering) {
                TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "the padding cannot change once data "
                         "was signed: this token hashes %s", buffering ? "on the token" : "in software");
                return 0;
            }
        } else {
            ctx->buffering = buffering;
            ctx->msg_len = 0;
            if (!buffering
                && ((ctx->mdctx == NULL && (ctx->mdctx = EVP_MD_CTX_new()) == NULL)
                    || !EVP_DigestInit_ex2(ctx->mdctx, ctx->md, NULL))) {
                TK_RAISE(ctx->provctx, TK_R_OPERATION_FAILED, "cannot start a %s digest",
                         ctx->digest->name);
                return 0;
            }
        }
    }
    ctx->ready = 1;
    return 1;
}

static int init(TK_SIG_CTX *ctx, void *provkey, TK_SIG_OP op, const char *mdname,
                const OSSL_PARAM params[])
{
    TK_KEY *k = provkey != NULL ? provkey : ctx->key;
    int signing = op == TK_SIG_OP_SIGN || op == TK_SIG_OP_DIGEST_SIGN;
    int digest_op = op == TK_SIG_OP_DIGEST_SIGN || op == TK_SIG_OP_DIGEST_VERIFY;

    clear_operation(ctx);
    if (k == NULL) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "%s: no key", ctx->ops->name);
        return 0;
    }
    if (k->type != ctx->ops->key_type) {
        TK_RAISE(ctx->provctx, TK_R_UNSUPPORTED_KEY_TYPE, "a %s key cannot make %s signatures",
                 tk_key_type_name(k->type), ctx->ops->name);
        return 0;
    }
    if (!tk_sig_take_key(ctx->provctx, &ctx->key, &ctx->pub, k, signing ? "sign" : NULL))
        return 0;
    ctx->ops->reset(ctx);
    ctx->op = op;
    if (digest_op && mdname != NULL && !tk_sig_set_digest(ctx, mdname, NULL))
        goto fail;
    if (!ctx->ops->set_params(ctx, params))
        goto fail;
    ctx->md_locked = digest_op;
    if (!signing && ctx->pub == NULL && !tk_sig_public_pkey(ctx->provctx, k, &ctx->pub))
        goto fail;
    if (!prepare(ctx))
        goto fail;
    return 1;

fail:
    ctx->op = TK_SIG_OP_NONE;
    return 0;
}

/* RSA and ECDSA hash with SHA-256 when the application names no digest. */
static const char *default_md(const TK_SIG_CTX *ctx, const char *mdname)
{
    if (mdname != NULL && *mdname != '\0')
        return mdname;
    return ctx->ops->key_type == TK_KEY_ED25519 ? NULL : "SHA2-256";
}

int tk_sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return init(vctx, provkey, TK_SIG_OP_SIGN, NULL, params);
}

int tk_sig_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return init(vctx, provkey, TK_SIG_OP_VERIFY, NULL, params);
}

int tk_sig_digest_sign_init(void *vctx, const char *mdname, void *provkey, const OSSL_PARAM params[])
{
    return init(vctx, provkey, TK_SIG_OP_DIGEST_SIGN, default_md(vctx, mdname), params);
}

int tk_sig_digest_verify_init(void *vctx, const char *mdname, void *provkey,
                              const OSSL_PARAM params[])
{
    return init(vctx, provkey, TK_SIG_OP_DIGEST_VERIFY, default_md(vctx, mdname), params);
}

static int check_op(TK_SIG_CTX *ctx, TK_SIG_OP op)
{
    if (ctx->op == op && ctx->ready)
        return 1;
    /* No parameters came that the key can sign with: plan says which mechanisms it lacks. */
    if (ctx->op == op && ctx->planning_later && !ctx->ops->plan(ctx))
        return 0;
    TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "%s: operation not initialised", ctx->ops->name);
    return 0;
}

/* The size query (sig == NULL), and the buffer check before any state is spent. */
static int sig_size(TK_SIG_CTX *ctx, unsigned char *sig, size_t *siglen, size_t sigsize, int *done)
{
    size_t max = (size_t)tk_key_max_signature_size(ctx->key);

    *done = sig == NULL;
    if (sig == NULL) {
        *siglen = max;
        return 1;
    }
    if (sigsize < max) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "signature buffer of %zu bytes: %s needs %zu",
                 sigsize, ctx->ops->name, max);
        return 0;
    }
    return 1;
}

int tk_sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                const unsigned char *tbs, size_t tbslen)
{
    TK_SIG_CTX *ctx = vctx;
    int done;

    if (!check_op(ctx, TK_SIG_OP_SIGN) || !sig_size(ctx, sig, siglen, sigsize, &done))
        return 0;
    if (done)
        return 1;
    if (ctx->md != NULL && tbslen != ctx->digest->size) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "%zu bytes to sign are not a %s digest (%zu)",
                 tbslen, ctx->digest->name, ctx->digest->size);
        return 0;
    }
    return ctx->ops->sign(ctx, tbs, tbslen, sig, siglen, sigsize);
}

static int keep(TK_SIG_CTX *ctx, const unsigned char *data, size_t len)
{
    if (len == 0)
        return 1;
    if (len > ctx->msg_cap - ctx->msg_len) {
        size_t cap = ctx->msg_cap > 0 ? ctx->msg_cap : 1024;
        unsigned char *bigger;

        while (cap - ctx->msg_len < len) {
            if (cap > SIZE_MAX / 2)
                goto oom;
            cap *= 2;
        }
        if ((bigger = OPENSSL_realloc(ctx->msg, cap)) == NULL)
            goto oom;
        ctx->msg = bigger;
        ctx->msg_cap = cap;
    }
    memcpy(ctx->msg + ctx->msg_len, data, len);
    ctx->msg_len += len;
    return 1;
oom:
    TK_RAISE(ctx->provctx, TK_R_OUT_OF_MEMORY, "keeping %zu bytes to sign", ctx->msg_len + len);
    return 0;
}

int tk_sig_digest_update(void *vctx, const unsigned char *data, size_t datalen)
{
    TK_SIG_CTX *ctx = vctx;

    if (ctx->op != TK_SIG_OP_DIGEST_VERIFY && !check_op(ctx, TK_SIG_OP_DIGEST_SIGN))
        return 0;
    if (ctx->md == NULL) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "%s signs in one go: use EVP_DigestSign",
                 ctx->ops->name);
        return 0;
    }
    ctx->data_fed = 1;
    if (ctx->buffering)
        return keep(ctx, data, datalen);
    if (!EVP_DigestUpdate(ctx->mdctx, data, datalen)) {
        TK_RAISE(ctx->provctx, TK_R_OPERATION_FAILED, "%s digest update", ctx->digest->name);
        return 0;
    }
    return 1;
}

/*
 * The data so far: the kept message, or the digest of it. The context is
 * ready for a new message afterwards, as after init.
 */
static int take_data(TK_SIG_CTX *ctx, unsigned char *dgst, const unsigned char **in, size_t *inlen)
{
    unsigned int dlen = 0;

    ctx->data_fed = 0;
    if (ctx->buffering) {
        *in = ctx->msg != NULL ? ctx->msg : dgst;
        *inlen = ctx->msg_len;
        ctx->msg_len = 0; /* the bytes stay valid until the next update */
        return 1;
    }
    if (!EVP_DigestFinal_ex(ctx->mdctx, dgst, &dlen) || !EVP_DigestInit_ex2(ctx->mdctx, NULL, NULL)) {
        TK_RAISE(ctx->provctx, TK_R_OPERATION_FAILED, "%s digest final", ctx->digest->name);
        return 0;
    }
    *in = dgst;
    *inlen = dlen;
    return 1;
}

int tk_sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    TK_SIG_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    const unsigned char *in;
    size_t inlen;
    int done;

    if (!check_op(ctx, TK_SIG_OP_DIGEST_SIGN) || !sig_size(ctx, sig, siglen, sigsize, &done))
        return 0;
    if (done)
        return 1;
    if (ctx->md == NULL) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "%s signs in one go: use EVP_DigestSign",
                 ctx->ops->name);
        return 0;
    }
    return take_data(ctx, dgst, &in, &inlen) && ctx->ops->sign(ctx, in, inlen, sig, siglen, sigsize);
}

int tk_sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                       const unsigned char *tbs, size_t tbslen)
{
    TK_SIG_CTX *ctx = vctx;
    int done;

    if (!check_op(ctx, TK_SIG_OP_DIGEST_SIGN) || !sig_size(ctx, sig, siglen, sigsize, &done))
        return 0;
    if (done)
        return 1;
    /* One-shot algorithms (Ed25519), or a combined mechanism with nothing kept yet. */
    if (ctx->md == NULL || (ctx->buffering && !ctx->data_fed))
        return ctx->ops->sign(ctx, tbs, tbslen, sig, siglen, sigsize);
    return tk_sig_digest_update(ctx, tbs, tbslen)
           && tk_sig_digest_sign_final(ctx, sig, siglen, sigsize);
}

/* Verify sig over tbs (a digest, or the raw input) with the public half in software. */
static int verify_public(TK_SIG_CTX *ctx, const unsigned char *sig, size_t siglen,
                         const unsigned char *tbs, size_t tbslen)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(ctx->provctx->libctx, ctx->pub,
                                                    TK_SIG_PUBLIC_PROPQ);
    int ok = pctx != NULL && EVP_PKEY_verify_init(pctx) == 1 && ctx->ops->verify_setup(ctx, pctx)
             && EVP_PKEY_verify(pctx, sig, siglen, tbs, tbslen) == 1;

    EVP_PKEY_CTX_free(pctx);
    return ok;
}

int tk_sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
                  const unsigned char *tbs, size_t tbslen)
{
    TK_SIG_CTX *ctx = vctx;

    return check_op(ctx, TK_SIG_OP_VERIFY) && verify_public(ctx, sig, siglen, tbs, tbslen);
}

int tk_sig_digest_verify_final(void *vctx, const unsigned char *sig, size_t siglen)
{
    TK_SIG_CTX *ctx = vctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];
    const unsigned char *in;
    size_t inlen;

    if (!check_op(ctx, TK_SIG_OP_DIGEST_VERIFY))
        return 0;
    if (ctx->md == NULL) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "%s verifies in one go: use EVP_DigestVerify",
                 ctx->ops->name);
        return 0;
    }
    return take_data(ctx, dgst, &in, &inlen) && verify_public(ctx, sig, siglen, in, inlen);
}

int tk_sig_digest_verify(void *vctx, const unsigned char *sig, size_t siglen,
                         const unsigned char *tbs, size_t tbslen)
{
    TK_SIG_CTX *ctx = vctx;
    EVP_MD_CTX *mctx;
    int ok;

    if (!check_op(ctx, TK_SIG_OP_DIGEST_VERIFY))
        return 0;
    if (ctx->md != NULL)
        return tk_sig_digest_update(ctx, tbs, tbslen) && tk_sig_digest_verify_final(ctx, sig, siglen);
    /* Ed25519 hashes inside the algorithm: verify the whole message there. */
    mctx = EVP_MD_CTX_new();
    ok = mctx != NULL
         && EVP_DigestVerifyInit_ex(mctx, NULL, NULL, ctx->provctx->libctx, TK_SIG_PUBLIC_PROPQ,
                                    ctx->pub, NULL) == 1
         && EVP_DigestVerify(mctx, sig, siglen, tbs, tbslen) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

/* What set_params may change: kept to be put back when parameters are refused. */
typedef struct {
    EVP_MD *md, *mgf1_md;          /* a reference each */
    const TK_SIG_DIGEST *digest, *mgf1;
    int pad, pad_set, saltlen;
} SAVED_PARAMS;

static void save_params(const TK_SIG_CTX *ctx, SAVED_PARAMS *s)
{
    *s = (SAVED_PARAMS){ ctx->md, ctx->mgf1_md, ctx->digest, ctx->mgf1, ctx->pad, ctx->pad_set,
                         ctx->saltlen };
    if (s->md != NULL)
        EVP_MD_up_ref(s->md);
    if (s->mgf1_md != NULL)
        EVP_MD_up_ref(s->mgf1_md);
}

static void restore_params(TK_SIG_CTX *ctx, const SAVED_PARAMS *s)
{
    EVP_MD_free(ctx->md);
    EVP_MD_free(ctx->mgf1_md);
    ctx->md = s->md;
    ctx->mgf1_md = s->mgf1_md;
    ctx->digest = s->digest;
    ctx->mgf1 = s->mgf1;
    ctx->pad = s->pad;
    ctx->pad_set = s->pad_set;
    ctx->saltlen = s->saltlen;
}

static void drop_saved_params(SAVED_PARAMS *s)
{
    EVP_MD_free(s->md);
    EVP_MD_free(s->mgf1_md);
}

/*
 * All or nothing, as OpenSSL's own signatures keep their values when a
 * parameter is refused: parameters that fail, or leave the operation no
 * way to sign, are undone, and the context signs as it would have before.
 */
int tk_sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    TK_SIG_CTX *ctx = vctx;
    SAVED_PARAMS saved;

    if (params == NULL || params[0].key == NULL)
        return 1;
    save_params(ctx, &saved);
    if (ctx->ops->set_params(ctx, params) && (ctx->op == TK_SIG_OP_NONE || prepare(ctx))) {
        drop_saved_params(&saved);
        return 1;
    }
    restore_params(ctx, &saved);
    if (ctx->op != TK_SIG_OP_NONE) {
        /* The same parameters as before: prepared as before; only the refusal is reported. */
        ERR_set_mark();
        if (!prepare(ctx))
            ctx->ready = ctx->planning_later = 0;
        ERR_pop_to_mark();
    }
    return 0;
}

int tk_sig_get_ctx_md_params(void *vctx, OSSL_PARAM params[])
{
    TK_SIG_CTX *ctx = vctx;

    if (ctx->mdctx == NULL || ctx->buffering) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "no digest running in software");
        return 0;
    }
    return EVP_MD_CTX_get_params(ctx->mdctx, params);
}

const OSSL_PARAM *tk_sig_gettable_ctx_md_params(void *vctx)
{
    TK_SIG_CTX *ctx = vctx;

    return ctx->md != NULL ? EVP_MD_gettable_ctx_params(ctx->md) : NULL;
}

int tk_sig_set_ctx_md_params(void *vctx, const OSSL_PARAM params[])
{
    TK_SIG_CTX *ctx = vctx;

    if (ctx->mdctx == NULL || ctx->buffering) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "no digest running in software");
        return 0;
    }
    return EVP_MD_CTX_set_params(ctx->mdctx, params);
}

const OSSL_PARAM *tk_sig_settable_ctx_md_params(void *vctx)
{
    TK_SIG_CTX *ctx = vctx;

    return ctx->md != NULL ? EVP_MD_settable_ctx_params(ctx->md) : NULL;
}

#define TK_PROPS "provider=" TK_PROV_NAME

const OSSL_ALGORITHM tk_signature_algorithms[] = {
    { "RSA:rsaEncryption:1.2.840.113549.1.1.1", TK_PROPS, tk_rsa_signature_functions,
      "RSA PKCS#1 v1.5 and PSS signatures with a token key" },
    { "ECDSA", TK_PROPS, tk_ecdsa_signature_functions, "ECDSA signatures with a token key" },
    { "ED25519:1.3.101.112", TK_PROPS, tk_ed25519_signature_functions,
      "Ed25519 signatures with a token key" },
    /* The names tokenkey's keys ask for (algorithms.h says why). */
    { TK_SIG_NAME_RSA, TK_PROPS, tk_rsa_signature_functions,
      "RSA PKCS#1 v1.5 and PSS signatures with a token key" },
    { TK_SIG_NAME_ECDSA, TK_PROPS, tk_ecdsa_signature_functions, "ECDSA signatures with a token key" },
    { TK_SIG_NAME_ED25519, TK_PROPS, tk_ed25519_signature_functions,
      "Ed25519 signatures with a token key" },
    { NULL, NULL, NULL, NULL }
};
