/* Unit tests for the RFC 7512 URI parser and formatter (provider/uri.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokenkey/uri.h"

/* ---- helpers ---- */

static TK_URI *parse_ok(const char *text)
{
    TK_URI *uri = NULL;
    TK_URI_ERROR err;
    TK_URI_ERR rc = tk_uri_parse(text, &uri, &err);

    if (rc != TK_URI_OK)
        print_error("parse '%s': %s at %zu (attr '%s')\n", text,
                    tk_uri_strerror(rc), err.offset, err.attr);
    assert_int_equal(rc, TK_URI_OK);
    assert_int_equal(err.code, TK_URI_OK);
    assert_non_null(uri);
    return uri;
}

static void assert_str_or_null(const char *got, const char *want)
{
    if (want == NULL)
        assert_null(got);
    else {
        assert_non_null(got);
        assert_string_equal(got, want);
    }
}

static void assert_id(const TK_URI *uri, const void *want, size_t len)
{
    assert_int_equal(uri->has_id, 1);
    assert_int_equal(uri->id_len, len);
    if (len > 0)
        assert_memory_equal(uri->id, want, len);
}

/* Field-by-field equality; pin-value only if with_pin (format drops it). */
static void assert_uri_equal(const TK_URI *a, const TK_URI *b, int with_pin)
{
    assert_str_or_null(a->token, b->token);
    assert_str_or_null(a->manufacturer, b->manufacturer);
    assert_str_or_null(a->serial, b->serial);
    assert_str_or_null(a->model, b->model);
    assert_str_or_null(a->library_manufacturer, b->library_manufacturer);
    assert_str_or_null(a->library_description, b->library_description);
    assert_int_equal(a->has_library_version, b->has_library_version);
    assert_int_equal(a->library_version_major, b->library_version_major);
    assert_int_equal(a->library_version_minor, b->library_version_minor);
    assert_str_or_null(a->slot_manufacturer, b->slot_manufacturer);
    assert_str_or_null(a->slot_description, b->slot_description);
    assert_int_equal(a->has_slot_id, b->has_slot_id);
    assert_int_equal(a->slot_id, b->slot_id);
    assert_str_or_null(a->object, b->object);
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->has_id, b->has_id);
    assert_int_equal(a->id_len, b->id_len);
    if (a->id_len > 0)
        assert_memory_equal(a->id, b->id, a->id_len);
    if (with_pin)
        assert_str_or_null(a->pin_value, b->pin_value);
    assert_str_or_null(a->pin_source, b->pin_source);
    assert_str_or_null(a->module_name, b->module_name);
    assert_str_or_null(a->module_path, b->module_path);
}

/* parse -> format -> parse gives the same URI, without pin-value. */
static void assert_round_trip(const TK_URI *uri)
{
    char *text = tk_uri_format(uri);
    TK_URI *again;

    assert_non_null(text);
    assert_null(strstr(text, "pin-value"));
    again = parse_ok(text);
    assert_uri_equal(uri, again, 0);
    /* Formatting is canonical: a second round gives the same text. */
    {
        char *text2 = tk_uri_format(again);

        assert_non_null(text2);
        assert_string_equal(text, text2);
        OPENSSL_free(text2);
    }
    tk_uri_free(again);
    OPENSSL_free(text);
}

static void check_format(const TK_URI *uri, const char *want)
{
    char *text = tk_uri_format(uri);

    assert_non_null(text);
    assert_string_equal(text, want);
    OPENSSL_free(text);
}

static void check_bad(const char *text, TK_URI_ERR code, size_t offset, const char *attr)
{
    TK_URI *sentinel = (TK_URI *)&sentinel, *uri = sentinel;
    TK_URI_ERROR err;
    TK_URI_ERR rc;

    memset(&err, 0x5a, sizeof(err));
    rc = tk_uri_parse(text, &uri, &err);
    if (rc != code || err.code != code || err.offset != offset || strcmp(err.attr, attr) != 0) {
        print_error("'%s': got %d (%s) offset %zu attr '%.31s'; want %d offset %zu attr '%s'\n",
                    text != NULL ? text : "(null)", (int)rc, tk_uri_strerror(rc),
                    err.offset, err.attr, (int)code, offset, attr);
        fail();
    }
    assert_ptr_equal(uri, sentinel); /* *out untouched on failure */
    /* And the same verdict without an error struct. */
    assert_int_equal(tk_uri_parse(text, &uri, NULL), code);
    assert_ptr_equal(uri, sentinel);
}

/* ---- RFC 7512 section 3.3 examples ---- */

static void test_rfc_empty(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:");

    assert_null(uri->token);
    assert_null(uri->object);
    assert_int_equal(uri->type, TK_URI_TYPE_ANY);
    assert_int_equal(uri->has_id, 0);
    assert_int_equal(uri->has_slot_id, 0);
    assert_int_equal(uri->has_library_version, 0);
    assert_null(uri->pin_value);
    assert_null(uri->module_path);
    check_format(uri, "pkcs11:");
    tk_uri_free(uri);
}

