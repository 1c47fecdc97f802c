/*
 * The pkcs11: OSSL_STORE loader, in-process against a fresh SoftHSM2 token:
 * listing a token, type= and OSSL_STORE_expect() filters, a search by
 * subject, certificates without a PIN (no login at all), exactly one
 * private key or an error that lists them, and malformed URIs.
 */
#include "store_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/store.h>
#include <openssl/x509.h>

static ST_ENV env;
static X509 *cert_a;

static int group_setup(void **state)
{
    EVP_PKEY *ca_key = NULL, *pub;
    X509 *ca = NULL;
    unsigned char *der = NULL;
    int len;
    CK_RV rv;

    if (st_setup(&env, "tokenkey-loader") != 0)
        return -1;
    if (tkst_keygen(env.t, &env.pin, "rsa", "ld-a", "01") != CKR_OK
        || tkst_keygen(env.t, &env.pin, "ec", "ld-b", "02") != CKR_OK)
        return -1;
    /* A certificate for ld-a, stored next to it (same CKA_ID and label). */
    ca_key = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256");
    pub = tkst_public_key(env.t, "ld-a");
    if (ca_key == NULL || pub == NULL)
        return -1;
    ca = st_cert(ca_key, "tokenkey loader CA", ca_key, NULL);
    cert_a = st_cert(pub, "loader client a", ca_key, ca);
    len = i2d_X509(cert_a, &der);
    rv = len > 0 ? tkst_import_cert(env.t, &env.pin, der, (size_t)len, "ld-a", "01")
                 : CKR_GENERAL_ERROR;
    OPENSSL_free(der);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ca_key);
    X509_free(ca);
    return rv == CKR_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
    X509_free(cert_a);
    st_teardown(&env);
    return 0;
}

static int clear_errors(void **state)
{
    ERR_clear_error();
    return 0;
}

typedef struct {
    int pkeys, pubkeys, certs, other, failed_loads;
    X509 *cert;       /* the last certificate */
    EVP_PKEY *pkey;   /* the last private key */
    EVP_PKEY *pubkey; /* the last public key */
} LOADED;

static void loaded_free(LOADED *l)
{
    X509_free(l->cert);
    EVP_PKEY_free(l->pkey);
    EVP_PKEY_free(l->pubkey);
}

/*
 * Open uri in libctx (expect: 0 or an OSSL_STORE_INFO_*), load until eof,
 * count what came. Returns 1 when opened; errors stay queued.
 */
