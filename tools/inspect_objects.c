/*
 * What inspect and doctor both need: the private keys a URI names, the
 * certificates stored with a key (same CKA_ID, the PKCS#11 v2.40 section
 * 4.6.3 convention for pairing a key with its certificate), and text forms
 * of their fields. Everything is read through the PKCS#11 layer, public
 * attributes only.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "cli.h"
#include "objects.h"

CK_RV tk_cli_find_tokens(TK_CLI *cli, const TK_URI *uri, TK_P11_TOKEN **out, size_t max, size_t *n)
{
    TK_P11_TOKEN **all = NULL;
    size_t count = 0;
    CK_RV rv = tk_p11_token_find_all(cli->m, uri, &all, &count);

    *n = 0;
    if (rv != CKR_OK)
        return rv;
    /*
     * SoftHSM2 and others always offer an empty slot for a new token: it
     * has no label to be named by, so it can't be the token meant.
     */
    for (size_t i = 0; i < count; i++)
        if (tk_p11_token_cached_info(all[i])->flags & CKF_TOKEN_INITIALIZED) {
            if (*n < max)
                out[*n] = all[i];
            (*n)++;
        }
    OPENSSL_free(all);
    return *n > 0 ? CKR_OK : TK_CKR_NO_TOKEN;
}

char *tk_cli_token_text(const TK_URI *uri)
{
    TK_URI only;

    memset(&only, 0, sizeof(only));
    only.token = uri->token;
    only.manufacturer = uri->manufacturer;
    only.model = uri->model;
    only.serial = uri->serial;
    only.slot_manufacturer = uri->slot_manufacturer;
    only.slot_description = uri->slot_description;
    only.has_slot_id = uri->has_slot_id;
    only.slot_id = uri->slot_id;
    return tk_uri_format(&only);
}

int tk_cli_one_token(TK_CLI *cli, const TK_URI *uri, TK_P11_TOKEN **out)
{
    size_t n = 0;
    CK_RV rv = tk_cli_find_tokens(cli, uri, out, 1, &n);

    return tk_cli_token_found(cli, uri, rv, n);
}

CK_RV tk_cli_find_keys(TK_P11_SESSION *s, const TK_URI *uri, CK_OBJECT_HANDLE *out,
                       CK_ULONG max, CK_ULONG *n)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[3] = { { CKA_CLASS, &cls, sizeof(cls) } };
    CK_ULONG k = 1;

    /* RFC 7512: id= and object= select; the token attributes were used to find the token. */
    if (uri->has_id)
        tmpl[k++] = (CK_ATTRIBUTE){ CKA_ID, uri->id, uri->id_len };
    if (uri->object != NULL)
        tmpl[k++] = (CK_ATTRIBUTE){ CKA_LABEL, uri->object, strlen(uri->object) };
    return tk_p11_find(s, tmpl, k, out, max, n);
}

void tk_cli_key_list(TK_P11_SESSION *s, const CK_OBJECT_HANDLE *keys, CK_ULONG n, char *out, size_t cap)
{
    out[0] = '\0';
    for (CK_ULONG i = 0; i < n; i++) {
        char *one = tk_objects_uri(s, keys[i], CKO_PRIVATE_KEY);

        OPENSSL_strlcat(out, i ? ", " : "", cap);
        OPENSSL_strlcat(out, one != NULL ? one : "?", cap);
        OPENSSL_free(one);
    }
}

static int by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void tk_cli_key_labels(TK_P11_SESSION *s, const CK_OBJECT_HANDLE *keys, CK_ULONG n, char *out, size_t cap)
{
    char *names[32];
    size_t k = 0;

    /* Tokens return objects in no particular order: sorted, a person finds theirs. */
    for (CK_ULONG i = 0; i < n && k < sizeof(names) / sizeof(names[0]); i++) {
        unsigned char *label = NULL, *id = NULL;
        CK_ULONG label_len = 0, id_len = 0;
        char hex[65];

        if (tk_p11_get_attr_alloc(s, keys[i], CKA_LABEL, &label, &label_len) != CKR_OK)
            label_len = 0;
        if (tk_p11_get_attr_alloc(s, keys[i], CKA_ID, &id, &id_len) != CKR_OK)
            id_len = 0;
        tk_cli_hex(hex, sizeof(hex), id, id_len);
        names[k] = OPENSSL_zalloc(label_len + sizeof(hex) + 16);
        if (names[k] != NULL)
            snprintf(names[k++], label_len + sizeof(hex) + 16, "'%.*s' (id %s)", (int)label_len,
                     label != NULL ? (const char *)label : "", id_len ? hex : "none");
        OPENSSL_free(label);
        OPENSSL_free(id);
    }
    qsort(names, k, sizeof(names[0]), by_text);
    out[0] = '\0';
    for (size_t i = 0; i < k; i++) {
        OPENSSL_strlcat(out, i ? ", " : "", cap);
        OPENSSL_strlcat(out, names[i], cap);
        OPENSSL_free(names[i]);
    }
}

