/*
 * RFC 7512 "pkcs11:" URIs: see include/tokenkey/uri.h.
 *
 * Grammar (RFC 7512 section 2.3):
 *   pk11-URI   = "pkcs11:" pk11-path [ "?" pk11-query ]
 *   pk11-path  = [ pk11-pattr *(";" pk11-pattr) ]
 *   pk11-query = [ pk11-qattr *("&" pk11-qattr) ]
 * Values are *pk11-pchar (path) or *pk11-qchar (query); every other
 * byte must arrive percent-encoded, and we refuse it raw rather than
 * guess what the writer meant.
 *
 * Formatting is deliberately narrower than parsing: we only emit raw
 * characters that are legal both in RFC 7512 and in a generic RFC 3986
 * parser, and never a character that delimits anything ('=' included),
 * so our output survives naive splitting (see keep_raw()). Escapes use
 * uppercase hex; id is always escaped byte by byte; library-version is
 * always written as "M.N".
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "tokenkey/uri.h"

static const char scheme[] = "pkcs11:";
#define SCHEME_LEN (sizeof(scheme) - 1)

enum attr_kind { KIND_STR, KIND_ID, KIND_TYPE, KIND_SLOT_ID, KIND_LIB_VERSION };

struct attr_def {
    const char *name;
    int in_query;        /* query attribute (after '?') rather than path */
    int secret;          /* wipe on free */
    enum attr_kind kind;
    size_t off;          /* offsetof the char * field, KIND_STR only */
};

/* Table order is the output order promised by tk_uri_format(). */
static const struct attr_def attrs[] = {
    { "token",                0, 0, KIND_STR, offsetof(TK_URI, token) },
    { "manufacturer",         0, 0, KIND_STR, offsetof(TK_URI, manufacturer) },
    { "serial",               0, 0, KIND_STR, offsetof(TK_URI, serial) },
    { "model",                0, 0, KIND_STR, offsetof(TK_URI, model) },
    { "library-manufacturer", 0, 0, KIND_STR, offsetof(TK_URI, library_manufacturer) },
    { "library-description",  0, 0, KIND_STR, offsetof(TK_URI, library_description) },
    { "library-version",      0, 0, KIND_LIB_VERSION, 0 },
    { "slot-manufacturer",    0, 0, KIND_STR, offsetof(TK_URI, slot_manufacturer) },
    { "slot-description",     0, 0, KIND_STR, offsetof(TK_URI, slot_description) },
    { "slot-id",              0, 0, KIND_SLOT_ID, 0 },
    { "object",               0, 0, KIND_STR, offsetof(TK_URI, object) },
    { "type",                 0, 0, KIND_TYPE, 0 },
    { "id",                   0, 0, KIND_ID, 0 },
    { "pin-value",            1, 1, KIND_STR, offsetof(TK_URI, pin_value) },
    { "pin-source",           1, 0, KIND_STR, offsetof(TK_URI, pin_source) },
    { "module-name",          1, 0, KIND_STR, offsetof(TK_URI, module_name) },
    { "module-path",          1, 0, KIND_STR, offsetof(TK_URI, module_path) },
};
#define N_ATTRS (sizeof(attrs) / sizeof(attrs[0]))

static const struct {
    TK_URI_TYPE type;
    const char *name;
} type_names[] = {
    { TK_URI_TYPE_PUBLIC, "public" },
    { TK_URI_TYPE_PRIVATE, "private" },
    { TK_URI_TYPE_CERT, "cert" },
    { TK_URI_TYPE_SECRET, "secret-key" },
    { TK_URI_TYPE_DATA, "data" },
};

static char **str_field(TK_URI *uri, const struct attr_def *d)
{
    return (char **)((unsigned char *)uri + d->off);
}

static const char *str_value(const TK_URI *uri, const struct attr_def *d)
{
    return *(char *const *)((const unsigned char *)uri + d->off);
}

/* ---- character classes (ASCII only: no locale-dependent <ctype.h>) ---- */

