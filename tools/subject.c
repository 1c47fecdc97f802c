/*
 * --subject parsing (see subject.h). Pure: no I/O. Every rejection is one
 * line that quotes the offending text (made printable and bounded, since
 * the input may be anything) and says what to write instead.
 */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>

#include "subject.h"
#include "subject_text.h"

/* The name attributes a client certificate may carry (X.520, RFC 4519, PKCS#9). */
static const struct {
    const char *sn, *ln;
    int nid;
} dn_types[] = {
    { "C", "countryName", NID_countryName },
    { "ST", "stateOrProvinceName", NID_stateOrProvinceName },
    { "L", "localityName", NID_localityName },
    { "O", "organizationName", NID_organizationName },
    { "OU", "organizationalUnitName", NID_organizationalUnitName },
    { "CN", "commonName", NID_commonName },
    { "street", "streetAddress", NID_streetAddress },
    { "DC", "domainComponent", NID_domainComponent },
    { "UID", "userId", NID_userId },
    { "emailAddress", "emailAddress", NID_pkcs9_emailAddress },
    { "serialNumber", "serialNumber", NID_serialNumber },
    { "title", "title", NID_title },
    { "SN", "surname", NID_surname },
    { "GN", "givenName", NID_givenName },
    { "initials", "initials", NID_initials },
    { "pseudonym", "pseudonym", NID_pseudonym },
    { "dnQualifier", "dnQualifier", NID_dnQualifier },
    { "generationQualifier", "generationQualifier", NID_generationQualifier },
    { "businessCategory", "businessCategory", NID_businessCategory },
    { "postalCode", "postalCode", NID_postalCode },
    { "name", "name", NID_name },
};

typedef struct {
    int nid;              /* NID_undef: obj holds a dotted OID */
    ASN1_OBJECT *obj;
    char type[72];        /* as written, for messages */
    unsigned char *value; /* decoded bytes (no NUL inside: control bytes are refused) */
    size_t len;
    int rdn;              /* which RDN, 1-based, in the order written */
} DN_ATTR;

typedef struct {
    const char *text;
    size_t len;
    int openssl;          /* "/A=b/C=d" rather than RFC 4514 */
    char sep;             /* '/' or ',' */
    DN_ATTR attrs[TK_SUBJECT_MAX_ATTRS];
    size_t n;
    int nrdn;
    unsigned char *buf;   /* decoded values, back to back */
    size_t used;
    char *err;
    size_t errlen;
} DN_PARSE;

/* One error line for the user (subject_text.h). */
#define DN_FAIL(p, ...) tk_text_fail((p)->err, (p)->errlen, __VA_ARGS__)

/* RFC 4514 section 3: numericoid = number 1*( DOT number ), no leading zeros. */
static int numeric_oid(const char *s, size_t len)
{
    size_t arcs = 0, i = 0;

    for (;;) {
        size_t start = i;

        while (i < len && tk_text_is_digit(s[i]))
            i++;
        if (i == start || (s[start] == '0' && i - start > 1))
            return 0;
        arcs++;
        if (i == len)
            break;
        if (s[i++] != '.')
            return 0;
    }
    /* X.660: the first arc is 0, 1 or 2. */
    return arcs >= 2 && s[0] <= '2' && s[1] == '.';
}

static int set_type(DN_PARSE *p, DN_ATTR *a, const char *type, size_t len)
{
    TK_QUOTED q;
    size_t i;

    if (len == 0) {
        DN_FAIL(p, "an attribute has no type before '=': write TYPE=value, "
                "e.g. CN=client");
        return 0;
    }
    memcpy(a->type, type, len < sizeof(a->type) ? len : sizeof(a->type) - 1);
    a->type[len < sizeof(a->type) ? len : sizeof(a->type) - 1] = '\0';
    for (i = 0; i < sizeof(dn_types) / sizeof(dn_types[0]); i++)
        if (tk_text_caseeq(type, len, dn_types[i].sn)
            || tk_text_caseeq(type, len, dn_types[i].ln)) {
            a->nid = dn_types[i].nid;
            return 1;
        }
    if (len < sizeof(a->type) && numeric_oid(type, len)) {
        ERR_set_mark();
        a->obj = OBJ_txt2obj(a->type, 1);
        ERR_pop_to_mark();
        if (a->obj != NULL) {
            a->nid = NID_undef;
            return 1;
        }
    }
    DN_FAIL(p, "unknown attribute type '%s': use C, ST, L, O, OU, CN, DC, UID, "
            "emailAddress, serialNumber (or a dotted OID)", tk_text_quote(&q, type, len));
    return 0;
}