CK_RV tk_cli_find_certs(TK_P11_SESSION *s, const unsigned char *id, CK_ULONG id_len,
                        CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *n)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) },
                             { CKA_ID, (void *)id, id_len } };

    return tk_p11_find(s, tmpl, id != NULL ? 2 : 1, out, max, n);
}

X509 *tk_cli_token_cert(TK_P11_SESSION *s, CK_OBJECT_HANDLE o)
{
    unsigned char *der = NULL;
    CK_ULONG len = 0;
    const unsigned char *p;
    X509 *x = NULL;

    if (tk_p11_get_cert_der(s, o, &der, &len) == CKR_OK) {
        p = der;
        x = d2i_X509(NULL, &p, (long)len);
    }
    OPENSSL_free(der);
    ERR_clear_error(); /* a non-X.509 certificate object is simply skipped */
    return x;
}

int tk_cli_cert_matches(X509 *cert, EVP_PKEY *pkey)
{
    int ok;

    /*
     * The certificate's key (default provider) and the token key (tokenkey)
     * are compared on their public halves: OpenSSL exports the public key
     * into tokenkey's keymgmt, never anything private.
     */
    ERR_set_mark();
    ok = X509_check_private_key(cert, pkey) == 1;
    ERR_pop_to_mark();
    return ok;
}

int tk_cli_cert_valid_now(const X509 *x)
{
    return X509_cmp_current_time(X509_get0_notBefore(x)) < 0
           && X509_cmp_current_time(X509_get0_notAfter(x)) > 0;
}

int tk_cli_cert_better(X509 *x, X509 *best, EVP_PKEY *pkey)
{
    int m = tk_cli_cert_matches(x, pkey), mb = tk_cli_cert_matches(best, pkey), day, sec;

    if (m != mb)
        return m;
    if (tk_cli_cert_valid_now(x) != tk_cli_cert_valid_now(best))
        return tk_cli_cert_valid_now(x);
    return ASN1_TIME_diff(&day, &sec, X509_get0_notAfter(best), X509_get0_notAfter(x))
           && (day > 0 || sec > 0);
}

X509 *tk_cli_best_token_cert(TK_P11_SESSION *s, const unsigned char *id, CK_ULONG id_len,
                             EVP_PKEY *pkey, CK_ULONG *n, CK_OBJECT_HANDLE *chosen)
{
    CK_OBJECT_HANDLE certs[8];
    X509 *best = NULL;

    *n = 0;
    if (id_len == 0 || tk_cli_find_certs(s, id, id_len, certs, 8, n) != CKR_OK) {
        *n = 0;
        return NULL;
    }
    for (CK_ULONG i = 0; i < *n; i++) {
        X509 *x = tk_cli_token_cert(s, certs[i]);

        if (x != NULL && (best == NULL || tk_cli_cert_better(x, best, pkey))) {
            X509_free(best);
            best = x;
            if (chosen != NULL)
                *chosen = certs[i];
        } else {
            X509_free(x);
        }
    }
    return best;
}

void tk_cli_hex(char *out, size_t cap, const unsigned char *v, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < len && 2 * i + 2 < cap; i++)
        snprintf(out + 2 * i, 3, "%02x", v[i]);
}

static void bio_text(char *out, size_t cap, BIO *b)
{
    int n = b != NULL ? BIO_read(b, out, (int)cap - 1) : -1;

    out[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

void tk_cli_name(char *out, size_t cap, const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());

    if (b != NULL && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) < 0) {
        BIO_free(b);
        b = NULL;
    }
    bio_text(out, cap, b);
}

void tk_cli_time(char *out, size_t cap, const ASN1_TIME *t)
{
    BIO *b = BIO_new(BIO_s_mem());

    if (b != NULL && !ASN1_TIME_print(b, t)) {
        BIO_free(b);
        b = NULL;
    }
    bio_text(out, cap, b);
}

