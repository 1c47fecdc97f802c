/*
 * RSA decryption with token keys (OSSL_OP_ASYM_CIPHER): PKCS#1 v1.5
 * (CKM_RSA_PKCS, RFC 8017 7.2) and OAEP (CKM_RSA_PKCS_OAEP, RFC 8017 7.1)
 * with OpenSSL 3.0's parameters: "pad-mode", "digest" (the OAEP hash),
 * "mgf1-digest", "oaep-label". Padding is checked on the token; we pass
 * on its verdict (CKR_ENCRYPTED_DATA_INVALID) without detail of our own.
 *
 * Encryption needs no secret: it runs in software with the public half.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "algorithms.h"
#include "errors.h"
#include "signature.h"

static OSSL_FUNC_asym_cipher_newctx_fn tk_rsa_cipher_newctx;
static OSSL_FUNC_asym_cipher_freectx_fn tk_rsa_cipher_freectx;
static OSSL_FUNC_asym_cipher_dupctx_fn tk_rsa_cipher_dupctx;
static OSSL_FUNC_asym_cipher_decrypt_init_fn tk_rsa_decrypt_init;
static OSSL_FUNC_asym_cipher_decrypt_fn tk_rsa_decrypt;
static OSSL_FUNC_asym_cipher_encrypt_init_fn tk_rsa_encrypt_init;
static OSSL_FUNC_asym_cipher_encrypt_fn tk_rsa_encrypt;
static OSSL_FUNC_asym_cipher_get_ctx_params_fn tk_rsa_cipher_get_ctx_params;
static OSSL_FUNC_asym_cipher_gettable_ctx_params_fn tk_rsa_cipher_gettable_ctx_params;
static OSSL_FUNC_asym_cipher_set_ctx_params_fn tk_rsa_cipher_set_ctx_params;
static OSSL_FUNC_asym_cipher_settable_ctx_params_fn tk_rsa_cipher_settable_ctx_params;

typedef enum { CIPHER_NONE, CIPHER_DECRYPT, CIPHER_ENCRYPT } CIPHER_OP;

typedef struct {
    TK_PROVCTX *provctx;
    char *propq;
    TK_KEY *key;
    CIPHER_OP op;
    int pad;                        /* RSA_PKCS1_PADDING or RSA_PKCS1_OAEP_PADDING */
    EVP_MD *oaep_md, *mgf1_md;      /* NULL: SHA-1 (OAEP); the OAEP digest (MGF1) */
    const TK_SIG_DIGEST *oaep, *mgf1;
    unsigned char *label;
    size_t label_len;
    EVP_PKEY *pub;                  /* encryption */
} TK_RSA_CIPHER;

static void *tk_rsa_cipher_newctx(void *provctx)
{
    TK_RSA_CIPHER *ctx = OPENSSL_zalloc(sizeof(*ctx));

    if (ctx == NULL) {
        TK_RAISE(provctx, TK_R_OUT_OF_MEMORY, "RSA cipher context");
        return NULL;
    }
    ctx->provctx = provctx;
    ctx->pad = RSA_PKCS1_PADDING;
    return ctx;
}

static void clear_params(TK_RSA_CIPHER *ctx)
{
    EVP_MD_free(ctx->oaep_md);
    EVP_MD_free(ctx->mgf1_md);
    ctx->oaep_md = ctx->mgf1_md = NULL;
    ctx->oaep = ctx->mgf1 = NULL;
    OPENSSL_free(ctx->label);
    ctx->label = NULL;
    ctx->label_len = 0;
    ctx->pad = RSA_PKCS1_PADDING;
}

static void tk_rsa_cipher_freectx(void *vctx)
{
    TK_RSA_CIPHER *ctx = vctx;

    if (ctx == NULL)
        return;
    clear_params(ctx);
    EVP_PKEY_free(ctx->pub);
    tk_key_free(ctx->key);
    OPENSSL_free(ctx->propq);
    OPENSSL_free(ctx);
}

