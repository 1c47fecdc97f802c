/*
 * EC (P-256, P-384, P-521) and Ed25519 token keys, which share their shape:
 * a public point as bytes (EC: the uncompressed SEC 1 point 04||X||Y, RFC
 * 5480 section 2.2; Ed25519: the 32 bytes of RFC 8032 section 5.1.5), EC
 * adding a named group. One set of functions serves both; the two
 * dispatch tables at the end differ only where OpenSSL gives no key.
 */
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/params.h>

#include "errors.h"
#include "keymgmt_local.h"

/* RFC 5480 section 2.1.1.1 named curves, by the names OpenSSL and users give them. */
static const struct {
    const char *names[3];
    int nid;
    int bits;
} ec_groups[] = {
    { { "P-256", "prime256v1", "secp256r1" }, NID_X9_62_prime256v1, 256 },
    { { "P-384", "secp384r1", NULL }, NID_secp384r1, 384 },
    { { "P-521", "secp521r1", NULL }, NID_secp521r1, 521 },
};

int tk_km_ec_group_nid(const char *name)
{
    for (size_t i = 0; name != NULL && i < sizeof(ec_groups) / sizeof(ec_groups[0]); i++)
        for (size_t j = 0; j < 3 && ec_groups[i].names[j] != NULL; j++)
            if (strcasecmp(name, ec_groups[i].names[j]) == 0)
                return ec_groups[i].nid;
    return NID_undef;
}

static int group_bits(int nid)
{
    for (size_t i = 0; i < sizeof(ec_groups) / sizeof(ec_groups[0]); i++)
        if (ec_groups[i].nid == nid)
            return ec_groups[i].bits;
    return 0;
}

static int ecx_public_eq(const TK_KEY *a, const TK_KEY *b, int selection)
{
    /* The key pair's comparison includes the group. */
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        return tk_key_public_eq(a, b);
    if (a->type == TK_KEY_EC && (selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0)
        return a->group[0] != '\0' && strcmp(a->group, b->group) == 0;
    return 1;
}

/*
 * The group goes with the public key too: OpenSSL's EC import refuses a
 * key pair without its domain parameters (ec_kmgmt.c ec_import).
 */
static int ecx_public_to_params(const TK_KEY *k, int selection, OSSL_PARAM_BLD *bld)
{
    int want_pub = (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && k->pub != NULL;

    if (k->type == TK_KEY_EC && k->group[0] != '\0'
        && (want_pub || (selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0)
        && (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, k->group, 0)
            || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_EC_ENCODING,
                                                OSSL_PKEY_EC_ENCODING_GROUP, 0)
            || !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                                OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED,
                                                0)))
        return 0;
    return !want_pub || OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, k->pub,
                                                         k->pub_len);
}

/* An EC point in any SEC 1 form, checked to be on the curve, as 04||X||Y. */
static int set_ec_point(TK_KEY *k, int nid, const unsigned char *in, size_t inlen)
{
    EC_GROUP *group = EC_GROUP_new_by_curve_name_ex(k->ctx != NULL ? k->ctx->libctx : NULL,
                                                    NULL, nid);
    EC_POINT *point = group != NULL ? EC_POINT_new(group) : NULL;
    int ok = 0;

    if (point != NULL && EC_POINT_oct2point(group, point, in, inlen, NULL)
        && !EC_POINT_is_at_infinity(group, point)) {
        k->pub_len = EC_POINT_point2buf(group, point, POINT_CONVERSION_UNCOMPRESSED, &k->pub,
                                        NULL);
        ok = k->pub_len > 0;
    }
    EC_POINT_free(point);
    EC_GROUP_free(group);
    return ok;
}

static int ecx_public_from_params(TK_KEY *k, int selection, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
    const void *pub = NULL;
    size_t publen = 0;
    const char *name = NULL;
    int nid = NID_undef;

    if (k->type == TK_KEY_EC) {
        /* Explicit curve parameters (RFC 5480 forbids them in PKIX) are not ours. */
        if (p == NULL || !OSSL_PARAM_get_utf8_string_ptr(p, &name)
            || (nid = tk_km_ec_group_nid(name)) == NID_undef) {
            TK_RAISE(k->ctx, TK_R_UNSUPPORTED_KEY_TYPE, "EC group '%s'",
                     name != NULL ? name : "(none or explicit)");
            return 0;
        }
        OPENSSL_strlcpy(k->group, OBJ_nid2sn(nid), sizeof(k->group));
        k->bits = group_bits(nid);
    } else {
        k->bits = 255;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY);
    if (p == NULL || !OSSL_PARAM_get_octet_string_ptr(p, &pub, &publen)
        || (k->type == TK_KEY_EC ? !set_ec_point(k, nid, pub, publen)
                                 : publen != 32 || (k->pub = OPENSSL_memdup(pub, 32)) == NULL)) {
        TK_RAISE(k->ctx, TK_R_BAD_ARGUMENT, "no valid %s public key to import",
                 tk_key_type_name(k->type));
        return 0;
    }
    if (k->type == TK_KEY_ED25519)
        k->pub_len = 32;
    return 1;
}

