/*
 * Key management for token keys, the parts every key type shares: key data
 * lifecycle, has/match, the public-only import and export, get_params'
 * common entries, and the algorithm table query_operation hands out.
 *
 * The key data is a TK_KEY (key.h): a reference to a private key object
 * on a token plus its public half, or - made by new + import - a public
 * half alone (a certificate's key that OpenSSL wants to compare with ours).
 * Private key material is never read, imported or exported: no option
 * changes that.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "algorithms.h"
#include "debug.h"
#include "errors.h"
#include "keymgmt_local.h"
#include "signature/signature.h"

const TK_KM_ALG *tk_km_alg(TK_KEY_TYPE type)
{
    switch (type) {
    case TK_KEY_RSA: return &tk_km_rsa;
    case TK_KEY_EC: return &tk_km_ec;
    case TK_KEY_ED25519: return &tk_km_ed25519;
    default: return NULL;
    }
}

void *tk_km_new(void *provctx, TK_KEY_TYPE type)
{
    TK_KEY *k = tk_key_new(provctx, type);

    if (k == NULL)
        TK_RAISE(provctx, TK_R_OUT_OF_MEMORY, "new %s key", tk_key_type_name(type));
    return k;
}

void tk_km_free(void *keydata)
{
    tk_key_free(keydata);
}

/*
 * The reference is the bytes of a TK_KEY pointer (the store and decoder
 * make it and free their own reference once OpenSSL's callback returns),
 * so taking another reference is all loading means.
 */
void *tk_km_load(const void *reference, size_t reference_sz, TK_KEY_TYPE type)
{
    TK_KEY *k;

    if (reference == NULL || reference_sz != sizeof(k)) {
        TK_RAISE(NULL, TK_R_BAD_KEY_REFERENCE, "key reference of %zu bytes", reference_sz);
        return NULL;
    }
    memcpy(&k, reference, sizeof(k));
    if (k == NULL) {
        TK_RAISE(NULL, TK_R_BAD_KEY_REFERENCE, "empty key reference");
        return NULL;
    }
    if (k->type != type) {
        TK_RAISE(k->ctx, TK_R_KEY_MISMATCH, "%s is a %s key, not %s",
                 k->uri != NULL ? k->uri : "the key", tk_key_type_name(k->type),
                 tk_key_type_name(type));
        return NULL;
    }
    return tk_key_up_ref(k);
}

int tk_km_has(const void *keydata, int selection)
{
    const TK_KEY *k = keydata;
    int ok = 1;

    if (k == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
        ok = ok && tk_key_has_public(k);
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0)
        ok = ok && tk_key_has_private(k);
    /* EC domain parameters are its group; RSA and Ed25519 have none to miss. */
    if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0 && k->type == TK_KEY_EC)
        ok = ok && k->group[0] != '\0';
    return ok;
}

/*
 * Compares what selection asks, as OpenSSL's own keymgmts do
 * (providers/implementations/keymgmt/ec_kmgmt.c ec_match): a key pair is
 * identified by its public half, so the public halves decide both
 * OSSL_KEYMGMT_SELECT_PUBLIC_KEY and _PRIVATE_KEY (we never hold private
 * material to compare, and two objects with one public key are one key).
 */
int tk_km_match(const void *keydata1, const void *keydata2, int selection)
{
    const TK_KEY *a = keydata1, *b = keydata2;

    if (a == NULL || b == NULL || a->type != b->type)
        return 0;
    return tk_km_alg(a->type)->public_eq(a, b, selection);
}

/*
 * EVP_PKEY_dup and evp_keymgmt_util_copy. The key is immutable once made,
 * so the whole key is another reference; a part of it (copying domain
 * parameters, say) must not carry the token object along, so it is a new
 * public-only key.
 */
void *tk_km_dup(const void *keydata_from, int selection)
{
    const TK_KEY *from = keydata_from;
    TK_KEY *to;

    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0
        || (!tk_key_has_private(from) && (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0))
        return tk_key_up_ref((TK_KEY *)from);
    to = tk_key_new(from->ctx, from->type);
    if (to == NULL || !tk_km_alg(from->type)->public_copy(to, from, selection)) {
        tk_key_free(to);
        TK_RAISE(from->ctx, TK_R_OUT_OF_MEMORY, "copying a key's public part");
        return NULL;
    }
    return to;
}