static void test_rfc_pubkey(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:object=my-pubkey;type=public");

    assert_string_equal(uri->object, "my-pubkey");
    assert_int_equal(uri->type, TK_URI_TYPE_PUBLIC);
    assert_null(uri->token);
    check_format(uri, "pkcs11:object=my-pubkey;type=public");
    tk_uri_free(uri);
}

static void test_rfc_private_pin_source(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:object=my-key;type=private?pin-source=file:/etc/token");

    assert_string_equal(uri->object, "my-key");
    assert_int_equal(uri->type, TK_URI_TYPE_PRIVATE);
    assert_string_equal(uri->pin_source, "file:/etc/token");
    check_format(uri, "pkcs11:object=my-key;type=private?pin-source=file:/etc/token");
    tk_uri_free(uri);
}

static void test_rfc_softtoken_cert(void **state)
{
    static const unsigned char id[] = { 0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91 };
    TK_URI *uri = parse_ok(
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
        "manufacturer=Snake%20Oil,%20Inc.;model=1.0;object=my-certificate;"
        "type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial=?pin-source=file:/etc/token_pin");

    assert_string_equal(uri->token, "The Software PKCS#11 Softtoken");
    assert_string_equal(uri->manufacturer, "Snake Oil, Inc.");
    assert_string_equal(uri->model, "1.0");
    assert_string_equal(uri->object, "my-certificate");
    assert_int_equal(uri->type, TK_URI_TYPE_CERT);
    assert_id(uri, id, sizeof(id));
    assert_non_null(uri->serial); /* empty serial= matches only an empty serial */
    assert_string_equal(uri->serial, "");
    assert_string_equal(uri->pin_source, "file:/etc/token_pin");
    /* Our order and escapes: same attributes, canonical layout. */
    check_format(uri,
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;"
        "manufacturer=Snake%20Oil,%20Inc.;serial=;model=1.0;object=my-certificate;"
        "type=cert;id=%69%95%3E%5C%F4%BD%EC%91?pin-source=file:/etc/token_pin");
    assert_round_trip(uri);
    tk_uri_free(uri);
}

static void test_rfc_module_name(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:object=my-sign-key;type=private?module-name=mypkcs11");

    assert_string_equal(uri->object, "my-sign-key");
    assert_int_equal(uri->type, TK_URI_TYPE_PRIVATE);
    assert_string_equal(uri->module_name, "mypkcs11");
    assert_null(uri->module_path);
    check_format(uri, "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11");
    tk_uri_free(uri);
}

static void test_rfc_module_path(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1");

    assert_string_equal(uri->object, "my-sign-key");
    assert_int_equal(uri->type, TK_URI_TYPE_PRIVATE);
    assert_string_equal(uri->module_path, "/mnt/libmypkcs11.so.1");
    check_format(uri, "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1");
    tk_uri_free(uri);
}

static void test_rfc_pin_value(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:token=Software%20PKCS%2311%20softtoken;"
                           "manufacturer=Snake%20Oil,%20Inc.?pin-value=the-pin");
    char *text;

    assert_string_equal(uri->token, "Software PKCS#11 softtoken");
    assert_string_equal(uri->manufacturer, "Snake Oil, Inc.");
    assert_string_equal(uri->pin_value, "the-pin");
    text = tk_uri_format(uri);
    assert_non_null(text);
    assert_null(strstr(text, "pin-value"));
    assert_null(strstr(text, "the-pin"));
    assert_null(strchr(text, '?')); /* the only query attribute was dropped */
    assert_string_equal(text, "pkcs11:token=Software%20PKCS%2311%20softtoken;"
                              "manufacturer=Snake%20Oil,%20Inc.");
    OPENSSL_free(text);
    tk_uri_free(uri);
}

static void test_rfc_slot_description(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:slot-description=Sun%20Metaslot");

    assert_string_equal(uri->slot_description, "Sun Metaslot");
    check_format(uri, "pkcs11:slot-description=Sun%20Metaslot");
    tk_uri_free(uri);
}

static void test_rfc_library(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
                           "library-description=Soft%20Token%20Library;library-version=1.23");

    assert_string_equal(uri->library_manufacturer, "Snake Oil, Inc.");
    assert_string_equal(uri->library_description, "Soft Token Library");
    assert_int_equal(uri->has_library_version, 1);
    assert_int_equal(uri->library_version_major, 1);
    assert_int_equal(uri->library_version_minor, 23);
    check_format(uri, "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
                      "library-description=Soft%20Token%20Library;library-version=1.23");
    tk_uri_free(uri);
}