static int is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 3986 section 2.3 "unreserved". */
static int is_unreserved(unsigned char c)
{
    return is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/*
 * May c appear unencoded in a value? pk11-pchar / pk11-qchar minus
 * pct-encoded, RFC 7512 section 2.3: pk11-res-avail plus "&" in the path,
 * plus "/" "?" "|" in the query.
 */
static int raw_ok(unsigned char c, int in_query)
{
    if (is_unreserved(c) || (c != '\0' && strchr(":[]@!$'()*+,=", c) != NULL))
        return 1;
    if (in_query)
        return c == '/' || c == '?' || c == '|';
    return c == '&';
}

/*
 * What tk_uri_format() leaves unencoded: unreserved plus the sub-delims
 * that delimit nothing here, and "/" in the query so module-path and
 * pin-source read naturally. "[" "]" and "|" are escaped even though RFC
 * 7512 allows them, because RFC 3986 does not allow them there.
 */
static int keep_raw(unsigned char c, int in_query)
{
    if (is_unreserved(c) || (c != '\0' && strchr(":@!$'()*+,", c) != NULL))
        return 1;
    return in_query && c == '/';
}

/* ---- parsing ---- */

/*
 * How much of name may go in an error's attr: the characters an attribute
 * name can have (RFC 7512 section 2.3: letters, digits, '-', and '_' in
 * vendor names), up to the first other one. Callers print attr in messages
 * that never show the URI, and what follows such a character may be a
 * value: "pin-value:1234" shows as "pin-value".
 */
static size_t name_chars(const char *name, size_t len)
{
    size_t i = 0;

    while (i < len && (is_alnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_'))
        i++;
    return i;
}

static TK_URI_ERR fail(TK_URI_ERROR *err, TK_URI_ERR code, size_t offset,
                       const char *name, size_t name_len)
{
    if (err != NULL) {
        err->code = code;
        err->offset = offset;
        name_len = name != NULL ? name_chars(name, name_len) : 0;
        if (name_len > sizeof(err->attr) - 1)
            name_len = sizeof(err->attr) - 1;
        if (name_len > 0)
            memcpy(err->attr, name, name_len);
        err->attr[name_len] = '\0';
    }
    return code;
}

static const struct attr_def *find_attr(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < N_ATTRS; i++)
        if (strlen(attrs[i].name) == len && memcmp(attrs[i].name, name, len) == 0)
            return &attrs[i];
    return NULL;
}

/*
 * "x-" vendor attributes are accepted and ignored (see uri.h); the rest
 * of the name is 1*pk11-v-attr-nm-char, RFC 7512 section 2.3.
 */
static int is_vendor_name(const char *name, size_t len)
{
    size_t i;

    if (len < 3 || name[0] != 'x' || name[1] != '-')
        return 0;
    for (i = 2; i < len; i++)
        if (!is_alnum((unsigned char)name[i]) && name[i] != '-' && name[i] != '_')
            return 0;
    return 1;
}

/*
 * Percent-decode [v, end) into a new NUL-terminated buffer (RFC 3986
 * section 2.1; either hex case). A decoded NUL is refused unless
 * allow_nul: C strings would silently truncate at it, so "abc%00xyz"
 * could match a label it does not name. *bad gets the failing offset.
 */
static TK_URI_ERR decode(const char *v, const char *end, int in_query, int allow_nul,
                         unsigned char **out, size_t *out_len, const char **bad)
{
    size_t cap = (size_t)(end - v) + 1, n = 0;
    unsigned char *buf = OPENSSL_malloc(cap);
    TK_URI_ERR rc = TK_URI_OK;
    const char *p;

    if (buf == NULL) {
        *bad = v;
        return TK_URI_ERR_NOMEM;
    }
    for (p = v; p < end && rc == TK_URI_OK; p++) {
        unsigned char c = (unsigned char)*p;

        if (c == '%') {
            int hi = p + 1 < end ? OPENSSL_hexchar2int((unsigned char)p[1]) : -1;
            int lo = p + 2 < end ? OPENSSL_hexchar2int((unsigned char)p[2]) : -1;

            if (hi < 0 || lo < 0)
                rc = TK_URI_ERR_BAD_ESCAPE;
            else if ((c = (unsigned char)(hi << 4 | lo)) == '\0' && !allow_nul)
                rc = TK_URI_ERR_BAD_VALUE;
            else
                p += 2;
        } else if (!raw_ok(c, in_query)) {
            rc = TK_URI_ERR_BAD_CHAR;
        }
        if (rc != TK_URI_OK)
            *bad = p;
        else
            buf[n++] = c;
    }
    if (rc != TK_URI_OK) {
        OPENSSL_clear_free(buf, cap); /* may hold part of a PIN */
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *out_len = n;
    return TK_URI_OK;
}

/* 1*DIGIT (RFC 7512 section 2.3), no sign, no blanks; 0 when out of range. */
static int parse_decimal(const unsigned char *s, size_t len, unsigned long max,
                         unsigned long *out)
{
    unsigned long v = 0;
    size_t i;

    if (len == 0)
        return 0;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (max - (s[i] - '0')) / 10)
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* library-version = 1*DIGIT [ "." 1*DIGIT ]; "M" means M.0 (CK_VERSION). */
static int parse_version(const unsigned char *s, size_t len, TK_URI *uri)
{
    const unsigned char *dot = memchr(s, '.', len);
    unsigned long major, minor = 0;

    if (dot == NULL)
        dot = s + len;
    if (!parse_decimal(s, (size_t)(dot - s), 255, &major))
        return 0;
    if (dot < s + len
        && !parse_decimal(dot + 1, (size_t)(s + len - dot - 1), 255, &minor))
        return 0;
    uri->library_version_major = (unsigned char)major;
    uri->library_version_minor = (unsigned char)minor;
    uri->has_library_version = 1;
    return 1;
}

/* Store a decoded value; takes ownership of buf. */
static int store(TK_URI *uri, const struct attr_def *d, unsigned char *buf, size_t len)
{
    size_t i;
    int ok = 0;

    switch (d->kind) {
    case KIND_STR:
        *str_field(uri, d) = (char *)buf;
        return 1;
    case KIND_ID:
        uri->id = buf;
        uri->id_len = len;
        uri->has_id = 1;
        return 1;
    case KIND_TYPE:
        /* Case-sensitive like the attribute names: "Private" is a typo. */
        for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]) && !ok; i++)
            if ((ok = strcmp((char *)buf, type_names[i].name) == 0))
                uri->type = type_names[i].type;
        break;
    case KIND_SLOT_ID:
        ok = parse_decimal(buf, len, ULONG_MAX, &uri->slot_id);
        uri->has_slot_id = ok;
        break;
    case KIND_LIB_VERSION:
        ok = parse_version(buf, len, uri);
        break;
    }
    OPENSSL_free(buf);
    return ok;
}

