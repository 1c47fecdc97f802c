/*
 * tokenkey export: the files a program that wants paths needs (librdkafka's
 * ssl.key.location, s_client -key): the key reference PEM, written by the
 * provider's encoder, and the certificate from the token. Both are public;
 * the key itself never leaves the token (it can't: it was made
 * non-extractable).
 */
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "cli.h"
#include "store/keyref.h"

#define EXPORT_USAGE "--key LABEL|URI|FILE (--out-dir DIR | --key-out FILE | --cert-out FILE) " \
                     "[--force] [--token LABEL|URI] [--module PATH] [--pin-file FILE]"

/* At most this many CA certificates are added after the client's. */
#define MAX_INTERMEDIATES 8

/* The key reference, through the provider's encoder ("TOKENKEY KEY REFERENCE", keyref.h). */
static int key_reference(TK_CLI *cli, TK_CLI_KEY *k, BIO *out)
{
    static const char begin[] = "-----BEGIN " TK_KEYREF_PEM_LABEL "-----";
    char *data, why[512];
    long len;

    if (!PEM_write_bio_PrivateKey_ex(out, k->pkey, NULL, NULL, 0, NULL, NULL, cli->libctx, NULL)) {
        tk_cli_error(cli, 0, "cannot write the key reference of '%s': %s", k->uri_text,
                     tk_cli_openssl_reason(why, sizeof(why)));
        return 0;
    }
    /* Belt and braces: whatever encoder answered, only a key reference may be written. */
    len = BIO_get_mem_data(out, &data);
    if (len < (long)sizeof(begin) - 1 || memcmp(data, begin, sizeof(begin) - 1) != 0) {
        tk_cli_error(cli, 0, "the encoder of '%s' did not write a key reference: nothing written",
                     k->uri_text);
        return 0;
    }
    return 1;
}

/*
 * The certificate on the token that issued cur and is not a root: among
 * those whose subject is cur's issuer, the first that really issued it
 * (X509_check_issued). Any certificate object counts, whatever its
 * CKA_CERTIFICATE_CATEGORY: import-cert marks CA certificates as
 * authorities, other tools (pkcs11-tool --write-object) leave it unset.
 */
static X509 *issuer_on_token(TK_P11_SESSION *s, X509 *cur)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_OBJECT_HANDLE h[4];
    CK_ULONG n = 0;
    unsigned char *issuer = NULL;
    int issuer_len = i2d_X509_NAME(X509_get_issuer_name(cur), &issuer);
    CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof(cls) },
                          { CKA_SUBJECT, issuer, (CK_ULONG)(issuer_len > 0 ? issuer_len : 0) } };
    X509 *found = NULL;

    /* X509_verify queues errors for the candidates that were not the issuer. */
    ERR_set_mark();
    if (issuer_len > 0 && X509_self_signed(cur, 0) == 0 && tk_p11_find(s, t, 2, h, 4, &n) == CKR_OK)
        for (CK_ULONG i = 0; i < n && found == NULL; i++) {
            X509 *c = tk_cli_token_cert(s, h[i]);

            /* The names say it could be; the signature says it is (a CA rollover keeps the name). */
            if (c != NULL && X509_self_signed(c, 0) == 0 && X509_check_issued(c, cur) == X509_V_OK
                && X509_verify(cur, X509_get0_pubkey(c)) == 1)
                found = c;
            else
                X509_free(c);
        }
    ERR_pop_to_mark();
    OPENSSL_free(issuer);
    return found;
}

/*
 * The CA certificates on the token that lead up from x, issuer by issuer,
 * stopping before a self-signed root: TLS clients send intermediates, the
 * server has the root.
 */
static void add_intermediates(TK_P11_SESSION *s, X509 *x, BIO *out)
{
    X509 *seen[MAX_INTERMEDIATES + 1] = { X509_dup(x) };
    int n = seen[0] != NULL;

    while (n > 0 && n <= MAX_INTERMEDIATES) {
        X509 *next = issuer_on_token(s, seen[n - 1]);
        int again = 0;

        /* Two CAs that cross-signed each other would go round forever. */
        for (int i = 0; next != NULL && i < n; i++)
            again |= X509_cmp(next, seen[i]) == 0;
        if (next == NULL || again) {
            X509_free(next);
            break;
        }
        PEM_write_bio_X509(out, next);
        seen[n++] = next;
    }
    for (int i = 0; i < n; i++)
        X509_free(seen[i]);
}

