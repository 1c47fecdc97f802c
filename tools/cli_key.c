/*
 * What the enrollment subcommands share (cli.h, part A): the one token key
 * --key names, certificate files in, public files out.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "cli.h"
#include "objects.h"

/* ---- the key ---- */

static int find_key(TK_CLI *cli, TK_CLI_KEY *k)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[3] = { { CKA_CLASS, &cls, sizeof(cls) } };
    CK_OBJECT_HANDLE found[2];
    CK_ULONG n = 1, count = 0;
    unsigned char *label = NULL;
    char *named;
    CK_ULONG label_len = 0;
    CK_RV rv;

    if (k->uri->has_id)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_ID, k->uri->id, k->uri->id_len };
    if (k->uri->object != NULL)
        tmpl[n++] = (CK_ATTRIBUTE){ CKA_LABEL, k->uri->object, strlen(k->uri->object) };
    rv = tk_p11_session_get(k->token, &k->s);
    if (rv == CKR_OK)
        rv = tk_p11_find(&k->s, tmpl, n, found, 2, &count);
    if (rv != CKR_OK) {
        tk_cli_error(cli, 0, "cannot search token '%s': %s", k->token_label, tk_p11_rv_name(rv));
        return 0;
    }
    if (count != 1) {
        named = tk_cli_key_named(cli, cli->key, k->uri);
        tk_cli_error(cli, 0, count == 0 ? "no private key matches '%s' on token '%s': see "
                                          "'tokenkey list'%s"
                                        : "'%s' matches more than one private key on token '%s': "
                                          "give a pkcs11: URI with id= (see 'tokenkey list')%s",
                     named != NULL ? named : "--key", k->token_label,
                     count == 0 ? tk_cli_key_file_note(cli->key) : "");
        OPENSSL_free(named);
        return 0;
    }
    k->handle = found[0];
    if ((rv = tk_p11_get_attr_alloc(&k->s, k->handle, CKA_ID, &k->id, &k->id_len)) != CKR_OK
        || (rv = tk_p11_get_attr_alloc(&k->s, k->handle, CKA_LABEL, &label, &label_len))
               != CKR_OK) {
        named = tk_cli_key_named(cli, cli->key, k->uri);
        tk_cli_error(cli, 0, "cannot read key '%s': %s", named != NULL ? named : "--key",
                     tk_p11_rv_name(rv));
        OPENSSL_free(named);
        OPENSSL_free(label);
        return 0;
    }
    k->label = label_len > 0 ? OPENSSL_strndup((const char *)label, label_len) : NULL;
    OPENSSL_free(label);
    k->uri_text = tk_objects_uri(&k->s, k->handle, CKO_PRIVATE_KEY);
    if (k->uri_text == NULL) {
        tk_cli_error(cli, 0, "out of memory");
        return 0;
    }
    return 1;
}

int tk_cli_key_open(TK_CLI *cli, TK_CLI_KEY *k)
{
    TK_URI *exact = NULL;

    memset(k, 0, sizeof(*k));
    if (cli->key == NULL)
        return tk_cli_error(cli, TK_EXIT_USAGE, "--key LABEL|URI|FILE is required (see 'tokenkey "
                                                "list')");
    if (!tk_cli_open_module(cli))
        return TK_EXIT_SETUP;
    if ((k->uri = tk_cli_uri(cli, cli->key)) == NULL)
        return TK_EXIT_SETUP;
    if (!tk_cli_one_token(cli, k->uri, &k->token) || !tk_cli_login(cli, k->token))
        return TK_EXIT_SETUP;
    tk_cli_field(k->token_label, sizeof(k->token_label), tk_p11_token_cached_info(k->token)->label,
                 sizeof(tk_p11_token_cached_info(k->token)->label));
    if (!find_key(cli, k))
        return TK_EXIT_SETUP;
    /* Load exactly the object found, by its full URI (it carries the id). */
    if (tk_uri_parse(k->uri_text, &exact, NULL) != TK_URI_OK)
        return tk_cli_error(cli, TK_EXIT_SETUP, "cannot use the key's URI '%s'", k->uri_text);
    k->pkey = tk_cli_load_key(cli, exact);
    tk_uri_free(exact);
    return k->pkey != NULL ? TK_EXIT_OK : TK_EXIT_SETUP;
}