static int load_all(OSSL_LIB_CTX *libctx, const char *uri, int expect, X509_NAME *subject,
                    LOADED *l)
{
    OSSL_STORE_CTX *ctx = OSSL_STORE_open_ex(uri, libctx, NULL, NULL, NULL, NULL, NULL, NULL);
    int guard = 0;

    memset(l, 0, sizeof(*l));
    if (ctx == NULL)
        return 0;
    if (expect != 0)
        assert_int_equal(OSSL_STORE_expect(ctx, expect), 1);
    if (subject != NULL) {
        OSSL_STORE_SEARCH *search = OSSL_STORE_SEARCH_by_name(subject);

        assert_int_equal(OSSL_STORE_supports_search(ctx, OSSL_STORE_SEARCH_BY_NAME), 1);
        assert_int_equal(OSSL_STORE_find(ctx, search), 1);
        OSSL_STORE_SEARCH_free(search);
    }
    /* apps/lib/apps.c loops until eof, even after an error: so must we end. */
    while (!OSSL_STORE_eof(ctx)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(ctx);

        assert_true(++guard < 100);
        if (info == NULL) {
            l->failed_loads++;
            continue;
        }
        switch (OSSL_STORE_INFO_get_type(info)) {
        case OSSL_STORE_INFO_PKEY:
            l->pkeys++;
            EVP_PKEY_free(l->pkey);
            l->pkey = OSSL_STORE_INFO_get1_PKEY(info);
            break;
        case OSSL_STORE_INFO_PUBKEY:
            l->pubkeys++;
            EVP_PKEY_free(l->pubkey);
            l->pubkey = OSSL_STORE_INFO_get1_PUBKEY(info);
            break;
        case OSSL_STORE_INFO_CERT:
            l->certs++;
            X509_free(l->cert);
            l->cert = OSSL_STORE_INFO_get1_CERT(info);
            break;
        default:
            l->other++;
            break;
        }
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(ctx);
    return 1;
}

static char *token_uri(const char *rest)
{
    char *uri = NULL;

    assert_true(asprintf(&uri, "pkcs11:serial=%s%s", tk_fixture_serial(&env.fx), rest) > 0);
    return uri;
}

/*
 * A listing that can return private keys returns one at most: with two on
 * the token, an application that takes the first private key a URI gives
 * must get an error naming both, not one of them.
 */
static void test_list_token(void **state)
{
    char *uri = token_uri(""), *one = token_uri(";object=ld-a");
    LOADED l;
    char *errors;

    assert_int_equal(load_all(env.libctx, uri, 0, NULL, &l), 1);
    errors = st_errors();
    assert_int_equal(l.pkeys, 0);
    assert_true(l.failed_loads > 0);
    assert_non_null(strstr(errors, "matches 2 private keys"));
    assert_non_null(strstr(errors, "object=ld-a;type=private"));
    assert_non_null(strstr(errors, "object=ld-b;type=private"));
    loaded_free(&l);
    free(errors);
    /* One key pair: its private key, public key and certificate. */
    assert_int_equal(load_all(env.libctx, one, 0, NULL, &l), 1);
    errors = st_errors();
    if (l.failed_loads != 0)
        fail_msg("loads failed:\n%s", errors);
    assert_int_equal(l.pkeys, 1);
    assert_int_equal(l.pubkeys, 1);
    assert_int_equal(l.certs, 1);
    assert_int_equal(l.other, 0);
    assert_int_equal(X509_cmp(l.cert, cert_a), 0);
    loaded_free(&l);
    free(errors);
    free(one);
    free(uri);
}

static void test_expect_filters(void **state)
{
    char *uri = token_uri("");
    LOADED l;

    assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_CERT, NULL, &l), 1);
    assert_int_equal(l.certs, 1);
    assert_int_equal(l.pkeys + l.pubkeys + l.failed_loads, 0);
    loaded_free(&l);
    assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_PUBKEY, NULL, &l), 1);
    assert_int_equal(l.pubkeys, 2);
    assert_int_equal(l.pkeys + l.certs + l.failed_loads, 0);
    loaded_free(&l);
    free(uri);
    /* type=public: the public key objects only */
    uri = token_uri(";type=public");
    assert_int_equal(load_all(env.libctx, uri, 0, NULL, &l), 1);
    assert_int_equal(l.pubkeys, 2);
    assert_int_equal(l.pkeys + l.certs + l.failed_loads, 0);
    loaded_free(&l);
    free(uri);
}

static void test_one_private_key(void **state)
{
    char *uri = token_uri(";object=ld-b;type=private");
    LOADED l;

    assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_PKEY, NULL, &l), 1);
    assert_int_equal(l.pkeys, 1);
    assert_int_equal(l.failed_loads, 0);
    assert_true(EVP_PKEY_is_a(l.pkey, "EC"));
    loaded_free(&l);
    free(uri);
}

/*
 * The configured module by another path (a symlink, as multiarch paths
 * are): one library, one module. The provider remembers the module by
 * the path it was asked for, so a URI naming the other path keeps working
 * load after load (it once failed at the ninth: "more than 8 PKCS#11
 * modules in use").
 */
