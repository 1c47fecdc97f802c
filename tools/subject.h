/*
 * The --subject and --san text of `tokenkey csr`, parsed into OpenSSL's
 * structures. Pure functions: no I/O, no global state left changed (the
 * OpenSSL error queue is restored), safe on any input - they are fuzzed.
 * Anything that is not clearly one thing is rejected, never guessed at.
 * In subject.c (names), san.c (alternative names) and subject_text.c.
 */
#ifndef TK_SUBJECT_H
#define TK_SUBJECT_H

#include <stddef.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* Longer input is refused before it is parsed. */
#define TK_SUBJECT_MAX_LEN 4096
#define TK_SAN_MAX_LEN 8192
/* At most this many attributes in a subject, names in a SAN list. */
#define TK_SUBJECT_MAX_ATTRS 64
#define TK_SAN_MAX_NAMES 64

/*
 * A distinguished name, in either of the two spellings people copy from:
 *   OpenSSL's  "/C=DE/O=Acme/CN=client 1"   RDNs in order, '\' escapes the next
 *                                             character ("\/", "\+", "\\");
 *   RFC 4514's "CN=client 1,O=Acme,C=DE"    RDNs in reverse order (the last
 *                                             RDN of the name comes first),
 *                                             '\' escapes one of  ,+"\<>;=#
 *                                             and space, or two hex digits.
 * Text starting with '/' is OpenSSL's, anything else RFC 4514's; both give
 * the same name above. '+' joins attributes into one multi-valued RDN.
 * Attribute types: C, ST, L, O, OU, CN, street, DC, UID, emailAddress,
 * serialNumber, title, SN, GN, initials, pseudonym, dnQualifier,
 * generationQualifier, businessCategory, postalCode, name (any case, also
 * their long names) or a dotted OID. Values are UTF-8, checked against
 * X.520's limits (C is two letters, CN at most 64 characters...).
 *
 * Returns 1 and a new name in *out, or 0 with one line in err (which
 * quotes the offending part and says what to do) and *out untouched.
 */
int tk_parse_subject(const char *text, X509_NAME **out, char *err, size_t errlen);

/*
 * Subject alternative names (RFC 5280 section 4.2.1.6), comma-separated:
 *   "DNS:client.example.com,IP:192.0.2.1,IP:2001:db8::1,email:ops@example.com,
 *    URI:spiffe://example.com/client"
 * Type prefixes in any case; spaces around items are ignored. DNS names
 * follow RFC 1035 (a '*' only as the whole leftmost label), IP addresses
 * are IPv4 dotted-quad or IPv6 text, email is local@domain, URI needs a
 * scheme. A ',' inside a URI must be written %2C. Duplicates are refused.
 *
 * Returns 1 and a new GENERAL_NAMES in *out, or 0 with one line in err.
 */
int tk_parse_san(const char *text, GENERAL_NAMES **out, char *err, size_t errlen);

#endif
