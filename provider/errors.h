/*
 * tokenkey's own reason codes, registered with OpenSSL through
 * get_reason_strings, so `openssl` and applications print text that says
 * what to do. Specifics (the URI, the path, the CKR_ name) go in the error
 * data via TK_RAISE's format.
 */
#ifndef TK_ERRORS_H
#define TK_ERRORS_H

#include <openssl/core.h>
#include <p11-kit/pkcs11.h>

struct tk_provctx;

enum {
    TK_R_NO_MODULE = 1,
    TK_R_MODULE_NOT_FOUND,
    TK_R_MODULE_LOAD_FAILED,
    TK_R_MODULE_INIT_FAILED,
    TK_R_BAD_CONFIG,
    TK_R_BAD_URI,
    TK_R_TOKEN_NOT_FOUND,
    TK_R_OBJECT_NOT_FOUND,
    TK_R_OBJECT_AMBIGUOUS,
    TK_R_PIN_UNAVAILABLE,
    TK_R_PIN_FILE,
    TK_R_PIN_INCORRECT,
    TK_R_PIN_LOCKED,
    TK_R_PIN_FINAL_TRY,
    TK_R_PIN_NOT_RETRIED,
    TK_R_TOKEN_ABSENT,
    TK_R_PKCS11_FAILED,
    TK_R_PRIVATE_EXPORT_REFUSED,
    TK_R_UNSUPPORTED_KEY_TYPE,
    TK_R_UNSUPPORTED_MECHANISM,
    TK_R_BAD_KEY_REFERENCE,
    TK_R_BAD_ARGUMENT,
    TK_R_OUT_OF_MEMORY,
    TK_R_KEY_MISMATCH,
    TK_R_OPERATION_FAILED,
    TK_R_PIN_SOURCE_FAILED,
    TK_R_NO_RANDOM,
    TK_R_TOKENS_AMBIGUOUS,
    TK_R_TOKEN_CHANGED,
    TK_R_KEY_REPLACED,
    TK_R_ID_SHARED,
    TK_R_PUBLIC_KEY_ONLY,
};

/* The table handed to OpenSSL (provider.c). */
extern const OSSL_ITEM tk_reason_strings[];

#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
void tk_raise_at(const struct tk_provctx *ctx, const char *file, int line, const char *func,
                 int reason, const char *fmt, ...);

/* Raise exactly one error; ctx may be NULL (then it goes to OpenSSL directly). */
#define TK_RAISE(ctx, reason, ...) \
    tk_raise_at(ctx, __FILE__, __LINE__, __func__, reason, __VA_ARGS__)

/*
 * Raise the error that fits a PKCS#11 result: a wrong PIN, a locked PIN, a
 * missing token... each gets its own reason; anything else is
 * TK_R_PKCS11_FAILED. what says what we were doing ("signing with <uri>").
 * The data names a token's CKR_ code; our own TK_CKR_ codes are internal,
 * so the data says in words what happened instead.
 */
#define TK_RAISE_RV(ctx, rv, what) \
    tk_raise_rv_at(ctx, __FILE__, __LINE__, __func__, rv, what)
void tk_raise_rv_at(const struct tk_provctx *ctx, const char *file, int line, const char *func,
                    CK_RV rv, const char *what);

#endif