static void *tk_rsa_cipher_dupctx(void *vctx)
{
    TK_RSA_CIPHER *src = vctx, *dst = OPENSSL_memdup(src, sizeof(*src));

    if (dst == NULL)
        goto oom;
    dst->propq = NULL;
    dst->key = NULL;
    dst->oaep_md = dst->mgf1_md = NULL;
    dst->label = NULL;
    dst->pub = NULL;
    if (src->key != NULL)
        dst->key = tk_key_up_ref(src->key);
    if (src->oaep_md != NULL && EVP_MD_up_ref(src->oaep_md))
        dst->oaep_md = src->oaep_md;
    if (src->mgf1_md != NULL && EVP_MD_up_ref(src->mgf1_md))
        dst->mgf1_md = src->mgf1_md;
    if (src->pub != NULL && EVP_PKEY_up_ref(src->pub))
        dst->pub = src->pub;
    if (dst->oaep_md != src->oaep_md || dst->mgf1_md != src->mgf1_md || dst->pub != src->pub)
        goto oom;
    if ((src->propq != NULL && (dst->propq = OPENSSL_strdup(src->propq)) == NULL)
        || (src->label != NULL && (dst->label = OPENSSL_memdup(src->label, src->label_len)) == NULL))
        goto oom;
    return dst;
oom:
    tk_rsa_cipher_freectx(dst);
    TK_RAISE(src->provctx, TK_R_OUT_OF_MEMORY, "copying an RSA cipher context");
    return NULL;
}

static int get_pad(TK_RSA_CIPHER *ctx, const OSSL_PARAM *p, int *pad)
{
    const char *name = NULL;

    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        *pad = -1;
        if (OSSL_PARAM_get_utf8_string_ptr(p, &name)) {
            if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0)
                *pad = RSA_PKCS1_PADDING;
            else if (strcmp(name, OSSL_PKEY_RSA_PAD_MODE_OAEP) == 0)
                *pad = RSA_PKCS1_OAEP_PADDING;
        }
    } else if (!OSSL_PARAM_get_int(p, pad)) {
        *pad = -1;
    }
    if (*pad == RSA_PKCS1_PADDING || *pad == RSA_PKCS1_OAEP_PADDING)
        return 1;
    /* Not RSA_PKCS1_WITH_TLS_PADDING either: a TLS server's RSA key exchange is not supported. */
    if (name != NULL)
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "RSA padding '%s': token keys decrypt with "
                 "'pkcs1' or 'oaep'", name);
    else
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "RSA padding %d: token keys decrypt with "
                 "PKCS#1 v1.5 (%d) or OAEP (%d)", *pad, RSA_PKCS1_PADDING, RSA_PKCS1_OAEP_PADDING);
    return 0;
}

static int set_md(TK_RSA_CIPHER *ctx, const OSSL_PARAM *p, const OSSL_PARAM *props,
                  EVP_MD **md, const TK_SIG_DIGEST **d)
{
    const char *name = NULL, *propq = NULL;
    EVP_MD *m;
    const TK_SIG_DIGEST *entry;

    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name)
        || (props != NULL && !OSSL_PARAM_get_utf8_string_ptr(props, &propq))) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "'%s' must be a string", p->key);
        return 0;
    }
    if (!tk_sig_md_fetch(ctx->provctx, name, propq != NULL ? propq : ctx->propq, &m, &entry))
        return 0;
    EVP_MD_free(*md);
    *md = m;
    *d = entry;
    return 1;
}

static int tk_rsa_cipher_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    TK_RSA_CIPHER *ctx = vctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) != NULL) {
        int pad = ctx->pad;

        if (!get_pad(ctx, p, &pad))
            return 0;
        ctx->pad = pad;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) != NULL
        && !set_md(ctx, p, OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS),
                   &ctx->oaep_md, &ctx->oaep))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)) != NULL
        && !set_md(ctx, p, OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS),
                   &ctx->mgf1_md, &ctx->mgf1))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL)) != NULL) {
        void *label = NULL;
        size_t len = 0;

        if (!OSSL_PARAM_get_octet_string(p, &label, 0, &len)) {
            TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "'%s' must be an octet string", p->key);
            return 0;
        }
        OPENSSL_free(ctx->label);
        ctx->label = label;
        ctx->label_len = len;
    }
    return 1;
}

