/*
 * A key that lives on a token, as OpenSSL key data (the "keydata" our
 * keymgmt hands out). It holds a reference to the token object, never key
 * material, plus the public half read from the token.
 *
 * Keys are refcounted: the store/decoder make one, keymgmt load takes it,
 * signature contexts hold a reference while they live.
 */
#ifndef TK_KEY_H
#define TK_KEY_H

#include <pthread.h>

#include <openssl/bn.h>
#include <openssl/core.h>

#include "fork_lock.h"
#include "objects.h"
#include "p11/p11.h"
#include "pin.h"
#include "provider.h"

typedef enum { TK_KEY_RSA = 1, TK_KEY_EC, TK_KEY_ED25519 } TK_KEY_TYPE;

typedef struct tk_key {
    int refs;
    TK_PROVCTX *ctx;
    TK_KEY_TYPE type;

    /* Where the private half lives; token == NULL for a public-only key
     * made by keymgmt import (e.g. a certificate's key being compared). */
    TK_P11_TOKEN *token;
    TK_P11_MODULE *module;          /* a reference, so the token outlives the key */
    CK_OBJECT_HANDLE handle;        /* the private key object, or CK_INVALID_HANDLE */
    unsigned long handle_gen;       /* token generation the handle belongs to */
    TK_FORK_LOCK lock;              /* finding the handle again, making the copy */
    /*
     * The session-object copy signatures use (tk_p11_copy_to_session), made
     * on first use in each token generation unless the key needs a login
     * per use (CKA_ALWAYS_AUTHENTICATE), the config says no, or the token
     * refuses C_CopyObject (then copy_failed_gen says not to ask again).
     */
    int copy_allowed;
    CK_OBJECT_HANDLE copy;
    unsigned long copy_gen;
    unsigned long copy_failed_gen;
    unsigned char *id;              /* CKA_ID, to find the object again */
    size_t id_len;
    char *label;                    /* CKA_LABEL, NULL if none */
    int always_authenticate;        /* CKA_ALWAYS_AUTHENTICATE */
    CK_MECHANISM_TYPE *allowed_mechs; /* CKA_ALLOWED_MECHANISMS; NULL: no limit */
    size_t n_allowed_mechs;
    TK_PIN_SOURCE pin;              /* lasting PIN source, for logging in again */
    char *uri;                      /* its pkcs11: URI (never a PIN), for messages and key references */
    CK_TOKEN_INFO token_info;       /* the token it was loaded from, to know that token again */

    /* The public half (from the private object, its public key or its certificate) */
    BIGNUM *rsa_n, *rsa_e;
    char group[16];                 /* EC: "prime256v1", "secp384r1", "secp521r1" */
    unsigned char *pub;             /* EC: uncompressed point; Ed25519: the 32 raw bytes */
    size_t pub_len;
    int bits;                       /* RSA modulus bits; EC field bits; 255 for Ed25519 */
} TK_KEY;

TK_KEY *tk_key_new(TK_PROVCTX *ctx, TK_KEY_TYPE type);
TK_KEY *tk_key_up_ref(TK_KEY *k);
void tk_key_free(TK_KEY *k);

/* 1 when the private half is on a token (not a public-only imported key). */
int tk_key_has_private(const TK_KEY *k);
/* 1 when the public half is there (RSA: n and e; EC: group and point; Ed25519: point). */
int tk_key_has_public(const TK_KEY *k);

/*
 * 1 when a and b have the same public key: type, RSA modulus and exponent,
 * EC group and point, Ed25519 point. 0 when either lacks its public half.
 */
int tk_key_public_eq(const TK_KEY *a, const TK_KEY *b);

/* OpenSSL's name for the key type: "RSA", "EC", "ED25519". */
const char *tk_key_type_name(TK_KEY_TYPE type);

/* Largest signature in bytes (RSA: modulus; ECDSA: DER of r,s; Ed25519: 64). */
int tk_key_max_signature_size(const TK_KEY *k);
/* NIST SP 800-57 strength: RSA 2048 -> 112, P-256 -> 128, Ed25519 -> 128... */
int tk_key_security_bits(const TK_KEY *k);
/* For EC keys, the byte length of the group order (for r||s <-> DER). */
int tk_key_ec_order_bytes(const TK_KEY *k);

/*
 * Raise the "URI matches n private keys" error, listing the URIs of the
 * first 4 of found (n may be more).
 */
void tk_key_raise_ambiguous(TK_PROVCTX *ctx, const TK_URI *uri, const TK_FOUND *found, size_t n);

/*
 * The one private key a URI names: the URI's module (or the configured
 * one), every token the URI matches, login with the first PIN source
 * (pin.h), then exactly one CKO_PRIVATE_KEY matching id=/object=. None is
 * an error naming the URI; two or more is an error listing them all.
 * Returns 1 and a new key, or 0 after raising one error.
 */
int tk_key_load_private(TK_PROVCTX *ctx, const TK_URI *uri, OSSL_PASSPHRASE_CALLBACK *cb,
                        void *cbarg, TK_KEY **out);

/* The key type tokenkey handles for a CKA_KEY_TYPE, 0 for the others. */
TK_KEY_TYPE tk_key_type_of(CK_KEY_TYPE kt);

/*
 * A key from an object already found (a private or public key object):
 * reads its type, id, label, flags and public half. The key takes a copy
 * of pin (lasting sources only). Returns CKR_OK or why not.
 */
CK_RV tk_key_from_object(TK_PROVCTX *ctx, TK_P11_SESSION *s, CK_OBJECT_HANDLE obj,
                         const TK_PIN_SOURCE *pin, TK_KEY **out);

/*
 * Private-key operations on the token, with the recovery of
 * tk_p11_with_session (session reopened, login redone, handle found again
 * after the token came back). out must hold *outlen bytes; *outlen becomes
 * the result's length. Return the CK_RV; callers raise the OpenSSL error.
 */
CK_RV tk_key_sign(TK_KEY *k, CK_MECHANISM *mech, const unsigned char *in, size_t inlen,
                  unsigned char *out, size_t *outlen);
CK_RV tk_key_decrypt(TK_KEY *k, CK_MECHANISM *mech, const unsigned char *in, size_t inlen,
                     unsigned char *out, size_t *outlen);

/*
 * The key may be used with mech: the token it lives on supports mech with
 * the flags in need, and the key's CKA_ALLOWED_MECHANISMS (if any) lists it.
 */
int tk_key_can_use_mechanism(const TK_KEY *k, CK_MECHANISM_TYPE mech, CK_FLAGS need);
/* The key's CKA_ALLOWED_MECHANISMS lists mech, or the key has no such limit. */
int tk_key_allows_mechanism(const TK_KEY *k, CK_MECHANISM_TYPE mech);

#endif
