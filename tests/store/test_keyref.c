/*
 * The key reference file, in-process against a fresh SoftHSM2 token:
 * reading it with PEM_read_bio_PrivateKey_ex (what SSL_CTX_use_PrivateKey_file
 * does), writing it with PEM_write_bio_PrivateKey, pkcs11-provider's files,
 * every way a file can be broken (each with the text a user sees), URIs
 * that name no key or two, normal PEM keys still loading, the text form, no
 * PKCS#8 form and the DER form by its structure name.
 */
#include "load_key.h"
#include "store_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

static ST_ENV env;

#define RSA_LABEL "ref-rsa"
#define EC_LABEL "ref-ec"
#define ED_LABEL "ref-ed25519"

static int group_setup(void **state)
{
    if (st_setup(&env, "tokenkey-keyref") != 0)
        return -1;
    if (tkst_keygen(env.t, &env.pin, "rsa", RSA_LABEL, "a1") != CKR_OK
        || tkst_keygen(env.t, &env.pin, "ec", EC_LABEL, "e1") != CKR_OK
        || tkst_keygen(env.t, &env.pin, "ed25519", ED_LABEL, "f1") != CKR_OK
        /* Two keys with one label: a URI naming only the label is ambiguous. */
        || tkst_keygen(env.t, &env.pin, "ec", "twin", "d1") != CKR_OK
        || tkst_keygen(env.t, &env.pin, "ec", "twin", "d2") != CKR_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    st_teardown(&env);
    return 0;
}

static int clear_errors(void **state)
{
    ERR_clear_error();
    return 0;
}

/* Write a key reference for label as name, return its path (free() it). */
static char *keyref_file(const char *name, const char *label, const char *desc, const char *uri,
                         size_t trailing)
{
    char *path = st_path(&env, name);
    char *pem = st_keyref_pem(label, desc, uri, trailing);

    st_write(path, pem);
    free(pem);
    return path;
}

static char *tokenkey_file(const char *name, const char *key_label)
{
    char *uri = st_uri(&env, key_label, "private");
    char *path = keyref_file(name, "TOKENKEY KEY REFERENCE", "tokenkey key reference v1", uri, 0);

    free(uri);
    return path;
}

static const char *provider_of(const EVP_PKEY *pkey)
{
    return OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey));
}

/* PEM_write_bio_PrivateKey of a token key, as text (free() it). */
static char *write_private(EVP_PKEY *pkey)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL, *copy;
    long len;

    assert_non_null(mem);
    if (PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        char *errors = st_errors();

        fail_msg("PEM_write_bio_PrivateKey failed:\n%s", errors);
    }
    len = BIO_get_mem_data(mem, &data);
    copy = strndup(data, (size_t)len);
    BIO_free(mem);
    assert_non_null(copy);
    return copy;
}

/* ---- round trip ---- */

static void round_trip(const char *label, const char *type_name, const char *idhex)
{
    char *path = tokenkey_file("rt.pem", label);
    char *again = st_path(&env, "rt2.pem");
    EVP_PKEY *key, *key2, *pub;
    char *written, *rewritten, *errors, want_id[16];

    key = st_read_key(env.libctx, path);
    errors = st_errors();
    if (key == NULL)
        fail_msg("reading %s:\n%s", path, errors);
    free(errors);
    assert_string_equal(provider_of(key), "tokenkey");
    assert_true(EVP_PKEY_is_a(key, type_name));

    /* Saving a token key writes its key reference, with the key's own URI. */
    written = write_private(key);
    st_assert_contains(written, "-----BEGIN TOKENKEY KEY REFERENCE-----");
    st_write(again, written);
    key2 = st_read_key(env.libctx, again);
    assert_non_null(key2);
    rewritten = write_private(key2);
    assert_string_equal(written, rewritten);

    /* The same key: same public half as the token's public key object. */
    pub = tkst_public_key(env.t, label);
    assert_non_null(pub);
    assert_int_equal(EVP_PKEY_eq(key, key2), 1);
    assert_int_equal(EVP_PKEY_eq(key, pub), 1);

    /* The URI inside: token serial, object, id, type; never a PIN. */
    {
        BIO *mem = BIO_new_mem_buf(written, -1);
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long len = 0;
        char *text;

        assert_int_equal(PEM_read_bio(mem, &name, &header, &der, &len), 1);
        assert_string_equal(name, "TOKENKEY KEY REFERENCE");
        text = strndup((const char *)der, (size_t)len);
        st_assert_contains(text, "tokenkey key reference v1");
        st_assert_contains(text, tk_fixture_serial(&env.fx));
        st_assert_contains(text, label);
        /* RFC 3986 section 2.1: percent-encodings in upper case */
        snprintf(want_id, sizeof(want_id), "id=%%%s", idhex);
        st_assert_contains(text, want_id);
        st_assert_contains(text, "type=private");
        st_assert_not_contains(text, "pin-");
        free(text);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(der);
        BIO_free(mem);
    }
    free(written);
    free(rewritten);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(key);
    EVP_PKEY_free(key2);
    free(path);
    free(again);
}

