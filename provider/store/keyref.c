/*
 * Key reference files (see keyref.h): the ASN.1 structure, a strict parser
 * and a PEM reader of our own. We read PEM ourselves rather than with
 * PEM_read_bio because that one reports a broken block without its label:
 * for our labels we want to say what is wrong (truncated, bad base64,
 * headers), for other labels say nothing and let other decoders try.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "errors.h"
#include "keyref.h"

typedef struct tk_keyref_st {
    ASN1_VISIBLESTRING *description;
    ASN1_UTF8STRING *uri;
} TK_KEYREF;

ASN1_SEQUENCE(TK_KEYREF) = {
    ASN1_SIMPLE(TK_KEYREF, description, ASN1_VISIBLESTRING),
    ASN1_SIMPLE(TK_KEYREF, uri, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END(TK_KEYREF)

/* Longest PEM line and body we accept: a key reference is a few hundred bytes. */
#define LINE_CAP 1024
#define BODY_CAP 16384

static TK_KEYREF *keyref_d2i(const unsigned char **p, long len)
{
    return (TK_KEYREF *)ASN1_item_d2i(NULL, p, len, ASN1_ITEM_rptr(TK_KEYREF));
}

/*
 * Everything this file reads may hold a key reference's URI, and a URI may
 * carry a pin-value: every buffer that held one is wiped before it is freed.
 */
static void keyref_free(TK_KEYREF *ref)
{
    if (ref != NULL && ref->uri != NULL && ASN1_STRING_length(ref->uri) > 0)
        OPENSSL_cleanse((void *)ASN1_STRING_get0_data(ref->uri),
                        (size_t)ASN1_STRING_length(ref->uri));
    ASN1_item_free((ASN1_VALUE *)ref, ASN1_ITEM_rptr(TK_KEYREF));
}

