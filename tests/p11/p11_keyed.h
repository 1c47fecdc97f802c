/* A token with a key pair, and the provider over the same module (p11_keyed.c). */
#ifndef TK_P11_KEYED_H
#define TK_P11_KEYED_H

#include <openssl/evp.h>

#include "p11_test.h"
#include "token_keygen.h"

/*
 * A fresh token (token_label) opened through module_path, logged in, a key
 * pair of kind labelled label with id made on it, and the provider loaded
 * over the same module. Returns 0, or -1 after printing why.
 */
int tk_p11_test_setup_keyed(TK_P11_TEST *e, TK_P11_TEST_PROVIDER *p, const char *token_label,
                            const char *module_path, TK_TEST_KEY_KIND kind, const char *label,
                            const unsigned char *id, size_t id_len);

/* The private key labelled label on e's token, loaded in p's context; NULL after printing why. */
EVP_PKEY *tk_p11_test_load_labelled(const TK_P11_TEST *e, const TK_P11_TEST_PROVIDER *p,
                                    const char *label);

#endif
