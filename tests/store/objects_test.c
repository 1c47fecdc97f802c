/* Test objects on a fixture token: see objects_test.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "objects_test.h"
#include "token_keygen.h"
#include "token_pubkey.h"

TK_P11_TOKEN *tkst_token(const char *module, const char *serial, TK_P11_MODULE **m)
{
    TK_P11_TOKEN *t = NULL;
    TK_URI *uri = NULL;
    char text[128];
    size_t count = 0;
    CK_RV rv = tk_p11_module_open(module, NULL, m);

    if (rv != CKR_OK) {
        fprintf(stderr, "test: opening %s: %s\n", module, tk_p11_rv_name(rv));
        return NULL;
    }
    snprintf(text, sizeof(text), "pkcs11:serial=%s", serial);
    if (tk_uri_parse(text, &uri, NULL) != TK_URI_OK)
        return NULL;
    rv = tk_p11_token_find(*m, uri, &t, 1, &count);
    tk_uri_free(uri);
    if (rv != CKR_OK || count != 1) {
        fprintf(stderr, "test: token %s: %s (%zu found)\n", text, tk_p11_rv_name(rv), count);
        return NULL;
    }
    return t;
}

static size_t hex_to_bin(const char *hex, unsigned char *out, size_t cap)
{
    long len = 0;
    unsigned char *bin = OPENSSL_hexstr2buf(hex, &len);

    if (bin == NULL || (size_t)len > cap) {
        OPENSSL_free(bin);
        return 0;
    }
    memcpy(out, bin, (size_t)len);
    OPENSSL_free(bin);
    return (size_t)len;
}

/* A logged-in read-write session; *rv says why not. */
static int session(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, TK_P11_SESSION *s, CK_RV *rv)
{
    *rv = tk_p11_login(t, pin);
    if (*rv == CKR_OK)
        *rv = tk_p11_session_get(t, s);
    return *rv == CKR_OK;
}

CK_RV tkst_keygen(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const char *type,
                  const char *label, const char *idhex)
{
    unsigned char id[64];
    size_t idlen = hex_to_bin(idhex, id, sizeof(id));
    CK_OBJECT_HANDLE hpub, hpriv;
    TK_P11_SESSION s;
    CK_RV rv;

    if (idlen == 0)
        return CKR_ARGUMENTS_BAD;
    if (!session(t, pin, &s, &rv))
        return rv;
    rv = tk_test_keygen(&s, strcmp(type, "rsa") == 0 ? TK_TEST_RSA2048
                            : strcmp(type, "ed25519") == 0 ? TK_TEST_ED25519 : TK_TEST_P256,
                        label, id, idlen, &hpub, &hpriv);
    tk_p11_session_put(&s, rv);
    return rv;
}

static CK_RV import_cert(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const unsigned char *der,
                         size_t len, size_t value_len, const char *label, const char *idhex,
                         CK_BBOOL destroyable)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE ctype = CKC_X_509;
    CK_BBOOL yes = CK_TRUE;
    unsigned char id[64];
    size_t idlen = hex_to_bin(idhex, id, sizeof(id));
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    unsigned char *subject = NULL;
    int sublen = x != NULL ? i2d_X509_NAME(X509_get_subject_name(x), &subject) : -1;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype) },
        { CKA_TOKEN, &yes, sizeof(yes) },
        { CKA_LABEL, (void *)label, strlen(label) },
        { CKA_ID, id, idlen },
        { CKA_SUBJECT, subject, sublen > 0 ? (CK_ULONG)sublen : 0 },
        { CKA_VALUE, (void *)der, value_len },
        { CKA_DESTROYABLE, &destroyable, sizeof(destroyable) }, /* PKCS#11 v2.40 */
    };
    CK_OBJECT_HANDLE h;
    TK_P11_SESSION s;
    CK_RV rv = CKR_ARGUMENTS_BAD;

    if (x != NULL && sublen > 0 && idlen > 0 && session(t, pin, &s, &rv)) {
        /* The default (destroyable) without the attribute, as most tools write certificates. */
        CK_ULONG n = sizeof(tmpl) / sizeof(tmpl[0]) - (destroyable ? 1 : 0);

        rv = tk_p11_create(&s, tmpl, n, &h);
        tk_p11_session_put(&s, rv);
    }
    X509_free(x);
    OPENSSL_free(subject);
    return rv;
}

CK_RV tkst_import_cert(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const unsigned char *der,
                       size_t len, const char *label, const char *idhex)
{
    return import_cert(t, pin, der, len, len, label, idhex, CK_TRUE);
}

CK_RV tkst_import_cert_fixed(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const unsigned char *der,
                             size_t len, const char *label, const char *idhex)
{
    return import_cert(t, pin, der, len, len, label, idhex, CK_FALSE);
}

CK_RV tkst_import_cert_cut(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const unsigned char *der,
                           size_t len, const char *label, const char *idhex)
{
    return import_cert(t, pin, der, len, len / 2, label, idhex, CK_TRUE);
}

CK_RV tkst_make_data(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const char *label,
                     unsigned count)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    char name[128];
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_TOKEN, &yes, sizeof(yes) },
        { CKA_LABEL, name, 0 },
        { CKA_VALUE, (void *)"x", 1 },
    };
    CK_OBJECT_HANDLE h;
    TK_P11_SESSION s;
    CK_RV rv = CKR_OK;

    if (!session(t, pin, &s, &rv))
        return rv;
    for (unsigned i = 0; rv == CKR_OK && i < count; i++) {
        tmpl[2].ulValueLen = (CK_ULONG)snprintf(name, sizeof(name), "%.100s-%u", label, i);
        rv = tk_p11_create(&s, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &h);
    }
    tk_p11_session_put(&s, rv);
    return rv;
}

CK_RV tkst_delete(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, CK_OBJECT_CLASS cls,
                  const char *label)
{
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_LABEL, (void *)label, strlen(label) },
    };
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    TK_P11_SESSION s;
    CK_RV rv;

    if (!session(t, pin, &s, &rv))
        return rv;
    rv = tk_p11_find(&s, tmpl, 2, h, 2, &n);
    if (rv == CKR_OK)
        rv = n == 1 ? tk_p11_destroy(&s, h[0]) : CKR_ARGUMENTS_BAD;
    tk_p11_session_put(&s, rv);
    return rv;
}

EVP_PKEY *tkst_public_key(TK_P11_TOKEN *t, const char *label)
{
    CK_OBJECT_CLASS cls = CKO_PUBLIC_KEY;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_LABEL, (void *)label, strlen(label) },
    };
    CK_OBJECT_HANDLE h;
    CK_ULONG n = 0;
    TK_P11_SESSION s;
    EVP_PKEY *pkey = NULL;
    CK_RV rv = tk_p11_session_get(t, &s);

    if (rv == CKR_OK)
        rv = tk_p11_find(&s, tmpl, 2, &h, 1, &n);
    if (rv == CKR_OK && n == 1)
        pkey = tk_test_token_public_key(&s, h);
    tk_p11_session_put(&s, rv);
    return pkey;
}