/* One "name=value" between delimiters, [seg, end). */
static TK_URI_ERR parse_attr(TK_URI *uri, const char *text, const char *seg,
                             const char *end, int in_query, unsigned long *seen,
                             TK_URI_ERROR *err)
{
    const char *eq = memchr(seg, '=', (size_t)(end - seg));
    const char *name_end = eq != NULL ? eq : end;
    size_t name_len = (size_t)(name_end - seg), i, len;
    const struct attr_def *d;
    unsigned char *buf = NULL;
    const char *bad = NULL;
    TK_URI_ERR rc;

    for (i = 0; i < name_len; i++)
        if (!raw_ok((unsigned char)seg[i], in_query) && seg[i] != '%')
            return fail(err, TK_URI_ERR_BAD_CHAR, (size_t)(seg + i - text), NULL, 0);
    /*
     * Without '=' nothing says where a name ends: the segment may be a PIN
     * written without "pin-value=". Name it only when it starts with an
     * attribute we know, which cannot be a secret.
     */
    if (eq == NULL) {
        size_t known = name_chars(seg, name_len);

        return fail(err, TK_URI_ERR_SYNTAX, (size_t)(seg - text), seg,
                    find_attr(seg, known) != NULL ? known : 0);
    }
    if (name_len == 0)
        return fail(err, TK_URI_ERR_SYNTAX, (size_t)(seg - text), NULL, 0);

    d = find_attr(seg, name_len);
    /* A query attribute in the path (or the reverse) is not that attribute. */
    if ((d == NULL && !is_vendor_name(seg, name_len))
        || (d != NULL && d->in_query != in_query))
        return fail(err, TK_URI_ERR_UNKNOWN_ATTR, (size_t)(seg - text), seg, name_len);
    if (d != NULL) {
        unsigned long bit = 1UL << (d - attrs);

        /*
         * RFC 7512 2.3: a URI with both pin-source and pin-value SHOULD
         * be refused; we report it as the PIN being given twice.
         */
        if ((*seen & bit) != 0
            || (strcmp(d->name, "pin-value") == 0 && uri->pin_source != NULL)
            || (strcmp(d->name, "pin-source") == 0 && uri->pin_value != NULL))
            return fail(err, TK_URI_ERR_DUPLICATE_ATTR, (size_t)(seg - text), seg, name_len);
        *seen |= bit;
    }

    rc = decode(eq + 1, end, in_query, d != NULL && d->kind == KIND_ID, &buf, &len, &bad);
    if (rc != TK_URI_OK)
        return fail(err, rc, (size_t)(bad - text), seg, name_len);
    if (d == NULL) {
        OPENSSL_clear_free(buf, len + 1); /* vendor attribute: ignored */
        return TK_URI_OK;
    }
    if (!store(uri, d, buf, len))
        return fail(err, TK_URI_ERR_BAD_VALUE, (size_t)(eq + 1 - text), seg, name_len);
    return TK_URI_OK;
}

