/* Reason strings and raising errors through the core (see errors.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>

#include "errors.h"
#include "p11/p11.h"
#include "provider.h"

/* A number macro as a string literal, for messages. */
#define TK_STRINGIFY_(x) #x
#define TK_STRINGIFY(x) TK_STRINGIFY_(x)

/* OSSL_ITEM.ptr is not const; the strings are never written. */
#define TK_REASON(code, text) { (code), (void *)(text) }

const OSSL_ITEM tk_reason_strings[] = {
    TK_REASON(TK_R_NO_MODULE, "no PKCS#11 module configured: set 'pkcs11-module' in the tokenkey section of "
                      "openssl.cnf, TOKENKEY_MODULE, or module-path= in the URI"),
    TK_REASON(TK_R_MODULE_NOT_FOUND, "PKCS#11 module not found: check the module path"),
    TK_REASON(TK_R_MODULE_LOAD_FAILED, "cannot load the PKCS#11 module: check that the path is a PKCS#11 "
                               "library for this architecture"),
    TK_REASON(TK_R_MODULE_INIT_FAILED, "the PKCS#11 module failed to initialise: check its own "
                               "configuration (e.g. SOFTHSM2_CONF)"),
    TK_REASON(TK_R_BAD_CONFIG, "invalid tokenkey provider configuration"),
    TK_REASON(TK_R_BAD_URI, "malformed pkcs11: URI (RFC 7512)"),
    TK_REASON(TK_R_TOKEN_NOT_FOUND, "no token matches the URI: list tokens with 'tokenkey tokens'"),
    TK_REASON(TK_R_OBJECT_NOT_FOUND, "no object on the token matches the URI: list them with 'tokenkey list'"),
    TK_REASON(TK_R_OBJECT_AMBIGUOUS, "the URI matches more than one key: add id= or object= to pick one"),
    TK_REASON(TK_R_PIN_UNAVAILABLE, "no PIN available: set pin-source in the URI, 'pin' in the provider "
                            "config, TOKENKEY_PIN_FILE, or use a program that prompts"),
    TK_REASON(TK_R_PIN_FILE, "cannot read the PIN file"),
    TK_REASON(TK_R_PIN_INCORRECT, "the token rejected the PIN; it was not retried: fix the PIN source "
                          "before the token locks"),
    TK_REASON(TK_R_PIN_LOCKED, "the user PIN is locked: the security officer must reset it"),
    TK_REASON(TK_R_PIN_FINAL_TRY, "one PIN attempt is left before the token locks: tokenkey will not spend "
                          "it; verify the PIN with the token's own tool"),
    TK_REASON(TK_R_PIN_NOT_RETRIED, "this PIN was already rejected by the token and is not sent again"),
    TK_REASON(TK_R_TOKEN_ABSENT, "the token is not present: insert it or check the slot"),
    TK_REASON(TK_R_PKCS11_FAILED, "a PKCS#11 call failed"),
    TK_REASON(TK_R_PRIVATE_EXPORT_REFUSED, "private key material never leaves the token: only the public "
                                   "part can be exported"),
    TK_REASON(TK_R_UNSUPPORTED_KEY_TYPE, "unsupported key type (tokenkey handles RSA, EC P-256/384/521 "
                                 "and Ed25519)"),
    TK_REASON(TK_R_UNSUPPORTED_MECHANISM, "the token does not support a mechanism this operation needs"),
    TK_REASON(TK_R_BAD_KEY_REFERENCE, "malformed key reference file"),
    TK_REASON(TK_R_BAD_ARGUMENT, "invalid argument"),
    TK_REASON(TK_R_OUT_OF_MEMORY, "out of memory"),
    TK_REASON(TK_R_KEY_MISMATCH, "the key does not match"),
    TK_REASON(TK_R_OPERATION_FAILED, "operation failed"),
    TK_REASON(TK_R_PIN_SOURCE_FAILED, "cannot log in without the PIN"),
    TK_REASON(TK_R_TOKEN_CHANGED, "the slot holds another token than the one the key was loaded "
                          "from: tokenkey never uses another token's key in its place"),
    TK_REASON(TK_R_NO_RANDOM, "no random numbers (neither OpenSSL's generator nor the kernel's "
                      "getrandom): tokenkey sends no PIN it could not keep from being resent"),
    TK_REASON(TK_R_KEY_REPLACED, "the key on the token is not the one that was loaded: tokenkey "
                         "never signs with another key in its place"),
    TK_REASON(TK_R_ID_SHARED, "two key pairs share the key's CKA_ID, and which public key is its own "
                      "cannot be told: give each key pair its own id"),
    TK_REASON(TK_R_TOKENS_AMBIGUOUS, "the URI matches several tokens that need a login: tokenkey sends "
                             "a PIN to one token only: add token= or serial= to the URI"),
    TK_REASON(TK_R_PUBLIC_KEY_ONLY, "the key was loaded as a public key and cannot do what needs its "
                            "private half: load it with type=private in the URI (or no type=)"),
    { 0, NULL }
};

