/*
 * Making test objects on a fixture token through tokenkey's PKCS#11 layer
 * (pkcs11-tool 0.23 cannot be used: it reads a PIN only from a terminal,
 * and a PIN never goes on a command line). Used in-process by the tests
 * that link tokenkey's code, and by the tk-store-mkobj tool for the tests
 * that load tokenkey.so (which must not hold a second copy of the layer).
 */
#ifndef TK_STORE_OBJECTS_TEST_H
#define TK_STORE_OBJECTS_TEST_H

#include <stddef.h>

#include <openssl/evp.h>

#include "p11/p11.h"

/* The fixture's token (by serial) in module, or NULL after printing why. */
TK_P11_TOKEN *tkst_token(const char *module, const char *serial, TK_P11_MODULE **m);

/*
 * A key pair on the token: type "rsa" (2048 bits), "ec" (P-256) or "ed25519", both
 * objects with CKA_LABEL label and CKA_ID from idhex. Returns CKR_OK or why not.
 */
CK_RV tkst_keygen(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const char *type,
                  const char *label, const char *idhex);

/* A CKO_CERTIFICATE token object holding der, with label and idhex. */
CK_RV tkst_import_cert(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const unsigned char *der,
                       size_t len, const char *label, const char *idhex);
/* The same with CKA_DESTROYABLE false: C_DestroyObject refuses it (CKR_ACTION_PROHIBITED). */
CK_RV tkst_import_cert_fixed(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const unsigned char *der,
                             size_t len, const char *label, const char *idhex);
/* The same with only the first half of der as CKA_VALUE: a certificate that does not parse. */
CK_RV tkst_import_cert_cut(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const unsigned char *der,
                           size_t len, const char *label, const char *idhex);

/* count data objects (CKO_DATA) labelled LABEL-0, LABEL-1, ... */
CK_RV tkst_make_data(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const char *label,
                     unsigned count);

/* Destroy the one object of class cls labelled label (CKR_ARGUMENTS_BAD: not one). */
CK_RV tkst_delete(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, CK_OBJECT_CLASS cls,
                  const char *label);

/*
 * The public key object labelled label, as a default-provider EVP_PKEY
 * (made from its CKA_MODULUS/CKA_EC_POINT, never from the token key).
 */
EVP_PKEY *tkst_public_key(TK_P11_TOKEN *t, const char *label);

#endif
