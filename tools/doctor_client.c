/*
 * The client's own files, for doctor. Asked about a key reference file
 * (--key ./key.pem) that has beside it the client.properties kafka-config
 * wrote with it, doctor checks the certificate the client sends - its
 * ssl.certificate.location - rather than the token's copy, unless --cert
 * names another: a stale or expired cert.pem is what fails the client's
 * handshakes, and the token's copy may be fine.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"

TK_DOCTOR_STATUS tk_doctor_client_files(TK_DOCTOR *d)
{
    const char *key_file = d->cli->key_file, *slash;
    char props[PATH_MAX];
    char *key_location = NULL;
    int named;

    if (d->cert_file != NULL || key_file == NULL)
        return TK_DOCTOR_OK;
    slash = strrchr(key_file, '/'); /* a key reference file is always given with one */
    if (slash == NULL
        || snprintf(props, sizeof(props), "%.*s/client.properties", (int)(slash - key_file),
                    key_file) >= (int)sizeof(props))
        return TK_DOCTOR_OK;
    key_location = tk_cli_client_property(props, "ssl.key.location");
    /* A relative one is the client's working directory's, which doctor does not know. */
    if (key_location != NULL && key_location[0] != '/' && key_location[0] != '\0') {
        tk_doctor_report(d, "client", TK_DOCTOR_WARN, "'%s' names the key by a relative path, "
                         "'%s', which the client resolves in its own working directory: checking "
                         "the token's certificate (give --cert for the client's)", props,
                         key_location);
        OPENSSL_free(key_location);
        return TK_DOCTOR_WARN;
    }
    named = key_location != NULL && tk_cli_same_file(key_location, key_file);
    OPENSSL_free(key_location);
    if (!named)
        return TK_DOCTOR_OK; /* no client's file beside it that says it uses this key */
    d->client_cert_file = tk_cli_client_property(props, "ssl.certificate.location");
    if (d->client_cert_file == NULL || d->client_cert_file[0] == '\0')
        return tk_doctor_report(d, "client", TK_DOCTOR_WARN, "'%s' names this key reference but no "
                                "ssl.certificate.location: checking the token's certificate", props);
    d->cert_file = d->client_cert_file;
    return tk_doctor_report(d, "client", TK_DOCTOR_OK, "'%s' names this key reference: checking "
                            "the certificate the client sends, '%s' (give --cert to check another)",
                            props, d->cert_file);
}
