/* Placeholder until the store, decoder and encoder land: no algorithms. */
#include <openssl/core.h>
#include "algorithms.h"
const OSSL_ALGORITHM tk_store_algorithms[] = { { NULL, NULL, NULL, NULL } };
const OSSL_ALGORITHM tk_decoder_algorithms[] = { { NULL, NULL, NULL, NULL } };
const OSSL_ALGORITHM tk_encoder_algorithms[] = { { NULL, NULL, NULL, NULL } };