static int cipher_init(TK_RSA_CIPHER *ctx, TK_KEY *k, CIPHER_OP op, const OSSL_PARAM params[])
{
    ctx->op = CIPHER_NONE;
    if (k == NULL)
        k = ctx->key;
    if (k == NULL || k->type != TK_KEY_RSA) {
        TK_RAISE(ctx->provctx, TK_R_UNSUPPORTED_KEY_TYPE, "RSA encryption needs an RSA key");
        return 0;
    }
    if (!tk_sig_take_key(ctx->provctx, &ctx->key, &ctx->pub, k,
                         op == CIPHER_DECRYPT ? "decrypt" : NULL))
        return 0;
    clear_params(ctx);
    if (!tk_rsa_cipher_set_ctx_params(ctx, params))
        return 0;
    if (op == CIPHER_ENCRYPT && ctx->pub == NULL && !tk_sig_public_pkey(ctx->provctx, k, &ctx->pub))
        return 0;
    ctx->op = op;
    return 1;
}

static int tk_rsa_decrypt_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return cipher_init(vctx, provkey, CIPHER_DECRYPT, params);
}

static int tk_rsa_encrypt_init(void *vctx, void *provkey, const OSSL_PARAM params[])
{
    return cipher_init(vctx, provkey, CIPHER_ENCRYPT, params);
}

/* The mechanism for the current parameters; 0 after raising when the key cannot use it. */
static int mechanism(TK_RSA_CIPHER *ctx, CK_MECHANISM *mech, CK_RSA_PKCS_OAEP_PARAMS *oaep)
{
    memset(mech, 0, sizeof(*mech));
    if (ctx->pad == RSA_PKCS1_OAEP_PADDING) {
        const TK_SIG_DIGEST *hash = ctx->oaep != NULL ? ctx->oaep : tk_sig_digest_by_nid(NID_sha1);
        const TK_SIG_DIGEST *mgf1 = ctx->mgf1 != NULL ? ctx->mgf1 : hash;

        /* RFC 8017 7.1: the label is hashed; PKCS#11 v2.40 2.1.8 passes it as data. */
        oaep->hashAlg = hash->hash;
        oaep->mgf = mgf1->mgf1;
        oaep->source = CKZ_DATA_SPECIFIED;
        oaep->pSourceData = ctx->label;
        oaep->ulSourceDataLen = ctx->label_len;
        mech->mechanism = CKM_RSA_PKCS_OAEP;
        mech->pParameter = oaep;
        mech->ulParameterLen = sizeof(*oaep);
    } else {
        mech->mechanism = CKM_RSA_PKCS;
    }
    if (!tk_sig_mechanisms_known(ctx->provctx, ctx->key))
        return 0;
    if (!tk_key_can_use_mechanism(ctx->key, mech->mechanism, CKF_DECRYPT)) {
        tk_sig_raise_no_mechanism(ctx->provctx, ctx->key, "decryption", mech->mechanism, 0);
        return 0;
    }
    return 1;
}

static void raise_decrypt_failure(TK_RSA_CIPHER *ctx, CK_RV rv, CK_MECHANISM_TYPE mech)
{
    char what[512];

    if (tk_sig_rv_refused(rv) && mech == CKM_RSA_PKCS_OAEP) {
        const TK_SIG_DIGEST *hash = ctx->oaep != NULL ? ctx->oaep : tk_sig_digest_by_nid(NID_sha1);
        char label[40];

        /* Tokens differ in the OAEP parameters they take (SoftHSM2 2.6.1: SHA-1 only). */
        TK_RAISE(ctx->provctx, TK_R_UNSUPPORTED_MECHANISM, "token '%s' refused CKM_RSA_PKCS_OAEP "
                 "with hash %s, MGF1 %s, %zu-byte label (%s)",
                 tk_sig_token_label(ctx->key, label, sizeof(label)), hash->name,
                 (ctx->mgf1 != NULL ? ctx->mgf1 : hash)->name, ctx->label_len, tk_p11_rv_name(rv));
        return;
    }
    snprintf(what, sizeof(what), "decrypting with %s (%s)", ctx->key->uri != NULL ? ctx->key->uri : "",
             tk_p11_mech_name(mech));
    TK_RAISE_RV(ctx->provctx, rv, what);
}