/* The example exactly as printed in RFC 7512 (mixed-case hex escapes). */
static void test_rfc_token_percent(void **state)
{
    static const unsigned char id[] = { 1, 2, 3, 0xba, 0xdd, 0xca, 0xfe, 4, 5, 6 };
    TK_URI *uri = parse_ok("pkcs11:token=My%20token%25%20created%20by%20Joe;"
                           "library-version=3;id=%01%02%03%Ba%dd%Ca%fe%04%05%06");

    assert_string_equal(uri->token, "My token% created by Joe");
    assert_int_equal(uri->has_library_version, 1);
    assert_int_equal(uri->library_version_major, 3);
    assert_int_equal(uri->library_version_minor, 0); /* "M" means M.0 */
    assert_id(uri, id, sizeof(id));
    check_format(uri, "pkcs11:token=My%20token%25%20created%20by%20Joe;"
                      "library-version=3.0;id=%01%02%03%BA%DD%CA%FE%04%05%06");
    assert_round_trip(uri);
    tk_uri_free(uri);
}

/* The same example in the form given in our design notes. */
static void test_rfc_token_percent_cert(void **state)
{
    static const unsigned char id[] = { 0x69, 0x95, 0x3e, 0x5c, 0xf4, 0xbd, 0xec, 0x91 };
    TK_URI *uri = parse_ok("pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;"
                           "id=%69%95%3E%5C%F4%BD%EC%91;object=my-certificate;type=cert");

    assert_string_equal(uri->token, "My token% created by Joe");
    assert_int_equal(uri->library_version_major, 3);
    assert_int_equal(uri->library_version_minor, 0);
    assert_id(uri, id, sizeof(id));
    assert_string_equal(uri->object, "my-certificate");
    assert_int_equal(uri->type, TK_URI_TYPE_CERT);
    assert_round_trip(uri);
    tk_uri_free(uri);
}

static void test_rfc_semicolon(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;"
                           "object=my-certificate;type=cert");

    assert_string_equal(uri->token, "A name with a substring %;");
    assert_string_equal(uri->object, "my-certificate");
    assert_int_equal(uri->type, TK_URI_TYPE_CERT);
    check_format(uri, "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;"
                      "object=my-certificate;type=cert");
    tk_uri_free(uri);
}

static void test_rfc_utf8(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;"
                           "object=my-certificate;type=cert");

    assert_string_equal(uri->token, "Name with a small A with acute: \xc3\xa1");
    assert_string_equal(uri->object, "my-certificate");
    assert_int_equal(uri->type, TK_URI_TYPE_CERT);
    check_format(uri, "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;"
                      "object=my-certificate;type=cert");
    tk_uri_free(uri);
}

/*
 * RFC 7512's last example uses vendor attributes without an "x-" prefix.
 * Our rule (uri.h) accepts only "x-..." as vendor attributes, so a name we
 * do not know is refused instead of silently ignored: a mistyped "objekt="
 * must not turn into "any object". The x- spelling of the example parses.
 */
static void test_rfc_vendor(void **state)
{
    TK_URI *uri;

    check_bad("pkcs11:token=my-token;object=my-certificate;type=cert;vendor-aaa=value-a"
              "?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
              TK_URI_ERR_UNKNOWN_ATTR, 54, "vendor-aaa");
    check_bad("pkcs11:token=my-token;object=my-certificate;type=cert;x-aaa=value-a"
              "?pin-source=file:/etc/token_pin&vendor-bbb=value-b",
              TK_URI_ERR_UNKNOWN_ATTR, 99, "vendor-bbb");

    uri = parse_ok("pkcs11:token=my-token;object=my-certificate;type=cert;x-aaa=value-a"
                   "?pin-source=file:/etc/token_pin&x-bbb=value-b");
    assert_string_equal(uri->token, "my-token");
    assert_string_equal(uri->object, "my-certificate");
    assert_int_equal(uri->type, TK_URI_TYPE_CERT);
    assert_string_equal(uri->pin_source, "file:/etc/token_pin");
    check_format(uri, "pkcs11:token=my-token;object=my-certificate;type=cert"
                      "?pin-source=file:/etc/token_pin");
    tk_uri_free(uri);
}

/* Every RFC example (pin-value aside) survives parse -> format -> parse. */
static void test_rfc_round_trips(void **state)
{
    static const char *const examples[] = {
        "pkcs11:",
        "pkcs11:object=my-pubkey;type=public",
        "pkcs11:object=my-key;type=private?pin-source=file:/etc/token",
        "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;"
        "model=1.0;object=my-certificate;type=cert;id=%69%95%3E%5C%F4%BD%EC%91;serial="
        "?pin-source=file:/etc/token_pin",
        "pkcs11:object=my-sign-key;type=private?module-name=mypkcs11",
        "pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1",
        "pkcs11:token=Software%20PKCS%2311%20softtoken;manufacturer=Snake%20Oil,%20Inc."
        "?pin-value=the-pin",
        "pkcs11:slot-description=Sun%20Metaslot",
        "pkcs11:library-manufacturer=Snake%20Oil,%20Inc.;"
        "library-description=Soft%20Token%20Library;library-version=1.23",
        "pkcs11:token=My%20token%25%20created%20by%20Joe;library-version=3;"
        "id=%01%02%03%Ba%dd%Ca%fe%04%05%06",
        "pkcs11:token=A%20name%20with%20a%20substring%20%25%3B;object=my-certificate;type=cert",
        "pkcs11:token=Name%20with%20a%20small%20A%20with%20acute:%20%C3%A1;"
        "object=my-certificate;type=cert",
    };
    size_t i;

    for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
        TK_URI *uri = parse_ok(examples[i]);

        assert_round_trip(uri);
        tk_uri_free(uri);
    }
}

