/*
 * Helpers shared by the PKCS#11-layer tests: a fixture token opened
 * through the layer, the module's own function list for checks that must
 * not go through the layer, and a few session operations.
 */
#ifndef TK_P11_TEST_H
#define TK_P11_TEST_H

#include <openssl/provider.h>

#include "error_text.h"
#include "fixture.h"
#include "p11/p11.h"
#include "runner.h"

typedef struct tk_p11_test {
    TK_FIXTURE fx;
    TK_P11_MODULE *m;
    TK_P11_TOKEN *t;
    TK_P11_PIN_GETTER pin;   /* the right user PIN, from the fixture's file */
    CK_FUNCTION_LIST *raw;   /* the module's functions, called around the layer */
} TK_P11_TEST;

/*
 * Fresh token (label may be NULL), module opened through the layer (path
 * NULL: the fixture's SoftHSM2), token found by serial. Returns 0 or -1
 * after printing why.
 */
int tk_p11_test_setup(TK_P11_TEST *e, const char *label, const char *module_path);
/* The same after tk_fixture_setup(&e->fx, ...) was done by the caller. */
int tk_p11_test_open(TK_P11_TEST *e, const char *module_path);
void tk_p11_test_teardown(TK_P11_TEST *e);

/*
 * The function list of an already loaded module, reached with
 * dlopen(RTLD_NOLOAD): the test acting as an independent client in the same
 * process, whose calls the layer neither sees nor counts.
 */
CK_FUNCTION_LIST *tk_test_raw_functions(const char *module_path);
/* A symbol of that already loaded module (NULL after printing why). */
void *tk_test_loaded_symbol(const char *module_path, const char *name);
/* Where tests/lib's tk-tokenshim is (TK_TOKENSHIM), or NULL after printing why. */
const char *tk_test_tokenshim(void);

/* Session state as the module reports it on a session of our own (CKS_*), or -1. */
long tk_test_raw_session_state(CK_FUNCTION_LIST *raw, CK_SLOT_ID slot);

/* The token's CK_TOKEN_INFO.flags read now (not the layer's cached copy); 0 on failure. */
CK_FLAGS tk_test_live_token_flags(TK_P11_TEST *e);

/* op for tk_p11_with_session: 32 bytes of C_GenerateRandom; arg may be NULL. */
CK_RV tk_test_op_random(TK_P11_SESSION *s, void *arg);

/*
 * op for tk_p11_with_session: C_CreateObject of a private session CKO_DATA
 * object, which needs a logged-in user. arg: CK_OBJECT_HANDLE * (may be NULL).
 */
CK_RV tk_test_op_create_private(TK_P11_SESSION *s, void *arg);

/* A PIN getter that counts its calls (atomically: threads share one) and asks inner. */
typedef struct {
    TK_P11_PIN_GETTER inner;
    int calls;
} TK_TEST_COUNTING_PIN;
CK_RV tk_test_pin_counting(void *arg, char *buf, size_t cap, size_t *len);

/* A getter returning the fixed string arg (a wrong PIN, say). */
CK_RV tk_test_pin_literal(void *arg, char *buf, size_t cap, size_t *len);

/* Run argv (NULL-terminated), capture stdout+stderr (free() it); *status from waitpid. */
char *tk_test_run_capture(char *const argv[], int *status);

/* A whole file as a string (free() it), or NULL. */
char *tk_test_read_file(const char *path);

/*
 * The provider (linked in) over module_path, in a library context of its
 * own beside the default provider, with e's PIN file: for tests that go up
 * from the layer to keys the provider loads.
 */
typedef struct {
    OSSL_LIB_CTX *libctx;
    OSSL_PROVIDER *deflt, *tokenkey;
} TK_P11_TEST_PROVIDER;
/* Returns 0, or -1 after printing why. */
int tk_p11_test_provider_load(TK_P11_TEST_PROVIDER *p, const TK_P11_TEST *e,
                              const char *module_path);
void tk_p11_test_provider_unload(TK_P11_TEST_PROVIDER *p);
/* A SHA-256 signature of a few bytes with key in p's context: 1, or 0 (errors left queued). */
int tk_p11_test_provider_sign(const TK_P11_TEST_PROVIDER *p, EVP_PKEY *key);

#endif