static void test_module_by_another_path(void **state)
{
    char *alias = st_path(&env, "module-alias.so"), *rest = NULL, *uri;

    assert_int_equal(symlink(tk_fixture_module(&env.fx), alias), 0);
    assert_true(asprintf(&rest, ";object=ld-b;type=private?module-path=%s", alias) > 0);
    uri = token_uri(rest);
    for (int i = 0; i < 12; i++) {
        LOADED l;

        if (load_all(env.libctx, uri, OSSL_STORE_INFO_PKEY, NULL, &l) != 1 || l.pkeys != 1) {
            ERR_print_errors_fp(stderr);
            fail_msg("load %d through %s failed", i + 1, alias);
        }
        loaded_free(&l);
    }
    free(uri);
    free(rest);
    free(alias);
}

/*
 * A key's own object is read in one batch (two C_GetAttributeValue:
 * lengths, then values), not attribute by attribute: tokens like SoftHSM2
 * pay for every call. RSA keys carry their public half on the private
 * object; an EC private key's CKA_EC_POINT is on its public key object.
 */
static void test_key_read_in_one_batch(void **state)
{
    static const struct {
        const char *rest, *type;
        unsigned long attr_calls;
    } keys[] = {
        { ";object=ld-a;type=private", "RSA", 2 },
        { ";object=ld-b;type=private", "EC", 2 + 2 },
    };

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        char *uri = token_uri(keys[i].rest);
        unsigned long before = tk_p11_stat(TK_FN_C_GetAttributeValue);
        LOADED l;

        assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_PKEY, NULL, &l), 1);
        assert_int_equal(l.pkeys, 1);
        assert_true(EVP_PKEY_is_a(l.pkey, keys[i].type));
        assert_int_equal(tk_p11_stat(TK_FN_C_GetAttributeValue) - before, keys[i].attr_calls);
        loaded_free(&l);
        free(uri);
    }
}

/*
 * An EC private key carries no CKA_EC_POINT, and here its public key
 * object is gone too: the public half comes from the certificate stored
 * with the same CKA_ID. A damaged certificate with that CKA_ID too is only
 * not the key's: the key loads, and its decoding errors are not left on
 * the error queue. The objects are made and removed here, so the listings
 * of the other tests do not see them.
 */
static void test_public_half_from_certificate(void **state)
{
    char *uri = token_uri(";object=ld-c;type=private");
    EVP_PKEY *ca_key = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256"), *pub;
    X509 *cert;
    unsigned char *der = NULL;
    int len;
    LOADED l;

    assert_non_null(ca_key);
    assert_int_equal(tkst_keygen(env.t, &env.pin, "ec", "ld-c", "03"), CKR_OK);
    assert_non_null(pub = tkst_public_key(env.t, "ld-c"));
    assert_non_null(cert = st_cert(pub, "loader client c", ca_key, NULL));
    assert_true((len = i2d_X509(cert, &der)) > 0);
    assert_int_equal(tkst_import_cert(env.t, &env.pin, der, (size_t)len, "ld-c", "03"), CKR_OK);
    assert_int_equal(tkst_import_cert_cut(env.t, &env.pin, der, (size_t)len, "ld-c-cut", "03"),
                     CKR_OK);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_PUBLIC_KEY, "ld-c"), CKR_OK);

    assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_PKEY, NULL, &l), 1);
    if (l.failed_loads != 0 || l.pkeys != 1) {
        char *errors = st_errors();

        fail_msg("%d keys, %d failed loads:\n%s", l.pkeys, l.failed_loads, errors);
    }
    if (ERR_peek_error() != 0)
        fail_msg("the key loaded, with errors left queued:\n%s", st_errors());
    assert_int_equal(EVP_PKEY_eq(l.pkey, X509_get0_pubkey(cert)), 1);
    assert_int_equal(EVP_PKEY_eq(l.pkey, pub), 1);
    loaded_free(&l);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_CERTIFICATE, "ld-c-cut"), CKR_OK);

    /*
     * Asked for a public key (openssl pkey -pubin), with no public key
     * object left: the certificate's public key, not nothing.
     */
    free(uri);
    uri = token_uri(";object=ld-c");
    assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_PUBKEY, NULL, &l), 1);
    if (l.pubkeys != 1 || l.pkeys + l.certs + l.failed_loads != 0) {
        char *errors = st_errors();

        fail_msg("%d public keys, %d keys, %d certificates, %d failed loads:\n%s", l.pubkeys,
                 l.pkeys, l.certs, l.failed_loads, errors);
    }
    assert_int_equal(EVP_PKEY_eq(l.pubkey, pub), 1);
    loaded_free(&l);
    free(uri);
    uri = token_uri(";object=ld-c;type=private");

    /* Without the certificate there is no public half left, and the error says what to do. */
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_CERTIFICATE, "ld-c"), CKR_OK);
    assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_PKEY, NULL, &l), 1);
    assert_int_equal(l.pkeys, 0);
    {
        char *errors = st_errors();

        st_assert_contains(errors, "has no public half on the token");
        free(errors);
    }
    loaded_free(&l);
    /* A listing whose one object is that key: an error, not an empty success. */
    free(uri);
    uri = token_uri(";object=ld-c");
    assert_int_equal(load_all(env.libctx, uri, 0, NULL, &l), 1);
    assert_int_equal(l.pkeys + l.pubkeys + l.certs + l.other, 0);
    {
        char *errors = st_errors();

        st_assert_contains(errors, "nothing tokenkey can use matches");
        free(errors);
    }
    loaded_free(&l);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_PRIVATE_KEY, "ld-c"), CKR_OK);
    OPENSSL_free(der);
    X509_free(cert);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ca_key);
    free(uri);
}

