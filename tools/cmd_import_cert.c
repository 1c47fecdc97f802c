/*
 * tokenkey import-cert: store the CA-signed certificate on the token next
 * to its key (same CKA_ID and CKA_LABEL: the PKCS#11 convention that ties
 * the two, v2.40 section 4.6.3), and optionally the CA chain. Refuses a
 * certificate for another key, one outside its validity period, and a
 * second certificate for the key unless --replace.
 */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "objects.h"

/* CKA_CERTIFICATE_CATEGORY values (PKCS#11 v2.40 section 4.6.2); p11-kit's header lacks names. */
#define CERT_CATEGORY_TOKEN_USER 1UL
#define CERT_CATEGORY_AUTHORITY 2UL

#define IMPORT_USAGE "--key LABEL|URI|FILE --cert FILE [--chain FILE] [--replace] " \
                     "[--token LABEL|URI] [--module PATH] [--pin-file FILE]"

/* Refuse a certificate outside its validity period (RFC 5280 4.1.2.5). */
static int check_dates(TK_CLI *cli, X509 *x, const char *what, const char *path)
{
    char when[64];

    if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
        tk_cli_time_text(X509_get0_notBefore(x), when, sizeof(when));
        tk_cli_error(cli, 0, "the %s in '%s' is not valid before %s: check this machine's clock, "
                             "or wait", what, path, when);
        return 0;
    }
    if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
        tk_cli_time_text(X509_get0_notAfter(x), when, sizeof(when));
        tk_cli_error(cli, 0, "the %s in '%s' expired on %s: ask the CA for a new one", what, path,
                     when);
        return 0;
    }
    return 1;
}

/*
 * --chain is stored as CA certificates (CKA_CERTIFICATE_CATEGORY authority),
 * which export and kafka-config then hand to the client as its
 * intermediates: each must be a CA, on the way up from the certificate
 * (it issued the certificate, or a chain certificate that is). Another
 * client's chain file, say, would otherwise leave that client's own
 * certificate on this token as a CA.
 */
static int check_chain(TK_CLI *cli, X509 *cert, STACK_OF(X509) *chain, const char *path)
{
    int n = sk_X509_num(chain), on_path[64] = { 0 };
    X509 *below = cert;
    char name[256];

    if (n > (int)(sizeof(on_path) / sizeof(on_path[0])))
        return tk_cli_error(cli, 0, "'%s' holds %d certificates, more than a chain has: give "
                                    "the CA certificates above the client certificate", path, n);
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(chain, i);

        if (X509_check_ca(x) == 0) {
            X509_NAME_oneline(X509_get_subject_name(x), name, sizeof(name));
            return tk_cli_error(cli, 0, "certificate %d in --chain '%s' ('%s') is not a CA "
                                        "certificate: give only the CAs above the client "
                                        "certificate", i + 1, path, name);
        }
    }
    /* Up from the certificate: each step the one chain certificate that issued the one below. */
    for (int found = 1; found;) {
        found = 0;
        for (int i = 0; i < n && !found; i++)
            if (!on_path[i] && X509_check_issued(sk_X509_value(chain, i), below) == X509_V_OK) {
                on_path[i] = found = 1;
                below = sk_X509_value(chain, i);
            }
    }
    /*
     * A CA on the path given twice, or as its cross-signed twin (same
     * subject, same key), is on the path too.
     */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n && !on_path[i]; j++)
            if (on_path[j] == 1
                && X509_NAME_cmp(X509_get_subject_name(sk_X509_value(chain, i)),
                                 X509_get_subject_name(sk_X509_value(chain, j))) == 0
                && EVP_PKEY_eq(X509_get0_pubkey(sk_X509_value(chain, i)),
                               X509_get0_pubkey(sk_X509_value(chain, j))) == 1)
                on_path[i] = 2;
    for (int i = 0; i < n; i++)
        if (!on_path[i]) {
            X509_NAME_oneline(X509_get_subject_name(sk_X509_value(chain, i)), name, sizeof(name));
            return tk_cli_error(cli, 0, "certificate %d in --chain '%s' ('%s') did not issue the "
                                        "certificate nor a CA above it in the file: give only the "
                                        "CAs on its way up, each one (is a CA between them "
                                        "missing?)", i + 1, path, name);
        }
    return 1;
}

/* The DER pieces of a certificate's PKCS#11 object (v2.40 section 4.6.3). */
typedef struct {
    unsigned char *value, *subject, *issuer, *serial;
    int value_len, subject_len, issuer_len, serial_len;
} CERT_DER;

static void cert_der_free(CERT_DER *d)
{
    OPENSSL_free(d->value);
    OPENSSL_free(d->subject);
    OPENSSL_free(d->issuer);
    OPENSSL_free(d->serial);
    memset(d, 0, sizeof(*d));
}

