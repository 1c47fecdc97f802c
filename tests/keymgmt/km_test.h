/*
 * Helpers for the key management tests: a fresh SoftHSM2 token, tokenkey
 * loaded in-process (OSSL_PROVIDER_add_builtin) after the default provider
 * in one library context, keys generated through tokenkey's keymgmt, and
 * OpenSC's pkcs11-tool as the independent PKCS#11 client (it never goes
 * through tokenkey's layer).
 */
#ifndef TK_KM_TEST_H
#define TK_KM_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "fixture.h"

typedef struct km_env {
    TK_FIXTURE fx;
    OSSL_LIB_CTX *libctx;      /* default, then tokenkey (builtin) */
    OSSL_PROVIDER *deflt, *tk;
} KM_ENV;

/*
 * Fresh token labelled label; TOKENKEY_MODULE and TOKENKEY_PIN_FILE point
 * at it before the provider loads (it reads them at init). Returns 0, or
 * -1 after printing why.
 */
int km_env_setup(KM_ENV *e, const char *label);
void km_env_teardown(KM_ENV *e);

/* The key types tokenkey handles, as OpenSSL names them. */
typedef struct km_kind {
    const char *name;          /* for messages and labels: "rsa2048", "p256"... */
    const char *alg;           /* "RSA", "EC", "ED25519" */
    const char *group;         /* EC group, NULL otherwise */
    size_t bits;               /* RSA modulus bits, 0 otherwise */
} KM_KIND;

enum { KM_RSA2048, KM_P256, KM_P384, KM_P521, KM_ED25519, KM_NKINDS };
extern const KM_KIND km_kinds[KM_NKINDS];

/*
 * Generate a key of kind on the fixture's token through tokenkey's keymgmt
 * (EVP_PKEY_CTX_new_from_name(..., "provider=tokenkey")), with CKA_LABEL
 * label and, when id_hex is not NULL, that CKA_ID. NULL on failure, with
 * OpenSSL's error queue left as it is.
 */
EVP_PKEY *km_generate(KM_ENV *e, const KM_KIND *kind, const char *label, const char *id_hex);

/* A key of the same kind made in software by the default provider. */
EVP_PKEY *km_software_key(KM_ENV *e, const KM_KIND *kind);

/* The name of the provider behind pk ("tokenkey", "default"), "" if none. */
const char *km_provider(const EVP_PKEY *pk);

/*
 * Every error in the queue, one per line with its reason text and data,
 * into buf; then the queue is cleared. "" when the queue was empty.
 */
const char *km_errors(char *buf, size_t cap);

/*
 * Run argv (NULL-terminated; argv[0] looked up in PATH) with stdout and
 * stderr captured (free() the result). pin_var, when not NULL, is set to
 * the fixture's user PIN in the child's environment only (for pkcs11-tool
 * --pin env:VAR; never on a command line). unset_var, when not NULL, is
 * removed from the child's environment. *status is waitpid's.
 */
char *km_run(KM_ENV *e, char *const argv[], const char *pin_var, const char *unset_var,
             int *status);

/*
 * pkcs11-tool --module M --token-label T [--login --pin env:...] args...;
 * args NULL-terminated. Output captured as km_run.
 */
char *km_pkcs11_tool(KM_ENV *e, int login, const char *const args[], int *status);

/* The token's public key object labelled label, read by pkcs11-tool, as a default-provider key. */
EVP_PKEY *km_token_public_key(KM_ENV *e, const KM_KIND *kind, const char *label);

/*
 * The block pkcs11-tool's --list-objects prints for the object of kind
 * ("Private Key Object", "Public Key Object") labelled label, copied into
 * buf. Fails the test when there is none or more than one.
 */
const char *km_object_block(const char *listing, const char *kind, const char *label,
                            char *buf, size_t cap);

/* Whether block's "Access:" / "Usage:" line (field) lists flag as one of its items. */
int km_line_has(const char *block, const char *field, const char *flag);

#endif