static void test_round_trip_rsa(void **state)
{
    round_trip(RSA_LABEL, "RSA", "A1");
}

static void test_round_trip_ec(void **state)
{
    round_trip(EC_LABEL, "EC", "E1");
}

static void test_round_trip_ed25519(void **state)
{
    round_trip(ED_LABEL, "ED25519", "F1");
}

/* pkcs11-provider's own file format reads as the same key. */
static void test_pkcs11_provider_file(void **state)
{
    char *uri = st_uri(&env, RSA_LABEL, "private");
    char *p11 = keyref_file("p11prov.pem", "PKCS#11 PROVIDER URI", "PKCS#11 Provider URI v1.0",
                            uri, 0);
    char *ours = tokenkey_file("ours.pem", RSA_LABEL);
    EVP_PKEY *a = st_read_key(env.libctx, p11), *b = st_read_key(env.libctx, ours);
    char *errors = st_errors();

    if (a == NULL || b == NULL)
        fail_msg("reading the key references:\n%s", errors);
    assert_string_equal(provider_of(a), "tokenkey");
    assert_int_equal(EVP_PKEY_eq(a, b), 1);
    EVP_PKEY_free(a);
    EVP_PKEY_free(b);
    free(errors);
    free(uri);
    free(p11);
    free(ours);
}

/*
 * No PKCS#8 or DER private form: i2d_PrivateKey, EVP_PKEY2PKCS8 (openssl
 * pkcs8 -topk8) and PKCS12_add_key (openssl pkcs12 -export) take what they
 * get for PKCS#8, so they must fail, saying why, not get a key reference.
 */
static void expect_refused(const char *what, int failed)
{
    char *errors = st_errors();

    if (!failed)
        fail_msg("%s of a token key succeeded", what);
    st_assert_contains(errors, "private key material never leaves the token");
    st_assert_not_contains(errors, "wrong tag");
    free(errors);
}

static void test_no_pkcs8_form(void **state)
{
    const char *labels[] = { RSA_LABEL, EC_LABEL, ED_LABEL };

    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        char *path = tokenkey_file("p8.pem", labels[i]);
        EVP_PKEY *key = st_read_key(env.libctx, path);
        PKCS8_PRIV_KEY_INFO *p8;
        unsigned char *der = NULL;

        assert_non_null(key);
        p8 = EVP_PKEY2PKCS8(key);
        expect_refused("EVP_PKEY2PKCS8", p8 == NULL);
        assert_true(i2d_PrivateKey(key, &der) <= 0);
        assert_null(der);
        expect_refused("i2d_PrivateKey", 1);
        EVP_PKEY_free(key);
        free(path);
    }
}