/* A key known only by its public key object verifies, but never signs or decrypts. */
static void test_public_key_cannot_sign(void **state)
{
    char *uri = token_uri(";object=ld-a;type=public");
    OSSL_STORE_CTX *sc = OSSL_STORE_open_ex(uri, env.libctx, NULL, NULL, NULL, NULL, NULL, NULL);
    OSSL_STORE_INFO *info;
    EVP_PKEY *pub;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx;
    char *errors;

    assert_non_null(sc);
    assert_int_equal(OSSL_STORE_expect(sc, OSSL_STORE_INFO_PUBKEY), 1);
    assert_non_null(info = OSSL_STORE_load(sc));
    assert_non_null(pub = OSSL_STORE_INFO_get1_PUBKEY(info));
    OSSL_STORE_INFO_free(info);
    OSSL_STORE_close(sc);

    assert_true(EVP_DigestSignInit_ex(md, NULL, "SHA256", env.libctx, NULL, pub, NULL) <= 0);
    errors = st_errors();
    st_assert_contains(errors, "only the public half of this key is known, so it cannot sign");
    /* The reason says what to do, not that nothing was found (the key was). */
    st_assert_contains(errors, "load it with type=private in the URI");
    if (strstr(errors, "no object on the token matches") != NULL)
        fail_msg("a public key's refusal reads as 'not found': %s", errors);
    free(errors);

    /* tokenkey's own RSA decryption (by property: a public key may go to another provider's). */
    assert_non_null(pctx = EVP_PKEY_CTX_new_from_pkey(env.libctx, pub, "provider=tokenkey"));
    assert_true(EVP_PKEY_decrypt_init(pctx) <= 0);
    errors = st_errors();
    st_assert_contains(errors, "so it cannot decrypt");
    free(errors);

    /* What it can do: be the public half the token key's certificate carries. */
    assert_int_equal(EVP_PKEY_eq(pub, X509_get0_pubkey(cert_a)), 1);
    EVP_PKEY_CTX_free(pctx);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    free(uri);
}