/*
 * Whether s (after a '/' in an RFC 4514 value) starts "TYPE=" with TYPE a
 * name this parser knows: 'CN=client/O=Acme' is OpenSSL's form with its
 * leading '/' forgotten far more often than a common name with "/O=" in it.
 */
static size_t slash_type_len(const char *s, size_t len)
{
    size_t n = 0;

    while (n < len && tk_text_is_alpha(s[n]))
        n++;
    if (n == 0 || n >= len || s[n] != '=')
        return 0;
    for (size_t i = 0; i < sizeof(dn_types) / sizeof(dn_types[0]); i++)
        if (tk_text_caseeq(s, n, dn_types[i].sn) || tk_text_caseeq(s, n, dn_types[i].ln))
            return n;
    return 0;
}

/* RFC 4514 section 2.4: the characters a value must escape, and what '\' may precede. */
static int rfc4514_special(int c)
{
    return c != '\0' && strchr(",+\"\\<>;=# ", c) != NULL;
}

/* The value starting at *pos, decoded into p->buf, up to an unescaped separator. */
static int parse_value(DN_PARSE *p, size_t *pos, DN_ATTR *a)
{
    const char *t = p->text;
    size_t i = *pos, keep;
    unsigned char *out = p->buf + p->used;
    size_t n = 0;
    TK_QUOTED q, q2;

    if (!p->openssl) {
        while (i < p->len && t[i] == ' ')
            i++;
        if (i < p->len && t[i] == '#') {
            DN_FAIL(p, "the value of %s starts with '#' (RFC 4514 hex form, not "
                    "supported): write the value as text, or '\\#' for a '#'", a->type);
            return 0;
        }
    }
    keep = 0;
    while (i < p->len && t[i] != p->sep && t[i] != '+') {
        unsigned char c = (unsigned char)t[i];

        if (c == '\\') {
            if (i + 1 >= p->len) {
                DN_FAIL(p, "the subject ends with a lone '\\': write '\\\\' for a "
                        "backslash");
                return 0;
            }
            if (p->openssl || rfc4514_special(t[i + 1])) {
                out[n++] = (unsigned char)t[i + 1];
                i += 2;
            } else if (i + 2 < p->len && tk_text_hex_value(t[i + 1]) >= 0
                       && tk_text_hex_value(t[i + 2]) >= 0) {
                out[n++] = (unsigned char)(tk_text_hex_value(t[i + 1]) * 16
                                           + tk_text_hex_value(t[i + 2]));
                i += 3;
            } else {
                DN_FAIL(p, "bad escape '%s' in the value of %s: '\\' must precede "
                        "one of ,+\"\\<>;=# or a space, or two hex digits",
                        tk_text_quote(&q, t + i, i + 2 < p->len ? 3 : 2), a->type);
                return 0;
            }
            keep = n; /* an escaped space is kept even at the end */
            continue;
        }
        if (!p->openssl && c == '/' && slash_type_len(t + i + 1, p->len - i - 1) > 0) {
            TK_QUOTED whole;

            DN_FAIL(p, "the value of %s holds '/%.*s=': it reads as OpenSSL's form without its "
                    "leading '/': write '/%s' (or '\\2F' for a '/' that belongs in the value)",
                    a->type, (int)slash_type_len(t + i + 1, p->len - i - 1), t + i + 1,
                    tk_text_quote(&whole, t, p->len));
            return 0;
        }
        if (!p->openssl && (c == '"' || c == ';' || c == '<' || c == '>')) {
            DN_FAIL(p, "'%c' in the value of %s must be escaped as '\\%c' "
                    "(RFC 4514)", c, a->type, c);
            return 0;
        }
        out[n++] = c;
        if (c != ' ' || p->openssl)
            keep = n;
        i++;
    }
    /* RFC 4514 writes a trailing space as "\ ": unescaped ones are layout. */
    n = keep;
    if (n == 0) {
        DN_FAIL(p, "%s has an empty value: give one, or leave %s out", a->type,
                a->type);
        return 0;
    }
    for (size_t k = 0; k < n; k++)
        if (out[k] < 0x20 || out[k] == 0x7f) {
            DN_FAIL(p, "the value of %s ('%s') holds a control character: "
                    "remove it", a->type, tk_text_quote(&q2, (const char *)out, n));
            return 0;
        }
    a->value = out;
    a->len = n;
    p->used += n;
    *pos = i;
    return 1;
}

