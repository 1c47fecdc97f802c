/*
 * The ways a private key could leave a token, each tried rather than
 * assumed (for tokenkey inspect). Every function writes what it found to
 * detail and returns 1 when the path is open, 0 when it is shut. Nothing
 * read here is ever printed: a path that yields key material is wiped and
 * reported as open.
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "cli.h"

/* The reason of the first error queued, for "refused: <reason>". */
static const char *first_reason(void)
{
    unsigned long e = ERR_peek_error();
    const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

    return reason != NULL ? reason : "no reason given";
}

/*
 * PKCS#11 v2.40 section 4.9: with CKA_SENSITIVE=TRUE the token keeps the
 * private value from C_GetAttributeValue, with CKA_EXTRACTABLE=FALSE from
 * C_WrapKey. 1 TRUE, 0 FALSE, -1 the token did not say (which proves nothing).
 */
int tk_cli_export_token(int sensitive, int extractable, char *detail, size_t cap)
{
    if (sensitive == 1 && extractable == 0) {
        snprintf(detail, cap, "none: CKA_SENSITIVE=TRUE and CKA_EXTRACTABLE=FALSE, so the token refuses to "
                              "reveal the private value (C_GetAttributeValue) and to wrap it out (C_WrapKey) "
                              "(PKCS#11 v2.40 section 4.9)");
        return 0;
    }
    snprintf(detail, cap, "EXPORT POSSIBLE: %s%s%s",
             sensitive == 0 ? "CKA_SENSITIVE=FALSE: any program logged in to the token can read the private "
                              "value with C_GetAttributeValue"
             : sensitive < 0 ? "the token does not report CKA_SENSITIVE" : "",
             sensitive != 1 && extractable != 0 ? "; " : "",
             extractable == 1 ? "CKA_EXTRACTABLE=TRUE: C_WrapKey can take the key off the token"
             : extractable < 0 ? "the token does not report CKA_EXTRACTABLE" : "");
    return 1;
}

/* The provider's keymgmt export, asked for the private half as an application would. */
int tk_cli_export_provider(EVP_PKEY *pkey, char *detail, size_t cap)
{
    static const char *const secret[] = { OSSL_PKEY_PARAM_RSA_D, OSSL_PKEY_PARAM_RSA_FACTOR1,
                                           OSSL_PKEY_PARAM_PRIV_KEY, NULL };
    OSSL_PARAM *params = NULL;
    const char *got = NULL;

    ERR_clear_error();
    if (EVP_PKEY_todata(pkey, EVP_PKEY_KEYPAIR, &params) != 1) {
        snprintf(detail, cap, "refused: %s (EVP_PKEY_todata(EVP_PKEY_KEYPAIR))", first_reason());
        ERR_clear_error();
        return 0;
    }
    for (size_t i = 0; secret[i] != NULL && got == NULL; i++)
        if (OSSL_PARAM_locate(params, secret[i]) != NULL)
            got = secret[i];
    if (got != NULL)
        snprintf(detail, cap, "EXPORT POSSIBLE: EVP_PKEY_todata(EVP_PKEY_KEYPAIR) returned the private "
                              "parameter '%s'", got);
    else
        snprintf(detail, cap, "none: EVP_PKEY_todata(EVP_PKEY_KEYPAIR) returned public parameters only");
    /* OSSL_PARAM_clear_free is 3.2+: wipe what might be key material by hand. */
    for (OSSL_PARAM *p = params; p->key != NULL; p++)
        if (p->data != NULL)
            OPENSSL_cleanse(p->data, p->data_size);
    OSSL_PARAM_free(params);
    return got != NULL;
}

/* tokenkey's PKCS#11 layer, asked for the private value as any tokenkey code could ask. */
int tk_cli_export_layer(TK_P11_SESSION *s, CK_OBJECT_HANDLE h, char *detail, size_t cap)
{
    static const struct {
        CK_ATTRIBUTE_TYPE type;
        const char *name;
    } secrets[] = { { CKA_PRIVATE_EXPONENT, "CKA_PRIVATE_EXPONENT" }, { CKA_VALUE, "CKA_VALUE" } };
    char refused[128] = "", reached[256] = "";

    /* Every one is tried: a guard missing for one says nothing of the next. */
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        unsigned char *val = NULL;
        CK_ULONG len = 0;
        CK_RV rv = tk_p11_get_attr_alloc(s, h, secrets[i].type, &val, &len);

        if (rv == CKR_OK) {
            OPENSSL_clear_free(val, len);
            snprintf(detail, cap, "EXPORT POSSIBLE: tk_p11_get_attr_alloc read %s", secrets[i].name);
            return 1;
        }
        if (rv != TK_CKR_SECRET_ATTRIBUTE) {
            /* The token said no, but the request reached it: tokenkey's own guard is missing. */
            if (reached[0] == '\0')
                snprintf(reached, sizeof(reached), "%s reached the token, which answered %s",
                         secrets[i].name, tk_p11_rv_name(rv));
            continue;
        }
        if (refused[0] != '\0')
            OPENSSL_strlcat(refused, ", ", sizeof(refused));
        OPENSSL_strlcat(refused, secrets[i].name, sizeof(refused));
    }
    if (reached[0] != '\0')
        snprintf(detail, cap, "not refused by tokenkey: %s", reached);
    else
        snprintf(detail, cap, "refused: %s: %s (tokenkey never asks the token for them)", refused,
                 tk_p11_rv_name(TK_CKR_SECRET_ATTRIBUTE));
    return 0;
}

/* What an application writing "the private key" to a file gets. */
int tk_cli_export_encoder(EVP_PKEY *pkey, OSSL_LIB_CTX *libctx, char *detail, size_t cap)
{
    static const char keyref[] = "-----BEGIN TOKENKEY KEY REFERENCE-----";
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long len = 0;
    int possible = 0;

    ERR_clear_error();
    if (b == NULL || !PEM_write_bio_PrivateKey_ex(b, pkey, NULL, NULL, 0, NULL, NULL, libctx, NULL)) {
        snprintf(detail, cap, "refused: PEM_write_bio_PrivateKey_ex failed (%s)", first_reason());
    } else if ((len = BIO_get_mem_data(b, &pem)) > 0 && strncmp(pem, keyref, sizeof(keyref) - 1) == 0) {
        snprintf(detail, cap, "none: PEM_write_bio_PrivateKey_ex writes a TOKENKEY KEY REFERENCE (the key's "
                              "URI), no key material");
    } else {
        snprintf(detail, cap, "EXPORT POSSIBLE: PEM_write_bio_PrivateKey_ex wrote something other than a key "
                              "reference");
        possible = 1;
    }
    if (pem != NULL && len > 0)
        OPENSSL_cleanse(pem, (size_t)len);
    BIO_free(b);
    ERR_clear_error();
    return possible;
}
