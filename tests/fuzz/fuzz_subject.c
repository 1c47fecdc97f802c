/*
 * Fuzzing the CLI's --subject parser (tools/subject.h: tk_parse_subject),
 * which reads what a person pastes from anywhere.
 *
 * Properties: a refused subject comes with a one-line reason and leaves
 * *out untouched; an accepted one is a name with 1..TK_SUBJECT_MAX_ATTRS
 * attributes; the parser leaves OpenSSL's error queue as it found it; and
 * the name printed in RFC 4514 form by OpenSSL (types as dotted OIDs: the
 * parser knows the usual short names, not all of OpenSSL's) parses back
 * to the same name, when OpenSSL printed it without a '#' hex value (which
 * RFC 4514 allows but the parser refuses, on purpose) and within the
 * parser's length bound (escapes can make the printed form longer than the
 * input: '/name=,,' prints as '2.5.4.41=\,\,'); a longer one is refused for
 * its length. OpenSSL does not escape '/', so a value holding "/O=" prints
 * as text the parser refuses on purpose (a forgotten leading '/').
 */
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>

#include "fuzz.h"
#include "subject.h"

/* The name in RFC 4514 form as OpenSSL writes it, types as OIDs (free() it), or NULL. */
static char *rfc4514(const X509_NAME *name)
{
    unsigned long flags = (XN_FLAG_RFC2253 & ~(XN_FLAG_FN_MASK | ASN1_STRFLGS_ESC_MSB)) | XN_FLAG_FN_OID;
    BIO *b = BIO_new(BIO_s_mem());
    char *text = NULL, *data;
    long n;

    if (b != NULL && X509_NAME_print_ex(b, name, 0, flags) >= 0
        && (n = BIO_get_mem_data(b, &data)) >= 0 && (text = malloc((size_t)n + 1)) != NULL) {
        memcpy(text, data, (size_t)n);
        text[n] = '\0';
    }
    BIO_free(b);
    return text;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = tk_fuzz_cstr(data, size), *printed;
    X509_NAME *sentinel = (X509_NAME *)&sentinel, *name = sentinel, *again = NULL;
    char err[512] = "";
    int ok;

    ERR_clear_error();
    ok = tk_parse_subject(text, &name, err, sizeof(err));
    TK_FUZZ_CHECK(ERR_peek_error() == 0, text, "the parser left an OpenSSL error on the queue");
    if (!ok) {
        TK_FUZZ_CHECK(name == sentinel, text, "*out changed on failure");
        TK_FUZZ_CHECK(tk_fuzz_good_message(err, sizeof(err)), text,
                      "refused without a one-line reason: '%s'", err);
        free(text);
        return 0;
    }
    TK_FUZZ_CHECK(name != NULL && name != sentinel, text, "accepted without a name");
    TK_FUZZ_CHECK(X509_NAME_entry_count(name) >= 1
                  && X509_NAME_entry_count(name) <= TK_SUBJECT_MAX_ATTRS, text,
                  "%d attributes", X509_NAME_entry_count(name));

    printed = rfc4514(name);
    TK_FUZZ_CHECK(printed != NULL, text, "OpenSSL cannot print the name");
    if (strlen(printed) > TK_SUBJECT_MAX_LEN) {
        /* Escaping made the name longer than the parser's bound: refused, and said so. */
        ok = tk_parse_subject(printed, &again, err, sizeof(err));
        TK_FUZZ_CHECK(!ok && again == NULL && strstr(err, "longer than") != NULL, text,
                      "OpenSSL's RFC 4514 form, %zu bytes, not refused for its length: '%s'",
                      strlen(printed), err);
    } else if (strchr(printed, '#') == NULL && strchr(printed, '\n') == NULL) {
        ok = tk_parse_subject(printed, &again, err, sizeof(err));
        /* OpenSSL leaves '/' unescaped: "CN=a/O=b" is refused as a forgotten leading '/'. */
        if (!ok && strstr(err, "as OpenSSL's form without its leading '/'") != NULL
            && strchr(printed, '/') != NULL) {
            ERR_clear_error();
            free(printed);
            X509_NAME_free(name);
            free(text);
            return 0;
        }
        TK_FUZZ_CHECK(ok, text, "OpenSSL's RFC 4514 form '%s' refused: %s", printed, err);
        TK_FUZZ_CHECK(X509_NAME_cmp(name, again) == 0, text,
                      "'%s' (OpenSSL's RFC 4514 form) parses to another name", printed);
        X509_NAME_free(again);
    }
    ERR_clear_error();
    free(printed);
    X509_NAME_free(name);
    free(text);
    return 0;
}
