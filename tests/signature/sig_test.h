/*
 * Helpers for the signature tests: a fresh SoftHSM2 token with keys made
 * through the PKCS#11 layer, tokenkey loaded in-process (so the tests read
 * tk_p11_stat directly) next to the default provider in one library
 * context, the keys loaded through OSSL_STORE, and for each key the same
 * public key as an ordinary default-provider key read from the token's
 * public key object: verification never goes through tokenkey's code.
 */
#ifndef TK_SIG_TEST_H
#define TK_SIG_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fixture.h"
#include "p11/p11.h"
#include "token_keygen.h"

typedef struct sig_env {
    TK_FIXTURE fx;
    TK_P11_MODULE *m;          /* the test's own reference, for making keys */
    TK_P11_TOKEN *t;
    TK_P11_PIN_GETTER pin;
    OSSL_LIB_CTX *libctx;      /* default + tokenkey (builtin) */
    OSSL_PROVIDER *deflt, *tk;
} SIG_ENV;

/*
 * Fresh token labelled label. softhsm_extra (may be NULL) is appended to the
 * token's softhsm2.conf before the module loads (e.g. "slots.mechanisms =
 * -CKM_RSA_PKCS"). Returns 0, or -1 after printing why.
 */
int sig_env_setup(SIG_ENV *e, const char *label, const char *softhsm_extra);
/* The same through another PKCS#11 module (tk-tokenshim) for both the test and the provider. */
int sig_env_setup_module(SIG_ENV *e, const char *label, const char *softhsm_extra,
                         const char *module);
void sig_env_teardown(SIG_ENV *e);

typedef enum {
    SIG_RSA2048 = TK_TEST_RSA2048, SIG_P256 = TK_TEST_P256, SIG_P384 = TK_TEST_P384,
    SIG_P521 = TK_TEST_P521, SIG_ED25519 = TK_TEST_ED25519
} SIG_KIND;

typedef struct sig_key {
    SIG_KIND kind;
    EVP_PKEY *token;           /* tokenkey's, loaded with OSSL_STORE from a pkcs11: URI */
    EVP_PKEY *pub;             /* the default provider's, in the default library context */
} SIG_KEY;

/*
 * Generate a key pair of kind on the token (CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_ID and CKA_LABEL on both halves),
 * then load it. Returns 0 or -1 after printing why.
 */
int sig_key_make(SIG_ENV *e, SIG_KIND kind, const char *label, SIG_KEY *out);
/* The same with tk_test_keygen_flags's flags (TK_TEST_ALWAYS_AUTHENTICATE). */
int sig_key_make_flags(SIG_ENV *e, SIG_KIND kind, unsigned flags, const char *label, SIG_KEY *out);
/* The same, the private key limited to allowed (CKA_ALLOWED_MECHANISMS). */
int sig_key_make_limited(SIG_ENV *e, SIG_KIND kind, unsigned flags,
                         const CK_MECHANISM_TYPE *allowed, size_t n_allowed, const char *label,
                         SIG_KEY *out);
void sig_key_free(SIG_KEY *k);

/*
 * Whether the module's library version is at most major.minor: what a
 * SoftHSM2 release does differently (2.6.1 refuses some PSS and OAEP
 * parameters) is asserted per version, never skipped.
 */
int sig_module_at_most(SIG_ENV *e, int major, int minor);

/* The URI that names the private key labelled label on e's token. */
void sig_key_uri(const SIG_ENV *e, const char *label, char *buf, size_t cap);

/* ---- PKCS#11 call counting ---- */

typedef struct {
    unsigned long n[TK_FN_COUNT];
} SIG_STATS;

void sig_stats_take(SIG_STATS *s);
unsigned long sig_stats_delta(const SIG_STATS *before, TK_P11_FN fn);
/* Fail the test, naming the function, if any PKCS#11 call was made since before. */
void sig_assert_no_token_calls(const SIG_STATS *before);

/* ---- signing through tokenkey (each asserts exactly one C_Sign) ---- */

/*
 * EVP_DigestSign* with key in e->libctx: init with md (NULL for Ed25519)
 * and params, then the message in chunks (update/final), or one-shot
 * EVP_DigestSign when oneshot. Returns the signature (OPENSSL_free it).
 */
unsigned char *sig_sign_message(SIG_ENV *e, EVP_PKEY *key, const char *md, const OSSL_PARAM *params,
                                const unsigned char *msg, size_t msglen, int oneshot,
                                size_t *siglen);
/* EVP_PKEY_sign of a precomputed digest (md names it; NULL: raw input). */
unsigned char *sig_sign_digest(SIG_ENV *e, EVP_PKEY *key, const char *md, const OSSL_PARAM *params,
                               const unsigned char *dgst, size_t dlen, size_t *siglen);

/* ---- verifying with the default provider only ---- */

/* EVP_DigestVerify of msg with pub (default provider); 1 valid, 0 not. */
int sig_verify_message(EVP_PKEY *pub, const char *md, const OSSL_PARAM *params,
                       const unsigned char *sig, size_t siglen,
                       const unsigned char *msg, size_t msglen);
/* EVP_PKEY_verify of a digest with pub (default provider); 1 valid, 0 not. */
int sig_verify_digest(EVP_PKEY *pub, const char *md, const OSSL_PARAM *params,
                      const unsigned char *sig, size_t siglen,
                      const unsigned char *dgst, size_t dlen);

/* Digest of msg with the default provider; returns its length. */
size_t sig_digest(const char *md, const unsigned char *msg, size_t msglen, unsigned char *out);

/* All errors queued, as text (free() it); the queue is emptied. */
char *sig_errors_text(void);

/*
 * A self-signed certificate for k's public half, signed on the token with
 * md (RSA: PKCS#1 v1.5, or PSS when pss), and checked with the default
 * provider's copy of the public key.
 */
X509 *sig_self_signed(SIG_ENV *e, SIG_KEY *k, const char *md, int pss);

/*
 * Mutual TLS (version only) between two endpoints that both use k with
 * sig_self_signed's certificate: each signs once (TLS 1.3: both
 * CertificateVerify; TLS 1.2: ServerKeyExchange and the client's
 * CertificateVerify). Checks both verify results, the peer signature type
 * (EVP_PKEY_RSA_PSS...) and digest (NID_undef: not checked), and that data
 * flows. sigalgs and ciphers may be NULL.
 */
void sig_tls_handshake(SIG_ENV *e, SIG_KEY *k, const char *md, int cert_pss, int version,
                       const char *sigalgs, const char *ciphers, int want_sig_type, int want_md);

#endif