/* ---- other accepted forms ---- */

static void test_accepted_forms(void **state)
{
    TK_URI *uri;
    char max[64];

    uri = parse_ok("PKCS11:object=a"); /* scheme is case-insensitive */
    assert_string_equal(uri->object, "a");
    tk_uri_free(uri);

    uri = parse_ok("pkcs11:?"); /* empty query */
    check_format(uri, "pkcs11:");
    tk_uri_free(uri);

    uri = parse_ok("pkcs11:object=;id=");
    assert_string_equal(uri->object, "");
    assert_id(uri, NULL, 0);
    assert_non_null(uri->id);
    check_format(uri, "pkcs11:object=;id=");
    assert_round_trip(uri);
    tk_uri_free(uri);

    uri = parse_ok("pkcs11:id=ab%63"); /* literal id bytes are fine */
    assert_id(uri, "abc", 3);
    check_format(uri, "pkcs11:id=%61%62%63");
    tk_uri_free(uri);

    uri = parse_ok("pkcs11:object=%c3%A1"); /* lowercase hex */
    assert_string_equal(uri->object, "\xc3\xa1");
    tk_uri_free(uri);

    /* Every pk11-path-res-avail / pk11-query-res-avail character raw. */
    uri = parse_ok("pkcs11:token=:[]@!$'()*+,=&?pin-source=:[]@!$'()*+,=/?|");
    assert_string_equal(uri->token, ":[]@!$'()*+,=&");
    assert_string_equal(uri->pin_source, ":[]@!$'()*+,=/?|");
    check_format(uri, "pkcs11:token=:%5B%5D@!$'()*+,%3D%26?pin-source=:%5B%5D@!$'()*+,%3D/%3F%7C");
    assert_round_trip(uri);
    tk_uri_free(uri);

    snprintf(max, sizeof(max), "pkcs11:slot-id=%lu;library-version=255.255", ULONG_MAX);
    uri = parse_ok(max);
    assert_int_equal(uri->has_slot_id, 1);
    assert_true(uri->slot_id == ULONG_MAX);
    assert_int_equal(uri->library_version_major, 255);
    assert_int_equal(uri->library_version_minor, 255);
    assert_round_trip(uri);
    tk_uri_free(uri);

    uri = parse_ok("pkcs11:slot-id=007;library-version=0.%30"); /* decoded, then read */
    assert_true(uri->slot_id == 7);
    assert_int_equal(uri->library_version_major, 0);
    assert_int_equal(uri->library_version_minor, 0);
    check_format(uri, "pkcs11:library-version=0.0;slot-id=7");
    tk_uri_free(uri);

    uri = parse_ok("pkcs11:type=secret-key;x-foo=1;x-foo=2?x-bar=%20&x-Bar_9=");
    assert_int_equal(uri->type, TK_URI_TYPE_SECRET);
    tk_uri_free(uri);

    uri = parse_ok("pkcs11:type=data");
    assert_int_equal(uri->type, TK_URI_TYPE_DATA);
    tk_uri_free(uri);

    /* out == NULL only validates. */
    assert_int_equal(tk_uri_parse("pkcs11:object=a?pin-value=1", NULL, NULL), TK_URI_OK);
    assert_int_equal(tk_uri_parse("pkcs11:object=a b", NULL, NULL), TK_URI_ERR_BAD_CHAR);
}

/* ---- round trips of awkward values ---- */