/* The key reference in DER, asked for by its own structure name, reads back. */
static void test_der_key_reference(void **state)
{
    char *path = tokenkey_file("der-src.pem", EC_LABEL);
    EVP_PKEY *key = st_read_key(env.libctx, path), *back = NULL;
    OSSL_ENCODER_CTX *ectx;
    OSSL_DECODER_CTX *dctx;
    unsigned char *der = NULL;
    const unsigned char *p;
    size_t len = 0;

    assert_non_null(key);
    ectx = OSSL_ENCODER_CTX_new_for_pkey(key, OSSL_KEYMGMT_SELECT_ALL, "DER", "tokenkey-keyref",
                                         NULL);
    assert_non_null(ectx);
    assert_int_equal(OSSL_ENCODER_to_data(ectx, &der, &len), 1);
    OSSL_ENCODER_CTX_free(ectx);
    /* SEQUENCE { VisibleString "tokenkey key reference v1", UTF8String uri } */
    assert_true(len > 30);
    assert_memory_equal(der + 5, "tokenkey key reference v1", 25);

    dctx = OSSL_DECODER_CTX_new_for_pkey(&back, "DER", NULL, NULL, OSSL_KEYMGMT_SELECT_KEYPAIR,
                                         env.libctx, NULL);
    assert_non_null(dctx);
    p = der;
    if (OSSL_DECODER_from_data(dctx, &p, &len) != 1) {
        char *errors = st_errors();

        fail_msg("decoding the DER key reference:\n%s", errors);
    }
    OSSL_DECODER_CTX_free(dctx);
    assert_non_null(back);
    assert_string_equal(provider_of(back), "tokenkey");
    assert_int_equal(EVP_PKEY_eq(key, back), 1);
    OPENSSL_free(der);
    EVP_PKEY_free(back);
    EVP_PKEY_free(key);
    free(path);
}

/* Bare DER (no PEM label) decoded as a private key; NULL on failure. */
static EVP_PKEY *decode_der(const char *label, const char *desc, const char *uri,
                            size_t trailing)
{
    char *pem = st_keyref_pem(label, desc, uri, trailing), *name = NULL, *header = NULL;
    BIO *mem = BIO_new_mem_buf(pem, -1);
    unsigned char *der = NULL;
    const unsigned char *p;
    long len = 0;
    size_t left;
    EVP_PKEY *key = NULL;
    OSSL_DECODER_CTX *dctx;

    assert_non_null(mem);
    assert_int_equal(PEM_read_bio(mem, &name, &header, &der, &len), 1);
    dctx = OSSL_DECODER_CTX_new_for_pkey(&key, "DER", NULL, NULL, OSSL_KEYMGMT_SELECT_KEYPAIR,
                                         env.libctx, NULL);
    assert_non_null(dctx);
    p = der;
    left = (size_t)len;
    if (OSSL_DECODER_from_data(dctx, &p, &left) != 1)
        key = NULL;
    OSSL_DECODER_CTX_free(dctx);
    OPENSSL_free(der);
    OPENSSL_free(name);
    OPENSSL_free(header);
    BIO_free(mem);
    free(pem);
    return key;
}

/*
 * Bare DER has no label to say whose it is: the shape of a key reference
 * with another description is someone else's, left to other decoders (and
 * OpenSSL's "unsupported" when none takes it); with one of our
 * descriptions, what is wrong with it is ours to name.
 */
static void test_der_not_ours(void **state)
{
    char *uri = st_uri(&env, EC_LABEL, "private"), *errors;
    EVP_PKEY *key;

    ERR_clear_error();
    key = decode_der("X", "some other provider's reference v2", uri, 0);
    errors = st_errors();
    assert_null(key);
    st_assert_contains(errors, "unsupported");
    st_assert_not_contains(errors, "malformed key reference file");
    free(errors);
    key = decode_der("X", "tokenkey key reference v1", uri, 3);
    errors = st_errors();
    assert_null(key);
    st_assert_contains(errors, "3 bytes of trailing data after the key reference");
    free(errors);
    key = decode_der("X", "PKCS#11 Provider URI v1.0", uri, 0);
    assert_non_null(key);
    assert_string_equal(provider_of(key), "tokenkey");
    EVP_PKEY_free(key);
    free(uri);
}