/* One "TYPE=value" starting at *pos. */
static int parse_attr(DN_PARSE *p, size_t *pos, char joined_by)
{
    const char *t = p->text;
    size_t i = *pos, start, end;
    DN_ATTR *a;
    TK_QUOTED q;

    if (p->n >= TK_SUBJECT_MAX_ATTRS) {
        DN_FAIL(p, "the subject has more than %d attributes",
                TK_SUBJECT_MAX_ATTRS);
        return 0;
    }
    a = &p->attrs[p->n];
    if (!p->openssl)
        while (i < p->len && t[i] == ' ')
            i++;
    start = i;
    while (i < p->len && t[i] != '=' && t[i] != p->sep && t[i] != '+' && t[i] != '\\')
        i++;
    if (i >= p->len || t[i] != '=') {
        size_t stop = i;

        while (stop < p->len && t[stop] != p->sep && t[stop] != '+')
            stop++;
        if (stop == start && p->n == 0 && stop >= p->len)
            DN_FAIL(p, "the subject is empty: give e.g. '/CN=client' or "
                    "'CN=client,O=Acme'");
        else if (stop == start)
            DN_FAIL(p, "empty attribute at offset %zu: remove the extra "
                    "'%c'%s", start, joined_by != 0 ? joined_by : p->sep,
                    joined_by == '+' ? " (or write '\\+' for a plus sign)" : "");
        else
            DN_FAIL(p, "'%s' is not TYPE=value%s", tk_text_quote(&q, t + start, stop - start),
                    joined_by == '+' ? " (a '+' joins two attributes: write '\\+' for a plus sign)"
                    : p->openssl ? " (write '\\/' for a '/' in a value)"
                    : " (write '\\,' for a ',' in a value)");
        return 0;
    }
    end = i;
    if (!p->openssl)
        while (end > start && t[end - 1] == ' ')
            end--;
    if (!set_type(p, a, t + start, end - start))
        return 0;
    p->n++; /* from here a->obj is owned by p */
    i++;
    if (!parse_value(p, &i, a))
        return 0;
    if (joined_by != '+')
        p->nrdn++;
    a->rdn = p->nrdn;
    *pos = i;
    return 1;
}

