/*
 * --san parsing (see subject.h): RFC 5280 section 4.2.1.6 general names
 * from "DNS:...,IP:...,email:...,URI:...". Pure: no I/O; fuzzed.
 */
#include <arpa/inet.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "subject.h"
#include "subject_text.h"

/* RFC 1035 section 2.3.1 labels; a '*' only as the whole leftmost label (RFC 6125 6.4.3). */
static int dns_name_ok(const char *s, size_t len, int wildcard_ok)
{
    size_t i = 0, labels = 0;

    if (len == 0 || len > 253)
        return 0;
    if (wildcard_ok && len > 2 && s[0] == '*' && s[1] == '.')
        i = 2, labels = 1;
    while (i <= len) {
        size_t start = i;

        while (i < len && s[i] != '.') {
            int c = (unsigned char)s[i];

            if (!tk_text_is_alpha(c) && !tk_text_is_digit(c) && c != '-')
                return 0;
            i++;
        }
        if (i == start || i - start > 63 || s[start] == '-' || s[i - 1] == '-')
            return 0;
        labels++;
        i++; /* past the '.', or past the end */
    }
    /* "*.com": a wildcard needs a name under it, not a top-level domain. */
    return !(labels <= 2 && s[0] == '*');
}

/* RFC 5321 section 4.1.2 dot-atom local part (quoted local parts are refused). */
static int email_ok(const char *s, size_t len)
{
    const char *at = memchr(s, '@', len);
    size_t local;

    if (at == NULL)
        return 0;
    local = (size_t)(at - s);
    if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.')
        return 0;
    for (size_t i = 0; i < local; i++) {
        int c = (unsigned char)s[i];

        /* strchr would find the terminating NUL: the text has none, but say so. */
        if (c == '\0' || (c == '.' && s[i + 1] == '.'))
            return 0;
        if (!tk_text_is_alpha(c) && !tk_text_is_digit(c)
            && strchr("!#$%&'*+-/=?^_`{|}~.", c) == NULL)
            return 0;
    }
    return dns_name_ok(at + 1, len - local - 1, 0);
}

/* RFC 3986 section 3.1 scheme, then printable characters, %XX escapes, a host after "//". */
static int uri_ok(const char *s, size_t len)
{
    size_t i = 0, host, end;
    const char *at;

    if (len == 0 || !tk_text_is_alpha(s[0]))
        return 0;
    while (i < len && (tk_text_is_alpha(s[i]) || tk_text_is_digit(s[i]) || s[i] == '+'
                       || s[i] == '-' || s[i] == '.'))
        i++;
    if (i >= len || s[i] != ':' || i + 1 >= len)
        return 0;
    for (size_t k = i + 1; k < len; k++) {
        int c = (unsigned char)s[k];

        if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|}", c) != NULL)
            return 0;
        if (c == '%' && (k + 2 >= len || tk_text_hex_value(s[k + 1]) < 0
                         || tk_text_hex_value(s[k + 2]) < 0))
            return 0;
    }
    if (len - i < 3 || s[i + 1] != '/' || s[i + 2] != '/')
        return 1;
    /* RFC 5280 4.2.1.6: with an authority ("//"), the host must be there. */
    host = end = i + 3;
    while (end < len && s[end] != '/' && s[end] != '?' && s[end] != '#')
        end++;
    if ((at = memchr(s + host, '@', end - host)) != NULL)
        host = (size_t)(at - s) + 1;
    return end > host && s[host] != ':';
}

/* v as a C string in buf (for inet_pton); 0 when it does not fit. */
static int copy_cstr(char *buf, size_t cap, const char *v, size_t len)
{
    if (len >= cap)
        return 0;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return 1;
}

static GENERAL_NAME *ia5_name(int type, const char *v, size_t len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *s = ASN1_IA5STRING_new();

    if (gn == NULL || s == NULL || !ASN1_STRING_set(s, v, (int)len)) {
        GENERAL_NAME_free(gn);
        ASN1_IA5STRING_free(s);
        return NULL;
    }
    GENERAL_NAME_set0_value(gn, type, s);
    return gn;
}

static GENERAL_NAME *ip_name(const unsigned char *addr, size_t len)
{
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();

    if (gn == NULL || s == NULL || !ASN1_OCTET_STRING_set(s, addr, (int)len)) {
        GENERAL_NAME_free(gn);
        ASN1_OCTET_STRING_free(s);
        return NULL;
    }
    GENERAL_NAME_set0_value(gn, GEN_IPADD, s);
    return gn;
}