/* Text from a file, safe to put in a message: printable ASCII, at most 48 bytes. */
static void quote(char *out, size_t cap, const unsigned char *in, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len && o + 5 < cap && i < 48; i++)
        out[o++] = isprint(in[i]) ? (char)in[i] : '?';
    if (len > 48 && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static int same_text(const ASN1_STRING *s, const char *text)
{
    size_t n = strlen(text);

    return (size_t)ASN1_STRING_length(s) == n && memcmp(ASN1_STRING_get0_data(s), text, n) == 0;
}

/* The URI part: non-empty, pkcs11: scheme, RFC 7512 syntax. */
static TK_KEYREF_RESULT check_uri(const ASN1_UTF8STRING *s, TK_URI **uri, char *why, size_t whylen)
{
    const unsigned char *data = ASN1_STRING_get0_data(s);
    size_t len = (size_t)ASN1_STRING_length(s);
    TK_URI_ERROR err;
    char shown[64], *text;

    if (len == 0) {
        snprintf(why, whylen, "the URI is empty");
        return TK_KEYREF_BAD;
    }
    if (memchr(data, '\0', len) != NULL) {
        snprintf(why, whylen, "the URI contains a NUL byte");
        return TK_KEYREF_BAD;
    }
    if (len < 7 || OPENSSL_strncasecmp((const char *)data, "pkcs11:", 7) != 0) {
        /* Shown up to its first attribute: " pkcs11:...?pin-value=" must not show the PIN. */
        size_t shown_len = 0;

        while (shown_len < len && strchr(";?=", data[shown_len]) == NULL)
            shown_len++;
        quote(shown, sizeof(shown), data, shown_len);
        if (shown_len < len && shown_len <= 48)
            strcat(shown, "..."); /* quote() wrote at most 48 characters of 63 */
        snprintf(why, whylen, "not a pkcs11: URI: \"%s\"", shown);
        return TK_KEYREF_BAD;
    }
    text = OPENSSL_strndup((const char *)data, len);
    if (text == NULL) {
        snprintf(why, whylen, "out of memory");
        return TK_KEYREF_BAD;
    }
    memset(&err, 0, sizeof(err));
    if (tk_uri_parse(text, uri, &err) != TK_URI_OK) {
        /* Never echo the URI itself: it may carry a pin-value. */
        snprintf(why, whylen, "malformed pkcs11: URI: %s at offset %zu%s%s%s",
                 tk_uri_strerror(err.code), err.offset, err.attr[0] != '\0' ? " (attribute '" : "",
                 err.attr, err.attr[0] != '\0' ? "')" : "");
        OPENSSL_clear_free(text, len);
        return TK_KEYREF_BAD;
    }
    OPENSSL_clear_free(text, len);
    /*
     * A key file names a key, never code to run: a module-path= here would
     * let whoever can write the file the client reads as its key load any
     * library into the client, which holds a logged-in token.
     */
    if ((*uri)->module_path != NULL || (*uri)->module_name != NULL) {
        snprintf(why, whylen, "the URI names a PKCS#11 library (%s=), which a key reference may "
                              "not: set pkcs11-module in openssl.cnf, or reach several modules "
                              "through p11-kit's proxy", (*uri)->module_path != NULL ? "module-path"
                                                                                    : "module-name");
        tk_uri_free(*uri);
        *uri = NULL;
        return TK_KEYREF_BAD;
    }
    /*
     * Nor a PIN: the file is public (0644, copied beside certificates),
     * and a pin-source= would let whoever writes it choose what file or
     * variable is read and sent to the token.
     */
    if ((*uri)->pin_value != NULL || (*uri)->pin_source != NULL) {
        snprintf(why, whylen, "the URI holds %s=, which a key reference may not (it is a public "
                              "file): name a PIN file instead ('pin' in openssl.cnf, "
                              "TOKENKEY_PIN_FILE, or tokenkey's --pin-file)",
                 (*uri)->pin_value != NULL ? "pin-value" : "pin-source");
        tk_uri_free(*uri);
        *uri = NULL;
        return TK_KEYREF_BAD;
    }
    return TK_KEYREF_OK;
}

TK_KEYREF_RESULT tk_keyref_from_der(const unsigned char *der, size_t len, TK_KEYREF_KIND kind,
                                    TK_URI **uri, char *why, size_t whylen)
{
    const unsigned char *p = der;
    TK_KEYREF *ref;
    TK_KEYREF_RESULT r;
    char shown[64];

    *uri = NULL;
    if (len > TK_KEYREF_DER_MAX) {
        if (kind == TK_KEYREF_ANY)
            return TK_KEYREF_NOT_OURS;
        snprintf(why, whylen, "the key reference is %zu bytes long; one is at most %d",
                 len, TK_KEYREF_DER_MAX);
        return TK_KEYREF_BAD;
    }
    ref = keyref_d2i(&p, (long)len);
    if (ref == NULL) {
        if (kind == TK_KEYREF_ANY)
            return TK_KEYREF_NOT_OURS;
        snprintf(why, whylen, "the PEM body is not a key reference "
                              "(DER SEQUENCE { VisibleString, UTF8String })");
        return TK_KEYREF_BAD;
    }
    if (!((kind != TK_KEYREF_P11PROV && same_text(ref->description, TK_KEYREF_DESCRIPTION))
          || (kind != TK_KEYREF_TOKENKEY
              && same_text(ref->description, TK_KEYREF_P11PROV_DESCRIPTION)))) {
        /* Bare DER of the same shape with another description is someone else's. */
        if (kind == TK_KEYREF_ANY) {
            keyref_free(ref);
            return TK_KEYREF_NOT_OURS;
        }
        quote(shown, sizeof(shown), ASN1_STRING_get0_data(ref->description),
              (size_t)ASN1_STRING_length(ref->description));
        snprintf(why, whylen, "unknown description \"%s\" (expected \"%s\")", shown,
                 kind == TK_KEYREF_P11PROV ? TK_KEYREF_P11PROV_DESCRIPTION : TK_KEYREF_DESCRIPTION);
        keyref_free(ref);
        return TK_KEYREF_BAD;
    }
    /* Anything after one of ours is not ours to ignore (a spliced file?). */
    if (p != der + len) {
        snprintf(why, whylen, "%zu bytes of trailing data after the key reference",
                 (size_t)(der + len - p));
        keyref_free(ref);
        return TK_KEYREF_BAD;
    }
    r = check_uri(ref->uri, uri, why, whylen);
    keyref_free(ref);
    return r;
}

int tk_keyref_to_der(const char *uri, unsigned char **der, size_t *len)
{
    TK_KEYREF *ref = (TK_KEYREF *)ASN1_item_new(ASN1_ITEM_rptr(TK_KEYREF));
    unsigned char *out = NULL;
    int n = -1;

    if (ref != NULL
        && ASN1_STRING_set(ref->description, TK_KEYREF_DESCRIPTION, -1)
        && ASN1_STRING_set(ref->uri, uri, -1))
        n = ASN1_item_i2d((const ASN1_VALUE *)ref, &out, ASN1_ITEM_rptr(TK_KEYREF));
    keyref_free(ref);
    if (n <= 0)
        return 0;
    *der = out;
    *len = (size_t)n;
    return 1;
}

/*
 * One line without its end of line. Returns 1, 0 at end of input, -1 for a
 * line longer than LINE_CAP (the rest of it is consumed).
 */
static int read_line(BIO *in, char *buf, size_t *len)
{
    int n = BIO_gets(in, buf, LINE_CAP + 2);
    int too_long;

    if (n <= 0)
        return 0;
    too_long = buf[n - 1] != '\n' && n > LINE_CAP;
    if (too_long) {
        char rest[LINE_CAP];
        int m;

        while ((m = BIO_gets(in, rest, sizeof(rest))) > 0 && rest[m - 1] != '\n')
            ;
        OPENSSL_cleanse(rest, sizeof(rest)); /* buf is the caller's to wipe */
        return -1;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    *len = (size_t)n;
    return 1;
}

/* "-----BEGIN X-----" -> X (in place); NULL for any other line. */
static char *armour_label(char *line, size_t len, const char *what)
{
    size_t wl = strlen(what);

    if (len < wl + 5 || strncmp(line, what, wl) != 0 || strcmp(line + len - 5, "-----") != 0)
        return NULL;
    line[len - 5] = '\0';
    return line + wl;
}

static TK_KEYREF_KIND kind_of_label(const char *label)
{
    if (strcmp(label, TK_KEYREF_PEM_LABEL) == 0)
        return TK_KEYREF_TOKENKEY;
    if (strcmp(label, TK_KEYREF_P11PROV_PEM_LABEL) == 0)
        return TK_KEYREF_P11PROV;
    return TK_KEYREF_ANY;
}

/*
 * Only base64 text (RFC 4648 alphabet, '=' padding, blanks): OpenSSL's
 * decoder takes a '-' for the end of the data and reports success, so
 * what comes after one would be dropped without a word.
 */
static int is_base64_text(const char *b64, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)b64[i];

        /* Ranges, not isalnum: the application's locale may count other bytes. */
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            && c != '+' && c != '/' && c != '=' && c != ' ' && c != '\t')
            return 0;
    }
    return 1;
}