static int cert_der(X509 *x, CERT_DER *d)
{
    memset(d, 0, sizeof(*d));
    d->value_len = i2d_X509(x, &d->value);
    d->subject_len = i2d_X509_NAME(X509_get_subject_name(x), &d->subject);
    d->issuer_len = i2d_X509_NAME(X509_get_issuer_name(x), &d->issuer);
    d->serial_len = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &d->serial);
    if (d->value_len > 0 && d->subject_len > 0 && d->issuer_len > 0 && d->serial_len > 0)
        return 1;
    cert_der_free(d);
    return 0;
}

/* C_CreateObject for one certificate; category 1 = token user, 2 = authority. */
static CK_RV store_cert(TK_P11_SESSION *s, const CERT_DER *d, const unsigned char *id,
                        CK_ULONG id_len, const char *label, CK_ULONG category,
                        CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE ctype = CKC_X_509;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[12] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype) },
        { CKA_TOKEN, &yes, sizeof(yes) },
        { CKA_PRIVATE, &no, sizeof(no) }, /* public data: readable without login */
        { CKA_ID, (void *)id, id_len },
        { CKA_SUBJECT, d->subject, (CK_ULONG)d->subject_len },
        { CKA_ISSUER, d->issuer, (CK_ULONG)d->issuer_len },
        { CKA_SERIAL_NUMBER, d->serial, (CK_ULONG)d->serial_len },
        { CKA_VALUE, d->value, (CK_ULONG)d->value_len },
        { CKA_CERTIFICATE_CATEGORY, &category, sizeof(category) },
    };
    CK_ULONG n = 10;

    if (label != NULL)
        t[n++] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
    return tk_p11_create(s, t, n, out);
}

/* A CA certificate already on the token (same issuer and serial): stored once only. */
static CK_RV find_same(TK_P11_SESSION *s, const CERT_DER *d, CK_OBJECT_HANDLE *h, CK_ULONG *n)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_ATTRIBUTE t[3] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_ISSUER, d->issuer, (CK_ULONG)d->issuer_len },
        { CKA_SERIAL_NUMBER, d->serial, (CK_ULONG)d->serial_len },
    };

    return tk_p11_find(s, t, 3, h, 1, n);
}

/*
 * A CA certificate's own CKA_ID: its subject key identifier, or the SHA-1
 * of its public key (RFC 5280 4.2.1.2, method 1) - never the client
 * key's id, which must name the key's own objects only.
 */
static int ca_id(X509 *x, unsigned char *id, unsigned int *len)
{
    const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(x);

    if (skid != NULL && ASN1_STRING_length(skid) > 0 && ASN1_STRING_length(skid) <= 64) {
        *len = (unsigned int)ASN1_STRING_length(skid);
        memcpy(id, ASN1_STRING_get0_data(skid), *len);
        return 1;
    }
    return X509_pubkey_digest(x, EVP_sha1(), id, len);
}

/* A label a person recognises: the CA's common name, else its whole subject. */
static void ca_label(X509 *x, char *buf, size_t cap)
{
    X509_NAME *name = X509_get_subject_name(x);

    if (X509_NAME_get_text_by_NID(name, NID_commonName, buf, (int)cap) <= 0)
        X509_NAME_oneline(name, buf, (int)cap);
}

static int store_chain(TK_CLI *cli, TK_CLI_KEY *k, STACK_OF(X509) *chain)
{
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        unsigned char id[EVP_MAX_MD_SIZE > 64 ? EVP_MAX_MD_SIZE : 64];
        unsigned int id_len = 0;
        char label[256], *uri;
        CK_OBJECT_HANDLE h;
        CK_ULONG n = 0;
        CERT_DER d;
        CK_RV rv;

        if (!cert_der(x, &d) || !ca_id(x, id, &id_len)) {
            cert_der_free(&d);
            return tk_cli_error(cli, 0, "cannot encode chain certificate %d", i + 1);
        }
        ca_label(x, label, sizeof(label));
        rv = find_same(&k->s, &d, &h, &n);
        if (rv == CKR_OK && n == 0)
            rv = store_cert(&k->s, &d, id, id_len, label, CERT_CATEGORY_AUTHORITY, &h);
        cert_der_free(&d);
        if (rv != CKR_OK)
            return tk_cli_error(cli, 0, "token '%s' refused chain certificate '%s': %s",
                                k->token_label, label, tk_p11_rv_name(rv));
        if ((uri = tk_objects_uri(&k->s, h, CKO_CERTIFICATE)) != NULL)
            printf("%s\n", uri);
        OPENSSL_free(uri);
    }
    return 1;
}

