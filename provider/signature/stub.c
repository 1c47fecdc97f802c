/* Placeholder until signatures land: no algorithms. */
#include <openssl/core.h>
#include "algorithms.h"
const OSSL_ALGORITHM tk_signature_algorithms[] = { { NULL, NULL, NULL, NULL } };
const OSSL_ALGORITHM tk_asym_cipher_algorithms[] = { { NULL, NULL, NULL, NULL } };