const char *tk_km_query_operation_name(TK_KEY_TYPE type, int operation_id)
{
    if (operation_id == OSSL_OP_SIGNATURE)
        return tk_km_alg(type)->sig_name;
    return NULL; /* the keymgmt's own name */
}

/*
 * What the key can tell without the token. Ed25519 is reported as OpenSSL's
 * own keymgmt does (providers/implementations/keymgmt/ecx_kmgmt.c): 256
 * bits, and a mandatory digest of "" meaning none may be given.
 */
static int bits_of(const TK_KEY *k)
{
    return k->type == TK_KEY_ED25519 ? 256 : k->bits;
}

int tk_km_set_params(void *keydata, const OSSL_PARAM params[])
{
    const TK_KEY *k = keydata;

    if (params == NULL || params[0].key == NULL)
        return 1;
    TK_RAISE(k != NULL ? k->ctx : NULL, TK_R_BAD_ARGUMENT, "%s: a token key cannot be changed "
             "(asked to set '%s'): make a new key, or change a software copy of its public half",
             k != NULL && k->uri != NULL ? k->uri : "key", params[0].key);
    return 0;
}

const OSSL_PARAM *tk_km_settable_params(void *provctx)
{
    static const OSSL_PARAM none[] = { OSSL_PARAM_END };

    (void)provctx;
    return none;
}

/*
 * RSA: what OpenSSL's own RSA keys answer (SP 800-56B; 152 for RSA-4096
 * where BN_security_bits' SP 800-57 steps say 128), asked of a software
 * copy of the public half: libssl picks a TLS 1.2 server's automatic DHE
 * group by it, and a token key should get what a software key gets.
 * OpenSSL caches the answer in the EVP_PKEY: this runs once per key
 * object, never per signature.
 */
static int security_bits(const TK_KEY *k)
{
    EVP_PKEY *pub = NULL;
    int bits = 0;

    if (k->type == TK_KEY_RSA && k->ctx != NULL && tk_key_has_public(k)) {
        ERR_set_mark();
        if (tk_sig_public_pkey(k->ctx, k, &pub))
            bits = EVP_PKEY_get_security_bits(pub);
        ERR_pop_to_mark();
        EVP_PKEY_free(pub);
    }
    return bits > 0 ? bits : tk_key_security_bits(k);
}

int tk_km_get_params(void *keydata, OSSL_PARAM params[])
{
    const TK_KEY *k = keydata;
    const TK_KM_ALG *alg = tk_km_alg(k->type);
    OSSL_PARAM *p;

    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS)) != NULL
        && !OSSL_PARAM_set_int(p, bits_of(k)))
        goto bad;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS)) != NULL
        && !OSSL_PARAM_set_int(p, security_bits(k)))
        goto bad;
    if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE)) != NULL
        && !OSSL_PARAM_set_int(p, tk_key_max_signature_size(k)))
        goto bad;
    if (alg->default_digest != NULL) {
        if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST)) != NULL
            && !OSSL_PARAM_set_utf8_string(p, alg->default_digest))
            goto bad;
    } else if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MANDATORY_DIGEST)) != NULL
               && !OSSL_PARAM_set_utf8_string(p, "")) {
        goto bad;
    }
    if (!alg->get_params(k, params))
        goto bad;
    return 1;
bad:
    TK_RAISE(k->ctx, TK_R_BAD_ARGUMENT, "a %s key parameter does not fit the caller's buffer",
             tk_key_type_name(k->type));
    return 0;
}

/* name is "key" or, ending in '*', a prefix ("rsa-factor*": rsa-factor1..10). */
static int name_matches(const char *key, const char *name)
{
    size_t n = strlen(name);

    if (n > 0 && name[n - 1] == '*')
        return strncmp(key, name, n - 1) == 0;
    return strcmp(key, name) == 0;
}

/* The first parameter in params that would carry private key material, or NULL. */
static const char *private_param(const TK_KM_ALG *alg, const OSSL_PARAM params[])
{
    for (const OSSL_PARAM *p = params; p != NULL && p->key != NULL; p++)
        for (const char *const *name = alg->private_names; *name != NULL; name++)
            if (name_matches(p->key, *name))
                return p->key;
    return NULL;
}

