/* Helpers for the signature tests: see sig_test.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/provider.h>
#include <openssl/store.h>

#include "sig_test.h"
#include "load_key.h"
#include "token_keygen.h"
#include "token_pubkey.h"
#include "tokenkey/uri.h"

int sig_env_setup(SIG_ENV *e, const char *label, const char *softhsm_extra)
{
    return sig_env_setup_module(e, label, softhsm_extra, NULL);
}

int sig_env_setup_module(SIG_ENV *e, const char *label, const char *softhsm_extra,
                         const char *module)
{
    TK_URI *uri = NULL;
    char text[256];
    size_t count = 0;
    CK_RV rv;

    memset(e, 0, sizeof(*e));
    if (tk_fixture_setup(&e->fx, label) != 0)
        return -1;
    if (softhsm_extra != NULL) {
        FILE *f = fopen(e->fx.softhsm_conf, "a");

        if (f == NULL || fprintf(f, "%s\n", softhsm_extra) < 0 || fclose(f) != 0) {
            fprintf(stderr, "test: cannot extend %s\n", e->fx.softhsm_conf);
            goto fail;
        }
    }
    if (module == NULL)
        module = tk_fixture_module(&e->fx);
    rv = tk_p11_module_open(module, NULL, &e->m);
    if (rv != CKR_OK) {
        fprintf(stderr, "test: module: %s\n", tk_p11_rv_name(rv));
        goto fail;
    }
    snprintf(text, sizeof(text), "pkcs11:serial=%s", tk_fixture_serial(&e->fx));
    if (tk_uri_parse(text, &uri, NULL) != TK_URI_OK)
        goto fail;
    rv = tk_p11_token_find(e->m, uri, &e->t, 1, &count);
    tk_uri_free(uri);
    if (rv != CKR_OK || count != 1) {
        fprintf(stderr, "test: token %s: %s\n", text, tk_p11_rv_name(rv));
        goto fail;
    }
    e->pin = tk_fixture_user_pin(&e->fx);

    /* The provider's configuration when there is no openssl.cnf section. */
    setenv("TOKENKEY_MODULE", module, 1);
    setenv("TOKENKEY_PIN_FILE", tk_fixture_pin_file(&e->fx), 1);
    e->libctx = OSSL_LIB_CTX_new();
    if (e->libctx == NULL
        || !OSSL_PROVIDER_add_builtin(e->libctx, "tokenkey", OSSL_provider_init)
        || (e->deflt = OSSL_PROVIDER_load(e->libctx, "default")) == NULL
        || (e->tk = OSSL_PROVIDER_load(e->libctx, "tokenkey")) == NULL) {
        fprintf(stderr, "test: cannot load the providers\n");
        ERR_print_errors_fp(stderr);
        goto fail;
    }
    return 0;
fail:
    sig_env_teardown(e);
    return -1;
}

void sig_env_teardown(SIG_ENV *e)
{
    OSSL_PROVIDER_unload(e->tk);
    OSSL_PROVIDER_unload(e->deflt);
    OSSL_LIB_CTX_free(e->libctx);
    if (e->m != NULL)
        tk_p11_module_close(e->m);
    tk_fixture_teardown(&e->fx);
    memset(e, 0, sizeof(*e));
}

int sig_module_at_most(SIG_ENV *e, int major, int minor)
{
    CK_INFO info;

    assert_int_equal(tk_p11_module_info(e->m, &info), CKR_OK);
    return info.libraryVersion.major < major
           || (info.libraryVersion.major == major && info.libraryVersion.minor <= minor);
}

void sig_key_uri(const SIG_ENV *e, const char *label, char *buf, size_t cap)
{
    snprintf(buf, cap, "pkcs11:serial=%s;object=%s;type=private", tk_fixture_serial(&e->fx), label);
}