/* Base64 body to bytes; 0 when it is not valid base64 (RFC 7468 section 2). */
static int decode_body(const char *b64, size_t b64len, unsigned char **der, size_t *len)
{
    EVP_ENCODE_CTX *ctx;
    size_t cap = b64len / 4 * 3 + 3;
    unsigned char *out;
    int n1 = 0, n2 = 0, ok;

    if (!is_base64_text(b64, b64len))
        return 0;
    ctx = EVP_ENCODE_CTX_new();
    out = OPENSSL_malloc(cap);
    ok = ctx != NULL && out != NULL;
    if (ok) {
        EVP_DecodeInit(ctx);
        ok = EVP_DecodeUpdate(ctx, out, &n1, (const unsigned char *)b64, (int)b64len) >= 0
             && EVP_DecodeFinal(ctx, out + n1, &n2) == 1;
    }
    EVP_ENCODE_CTX_free(ctx);
    if (!ok) {
        OPENSSL_clear_free(out, cap);
        return 0;
    }
    *der = out;
    *len = (size_t)(n1 + n2);
    return 1;
}

/* The body of a block with one of our labels, up to its END line. */
static TK_KEYREF_RESULT read_body(BIO *in, const char *label, char *line, unsigned char **der,
                                  size_t *len, char *why, size_t whylen)
{
    char *b64 = OPENSSL_malloc(BODY_CAP);
    size_t b64len = 0, n;
    TK_KEYREF_RESULT r = TK_KEYREF_BAD;
    int got;

    if (b64 == NULL) {
        snprintf(why, whylen, "out of memory");
        return TK_KEYREF_BAD;
    }
    for (;;) {
        char *end;

        got = read_line(in, line, &n);
        if (got == 0) {
            snprintf(why, whylen, "truncated: no \"-----END %s-----\" line", label);
            break;
        }
        if (got < 0) {
            snprintf(why, whylen, "a line longer than %d characters", LINE_CAP);
            break;
        }
        if ((end = armour_label(line, n, "-----END ")) != NULL) {
            if (strcmp(end, label) != 0) {
                snprintf(why, whylen, "\"-----BEGIN %s-----\" ends with \"-----END %.40s-----\"",
                         label, end);
                break;
            }
            if (b64len == 0) {
                snprintf(why, whylen, "the PEM block is empty");
                break;
            }
            r = decode_body(b64, b64len, der, len) ? TK_KEYREF_OK : TK_KEYREF_BAD;
            if (r != TK_KEYREF_OK)
                snprintf(why, whylen, "corrupt base64 in the PEM body");
            break;
        }
        if (strncmp(line, "-----", 5) == 0) {
            snprintf(why, whylen, "truncated: \"-----BEGIN %s-----\" has no END line before "
                                  "the next block", label);
            break;
        }
        /* RFC 1421 headers (Proc-Type, DEK-Info) mean encryption: never ours. */
        if (strchr(line, ':') != NULL) {
            snprintf(why, whylen, "unexpected PEM header line: key references have no headers");
            break;
        }
        if (b64len + n > BODY_CAP) {
            snprintf(why, whylen, "the PEM body is longer than %d bytes", BODY_CAP);
            break;
        }
        memcpy(b64 + b64len, line, n);
        b64len += n;
    }
    OPENSSL_clear_free(b64, b64len);
    return r;
}