/* The key's certificate, checked against the key, then the intermediates. */
static int certificate(TK_CLI *cli, TK_CLI_KEY *k, BIO *out)
{
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    CK_RV rv = tk_cli_key_certs(k, h, 2, &n);
    X509 *x;
    int ok;

    if (rv != CKR_OK)
        return tk_cli_error(cli, 0, "cannot search token '%s': %s", k->token_label,
                            tk_p11_rv_name(rv));
    if (n == 0)
        return tk_cli_error(cli, 0, "no certificate for %s on the token: run tokenkey "
                                    "import-cert first", k->uri_text);
    if (n > 1)
        return tk_cli_error(cli, 0, "more than one certificate for %s on the token: keep one "
                                    "(tokenkey import-cert --replace)", k->uri_text);
    if ((x = tk_cli_token_cert(&k->s, h[0])) == NULL)
        return tk_cli_error(cli, 0, "the certificate for %s on the token is not X.509",
                            k->uri_text);
    if (!(ok = tk_cli_cert_matches(x, k->pkey)))
        tk_cli_error(cli, 0, "the certificate stored for %s does not match the key: import the "
                             "right one with tokenkey import-cert --replace", k->uri_text);
    else if (!(ok = PEM_write_bio_X509(out, x)))
        tk_cli_error(cli, 0, "cannot encode the certificate for %s", k->uri_text);
    else
        add_intermediates(&k->s, x, out);
    X509_free(x);
    return ok;
}

int tk_cli_export(TK_CLI *cli, TK_CLI_KEY *k, const char *key_path, const char *cert_path,
                  int force)
{
    BIO *key_pem = BIO_new(BIO_s_mem()), *cert_pem = BIO_new(BIO_s_mem());
    int ok;

    /* Both made and written before either takes its name (the caller's tk_cli_files_commit). */
    ok = key_pem != NULL && cert_pem != NULL
         && (key_path == NULL || key_reference(cli, k, key_pem))
         && (cert_path == NULL || certificate(cli, k, cert_pem))
         && (key_path == NULL || tk_cli_write_bio(cli, key_path, key_pem, force))
         && (cert_path == NULL || tk_cli_write_bio(cli, cert_path, cert_pem, force));
    BIO_free(key_pem);
    BIO_free(cert_pem);
    return ok ? TK_EXIT_OK : TK_EXIT_FAILURE;
}

int tk_cmd_export(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "export" };
    const char *out_dir = NULL, *key_out = NULL, *cert_out = NULL;
    int force = 0, made_dir = 0, code;
    const TK_CLI_OPTION opts[] = {
        { "--out-dir", &out_dir, NULL, "write DIR/key.pem and DIR/cert.pem (DIR made if missing)" },
        { "--key-out", &key_out, NULL, "write the key reference to FILE" },
        { "--cert-out", &cert_out, NULL, "write the certificate (and intermediates) to FILE" },
        { "--force", NULL, &force, "overwrite files that exist" },
        { NULL, NULL, NULL, NULL }
    };
    char *key_path = NULL, *cert_path = NULL;
    TK_CLI_KEY k;

    if (tk_cli_parse(&cli, argc, argv, TK_USES_KEY_ACCESS, opts, EXPORT_USAGE, &code) < 0)
        return code;
    if (cli.key == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "--key LABEL|URI|FILE is required (see 'tokenkey "
                                                 "list')");
    if (out_dir == NULL && key_out == NULL && cert_out == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "nowhere to write: give --out-dir DIR, or "
                                                 "--key-out FILE and/or --cert-out FILE");
    /* --key-out / --cert-out override the names --out-dir gives. */
    key_path = key_out != NULL ? OPENSSL_strdup(key_out)
               : out_dir != NULL ? tk_cli_path_join(out_dir, "key.pem") : NULL;
    cert_path = cert_out != NULL ? OPENSSL_strdup(cert_out)
                : out_dir != NULL ? tk_cli_path_join(out_dir, "cert.pem") : NULL;
    code = TK_EXIT_FAILURE;
    if (out_dir != NULL && !tk_cli_out_dir(&cli, out_dir, &made_dir))
        goto end;
    /* After --out-dir is made: './d/key.pem' and 'd/key.pem' are one file only once d is there. */
    if (key_path != NULL && cert_path != NULL && tk_cli_same_file(key_path, cert_path)) {
        tk_cli_error(&cli, 0, "the key reference and the certificate would go to the same file "
                              "'%s': give them different names", cert_path);
        code = TK_EXIT_USAGE;
        goto end;
    }
    if ((key_path != NULL && !tk_cli_check_new_file(&cli, key_path, force))
        || (cert_path != NULL && !tk_cli_check_new_file(&cli, cert_path, force)))
        goto end;
    if ((code = tk_cli_key_open(&cli, &k)) == TK_EXIT_OK
        && (code = tk_cli_export(&cli, &k, key_path, cert_path, force)) == TK_EXIT_OK
        && (code = tk_cli_files_commit(&cli) ? TK_EXIT_OK : TK_EXIT_FAILURE) == TK_EXIT_OK) {
        if (key_path != NULL)
            printf("%s\n", key_path);
        if (cert_path != NULL)
            printf("%s\n", cert_path);
    }
    tk_cli_key_close(&cli, &k);
end:
    tk_cli_files_discard(&cli);
    if (code != TK_EXIT_OK && out_dir != NULL)
        tk_cli_out_dir_undo(out_dir, made_dir);
    OPENSSL_free(key_path);
    OPENSSL_free(cert_path);
    return code;
}
