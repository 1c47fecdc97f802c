/* Reading a key's public half from the token (key_public.c); used by key.c. */
#ifndef TK_KEY_PUBLIC_H
#define TK_KEY_PUBLIC_H

#include "key.h"

/*
 * Fill k's public half (k->type and k->id already set) from obj of class
 * cls, falling back to the public key object or certificate with the same
 * CKA_ID when the private object lacks it.
 */
CK_RV tk_key_read_public(TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_HANDLE obj, CK_OBJECT_CLASS cls);

#endif
