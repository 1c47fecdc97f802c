/*
 * Fuzzing the RFC 7512 parser and formatter (include/tokenkey/uri.h).
 *
 * Properties, for every input:
 *   - a rejected URI reports the code it returned, an offset inside the
 *     input, a terminated attribute name made of name characters only
 *     (messages print it where they never print the URI), and a message;
 *   - an accepted URI formats, the text has no pin-value (the formatter
 *     never writes a PIN), and parse(format(parse(x))) == parse(x) on every
 *     attribute but pin-value (RFC 7512 section 2.3 round trip);
 *   - formatting is canonical: format(parse(format(u))) == format(u);
 *   - tk_uri_dup copies every attribute, pin-value included.
 */
#include <openssl/crypto.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = tk_fuzz_cstr(data, size), *formatted, *again_text;
    TK_URI *uri = NULL, *again = NULL, *copy;
    TK_URI_ERROR err;
    TK_URI_ERR rc;
    const char *diff;

    memset(&err, 0, sizeof(err));
    rc = tk_uri_parse(text, &uri, &err);
    if (rc != TK_URI_OK) {
        TK_FUZZ_CHECK(uri == NULL, text, "*out was set on failure");
        TK_FUZZ_CHECK(err.code == rc, text, "err.code %d, returned %d", (int)err.code, (int)rc);
        TK_FUZZ_CHECK(err.offset <= strlen(text), text, "offset %zu past the end", err.offset);
        TK_FUZZ_CHECK(memchr(err.attr, '\0', sizeof(err.attr)) != NULL, text, "attr not terminated");
        TK_FUZZ_CHECK(strspn(err.attr, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                       "0123456789-_") == strlen(err.attr),
                      text, "attr '%s' has more than name characters", err.attr);
        TK_FUZZ_CHECK(tk_uri_strerror(rc) != NULL && *tk_uri_strerror(rc) != '\0', text,
                      "no message for code %d", (int)rc);
        free(text);
        return 0;
    }
    TK_FUZZ_CHECK(uri != NULL, text, "TK_URI_OK without a URI");

    formatted = tk_uri_format(uri);
    TK_FUZZ_CHECK(formatted != NULL, text, "tk_uri_format failed");
    /* '=' inside a value is always escaped, so this can only be the attribute. */
    TK_FUZZ_CHECK(strstr(formatted, "pin-value=") == NULL, text, "formatted with a PIN: %s",
                  formatted);
    rc = tk_uri_parse(formatted, &again, &err);
    TK_FUZZ_CHECK(rc == TK_URI_OK, text, "own output '%s' rejected: %s at offset %zu",
                  formatted, tk_uri_strerror(rc), err.offset);
    diff = tk_fuzz_uri_diff(uri, again, 0);
    TK_FUZZ_CHECK(*diff == '\0', text, "round trip through '%s' changed %s", formatted, diff);
    TK_FUZZ_CHECK(again->pin_value == NULL, text, "a PIN came back from '%s'", formatted);

    again_text = tk_uri_format(again);
    TK_FUZZ_CHECK(again_text != NULL && strcmp(again_text, formatted) == 0, text,
                  "not canonical: '%s' then '%s'", formatted,
                  again_text != NULL ? again_text : "(null)");

    copy = tk_uri_dup(uri);
    TK_FUZZ_CHECK(copy != NULL, text, "tk_uri_dup failed");
    diff = tk_fuzz_uri_diff(uri, copy, 1);
    TK_FUZZ_CHECK(*diff == '\0', text, "tk_uri_dup changed %s", diff);

    tk_uri_free(copy);
    OPENSSL_free(again_text);
    tk_uri_free(again);
    OPENSSL_free(formatted);
    tk_uri_free(uri);
    free(text);
    return 0;
}