static int tk_rsa_decrypt(void *vctx, unsigned char *out, size_t *outlen, size_t outsize,
                          const unsigned char *in, size_t inlen)
{
    TK_RSA_CIPHER *ctx = vctx;
    size_t k, len;
    unsigned char *buf, *padded = NULL;
    CK_MECHANISM mech;
    CK_RSA_PKCS_OAEP_PARAMS oaep;
    CK_RV rv;
    int ok;

    if (ctx->op != CIPHER_DECRYPT) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "RSA decryption not initialised");
        return 0;
    }
    k = (size_t)(ctx->key->bits + 7) / 8;
    if (out == NULL) {
        *outlen = k; /* the plaintext is never longer than the modulus */
        return 1;
    }
    /* PKCS#11 says CKR_ENCRYPTED_DATA_LEN_RANGE; SoftHSM2 says CKR_GENERAL_ERROR: say it here. */
    if (inlen > k) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "RSA ciphertext of %zu bytes for %s: an RSA-%d "
                 "ciphertext is %zu bytes", inlen, ctx->key->uri != NULL ? ctx->key->uri : "the key",
                 ctx->key->bits, k);
        return 0;
    }
    if (!mechanism(ctx, &mech, &oaep))
        return 0;
    /*
     * The token needs room for the modulus; a smaller caller buffer gets a
     * copy. A shorter ciphertext has its leading zero bytes left out, which
     * OpenSSL's own RSA takes (the same number): the token gets all k bytes.
     */
    buf = outsize >= k ? out : OPENSSL_malloc(k);
    if (buf == NULL || (inlen < k && (padded = OPENSSL_zalloc(k)) == NULL)) {
        if (buf != out)
            OPENSSL_free(buf);
        TK_RAISE(ctx->provctx, TK_R_OUT_OF_MEMORY, "RSA decryption");
        return 0;
    }
    if (padded != NULL) {
        if (inlen > 0)
            memcpy(padded + (k - inlen), in, inlen);
        in = padded;
        inlen = k;
    }
    len = k;
    ERR_set_mark();
    rv = tk_key_decrypt(ctx->key, &mech, in, inlen, buf, &len);
    OPENSSL_free(padded);
    if (!tk_sig_end_token_call(rv))
        raise_decrypt_failure(ctx, rv, mech.mechanism);
    ok = rv == CKR_OK;
    if (ok && len > outsize) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "output buffer of %zu bytes for %zu bytes of "
                 "plaintext", outsize, len);
        ok = 0;
    }
    if (ok) {
        if (buf != out)
            memcpy(out, buf, len);
        *outlen = len;
    }
    if (buf != out)
        OPENSSL_clear_free(buf, k);
    return ok;
}

static int tk_rsa_encrypt(void *vctx, unsigned char *out, size_t *outlen, size_t outsize,
                          const unsigned char *in, size_t inlen)
{
    TK_RSA_CIPHER *ctx = vctx;
    OSSL_PARAM params[5], *p = params;
    EVP_PKEY_CTX *pctx;
    int ok;

    if (ctx->op != CIPHER_ENCRYPT) {
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "RSA encryption not initialised");
        return 0;
    }
    *p++ = OSSL_PARAM_construct_int(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, &ctx->pad);
    if (ctx->pad == RSA_PKCS1_OAEP_PADDING) {
        if (ctx->oaep_md != NULL)
            *p++ = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST,
                                                    (char *)EVP_MD_get0_name(ctx->oaep_md), 0);
        if (ctx->mgf1_md != NULL)
            *p++ = OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST,
                                                    (char *)EVP_MD_get0_name(ctx->mgf1_md), 0);
        if (ctx->label != NULL)
            *p++ = OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL,
                                                     ctx->label, ctx->label_len);
    }
    *p = OSSL_PARAM_construct_end();
    *outlen = outsize;
    pctx = EVP_PKEY_CTX_new_from_pkey(ctx->provctx->libctx, ctx->pub, TK_SIG_PUBLIC_PROPQ);
    /* Failures raise their own errors in the provider that encrypts. */
    ok = pctx != NULL && EVP_PKEY_encrypt_init(pctx) == 1 && EVP_PKEY_CTX_set_params(pctx, params) == 1
         && EVP_PKEY_encrypt(pctx, out, outlen, in, inlen) == 1;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

