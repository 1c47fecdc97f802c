/*
 * tokenkey csr: a PKCS#10 request (RFC 2986) for a TLS client
 * certificate, signed by the token key through the provider. The request
 * is read back and its signature checked with the default provider alone
 * before it is written, so what leaves is known to verify.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "subject.h"

#define CSR_USAGE "--key LABEL|URI|FILE --subject NAME [--san NAMES] [--out FILE] [--force] " \
                  "[--token LABEL|URI] [--module PATH] [--pin-file FILE]"

/*
 * What a TLS client certificate needs (RFC 5280 4.2.1.3 and 4.2.1.12):
 * digitalSignature for the handshake signature, keyEncipherment too for
 * RSA (TLS 1.2 RSA key exchange, which some brokers still pick), and
 * extendedKeyUsage clientAuth. The CA decides; we ask for this.
 */
static int add_extensions(X509_REQ *req, int rsa, GENERAL_NAMES *san)
{
    STACK_OF(X509_EXTENSION) *exts = NULL;
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    int ok = ku != NULL && eku != NULL
             && ASN1_BIT_STRING_set_bit(ku, 0, 1) /* digitalSignature */
             && (!rsa || ASN1_BIT_STRING_set_bit(ku, 2, 1)) /* keyEncipherment */
             && sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_client_auth))
             && X509V3_add1_i2d(&exts, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1
             && X509V3_add1_i2d(&exts, NID_ext_key_usage, eku, 0, X509V3_ADD_DEFAULT) == 1
             && (san == NULL
                 || X509V3_add1_i2d(&exts, NID_subject_alt_name, san, 0, X509V3_ADD_DEFAULT) == 1)
             && X509_REQ_add_extensions(req, exts);

    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ASN1_BIT_STRING_free(ku);
    sk_ASN1_OBJECT_free(eku); /* OBJ_nid2obj's objects are static */
    return ok;
}

/*
 * Sign with the token key: SHA-256 for RSA (PKCS#1 v1.5, or RSASSA-PSS for
 * a key that signs with PSS only) and ECDSA; Ed25519 takes no digest.
 */
static int sign(TK_CLI *cli, X509_REQ *req, TK_CLI_KEY *k)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    const char *md = EVP_PKEY_is_a(k->pkey, "ED25519") ? NULL : "SHA256";
    int ok;

    /* OpenSSL 3.0 has no X509_REQ_sign_ex: this is what it does, with our libctx. */
    ok = mctx != NULL
         && EVP_DigestSignInit_ex(mctx, &pctx, md, cli->libctx, NULL, k->pkey, NULL) == 1
         && (!tk_cli_rsa_pss_only(&k->s, k->handle, k->pkey) || tk_cli_pss_params(pctx))
         && X509_REQ_sign_ctx(req, mctx) > 0;
    EVP_MD_CTX_free(mctx);
    return ok;
}

/*
 * The PEM about to be written, parsed again, verified against the public
 * key it carries using the default provider only: the token's signature
 * checked by independent code.
 */
static int verify_pem(TK_CLI *cli, BIO *pem)
{
    BIO *in;
    X509_REQ *req = NULL;
    EVP_PKEY *pub = NULL;
    const X509_PUBKEY *xpk;
    unsigned char *spki = NULL;
    const unsigned char *p;
    char *data;
    long len = BIO_get_mem_data(pem, &data);
    int spki_len, ok = 0;

    if ((in = BIO_new_mem_buf(data, (int)len)) != NULL
        && (req = PEM_read_bio_X509_REQ(in, NULL, NULL, NULL)) != NULL
        && (xpk = X509_REQ_get_X509_PUBKEY(req)) != NULL
        && (spki_len = i2d_X509_PUBKEY(xpk, &spki)) > 0) {
        p = spki;
        pub = d2i_PUBKEY_ex(NULL, &p, spki_len, cli->libctx, "provider=default");
        ok = pub != NULL && X509_REQ_verify_ex(req, pub, cli->libctx, "provider=default") == 1;
    }
    OPENSSL_free(spki);
    EVP_PKEY_free(pub);
    X509_REQ_free(req);
    BIO_free(in);
    return ok;
}

