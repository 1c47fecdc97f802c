/*
 * Test helpers that need no tokenkey code (files, error text, key
 * reference PEMs built by hand, a software CA): shared by the in-process
 * tests and the ones that load tokenkey.so.
 */
#ifndef TK_STORE_UTIL_H
#define TK_STORE_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Write text to path; asserts. */
void st_write(const char *path, const char *text);
/* A whole file (free() it), or NULL. */
char *st_read(const char *path);
/* Every queued error as ERR_print_errors prints it (free() it); clears the queue. */
char *st_errors(void);
/* Fails the test, showing text, unless needle is (is not) in it. */
void st_assert_contains(const char *text, const char *needle);
void st_assert_not_contains(const char *text, const char *needle);

/*
 * The PEM of SEQUENCE { VisibleString desc, UTF8String uri } under label,
 * with extra bytes appended inside the DER when trailing > 0 (free() it).
 */
char *st_keyref_pem(const char *label, const char *desc, const char *uri, size_t trailing);

/* A software CA (default provider, P-256) with a self-signed certificate. */
void st_ca(EVP_PKEY **key, X509 **cert);
/* A certificate for pub with CN=cn, signed by the CA (self-signed CA when ca_cert is NULL). */
X509 *st_cert(EVP_PKEY *pub, const char *cn, EVP_PKEY *ca_key, X509 *ca_cert);
void st_write_cert(const char *path, X509 *x);

/* PEM_read_bio_PrivateKey_ex(path) in libctx; NULL leaves the errors queued. */
EVP_PKEY *st_read_key(OSSL_LIB_CTX *libctx, const char *path);

#endif