/* Only private keys wanted and two match: an error listing both, never a pick. */
static void test_two_private_keys(void **state)
{
    char *uri = token_uri(";type=private");
    LOADED l;
    char *errors;

    assert_int_equal(load_all(env.libctx, uri, 0, NULL, &l), 1);
    errors = st_errors();
    assert_int_equal(l.pkeys, 0);
    assert_int_equal(l.failed_loads, 1);
    st_assert_contains(errors, "the URI matches more than one key");
    st_assert_contains(errors, "matches 2 private keys");
    st_assert_contains(errors, "object=ld-a;type=private;id=%01");
    st_assert_contains(errors, "object=ld-b;type=private;id=%02");
    free(errors);
    loaded_free(&l);
    free(uri);
    /* The same with no type= but the caller expecting a private key (-key, -inkey). */
    uri = token_uri("");
    assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_PKEY, NULL, &l), 1);
    errors = st_errors();
    assert_int_equal(l.pkeys, 0);
    st_assert_contains(errors, "matches 2 private keys");
    free(errors);
    loaded_free(&l);
    free(uri);
}

static void test_no_private_key(void **state)
{
    char *uri = token_uri(";object=nothing;type=private");
    LOADED l;
    char *errors, want[160];

    assert_int_equal(load_all(env.libctx, uri, 0, NULL, &l), 1);
    errors = st_errors();
    assert_int_equal(l.pkeys, 0);
    assert_int_equal(l.failed_loads, 1);
    snprintf(want, sizeof(want), "no private key matches %s", uri);
    st_assert_contains(errors, want);
    free(errors);
    loaded_free(&l);
    free(uri);
}

/* type=cert reads a public object: no PIN is asked for, no C_Login is made. */
static void test_cert_without_pin(void **state)
{
    OSSL_LIB_CTX *nopin = st_libctx(&env, 0);
    char *uri = token_uri(";object=ld-a;type=cert");
    unsigned long logins;
    LOADED l;
    char *errors;

    /* Log the token out (all sessions closed) so a login would show. */
    tk_p11_token_reset(env.t);
    assert_int_equal(tk_p11_token_logged_in(env.t), 0);
    logins = tk_p11_stat(TK_FN_C_Login);
    assert_int_equal(load_all(nopin, uri, 0, NULL, &l), 1);
    errors = st_errors();
    if (l.certs != 1)
        fail_msg("no certificate:\n%s", errors);
    assert_int_equal(l.failed_loads, 0);
    assert_int_equal(X509_cmp(l.cert, cert_a), 0);
    assert_int_equal(tk_p11_stat(TK_FN_C_Login), logins);
    loaded_free(&l);
    free(errors);
    free(uri);

    /* The same provider does need a PIN for a private key, and says so. */
    uri = token_uri(";object=ld-a;type=private");
    assert_int_equal(load_all(nopin, uri, 0, NULL, &l), 1);
    errors = st_errors();
    assert_int_equal(l.pkeys, 0);
    st_assert_contains(errors, "no PIN available");
    loaded_free(&l);
    free(errors);
    free(uri);
    st_libctx_free(nopin);
}

static void test_search_by_subject(void **state)
{
    char *uri = token_uri("");
    X509_NAME *other = X509_NAME_new();
    LOADED l;

    assert_int_equal(load_all(env.libctx, uri, 0, X509_get_subject_name(cert_a), &l), 1);
    assert_int_equal(l.certs, 1);
    assert_int_equal(l.pkeys + l.pubkeys + l.failed_loads, 0);
    loaded_free(&l);
    /*
     * No certificate with that subject: an empty result and no error, as
     * X509_LOOKUP_store needs (an error left on the queue in a handshake
     * turns SSL_get_error's want-read into a failure).
     */
    assert_non_null(other);
    assert_int_equal(X509_NAME_add_entry_by_txt(other, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"nobody", -1, -1, 0), 1);
    ERR_clear_error();
    assert_int_equal(load_all(env.libctx, uri, 0, other, &l), 1);
    assert_int_equal(l.certs + l.pkeys + l.pubkeys + l.other, 0);
    if (ERR_peek_error() != 0) {
        char *errors = st_errors();

        fail_msg("a search by a subject no certificate has left errors:\n%s", errors);
    }
    loaded_free(&l);
    X509_NAME_free(other);
    ERR_clear_error();
    /* Asked for what a token never holds (storeutl -crls): nothing, and no error. */
    assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_CRL, NULL, &l), 1);
    assert_int_equal(l.certs + l.pkeys + l.pubkeys + l.other, 0);
    if (ERR_peek_error() != 0) {
        char *errors = st_errors();

        fail_msg("an empty -crls listing left errors:\n%s", errors);
    }
    loaded_free(&l);
    free(uri);
}