/* A component split on sep; empty is fine, an empty attribute is not. */
static TK_URI_ERR parse_part(TK_URI *uri, const char *text, const char *p,
                             const char *end, char sep, int in_query,
                             unsigned long *seen, TK_URI_ERROR *err)
{
    TK_URI_ERR rc;

    if (p == end)
        return TK_URI_OK;
    for (;;) {
        const char *seg_end = memchr(p, sep, (size_t)(end - p));

        if (seg_end == NULL)
            seg_end = end;
        if (seg_end == p)
            return fail(err, TK_URI_ERR_SYNTAX, (size_t)(p - text), NULL, 0);
        rc = parse_attr(uri, text, p, seg_end, in_query, seen, err);
        if (rc != TK_URI_OK || seg_end == end)
            return rc;
        p = seg_end + 1;
    }
}

int tk_uri_is_pkcs11(const char *text)
{
    /* Schemes are case-insensitive, RFC 3986 section 3.1. */
    return text != NULL && strncasecmp(text, scheme, SCHEME_LEN) == 0;
}

TK_URI_ERR tk_uri_parse(const char *text, TK_URI **out, TK_URI_ERROR *err)
{
    const char *path, *query, *end;
    unsigned long seen = 0;
    TK_URI *uri;
    TK_URI_ERR rc;

    fail(err, TK_URI_OK, 0, NULL, 0);
    if (text == NULL || *text == '\0')
        return fail(err, TK_URI_ERR_EMPTY, 0, NULL, 0);
    if (!tk_uri_is_pkcs11(text))
        return fail(err, TK_URI_ERR_SCHEME, 0, NULL, 0);
    uri = OPENSSL_zalloc(sizeof(*uri));
    if (uri == NULL)
        return fail(err, TK_URI_ERR_NOMEM, 0, NULL, 0);
    path = text + SCHEME_LEN;
    end = path + strlen(path);
    /* The first '?' ends the path: '?' may not appear raw in a path value. */
    query = memchr(path, '?', (size_t)(end - path));
    rc = parse_part(uri, text, path, query != NULL ? query : end, ';', 0, &seen, err);
    if (rc == TK_URI_OK && query != NULL)
        rc = parse_part(uri, text, query + 1, end, '&', 1, &seen, err);
    /* out == NULL: the caller only wants the URI checked. */
    if (rc != TK_URI_OK || out == NULL)
        tk_uri_free(uri);
    else
        *out = uri;
    return rc;
}

const char *tk_uri_strerror(TK_URI_ERR code)
{
    switch (code) {
    case TK_URI_OK:                 return "success";
    case TK_URI_ERR_EMPTY:          return "empty URI";
    case TK_URI_ERR_SCHEME:         return "not a pkcs11: URI";
    case TK_URI_ERR_SYNTAX:         return "malformed attribute";
    case TK_URI_ERR_UNKNOWN_ATTR:   return "unknown attribute";
    case TK_URI_ERR_DUPLICATE_ATTR: return "duplicate attribute";
    case TK_URI_ERR_BAD_ESCAPE:     return "bad percent-escape";
    case TK_URI_ERR_BAD_VALUE:      return "invalid attribute value";
    case TK_URI_ERR_BAD_CHAR:       return "character must be percent-encoded";
    case TK_URI_ERR_NOMEM:          return "out of memory";
    }
    return "unknown error";
}

/* ---- formatting ---- */

/* Formatting runs twice: once to measure (data == NULL), once to write. */
struct sbuf {
    char *data;
    size_t len;
};

static void put(struct sbuf *b, const char *s, size_t n)
{
    if (b->data != NULL)
        memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* Uppercase hex, as RFC 3986 section 2.1 asks of producers. */
static void put_encoded(struct sbuf *b, const unsigned char *s, size_t n,
                        int in_query, int all)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i;

    for (i = 0; i < n; i++) {
        char esc[3] = { '%', hex[s[i] >> 4], hex[s[i] & 15] };

        if (!all && keep_raw(s[i], in_query))
            put(b, (const char *)&s[i], 1);
        else
            put(b, esc, 3);
    }
}

