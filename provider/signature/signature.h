/*
 * Shared by the signature implementations (RSA, ECDSA, Ed25519) and RSA
 * decryption in this folder; nothing outside provider/signature/ includes it.
 *
 * Every private-key operation goes through tk_key_sign / tk_key_decrypt.
 * What the token is asked to do is decided once per operation init (and
 * again only when a parameter changes): hash in software and sign the
 * digest with the raw mechanism (CKM_RSA_PKCS, CKM_RSA_PKCS_PSS,
 * CKM_ECDSA), so a signature costs one C_SignInit + one C_Sign however the
 * data arrives; or, on tokens without the raw mechanism, keep the message
 * and sign it in one go with the combined one (CKM_SHA256_RSA_PKCS...).
 * Verification and encryption need no secret: they run in software, in
 * another provider, with the key's public half.
 */
#ifndef TK_SIGNATURE_H
#define TK_SIGNATURE_H

#include <openssl/core_dispatch.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "key.h"
#include "provider.h"

/* Property query for the software half: anything but us (we hold no public-key code). */
#define TK_SIG_PUBLIC_PROPQ "provider!=" TK_PROV_NAME

/* ---- digests (sig_digests.c) ---- */

/* A digest a token signature can use, with its PKCS#11 names. */
typedef struct tk_sig_digest {
    int nid;
    const char *name;              /* for messages */
    size_t size;
    CK_MECHANISM_TYPE hash;        /* PSS/OAEP hashAlg: CKM_SHA256 */
    CK_RSA_PKCS_MGF_TYPE mgf1;     /* PSS/OAEP mgf: CKG_MGF1_SHA256 */
    CK_MECHANISM_TYPE rsa_pkcs;    /* combined mechanisms: CKM_SHA256_RSA_PKCS */
    CK_MECHANISM_TYPE rsa_pss;     /* CKM_SHA256_RSA_PKCS_PSS */
    CK_MECHANISM_TYPE ecdsa;       /* CKM_ECDSA_SHA256 */
    const unsigned char *digest_info; /* DER DigestInfo up to the hash (RFC 8017 9.2 note 1) */
    size_t digest_info_len;
} TK_SIG_DIGEST;

/* The table entry for a digest's NID, NULL for one no token mechanism takes. */
const TK_SIG_DIGEST *tk_sig_digest_by_nid(int nid);

/*
 * Fetch a digest by name from pc->digest_libctx (provider.h; never from
 * ourselves: we have none) and find its table entry. Returns 1, or 0
 * after raising one error naming the digest.
 */
int tk_sig_md_fetch(TK_PROVCTX *pc, const char *name, const char *propq, EVP_MD **md,
                    const TK_SIG_DIGEST **d);

/* i2d of alg into an OSSL_PARAM octet string (OSSL_SIGNATURE_PARAM_ALGORITHM_ID). */
int tk_sig_set_algor_param(OSSL_PARAM *p, const X509_ALGOR *alg);

/* ---- ECDSA signature encoding (ecdsa_der.c) ---- */

/* The largest half (r or s) of an r || s signature we encode: P-521's 66 bytes. */
#define TK_ECDSA_MAX_HALF 66

/*
 * The DER ECDSA-Sig-Value of a token's r || s (rslen bytes, two equal
 * halves) into out. Returns 1 with *outlen set, 0 when rslen is not two
 * halves of 1..TK_ECDSA_MAX_HALF bytes or outsize is too small.
 */
int tk_ecdsa_rs_to_der(const unsigned char *rs, size_t rslen, unsigned char *out, size_t outsize,
                       size_t *outlen);

/* ---- the public half in software (sig_public.c) ---- */

/*
 * An EVP_PKEY of another provider holding k's public half, made with
 * EVP_PKEY_fromdata in pc->libctx. Returns 1, or 0 after raising one error.
 */
int tk_sig_public_pkey(TK_PROVCTX *pc, const TK_KEY *k, EVP_PKEY **out);

/*
 * Make k the key of an operation context holding *key and *pub (the
 * public half of *key, dropped when the key changes). what: "sign" or
 * "decrypt" when the operation needs the private half (refused, with an
 * error, for a key known only by its public half), NULL when not.
 */
int tk_sig_take_key(TK_PROVCTX *pc, TK_KEY **key, EVP_PKEY **pub, TK_KEY *k, const char *what);

/* ---- signature contexts (signature_common.c) ---- */

typedef enum {
    TK_SIG_OP_NONE,
    TK_SIG_OP_SIGN,            /* EVP_PKEY_sign: input is a digest (or raw) */
    TK_SIG_OP_VERIFY,
    TK_SIG_OP_DIGEST_SIGN,     /* EVP_DigestSign*: input is the message */
    TK_SIG_OP_DIGEST_VERIFY
} TK_SIG_OP;