/* A key pair with CKA_ID and CKA_LABEL both label, and its public half as a software key. */
static CK_RV generate(SIG_ENV *e, SIG_KIND kind, unsigned flags, const CK_MECHANISM_TYPE *allowed,
                      size_t n_allowed, const char *label, EVP_PKEY **pub)
{
    CK_OBJECT_HANDLE hpub, hpriv;
    TK_P11_SESSION s;
    CK_RV rv = tk_p11_login(e->t, &e->pin);

    if (rv != CKR_OK || (rv = tk_p11_session_get(e->t, &s)) != CKR_OK)
        return rv;
    rv = tk_test_keygen_limited(&s, (TK_TEST_KEY_KIND)kind, flags, allowed, n_allowed, label,
                                (const unsigned char *)label, strlen(label), &hpub, &hpriv);
    if (rv == CKR_OK && (*pub = tk_test_token_public_key(&s, hpub)) == NULL)
        rv = CKR_GENERAL_ERROR;
    tk_p11_session_put(&s, rv);
    return rv;
}

static EVP_PKEY *load_private(SIG_ENV *e, const char *label)
{
    char uri[512];

    sig_key_uri(e, label, uri, sizeof(uri));
    return tk_test_load_private(e->libctx, uri);
}

int sig_key_make(SIG_ENV *e, SIG_KIND kind, const char *label, SIG_KEY *out)
{
    return sig_key_make_flags(e, kind, 0, label, out);
}

int sig_key_make_flags(SIG_ENV *e, SIG_KIND kind, unsigned flags, const char *label, SIG_KEY *out)
{
    return sig_key_make_limited(e, kind, flags, NULL, 0, label, out);
}

int sig_key_make_limited(SIG_ENV *e, SIG_KIND kind, unsigned flags,
                         const CK_MECHANISM_TYPE *allowed, size_t n_allowed, const char *label,
                         SIG_KEY *out)
{
    CK_RV rv;
    const OSSL_PROVIDER *prov;

    memset(out, 0, sizeof(*out));
    out->kind = kind;
    rv = generate(e, kind, flags, allowed, n_allowed, label, &out->pub);
    if (rv != CKR_OK) {
        fprintf(stderr, "test: generating %s: %s\n", label, tk_p11_rv_name(rv));
        ERR_print_errors_fp(stderr);
        return -1;
    }
    out->token = load_private(e, label);
    prov = out->token != NULL ? EVP_PKEY_get0_provider(out->token) : NULL;
    if (prov == NULL || strcmp(OSSL_PROVIDER_get0_name(prov), "tokenkey") != 0) {
        fprintf(stderr, "test: loading %s through OSSL_STORE failed\n", label);
        ERR_print_errors_fp(stderr);
        sig_key_free(out);
        return -1;
    }
    ERR_clear_error();
    return 0;
}

void sig_key_free(SIG_KEY *k)
{
    EVP_PKEY_free(k->token);
    EVP_PKEY_free(k->pub);
    memset(k, 0, sizeof(*k));
}

void sig_stats_take(SIG_STATS *s)
{
    for (int i = 0; i < TK_FN_COUNT; i++)
        s->n[i] = tk_p11_stat((TK_P11_FN)i);
}

unsigned long sig_stats_delta(const SIG_STATS *before, TK_P11_FN fn)
{
    return tk_p11_stat(fn) - before->n[fn];
}

void sig_assert_no_token_calls(const SIG_STATS *before)
{
    for (int fn = 0; fn < TK_FN_COUNT; fn++)
        if (sig_stats_delta(before, (TK_P11_FN)fn) != 0)
            fail_msg("%s: %lu calls, want none", tk_p11_fn_name((TK_P11_FN)fn),
                     sig_stats_delta(before, (TK_P11_FN)fn));
}

