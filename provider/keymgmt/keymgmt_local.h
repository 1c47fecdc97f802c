/*
 * Shared inside provider/keymgmt/: what differs between RSA, EC and
 * Ed25519 token keys is one TK_KM_ALG each (keymgmt_rsa.c, keymgmt_ec.c);
 * everything else (keymgmt_common.c, keygen.c) works on any TK_KEY through
 * it. Key data is always a TK_KEY * (key.h).
 */
#ifndef TK_KEYMGMT_LOCAL_H
#define TK_KEYMGMT_LOCAL_H

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/param_build.h>

#include "algorithms.h"
#include "key.h"

typedef struct tk_km_alg {
    TK_KEY_TYPE type;
    const char *sig_name;          /* what OSSL_OP_SIGNATURE is called for this key type */
    const char *default_digest;    /* NULL: no digest at all (Ed25519: mandatory "") */
    /* Parameter names whose presence means private material (refused on import). */
    const char *const *private_names;

    /* Same public half (and domain parameters when selected); 1/0, never raises. */
    int (*public_eq)(const TK_KEY *a, const TK_KEY *b, int selection);
    /* Push the selected public parts (DOMAIN / PUBLIC bits) for export. */
    int (*public_to_params)(const TK_KEY *k, int selection, OSSL_PARAM_BLD *bld);
    /* Fill the public half of an empty key from imported params; raises on failure. */
    int (*public_from_params)(TK_KEY *k, int selection, const OSSL_PARAM params[]);
    /* Copy the selected public parts into an empty key (dup); 1/0. */
    int (*public_copy)(TK_KEY *to, const TK_KEY *from, int selection);
    /* The algorithm's own get_params entries (after the common ones). */
    int (*get_params)(const TK_KEY *k, OSSL_PARAM params[]);
} TK_KM_ALG;

extern const TK_KM_ALG tk_km_rsa;
extern const TK_KM_ALG tk_km_ec;
extern const TK_KM_ALG tk_km_ed25519;

const TK_KM_ALG *tk_km_alg(TK_KEY_TYPE type);

/* Each type's dispatch table, next to its code; listed in tk_keymgmt_algorithms. */
extern const OSSL_DISPATCH tk_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH tk_ec_keymgmt_functions[];
extern const OSSL_DISPATCH tk_ed25519_keymgmt_functions[];

/* ---- keymgmt_common.c: the type-independent halves of the dispatch functions ---- */

void *tk_km_new(void *provctx, TK_KEY_TYPE type);
void *tk_km_load(const void *reference, size_t reference_sz, TK_KEY_TYPE type);
const char *tk_km_query_operation_name(TK_KEY_TYPE type, int operation_id);

/* Dispatch functions that take key data work for every type as they are. */
OSSL_FUNC_keymgmt_free_fn tk_km_free;
OSSL_FUNC_keymgmt_has_fn tk_km_has;
OSSL_FUNC_keymgmt_match_fn tk_km_match;
/* keymgmt_validate.c: the public half checked, the pair by a signature on the token. */
OSSL_FUNC_keymgmt_validate_fn tk_km_validate;
OSSL_FUNC_keymgmt_dup_fn tk_km_dup;
OSSL_FUNC_keymgmt_get_params_fn tk_km_get_params;
/*
 * A token key cannot be changed: any parameter is refused with an error
 * (without set_params, libcrypto would report EVP_PKEY_set_params and
 * EVP_PKEY_set1_encoded_public_key as done and change nothing). None settable.
 */
OSSL_FUNC_keymgmt_set_params_fn tk_km_set_params;
OSSL_FUNC_keymgmt_settable_params_fn tk_km_settable_params;
OSSL_FUNC_keymgmt_import_fn tk_km_import;
OSSL_FUNC_keymgmt_export_fn tk_km_export;

/* The get_params entries every type answers, for gettable lists. */
#define TK_KM_COMMON_GETTABLE                                           \
    OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),                        \
    OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),               \
    OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),                    \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),   \
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0)

/* ---- keymgmt_ec.c: group names, shared with keygen.c ---- */

/*
 * The NID of a group name OpenSSL or a user may give: "P-256",
 * "prime256v1", "secp384r1", "P-521"...; NID_undef for anything tokenkey
 * does not handle.
 */
int tk_km_ec_group_nid(const char *name);

/* ---- keygen.c: key generation on a token ---- */

void *tk_km_gen_init(void *provctx, int selection, const OSSL_PARAM params[], TK_KEY_TYPE type);
OSSL_FUNC_keymgmt_gen_set_template_fn tk_km_gen_set_template;
OSSL_FUNC_keymgmt_gen_set_params_fn tk_km_gen_set_params;
OSSL_FUNC_keymgmt_gen_fn tk_km_gen;
OSSL_FUNC_keymgmt_gen_cleanup_fn tk_km_gen_cleanup;

/* The gen parameters every type takes, for settable lists. */
#define TK_KM_GEN_COMMON_SETTABLE                                   \
    OSSL_PARAM_utf8_string(TK_KM_GEN_PARAM_TOKEN, NULL, 0),        \
    OSSL_PARAM_utf8_string(TK_KM_GEN_PARAM_LABEL, NULL, 0),        \
    OSSL_PARAM_utf8_string(TK_KM_GEN_PARAM_ID, NULL, 0)

#define TK_KM_GEN_PARAM_TOKEN "token" /* token label, or a pkcs11: URI naming the token */
#define TK_KM_GEN_PARAM_LABEL "label" /* CKA_LABEL of both objects */
#define TK_KM_GEN_PARAM_ID "id"       /* CKA_ID in hex; 16 random bytes when absent */

#endif