#if defined(__GNUC__)
__attribute__((format(printf, 6, 7)))
#endif
static void raise_text(const TK_PROVCTX *ctx, const char *file, int line, const char *func,
                       int reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (ctx != NULL && ctx->core_new_error != NULL) {
        ctx->core_new_error(ctx->handle);
        ctx->core_set_error_debug(ctx->handle, file, line, func);
        ctx->core_vset_error(ctx->handle, (uint32_t)reason, fmt, ap);
    } else {
        /* No core (the static library used directly): a plain OpenSSL error. */
        ERR_new();
        ERR_set_debug(file, line, func);
        ERR_vset_error(ERR_LIB_USER, reason, fmt, ap);
    }
    va_end(ap);
}

/*
 * OpenSSL 3.0 keeps an error's text in ERR_MAX_DATA_SIZE (1024) bytes and
 * keeps nothing at all of a longer one (BIO_vsnprintf fails): a message
 * naming a long URI or listing matches is cut here instead, visibly.
 */
#if defined(__GNUC__)
__attribute__((format(printf, 6, 0)))
#endif
static void vraise(const TK_PROVCTX *ctx, const char *file, int line, const char *func,
                   int reason, const char *fmt, va_list ap)
{
    static const char cut[] = " [...]";
    char text[1024];
    int n = vsnprintf(text, sizeof(text), fmt, ap);

    if (n < 0)
        n = snprintf(text, sizeof(text), "(unprintable message)");
    if ((size_t)n >= sizeof(text))
        memcpy(text + sizeof(text) - sizeof(cut), cut, sizeof(cut));
    raise_text(ctx, file, line, func, reason, "%s", text);
}
void tk_raise_at(const TK_PROVCTX *ctx, const char *file, int line, const char *func,
                 int reason, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vraise(ctx, file, line, func, reason, fmt, ap);
    va_end(ap);
}

static int reason_for_rv(CK_RV rv)
{
    switch (rv) {
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
        return TK_R_PIN_INCORRECT;
    case CKR_PIN_LOCKED:
        return TK_R_PIN_LOCKED;
    case TK_CKR_PIN_FINAL_TRY:
        return TK_R_PIN_FINAL_TRY;
    case TK_CKR_PIN_NOT_RETRIED:
        return TK_R_PIN_NOT_RETRIED;
    case TK_CKR_PIN_UNAVAILABLE:
        return TK_R_PIN_UNAVAILABLE;
    case TK_CKR_PIN_SOURCE_FAILED:
        return TK_R_PIN_SOURCE_FAILED;
    case TK_CKR_NO_RANDOM:
        return TK_R_NO_RANDOM;
    case TK_CKR_TOKEN_CHANGED:
        return TK_R_TOKEN_CHANGED;
    case TK_CKR_PUBLIC_AMBIGUOUS:
    case TK_CKR_ID_SHARED:
        return TK_R_ID_SHARED;
    case TK_CKR_KEY_UNNAMED:
    case TK_CKR_KEY_GONE:
        return TK_R_OBJECT_NOT_FOUND;
    case TK_CKR_KEY_TWICE:
    case TK_CKR_KEY_REPLACED:
        return TK_R_KEY_REPLACED;
    case TK_CKR_NO_TOKEN:
        return TK_R_TOKEN_NOT_FOUND;
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_DEVICE_REMOVED:
        return TK_R_TOKEN_ABSENT;
    case TK_CKR_MODULE_LOAD:
    case TK_CKR_MODULE_SYMBOL:
        return TK_R_MODULE_LOAD_FAILED;
    case CKR_MECHANISM_INVALID:
    case CKR_MECHANISM_PARAM_INVALID:
        return TK_R_UNSUPPORTED_MECHANISM;
    case TK_CKR_SECRET_ATTRIBUTE:
        return TK_R_PRIVATE_EXPORT_REFUSED;
    case CKR_HOST_MEMORY:
        return TK_R_OUT_OF_MEMORY;
    default:
        return TK_R_PKCS11_FAILED;
    }
}

