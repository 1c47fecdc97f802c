/*
 * The environment of the reliability tests (tests/fault, tests/stress): a
 * fresh SoftHSM2 token with an RSA-2048 and an EC P-256 key pair on it,
 * the provider built in (OSSL_PROVIDER_add_builtin, so tk_p11_stat is
 * this process's) with TOKENKEY_MODULE = tk-faultmod over that SoftHSM2,
 * and for TLS a software CA that certified both token keys and a software
 * server key.
 *
 * The keys are generated in a child process: the test process itself
 * never loads the PKCS#11 module before its tests do, so a forked child
 * starts with no module state at all.
 */
#ifndef TK_REL_ENV_H
#define TK_REL_ENV_H

#include <stddef.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "fixture.h"
#include "faultmod.h"
#include "load_key.h"

typedef struct rel_env {
    TK_FIXTURE fx;
    const char *faultmod;      /* $TK_FAULTMOD: the tk-faultmod.so path */
    char rsa_uri[512], ec_uri[512];
    EVP_PKEY *rsa_pub, *ec_pub; /* the token keys' public halves, default provider */
    EVP_PKEY *ca_key, *server_key;
    X509 *ca, *rsa_cert, *ec_cert, *server_cert;

    /* tk-faultmod's control functions (dlopen of the same instance the provider loads) */
    void *dl;
    tk_fault_set_fn *set;
    tk_fault_calls_fn *calls;
    tk_fault_injected_fn *injected;
    tk_fault_max_inflight_fn *max_inflight;
    tk_fault_reset_counts_fn *reset_counts;
} REL_ENV;

/* Returns 0, or -1 after printing why. */
int rel_env_setup(REL_ENV *e, const char *label);
void rel_env_teardown(REL_ENV *e);

/*
 * A library context with the default provider and tokenkey (built in):
 * prov[0] and prov[1] get the two providers. NULL after printing why.
 */
OSSL_LIB_CTX *rel_libctx_new(OSSL_PROVIDER *prov[2]);
/* Unload both providers (tokenkey's teardown closes its sessions, C_Finalize) and free libctx. */
void rel_libctx_free(OSSL_LIB_CTX *libctx, OSSL_PROVIDER *prov[2]);

/* Private keys by URI: tk_test_load_private (load_key.h). */

/*
 * The stress tests' start: a library context with tokenkey (rel_libctx_new)
 * and e's RSA and EC keys loaded in it. 0, or -1 after printing why; what was
 * made is released by rel_close_keys either way.
 */
int rel_open_keys(REL_ENV *e, OSSL_LIB_CTX **libctx, OSSL_PROVIDER *prov[2], EVP_PKEY **rsa,
                  EVP_PKEY **ec);
void rel_close_keys(OSSL_LIB_CTX *libctx, OSSL_PROVIDER *prov[2], EVP_PKEY *rsa, EVP_PKEY *ec);

/*
 * One signature as libssl makes it: a fresh EVP_DigestSignInit_ex with
 * SHA-256 (RSA: PSS, salt = digest length, as TLS 1.3 signs), then
 * EVP_DigestSign. sig must hold 512 bytes. 1, or 0 with the errors queued.
 */
int rel_sign(OSSL_LIB_CTX *libctx, EVP_PKEY *key, const unsigned char *msg, size_t msglen,
             unsigned char *sig, size_t *siglen);
/* The same check with the default provider only: 1 when sig is valid. */
int rel_verify(EVP_PKEY *pub, const unsigned char *msg, size_t msglen,
               const unsigned char *sig, size_t siglen);

/* TLS 1.3 with mutual authentication: the client's key on the token. NULL after printing why. */
SSL_CTX *rel_tls_client(REL_ENV *e, OSSL_LIB_CTX *libctx, EVP_PKEY *key, X509 *cert);
SSL_CTX *rel_tls_server(REL_ENV *e, OSSL_LIB_CTX *libctx);
/* One handshake over a BIO pair, then a byte each way. 1, or 0 with the errors queued. */
int rel_handshake(SSL_CTX *client, SSL_CTX *server);

/*
 * Every error queued on this thread as "<ERR_error_string_n> [<data>]"
 * joined by " | ", into buf; the queue is emptied. Returns buf.
 */
char *rel_errors(char *buf, size_t cap);

/*
 * Wait for pid at most timeout seconds (then SIGKILL it; with TK_REL_GDB_ON_HANG=1
 * set, gdb prints its threads' stacks first). Returns its
 * wait status, or -1 when it had to be killed.
 */
int rel_wait(pid_t pid, int timeout);

/*
 * fork() for a test: flushes stdio first; in the child, the signal
 * handlers cmocka installed are reset, so a crash kills the child (and
 * its parent sees the signal) instead of jumping back into a copy of the
 * test runner.
 */
pid_t rel_fork(void);


/* An environment variable as a positive number, or def. */
long rel_env_long(const char *name, long def);

#endif
