/*
 * The token calls of the signature code and what is said when they fail:
 * which token lacks which mechanism, which parameters a token refused,
 * and nothing of what the module itself left on OpenSSL's error queue.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "errors.h"
#include "signature.h"

const char *tk_sig_token_label(const TK_KEY *k, char *buf, size_t cap)
{
    const CK_TOKEN_INFO *ti = k->token != NULL ? tk_p11_token_cached_info(k->token) : NULL;
    int n = ti != NULL ? tk_p11_text_len(ti->label, sizeof(ti->label)) : 0;

    snprintf(buf, cap, "%.*s", n, ti != NULL ? (const char *)ti->label : "");
    return buf;
}

/* "CKM_A, CKM_B" for a message; "..." at the end when cut short. */
static void mech_list(const CK_MECHANISM_TYPE *m, size_t n, char *buf, size_t cap)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++) {
        if (i > 0)
            OPENSSL_strlcat(buf, ", ", cap);
        len = OPENSSL_strlcat(buf, tk_p11_mech_name(m[i]), cap);
    }
    if (len >= cap && cap > 4)
        memcpy(buf + cap - 4, "...", 4);
}

int tk_sig_mechanisms_known(TK_PROVCTX *pc, const TK_KEY *k)
{
    CK_RV mrv = k->token != NULL ? tk_p11_mechanisms_read(k->token) : CKR_OK;
    char label[40], what[96];

    if (mrv == CKR_OK)
        return 1;
    /* Say why, not that a mechanism is missing. */
    snprintf(what, sizeof(what), "reading the mechanisms of token '%s'",
             tk_sig_token_label(k, label, sizeof(label)));
    TK_RAISE_RV(pc, mrv, what);
    return 0;
}

void tk_sig_raise_no_mechanism(TK_PROVCTX *pc, const TK_KEY *k, const char *purpose,
                               CK_MECHANISM_TYPE first, CK_MECHANISM_TYPE second)
{
    char label[40], why[384] = "", allowed[256];
    CK_MECHANISM_TYPE asked[2] = { first, second };
    int key_refuses = 0;

    tk_sig_token_label(k, label, sizeof(label));
    for (size_t i = 0; i < 2; i++)
        key_refuses |= asked[i] != 0 && !tk_key_allows_mechanism(k, asked[i]);
    if (key_refuses) {
        /* Each mechanism with its reason: the key's CKA_ALLOWED_MECHANISMS, or the token. */
        mech_list(k->allowed_mechs, k->n_allowed_mechs, allowed, sizeof(allowed));
        for (size_t i = 0; i < 2 && asked[i] != 0; i++) {
            OPENSSL_strlcat(why, i > 0 ? ", " : "", sizeof(why));
            OPENSSL_strlcat(why, tk_p11_mech_name(asked[i]), sizeof(why));
            OPENSSL_strlcat(why, tk_key_allows_mechanism(k, asked[i]) ? " is not supported by "
                                 "the token" : " is not among them", sizeof(why));
        }
        TK_RAISE(pc, TK_R_UNSUPPORTED_MECHANISM, "%s on token '%s' cannot be used for %s: its "
                 "CKA_ALLOWED_MECHANISMS lists %s; %s. Choose parameters (padding, digest) that "
                 "an allowed mechanism fits", k->uri != NULL ? k->uri : "the key", label, purpose,
                 allowed, why);
        return;
    }
    if (second != 0) {
        char firstname[64];

        /* tk_p11_mech_name's buffer is per thread: copy before the second call. */
        snprintf(firstname, sizeof(firstname), "%s", tk_p11_mech_name(first));
        TK_RAISE(pc, TK_R_UNSUPPORTED_MECHANISM, "token '%s' supports neither %s nor %s for %s",
                 label, firstname, tk_p11_mech_name(second), purpose);
    } else {
        TK_RAISE(pc, TK_R_UNSUPPORTED_MECHANISM, "token '%s' does not support %s for %s", label,
                 tk_p11_mech_name(first), purpose);
    }
}

void tk_sig_hint_sign_message(TK_SIG_CTX *ctx, CK_MECHANISM_TYPE combined)
{
    if (ctx->op != TK_SIG_OP_SIGN || combined == 0
        || !tk_key_can_use_mechanism(ctx->key, combined, CKF_SIGN))
        return;
    TK_RAISE(ctx->provctx, TK_R_UNSUPPORTED_MECHANISM, "%s signs only messages the token hashes "
             "itself (%s): sign the message, not its digest (EVP_DigestSign, openssl pkeyutl "
             "-rawin)", ctx->key->uri != NULL ? ctx->key->uri : "the key",
             tk_p11_mech_name(combined));
}

int tk_sig_rv_refused(CK_RV rv)
{
    return rv == CKR_MECHANISM_INVALID || rv == CKR_MECHANISM_PARAM_INVALID
           || rv == CKR_ARGUMENTS_BAD;
}

int tk_sig_end_token_call(CK_RV rv)
{
    /*
     * Modules built on libcrypto (SoftHSM2) leave their own errors on this
     * thread's queue: ours is the one the application should see. A PIN
     * source that gave no PIN (on a login the layer redid), and a key whose
     * token was swapped (key.c), raised the one error that says why: keep
     * it, and nothing more.
     */
    if (rv == TK_CKR_PIN_UNAVAILABLE || rv == TK_CKR_PIN_SOURCE_FAILED
        || rv == TK_CKR_TOKEN_CHANGED) {
        ERR_clear_last_mark();
        return 1;
    }
    ERR_pop_to_mark();
    return rv == CKR_OK;
}

int tk_sig_token_sign(TK_SIG_CTX *ctx, const unsigned char *in, size_t inlen,
                      unsigned char *out, size_t *outlen)
{
    char what[512], label[40];
    CK_RV rv;

    ERR_set_mark();
    rv = tk_key_sign(ctx->key, &ctx->mech, in, inlen, out, outlen);
    if (tk_sig_end_token_call(rv))
        return rv == CKR_OK;
    /*
     * A token may list a mechanism yet refuse some of its parameters
     * (SoftHSM2 2.6.1: PSS only with MGF1 over the message digest): say
     * which, so the user can pick parameters this token takes.
     */
    if (tk_sig_rv_refused(rv) && ctx->mech.pParameter == &ctx->pss) {
        TK_RAISE(ctx->provctx, TK_R_UNSUPPORTED_MECHANISM, "token '%s' refused %s with hash %s, "
                 "MGF1 %s, salt %lu (%s)", tk_sig_token_label(ctx->key, label, sizeof(label)),
                 tk_p11_mech_name(ctx->mech.mechanism), ctx->digest->name,
                 (ctx->mgf1 != NULL ? ctx->mgf1 : ctx->digest)->name,
                 (unsigned long)ctx->pss.sLen, tk_p11_rv_name(rv));
        return 0;
    }
    snprintf(what, sizeof(what), "signing with %s (%s)", ctx->key->uri != NULL ? ctx->key->uri : "",
             tk_p11_mech_name(ctx->mech.mechanism));
    TK_RAISE_RV(ctx->provctx, rv, what);
    return 0;
}