static void test_round_trip_awkward(void **state)
{
    static const unsigned char id[] = { 0x00, 0xff, 0x25, 0x3b, 0x00, 0x80, 0x41 };
    TK_URI *uri = OPENSSL_zalloc(sizeof(*uri));
    char *text;

    assert_non_null(uri);
    uri->token = OPENSSL_strdup("My token; 100% ready? a&b/c=d #1 \xc3\xa1\xe2\x82\xac");
    uri->object = OPENSSL_strdup(" lead and trail ");
    uri->serial = OPENSSL_strdup("[0]|\"<>\\^`{}\t\x7f");
    uri->id = OPENSSL_memdup(id, sizeof(id));
    uri->id_len = sizeof(id);
    uri->has_id = 1;
    uri->type = TK_URI_TYPE_PRIVATE;
    uri->pin_value = OPENSSL_strdup("s3cret&pin");
    uri->module_path = OPENSSL_strdup("/usr/lib/x86_64-linux-gnu/my pkcs11.so?x=1&y");
    uri->pin_source = OPENSSL_strdup("|/usr/bin/get-pin --slot=1;2");
    assert_non_null(uri->pin_source);

    text = tk_uri_format(uri);
    assert_non_null(text);
    assert_string_equal(text,
        "pkcs11:token=My%20token%3B%20100%25%20ready%3F%20a%26b%2Fc%3Dd%20%231%20%C3%A1%E2%82%AC;"
        "serial=%5B0%5D%7C%22%3C%3E%5C%5E%60%7B%7D%09%7F;object=%20lead%20and%20trail%20;"
        "type=private;id=%00%FF%25%3B%00%80%41"
        "?pin-source=%7C/usr/bin/get-pin%20--slot%3D1%3B2"
        "&module-path=/usr/lib/x86_64-linux-gnu/my%20pkcs11.so%3Fx%3D1%26y");
    assert_null(strstr(text, "s3cret"));
    OPENSSL_free(text);
    assert_round_trip(uri);
    tk_uri_free(uri);
}

/* Every byte value through id, every non-NUL byte through each string. */
static void test_round_trip_all_bytes(void **state)
{
    unsigned char bytes[256];
    char label[256];
    TK_URI *uri = OPENSSL_zalloc(sizeof(*uri));
    size_t i;

    assert_non_null(uri);
    for (i = 0; i < 256; i++) {
        bytes[i] = (unsigned char)i;
        label[i] = (char)(i == 255 ? 0 : i + 1);
    }
    uri->id = OPENSSL_memdup(bytes, sizeof(bytes));
    uri->id_len = sizeof(bytes);
    uri->has_id = 1;
    uri->token = OPENSSL_strdup(label);
    uri->manufacturer = OPENSSL_strdup(label);
    uri->serial = OPENSSL_strdup(label);
    uri->model = OPENSSL_strdup(label);
    uri->library_manufacturer = OPENSSL_strdup(label);
    uri->library_description = OPENSSL_strdup(label);
    uri->slot_manufacturer = OPENSSL_strdup(label);
    uri->slot_description = OPENSSL_strdup(label);
    uri->object = OPENSSL_strdup(label);
    uri->pin_source = OPENSSL_strdup(label);
    uri->module_name = OPENSSL_strdup(label);
    uri->module_path = OPENSSL_strdup(label);
    assert_non_null(uri->module_path);
    assert_round_trip(uri);
    tk_uri_free(uri);
}

/* ---- dup / free / names ---- */

static void test_dup(void **state)
{
    TK_URI *uri = parse_ok("pkcs11:token=t;manufacturer=m;serial=s;model=mo;"
                           "library-manufacturer=lm;library-description=ld;library-version=2.7;"
                           "slot-manufacturer=sm;slot-description=sd;slot-id=42;object=o;"
                           "type=cert;id=%00%01?pin-value=1234&module-name=mn&module-path=/p");
    TK_URI *copy = tk_uri_dup(uri);

    assert_non_null(copy);
    assert_uri_equal(uri, copy, 1);
    assert_string_equal(copy->pin_value, "1234");
    assert_ptr_not_equal(copy->token, uri->token);
    assert_ptr_not_equal(copy->pin_value, uri->pin_value);
    assert_ptr_not_equal(copy->id, uri->id);
    tk_uri_free(uri); /* the copy owns its own memory */
    assert_string_equal(copy->slot_description, "sd");
    assert_true(copy->slot_id == 42);
    tk_uri_free(copy);

    uri = parse_ok("pkcs11:id=?pin-source=file:/x");
    copy = tk_uri_dup(uri);
    assert_non_null(copy);
    assert_uri_equal(uri, copy, 1);
    tk_uri_free(copy);
    tk_uri_free(uri);

    assert_null(tk_uri_dup(NULL));
    assert_null(tk_uri_format(NULL));
    tk_uri_free(NULL);
}

static void test_type_names(void **state)
{
    assert_string_equal(tk_uri_type_name(TK_URI_TYPE_PUBLIC), "public");
    assert_string_equal(tk_uri_type_name(TK_URI_TYPE_PRIVATE), "private");
    assert_string_equal(tk_uri_type_name(TK_URI_TYPE_CERT), "cert");
    assert_string_equal(tk_uri_type_name(TK_URI_TYPE_SECRET), "secret-key");
    assert_string_equal(tk_uri_type_name(TK_URI_TYPE_DATA), "data");
    assert_null(tk_uri_type_name(TK_URI_TYPE_ANY));
    assert_null(tk_uri_type_name((TK_URI_TYPE)99));
}