/*
 * A public-only key from params: OpenSSL's route for comparing a key from
 * another provider (a certificate's) with ours. Private material is
 * refused with an error rather than dropped: a caller asking tokenkey to
 * hold a software private key (EVP_PKEY_fromdata with a key pair) would
 * otherwise get a key that cannot sign and no word why. The compare path
 * never sends private material here: OpenSSL 3.0.22's EVP_PKEY_eq exports
 * with OSSL_KEYMGMT_SELECT_PUBLIC_KEY | _DOMAIN_PARAMETERS when both keys
 * have a public half, and the signature-init probe that does send a whole
 * software key pair (OSSL_KEYMGMT_SELECT_ALL, when our signature
 * implementation is fetched first) runs inside ERR_set_mark/ERR_pop_to_mark
 * (crypto/evp/m_sigver.c, signature.c) and falls back to the key's own
 * provider, so the error never outlives the probe.
 */
int tk_km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    TK_KEY *k = keydata;
    const TK_KM_ALG *alg = tk_km_alg(k->type);
    const char *secret = private_param(alg, params);

    if (secret != NULL) {
        TK_RAISE(k->ctx, TK_R_PRIVATE_EXPORT_REFUSED,
                 "refusing to import a %s private key ('%s'): tokenkey keys live on tokens",
                 tk_key_type_name(k->type), secret);
        return 0;
    }
    if (tk_key_has_private(k) || tk_key_has_public(k)) {
        TK_RAISE(k->ctx, TK_R_BAD_ARGUMENT, "importing into a %s key that is already set",
                 tk_key_type_name(k->type));
        return 0;
    }
    if ((selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS)) == 0)
        return 1; /* nothing we keep was asked for */
    return alg->public_from_params(k, selection, params);
}

/*
 * Only the public half ever leaves. A selection that includes the private
 * key of a token key fails, with an error: handing out the public half
 * instead would let OpenSSL cache a public-only copy in another provider
 * under that selection and sign with it later (and fail obscurely).
 *
 * Raising the error leaves no junk behind a successful operation on
 * OpenSSL 3.0.22 (tests/keymgmt checks each): EVP_PKEY_eq and
 * EVP_PKEY_parameters_eq pass their selection down to
 * evp_keymgmt_util_export_to_provider (0x06 / 0x04, no private bit), the
 * SubjectPublicKeyInfo encoders ask for the public key only (0x86), and
 * the signature-init probes that ask for everything (0x87) are wrapped in
 * ERR_set_mark/ERR_pop_to_mark before falling back to our own signature
 * implementation. What remains are the explicit requests for the private
 * key (EVP_PKEY_todata(EVP_PKEY_KEYPAIR), EVP_PKEY_get1_EC_KEY...), which
 * should fail with a reason.
 */
int tk_km_export(void *keydata, int selection, OSSL_CALLBACK *param_cb, void *cbarg)
{
    TK_KEY *k = keydata;
    const TK_KM_ALG *alg = tk_km_alg(k->type);
    OSSL_PARAM_BLD *bld;
    OSSL_PARAM *params = NULL;
    int ok = 0;

    TK_TRACE("export of %s key %s, selection 0x%x", tk_key_type_name(k->type),
             k->uri != NULL ? k->uri : "(public only)", (unsigned)selection);
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && tk_key_has_private(k)) {
        TK_RAISE(k->ctx, TK_R_PRIVATE_EXPORT_REFUSED, "%s", k->uri);
        return 0;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld != NULL && alg->public_to_params(k, selection, bld)
        && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL)
        ok = param_cb(params, cbarg);
    else
        TK_RAISE(k->ctx, TK_R_OUT_OF_MEMORY, "exporting a %s public key", tk_key_type_name(k->type));
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return ok;
}

/* Names: RFC 8017 A.1 rsaEncryption, RFC 5480 id-ecPublicKey, RFC 8410 id-Ed25519. */
const OSSL_ALGORITHM tk_keymgmt_algorithms[] = {
    { "RSA:rsaEncryption:1.2.840.113549.1.1.1", "provider=tokenkey", tk_rsa_keymgmt_functions,
      "RSA keys on PKCS#11 tokens" },
    { "EC:id-ecPublicKey:1.2.840.10045.2.1", "provider=tokenkey", tk_ec_keymgmt_functions,
      "EC (P-256, P-384, P-521) keys on PKCS#11 tokens" },
    { "ED25519:1.3.101.112", "provider=tokenkey", tk_ed25519_keymgmt_functions,
      "Ed25519 keys on PKCS#11 tokens" },
    { NULL, NULL, NULL, NULL }
};