void tk_cli_key_close(TK_CLI *cli, TK_CLI_KEY *k)
{
    /* The key holds a provider reference: free it before the library context. */
    EVP_PKEY_free(k->pkey);
    tk_p11_session_put(&k->s, CKR_OK);
    tk_uri_free(k->uri);
    OPENSSL_free(k->id);
    OPENSSL_free(k->label);
    OPENSSL_free(k->uri_text);
    memset(k, 0, sizeof(*k));
    tk_cli_close(cli);
}

CK_RV tk_cli_key_certs(TK_CLI_KEY *k, CK_OBJECT_HANDLE *out, CK_ULONG max, CK_ULONG *count)
{
    /* Without an id nothing ties a certificate to the key (PKCS#11 v2.40 4.6.3). */
    if (k->id_len == 0) {
        *count = 0;
        return CKR_OK;
    }
    return tk_cli_find_certs(&k->s, k->id, k->id_len, out, max, count);
}

/*
 * A token key the provider lets sign with RSA-PSS only (the token lacks
 * PKCS#1 v1.5, or the key's CKA_ALLOWED_MECHANISMS leaves it out): asked
 * of the key object, before signing, so the tool picks PSS itself rather
 * than trying PKCS#1 v1.5 and failing.
 */
static int may_sign(TK_P11_SESSION *s, const CK_ATTRIBUTE *allowed, CK_MECHANISM_TYPE m)
{
    size_t n = allowed->pValue != NULL ? allowed->ulValueLen / sizeof(CK_MECHANISM_TYPE) : 0;

    return tk_p11_mechanism_allowed(allowed->pValue, n, m)
           && tk_p11_has_mechanism(s->token, m, CKF_SIGN);
}

int tk_cli_rsa_pss_only(TK_P11_SESSION *s, CK_OBJECT_HANDLE key, EVP_PKEY *pkey)
{
    CK_ATTRIBUTE allowed = { CKA_ALLOWED_MECHANISMS, NULL, 0 };
    int v15, pss;

    if (!EVP_PKEY_is_a(pkey, "RSA"))
        return 0;
    if (tk_p11_get_attrs_alloc(s, key, &allowed, 1) != CKR_OK)
        allowed.pValue = NULL; /* no list read: the token's mechanisms decide */
    v15 = may_sign(s, &allowed, CKM_RSA_PKCS) || may_sign(s, &allowed, CKM_SHA256_RSA_PKCS);
    pss = may_sign(s, &allowed, CKM_RSA_PKCS_PSS) || may_sign(s, &allowed, CKM_SHA256_RSA_PKCS_PSS);
    tk_p11_attrs_free(&allowed, 1);
    return !v15 && pss;
}

int tk_cli_pss_params(EVP_PKEY_CTX *pctx)
{
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
           && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
}

/* ---- certificate files ---- */

/*
 * As OpenSSL reads a certificate file (SSL_CTX_use_certificate_chain_file):
 * CERTIFICATE and TRUSTED CERTIFICATE blocks, other blocks and text skipped,
 * and the end of the file is the only "no start line". A block that stops
 * the reading otherwise - damaged, or empty, which raises nothing - makes
 * OpenSSL refuse the file, so it is refused here too. The command line
 * reports each error as it comes, so nothing of the caller's is on the
 * queue to be taken for the reading's.
 */