static int ecx_public_copy(TK_KEY *to, const TK_KEY *from, int selection)
{
    memcpy(to->group, from->group, sizeof(to->group));
    to->bits = from->bits;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0 || from->pub == NULL)
        return 1;
    to->pub = OPENSSL_memdup(from->pub, from->pub_len);
    to->pub_len = from->pub_len;
    return to->pub != NULL;
}

/* X or Y of 04||X||Y as a BIGNUM parameter (EC_PUB_X / EC_PUB_Y). */
static int set_coordinate(OSSL_PARAM *p, const TK_KEY *k, int which)
{
    size_t half = (k->pub_len - 1) / 2;
    BIGNUM *bn = BN_bin2bn(k->pub + 1 + which * half, (int)half, NULL);
    int ok = bn != NULL && OSSL_PARAM_set_BN(p, bn);

    BN_free(bn);
    return ok;
}

/*
 * Besides what EVP_PKEY_get_*_param users ask, what libssl 3.0 reads from
 * an EC key: the group name (ssl_get_EC_curve_nid), point format and field
 * type (tls1_check_pkey_comp, RFC 8422 section 5.1.2).
 */
static int ecx_get_params(const TK_KEY *k, OSSL_PARAM params[])
{
    OSSL_PARAM *p;

    if (k->pub != NULL) {
        if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PUB_KEY)) != NULL
            && !OSSL_PARAM_set_octet_string(p, k->pub, k->pub_len))
            return 0;
        if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY)) != NULL
            && !OSSL_PARAM_set_octet_string(p, k->pub, k->pub_len))
            return 0;
    }
    if (k->type != TK_KEY_EC)
        return 1;
    if (k->group[0] != '\0' && (p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_GROUP_NAME)) != NULL
        && !OSSL_PARAM_set_utf8_string(p, k->group))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT)) != NULL
        && !OSSL_PARAM_set_utf8_string(p, OSSL_PKEY_EC_POINT_CONVERSION_FORMAT_UNCOMPRESSED))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_ENCODING)) != NULL
        && !OSSL_PARAM_set_utf8_string(p, OSSL_PKEY_EC_ENCODING_GROUP))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_FIELD_TYPE)) != NULL
        && !OSSL_PARAM_set_utf8_string(p, SN_X9_62_prime_field))
        return 0;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS)) != NULL
        && !OSSL_PARAM_set_int(p, 0))
        return 0;
    if (k->pub != NULL && (p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_PUB_X)) != NULL
        && !set_coordinate(p, k, 0))
        return 0;
    if (k->pub != NULL && (p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_PUB_Y)) != NULL
        && !set_coordinate(p, k, 1))
        return 0;
    return 1;
}

static const char *const ecx_private_names[] = { OSSL_PKEY_PARAM_PRIV_KEY, NULL };

/* ECDSA: RFC 5758 section 3.2 with SHA-256 for the smallest curve we handle. */
const TK_KM_ALG tk_km_ec = {
    TK_KEY_EC, TK_SIG_NAME_ECDSA, "SHA256", ecx_private_names,
    ecx_public_eq, ecx_public_to_params, ecx_public_from_params,
    ecx_public_copy, ecx_get_params,
};

/* PureEdDSA (RFC 8032 section 5.1) hashes inside: no digest may be chosen. */
const TK_KM_ALG tk_km_ed25519 = {
    TK_KEY_ED25519, TK_SIG_NAME_ED25519, NULL, ecx_private_names,
    ecx_public_eq, ecx_public_to_params, ecx_public_from_params,
    ecx_public_copy, ecx_get_params,
};

/* ---- dispatch: the functions that cannot tell the key type from their arguments ---- */

static OSSL_FUNC_keymgmt_new_fn tk_ec_new;
static OSSL_FUNC_keymgmt_new_fn tk_ed25519_new;
static OSSL_FUNC_keymgmt_load_fn tk_ec_load;
static OSSL_FUNC_keymgmt_load_fn tk_ed25519_load;
static OSSL_FUNC_keymgmt_gettable_params_fn tk_ec_gettable_params;
static OSSL_FUNC_keymgmt_gettable_params_fn tk_ed25519_gettable_params;
static OSSL_FUNC_keymgmt_import_types_fn tk_ec_public_types;
static OSSL_FUNC_keymgmt_import_types_fn tk_ed25519_public_types;
static OSSL_FUNC_keymgmt_query_operation_name_fn tk_ec_query_operation_name;
static OSSL_FUNC_keymgmt_query_operation_name_fn tk_ed25519_query_operation_name;
static OSSL_FUNC_keymgmt_gen_init_fn tk_ec_gen_init;
static OSSL_FUNC_keymgmt_gen_init_fn tk_ed25519_gen_init;
static OSSL_FUNC_keymgmt_gen_settable_params_fn tk_ec_gen_settable_params;
static OSSL_FUNC_keymgmt_gen_settable_params_fn tk_ed25519_gen_settable_params;

