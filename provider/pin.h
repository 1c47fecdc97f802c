/*
 * Where a PIN comes from, in priority order (the first one present is the
 * one used; a PIN the token rejects is never retried from another source):
 *   1. the URI's pin-value, then its pin-source (RFC 7512 section 2.3)
 *   2. the provider config's pin = file:/path | env:NAME (or its env vars)
 *   3. the application's passphrase callback (its prompt)
 */
#ifndef TK_PIN_H
#define TK_PIN_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>

#include "p11/p11.h"

struct tk_provctx;

typedef enum { TK_PIN_NONE, TK_PIN_VALUE, TK_PIN_FILE, TK_PIN_ENV, TK_PIN_PROMPT } TK_PIN_KIND;

typedef struct tk_pin_source {
    TK_PIN_KIND kind;
    char *spec;                     /* file path, variable name, or the PIN (VALUE, wiped) */
    OSSL_PASSPHRASE_CALLBACK *cb;   /* PROMPT: valid only during the call that gave it */
    void *cbarg;
    const struct tk_provctx *ctx;   /* where errors go */
    char prompt_info[128];          /* what the prompt names (token label) */
    int prompted_once;              /* NONE: the key loaded with the application's prompt */
} TK_PIN_SOURCE;

/*
 * Choose the source for uri (may be NULL) under config pin (may be NULL),
 * falling back to cb. Returns 1, or 0 after raising an error (bad pin-source).
 */
int tk_pin_source_choose(TK_PIN_SOURCE *src, const struct tk_provctx *ctx, const TK_URI *uri,
                         const char *config_pin, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg);
/*
 * What a pin-source= or a "pin" setting names (file:/path, file:///path, a bare
 * path, env:NAME): sets *kind to TK_PIN_FILE or TK_PIN_ENV and returns the
 * path or variable name, inside spec. The tokenkey CLI reads specs with it too.
 */
const char *tk_pin_spec_target(const char *spec, TK_PIN_KIND *kind);

/*
 * How a message names a PIN file (TK_PIN_FILE) or variable (TK_PIN_ENV):
 * the file's name in quotes or the variable's name, or a placeholder that
 * says the name is not shown.
 * Someone who writes the PIN itself where its file or variable belongs
 * must not see it echoed into a terminal or a CI log, so a name is shown
 * only when it cannot be a misplaced PIN: a file that exists or a name
 * with a '/'; a variable that is set or an upper-case identifier.
 * Returns out.
 */
const char *tk_pin_target_display(TK_PIN_KIND kind, const char *target, char *out, size_t cap);

/* A copy without the prompt (callbacks die with the call that gave them). */
int tk_pin_source_copy_lasting(TK_PIN_SOURCE *dst, const TK_PIN_SOURCE *src);
void tk_pin_source_clear(TK_PIN_SOURCE *src);

/* The PKCS#11 layer's PIN getter for a source (arg is the TK_PIN_SOURCE). */
CK_RV tk_pin_get(void *arg, char *buf, size_t cap, size_t *len);
/* Whether the source is a PIN kept somewhere (pin-value, a file, a variable), not a prompt. */
int tk_pin_stored(void *arg);

static inline TK_P11_PIN_GETTER tk_pin_getter(TK_PIN_SOURCE *src)
{
    TK_P11_PIN_GETTER g = { tk_pin_get, src, NULL, tk_pin_stored };

    return g;
}

#endif