typedef struct tk_sig_ctx TK_SIG_CTX;

/* What differs between RSA, ECDSA and Ed25519. */
typedef struct tk_sig_ops {
    TK_KEY_TYPE key_type;
    const char *name;          /* for messages */
    /* Defaults of a fresh operation (padding, salt length). */
    void (*reset)(TK_SIG_CTX *ctx);
    /* Apply parameters; the common code re-plans afterwards. */
    int (*set_params)(TK_SIG_CTX *ctx, const OSSL_PARAM params[]);
    /* Choose ctx->mech for the current parameters (sign operations). */
    int (*plan)(TK_SIG_CTX *ctx);
    /*
     * NULL, or 1 when the parameters so far leave the key no mechanism but
     * parameters not yet asked for could (RSA: the other padding, while
     * the padding is the default). The choice then waits for them; a
     * signature before that fails with plan's error.
     */
    int (*plan_later)(const TK_SIG_CTX *ctx);
    /*
     * Sign in on the token: a digest (raw mechanism), the raw input of
     * EVP_PKEY_sign without a digest, or the message (combined mechanism).
     */
    int (*sign)(TK_SIG_CTX *ctx, const unsigned char *in, size_t inlen,
                unsigned char *sig, size_t *siglen, size_t sigsize);
    /* Set the software verifier's parameters on pctx (after verify_init). */
    int (*verify_setup)(TK_SIG_CTX *ctx, EVP_PKEY_CTX *pctx);
} TK_SIG_OPS;

struct tk_sig_ctx {
    TK_PROVCTX *provctx;
    const TK_SIG_OPS *ops;
    char *propq;
    TK_KEY *key;
    TK_SIG_OP op;

    /* The message digest; NULL for EVP_PKEY_sign of raw input and Ed25519. */
    EVP_MD *md;
    const TK_SIG_DIGEST *digest;
    int md_locked;             /* digest operations: fixed at init, as OpenSSL's own */

    /* Digest operations: the message is hashed here, or kept for the token. */
    EVP_MD_CTX *mdctx;
    int buffering;             /* a combined mechanism hashes on the token */
    unsigned char *msg;
    size_t msg_len, msg_cap;
    int data_fed;              /* update was called since init/final */
    int ready;                 /* initialised, and the parameters have a mechanism */
    int planning_later;        /* initialised; no mechanism until parameters change (plan_later) */

    /* What the token is asked to do, chosen by ops->plan. */
    CK_MECHANISM mech;
    int combined;              /* mech hashes the message itself */
    CK_RSA_PKCS_PSS_PARAMS pss; /* mech.pParameter for PSS: points here */

    /* RSA */
    int pad;                   /* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
    int pad_set;               /* pad was asked for, not the default */
    int saltlen;               /* >= 0 or RSA_PSS_SALTLEN_DIGEST/AUTO/MAX */
    EVP_MD *mgf1_md;           /* NULL: the message digest */
    const TK_SIG_DIGEST *mgf1;

    /* Verification: the public half in another provider. */
    EVP_PKEY *pub;
};

void *tk_sig_newctx(void *provctx, const char *propq, const TK_SIG_OPS *ops);

/* Common dispatch functions: the same for every algorithm. */
OSSL_FUNC_signature_freectx_fn tk_sig_freectx;
OSSL_FUNC_signature_dupctx_fn tk_sig_dupctx;
OSSL_FUNC_signature_sign_init_fn tk_sig_sign_init;
OSSL_FUNC_signature_sign_fn tk_sig_sign;
OSSL_FUNC_signature_verify_init_fn tk_sig_verify_init;
OSSL_FUNC_signature_verify_fn tk_sig_verify;
OSSL_FUNC_signature_digest_sign_init_fn tk_sig_digest_sign_init;
OSSL_FUNC_signature_digest_sign_update_fn tk_sig_digest_update;
OSSL_FUNC_signature_digest_sign_final_fn tk_sig_digest_sign_final;
OSSL_FUNC_signature_digest_sign_fn tk_sig_digest_sign;
OSSL_FUNC_signature_digest_verify_init_fn tk_sig_digest_verify_init;
OSSL_FUNC_signature_digest_verify_final_fn tk_sig_digest_verify_final;
OSSL_FUNC_signature_digest_verify_fn tk_sig_digest_verify;
OSSL_FUNC_signature_set_ctx_params_fn tk_sig_set_ctx_params;
OSSL_FUNC_signature_get_ctx_md_params_fn tk_sig_get_ctx_md_params;
OSSL_FUNC_signature_gettable_ctx_md_params_fn tk_sig_gettable_ctx_md_params;
OSSL_FUNC_signature_set_ctx_md_params_fn tk_sig_set_ctx_md_params;
OSSL_FUNC_signature_settable_ctx_md_params_fn tk_sig_settable_ctx_md_params;

