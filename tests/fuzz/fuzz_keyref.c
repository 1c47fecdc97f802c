/*
 * Fuzzing the key reference decoder (provider/store/keyref.h): the PEM
 * reader and the DER parser, the functions that read a file an attacker
 * may have written where an application expects a key.
 *
 * The input goes through both paths:
 *   - as text, block by block through tk_keyref_read_pem (a file may hold
 *     other PEM blocks first, as a key file with its certificate does), and
 *     each body of ours through tk_keyref_from_der with its label's kind;
 *   - as DER, straight into tk_keyref_from_der with each kind.
 * Properties: ANY gives NOT_OURS for what is not a key reference, a PEM
 * label's kind never does (everything wrong with our own label is BAD); BAD
 * comes with a one-line reason; OK comes with a URI and nothing else does;
 * a decoded URI written back with tk_keyref_to_der decodes to the same URI.
 */
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "fuzz.h"
#include "store/keyref.h"

/* At most this many PEM blocks per input: enough to pass a few foreign ones. */
#define MAX_BLOCKS 8

static void check_der(const unsigned char *der, size_t len, TK_KEYREF_KIND kind,
                      const char *input)
{
    char why[256] = "", *text;
    TK_URI *uri = (TK_URI *)&uri, *again = NULL;
    TK_KEYREF_RESULT r = tk_keyref_from_der(der, len, kind, &uri, why, sizeof(why));
    unsigned char *der2 = NULL;
    size_t len2 = 0;
    const char *diff;

    if (r != TK_KEYREF_OK) {
        TK_FUZZ_CHECK(uri == NULL, input, "kind %d: result %d with a URI", (int)kind, (int)r);
        if (r == TK_KEYREF_BAD)
            TK_FUZZ_CHECK(tk_fuzz_good_message(why, sizeof(why)), input,
                          "kind %d: BAD without a one-line reason: '%s'", (int)kind, why);
        else
            TK_FUZZ_CHECK(r == TK_KEYREF_NOT_OURS && kind == TK_KEYREF_ANY, input,
                          "kind %d: result %d (a PEM label of ours is never NOT_OURS)",
                          (int)kind, (int)r);
        return;
    }
    TK_FUZZ_CHECK(uri != NULL, input, "kind %d: OK without a URI", (int)kind);

    /* What we decoded, written back as a tokenkey key reference, decodes the same. */
    text = tk_uri_format(uri);
    TK_FUZZ_CHECK(text != NULL, input, "cannot format the decoded URI");
    TK_FUZZ_CHECK(tk_keyref_to_der(text, &der2, &len2), input, "cannot encode '%s'", text);
    r = tk_keyref_from_der(der2, len2, TK_KEYREF_TOKENKEY, &again, why, sizeof(why));
    TK_FUZZ_CHECK(r == TK_KEYREF_OK, input, "own encoding of '%s' refused: %s", text, why);
    diff = tk_fuzz_uri_diff(uri, again, 0);
    TK_FUZZ_CHECK(*diff == '\0', input, "re-encoding '%s' changed %s", text, diff);

    tk_uri_free(again);
    OPENSSL_free(der2);
    OPENSSL_free(text);
    tk_uri_free(uri);
}

static void check_pem(const uint8_t *data, size_t size, const char *input)
{
    BIO *in = BIO_new_mem_buf(data, (int)size);

    if (in == NULL)
        abort();
    for (int block = 0; block < MAX_BLOCKS && !BIO_eof(in); block++) {
        unsigned char *der = NULL;
        size_t len = 0;
        TK_KEYREF_KIND kind = (TK_KEYREF_KIND)-1;
        char why[256] = "";
        TK_KEYREF_RESULT r = tk_keyref_read_pem(in, &der, &len, &kind, why, sizeof(why));

        if (r == TK_KEYREF_BAD) {
            TK_FUZZ_CHECK(tk_fuzz_good_message(why, sizeof(why)), input,
                          "PEM: BAD without a one-line reason: '%s'", why);
            break;
        }
        if (r == TK_KEYREF_NOT_OURS)
            continue; /* no block, or someone else's: the reader skipped it */
        TK_FUZZ_CHECK(r == TK_KEYREF_OK, input, "PEM: result %d", (int)r);
        TK_FUZZ_CHECK(kind == TK_KEYREF_TOKENKEY || kind == TK_KEYREF_P11PROV, input,
                      "PEM: OK with kind %d (only our two labels are read)", (int)kind);
        TK_FUZZ_CHECK(der != NULL || len == 0, input, "PEM: OK without a body");
        check_der(der, len, kind, input);
        OPENSSL_free(der);
    }
    BIO_free(in);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Printed on a failed property; a C string of the input up to its first NUL. */
    char *input = tk_fuzz_cstr(data, size);

    if (size > 65536) { /* a key reference is a few hundred bytes; BIO wants an int */
        free(input);
        return 0;
    }
    check_pem(data, size, input);
    check_der(data, size, TK_KEYREF_ANY, input);
    check_der(data, size, TK_KEYREF_TOKENKEY, input);
    check_der(data, size, TK_KEYREF_P11PROV, input);
    /* d2i failures leave ASN.1 errors on the queue; don't let them pile up. */
    ERR_clear_error();
    free(input);
    return 0;
}