static int import(TK_CLI *cli, TK_CLI_KEY *k, X509 *cert, const char *cert_path,
                  STACK_OF(X509) *chain, int replace)
{
    CK_OBJECT_HANDLE old[8], h;
    CK_ULONG n_old = 0;
    CERT_DER d;
    char *uri;
    CK_RV rv;

    if (!tk_cli_cert_matches(cert, k->pkey))
        return tk_cli_error(cli, 0, "the certificate in '%s' is not for key '%s': its public key "
                                    "differs (was the request made with another key?)",
                            cert_path, k->uri_text);
    if (k->id_len == 0)
        return tk_cli_error(cli, 0, "key '%s' has no CKA_ID to tie a certificate to: make keys "
                                    "with tokenkey keygen", k->uri_text);
    if ((rv = tk_cli_key_certs(k, old, 8, &n_old)) != CKR_OK)
        return tk_cli_error(cli, 0, "cannot search token '%s': %s", k->token_label,
                            tk_p11_rv_name(rv));
    if (n_old > 0 && !replace)
        return tk_cli_error(cli, 0, "token '%s' already has a certificate for key '%s': pass "
                                    "--replace to replace it", k->token_label, k->uri_text);
    if (!cert_der(cert, &d))
        return tk_cli_error(cli, 0, "cannot encode the certificate in '%s'", cert_path);
    rv = store_cert(&k->s, &d, k->id, k->id_len, k->label, CERT_CATEGORY_TOKEN_USER, &h);
    cert_der_free(&d);
    if (rv != CKR_OK)
        return tk_cli_error(cli, 0, "token '%s' refused the certificate: %s", k->token_label,
                            tk_p11_rv_name(rv));
    /* The new one is stored first, so a failure here never leaves the key without one. */
    for (CK_ULONG i = 0; i < n_old && i < 8; i++)
        if ((rv = tk_p11_destroy(&k->s, old[i])) != CKR_OK)
            return tk_cli_error(cli, 0, "the new certificate is stored but token '%s' refused to "
                                        "delete the old one: %s", k->token_label,
                                tk_p11_rv_name(rv));
    uri = tk_objects_uri(&k->s, h, CKO_CERTIFICATE);
    printf("%s\n", uri != NULL ? uri : "(stored)");
    OPENSSL_free(uri);
    return chain == NULL || store_chain(cli, k, chain);
}

int tk_cmd_import_cert(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "import-cert" };
    const char *cert_path = NULL, *chain_path = NULL;
    int replace = 0, code;
    const TK_CLI_OPTION opts[] = {
        { "--cert", &cert_path, NULL, "the CA-signed certificate, PEM or DER (required)" },
        { "--chain", &chain_path, NULL, "CA certificates to store too (PEM, one or more)" },
        { "--replace", NULL, &replace, "replace the key's certificate already on the token" },
        { NULL, NULL, NULL, NULL }
    };
    STACK_OF(X509) *certs = NULL, *chain = NULL;
    TK_CLI_KEY k;

    if (tk_cli_parse(&cli, argc, argv, TK_USES_KEY_ACCESS, opts, IMPORT_USAGE, &code) < 0)
        return code;
    if (cli.key == NULL || cert_path == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "%s is required", cli.key == NULL
                            ? "--key LABEL|URI|FILE" : "--cert FILE");
    /* The files are checked before the token is touched. */
    code = TK_EXIT_FAILURE;
    if ((certs = tk_cli_read_certs(&cli, "--cert", cert_path)) == NULL
        || (chain_path != NULL && (chain = tk_cli_read_certs(&cli, "--chain", chain_path)) == NULL))
        goto end;
    if (sk_X509_num(certs) != 1) {
        tk_cli_error(&cli, 0, "'%s' holds %d certificates: give the client certificate alone in "
                              "--cert and the CA certificates in --chain", cert_path,
                     sk_X509_num(certs));
        goto end;
    }
    if (!check_dates(&cli, sk_X509_value(certs, 0), "certificate", cert_path))
        goto end;
    for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++)
        if (!check_dates(&cli, sk_X509_value(chain, i), "chain certificate", chain_path))
            goto end;
    if (chain != NULL && !check_chain(&cli, sk_X509_value(certs, 0), chain, chain_path))
        goto end;
    if ((code = tk_cli_key_open(&cli, &k)) == TK_EXIT_OK)
        code = import(&cli, &k, sk_X509_value(certs, 0), cert_path, chain, replace)
               ? TK_EXIT_OK : TK_EXIT_FAILURE;
    /*
     * Comparing keys left the certificate's public key holding objects of
     * the CLI's providers: free it before they go.
     */
    sk_X509_pop_free(certs, X509_free);
    certs = NULL;
    tk_cli_key_close(&cli, &k);
end:
    sk_X509_pop_free(certs, X509_free);
    sk_X509_pop_free(chain, X509_free);
    return code;
}
