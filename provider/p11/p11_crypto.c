/*
 * Private-key operations: C_SignInit + C_Sign and C_DecryptInit + C_Decrypt.
 * The caller passes an output buffer of the key's maximum size, so one
 * single-part call does the work (no length query round trip).
 */
#include "p11_internal.h"

/*
 * An operation left active (context login failed, or the module reported
 * CKR_BUFFER_TOO_SMALL) poisons the session for the next caller; PKCS#11
 * 2.40 has no way to cancel it, so the session is closed instead of pooled.
 */
static void drop_session(TK_P11_SESSION *s)
{
    tk_p11_session_close(s->token, s->handle);
    s->handle = CK_INVALID_HANDLE;
}

CK_RV tk_p11_sign(TK_P11_SESSION *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                  const unsigned char *in, CK_ULONG inlen,
                  unsigned char *sig, CK_ULONG *siglen,
                  const TK_P11_PIN_GETTER *ctx_pin)
{
    CK_FUNCTION_LIST *fl = s->token->module->fl;
    CK_RV rv;

    rv = TK_P11_TRACED(TK_FN_C_SignInit, fl->C_SignInit(s->handle, mech, key),
                       "session=%lu, %s, key=%lu", (unsigned long)s->handle,
                       tk_p11_mech_name(mech->mechanism), (unsigned long)key);
    if (rv != CKR_OK)
        return rv;
    /* PKCS#11 v2.40 4.9: CKA_ALWAYS_AUTHENTICATE needs a login per operation. */
    if (ctx_pin != NULL) {
        rv = tk_p11_login_context(s, ctx_pin);
        if (rv != CKR_OK) {
            drop_session(s);
            return rv;
        }
    }
    rv = TK_P11_TRACED(TK_FN_C_Sign, fl->C_Sign(s->handle, (CK_BYTE *)in, inlen, sig, siglen),
                       "session=%lu, %lu bytes in, %lu out", (unsigned long)s->handle,
                       (unsigned long)inlen, (unsigned long)*siglen);
    if (rv == CKR_BUFFER_TOO_SMALL)
        drop_session(s);
    return rv;
}

CK_RV tk_p11_decrypt(TK_P11_SESSION *s, CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                     const unsigned char *in, CK_ULONG inlen,
                     unsigned char *out, CK_ULONG *outlen,
                     const TK_P11_PIN_GETTER *ctx_pin)
{
    CK_FUNCTION_LIST *fl = s->token->module->fl;
    CK_RV rv;

    rv = TK_P11_TRACED(TK_FN_C_DecryptInit, fl->C_DecryptInit(s->handle, mech, key),
                       "session=%lu, %s, key=%lu", (unsigned long)s->handle,
                       tk_p11_mech_name(mech->mechanism), (unsigned long)key);
    if (rv != CKR_OK)
        return rv;
    if (ctx_pin != NULL) {
        rv = tk_p11_login_context(s, ctx_pin);
        if (rv != CKR_OK) {
            drop_session(s);
            return rv;
        }
    }
    rv = TK_P11_TRACED(TK_FN_C_Decrypt, fl->C_Decrypt(s->handle, (CK_BYTE *)in, inlen, out, outlen),
                       "session=%lu, %lu bytes in", (unsigned long)s->handle, (unsigned long)inlen);
    if (rv == CKR_BUFFER_TOO_SMALL)
        drop_session(s);
    return rv;
}
