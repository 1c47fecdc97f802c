/* Placeholder until keymgmt lands: no algorithms. */
#include <openssl/core.h>
#include "algorithms.h"
const OSSL_ALGORITHM tk_keymgmt_algorithms[] = { { NULL, NULL, NULL, NULL } };
