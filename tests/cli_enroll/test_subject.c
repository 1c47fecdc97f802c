/*
 * Unit tests for tokenkey csr's --subject and --san parsers
 * (tools/subject.c, tools/san.c): good input gives exactly the expected
 * DER; malformed input is refused with the exact line a user sees, and
 * leaves OpenSSL's error queue as it was.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "subject.h"

/* ---- distinguished names ---- */

typedef struct {
    const char *type, *value;
    int set; /* 0: new RDN; -1: joins the previous one */
} ENTRY;

static X509_NAME *expected_name(const ENTRY *e, size_t n)
{
    X509_NAME *name = X509_NAME_new();

    assert_non_null(name);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(X509_NAME_add_entry_by_txt(name, e[i].type, MBSTRING_UTF8,
                                                    (const unsigned char *)e[i].value, -1, -1,
                                                    e[i].set), 1);
    return name;
}

static void assert_same_der_name(const X509_NAME *got, const X509_NAME *want)
{
    unsigned char *a = NULL, *b = NULL;
    int alen = i2d_X509_NAME(got, &a), blen = i2d_X509_NAME(want, &b);

    assert_true(alen > 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, (size_t)alen);
    OPENSSL_free(a);
    OPENSSL_free(b);
}

static void subject_is(const char *text, const ENTRY *e, size_t n)
{
    X509_NAME *got = NULL, *want = expected_name(e, n);
    char err[512] = "untouched";

    if (!tk_parse_subject(text, &got, err, sizeof(err)))
        fail_msg("'%s' refused: %s", text, err);
    assert_string_equal(err, "");
    assert_same_der_name(got, want);
    X509_NAME_free(got);
    X509_NAME_free(want);
    assert_int_equal(ERR_peek_error(), 0);
}