static void test_strerror(void **state)
{
    assert_string_equal(tk_uri_strerror(TK_URI_ERR_EMPTY), "empty URI");
    assert_string_equal(tk_uri_strerror(TK_URI_ERR_SCHEME), "not a pkcs11: URI");
    assert_string_equal(tk_uri_strerror(TK_URI_ERR_SYNTAX), "malformed attribute");
    assert_string_equal(tk_uri_strerror(TK_URI_ERR_UNKNOWN_ATTR), "unknown attribute");
    assert_string_equal(tk_uri_strerror(TK_URI_ERR_DUPLICATE_ATTR), "duplicate attribute");
    assert_string_equal(tk_uri_strerror(TK_URI_ERR_BAD_ESCAPE), "bad percent-escape");
    assert_string_equal(tk_uri_strerror(TK_URI_ERR_BAD_VALUE), "invalid attribute value");
    assert_string_equal(tk_uri_strerror(TK_URI_ERR_BAD_CHAR), "character must be percent-encoded");
    assert_string_equal(tk_uri_strerror(TK_URI_ERR_NOMEM), "out of memory");
    assert_non_null(tk_uri_strerror(TK_URI_OK));
    assert_non_null(tk_uri_strerror((TK_URI_ERR)99));
}

static void test_format_invalid_type(void **state)
{
    TK_URI uri;

    memset(&uri, 0, sizeof(uri));
    uri.type = (TK_URI_TYPE)99; /* dropping it would widen the match */
    assert_null(tk_uri_format(&uri));
}

/* ---- malformed URIs ---- */

static void test_bad_empty_scheme(void **state)
{
    check_bad(NULL, TK_URI_ERR_EMPTY, 0, "");
    check_bad("", TK_URI_ERR_EMPTY, 0, "");
    check_bad("pkcs12:object=a", TK_URI_ERR_SCHEME, 0, "");
    check_bad("pkcs11", TK_URI_ERR_SCHEME, 0, "");
    check_bad("pkcs11;object=a", TK_URI_ERR_SCHEME, 0, "");
    check_bad(" pkcs11:", TK_URI_ERR_SCHEME, 0, "");
    check_bad("file:/etc/passwd", TK_URI_ERR_SCHEME, 0, "");
}

/* What callers use to tell a URI from a label or a path: the parser's own rule. */
static void test_is_pkcs11(void **state)
{
    (void)state;
    assert_true(tk_uri_is_pkcs11("pkcs11:"));
    assert_true(tk_uri_is_pkcs11("PKCS11:object=a"));
    assert_true(tk_uri_is_pkcs11("Pkcs11:token=t"));
    assert_false(tk_uri_is_pkcs11(NULL));
    assert_false(tk_uri_is_pkcs11(""));
    assert_false(tk_uri_is_pkcs11("pkcs11"));
    assert_false(tk_uri_is_pkcs11("my-key"));
    assert_false(tk_uri_is_pkcs11(" pkcs11:"));
}

static void test_bad_syntax(void **state)
{
    check_bad("pkcs11:object", TK_URI_ERR_SYNTAX, 7, "object");
    check_bad("pkcs11:type=cert;object", TK_URI_ERR_SYNTAX, 17, "object");
    check_bad("pkcs11:=value", TK_URI_ERR_SYNTAX, 7, "");
    check_bad("pkcs11:object=a;;type=cert", TK_URI_ERR_SYNTAX, 16, "");
    check_bad("pkcs11:object=a;", TK_URI_ERR_SYNTAX, 16, "");
    check_bad("pkcs11:;", TK_URI_ERR_SYNTAX, 7, "");
    check_bad("pkcs11:?&", TK_URI_ERR_SYNTAX, 8, "");
    check_bad("pkcs11:?pin-source=a&", TK_URI_ERR_SYNTAX, 21, "");
    check_bad("pkcs11:?module-name", TK_URI_ERR_SYNTAX, 8, "module-name");
    /*
     * attr goes into messages that never show the URI: without '=' it
     * names only a known attribute at the start, never what follows.
     */
    check_bad("pkcs11:token=t1?pin-value:SECRET1234", TK_URI_ERR_SYNTAX, 16, "pin-value");
    check_bad("pkcs11:token=t1?SECRET1234", TK_URI_ERR_SYNTAX, 16, "");
    check_bad("pkcs11:token=t1?pin-valueSECRET1234", TK_URI_ERR_SYNTAX, 16, "");
    check_bad("pkcs11:object=k;secret1234", TK_URI_ERR_SYNTAX, 16, "");
    check_bad("pkcs11:object:secret1234", TK_URI_ERR_SYNTAX, 7, "object");
}

