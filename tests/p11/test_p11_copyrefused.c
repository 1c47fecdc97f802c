/*
 * A token that lets tokenkey copy a key into a session object, then
 * refuses to sign with the copy (an HSM whose policy is bound to the stored
 * object): the signature is made with the token object, and the copy is
 * dropped for good - not refused again at every signature. tk-tokenshim
 * refuses C_SignInit on session objects.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "p11_keyed.h"
#include "tokenshim.h"

#define LABEL "copyrefused-key"
#define SIGNATURES 10

static TK_P11_TEST env;
static TK_P11_TEST_PROVIDER prov;
static tk_tokenshim_refuse_session_keys_fn *refuse_session_keys;
static tk_tokenshim_session_keys_refused_fn *session_keys_refused;

static int setup(void)
{
    static const unsigned char id[] = { 0x4c };
    const char *shim = tk_test_tokenshim();

    if (shim == NULL || tk_p11_test_setup_keyed(&env, &prov, "tokenkey-copyrefused", shim,
                                                TK_TEST_P256, LABEL, id, sizeof(id)) != 0)
        return -1;
    *(void **)&refuse_session_keys = tk_test_loaded_symbol(shim, "tk_tokenshim_refuse_session_keys");
    *(void **)&session_keys_refused = tk_test_loaded_symbol(shim,
                                                            "tk_tokenshim_session_keys_refused");
    return refuse_session_keys != NULL && session_keys_refused != NULL ? 0 : -1;
}

static void teardown(void)
{
    refuse_session_keys(CKR_OK);
    tk_p11_test_provider_unload(&prov);
    tk_p11_test_teardown(&env);
}

static void test_refused_copy_falls_back_to_the_token_object(void **state)
{
    EVP_PKEY *key = tk_p11_test_load_labelled(&env, &prov, LABEL);

    (void)state;
    assert_non_null(key);
    refuse_session_keys(CKR_KEY_FUNCTION_NOT_PERMITTED);
    for (int i = 0; i < SIGNATURES; i++) {
        ERR_clear_error();
        if (tk_p11_test_provider_sign(&prov, key) != 1) {
            ERR_print_errors_fp(stderr);
            fail_msg("signature %d failed: the token object was not tried after the copy", i + 1);
        }
    }
    /* The first signature met the refusal; the others went to the token object directly. */
    assert_int_equal(session_keys_refused(), 1);
    EVP_PKEY_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_refused_copy_falls_back_to_the_token_object),
    };

    return tk_test_run("p11-copyrefused", tests, TK_TEST_COUNT(tests), setup, teardown);
}