static void subject_refused(const char *text, const char *why)
{
    X509_NAME *got = NULL;
    char err[512] = "";

    assert_int_equal(tk_parse_subject(text, &got, err, sizeof(err)), 0);
    assert_null(got);
    assert_string_equal(err, why);
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_subject_openssl_form(void **state)
{
    static const ENTRY acme[] = { { "C", "DE", 0 }, { "O", "Acme/Ops", 0 },
                                  { "CN", "client 1", 0 } };
    static const ENTRY multi[] = { { "O", "Acme", 0 }, { "CN", "a+b", 0 }, { "OU", "x", -1 } };

    (void)state;
    subject_is("/C=DE/O=Acme\\/Ops/CN=client 1", acme, 3);
    subject_is("/O=Acme/CN=a\\+b+OU=x", multi, 3);
}

static void test_subject_rfc4514_form(void **state)
{
    /* RFC 4514 lists the last RDN first: the same name as /C=DE/O=Acme,Inc/CN=client 1. */
    static const ENTRY acme[] = { { "C", "DE", 0 }, { "O", "Acme,Inc", 0 },
                                  { "CN", "client 1", 0 } };
    static const ENTRY escapes[] = { { "CN", "a=b;c \"d\" #1 ", 0 } };
    static const ENTRY types[] = { { "DC", "com", 0 }, { "DC", "example", 0 },
                                   { "UID", "jdoe", 0 }, { "emailAddress", "j@example.com", 0 } };
    static const ENTRY oid[] = { { "CN", "by oid", 0 } };
    static const ENTRY utf8[] = { { "CN", "J\xc3\xbcrgen", 0 } };
    /* A '/' in a value is taken, but not before a type name and '=' (test_subject_refused). */
    static const ENTRY slashes[] = { { "CN", "a/b", 0 } };
    static const ENTRY not_a_type[] = { { "CN", "path/x=1", 0 } };
    static const ENTRY escaped_slash[] = { { "CN", "a/O=b", 0 } };

    (void)state;
    subject_is("CN=a/b", slashes, 1);
    subject_is("CN=path/x=1", not_a_type, 1);
    subject_is("CN=a\\2FO=b", escaped_slash, 1);
    subject_is("CN=client 1,O=Acme\\,Inc,C=DE", acme, 3);
    subject_is("CN = client 1 , O=Acme\\2CInc, C=DE", acme, 3);
    subject_is("cn=a=b\\;c \\\"d\\\" #1\\ ", escapes, 1);
    subject_is("emailAddress=j@example.com,userId=jdoe,dc=example,domainComponent=com", types, 4);
    subject_is("2.5.4.3=by oid", oid, 1);
    subject_is("CN=J\\C3\\BCrgen", utf8, 1);
}

static void test_subject_refused(void **state)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        { "", "the subject is empty: give e.g. '/CN=client' or 'CN=client,O=Acme'" },
        { "/", "the subject is empty: give e.g. '/CN=client' or 'CN=client,O=Acme'" },
        { "/CN=a/", "the subject ends with '/': remove it, or write '\\/' for a '/' in the last "
                    "value" },
        { "//CN=a", "empty attribute at offset 1: remove the extra '/'" },
        { "/CN=C++", "empty attribute at offset 6: remove the extra '+' (or write '\\+' for a "
                     "plus sign)" },
        { "/CN=", "CN has an empty value: give one, or leave CN out" },
        { "/CN", "'CN' is not TYPE=value (write '\\/' for a '/' in a value)" },
        { "CN=a,b", "'b' is not TYPE=value (write '\\,' for a ',' in a value)" },
        { "CN=a;O=b", "';' in the value of CN must be escaped as '\\;' (RFC 4514)" },
        { "CN=a\\q", "bad escape '\\q' in the value of CN: '\\' must precede one of ,+\"\\<>;=# "
                     "or a space, or two hex digits" },
        { "/CN=a\\", "the subject ends with a lone '\\': write '\\\\' for a backslash" },
        { "CN=#0403616263", "the value of CN starts with '#' (RFC 4514 hex form, not supported): "
                            "write the value as text, or '\\#' for a '#'" },
        { "sha256=x", "unknown attribute type 'sha256': use C, ST, L, O, OU, CN, DC, UID, "
                      "emailAddress, serialNumber (or a dotted OID)" },
        { "=x", "an attribute has no type before '=': write TYPE=value, e.g. CN=client" },
        { "C=Germany", "'Germany' is too long for C: at most 2 characters (X.520)" },
        { "2.5.4.6=DEU", "'DEU' is too long for 2.5.4.6: at most 2 characters (X.520)" },
        { "C=D", "'D' is too short for C: at least 2 characters (X.520)" },
        { "emailAddress=j\xc3\xbc@x", "'j\xc3\xbc@x' has characters emailAddress does not allow "
                                      "(ASCII only)" },
        { "CN=\\ff", "the value of CN is not valid UTF-8: '\xff'" },
        { "/CN=a\tb", "the value of CN ('a\\x09b') holds a control character: remove it" },
        { "CN=a\\0Ab", "the value of CN ('a\\x0ab') holds a control character: remove it" },
        { "9.1=x", "unknown attribute type '9.1': use C, ST, L, O, OU, CN, DC, UID, "
                   "emailAddress, serialNumber (or a dotted OID)" },
        /* OpenSSL's form with its leading '/' forgotten: one odd CN otherwise. */
        { "CN=client/O=Acme/C=DE", "the value of CN holds '/O=': it reads as OpenSSL's form "
                                   "without its leading '/': write '/CN=client/O=Acme/C=DE' (or "
                                   "'\\2F' for a '/' that belongs in the value)" },
        { "CN=a/organizationName=b", "the value of CN holds '/organizationName=': it reads as "
                                     "OpenSSL's form without its leading '/': write "
                                     "'/CN=a/organizationName=b' (or '\\2F' for a '/' that "
                                     "belongs in the value)" },
    };
    char longcn[3 + 65 + 1], why[160];

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        subject_refused(bad[i].text, bad[i].why);
    /* X.520 ub-common-name is 64; messages show the first 60 bytes of a value. */
    memcpy(longcn, "CN=", 3);
    memset(longcn + 3, 'a', 65);
    longcn[3 + 65] = '\0';
    snprintf(why, sizeof(why), "'%.60s...' is too long for CN: at most 64 characters (X.520)",
             longcn + 3);
    subject_refused(longcn, why);
}