/* A token object made from tmpl, logged in. */
static CK_OBJECT_HANDLE put_object(CK_ATTRIBUTE *tmpl, CK_ULONG n)
{
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    TK_P11_SESSION s;

    assert_int_equal(tk_p11_login(env.t, &env.pin), CKR_OK);
    assert_int_equal(tk_p11_session_get(env.t, &s), CKR_OK);
    assert_int_equal(tk_p11_create(&s, tmpl, n, &h), CKR_OK);
    tk_p11_session_put(&s, CKR_OK);
    return h;
}

/*
 * A certificate object whose CKA_SUBJECT holds subject_der (the real one or
 * not), and whose CKA_VALUE is x's DER, or its first half when cut.
 */
static CK_OBJECT_HANDLE put_cert_value(X509 *x, const char *label, X509_NAME *stored_subject,
                                       int cut)
{
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE ctype = CKC_X_509;
    CK_BBOOL yes = CK_TRUE;
    unsigned char *der = NULL, *subject = NULL;
    int len = i2d_X509(x, &der), sublen = i2d_X509_NAME(stored_subject, &subject);
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_CERTIFICATE_TYPE, &ctype, sizeof(ctype) },
        { CKA_TOKEN, &yes, sizeof(yes) },
        { CKA_LABEL, (void *)label, strlen(label) },
        { CKA_SUBJECT, subject, (CK_ULONG)sublen },
        { CKA_VALUE, der, (CK_ULONG)(cut ? len / 2 : len) },
    };
    CK_OBJECT_HANDLE h;

    assert_true(len > 0 && sublen > 0);
    h = put_object(tmpl, sizeof(tmpl) / sizeof(tmpl[0]));
    OPENSSL_free(der);
    OPENSSL_free(subject);
    return h;
}

static CK_OBJECT_HANDLE put_cert(X509 *x, const char *label, X509_NAME *stored_subject)
{
    return put_cert_value(x, label, stored_subject, 0);
}

/*
 * Among several certificates, a search by subject lets the token match
 * CKA_SUBJECT: only the one certificate is read. One whose CKA_SUBJECT
 * does not hold its subject's DER is still found, by comparing the names;
 * a damaged certificate among those compared leaves no error behind (as
 * X509_LOOKUP_store needs in a handshake).
 */
static void test_search_by_subject_among_many(void **state)
{
    static const char *const labels[] = { "ld-s1", "ld-s2", "ld-s3", "ld-misfiled" };
    char *uri = token_uri("");
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256");
    X509 *certs[4];
    unsigned long before;
    LOADED l;

    assert_non_null(key);
    for (int i = 0; i < 4; i++) {
        assert_non_null(certs[i] = st_cert(key, labels[i], key, NULL));
        /* The last one is stored under another certificate's subject. */
        put_cert(certs[i], labels[i], X509_get_subject_name(certs[i == 3 ? 0 : i]));
    }
    put_cert_value(certs[2], "ld-damaged", X509_get_subject_name(certs[2]), 1);

    before = tk_p11_stat(TK_FN_C_GetAttributeValue);
    assert_int_equal(load_all(env.libctx, uri, 0, X509_get_subject_name(certs[1]), &l), 1);
    assert_int_equal(l.certs, 1);
    assert_int_equal(X509_cmp(l.cert, certs[1]), 0);
    /* One certificate read: CKA_CLASS, then CKA_VALUE's length and value. */
    assert_int_equal(tk_p11_stat(TK_FN_C_GetAttributeValue) - before, 3);
    loaded_free(&l);

    ERR_clear_error();
    assert_int_equal(load_all(env.libctx, uri, 0, X509_get_subject_name(certs[3]), &l), 1);
    assert_int_equal(l.certs, 1);
    assert_int_equal(X509_cmp(l.cert, certs[3]), 0);
    if (ERR_peek_error() != 0)
        fail_msg("a search by subject left errors:\n%s", st_errors());
    loaded_free(&l);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_CERTIFICATE, "ld-damaged"), CKR_OK);

    for (int i = 0; i < 4; i++) {
        assert_int_equal(tkst_delete(env.t, &env.pin, CKO_CERTIFICATE, labels[i]), CKR_OK);
        X509_free(certs[i]);
    }
    EVP_PKEY_free(key);
    free(uri);
}