/* A regular PKCS#8 key still loads, through the default provider. */
static void test_pkcs8_still_loads(void **state)
{
    EVP_PKEY *soft = EVP_PKEY_Q_keygen(NULL, "provider=default", "RSA", (size_t)2048), *back;
    char *path = st_path(&env, "soft.pem");
    FILE *f = fopen(path, "w");

    assert_non_null(soft);
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, soft, NULL, NULL, 0, NULL, NULL), 1);
    assert_int_equal(fclose(f), 0);
    back = st_read_key(env.libctx, path);
    assert_non_null(back);
    assert_string_equal(provider_of(back), "default");
    assert_int_equal(EVP_PKEY_eq(soft, back), 1);
    EVP_PKEY_free(soft);
    EVP_PKEY_free(back);
    free(path);
}

/* ---- broken files: each names its problem ---- */

static void expect_failure(const char *path, const char *reason, const char *detail)
{
    EVP_PKEY *key = st_read_key(env.libctx, path);
    char *errors = st_errors();

    if (key != NULL)
        fail_msg("%s loaded a key", path);
    st_assert_contains(errors, reason);
    st_assert_contains(errors, detail);
    free(errors);
}

static void expect_bad(const char *path, const char *detail)
{
    expect_failure(path, "malformed key reference file", detail);
}

/* A good file's text with one edit: at most the first n bytes, or a replaced substring. */
static char *edited(const char *name, size_t keep, const char *from, const char *to)
{
    char *good = tokenkey_file("good.pem", RSA_LABEL);
    char *text = st_read(good), *path = st_path(&env, name), *at;

    assert_non_null(text);
    if (keep > 0)
        text[keep] = '\0';
    if (from != NULL) {
        at = strstr(text, from);
        assert_non_null(at);
        assert_int_equal(strlen(from), strlen(to));
        memcpy(at, to, strlen(to));
    }
    st_write(path, text);
    free(text);
    free(good);
    return path;
}

static void test_truncated(void **state)
{
    /* The BEGIN line and the first base64 line: no END line. */
    char *path = edited("truncated.pem", strlen("-----BEGIN TOKENKEY KEY REFERENCE-----\n") + 65,
                        NULL, NULL);

    expect_bad(path, "truncated: no \"-----END TOKENKEY KEY REFERENCE-----\" line");
    free(path);
}

/* The other ways a PEM block can be cut or swollen, each named. */
static void test_broken_blocks(void **state)
{
    static const char begin[] = "-----BEGIN TOKENKEY KEY REFERENCE-----\n";
    static const char end[] = "-----END TOKENKEY KEY REFERENCE-----\n";
    char *path = st_path(&env, "broken.pem");
    size_t big = 16384 + 64 * 2;
    char *text = malloc(sizeof(begin) + big + big / 64 + sizeof(end) + 2048), *p;

    assert_non_null(text);
    /* BEGIN, END at once. */
    snprintf(text, 4096, "%s%s", begin, end);
    st_write(path, text);
    expect_bad(path, "the PEM block is empty");
    /* A second block starts before the first ends. */
    snprintf(text, 4096, "%sMIIB\n-----BEGIN CERTIFICATE-----\n", begin);
    st_write(path, text);
    expect_bad(path, "truncated: \"-----BEGIN TOKENKEY KEY REFERENCE-----\" has no END line "
                     "before the next block");
    /* One line of 2000 characters. */
    p = text + sprintf(text, "%s", begin);
    memset(p, 'A', 2000);
    p += 2000;
    sprintf(p, "\n%s", end);
    st_write(path, text);
    expect_bad(path, "a line longer than 1024 characters");
    /* More base64 than any key reference needs, in 64-character lines. */
    p = text + sprintf(text, "%s", begin);
    for (size_t i = 0; i < big / 64; i++) {
        memset(p, 'A', 64);
        p[64] = '\n';
        p += 65;
    }
    strcpy(p, end);
    st_write(path, text);
    expect_bad(path, "the PEM body is longer than 16384 bytes");
    free(text);
    free(path);
}

