/*
 * validate: what EVP_PKEY_check, EVP_PKEY_public_check and
 * EVP_PKEY_pairwise_check ask (openssl pkey -check). Without it OpenSSL
 * reports any key valid.
 *
 * The public half tokenkey holds for a key was read off the token - from
 * the private key object, or else from the public key object or the
 * certificate with the same CKA_ID (key_public.c) - so the check that
 * matters is the pair: a signature made on the token, verified in
 * software with that public half. It shows that the key TLS will sign
 * with and the public key its certificate must carry belong together. The
 * public half alone goes to the default provider's own validation (point
 * on the curve, RSA modulus).
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "errors.h"
#include "keymgmt_local.h"
#include "signature/signature.h"

/* What the token signs: any fixed 32 bytes do (a digest's size, for ECDSA and raw RSA). */
static const unsigned char probe[32] = "tokenkey pairwise check, 32 b.";

static int check_public(TK_KEY *k, EVP_PKEY *pub, int checktype)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(k->ctx->libctx, pub, TK_SIG_PUBLIC_PROPQ);
    int ok = c != NULL
             && (checktype == OSSL_KEYMGMT_VALIDATE_QUICK_CHECK ? EVP_PKEY_public_check_quick(c)
                                                               : EVP_PKEY_public_check(c)) == 1;

    EVP_PKEY_CTX_free(c);
    if (!ok)
        TK_RAISE(k->ctx, TK_R_KEY_MISMATCH, "the public half of %s is not a valid %s public key",
                 k->uri != NULL ? k->uri : "the key", tk_key_type_name(k->type));
    return ok;
}

/*
 * The ways the token can sign probe, best first: the key type's raw
 * mechanism, then (for keys that may use only some mechanisms: the token's
 * list, CKA_ALLOWED_MECHANISMS) PSS over probe as a SHA-256 digest, and the
 * combined SHA-2 mechanisms over probe as the message.
 */
typedef struct {
    TK_KEY_TYPE type;
    CK_MECHANISM_TYPE mech;
    int md_nid;                /* the digest (PSS: also MGF1, and the salt's length); 0 none */
    int pss;
    int message;               /* the token hashes probe (Ed25519: signs it whole) */
} PROBE_WAY;

static const PROBE_WAY probe_ways[] = {
    { TK_KEY_RSA, CKM_RSA_PKCS, 0, 0, 0 },
    { TK_KEY_RSA, CKM_RSA_PKCS_PSS, NID_sha256, 1, 0 },
    { TK_KEY_RSA, CKM_SHA256_RSA_PKCS, NID_sha256, 0, 1 },
    { TK_KEY_RSA, CKM_SHA384_RSA_PKCS, NID_sha384, 0, 1 },
    { TK_KEY_RSA, CKM_SHA512_RSA_PKCS, NID_sha512, 0, 1 },
    { TK_KEY_RSA, CKM_SHA256_RSA_PKCS_PSS, NID_sha256, 1, 1 },
    { TK_KEY_RSA, CKM_SHA384_RSA_PKCS_PSS, NID_sha384, 1, 1 },
    { TK_KEY_RSA, CKM_SHA512_RSA_PKCS_PSS, NID_sha512, 1, 1 },
    { TK_KEY_EC, CKM_ECDSA, 0, 0, 0 },
    { TK_KEY_EC, CKM_ECDSA_SHA256, NID_sha256, 0, 1 },
    { TK_KEY_EC, CKM_ECDSA_SHA384, NID_sha384, 0, 1 },
    { TK_KEY_EC, CKM_ECDSA_SHA512, NID_sha512, 0, 1 },
    { TK_KEY_ED25519, CKM_EDDSA, 0, 0, 1 },
};

static const PROBE_WAY *probe_way(TK_KEY *k)
{
    CK_MECHANISM_TYPE first = 0, second = 0;

    if (!tk_sig_mechanisms_known(k->ctx, k))
        return NULL;
    for (size_t i = 0; i < sizeof(probe_ways) / sizeof(probe_ways[0]); i++) {
        if (probe_ways[i].type != k->type)
            continue;
        if (tk_key_can_use_mechanism(k, probe_ways[i].mech, CKF_SIGN))
            return &probe_ways[i];
        /* The message names the two best: the raw mechanism and the next one. */
        if (first == 0)
            first = probe_ways[i].mech;
        else if (second == 0)
            second = probe_ways[i].mech;
    }
    tk_sig_raise_no_mechanism(k->ctx, k, "signing", first, second);
    return NULL;
}

/* A signature of probe on the token, as the software verifier takes it (DER for ECDSA). */
static CK_RV sign_probe(TK_KEY *k, const PROBE_WAY *way, unsigned char *sig, size_t cap,
                        size_t *siglen)
{
    const TK_SIG_DIGEST *d = way->pss ? tk_sig_digest_by_nid(way->md_nid) : NULL;
    CK_RSA_PKCS_PSS_PARAMS pss = { 0 };
    CK_MECHANISM mech = { way->mech, NULL, 0 };
    unsigned char rs[2 * TK_ECDSA_MAX_HALF];
    size_t rslen = sizeof(rs);
    CK_RV rv;

    if (d != NULL) {
        /* Salt as long as the digest, RFC 8446's choice. */
        pss = (CK_RSA_PKCS_PSS_PARAMS){ d->hash, d->mgf1, d->size };
        mech.pParameter = &pss;
        mech.ulParameterLen = sizeof(pss);
    }
    *siglen = cap;
    if (k->type != TK_KEY_EC) {
        rv = tk_key_sign(k, &mech, probe, sizeof(probe), sig, siglen);
    } else {
        rv = tk_key_sign(k, &mech, probe, sizeof(probe), rs, &rslen);
        if (rv == CKR_OK && !tk_ecdsa_rs_to_der(rs, rslen, sig, cap, siglen))
            rv = CKR_FUNCTION_FAILED;
    }
    return rv;
}