int tk_cli_read_pem_certs(BIO *in, STACK_OF(X509) *sk)
{
    X509 *x;
    unsigned long last;
    int n = 0;

    ERR_clear_error();
    while ((x = PEM_read_bio_X509_AUX(in, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(sk, x)) {
            X509_free(x);
            ERR_clear_error();
            return -1;
        }
        n++;
    }
    last = ERR_peek_last_error();
    ERR_clear_error();
    if (!(ERR_GET_LIB(last) == ERR_LIB_PEM && ERR_GET_REASON(last) == PEM_R_NO_START_LINE))
        return -1;
    return n;
}

TK_CERTS_RESULT tk_cli_load_certs(const char *path, STACK_OF(X509) **out, int *damaged)
{
    STACK_OF(X509) *certs = sk_X509_new_null();
    BIO *in = certs != NULL ? BIO_new_file(path, "rb") : NULL;
    TK_CERTS_RESULT r = TK_CERTS_OK;
    int saved_errno = errno;
    X509 *x;

    *out = NULL;
    if (certs == NULL) {
        r = TK_CERTS_NO_MEMORY;
    } else if (in == NULL) {
        r = TK_CERTS_UNREADABLE;
        saved_errno = errno; /* why, for the caller */
        ERR_clear_error();
    } else if (tk_cli_read_pem_certs(in, certs) < 0) {
        /* PEM first (one or more blocks); a file without any is tried as DER. */
        *damaged = sk_X509_num(certs) + 1;
        r = TK_CERTS_DAMAGED;
    } else if (sk_X509_num(certs) == 0 && BIO_reset(in) == 0) {
        ERR_set_mark();
        x = d2i_X509_bio(in, NULL);
        ERR_pop_to_mark();
        if (x != NULL && !sk_X509_push(certs, x))
            X509_free(x);
    }
    if (r == TK_CERTS_OK && sk_X509_num(certs) == 0)
        r = TK_CERTS_NONE;
    BIO_free(in);
    if (r == TK_CERTS_OK)
        *out = certs;
    else
        sk_X509_pop_free(certs, X509_free);
    errno = saved_errno;
    return r;
}

STACK_OF(X509) *tk_cli_read_certs(TK_CLI *cli, const char *what, const char *path)
{
    STACK_OF(X509) *certs;
    int damaged = 0;

    switch (tk_cli_load_certs(path, &certs, &damaged)) {
    case TK_CERTS_OK:
        return certs;
    case TK_CERTS_NO_MEMORY:
        tk_cli_error(cli, 0, "cannot read %s '%s': out of memory", what, path);
        break;
    case TK_CERTS_UNREADABLE:
        tk_cli_error(cli, 0, "cannot read %s '%s': %s", what, path, strerror(errno));
        break;
    case TK_CERTS_DAMAGED:
        tk_cli_error(cli, 0, "%s '%s': certificate %d in the file is damaged (" TK_CERT_DAMAGED_WHY
                             "): fix or replace the file", what, path, damaged);
        break;
    case TK_CERTS_NONE:
        tk_cli_error(cli, 0, "%s '%s' holds no certificate: give a PEM or DER X.509 "
                             "certificate file", what, path);
        break;
    }
    return NULL;
}

void tk_cli_time_text(const ASN1_TIME *t, char *buf, size_t cap)
{
    struct tm tm;

    if (t != NULL && ASN1_TIME_to_tm(t, &tm) == 1)
        strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
    else
        snprintf(buf, cap, "(unreadable time)");
}

/* ---- errors ---- */

const char *tk_cli_openssl_reason(char *buf, size_t cap)
{
    unsigned long e;
    const char *data;
    int flags, have_text = 0;

    buf[0] = '\0';
    /*
     * The provider raises one error whose text says what to do, and it comes
     * first; libcrypto's own, added on the way out, say less.
     */
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        if (!have_text && (flags & ERR_TXT_STRING) && data != NULL && *data != '\0') {
            snprintf(buf, cap, "%s", data);
            have_text = 1;
        } else if (buf[0] == '\0') {
            const char *r = ERR_reason_error_string(e);

            snprintf(buf, cap, "%s", r != NULL ? r : "unknown OpenSSL error");
        }
    }
    if (buf[0] == '\0')
        snprintf(buf, cap, "no reason given");
    return buf;
}