static void test_corrupt_base64(void **state)
{
    char *path = edited("b64.pem", 0, "REFERENCE-----\nM", "REFERENCE-----\n!");
    char *good = tokenkey_file("good.pem", RSA_LABEL), *text = st_read(good), *end, *spliced;

    expect_bad(path, "corrupt base64 in the PEM body");
    free(path);
    /*
     * Text after a '-' in the body: OpenSSL's base64 decoder stops at a '-'
     * and reports success, so the reference before it would be read, and
     * the rest dropped without a word.
     */
    assert_non_null(text);
    assert_non_null(end = strstr(text, "\n-----END"));
    assert_non_null(spliced = malloc(strlen(text) + 16));
    sprintf(spliced, "%.*s-junk%s", (int)(end - text), text, end);
    path = st_path(&env, "b64-dash.pem");
    st_write(path, spliced);
    expect_bad(path, "corrupt base64 in the PEM body");
    free(path);
    free(spliced);
    free(text);
    free(good);
}

static void test_wrong_description(void **state)
{
    char *uri = st_uri(&env, RSA_LABEL, "private");
    char *path = keyref_file("desc.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v9",
                             uri, 0);

    expect_bad(path, "unknown description \"tokenkey key reference v9\" "
                     "(expected \"tokenkey key reference v1\")");
    free(path);
    /* Our description under pkcs11-provider's label: the label decides. */
    path = keyref_file("mixed.pem", "PKCS#11 PROVIDER URI", "tokenkey key reference v1", uri, 0);
    expect_bad(path, "unknown description \"tokenkey key reference v1\" "
                     "(expected \"PKCS#11 Provider URI v1.0\")");
    free(path);
    free(uri);
}

static void test_wrong_label(void **state)
{
    char *path = edited("label.pem", 0, "BEGIN TOKENKEY KEY REFERENCE", "BEGIN TOKENKEY KEY REFERENCX");
    char *uri = st_uri(&env, RSA_LABEL, "private");

    expect_bad(path, "unknown PEM label \"TOKENKEY KEY REFERENCX\" "
                     "(expected \"TOKENKEY KEY REFERENCE\")");
    free(path);
    /* END not matching BEGIN */
    path = edited("end.pem", 0, "END TOKENKEY KEY REFERENCE", "END TOKENKEY KEY REFERENCX");
    expect_bad(path, "ends with \"-----END TOKENKEY KEY REFERENCX-----\"");
    free(path);
    /* Someone else's label: not ours to read, OpenSSL says nothing could read it. */
    path = keyref_file("other.pem", "SOMETHING ELSE", "tokenkey key reference v1", uri, 0);
    expect_failure(path, "unsupported", "No supported data to decode. Input type: PEM");
    free(path);
    free(uri);
}

static void test_trailing_garbage(void **state)
{
    char *uri = st_uri(&env, RSA_LABEL, "private");
    char *path = keyref_file("trailing.pem", "TOKENKEY KEY REFERENCE",
                             "tokenkey key reference v1", uri, 3);

    expect_bad(path, "3 bytes of trailing data after the key reference");
    free(path);
    free(uri);
}

/*
 * Longer than any key reference (4096 bytes of DER): refused by name when
 * read, not handed to the next step, which reads no more than that and
 * would leave the file to OpenSSL's "unsupported".
 */
static void test_too_long(void **state)
{
    char *uri = st_uri(&env, RSA_LABEL, "private");
    char *path = keyref_file("long.pem", "TOKENKEY KEY REFERENCE",
                             "tokenkey key reference v1", uri, 5000);

    expect_bad(path, "bytes long; one is at most 4096");
    free(path);
    free(uri);
}

/*
 * A reference of exactly the limit (4096 bytes of DER) is read: the label
 * is sized so that the DER - SEQUENCE header (4), the description (27) and
 * the URI's UTF8String (4 + its length) - comes to 4096.
 */