static int verify_probe(TK_KEY *k, EVP_PKEY *pub, const PROBE_WAY *way,
                        const unsigned char *sig, size_t siglen)
{
    OSSL_LIB_CTX *libctx = k->ctx->libctx;
    const char *md = way->md_nid != 0 ? OBJ_nid2sn(way->md_nid) : NULL;
    int saltlen = way->pss ? (int)tk_sig_digest_by_nid(way->md_nid)->size : 0;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *c = NULL;
    OSSL_PARAM digest[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_END
    };
    int ok;

    if (way->message) {
        /* The token hashed probe (or signed it whole): verify the message. */
        mctx = EVP_MD_CTX_new();
        ok = mctx != NULL
             && EVP_DigestVerifyInit_ex(mctx, &c, md, libctx, TK_SIG_PUBLIC_PROPQ, pub, NULL) == 1;
    } else {
        /* probe itself was signed: ECDSA and PSS take it as a SHA-256 digest, PKCS#1 as data. */
        c = EVP_PKEY_CTX_new_from_pkey(libctx, pub, TK_SIG_PUBLIC_PROPQ);
        ok = c != NULL && EVP_PKEY_verify_init(c) == 1
             && (md == NULL || EVP_PKEY_CTX_set_params(c, digest) == 1);
    }
    ok = ok && (k->type != TK_KEY_RSA
                || EVP_PKEY_CTX_set_rsa_padding(c, way->pss ? RSA_PKCS1_PSS_PADDING
                                                            : RSA_PKCS1_PADDING) == 1)
         && (!way->pss || EVP_PKEY_CTX_set_rsa_pss_saltlen(c, saltlen) == 1);
    if (ok && mctx != NULL)
        ok = EVP_DigestVerify(mctx, sig, siglen, probe, sizeof(probe)) == 1;
    else if (ok)
        ok = EVP_PKEY_verify(c, sig, siglen, probe, sizeof(probe)) == 1;
    if (mctx != NULL)
        EVP_MD_CTX_free(mctx); /* and the EVP_PKEY_CTX it owns */
    else
        EVP_PKEY_CTX_free(c);
    return ok;
}

static int check_pair(TK_KEY *k, EVP_PKEY *pub)
{
    size_t cap = (size_t)tk_key_max_signature_size(k), siglen = 0;
    const PROBE_WAY *way = probe_way(k);
    unsigned char *sig;
    CK_RV rv;
    int ok;

    if (way == NULL)
        return 0;
    sig = OPENSSL_malloc(cap);
    /* What the module leaves on the queue is not ours to report (tk_sig_end_token_call). */
    ERR_set_mark();
    rv = sig != NULL ? sign_probe(k, way, sig, cap, &siglen) : CKR_HOST_MEMORY;
    if (!tk_sig_end_token_call(rv)) {
        OPENSSL_free(sig);
        TK_RAISE_RV(k->ctx, rv, "signing on the token to check the key pair");
        return 0;
    }
    if (rv != CKR_OK) {
        OPENSSL_free(sig); /* a PIN source already said why */
        return 0;
    }
    ERR_set_mark();
    ok = verify_probe(k, pub, way, sig, siglen);
    ERR_pop_to_mark();
    OPENSSL_free(sig);
    if (!ok)
        TK_RAISE(k->ctx, TK_R_KEY_MISMATCH, "the private key %s and the public half read with it "
                 "(from the key, or the public key object or certificate with its CKA_ID) are "
                 "not one key pair: a signature on the token does not verify with it",
                 k->uri != NULL ? k->uri : "");
    return ok;
}

int tk_km_validate(const void *keydata, int selection, int checktype)
{
    TK_KEY *k = (TK_KEY *)keydata;
    EVP_PKEY *pub = NULL;
    int want_public = (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0;
    int want_pair = (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == OSSL_KEYMGMT_SELECT_KEYPAIR;
    int ok = 1;

    if (k == NULL)
        return 0;
    if (!tk_km_has(k, selection)) {
        /* EVP_PKEY_check on a public key alone, say: say what is missing, not just "failed". */
        TK_RAISE(k->ctx, TK_R_BAD_ARGUMENT, "%s: the check needs %s, which this key does not have",
                 k->uri != NULL ? k->uri : "the key",
                 (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !tk_key_has_private(k)
                     ? "a private half (this is a public key: load the private key, type=private)"
                     : "the public half or domain parameters");
        return 0;
    }
    if (!want_public && !want_pair)
        return 1; /* domain parameters (an EC group tokenkey knows) or a private key alone */
    if (!tk_sig_public_pkey(k->ctx, k, &pub))
        return 0;
    if (want_public)
        ok = check_public(k, pub, checktype);
    /* A quick check does not use the token. */
    if (ok && want_pair && checktype != OSSL_KEYMGMT_VALIDATE_QUICK_CHECK)
        ok = check_pair(k, pub);
    EVP_PKEY_free(pub);
    return ok;
}