/* Load uri, which must give exactly want (a software key with the same public half). */
static void assert_loads_as(const char *uri, EVP_PKEY *want)
{
    LOADED l;

    assert_int_equal(load_all(env.libctx, uri, OSSL_STORE_INFO_PKEY, NULL, &l), 1);
    if (l.failed_loads != 0 || l.pkeys != 1) {
        char *errors = st_errors();

        fail_msg("%d keys, %d failed loads:\n%s", l.pkeys, l.failed_loads, errors);
    }
    assert_int_equal(EVP_PKEY_eq(l.pkey, want), 1);
    loaded_free(&l);
}

/*
 * A raw point can read as DER: 04, its first byte, is the OCTET STRING
 * tag, and when X starts with 3F the rest reads as its 63 bytes. A key
 * whose public point is like that (one P-256 key in 256) still loads with
 * that point from its certificate, and from a public key object that holds
 * CKA_EC_POINT raw, as some tokens do.
 */
static void test_point_that_reads_as_der(void **state)
{
    static const unsigned char p256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07 };
    char *uri = token_uri(";object=ld-d;type=private");
    EVP_PKEY *key = NULL, *ca_key = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256");
    unsigned char point[65], d[32], *der = NULL;
    size_t point_len = 0;
    BIGNUM *priv = NULL;
    CK_OBJECT_CLASS priv_cls = CKO_PRIVATE_KEY, pub_cls = CKO_PUBLIC_KEY;
    CK_KEY_TYPE ec = CKK_EC;
    CK_BBOOL yes = CK_TRUE;
    X509 *cert;
    int len;

    for (int i = 0; i < 20000 && (point_len != 65 || point[1] != 0x3f); i++) {
        EVP_PKEY_free(key);
        key = EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256");
        assert_int_equal(EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point,
                                                         sizeof(point), &point_len), 1);
    }
    assert_true(point_len == 65 && point[0] == 0x04 && point[1] == 0x3f);
    assert_int_equal(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &priv), 1);
    assert_int_equal(BN_bn2binpad(priv, d, sizeof(d)), sizeof(d));
    {
        CK_ATTRIBUTE tmpl[] = {
            { CKA_CLASS, &priv_cls, sizeof(priv_cls) },
            { CKA_KEY_TYPE, &ec, sizeof(ec) },
            { CKA_TOKEN, &yes, sizeof(yes) },
            { CKA_PRIVATE, &yes, sizeof(yes) },
            { CKA_SENSITIVE, &yes, sizeof(yes) },
            { CKA_SIGN, &yes, sizeof(yes) },
            { CKA_LABEL, (void *)"ld-d", 4 },
            { CKA_ID, (void *)"\x04", 1 },
            { CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
            { CKA_VALUE, d, sizeof(d) },
        };

        put_object(tmpl, sizeof(tmpl) / sizeof(tmpl[0]));
    }
    OPENSSL_cleanse(d, sizeof(d));

    /* From its certificate: the SubjectPublicKeyInfo holds the raw point. */
    assert_non_null(ca_key);
    assert_non_null(cert = st_cert(key, "loader client d", ca_key, NULL));
    assert_true((len = i2d_X509(cert, &der)) > 0);
    assert_int_equal(tkst_import_cert(env.t, &env.pin, der, (size_t)len, "ld-d", "04"), CKR_OK);
    assert_loads_as(uri, key);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_CERTIFICATE, "ld-d"), CKR_OK);

    /* From a public key object whose CKA_EC_POINT is the raw point. */
    {
        CK_ATTRIBUTE tmpl[] = {
            { CKA_CLASS, &pub_cls, sizeof(pub_cls) },
            { CKA_KEY_TYPE, &ec, sizeof(ec) },
            { CKA_TOKEN, &yes, sizeof(yes) },
            { CKA_LABEL, (void *)"ld-d", 4 },
            { CKA_ID, (void *)"\x04", 1 },
            { CKA_EC_PARAMS, (void *)p256, sizeof(p256) },
            { CKA_EC_POINT, point, sizeof(point) },
        };

        put_object(tmpl, sizeof(tmpl) / sizeof(tmpl[0]));
    }
    assert_loads_as(uri, key);

    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_PUBLIC_KEY, "ld-d"), CKR_OK);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_PRIVATE_KEY, "ld-d"), CKR_OK);
    OPENSSL_free(der);
    X509_free(cert);
    BN_clear_free(priv);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    free(uri);
}

