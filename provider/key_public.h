/* Reading a key's public half from the token (key_public.c); used by key.c. */
#ifndef TK_KEY_PUBLIC_H
#define TK_KEY_PUBLIC_H

#include "key.h"

/*
 * Fill k's public half (k->type and k->id already set) from attrs, what
 * tk_p11_get_attrs_alloc read from the key's object of class cls (public
 * attributes: CKA_MODULUS and CKA_PUBLIC_EXPONENT, or CKA_EC_PARAMS and
 * CKA_EC_POINT), falling back to the public key object or certificate with
 * the same CKA_ID when that object lacks them.
 */
CK_RV tk_key_read_public(TK_KEY *k, TK_P11_SESSION *s, CK_OBJECT_CLASS cls,
                         const CK_ATTRIBUTE *attrs, CK_ULONG nattrs);

#endif