TK_KEYREF_RESULT tk_keyref_read_pem(BIO *in, unsigned char **der, size_t *len,
                                    TK_KEYREF_KIND *kind, char *why, size_t whylen)
{
    char *line = OPENSSL_malloc(LINE_CAP + 2);
    char *label = NULL;
    TK_KEYREF_RESULT r = TK_KEYREF_NOT_OURS;
    size_t n;
    int got;

    if (line == NULL) {
        snprintf(why, whylen, "out of memory");
        return TK_KEYREF_BAD;
    }
    /* Text before the BEGIN line is allowed, as PEM_read_bio allows it. */
    while ((got = read_line(in, line, &n)) != 0)
        if (got > 0 && (label = armour_label(line, n, "-----BEGIN ")) != NULL)
            break;
    if (label != NULL) {
        char copy[LINE_CAP + 2];

        *kind = kind_of_label(label);
        strcpy(copy, label);
        if (*kind != TK_KEYREF_ANY) {
            r = read_body(in, copy, line, der, len, why, whylen);
        } else if (strncmp(copy, "TOKENKEY", 8) == 0) {
            /* Our prefix: nobody else will read it, so say what is wrong. */
            snprintf(why, whylen, "unknown PEM label \"%.40s\" (expected \"%s\")", copy,
                     TK_KEYREF_PEM_LABEL);
            r = TK_KEYREF_BAD;
        } else {
            /* Someone else's block: leave the input after it, as pem2der does. */
            while ((got = read_line(in, line, &n)) != 0)
                if (got > 0 && armour_label(line, n, "-----END ") != NULL)
                    break;
        }
    }
    OPENSSL_clear_free(line, LINE_CAP + 2);
    return r;
}

BIO *tk_store_core_bio(TK_PROVCTX *ctx, OSSL_CORE_BIO *cbio)
{
    /* The child library context was made from the core's dispatch table, BIO upcalls included. */
    BIO *b = ctx->libctx != NULL ? BIO_new_from_core_bio(ctx->libctx, cbio) : NULL;

    if (b == NULL)
        TK_RAISE(ctx, TK_R_OPERATION_FAILED, "cannot use the application's BIO");
    return b;
}

/* Whether a PEM label announces a key: a private key, or a reference to one. */
static int is_key_label(const char *name)
{
    return strstr(name, "PRIVATE KEY") != NULL || strcmp(name, TK_KEYREF_PEM_LABEL) == 0
           || strcmp(name, TK_KEYREF_P11PROV_PEM_LABEL) == 0;
}

/*
 * One more PEM block of in: 1 and whether it is a key, 0 at the end of the
 * input, -1 for a block that does not parse (it may be a key).
 */
static int next_block(BIO *in, int *key)
{
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    int r;

    ERR_set_mark();
    if (PEM_read_bio(in, &name, &header, &data, &len) > 0)
        r = 1;
    else
        r = ERR_GET_REASON(ERR_peek_last_error()) == PEM_R_NO_START_LINE ? 0 : -1;
    ERR_pop_to_mark();
    *key = r == 1 && is_key_label(name);
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(data, len > 0 ? (size_t)len : 0); /* a key reference may carry a pin-value */
    return r;
}

int tk_keyref_key_follows(BIO *in)
{
    int r, key = 0;

    while ((r = next_block(in, &key)) == 1 && !key)
        continue;
    return r != 0;
}