unsigned char *sig_sign_message(SIG_ENV *e, EVP_PKEY *key, const char *md, const OSSL_PARAM *params,
                                const unsigned char *msg, size_t msglen, int oneshot,
                                size_t *siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    unsigned char *sig;
    size_t len = 0, max;
    SIG_STATS before;

    assert_non_null(mctx);
    assert_int_equal(EVP_DigestSignInit_ex(mctx, NULL, md, e->libctx, NULL, key, params), 1);
    sig_stats_take(&before);
    if (oneshot) {
        assert_int_equal(EVP_DigestSign(mctx, NULL, &len, msg, msglen), 1);
        max = len;
        sig = OPENSSL_malloc(len);
        assert_non_null(sig);
        assert_int_equal(EVP_DigestSign(mctx, sig, &len, msg, msglen), 1);
    } else {
        /* Three pieces: the token must still see one operation. */
        size_t a = msglen / 3, b = msglen / 2;

        assert_int_equal(EVP_DigestSignUpdate(mctx, msg, a), 1);
        assert_int_equal(EVP_DigestSignUpdate(mctx, msg + a, b - a), 1);
        assert_int_equal(EVP_DigestSignUpdate(mctx, msg + b, msglen - b), 1);
        assert_int_equal(EVP_DigestSignFinal(mctx, NULL, &len), 1);
        max = len;
        sig = OPENSSL_malloc(len);
        assert_non_null(sig);
        assert_int_equal(EVP_DigestSignFinal(mctx, sig, &len), 1);
    }
    assert_true(len > 0 && len <= max);
    if (ERR_peek_error() != 0) {
        char *text = sig_errors_text();

        fail_msg("a signature that worked left errors: %s", text);
    }
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_SignInit), 1);
    EVP_MD_CTX_free(mctx);
    *siglen = len;
    return sig;
}

unsigned char *sig_sign_digest(SIG_ENV *e, EVP_PKEY *key, const char *md, const OSSL_PARAM *params,
                               const unsigned char *dgst, size_t dlen, size_t *siglen)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(e->libctx, key, NULL);
    OSSL_PARAM mdp[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    unsigned char *sig;
    size_t len = 0;
    SIG_STATS before;

    assert_non_null(pctx);
    assert_int_equal(EVP_PKEY_sign_init(pctx), 1);
    if (md != NULL) {
        mdp[0] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, (char *)md, 0);
        assert_int_equal(EVP_PKEY_CTX_set_params(pctx, mdp), 1);
    }
    if (params != NULL)
        assert_int_equal(EVP_PKEY_CTX_set_params(pctx, params), 1);
    sig_stats_take(&before);
    assert_int_equal(EVP_PKEY_sign(pctx, NULL, &len, dgst, dlen), 1);
    sig = OPENSSL_malloc(len);
    assert_non_null(sig);
    assert_int_equal(EVP_PKEY_sign(pctx, sig, &len, dgst, dlen), 1);
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 1);
    EVP_PKEY_CTX_free(pctx);
    *siglen = len;
    return sig;
}

int sig_verify_message(EVP_PKEY *pub, const char *md, const OSSL_PARAM *params,
                       const unsigned char *sig, size_t siglen,
                       const unsigned char *msg, size_t msglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok = mctx != NULL
             && EVP_DigestVerifyInit_ex(mctx, NULL, md, NULL, "provider=default", pub, params) == 1
             && EVP_DigestVerify(mctx, sig, siglen, msg, msglen) == 1;

    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return ok;
}

int sig_verify_digest(EVP_PKEY *pub, const char *md, const OSSL_PARAM *params,
                      const unsigned char *sig, size_t siglen,
                      const unsigned char *dgst, size_t dlen)
{
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pub, "provider=default");
    OSSL_PARAM mdp[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_END
    };
    int ok = pctx != NULL && EVP_PKEY_verify_init(pctx) == 1
             && (md == NULL || EVP_PKEY_CTX_set_params(pctx, mdp) == 1)
             && (params == NULL || EVP_PKEY_CTX_set_params(pctx, params) == 1)
             && EVP_PKEY_verify(pctx, sig, siglen, dgst, dlen) == 1;

    EVP_PKEY_CTX_free(pctx);
    ERR_clear_error();
    return ok;
}

size_t sig_digest(const char *md, const unsigned char *msg, size_t msglen, unsigned char *out)
{
    unsigned int len = 0;
    EVP_MD *m = EVP_MD_fetch(NULL, md, "provider=default");

    assert_non_null(m);
    assert_int_equal(EVP_Digest(msg, msglen, out, &len, m, NULL), 1);
    EVP_MD_free(m);
    return len;
}

char *sig_errors_text(void)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL, *text;
    long len;

    ERR_print_errors(b);
    len = BIO_get_mem_data(b, &data);
    text = malloc((size_t)len + 1);
    if (text != NULL) {
        memcpy(text, data, (size_t)len);
        text[len] = '\0';
    }
    BIO_free(b);
    return text;
}