static void test_subject_limits(void **state)
{
    char *big = OPENSSL_malloc(TK_SUBJECT_MAX_LEN + 2);
    char err[8];
    X509_NAME *got = NULL;

    (void)state;
    assert_non_null(big);
    memset(big, 'a', TK_SUBJECT_MAX_LEN + 1);
    big[TK_SUBJECT_MAX_LEN + 1] = '\0';
    subject_refused(big, "the subject is longer than 4096 bytes");
    OPENSSL_free(big);
    /* A short error buffer is cut, never overrun; NULL is fine too. */
    assert_int_equal(tk_parse_subject("/CN=", &got, err, sizeof(err)), 0);
    assert_string_equal(err, "CN has ");
    assert_int_equal(tk_parse_subject("/CN=", &got, NULL, 0), 0);
    assert_int_equal(tk_parse_subject(NULL, &got, NULL, 0), 0);
    assert_null(got);
}

/* ---- subject alternative names ---- */

static GENERAL_NAME *gn_text(int type, const char *v)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();

    assert_non_null(gn);
    assert_non_null(s);
    assert_int_equal(ASN1_STRING_set(s, v, -1), 1);
    GENERAL_NAME_set0_value(gn, type, s);
    return gn;
}

static GENERAL_NAME *gn_ip(int af, const char *text)
{
    unsigned char addr[16];
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();

    assert_int_equal(inet_pton(af, text, addr), 1);
    assert_int_equal(ASN1_OCTET_STRING_set(s, addr, af == AF_INET ? 4 : 16), 1);
    GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
    return gn;
}

static void assert_same_der_names(GENERAL_NAMES *got, GENERAL_NAMES *want)
{
    unsigned char *a = NULL, *b = NULL;
    int alen = i2d_GENERAL_NAMES(got, &a), blen = i2d_GENERAL_NAMES(want, &b);

    assert_true(alen > 0);
    assert_int_equal(alen, blen);
    assert_memory_equal(a, b, (size_t)alen);
    OPENSSL_free(a);
    OPENSSL_free(b);
}

