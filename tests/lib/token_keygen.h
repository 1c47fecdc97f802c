/*
 * Key pairs made on a token for tests, through tokenkey's PKCS#11 layer,
 * the way tokenkey's users make them (tokenkey keygen, pkcs11-tool): the
 * signature, store and fault tests all start from one of these.
 */
#ifndef TK_TEST_TOKEN_KEYGEN_H
#define TK_TEST_TOKEN_KEYGEN_H

#include <stddef.h>

#include "p11/p11.h"

typedef enum {
    TK_TEST_RSA2048, TK_TEST_P256, TK_TEST_P384, TK_TEST_P521, TK_TEST_ED25519
} TK_TEST_KEY_KIND;

/*
 * A token key pair on session s (logged in): the private key CKA_PRIVATE,
 * CKA_SENSITIVE and not CKA_EXTRACTABLE, able to sign (RSA: and decrypt);
 * both objects with CKA_LABEL label and CKA_ID id. RSA keys have 2048 bits
 * and the exponent 65537.
 */
CK_RV tk_test_keygen(TK_P11_SESSION *s, TK_TEST_KEY_KIND kind, const char *label,
                     const unsigned char *id, size_t idlen, CK_OBJECT_HANDLE *hpub,
                     CK_OBJECT_HANDLE *hpriv);

/* Flags for tk_test_keygen_flags. */
#define TK_TEST_ALWAYS_AUTHENTICATE 0x1 /* CKA_ALWAYS_AUTHENTICATE on the private key */

/* The same, with flags (0: tk_test_keygen). */
CK_RV tk_test_keygen_flags(TK_P11_SESSION *s, TK_TEST_KEY_KIND kind, unsigned flags,
                           const char *label, const unsigned char *id, size_t idlen,
                           CK_OBJECT_HANDLE *hpub, CK_OBJECT_HANDLE *hpriv);

/* The same, the private key limited to allowed (CKA_ALLOWED_MECHANISMS; n_allowed 0: no limit). */
CK_RV tk_test_keygen_limited(TK_P11_SESSION *s, TK_TEST_KEY_KIND kind, unsigned flags,
                             const CK_MECHANISM_TYPE *allowed, size_t n_allowed, const char *label,
                             const unsigned char *id, size_t idlen, CK_OBJECT_HANDLE *hpub,
                             CK_OBJECT_HANDLE *hpriv);

#endif