static void test_exactly_the_limit(void **state)
{
    char label[1400], escaped[4100], *uri = NULL, *path, *pem;
    size_t n, len, need;
    EVP_PKEY *key;
    long derlen = 0;
    unsigned char *der = NULL;
    char *name = NULL, *header = NULL;
    BIO *mem;

    assert_true(asprintf(&uri, "pkcs11:serial=%s;object=;type=private",
                         tk_fixture_serial(&env.fx)) > 0);
    len = strlen(uri); /* the URI without its label */
    free(uri);
    /* Each '/' is %2F (3 characters); up to two 'a' make up the rest. */
    need = 4096 - 35 - len;
    assert_true(need / 3 + 3 < sizeof(label));
    for (n = 0; n < need / 3; n++) {
        label[n] = '/';
        memcpy(escaped + 3 * n, "%2F", 3);
    }
    for (size_t i = 0; i < need % 3; i++)
        label[n + i] = escaped[3 * n + i] = 'a';
    label[n + need % 3] = '\0';
    escaped[3 * n + need % 3] = '\0';
    assert_int_equal(tkst_keygen(env.t, &env.pin, "ec", label, "b8"), CKR_OK);
    assert_true(asprintf(&uri, "pkcs11:serial=%s;object=%s;type=private",
                         tk_fixture_serial(&env.fx), escaped) > 0);
    path = keyref_file("limit.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1", uri, 0);
    /* The file holds exactly 4096 bytes of DER. */
    pem = st_read(path);
    assert_non_null(mem = BIO_new_mem_buf(pem, -1));
    assert_int_equal(PEM_read_bio(mem, &name, &header, &der, &derlen), 1);
    assert_int_equal(derlen, 4096);
    key = st_read_key(env.libctx, path);
    if (key == NULL) {
        char *errors = st_errors();

        fail_msg("a key reference of exactly 4096 bytes did not load:\n%s", errors);
    }
    EVP_PKEY_free(key);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(der);
    BIO_free(mem);
    free(pem);
    free(path);
    free(uri);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_PRIVATE_KEY, label), CKR_OK);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_PUBLIC_KEY, label), CKR_OK);
}

/*
 * A key whose label (made by another tool) makes its URI longer than a key
 * reference may be: not written, with the reason, rather than written and
 * then refused when read.
 */
static void test_too_long_not_written(void **state)
{
    char label[1400], *uri;
    EVP_PKEY *key;
    BIO *mem = BIO_new(BIO_s_mem());
    char *errors;

    memset(label, '/', sizeof(label) - 1); /* each '/' is %2F in the URI */
    label[sizeof(label) - 1] = '\0';
    assert_non_null(mem);
    assert_int_equal(tkst_keygen(env.t, &env.pin, "ec", label, "b7"), CKR_OK);
    assert_true(asprintf(&uri, "pkcs11:serial=%s;id=%%b7;type=private",
                         tk_fixture_serial(&env.fx)) > 0);
    key = tk_test_load_private(env.libctx, uri);
    if (key == NULL) {
        errors = st_errors();
        fail_msg("%s did not load:\n%s", uri, errors);
    }
    assert_int_not_equal(PEM_write_bio_PrivateKey(mem, key, NULL, NULL, 0, NULL, NULL), 1);
    errors = st_errors();
    st_assert_contains(errors, "over the 4096 a key reference may have");
    free(errors);
    EVP_PKEY_free(key);
    BIO_free(mem);
    free(uri);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_PRIVATE_KEY, label), CKR_OK);
    assert_int_equal(tkst_delete(env.t, &env.pin, CKO_PUBLIC_KEY, label), CKR_OK);
}