/*
 * The dispatch table of a signature with a message digest (RSA, ECDSA):
 * the common functions above around the algorithm's own newctx and
 * context parameters.
 */
#define TK_SIG_DIGEST_DISPATCH(newctx, get_params, gettable_params, settable_params)            \
    { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))(newctx) },                                   \
    { OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))tk_sig_freectx },                            \
    { OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))tk_sig_dupctx },                              \
    { OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))tk_sig_sign_init },                        \
    { OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))tk_sig_sign },                                  \
    { OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))tk_sig_verify_init },                    \
    { OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))tk_sig_verify },                              \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))tk_sig_digest_sign_init },          \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))tk_sig_digest_update },           \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))tk_sig_digest_sign_final },        \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))tk_sig_digest_sign },                    \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))tk_sig_digest_verify_init },      \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))tk_sig_digest_update },         \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))tk_sig_digest_verify_final },    \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))tk_sig_digest_verify },                \
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))(get_params) },                       \
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))(gettable_params) },             \
    { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))tk_sig_set_ctx_params },              \
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))(settable_params) },             \
    { OSSL_FUNC_SIGNATURE_GET_CTX_MD_PARAMS, (void (*)(void))tk_sig_get_ctx_md_params },        \
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_MD_PARAMS, (void (*)(void))tk_sig_gettable_ctx_md_params }, \
    { OSSL_FUNC_SIGNATURE_SET_CTX_MD_PARAMS, (void (*)(void))tk_sig_set_ctx_md_params },        \
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_MD_PARAMS, (void (*)(void))tk_sig_settable_ctx_md_params }, \
    { 0, NULL }

/*
 * The "digest" and "properties" parameters, shared by RSA and ECDSA:
 * refused once a digest operation started (OpenSSL's own do the same).
 */
int tk_sig_set_digest_params(TK_SIG_CTX *ctx, const OSSL_PARAM params[]);
/* Set ctx->md by name (NULL name: none). */
int tk_sig_set_digest(TK_SIG_CTX *ctx, const char *name, const char *props);

/* ---- token calls and their errors (sig_token.c) ---- */

/* A token's "not with these parameters" answers to C_SignInit / C_DecryptInit. */
int tk_sig_rv_refused(CK_RV rv);
/*
 * Close the ERR_set_mark() made before a token call: drop what the module
 * left on the error queue. Returns 1 when the caller has nothing to raise
 * (success, or a PIN source already said why it failed).
 */
int tk_sig_end_token_call(CK_RV rv);
/* tk_key_sign into out (outlen bytes available), raising one error on failure. */
int tk_sig_token_sign(TK_SIG_CTX *ctx, const unsigned char *in, size_t inlen,
                      unsigned char *out, size_t *outlen);
/*
 * Read the key's token's mechanism list (tk_p11_mechanisms_read) before a
 * choice among mechanisms (prepare in signature_common.c does, for every
 * signature algorithm's plan): 1, or 0 after raising why it could not be read.
 * Otherwise the first lookup could fail on the read and the next one, read
 * again, find the second mechanism missing: "supports neither".
 */
int tk_sig_mechanisms_known(TK_PROVCTX *pc, const TK_KEY *k);
/*
 * Raise TK_R_UNSUPPORTED_MECHANISM for purpose ("signing", "decryption"):
 * the key can use neither mechanism (second may be 0), because the token
 * lacks them or the key's CKA_ALLOWED_MECHANISMS leaves them out. Only
 * after tk_sig_mechanisms_known succeeded: the list was read, and stays.
 */
void tk_sig_raise_no_mechanism(TK_PROVCTX *pc, const TK_KEY *k, const char *purpose,
                               CK_MECHANISM_TYPE first, CK_MECHANISM_TYPE second);
/*
 * After tk_sig_raise_no_mechanism for EVP_PKEY_sign: when the key could sign
 * through combined (a mechanism that hashes the message itself; 0: none),
 * say that signing the message instead of its digest works.
 */
void tk_sig_hint_sign_message(TK_SIG_CTX *ctx, CK_MECHANISM_TYPE combined);
/* The label of the key's token, for messages. */
const char *tk_sig_token_label(const TK_KEY *k, char *buf, size_t cap);

/* ---- the dispatch tables ---- */

extern const OSSL_DISPATCH tk_rsa_signature_functions[];
extern const OSSL_DISPATCH tk_ecdsa_signature_functions[];
extern const OSSL_DISPATCH tk_ed25519_signature_functions[];
extern const OSSL_DISPATCH tk_rsa_asym_cipher_functions[];

#endif
