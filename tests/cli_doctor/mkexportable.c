/*
 * tk-doctor-mkexportable LABEL IDHEX [locked]: an EC P-256 key pair on the
 * fixture token whose private key is CKA_EXTRACTABLE=TRUE and
 * CKA_SENSITIVE=FALSE - the kind of key `tokenkey inspect` must report as
 * EXPORT POSSIBLE. Made through tokenkey's PKCS#11 layer (tokenkey's own
 * keygen never makes one). "locked": then made sensitive and not
 * extractable (C_SetAttributeValue), as after a backup was taken: no
 * export path is left, but CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE
 * stay FALSE, and inspect must say its value existed off the token.
 *
 * The token comes from TOKENKEY_TEST_MODULE / TOKENKEY_TEST_SERIAL, the
 * PIN from the file TOKENKEY_TEST_PIN_FILE names (never from argv).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "fixture.h"
#include "objects_test.h"
#include "p11/p11_internal.h"

int main(int argc, char **argv)
{
    /* ECParameters: namedCurve prime256v1 (RFC 5480 section 2.1.1.1) */
    static const unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    const char *module = getenv("TOKENKEY_TEST_MODULE"), *serial = getenv("TOKENKEY_TEST_SERIAL");
    const char *pin_file = getenv("TOKENKEY_TEST_PIN_FILE");
    TK_P11_PIN_GETTER pin = { tk_fixture_pin_from_file, (void *)pin_file };
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_MECHANISM mech = { CKM_EC_KEY_PAIR_GEN, NULL, 0 };
    CK_OBJECT_HANDLE hpub, hpriv;
    TK_P11_MODULE *m = NULL;
    TK_P11_SESSION s = { 0 };
    TK_P11_TOKEN *t;
    unsigned char *id;
    long idlen = 0;
    CK_RV rv;

    if (argc != 3 && !(argc == 4 && strcmp(argv[3], "locked") == 0)) {
        fprintf(stderr, "usage: tk-doctor-mkexportable LABEL IDHEX [locked]\n");
        return 2;
    }
    if (module == NULL || serial == NULL || pin_file == NULL) {
        fprintf(stderr, "tk-doctor-mkexportable: TOKENKEY_TEST_MODULE, _SERIAL and _PIN_FILE must be set\n");
        return 1;
    }
    id = OPENSSL_hexstr2buf(argv[2], &idlen);
    if (id == NULL || (t = tkst_token(module, serial, &m)) == NULL)
        return 1;
    {
        CK_ATTRIBUTE pub[] = {
            { CKA_TOKEN, &yes, sizeof(yes) },
            { CKA_VERIFY, &yes, sizeof(yes) },
            { CKA_LABEL, argv[1], strlen(argv[1]) },
            { CKA_ID, id, (CK_ULONG)idlen },
            { CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
        };
        CK_ATTRIBUTE priv[] = {
            { CKA_TOKEN, &yes, sizeof(yes) },
            { CKA_PRIVATE, &yes, sizeof(yes) },
            { CKA_SENSITIVE, &no, sizeof(no) },     /* the value can be read... */
            { CKA_EXTRACTABLE, &yes, sizeof(yes) }, /* ...and wrapped out */
            { CKA_SIGN, &yes, sizeof(yes) },
            { CKA_LABEL, argv[1], strlen(argv[1]) },
            { CKA_ID, id, (CK_ULONG)idlen },
        };

        rv = tk_p11_login(t, &pin);
        if (rv == CKR_OK)
            rv = tk_p11_session_get(t, &s);
        if (rv == CKR_OK)
            rv = tk_p11_generate_key_pair(&s, &mech, pub, sizeof(pub) / sizeof(pub[0]), priv,
                                          sizeof(priv) / sizeof(priv[0]), &hpub, &hpriv);
        if (rv == CKR_OK && argc == 4) {
            CK_ATTRIBUTE lock[] = {
                { CKA_SENSITIVE, &yes, sizeof(yes) },
                { CKA_EXTRACTABLE, &no, sizeof(no) },
            };

            rv = t->module->fl->C_SetAttributeValue(s.handle, hpriv, lock, 2);
        }
    }
    tk_p11_session_put(&s, rv);
    OPENSSL_free(id);
    tk_p11_module_close(m);
    if (rv != CKR_OK) {
        fprintf(stderr, "tk-doctor-mkexportable: %s\n", tk_p11_rv_name(rv));
        return 1;
    }
    return 0;
}
