/*
 * Finding objects on tokens by pkcs11: URI, for the key loader and the
 * store: which tokens, login, the search template, and the URI that names
 * a found object (for messages and key references).
 */
#ifndef TK_OBJECTS_H
#define TK_OBJECTS_H

#include "p11/p11.h"
#include "pin.h"
#include "provider.h"

typedef struct tk_found {
    TK_P11_TOKEN *token;
    CK_OBJECT_HANDLE handle;
    unsigned long generation; /* of the session that found it: the handle holds in that one */
} TK_FOUND;

/*
 * Objects of class cls matching uri's id= and object= (and the attribute
 * also, when not NULL) on every token uri matches. With login set, logs in to each token first (private objects
 * are visible only then); a login failure is an error, never a reason to
 * look at the next token. Up to max results are stored; *count is the
 * number found (may exceed max; exact up to 256 per token). Returns 1, or 0 after raising an error
 * (module, token not found, PIN...).
 */
int tk_objects_find(TK_PROVCTX *ctx, const TK_URI *uri, CK_OBJECT_CLASS cls,
                    const CK_ATTRIBUTE *also, TK_PIN_SOURCE *pin, int login, TK_FOUND *out,
                    size_t max, size_t *count);

/*
 * A session of the token a found object is on, to read it with. After the
 * token was reset or the module initialised again since the search, the
 * handle may name another object now: TK_CKR_FOUND_STALE (the session
 * is given back all the same), and the object must be looked for again.
 */
CK_RV tk_objects_session_for(const TK_FOUND *found, TK_P11_SESSION *s);

/*
 * The pkcs11: URI (RFC 7512) naming one object: token model, manufacturer,
 * serial and label, then object, id and type. Never a PIN. OPENSSL_free it.
 */
char *tk_objects_uri(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_OBJECT_CLASS cls);
/* The same from what the caller read already: label (or NULL) and id. */
char *tk_objects_uri_named(TK_P11_TOKEN *t, const char *label, const unsigned char *id,
                           size_t id_len, CK_OBJECT_CLASS cls);

/*
 * The URI a user gave, for error and debug messages: without pin-value,
 * and with pin-source's value left out ("pin-source=..."). Every message
 * that shows a user's URI goes through this, never through tk_uri_format.
 */
char *tk_objects_uri_for_message(const TK_URI *uri);

#endif
