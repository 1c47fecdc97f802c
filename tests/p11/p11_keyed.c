/*
 * For the tests that go from the layer up to a key the provider loads,
 * over a module that shows what SoftHSM2 does not (tk-tokenshim): the
 * token, its key pair and the provider, made the same way every time.
 */
#include <stdio.h>

#include "load_key.h"
#include "p11_keyed.h"

int tk_p11_test_setup_keyed(TK_P11_TEST *e, TK_P11_TEST_PROVIDER *p, const char *token_label,
                            const char *module_path, TK_TEST_KEY_KIND kind, const char *label,
                            const unsigned char *id, size_t id_len)
{
    CK_OBJECT_HANDLE pub, priv;
    TK_P11_SESSION s;
    CK_RV rv;

    if (tk_p11_test_setup(e, token_label, module_path) != 0)
        return -1;
    if ((rv = tk_p11_login(e->t, &e->pin)) != CKR_OK || (rv = tk_p11_session_get(e->t, &s)) != CKR_OK) {
        fprintf(stderr, "test setup: no logged-in session: %s\n", tk_p11_rv_name(rv));
        return -1;
    }
    rv = tk_test_keygen(&s, kind, label, id, id_len, &pub, &priv);
    tk_p11_session_put(&s, rv);
    if (rv != CKR_OK) {
        fprintf(stderr, "test setup: key pair '%s' not made: %s\n", label, tk_p11_rv_name(rv));
        return -1;
    }
    return tk_p11_test_provider_load(p, e, module_path);
}

EVP_PKEY *tk_p11_test_load_labelled(const TK_P11_TEST *e, const TK_P11_TEST_PROVIDER *p,
                                    const char *label)
{
    char uri[256];

    snprintf(uri, sizeof(uri), "pkcs11:serial=%s;object=%s;type=private",
             tk_fixture_serial(&e->fx), label);
    return tk_test_load_private(p->libctx, uri);
}