static void *tk_ec_new(void *provctx)
{
    return tk_km_new(provctx, TK_KEY_EC);
}

static void *tk_ed25519_new(void *provctx)
{
    return tk_km_new(provctx, TK_KEY_ED25519);
}

static void *tk_ec_load(const void *reference, size_t reference_sz)
{
    return tk_km_load(reference, reference_sz, TK_KEY_EC);
}

static void *tk_ed25519_load(const void *reference, size_t reference_sz)
{
    return tk_km_load(reference, reference_sz, TK_KEY_ED25519);
}

static const OSSL_PARAM ec_gettable[] = {
    TK_KM_COMMON_GETTABLE,
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_FIELD_TYPE, NULL, 0),
    OSSL_PARAM_int(OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS, NULL),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
    /* Last, so the Ed25519 list below is its tail. */
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM ed25519_gettable[] = {
    TK_KM_COMMON_GETTABLE,
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_ec_gettable_params(void *provctx)
{
    return ec_gettable;
}

static const OSSL_PARAM *tk_ed25519_gettable_params(void *provctx)
{
    return ed25519_gettable;
}

/* Import and export take and give the same parameters: [domain parameters] [public key]. */
static const OSSL_PARAM ec_public_types[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_ec_public_types(int selection)
{
    static const OSSL_PARAM domain_only[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
        OSSL_PARAM_END
    };

    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
        return ec_public_types;
    if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0)
        return domain_only;
    return ec_public_types + 4;
}

static const OSSL_PARAM *tk_ed25519_public_types(int selection)
{
    /* Ed25519 has no domain parameters: its list is EC's public key alone. */
    return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 ? ec_public_types + 3
                                                             : ec_public_types + 4;
}

static const char *tk_ec_query_operation_name(int operation_id)
{
    return tk_km_query_operation_name(TK_KEY_EC, operation_id);
}

static const char *tk_ed25519_query_operation_name(int operation_id)
{
    return tk_km_query_operation_name(TK_KEY_ED25519, operation_id);
}

static void *tk_ec_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return tk_km_gen_init(provctx, selection, params, TK_KEY_EC);
}

static void *tk_ed25519_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return tk_km_gen_init(provctx, selection, params, TK_KEY_ED25519);
}

static const OSSL_PARAM ec_gen_settable[] = {
    TK_KM_GEN_COMMON_SETTABLE,
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *tk_ec_gen_settable_params(void *genctx, void *provctx)
{
    return ec_gen_settable;
}

static const OSSL_PARAM *tk_ed25519_gen_settable_params(void *genctx, void *provctx)
{
    static const OSSL_PARAM settable[] = { TK_KM_GEN_COMMON_SETTABLE, OSSL_PARAM_END };

    return settable;
}

const OSSL_DISPATCH tk_ec_keymgmt_functions[] = {
    { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))tk_ec_new },
    { OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))tk_km_free },
    { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))tk_ec_load },
    { OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))tk_km_dup },
    { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))tk_km_has },
    { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))tk_km_match },
    { OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))tk_km_validate },
    { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))tk_km_get_params },
    { OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))tk_km_set_params },
    { OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))tk_km_settable_params },
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))tk_ec_gettable_params },
    { OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))tk_km_import },
    { OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))tk_ec_public_types },
    { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))tk_km_export },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))tk_ec_public_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))tk_ec_query_operation_name },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))tk_ec_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (void (*)(void))tk_km_gen_set_template },
    { OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))tk_km_gen_set_params },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))tk_ec_gen_settable_params },
    { OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))tk_km_gen },
    { OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))tk_km_gen_cleanup },
    { 0, NULL }
};

const OSSL_DISPATCH tk_ed25519_keymgmt_functions[] = {
    { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))tk_ed25519_new },
    { OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))tk_km_free },
    { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))tk_ed25519_load },
    { OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))tk_km_dup },
    { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))tk_km_has },
    { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))tk_km_match },
    { OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))tk_km_validate },
    { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))tk_km_get_params },
    { OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))tk_km_set_params },
    { OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))tk_km_settable_params },
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))tk_ed25519_gettable_params },
    { OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))tk_km_import },
    { OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))tk_ed25519_public_types },
    { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))tk_km_export },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))tk_ed25519_public_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))tk_ed25519_query_operation_name },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))tk_ed25519_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))tk_km_gen_set_params },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))tk_ed25519_gen_settable_params },
    { OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))tk_km_gen },
    { OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))tk_km_gen_cleanup },
    { 0, NULL }
};
