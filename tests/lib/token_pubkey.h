/*
 * A token's public key object as an ordinary default-provider EVP_PKEY,
 * made from its attributes through tokenkey's PKCS#11 layer but never
 * through the provider: what tests verify the token's signatures with,
 * so a provider bug cannot vouch for itself.
 */
#ifndef TK_TEST_TOKEN_PUBKEY_H
#define TK_TEST_TOKEN_PUBKEY_H

#include <openssl/evp.h>

#include "p11/p11.h"

/*
 * RSA from CKA_MODULUS and CKA_PUBLIC_EXPONENT; EC (P-256, P-384, P-521)
 * and Ed25519 from CKA_EC_PARAMS and CKA_EC_POINT (a DER OCTET STRING
 * around the point, PKCS#11 v2.40 2.3.3). NULL when pub is none of these.
 */
EVP_PKEY *tk_test_token_public_key(TK_P11_SESSION *s, CK_OBJECT_HANDLE pub);

#endif