static int make_csr(TK_CLI *cli, TK_CLI_KEY *k, X509_NAME *subject, GENERAL_NAMES *san,
                    BIO *out)
{
    X509_REQ *req = X509_REQ_new_ex(cli->libctx, NULL);
    char why[512];
    int ok;

    ok = req != NULL && X509_REQ_set_version(req, X509_REQ_VERSION_1)
         && X509_REQ_set_subject_name(req, subject) && X509_REQ_set_pubkey(req, k->pkey)
         && add_extensions(req, EVP_PKEY_is_a(k->pkey, "RSA"), san);
    if (!ok) {
        tk_cli_error(cli, 0, "cannot build the request for '%s': %s", k->uri_text,
                     tk_cli_openssl_reason(why, sizeof(why)));
    } else if (!sign(cli, req, k)) {
        tk_cli_error(cli, 0, "the token key '%s' did not sign the request: %s", k->uri_text,
                     tk_cli_openssl_reason(why, sizeof(why)));
        ok = 0;
    } else if (!PEM_write_bio_X509_REQ(out, req)) {
        tk_cli_error(cli, 0, "cannot encode the request: %s",
                     tk_cli_openssl_reason(why, sizeof(why)));
        ok = 0;
    } else if (!verify_pem(cli, out)) {
        tk_cli_error(cli, 0, "the request's signature does not verify with its own public key "
                             "(key '%s'): nothing written", k->uri_text);
        ERR_clear_error();
        ok = 0;
    }
    X509_REQ_free(req);
    return ok;
}

int tk_cmd_csr(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "csr" };
    const char *subject_text = NULL, *san_text = NULL, *out_path = NULL;
    int force = 0, code;
    const TK_CLI_OPTION opts[] = {
        { "--subject", &subject_text, NULL, "subject: /C=DE/O=Acme/CN=client or "
                                            "CN=client,O=Acme,C=DE (required)" },
        { "--san", &san_text, NULL, "alternative names: DNS:host,IP:addr,email:addr,URI:uri" },
        { "--out", &out_path, NULL, "write the PEM request to FILE (default: stdout)" },
        { "--force", NULL, &force, "overwrite --out FILE if it exists" },
        { NULL, NULL, NULL, NULL }
    };
    X509_NAME *subject = NULL;
    GENERAL_NAMES *san = NULL;
    TK_CLI_KEY k;
    BIO *pem = NULL;
    char err[512];

    if (tk_cli_parse(&cli, argc, argv, TK_USES_KEY_ACCESS, opts, CSR_USAGE, &code) < 0)
        return code;
    if (cli.key == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "--key LABEL|URI|FILE is required (see 'tokenkey "
                                                 "list')");
    if (subject_text == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "--subject is required, e.g. --subject "
                                                 "'/CN=my-client/O=Acme'");
    /* Everything the user typed is checked before the token is touched. */
    if (!tk_parse_subject(subject_text, &subject, err, sizeof(err)))
        return tk_cli_error(&cli, TK_EXIT_USAGE, "bad --subject: %s", err);
    if (san_text != NULL && !tk_parse_san(san_text, &san, err, sizeof(err))) {
        X509_NAME_free(subject);
        return tk_cli_error(&cli, TK_EXIT_USAGE, "bad --san: %s", err);
    }
    code = TK_EXIT_FAILURE;
    if ((out_path != NULL && !tk_cli_check_new_file(&cli, out_path, force))
        || (pem = BIO_new(BIO_s_mem())) == NULL)
        goto end;
    if ((code = tk_cli_key_open(&cli, &k)) != TK_EXIT_OK)
        goto close;
    code = TK_EXIT_FAILURE;
    if (make_csr(&cli, &k, subject, san, pem)) {
        char *data;
        long len = BIO_get_mem_data(pem, &data);

        if (out_path != NULL)
            code = tk_cli_write_bio(&cli, out_path, pem, force) && tk_cli_files_commit(&cli)
                   ? TK_EXIT_OK : TK_EXIT_FAILURE;
        else
            code = fwrite(data, 1, (size_t)len, stdout) == (size_t)len && fflush(stdout) == 0
                   ? TK_EXIT_OK : tk_cli_error(&cli, TK_EXIT_FAILURE, "cannot write to stdout");
    }
close:
    tk_cli_key_close(&cli, &k);
end:
    BIO_free(pem);
    GENERAL_NAMES_free(san);
    X509_NAME_free(subject);
    return code;
}
