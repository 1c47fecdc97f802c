/*
 * Private-key operations: C_SignInit + C_Sign and C_DecryptInit + C_Decrypt.
 * The caller passes an output buffer of the key's maximum size, so one
 * single-part call does the work (no length query round trip).
 */
#include "p11_internal.h"

/*
 * C_xInit, a context login when the key wants one, then the single-part
 * C_x: signing and decryption differ only in which two functions they call.
 */
typedef struct {
    TK_P11_FN init_fn, op_fn;
    CK_RV (*init)(CK_SESSION_HANDLE, CK_MECHANISM_PTR, CK_OBJECT_HANDLE);
    CK_RV (*op)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR);
} SINGLE_PART;

static CK_RV single_part(TK_P11_SESSION *s, const SINGLE_PART *f, CK_MECHANISM *mech,
                         CK_OBJECT_HANDLE key, const unsigned char *in, CK_ULONG inlen,
                         unsigned char *out, CK_ULONG *outlen, const TK_P11_PIN_GETTER *ctx_pin)
{
    CK_ULONG cap = *outlen;
    CK_RV rv;

    rv = TK_P11_ON(s, f->init_fn, f->init(s->handle, mech, key), "session=%lu, %s, key=%lu",
                   (unsigned long)s->handle, tk_p11_mech_name(mech->mechanism),
                   (unsigned long)key);
    if (rv != CKR_OK)
        return rv;
    /*
     * PKCS#11 v2.40 4.9: CKA_ALWAYS_AUTHENTICATE needs a login per operation.
     * When it fails, or C_Sign answers CKR_BUFFER_TOO_SMALL, the operation
     * stays active and would poison the session for its next user; PKCS#11
     * 2.40 cannot cancel it, so the session is closed instead of pooled.
     */
    if (ctx_pin != NULL) {
        rv = tk_p11_login_context(s, ctx_pin);
        if (rv != CKR_OK) {
            tk_p11_session_drop(s);
            return rv;
        }
    }
    rv = TK_P11_ON(s, f->op_fn, f->op(s->handle, (CK_BYTE *)in, inlen, out, outlen),
                   "session=%lu, %lu bytes in, %lu out", (unsigned long)s->handle,
                   (unsigned long)inlen, (unsigned long)*outlen);
    if (rv == CKR_BUFFER_TOO_SMALL)
        tk_p11_session_drop(s);
    /* A length past the buffer: the module's bug, and no caller may read that far. */
    if (rv == CKR_OK && *outlen > cap)
        rv = TK_CKR_OUTPUT_LENGTH;
    return rv;
}

CK_RV tk_p11_sign(TK_P11_SESSION *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                  const unsigned char *in, CK_ULONG inlen,
                  unsigned char *sig, CK_ULONG *siglen,
                  const TK_P11_PIN_GETTER *ctx_pin)
{
    CK_FUNCTION_LIST *fl = s->token->module->fl;
    const SINGLE_PART f = { TK_FN_C_SignInit, TK_FN_C_Sign, fl->C_SignInit, fl->C_Sign };

    return single_part(s, &f, mech, key, in, inlen, sig, siglen, ctx_pin);
}

CK_RV tk_p11_decrypt(TK_P11_SESSION *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                     const unsigned char *in, CK_ULONG inlen,
                     unsigned char *out, CK_ULONG *outlen,
                     const TK_P11_PIN_GETTER *ctx_pin)
{
    CK_FUNCTION_LIST *fl = s->token->module->fl;
    const SINGLE_PART f = { TK_FN_C_DecryptInit, TK_FN_C_Decrypt, fl->C_DecryptInit,
                            fl->C_Decrypt };

    return single_part(s, &f, mech, key, in, inlen, out, outlen, ctx_pin);
}