/*
 * What one of our own TK_CKR_ codes means, for a user, or a token's code
 * whose name does not say what to do; NULL for the others.
 */
static const char *own_rv_text(CK_RV rv)
{
    switch (rv) {
    case TK_CKR_MODULE_LOAD: return "the module could not be loaded";
    case TK_CKR_MODULE_SYMBOL: return "the module has no C_GetFunctionList";
    case TK_CKR_NO_TOKEN: return "no such token";
    /* A source that was set raised its own error first: point at it. */
    case TK_CKR_PIN_SOURCE_FAILED: return "the PIN source failed (above)";
    case TK_CKR_PIN_UNAVAILABLE: return "no PIN was given";
    case CKR_USER_PIN_NOT_INITIALIZED:
        return "the token's user PIN is not set: the security officer must set it first "
               "(pkcs11-tool --login-type so --init-pin, or the token's own tool)";
    case TK_CKR_PIN_FINAL_TRY: return "one PIN attempt left";
    /* The PIN was right (the token checked it): only a new one lets the user in. */
    case CKR_PIN_EXPIRED:
        return "the token says the user PIN has expired: set a new one with the token's own tool "
               "(pkcs11-tool --change-pin), then update the PIN source";
    case TK_CKR_PIN_NOT_RETRIED: return "this PIN was rejected before";
    case TK_CKR_SECRET_ATTRIBUTE: return "a secret attribute is never read";
    case TK_CKR_NO_PUBLIC_HALF: return "no public half on the token";
    /* The reason (TK_R_ID_SHARED) says what to do; the detail says what was found. */
    case TK_CKR_PUBLIC_AMBIGUOUS:
        return "the public keys (or certificates) with the key's CKA_ID hold different public keys";
    case TK_CKR_ID_SHARED:
        return "another private key has the key's CKA_ID, so the public keys and certificates with "
               "that id may be the other key's";
    case TK_CKR_NO_RANDOM: return "no salt to remember a rejected PIN by, so no PIN was sent";
    case TK_CKR_TOKEN_CHANGED: return "another token is in the slot";
    case TK_CKR_KEY_UNNAMED:
        return "the key has neither CKA_ID nor CKA_LABEL, so after the token was reset it "
               "cannot be told from another key and is not looked for: load it again";
    case TK_CKR_KEY_GONE:
        return "the key is no longer on the token (deleted, or its CKA_ID or label changed): "
               "check with 'tokenkey list', and load the key again";
    case TK_CKR_KEY_TWICE:
        return "two private keys on the token now have the key's CKA_ID and label, so tokenkey "
               "uses neither: give one another id or label, and load the key again";
    case TK_CKR_ATTRIBUTE_LENGTH:
        return "the module reported an attribute length past the buffer it was given, or over "
               "1 MiB (a bug in the PKCS#11 module: report it to its vendor)";
    case TK_CKR_OUTPUT_LENGTH:
        return "the module reported a signature or plaintext longer than the buffer it was given "
               "(a bug in the PKCS#11 module: report it to its vendor)";
    case CKR_SESSION_COUNT:
        return "the token allows no more sessions (CKR_SESSION_COUNT): other applications hold "
               "them, or this one's threads held theirs over "
               TK_STRINGIFY(TK_P11_SESSION_WAIT_SECONDS) " s, or the token allows one session "
               "only (tokenkey keeps one open to stay logged in); close other applications' "
               "sessions or raise the token's session limit";
    case TK_CKR_PROCESS_EXITING:
        return "the process is exiting, and tokenkey no longer calls the PKCS#11 module (its "
               "library may be torn down already): stop the threads that use keys before exit()";
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return "the PKCS#11 module is not initialised: another library in this process may have "
               "finalised it (C_Finalize); try again, and check the module's own log if it stays";
    case TK_CKR_FOUND_STALE:
        return "the token was reset since the object was found (its sessions closed, the token "
               "removed, or its module initialised again), so its handle may name another object "
               "now: search, list or load again";
    case TK_CKR_KEY_REPLACED:
        return "the private key now under the key's CKA_ID and label has another public key "
               "(the key was replaced): load the key again";
    default: return NULL;
    }
}

void tk_raise_rv_at(const TK_PROVCTX *ctx, const char *file, int line, const char *func,
                    CK_RV rv, const char *what)
{
    const char *text = own_rv_text(rv);

    tk_raise_at(ctx, file, line, func, reason_for_rv(rv), "%s: %s", what,
                text != NULL ? text : tk_p11_rv_name(rv));
}
