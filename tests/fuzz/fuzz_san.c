/*
 * Fuzzing the CLI's --san parser (tools/subject.h: tk_parse_san).
 *
 * Properties: a refused list comes with a one-line reason and leaves *out
 * untouched; an accepted one has 1..TK_SAN_MAX_NAMES names, each of a type
 * the syntax offers (DNS, IP, email, URI), IP addresses 4 or 16 bytes; and
 * the parser leaves OpenSSL's error queue as it found it.
 */
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "fuzz.h"
#include "subject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = tk_fuzz_cstr(data, size);
    GENERAL_NAMES *sentinel = (GENERAL_NAMES *)&sentinel, *names = sentinel;
    char err[512] = "";
    int ok, n;

    ERR_clear_error();
    ok = tk_parse_san(text, &names, err, sizeof(err));
    TK_FUZZ_CHECK(ERR_peek_error() == 0, text, "the parser left an OpenSSL error on the queue");
    if (!ok) {
        TK_FUZZ_CHECK(names == sentinel, text, "*out changed on failure");
        TK_FUZZ_CHECK(tk_fuzz_good_message(err, sizeof(err)), text,
                      "refused without a one-line reason: '%s'", err);
        free(text);
        return 0;
    }
    TK_FUZZ_CHECK(names != NULL && names != sentinel, text, "accepted without names");
    n = sk_GENERAL_NAME_num(names);
    TK_FUZZ_CHECK(n >= 1 && n <= TK_SAN_MAX_NAMES, text, "%d names", n);
    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);

        TK_FUZZ_CHECK(gn->type == GEN_DNS || gn->type == GEN_IPADD || gn->type == GEN_EMAIL
                      || gn->type == GEN_URI, text, "name %d has type %d", i, gn->type);
        if (gn->type == GEN_IPADD)
            TK_FUZZ_CHECK(ASN1_STRING_length(gn->d.iPAddress) == 4
                          || ASN1_STRING_length(gn->d.iPAddress) == 16, text,
                          "IP address of %d bytes", ASN1_STRING_length(gn->d.iPAddress));
        else
            TK_FUZZ_CHECK(ASN1_STRING_length(gn->d.ia5) > 0, text, "empty name %d", i);
    }
    GENERAL_NAMES_free(names);
    free(text);
    return 0;
}