static int add_attr(DN_PARSE *p, X509_NAME *name, const DN_ATTR *a, int set)
{
    /* A known type given as a dotted OID (2.5.4.6) has X.520's limits too. */
    int nid = a->nid != NID_undef ? a->nid : OBJ_obj2nid(a->obj);
    const ASN1_STRING_TABLE *tbl = nid != NID_undef ? ASN1_STRING_TABLE_get(nid) : NULL;
    unsigned long e;
    int ok;
    TK_QUOTED q;

    ERR_set_mark();
    if (a->nid != NID_undef)
        ok = X509_NAME_add_entry_by_NID(name, a->nid, MBSTRING_UTF8, a->value, (int)a->len, -1,
                                        set);
    else
        ok = X509_NAME_add_entry_by_OBJ(name, a->obj, MBSTRING_UTF8, a->value, (int)a->len, -1,
                                        set);
    e = ERR_peek_last_error();
    ERR_pop_to_mark();
    if (ok)
        return 1;
    tk_text_quote(&q, (const char *)a->value, a->len);
    switch (ERR_GET_REASON(e)) {
    case ASN1_R_STRING_TOO_LONG:
        DN_FAIL(p, "'%s' is too long for %s: at most %ld characters (X.520)", q.s,
                a->type, tbl != NULL ? tbl->maxsize : 0L);
        break;
    case ASN1_R_STRING_TOO_SHORT:
        DN_FAIL(p, "'%s' is too short for %s: at least %ld characters (X.520)", q.s,
                a->type, tbl != NULL ? tbl->minsize : 0L);
        break;
    case ASN1_R_INVALID_UTF8STRING:
        DN_FAIL(p, "the value of %s is not valid UTF-8: '%s'", a->type, q.s);
        break;
    default:
        DN_FAIL(p, "'%s' has characters %s does not allow%s", q.s, a->type,
                nid == NID_countryName ? " (a two-letter country code, e.g. DE)"
                : nid == NID_pkcs9_emailAddress || nid == NID_domainComponent
                ? " (ASCII only)" : "");
        break;
    }
    return 0;
}

/* RFC 4514 lists the name's last RDN first; OpenSSL's form lists them in order. */
static X509_NAME *build_name(DN_PARSE *p)
{
    X509_NAME *name = X509_NAME_new();

    for (int k = 0; name != NULL && k < p->nrdn; k++) {
        int rdn = p->openssl ? k + 1 : p->nrdn - k;
        int first = 1;

        for (size_t j = 0; j < p->n; j++) {
            if (p->attrs[j].rdn != rdn)
                continue;
            if (!add_attr(p, name, &p->attrs[j], first ? 0 : -1)) {
                X509_NAME_free(name);
                return NULL;
            }
            first = 0;
        }
    }
    if (name == NULL)
        DN_FAIL(p, "out of memory");
    return name;
}

int tk_parse_subject(const char *text, X509_NAME **out, char *err, size_t errlen)
{
    DN_PARSE p;
    X509_NAME *name = NULL;
    size_t pos;
    char joined_by = 0;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    memset(&p, 0, sizeof(p));
    p.err = err;
    p.errlen = errlen;
    if (text == NULL || out == NULL || text[0] == '\0' || strcmp(text, "/") == 0) {
        DN_FAIL(&p, "the subject is empty: give e.g. '/CN=client' or 'CN=client,O=Acme'");
        return 0;
    }
    p.text = text;
    p.len = strlen(text);
    if (p.len > TK_SUBJECT_MAX_LEN) {
        DN_FAIL(&p, "the subject is longer than %d bytes", TK_SUBJECT_MAX_LEN);
        return 0;
    }
    p.openssl = text[0] == '/';
    p.sep = p.openssl ? '/' : ',';
    /* Decoded values are never longer than the text. */
    if ((p.buf = OPENSSL_malloc(p.len + 1)) == NULL) {
        DN_FAIL(&p, "out of memory");
        return 0;
    }
    pos = p.openssl ? 1 : 0;
    for (;;) {
        if (!parse_attr(&p, &pos, joined_by))
            goto end;
        if (pos >= p.len)
            break;
        joined_by = text[pos++];
        if (pos >= p.len) {
            DN_FAIL(&p, "the subject ends with '%c': remove it, or write '\\%c' for a '%c' in "
                    "the last value", joined_by, joined_by, joined_by);
            goto end;
        }
    }
    name = build_name(&p);
end:
    for (size_t i = 0; i < p.n; i++)
        ASN1_OBJECT_free(p.attrs[i].obj);
    OPENSSL_clear_free(p.buf, p.len + 1);
    if (name == NULL)
        return 0;
    *out = name;
    return 1;
}