static void test_malformed_uri(void **state)
{
    LOADED l;
    char *errors;

    assert_int_equal(load_all(env.libctx, "pkcs11:token=x;colour=blue", 0, NULL, &l), 0);
    errors = st_errors();
    st_assert_contains(errors, "malformed pkcs11: URI (RFC 7512)");
    st_assert_contains(errors, "unknown attribute at offset 15 (attribute 'colour')");
    free(errors);
    assert_int_equal(load_all(env.libctx, "pkcs11:id=%zz", 0, NULL, &l), 0);
    errors = st_errors();
    st_assert_contains(errors, "malformed pkcs11: URI (RFC 7512)");
    st_assert_contains(errors, "(attribute 'id')");
    free(errors);
    /*
     * A pin-value never shows in our message (OpenSSL's file: loader, tried
     * first, quotes the whole text as a path: not ours to change).
     */
    assert_int_equal(load_all(env.libctx, "pkcs11:colour=blue?pin-value=s3cret", 0, NULL, &l), 0);
    errors = st_errors();
    {
        char *ours = strstr(errors, ":tokenkey:");

        assert_non_null(ours);
        st_assert_contains(ours, "unknown attribute at offset 7 (attribute 'colour')");
        st_assert_not_contains(ours, "s3cret");
    }
    free(errors);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_list_token, clear_errors),
        cmocka_unit_test_setup(test_expect_filters, clear_errors),
        cmocka_unit_test_setup(test_one_private_key, clear_errors),
        cmocka_unit_test_setup(test_module_by_another_path, clear_errors),
        cmocka_unit_test_setup(test_key_read_in_one_batch, clear_errors),
        cmocka_unit_test_setup(test_public_half_from_certificate, clear_errors),
        cmocka_unit_test_setup(test_public_key_cannot_sign, clear_errors),
        cmocka_unit_test_setup(test_two_private_keys, clear_errors),
        cmocka_unit_test_setup(test_no_private_key, clear_errors),
        cmocka_unit_test_setup(test_search_by_subject, clear_errors),
        cmocka_unit_test_setup(test_search_by_subject_among_many, clear_errors),
        cmocka_unit_test_setup(test_point_that_reads_as_der, clear_errors),
        cmocka_unit_test_setup(test_malformed_uri, clear_errors),
        cmocka_unit_test_setup(test_cert_without_pin, clear_errors),
    };

    return cmocka_run_group_tests_name("store-loader", tests, group_setup, group_teardown);
}