/* Appends one attribute if present; returns -1 for an invalid type. */
static int put_attr(struct sbuf *b, const TK_URI *uri, const struct attr_def *d, int *count)
{
    char num[48];
    const char *txt = num;

    switch (d->kind) {
    case KIND_STR:
        txt = str_value(uri, d);
        if (txt == NULL)
            return 0;
        break;
    case KIND_ID:
        if (!uri->has_id)
            return 0;
        break;
    case KIND_TYPE:
        if (uri->type == TK_URI_TYPE_ANY)
            return 0;
        if ((txt = tk_uri_type_name(uri->type)) == NULL)
            return -1; /* dropping it would silently widen the match */
        break;
    case KIND_SLOT_ID:
        if (!uri->has_slot_id)
            return 0;
        snprintf(num, sizeof(num), "%lu", uri->slot_id);
        break;
    case KIND_LIB_VERSION:
        if (!uri->has_library_version)
            return 0;
        snprintf(num, sizeof(num), "%u.%u", uri->library_version_major,
                 uri->library_version_minor);
        break;
    }
    if ((*count)++ > 0)
        put(b, d->in_query ? "&" : ";", 1);
    else if (d->in_query)
        put(b, "?", 1);
    put(b, d->name, strlen(d->name));
    put(b, "=", 1);
    if (d->kind == KIND_ID)
        put_encoded(b, uri->id, uri->id_len, 0, 1); /* binary: every byte */
    else
        put_encoded(b, (const unsigned char *)txt, strlen(txt), d->in_query, 0);
    return 0;
}

static int format_into(struct sbuf *b, const TK_URI *uri)
{
    int path_count = 0, query_count = 0;
    size_t i;

    put(b, scheme, SCHEME_LEN);
    for (i = 0; i < N_ATTRS; i++) {
        if (attrs[i].secret)
            continue; /* pin-value never leaves the process this way */
        if (put_attr(b, uri, &attrs[i],
                     attrs[i].in_query ? &query_count : &path_count) < 0)
            return 0;
    }
    return 1;
}

char *tk_uri_format(const TK_URI *uri)
{
    struct sbuf b = { NULL, 0 };

    if (uri == NULL || !format_into(&b, uri))
        return NULL;
    if ((b.data = OPENSSL_malloc(b.len + 1)) == NULL)
        return NULL;
    b.len = 0;
    format_into(&b, uri); /* same input, same bytes: fits exactly */
    b.data[b.len] = '\0';
    return b.data;
}

/* ---- lifetime ---- */

TK_URI *tk_uri_dup(const TK_URI *uri)
{
    TK_URI *copy;
    size_t i;

    if (uri == NULL || (copy = OPENSSL_malloc(sizeof(*copy))) == NULL)
        return NULL;
    /* Scalars by value; clear every pointer before copying any, so a
     * failure half-way frees only what this copy owns. */
    memcpy(copy, uri, sizeof(*copy));
    for (i = 0; i < N_ATTRS; i++)
        if (attrs[i].kind == KIND_STR)
            *str_field(copy, &attrs[i]) = NULL;
    copy->id = NULL;

    for (i = 0; i < N_ATTRS; i++) {
        const char *src;

        if (attrs[i].kind != KIND_STR || (src = str_value(uri, &attrs[i])) == NULL)
            continue;
        if ((*str_field(copy, &attrs[i]) = OPENSSL_strdup(src)) == NULL)
            goto err;
    }
    if (uri->id != NULL) {
        if ((copy->id = OPENSSL_malloc(uri->id_len + 1)) == NULL)
            goto err;
        memcpy(copy->id, uri->id, uri->id_len);
    }
    return copy;

err:
    tk_uri_free(copy);
    return NULL;
}

void tk_uri_free(TK_URI *uri)
{
    size_t i;

    if (uri == NULL)
        return;
    for (i = 0; i < N_ATTRS; i++) {
        char *s;

        if (attrs[i].kind != KIND_STR || (s = *str_field(uri, &attrs[i])) == NULL)
            continue;
        if (attrs[i].secret)
            OPENSSL_clear_free(s, strlen(s));
        else
            OPENSSL_free(s);
    }
    OPENSSL_free(uri->id);
    OPENSSL_free(uri);
}

const char *tk_uri_type_name(TK_URI_TYPE type)
{
    size_t i;

    for (i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (type_names[i].type == type)
            return type_names[i].name;
    return NULL;
}
