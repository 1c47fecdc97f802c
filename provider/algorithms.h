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

#endif
