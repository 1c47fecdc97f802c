/*
 * tk-store-mkobj: test objects on the fixture token, for tests that load
 * tokenkey.so and the shell tests (see objects_test.h).
 *
 *   tk-store-mkobj keygen rsa|ec LABEL IDHEX [PUBLIC-KEY-OUT.pem]
 *   tk-store-mkobj cert LABEL IDHEX CERT.pem
 *   tk-store-mkobj cert-fixed LABEL IDHEX CERT.pem   (CKA_DESTROYABLE false)
 *   tk-store-mkobj data LABEL COUNT          (COUNT data objects, LABEL-0 ...)
 *
 * The token comes from TOKENKEY_TEST_MODULE / TOKENKEY_TEST_SERIAL, the
 * PIN from the file TOKENKEY_TEST_PIN_FILE names (never from argv).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "fixture.h"
#include "objects_test.h"

static int usage(void)
{
    fprintf(stderr, "usage: tk-store-mkobj keygen rsa|ec LABEL IDHEX [PUBLIC-KEY-OUT.pem]\n"
                    "       tk-store-mkobj cert|cert-fixed LABEL IDHEX CERT.pem\n"
                    "       tk-store-mkobj data LABEL COUNT\n");
    return 2;
}

static int write_public(TK_P11_TOKEN *t, const char *label, const char *path)
{
    EVP_PKEY *pkey = tkst_public_key(t, label);
    FILE *f = pkey != NULL ? fopen(path, "w") : NULL;
    int ok = f != NULL && PEM_write_PUBKEY(f, pkey) == 1;

    if (f != NULL && fclose(f) != 0)
        ok = 0;
    EVP_PKEY_free(pkey);
    return ok;
}

static CK_RV import_cert(TK_P11_TOKEN *t, const TK_P11_PIN_GETTER *pin, const char *label,
                         const char *idhex, const char *path, int fixed)
{
    FILE *f = fopen(path, "r");
    X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int len = x != NULL ? i2d_X509(x, &der) : -1;
    CK_RV rv = len <= 0 ? CKR_ARGUMENTS_BAD
               : fixed ? tkst_import_cert_fixed(t, pin, der, (size_t)len, label, idhex)
                       : tkst_import_cert(t, pin, der, (size_t)len, label, idhex);

    if (f != NULL)
        fclose(f);
    X509_free(x);
    OPENSSL_free(der);
    return rv;
}

int main(int argc, char **argv)
{
    const char *module = getenv("TOKENKEY_TEST_MODULE"), *serial = getenv("TOKENKEY_TEST_SERIAL");
    const char *pin_file = getenv("TOKENKEY_TEST_PIN_FILE");
    TK_P11_PIN_GETTER pin = { tk_fixture_pin_from_file, (void *)pin_file };
    TK_P11_MODULE *m = NULL;
    TK_P11_TOKEN *t;
    CK_RV rv;

    int data = argc == 4 && strcmp(argv[1], "data") == 0;

    if (!data && (argc < 5 || (strcmp(argv[1], "keygen") != 0 && strcmp(argv[1], "cert") != 0
                                 && strcmp(argv[1], "cert-fixed") != 0)))
        return usage();
    if (module == NULL || serial == NULL || pin_file == NULL) {
        fprintf(stderr, "tk-store-mkobj: TOKENKEY_TEST_MODULE, _SERIAL and _PIN_FILE must be set\n");
        return 1;
    }
    t = tkst_token(module, serial, &m);
    if (t == NULL)
        return 1;
    if (data)
        rv = tkst_make_data(t, &pin, argv[2], (unsigned)strtoul(argv[3], NULL, 10));
    else if (strcmp(argv[1], "keygen") == 0)
        rv = tkst_keygen(t, &pin, argv[2], argv[3], argv[4]);
    else
        rv = import_cert(t, &pin, argv[2], argv[3], argv[4], strcmp(argv[1], "cert-fixed") == 0);
    if (rv != CKR_OK) {
        fprintf(stderr, "tk-store-mkobj %s: %s\n", argv[1], tk_p11_rv_name(rv));
        return 1;
    }
    if (strcmp(argv[1], "keygen") == 0 && argc > 5 && !write_public(t, argv[3], argv[5])) {
        fprintf(stderr, "tk-store-mkobj: cannot write the public key to %s\n", argv[5]);
        return 1;
    }
    return 0;
}
