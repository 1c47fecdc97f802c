/*
 * Token administration: initialising a token and its user PIN. Used by the
 * SoftHSM2 test fixture (softhsm2-util reads PINs only from a terminal) and
 * available to the CLI. PINs come through getters and are wiped here.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "p11_internal.h"

#define TK_ADMIN_PIN_MAX 256

CK_RV tk_p11_init_token(TK_P11_MODULE *m, CK_SLOT_ID slot, const TK_P11_PIN_GETTER *so_pin,
                        const char *label)
{
    CK_UTF8CHAR padded[32];
    char pin[TK_ADMIN_PIN_MAX];
    size_t len = 0, label_len = strlen(label);
    CK_RV rv = tk_p11_module_ready(m);

    if (rv != CKR_OK)
        return rv;
    if (label_len > sizeof(padded))
        return CKR_ARGUMENTS_BAD;
    /* PKCS#11 v2.40 C_InitToken: 32 bytes, blank padded, not NUL terminated. */
    memset(padded, ' ', sizeof(padded));
    memcpy(padded, label, label_len);
    rv = so_pin->get(so_pin->arg, pin, sizeof(pin), &len);
    if (rv == CKR_OK)
        rv = TK_P11_TRACED(TK_FN_C_InitToken,
                           m->fl->C_InitToken(slot, (CK_UTF8CHAR *)pin, (CK_ULONG)len, padded),
                           "slot=%lu, label '%s'", (unsigned long)slot, label);
    OPENSSL_cleanse(pin, sizeof(pin));
    return rv;
}

CK_RV tk_p11_init_pin(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *so_pin,
                      const TK_P11_PIN_GETTER *user_pin)
{
    TK_P11_MODULE *m = t->module;
    CK_FUNCTION_LIST *fl = m->fl;
    unsigned long epoch;
    CK_SESSION_HANDLE h;
    char pin[TK_ADMIN_PIN_MAX];
    size_t len = 0;
    CK_RV rv = tk_p11_module_ready(m);

    if (rv != CKR_OK)
        return rv;
    epoch = tk_p11_module_epoch(m);
    rv = tk_p11_session_open(t, epoch, &h);
    if (rv != CKR_OK)
        return rv;
    rv = so_pin->get(so_pin->arg, pin, sizeof(pin), &len);
    if (rv == CKR_OK)
        rv = TK_P11_TRACED_IN(m, epoch, TK_FN_C_Login,
                              fl->C_Login(h, CKU_SO, (CK_UTF8CHAR *)pin, (CK_ULONG)len),
                              "session=%lu, SO, pin length %zu", (unsigned long)h, len);
    OPENSSL_cleanse(pin, sizeof(pin));
    if (rv == CKR_OK) {
        rv = user_pin->get(user_pin->arg, pin, sizeof(pin), &len);
        if (rv == CKR_OK)
            rv = TK_P11_TRACED_IN(m, epoch, TK_FN_C_InitPIN,
                                  fl->C_InitPIN(h, (CK_UTF8CHAR *)pin, (CK_ULONG)len),
                                  "session=%lu, pin length %zu", (unsigned long)h, len);
        OPENSSL_cleanse(pin, sizeof(pin));
        TK_P11_TRACED_IN(m, epoch, TK_FN_C_Logout, fl->C_Logout(h), "session=%lu",
                         (unsigned long)h);
    }
    tk_p11_session_close(t, h, epoch);
    return rv;
}