static void test_san_good(void **state)
{
    GENERAL_NAMES *got = NULL, *want = GENERAL_NAMES_new();
    char err[512];

    (void)state;
    sk_GENERAL_NAME_push(want, gn_text(GEN_DNS, "client.example.com"));
    sk_GENERAL_NAME_push(want, gn_text(GEN_DNS, "*.kafka.example.com"));
    sk_GENERAL_NAME_push(want, gn_ip(AF_INET, "192.0.2.1"));
    sk_GENERAL_NAME_push(want, gn_ip(AF_INET6, "::1"));
    sk_GENERAL_NAME_push(want, gn_ip(AF_INET6, "2001:db8::7"));
    sk_GENERAL_NAME_push(want, gn_text(GEN_EMAIL, "ops+kafka@example.com"));
    sk_GENERAL_NAME_push(want, gn_text(GEN_URI, "spiffe://example.com/ns/prod/sa/client"));
    sk_GENERAL_NAME_push(want, gn_text(GEN_URI, "https://h.example/a%2Cb?x=1"));
    if (!tk_parse_san("DNS:client.example.com, dns:*.kafka.example.com,IP:192.0.2.1,IP:::1,"
                      "ip:2001:db8::7,email:ops+kafka@example.com,"
                      "URI:spiffe://example.com/ns/prod/sa/client,uri:https://h.example/a%2Cb?x=1",
                      &got, err, sizeof(err)))
        fail_msg("refused: %s", err);
    assert_same_der_names(got, want);
    GENERAL_NAMES_free(got);
    GENERAL_NAMES_free(want);
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_san_refused(void **state)
{
    static const struct {
        const char *text, *why;
    } bad[] = {
        { "", "no names: give e.g. DNS:client.example.com,IP:192.0.2.1" },
        { "client.example.com", "'client.example.com' has no type: write DNS:name, IP:address, "
                                "email:address or URI:uri (a ',' inside a URI must be written "
                                "%2C)" },
        { "URI:https://h/a,b", "'b' has no type: write DNS:name, IP:address, email:address or "
                               "URI:uri (a ',' inside a URI must be written %2C)" },
        { "DNS:a,,DNS:b", "empty name in the list at offset 6: remove the extra ','" },
        { "DNS:a,", "empty name in the list at offset 6: remove the extra ','" },
        { "DNS:", "'DNS:' has an empty value" },
        { "dir:CN=x", "unknown name type 'dir' in 'dir:CN=x': use DNS, IP, email or URI" },
        { "DNS:192.0.2.1", "'DNS:192.0.2.1' is an IP address: write IP:192.0.2.1" },
        { "DNS:my_host.example", "'DNS:my_host.example' is not a valid DNS name: labels of "
                                 "letters, digits and '-', separated by dots, no trailing dot; "
                                 "'*' only as the whole first label" },
        { "DNS:host.example.", "'DNS:host.example.' is not a valid DNS name: labels of letters, "
                               "digits and '-', separated by dots, no trailing dot; '*' only as "
                               "the whole first label" },
        { "DNS:*.com", "'DNS:*.com' is not a valid DNS name: labels of letters, digits and '-', "
                       "separated by dots, no trailing dot; '*' only as the whole first label" },
        { "DNS:a.*.example", "'DNS:a.*.example' is not a valid DNS name: labels of letters, "
                             "digits and '-', separated by dots, no trailing dot; '*' only as the "
                             "whole first label" },
        { "IP:192.0.2", "'192.0.2' is not an IP address: write IPv4 as 192.0.2.1 or IPv6 as "
                        "2001:db8::1 (no port, prefix or zone)" },
        { "IP:10.0.0.0/8", "'10.0.0.0/8' is not an IP address: write IPv4 as 192.0.2.1 or IPv6 "
                           "as 2001:db8::1 (no port, prefix or zone)" },
        { "IP:fe80::1%eth0", "'fe80::1%eth0' is not an IP address: write IPv4 as 192.0.2.1 or "
                             "IPv6 as 2001:db8::1 (no port, prefix or zone)" },
        { "email:ops", "'email:ops' is not an email address: write email:name@example.com" },
        { "email:a..b@example.com", "'email:a..b@example.com' is not an email address: write "
                                    "email:name@example.com" },
        { "URI:example.com/x", "'URI:example.com/x' is not a URI: it needs a scheme "
                               "(spiffe://..., https://host/...), printable ASCII and %XX "
                               "escapes only" },
        { "URI:https://", "'URI:https://' is not a URI: it needs a scheme (spiffe://..., "
                          "https://host/...), printable ASCII and %XX escapes only" },
        { "URI:http://a b", "'URI:http://a b' is not a URI: it needs a scheme (spiffe://..., "
                            "https://host/...), printable ASCII and %XX escapes only" },
        { "DNS:a.example,DNS:A.example", "'DNS:A.example' is listed twice: give each name once" },
        { "X:a\nb", "unknown name type 'X' in 'X:a\\x0ab': use DNS, IP, email or URI" },
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        GENERAL_NAMES *got = NULL;
        char err[512] = "";

        assert_int_equal(tk_parse_san(bad[i].text, &got, err, sizeof(err)), 0);
        assert_null(got);
        assert_string_equal(err, bad[i].why);
        assert_int_equal(ERR_peek_error(), 0);
    }
}

static void test_san_limits(void **state)
{
    char text[TK_SAN_MAX_NAMES * 8 + 16];
    GENERAL_NAMES *got = NULL;
    char err[128];
    size_t o = 0;

    (void)state;
    for (int i = 0; i <= TK_SAN_MAX_NAMES; i++)
        o += (size_t)snprintf(text + o, sizeof(text) - o, "%sDNS:h%d", i ? "," : "", i);
    assert_int_equal(tk_parse_san(text, &got, err, sizeof(err)), 0);
    assert_string_equal(err, "more than 64 names");
    assert_int_equal(tk_parse_san(NULL, &got, NULL, 0), 0);
    assert_null(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_openssl_form),
        cmocka_unit_test(test_subject_rfc4514_form),
        cmocka_unit_test(test_subject_refused),
        cmocka_unit_test(test_subject_limits),
        cmocka_unit_test(test_san_good),
        cmocka_unit_test(test_san_refused),
        cmocka_unit_test(test_san_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
