/* Loading a private key by URI the way applications do (OSSL_STORE), for tests. */
#ifndef TK_TEST_LOAD_KEY_H
#define TK_TEST_LOAD_KEY_H

#include <openssl/evp.h>

/*
 * The first private key OSSL_STORE gives for uri in libctx (expecting
 * OSSL_STORE_INFO_PKEY), or NULL with the store's errors on the queue.
 */
EVP_PKEY *tk_test_load_private(OSSL_LIB_CTX *libctx, const char *uri);

#endif