static void test_empty_uri(void **state)
{
    char *path = keyref_file("empty.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                             "", 0);

    expect_bad(path, "the URI is empty");
    free(path);
}

static void test_not_pkcs11_uri(void **state)
{
    char *path = keyref_file("file.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                             "file:/etc/ssl/private/key.pem", 0);

    expect_bad(path, "not a pkcs11: URI: \"file:/etc/ssl/private/key.pem\"");
    free(path);
    /* Shown up to its first attribute: what follows may be a PIN. */
    path = keyref_file("space.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                       " pkcs11:object=k?pin-value=qzx4711", 0);
    expect_bad(path, "not a pkcs11: URI: \" pkcs11:object...\"");
    {
        char *errors;

        ERR_clear_error();
        assert_null(st_read_key(env.libctx, path));
        errors = st_errors();
        st_assert_not_contains(errors, "qzx4711");
        free(errors);
    }
    free(path);
    path = keyref_file("bad.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                       "pkcs11:token=x;colour=blue", 0);
    expect_bad(path, "malformed pkcs11: URI: unknown attribute at offset 15 (attribute 'colour')");
    free(path);
}

/* ---- URIs naming no key, or two ---- */

static void test_no_key(void **state)
{
    char *uri = st_uri(&env, "no-such-key", "private");
    char *path = keyref_file("none.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                             uri, 0);
    char want[256];

    snprintf(want, sizeof(want), "no private key matches %s", uri);
    expect_failure(path, "no object on the token matches the URI", want);
    free(path);
    free(uri);
}

/*
 * A key reference read where a public key alone is wanted
 * (PEM_read_bio_PUBKEY): refused by name before the token is searched
 * (before, the key was found, with a login, and OpenSSL then said only
 * "unsupported").
 */
static void test_public_key_alone_asked(void **state)
{
    char *path = tokenkey_file("pub-asked.pem", RSA_LABEL), *errors;
    unsigned long searches = tk_p11_stat(TK_FN_C_FindObjectsInit);
    BIO *in = BIO_new_file(path, "r");
    EVP_PKEY *key;

    assert_non_null(in);
    key = PEM_read_bio_PUBKEY_ex(in, NULL, NULL, NULL, env.libctx, NULL);
    BIO_free(in);
    errors = st_errors();
    if (key != NULL)
        fail_msg("%s read as a public key", path);
    st_assert_contains(errors, "a key reference names a private key, and only a public key or "
                               "parameters were asked for: write the public key once with "
                               "'openssl pkey -in FILE -pubout', or name the key's URI with "
                               "type=public");
    assert_int_equal(tk_p11_stat(TK_FN_C_FindObjectsInit) - searches, 0);
    free(errors);
    /* Read as a private key, it is the key. */
    assert_non_null(key = st_read_key(env.libctx, path));
    assert_true(tk_p11_stat(TK_FN_C_FindObjectsInit) - searches > 0);
    EVP_PKEY_free(key);
    free(path);
}

static void test_two_keys(void **state)
{
    char *uri = st_uri(&env, "twin", "private");
    char *path = keyref_file("twin.pem", "TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                             uri, 0);

    expect_failure(path, "the URI matches more than one key", "matches 2 private keys");
    /* Both are listed, by id. */
    {
        EVP_PKEY *key = st_read_key(env.libctx, path);
        char *errors = st_errors();

        assert_null(key);
        st_assert_contains(errors, "id=%D1");
        st_assert_contains(errors, "id=%D2");
        free(errors);
    }
    free(path);
    free(uri);
}

/* ---- text ---- */

typedef int (*key_printer)(BIO *out, const EVP_PKEY *key, int indent, ASN1_PCTX *pctx);

/* What print (EVP_PKEY_print_private or _params) writes; it must succeed. */
static char *printed(EVP_PKEY *key, key_printer print, const char *name)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL, *copy;
    long len;

    assert_non_null(mem);
    if (print(mem, key, 0, NULL) != 1) {
        char *errors = st_errors();

        fail_msg("%s:\n%s", name, errors);
    }
    len = BIO_get_mem_data(mem, &data);
    copy = strndup(data != NULL ? data : "", (size_t)len);
    BIO_free(mem);
    return copy;
}

static char *print_private(EVP_PKEY *key)
{
    return printed(key, EVP_PKEY_print_private, "EVP_PKEY_print_private");
}

static void test_text(void **state)
{
    char *rsa_path = tokenkey_file("text-rsa.pem", RSA_LABEL);
    char *ec_path = tokenkey_file("text-ec.pem", EC_LABEL);
    char *ed_path = tokenkey_file("text-ed25519.pem", ED_LABEL);
    EVP_PKEY *rsa = st_read_key(env.libctx, rsa_path), *ec = st_read_key(env.libctx, ec_path);
    EVP_PKEY *ed = st_read_key(env.libctx, ed_path);
    char *text;

    assert_non_null(rsa);
    assert_non_null(ec);
    assert_non_null(ed);
    text = print_private(rsa);
    st_assert_contains(text, "Private-Key: (2048 bit, on token)");
    st_assert_contains(text, "modulus:\n    00:");
    st_assert_contains(text, "publicExponent: 65537 (0x10001)");
    st_assert_contains(text, "private key: on token, not exportable (pkcs11:");
    st_assert_contains(text, "object=" RSA_LABEL);
    st_assert_not_contains(text, "privateExponent");
    st_assert_not_contains(text, "prime1");
    free(text);

    text = print_private(ec);
    st_assert_contains(text, "Private-Key: (256 bit, on token)");
    st_assert_contains(text, "pub:\n    04:");
    st_assert_contains(text, "ASN1 OID: prime256v1");
    st_assert_contains(text, "NIST CURVE: P-256");
    st_assert_contains(text, "private key: on token, not exportable (pkcs11:");
    st_assert_not_contains(text, "priv:");
    free(text);

    /* Ed25519: the 32-byte public key, nothing private. */
    text = print_private(ed);
    st_assert_contains(text, "ED25519 Private-Key: (on token)");
    st_assert_contains(text, "pub:\n    ");
    st_assert_contains(text, "private key: on token, not exportable (pkcs11:");
    st_assert_contains(text, "object=" ED_LABEL);
    st_assert_not_contains(text, "priv:");
    free(text);

    /*
     * The parameters alone: an EC key's curve (as OpenSSL prints a software
     * key's), nothing for RSA and Ed25519. OpenSSL 3.0's default RSA
     * printer, which a token RSA key's parameters reached before, crashed
     * on them (no modulus).
     */
    text = printed(rsa, EVP_PKEY_print_params, "EVP_PKEY_print_params (RSA)");
    assert_string_equal(text, "");
    free(text);
    text = printed(ec, EVP_PKEY_print_params, "EVP_PKEY_print_params (EC)");
    assert_string_equal(text, "EC-Parameters: (256 bit)\nASN1 OID: prime256v1\nNIST CURVE: P-256\n");
    free(text);
    text = printed(ed, EVP_PKEY_print_params, "EVP_PKEY_print_params (Ed25519)");
    assert_string_equal(text, "");
    free(text);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(ed);
    free(rsa_path);
    free(ec_path);
    free(ed_path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_pkcs8_still_loads, clear_errors),
        cmocka_unit_test_setup(test_truncated, clear_errors),
        cmocka_unit_test_setup(test_broken_blocks, clear_errors),
        cmocka_unit_test_setup(test_corrupt_base64, clear_errors),
        cmocka_unit_test_setup(test_wrong_description, clear_errors),
        cmocka_unit_test_setup(test_wrong_label, clear_errors),
        cmocka_unit_test_setup(test_trailing_garbage, clear_errors),
        cmocka_unit_test_setup(test_too_long, clear_errors),
        cmocka_unit_test_setup(test_too_long_not_written, clear_errors),
        cmocka_unit_test_setup(test_exactly_the_limit, clear_errors),
        cmocka_unit_test_setup(test_empty_uri, clear_errors),
        cmocka_unit_test_setup(test_not_pkcs11_uri, clear_errors),
        cmocka_unit_test_setup(test_no_key, clear_errors),
        cmocka_unit_test_setup(test_two_keys, clear_errors),
        cmocka_unit_test_setup(test_public_key_alone_asked, clear_errors),
        cmocka_unit_test_setup(test_round_trip_rsa, clear_errors),
        cmocka_unit_test_setup(test_round_trip_ec, clear_errors),
        cmocka_unit_test_setup(test_round_trip_ed25519, clear_errors),
        cmocka_unit_test_setup(test_pkcs11_provider_file, clear_errors),
        cmocka_unit_test_setup(test_text, clear_errors),
        cmocka_unit_test_setup(test_no_pkcs8_form, clear_errors),
        cmocka_unit_test_setup(test_der_key_reference, clear_errors),
        cmocka_unit_test_setup(test_der_not_ours, clear_errors),
    };

    return cmocka_run_group_tests_name("store-keyref", tests, group_setup, group_teardown);
}