static int tk_rsa_cipher_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    TK_RSA_CIPHER *ctx = vctx;
    const EVP_MD *oaep = ctx->oaep_md, *mgf1 = ctx->mgf1_md != NULL ? ctx->mgf1_md : ctx->oaep_md;
    OSSL_PARAM *p;
    int ok = 1;

    if ((p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_PAD_MODE)) != NULL) {
        if (p->data_type == OSSL_PARAM_UTF8_STRING)
            ok = OSSL_PARAM_set_utf8_string(p, ctx->pad == RSA_PKCS1_OAEP_PADDING
                                                   ? OSSL_PKEY_RSA_PAD_MODE_OAEP
                                                   : OSSL_PKEY_RSA_PAD_MODE_PKCSV15);
        else
            ok = OSSL_PARAM_set_int(p, ctx->pad);
    }
    if (ok && (p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST)) != NULL)
        ok = OSSL_PARAM_set_utf8_string(p, oaep != NULL ? EVP_MD_get0_name(oaep) : "SHA1");
    if (ok && (p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST)) != NULL)
        ok = OSSL_PARAM_set_utf8_string(p, mgf1 != NULL ? EVP_MD_get0_name(mgf1) : "SHA1");
    if (ok && (p = OSSL_PARAM_locate(params, OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL)) != NULL)
        ok = OSSL_PARAM_set_octet_ptr(p, ctx->label, ctx->label_len);
    if (!ok)
        TK_RAISE(ctx->provctx, TK_R_BAD_ARGUMENT, "RSA cipher parameter of the wrong type");
    return ok;
}

static const OSSL_PARAM cipher_gettable[] = {
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_octet_ptr(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_rsa_cipher_gettable_ctx_params(void *vctx, void *provctx)
{
    return cipher_gettable;
}

static const OSSL_PARAM cipher_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST_PROPS, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_ASYM_CIPHER_PARAM_MGF1_DIGEST_PROPS, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_rsa_cipher_settable_ctx_params(void *vctx, void *provctx)
{
    return cipher_settable;
}

const OSSL_DISPATCH tk_rsa_asym_cipher_functions[] = {
    { OSSL_FUNC_ASYM_CIPHER_NEWCTX, (void (*)(void))tk_rsa_cipher_newctx },
    { OSSL_FUNC_ASYM_CIPHER_FREECTX, (void (*)(void))tk_rsa_cipher_freectx },
    { OSSL_FUNC_ASYM_CIPHER_DUPCTX, (void (*)(void))tk_rsa_cipher_dupctx },
    { OSSL_FUNC_ASYM_CIPHER_DECRYPT_INIT, (void (*)(void))tk_rsa_decrypt_init },
    { OSSL_FUNC_ASYM_CIPHER_DECRYPT, (void (*)(void))tk_rsa_decrypt },
    { OSSL_FUNC_ASYM_CIPHER_ENCRYPT_INIT, (void (*)(void))tk_rsa_encrypt_init },
    { OSSL_FUNC_ASYM_CIPHER_ENCRYPT, (void (*)(void))tk_rsa_encrypt },
    { OSSL_FUNC_ASYM_CIPHER_GET_CTX_PARAMS, (void (*)(void))tk_rsa_cipher_get_ctx_params },
    { OSSL_FUNC_ASYM_CIPHER_GETTABLE_CTX_PARAMS, (void (*)(void))tk_rsa_cipher_gettable_ctx_params },
    { OSSL_FUNC_ASYM_CIPHER_SET_CTX_PARAMS, (void (*)(void))tk_rsa_cipher_set_ctx_params },
    { OSSL_FUNC_ASYM_CIPHER_SETTABLE_CTX_PARAMS, (void (*)(void))tk_rsa_cipher_settable_ctx_params },
    { 0, NULL }
};

const OSSL_ALGORITHM tk_asym_cipher_algorithms[] = {
    { "RSA:rsaEncryption:1.2.840.113549.1.1.1", "provider=" TK_PROV_NAME,
      tk_rsa_asym_cipher_functions, "RSA decryption with a token key (PKCS#1 v1.5, OAEP)" },
    { NULL, NULL, NULL, NULL }
};