/* One "TYPE:value" item (already trimmed); NULL with err set. */
static GENERAL_NAME *san_item(const char *item, size_t len, char *err, size_t errlen)
{
    const char *colon = memchr(item, ':', len);
    const char *v;
    size_t tlen, vlen;
    char ip[64];
    unsigned char addr[16];
    TK_QUOTED q, q2;

    tk_text_quote(&q, item, len);
    if (colon == NULL) {
        tk_text_fail(err, errlen, "'%s' has no type: write DNS:name, IP:address, "
                     "email:address or URI:uri (a ',' inside a URI must be written %%2C)", q.s);
        return NULL;
    }
    tlen = (size_t)(colon - item);
    v = colon + 1;
    vlen = len - tlen - 1;
    if (vlen == 0) {
        tk_text_fail(err, errlen, "'%s' has an empty value", q.s);
        return NULL;
    }
    if (tk_text_caseeq(item, tlen, "DNS")) {
        if (copy_cstr(ip, sizeof(ip), v, vlen) && inet_pton(AF_INET, ip, addr) == 1) {
            tk_text_fail(err, errlen, "'%s' is an IP address: write IP:%s", q.s, ip);
            return NULL;
        }
        if (!dns_name_ok(v, vlen, 1)) {
            tk_text_fail(err, errlen, "'%s' is not a valid DNS name: labels of letters, digits "
                         "and '-', separated by dots, no trailing dot; '*' only as the whole "
                         "first label", q.s);
            return NULL;
        }
        return ia5_name(GEN_DNS, v, vlen);
    }
    if (tk_text_caseeq(item, tlen, "IP")) {
        int af = memchr(v, ':', vlen) != NULL ? AF_INET6 : AF_INET;

        if (!copy_cstr(ip, sizeof(ip), v, vlen) || inet_pton(af, ip, addr) != 1) {
            tk_text_fail(err, errlen, "'%s' is not an IP address: write IPv4 as 192.0.2.1 or "
                         "IPv6 as 2001:db8::1 (no port, prefix or zone)",
                         tk_text_quote(&q2, v, vlen));
            return NULL;
        }
        return ip_name(addr, af == AF_INET ? 4 : 16);
    }
    if (tk_text_caseeq(item, tlen, "email")) {
        if (!email_ok(v, vlen)) {
            tk_text_fail(err, errlen, "'%s' is not an email address: write "
                         "email:name@example.com", q.s);
            return NULL;
        }
        return ia5_name(GEN_EMAIL, v, vlen);
    }
    if (tk_text_caseeq(item, tlen, "URI")) {
        if (!uri_ok(v, vlen)) {
            tk_text_fail(err, errlen, "'%s' is not a URI: it needs a scheme (spiffe://..., "
                         "https://host/...), printable ASCII and %%XX escapes only", q.s);
            return NULL;
        }
        return ia5_name(GEN_URI, v, vlen);
    }
    tk_text_fail(err, errlen, "unknown name type '%s' in '%s': use DNS, IP, email or URI",
                 tk_text_quote(&q2, item, tlen), q.s);
    return NULL;
}

/* DNS names compare without case (RFC 4343); everything else byte for byte. */
static int same_name(GENERAL_NAME *a, GENERAL_NAME *b)
{
    if (a->type == GEN_DNS && b->type == GEN_DNS)
        return tk_text_caseeq((const char *)ASN1_STRING_get0_data(a->d.dNSName),
                              (size_t)ASN1_STRING_length(a->d.dNSName),
                              (const char *)ASN1_STRING_get0_data(b->d.dNSName))
               && ASN1_STRING_length(a->d.dNSName) == ASN1_STRING_length(b->d.dNSName);
    return GENERAL_NAME_cmp(a, b) == 0;
}

int tk_parse_san(const char *text, GENERAL_NAMES **out, char *err, size_t errlen)
{
    GENERAL_NAMES *names;
    size_t len, i = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (text == NULL || out == NULL || text[0] == '\0') {
        tk_text_fail(err, errlen, "no names: give e.g. DNS:client.example.com,IP:192.0.2.1");
        return 0;
    }
    len = strlen(text);
    if (len > TK_SAN_MAX_LEN) {
        tk_text_fail(err, errlen, "the name list is longer than %d bytes", TK_SAN_MAX_LEN);
        return 0;
    }
    if ((names = GENERAL_NAMES_new()) == NULL) {
        tk_text_fail(err, errlen, "out of memory");
        return 0;
    }
    while (i <= len) {
        size_t start = i, end;
        GENERAL_NAME *gn;

        while (i < len && text[i] != ',')
            i++;
        end = i++;
        while (start < end && text[start] == ' ')
            start++;
        while (end > start && text[end - 1] == ' ')
            end--;
        if (end == start) {
            tk_text_fail(err, errlen, "empty name in the list at offset %zu: remove the extra "
                         "','", start);
            goto bad;
        }
        if (sk_GENERAL_NAME_num(names) >= TK_SAN_MAX_NAMES) {
            tk_text_fail(err, errlen, "more than %d names", TK_SAN_MAX_NAMES);
            goto bad;
        }
        ERR_set_mark();
        gn = san_item(text + start, end - start, err, errlen);
        ERR_pop_to_mark();
        if (gn == NULL) {
            if (err != NULL && errlen > 0 && err[0] == '\0')
                tk_text_fail(err, errlen, "out of memory");
            goto bad;
        }
        for (int k = 0; k < sk_GENERAL_NAME_num(names); k++)
            if (same_name(sk_GENERAL_NAME_value(names, k), gn)) {
                TK_QUOTED q;

                tk_text_fail(err, errlen, "'%s' is listed twice: give each name once",
                             tk_text_quote(&q, text + start, end - start));
                GENERAL_NAME_free(gn);
                goto bad;
            }
        if (!sk_GENERAL_NAME_push(names, gn)) {
            GENERAL_NAME_free(gn);
            tk_text_fail(err, errlen, "out of memory");
            goto bad;
        }
    }
    *out = names;
    return 1;
bad:
    GENERAL_NAMES_free(names);
    return 0;
}
