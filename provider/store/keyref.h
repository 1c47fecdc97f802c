/*
 * The key reference file: a PEM block around a small DER structure that
 * names a token key by its pkcs11: URI (RFC 7512). It never holds key
 * material nor a PIN, so it can sit where an application expects a key
 * file (librdkafka's ssl.key.location).
 *
 *   KeyReference ::= SEQUENCE {
 *       description  VisibleString,   -- "tokenkey key reference v1"
 *       uri          UTF8String       -- "pkcs11:token=...;id=...;type=private"
 *   }
 *
 * pkcs11-provider writes the same structure under its own PEM label and
 * description; we read those too (and write only our own).
 */
#ifndef TK_STORE_KEYREF_H
#define TK_STORE_KEYREF_H

#include <stddef.h>

#include <openssl/bio.h>
#include <openssl/core.h>

#include "provider.h"
#include "tokenkey/uri.h"

#define TK_KEYREF_PEM_LABEL "TOKENKEY KEY REFERENCE"
#define TK_KEYREF_DESCRIPTION "tokenkey key reference v1"
/* latchset/pkcs11-provider's key files (src/encoder.c there). */
#define TK_KEYREF_P11PROV_PEM_LABEL "PKCS#11 PROVIDER URI"
#define TK_KEYREF_P11PROV_DESCRIPTION "PKCS#11 Provider URI v1.0"

/* Our decoders' and encoders' structure name for the DER above. */
#define TK_KEYREF_STRUCTURE "tokenkey-keyref"
/*
 * The longest key reference in DER, written or read: room for a URI with
 * long labels and ids, escaped. The decoder that turns one into a key reads
 * this much at most, so longer ones are refused when read, and not written
 * (a key whose CKA_LABEL or CKA_ID alone runs to kilobytes).
 */
#define TK_KEYREF_DER_MAX 4096

/* Which flavour a PEM label announced; ANY for bare DER (either description). */
typedef enum { TK_KEYREF_ANY = 0, TK_KEYREF_TOKENKEY, TK_KEYREF_P11PROV } TK_KEYREF_KIND;

typedef enum {
    TK_KEYREF_OK,       /* a good key reference */
    TK_KEYREF_NOT_OURS, /* not a key reference at all: let other decoders try */
    TK_KEYREF_BAD       /* a key reference, but broken: why says what is wrong */
} TK_KEYREF_RESULT;

/*
 * Parse the DER of a key reference. With kind ANY (bare DER), input that
 * does not have the KeyReference shape, or has it with neither of our
 * descriptions, is NOT_OURS; with a PEM label's kind, everything wrong is
 * BAD. On OK, *uri is the parsed URI (tk_uri_free it).
 */
TK_KEYREF_RESULT tk_keyref_from_der(const unsigned char *der, size_t len, TK_KEYREF_KIND kind,
                                    TK_URI **uri, char *why, size_t whylen);

/*
 * Read one PEM block from in, as PEM_read_bio would (lines before the BEGIN
 * line are skipped). OK: *der / *len hold its body (OPENSSL_free it) and
 * *kind its flavour. NOT_OURS: no PEM block, or another label. BAD: one of
 * our labels, broken (truncated, corrupt base64, headers...).
 */
TK_KEYREF_RESULT tk_keyref_read_pem(BIO *in, unsigned char **der, size_t *len,
                                    TK_KEYREF_KIND *kind, char *why, size_t whylen);

/*
 * Whether the rest of in holds another key (a PEM block labelled as a
 * private key or a key reference) or a block that does not parse (it may
 * be one): 1, else 0 (only other blocks, certificates say, then the end).
 * Reads in as far as it looks. A key after a key reference is a hazard:
 * OpenSSL 3.0's PEM_read_bio_PrivateKey, when the reference fails, reads
 * the file again with its legacy reader, which skips our block and takes
 * that key, silently (docs/provider.md, "Key reference files").
 */
int tk_keyref_key_follows(BIO *in);

/* The DER of a tokenkey key reference to uri (OPENSSL_free it); 0 on failure. */
int tk_keyref_to_der(const char *uri, unsigned char **der, size_t *len);

/* A BIO over a core BIO handed to a decoder or encoder; NULL after raising. */
BIO *tk_store_core_bio(TK_PROVCTX *ctx, OSSL_CORE_BIO *cbio);

#endif
