/* The algorithm tables query_operation hands out (one file per operation). */
#ifndef TK_ALGORITHMS_H
#define TK_ALGORITHMS_H

#include <openssl/core.h>

/* Each is defined next to the implementation it lists; NULL-terminated. */
extern const OSSL_ALGORITHM tk_keymgmt_algorithms[];
extern const OSSL_ALGORITHM tk_signature_algorithms[];
extern const OSSL_ALGORITHM tk_asym_cipher_algorithms[];
extern const OSSL_ALGORITHM tk_store_algorithms[];
extern const OSSL_ALGORITHM tk_decoder_algorithms[];
extern const OSSL_ALGORITHM tk_encoder_algorithms[];

/*
 * The signature names a tokenkey key asks for (keymgmt's
 * query_operation_name). Names no other provider registers, on purpose:
 * OpenSSL 3.0's EVP_DigestSignInit and EVP_PKEY_sign_init first fetch the
 * signature by this name from any provider, then try to export the key to
 * the provider they found (crypto/evp/m_sigver.c, signature.c). With
 * "ECDSA" that is the default provider's whenever it is listed first: a
 * second fetch and a refused export on every signature, about 15,000
 * instructions (docs/performance.md). With a name only tokenkey has, the
 * first fetch is tokenkey's own. The signatures are also registered under
 * the ordinary names, for callers that fetch them by those.
 */
#define TK_SIG_NAME_RSA "TOKENKEY-RSA"
#define TK_SIG_NAME_ECDSA "TOKENKEY-ECDSA"
#define TK_SIG_NAME_ED25519 "TOKENKEY-ED25519"

#endif
