/*
 * RSA token keys: the public half is n and e (RFC 8017 section 3.1), and
 * the dispatch table for the "RSA" keymgmt. The shared logic is in
 * keymgmt_common.c and keygen.c.
 */
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "errors.h"
#include "keymgmt_local.h"

static int rsa_public_eq(const TK_KEY *a, const TK_KEY *b, int selection)
{
    /* RSA has no domain parameters: only the key pair can differ. */
    return (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0 || tk_key_public_eq(a, b);
}

static int rsa_public_to_params(const TK_KEY *k, int selection, OSSL_PARAM_BLD *bld)
{
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0 || !tk_key_has_public(k))
        return 1;
    return OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, k->rsa_n)
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, k->rsa_e);
}

static int rsa_public_from_params(TK_KEY *k, int selection, const OSSL_PARAM params[])
{
    const OSSL_PARAM *n = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_N);
    const OSSL_PARAM *e = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E);

    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0)
        return 1;
    if (n == NULL || e == NULL || !OSSL_PARAM_get_BN(n, &k->rsa_n)
        || !OSSL_PARAM_get_BN(e, &k->rsa_e) || BN_is_zero(k->rsa_n) || BN_is_zero(k->rsa_e)) {
        BN_free(k->rsa_n);
        BN_free(k->rsa_e);
        k->rsa_n = k->rsa_e = NULL;
        TK_RAISE(k->ctx, TK_R_BAD_ARGUMENT, "an RSA public key needs n and e");
        return 0;
    }
    k->bits = BN_num_bits(k->rsa_n);
    return 1;
}

static int rsa_public_copy(TK_KEY *to, const TK_KEY *from, int selection)
{
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0 || !tk_key_has_public(from))
        return 1;
    to->rsa_n = BN_dup(from->rsa_n);
    to->rsa_e = BN_dup(from->rsa_e);
    to->bits = from->bits;
    return to->rsa_n != NULL && to->rsa_e != NULL;
}

static int rsa_get_params(const TK_KEY *k, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    if (!tk_key_has_public(k))
        return 1;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_N)) != NULL
        && !OSSL_PARAM_set_BN(p, k->rsa_n))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_E)) != NULL
        && !OSSL_PARAM_set_BN(p, k->rsa_e))
        return 0;
    return 1;
}

/* d, and the CRT values of RFC 8017 A.1.2 in OpenSSL's names (rsa-factor1...). */
static const char *const rsa_private_names[] = {
    OSSL_PKEY_PARAM_RSA_D, "rsa-factor*", "rsa-exponent*", "rsa-coefficient*", NULL
};

const TK_KM_ALG tk_km_rsa = {
    TK_KEY_RSA, TK_SIG_NAME_RSA, "SHA256", rsa_private_names,
    rsa_public_eq, rsa_public_to_params, rsa_public_from_params,
    rsa_public_copy, rsa_get_params,
};

/* ---- dispatch: the functions that cannot tell the key type from their arguments ---- */

static OSSL_FUNC_keymgmt_new_fn tk_rsa_new;
static OSSL_FUNC_keymgmt_load_fn tk_rsa_load;
static OSSL_FUNC_keymgmt_gettable_params_fn tk_rsa_gettable_params;
static OSSL_FUNC_keymgmt_import_types_fn tk_rsa_public_types;
static OSSL_FUNC_keymgmt_query_operation_name_fn tk_rsa_query_operation_name;
static OSSL_FUNC_keymgmt_gen_init_fn tk_rsa_gen_init;
static OSSL_FUNC_keymgmt_gen_settable_params_fn tk_rsa_gen_settable_params;

static void *tk_rsa_new(void *provctx)
{
    return tk_km_new(provctx, TK_KEY_RSA);
}

static void *tk_rsa_load(const void *reference, size_t reference_sz)
{
    return tk_km_load(reference, reference_sz, TK_KEY_RSA);
}

static const OSSL_PARAM rsa_gettable[] = {
    TK_KM_COMMON_GETTABLE,
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_rsa_gettable_params(void *provctx)
{
    return rsa_gettable;
}

static const OSSL_PARAM rsa_public_types[] = {
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END
};

/* Import and export take and give the same public parameters. */
static const OSSL_PARAM *tk_rsa_public_types(int selection)
{
    return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 ? rsa_public_types
                                                             : rsa_public_types + 2;
}

static const char *tk_rsa_query_operation_name(int operation_id)
{
    return tk_km_query_operation_name(TK_KEY_RSA, operation_id);
}

static void *tk_rsa_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return tk_km_gen_init(provctx, selection, params, TK_KEY_RSA);
}

/* Named and typed as OpenSSL's RSA keygen takes them, so -pkeyopt rsa_keygen_bits works. */
static const OSSL_PARAM rsa_gen_settable[] = {
    TK_KM_GEN_COMMON_SETTABLE,
    OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, NULL),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_rsa_gen_settable_params(void *genctx, void *provctx)
{
    return rsa_gen_settable;
}

const OSSL_DISPATCH tk_rsa_keymgmt_functions[] = {
    { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))tk_rsa_new },
    { OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))tk_km_free },
    { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))tk_rsa_load },
    { OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))tk_km_dup },
    { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))tk_km_has },
    { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))tk_km_match },
    { OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))tk_km_validate },
    { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))tk_km_get_params },
    { OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))tk_km_set_params },
    { OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))tk_km_settable_params },
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))tk_rsa_gettable_params },
    { OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))tk_km_import },
    { OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))tk_rsa_public_types },
    { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))tk_km_export },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))tk_rsa_public_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))tk_rsa_query_operation_name },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))tk_rsa_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))tk_km_gen_set_params },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))tk_rsa_gen_settable_params },
    { OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))tk_km_gen },
    { OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))tk_km_gen_cleanup },
    { 0, NULL }
};
