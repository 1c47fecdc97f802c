/* Test helpers without tokenkey code: see store_util.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "error_text.h"
#include "store_util.h"

void st_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

char *st_errors(void)
{
    return tk_test_error_text();
}

void st_assert_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("expected \"%s\" in:\n%s", needle, text);
}

void st_assert_not_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) != NULL)
        fail_msg("did not expect \"%s\" in:\n%s", needle, text);
}

static ASN1_TYPE *string_type(int type, const char *text)
{
    ASN1_STRING *s = ASN1_STRING_type_new(type);
    ASN1_TYPE *t = ASN1_TYPE_new();

    assert_non_null(s);
    assert_non_null(t);
    assert_int_equal(ASN1_STRING_set(s, text, -1), 1);
    ASN1_TYPE_set(t, type, s);
    return t;
}

char *st_keyref_pem(const char *label, const char *desc, const char *uri, size_t trailing)
{
    ASN1_SEQUENCE_ANY *seq = sk_ASN1_TYPE_new_null();
    unsigned char *der = NULL, *full;
    int len;
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL, *copy;
    long n;

    assert_non_null(seq);
    assert_non_null(mem);
    assert_true(sk_ASN1_TYPE_push(seq, string_type(V_ASN1_VISIBLESTRING, desc)) > 0);
    assert_true(sk_ASN1_TYPE_push(seq, string_type(V_ASN1_UTF8STRING, uri)) > 0);
    len = i2d_ASN1_SEQUENCE_ANY(seq, &der);
    assert_true(len > 0);
    full = OPENSSL_zalloc((size_t)len + trailing);
    assert_non_null(full);
    memcpy(full, der, (size_t)len);
    if (trailing > 0)
        full[len] = 0x05; /* a NULL after the structure, and zeros */
    assert_true(PEM_write_bio(mem, label, "", full, len + (long)trailing) > 0);
    n = BIO_get_mem_data(mem, &data);
    copy = strndup(data, (size_t)n);
    assert_non_null(copy);
    BIO_free(mem);
    OPENSSL_free(full);
    OPENSSL_free(der);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return copy;
}

void st_ca(EVP_PKEY **key, X509 **cert)
{
    *key = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256");
    assert_non_null(*key);
    *cert = st_cert(*key, "tokenkey test CA", *key, NULL);
}

X509 *st_cert(EVP_PKEY *pub, const char *cn, EVP_PKEY *ca_key, X509 *ca_cert)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    assert_non_null(x);
    assert_non_null(name);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0xffffff) + 1), 1);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)cn, -1, -1, 0), 1);
    assert_int_equal(X509_set_subject_name(x, name), 1);
    assert_int_equal(X509_set_issuer_name(x, ca_cert != NULL ? X509_get_subject_name(ca_cert)
                                                              : name), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, pub), 1);
    X509V3_set_ctx(&v3, ca_cert != NULL ? ca_cert : x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                              ca_cert == NULL ? "critical,CA:TRUE" : "CA:FALSE");
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
    X509_NAME_free(name);
    return x;
}

void st_write_cert(const char *path, X509 *x)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    assert_int_equal(fclose(f), 0);
}

EVP_PKEY *st_read_key(OSSL_LIB_CTX *libctx, const char *path)
{
    BIO *in = BIO_new_file(path, "r");
    EVP_PKEY *pkey;

    assert_non_null(in);
    pkey = PEM_read_bio_PrivateKey_ex(in, NULL, NULL, NULL, libctx, NULL);
    BIO_free(in);
    return pkey;
}

char *st_read(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long size;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    rewind(f);
    buf = malloc((size_t)size + 1);
    if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    if (buf != NULL)
        buf[size] = '\0';
    fclose(f);
    return buf;
}
