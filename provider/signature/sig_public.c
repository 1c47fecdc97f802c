/*
 * A token key's public half as an ordinary software key of another
 * provider, for what needs no secret: verifying signatures and RSA
 * encryption. Built from the parts read off the token (key.h), never
 * from anything private.
 */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>

#include "errors.h"
#include "signature.h"

static int push_public(OSSL_PARAM_BLD *bld, const TK_KEY *k)
{
    switch (k->type) {
    case TK_KEY_RSA:
        return k->rsa_n != NULL && k->rsa_e != NULL
               && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, k->rsa_n)
               && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, k->rsa_e);
    case TK_KEY_EC:
        return k->pub != NULL
               && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, k->group, 0)
               && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, k->pub,
                                                   k->pub_len);
    case TK_KEY_ED25519:
        return k->pub != NULL
               && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, k->pub,
                                                   k->pub_len);
    default:
        return 0;
    }
}

int tk_sig_public_pkey(TK_PROVCTX *pc, const TK_KEY *k, EVP_PKEY **out)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *pkey = NULL;
    int ok = 0;

    ERR_set_mark();
    if (bld != NULL && push_public(bld, k) && (params = OSSL_PARAM_BLD_to_param(bld)) != NULL
        && (pctx = EVP_PKEY_CTX_new_from_name(pc->libctx, tk_key_type_name(k->type),
                                              TK_SIG_PUBLIC_PROPQ)) != NULL
        && EVP_PKEY_fromdata_init(pctx) == 1
        && EVP_PKEY_fromdata(pctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1)
        ok = 1;
    ERR_pop_to_mark();
    if (!ok)
        TK_RAISE(pc, TK_R_OPERATION_FAILED,
                 "cannot make a software %s public key for %s: is the default (or FIPS) "
                 "provider loaded?", tk_key_type_name(k->type), k->uri != NULL ? k->uri : "the key");
    else
        *out = pkey;
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return ok;
}

int tk_sig_take_key(TK_PROVCTX *pc, TK_KEY **key, EVP_PKEY **pub, TK_KEY *k, const char *what)
{
    if (what != NULL && !tk_key_has_private(k)) {
        TK_RAISE(pc, TK_R_PUBLIC_KEY_ONLY, "%s: only the public half of this key is known, "
                 "so it cannot %s", k->uri != NULL ? k->uri : "key", what);
        return 0;
    }
    if (k != *key) {
        tk_key_up_ref(k);
        tk_key_free(*key);
        *key = k;
        EVP_PKEY_free(*pub);
        *pub = NULL;
    }
    return 1;
}