static void test_bad_unknown(void **state)
{
    char long_name[80];

    check_bad("pkcs11:foo=bar", TK_URI_ERR_UNKNOWN_ATTR, 7, "foo");
    check_bad("pkcs11:object=a;Object=b", TK_URI_ERR_UNKNOWN_ATTR, 16, "Object");
    check_bad("pkcs11:objecttype=private", TK_URI_ERR_UNKNOWN_ATTR, 7, "objecttype");
    check_bad("pkcs11:x-=1", TK_URI_ERR_UNKNOWN_ATTR, 7, "x-");
    /* attr stops at the first character a name cannot have. */
    check_bad("pkcs11:x-a.b=1", TK_URI_ERR_UNKNOWN_ATTR, 7, "x-a");
    check_bad("pkcs11:obj%65ct=a", TK_URI_ERR_UNKNOWN_ATTR, 7, "obj");
    check_bad("pkcs11:?pin-value:SECRET1234=x", TK_URI_ERR_UNKNOWN_ATTR, 8, "pin-value");
    check_bad("pkcs11:?:SECRET1234=x", TK_URI_ERR_UNKNOWN_ATTR, 8, "");
    /* Query attributes belong after '?', path attributes before it. */
    check_bad("pkcs11:object=a;pin-value=1234", TK_URI_ERR_UNKNOWN_ATTR, 16, "pin-value");
    check_bad("pkcs11:module-path=/lib/p11.so", TK_URI_ERR_UNKNOWN_ATTR, 7, "module-path");
    check_bad("pkcs11:?token=a", TK_URI_ERR_UNKNOWN_ATTR, 8, "token");
    check_bad("pkcs11:object=a?pin-source=x&id=%01", TK_URI_ERR_UNKNOWN_ATTR, 29, "id");
    /* err.attr is truncated to fit, still NUL-terminated. */
    snprintf(long_name, sizeof(long_name), "pkcs11:%s=1",
             "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH");
    check_bad(long_name, TK_URI_ERR_UNKNOWN_ATTR, 7, "abcdefghijklmnopqrstuvwxyz01234");
}

static void test_bad_duplicate(void **state)
{
    check_bad("pkcs11:object=a;object=b", TK_URI_ERR_DUPLICATE_ATTR, 16, "object");
    check_bad("pkcs11:id=%01;type=cert;id=%01", TK_URI_ERR_DUPLICATE_ATTR, 24, "id");
    check_bad("pkcs11:serial=;serial=", TK_URI_ERR_DUPLICATE_ATTR, 15, "serial");
    check_bad("pkcs11:?module-name=a&module-name=b", TK_URI_ERR_DUPLICATE_ATTR, 22, "module-name");
    /* RFC 7512 2.3: a PIN given both ways SHOULD be refused. */
    check_bad("pkcs11:?pin-source=file:/p&pin-value=1", TK_URI_ERR_DUPLICATE_ATTR, 27, "pin-value");
    check_bad("pkcs11:?pin-value=1&pin-source=file:/p", TK_URI_ERR_DUPLICATE_ATTR, 20, "pin-source");
}

static void test_bad_escape(void **state)
{
    check_bad("pkcs11:object=a%4", TK_URI_ERR_BAD_ESCAPE, 15, "object");
    check_bad("pkcs11:object=%zz", TK_URI_ERR_BAD_ESCAPE, 14, "object");
    check_bad("pkcs11:object=%4g;type=cert", TK_URI_ERR_BAD_ESCAPE, 14, "object");
    check_bad("pkcs11:object=%", TK_URI_ERR_BAD_ESCAPE, 14, "object");
    check_bad("pkcs11:id=%0", TK_URI_ERR_BAD_ESCAPE, 10, "id");
    check_bad("pkcs11:?pin-value=12%3", TK_URI_ERR_BAD_ESCAPE, 20, "pin-value");
    check_bad("pkcs11:x-vendor=%%", TK_URI_ERR_BAD_ESCAPE, 16, "x-vendor");
}

static void test_bad_value(void **state)
{
    check_bad("pkcs11:type=foo", TK_URI_ERR_BAD_VALUE, 12, "type");
    check_bad("pkcs11:type=Private", TK_URI_ERR_BAD_VALUE, 12, "type");
    check_bad("pkcs11:type=", TK_URI_ERR_BAD_VALUE, 12, "type");
    check_bad("pkcs11:slot-id=abc", TK_URI_ERR_BAD_VALUE, 15, "slot-id");
    check_bad("pkcs11:slot-id=-1", TK_URI_ERR_BAD_VALUE, 15, "slot-id");
    check_bad("pkcs11:slot-id=+1", TK_URI_ERR_BAD_VALUE, 15, "slot-id");
    check_bad("pkcs11:slot-id=", TK_URI_ERR_BAD_VALUE, 15, "slot-id");
    check_bad("pkcs11:slot-id=%201", TK_URI_ERR_BAD_VALUE, 15, "slot-id");
    check_bad("pkcs11:slot-id=0x10", TK_URI_ERR_BAD_VALUE, 15, "slot-id");
    check_bad("pkcs11:slot-id=99999999999999999999999", TK_URI_ERR_BAD_VALUE, 15, "slot-id");
    check_bad("pkcs11:library-version=1.2.3", TK_URI_ERR_BAD_VALUE, 23, "library-version");
    check_bad("pkcs11:library-version=256", TK_URI_ERR_BAD_VALUE, 23, "library-version");
    check_bad("pkcs11:library-version=1.256", TK_URI_ERR_BAD_VALUE, 23, "library-version");
    check_bad("pkcs11:library-version=1.", TK_URI_ERR_BAD_VALUE, 23, "library-version");
    check_bad("pkcs11:library-version=.1", TK_URI_ERR_BAD_VALUE, 23, "library-version");
    check_bad("pkcs11:library-version=", TK_URI_ERR_BAD_VALUE, 23, "library-version");
    check_bad("pkcs11:library-version=v1", TK_URI_ERR_BAD_VALUE, 23, "library-version");
    /* A decoded NUL would truncate a C string: refused for strings... */
    check_bad("pkcs11:object=abc%00xyz", TK_URI_ERR_BAD_VALUE, 17, "object");
    check_bad("pkcs11:token=%00", TK_URI_ERR_BAD_VALUE, 13, "token");
    check_bad("pkcs11:?pin-value=12%0034", TK_URI_ERR_BAD_VALUE, 20, "pin-value");
    check_bad("pkcs11:?module-path=/lib/a.so%00.txt", TK_URI_ERR_BAD_VALUE, 29, "module-path");
    /* ...but id is binary (see test_round_trip_awkward). */
}

static void test_bad_char(void **state)
{
    check_bad("pkcs11:object=my key", TK_URI_ERR_BAD_CHAR, 16, "object");
    check_bad("pkcs11:object=\"k\"", TK_URI_ERR_BAD_CHAR, 14, "object");
    check_bad("pkcs11:object=<k>", TK_URI_ERR_BAD_CHAR, 14, "object");
    check_bad("pkcs11:object=k>", TK_URI_ERR_BAD_CHAR, 15, "object");
    check_bad("pkcs11:object=k#frag", TK_URI_ERR_BAD_CHAR, 15, "object");
    check_bad("pkcs11:object=a/b", TK_URI_ERR_BAD_CHAR, 15, "object");
    check_bad("pkcs11:object=a|b", TK_URI_ERR_BAD_CHAR, 15, "object");
    check_bad("pkcs11:object=a\tb", TK_URI_ERR_BAD_CHAR, 15, "object");
    check_bad("pkcs11:object=a\x01", TK_URI_ERR_BAD_CHAR, 15, "object");
    check_bad("pkcs11:object=a\x7f", TK_URI_ERR_BAD_CHAR, 15, "object");
    check_bad("pkcs11:object=\xc3\xa1", TK_URI_ERR_BAD_CHAR, 14, "object");
    check_bad("pkcs11:object=a\nb", TK_URI_ERR_BAD_CHAR, 15, "object");
    check_bad("pkcs11:object=a\\b", TK_URI_ERR_BAD_CHAR, 15, "object");
    check_bad("pkcs11:id=\xff", TK_URI_ERR_BAD_CHAR, 10, "id");
    check_bad("pkcs11:x-v=a b", TK_URI_ERR_BAD_CHAR, 12, "x-v");
    check_bad("pkcs11:?pin-source=file:/a;b", TK_URI_ERR_BAD_CHAR, 26, "pin-source");
    check_bad("pkcs11:?module-path=/a b", TK_URI_ERR_BAD_CHAR, 22, "module-path");
    check_bad("pkcs11:object=k?pin-value=a#b", TK_URI_ERR_BAD_CHAR, 27, "pin-value");
    /* In a name the attribute is not known yet, so attr is "". */
    check_bad("pkcs11:ob ject=a", TK_URI_ERR_BAD_CHAR, 9, "");
    check_bad("pkcs11: object=a", TK_URI_ERR_BAD_CHAR, 7, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_empty),
        cmocka_unit_test(test_rfc_pubkey),
        cmocka_unit_test(test_rfc_private_pin_source),
        cmocka_unit_test(test_rfc_softtoken_cert),
        cmocka_unit_test(test_rfc_module_name),
        cmocka_unit_test(test_rfc_module_path),
        cmocka_unit_test(test_rfc_pin_value),
        cmocka_unit_test(test_rfc_slot_description),
        cmocka_unit_test(test_rfc_library),
        cmocka_unit_test(test_rfc_token_percent),
        cmocka_unit_test(test_rfc_token_percent_cert),
        cmocka_unit_test(test_rfc_semicolon),
        cmocka_unit_test(test_rfc_utf8),
        cmocka_unit_test(test_rfc_vendor),
        cmocka_unit_test(test_rfc_round_trips),
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_round_trip_awkward),
        cmocka_unit_test(test_round_trip_all_bytes),
        cmocka_unit_test(test_dup),
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_format_invalid_type),
        cmocka_unit_test(test_bad_empty_scheme),
        cmocka_unit_test(test_is_pkcs11),
        cmocka_unit_test(test_bad_syntax),
        cmocka_unit_test(test_bad_unknown),
        cmocka_unit_test(test_bad_duplicate),
        cmocka_unit_test(test_bad_escape),
        cmocka_unit_test(test_bad_value),
        cmocka_unit_test(test_bad_char),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
