/*
 * r || s (what a PKCS#11 token returns for CKM_ECDSA) to the DER
 * ECDSA-Sig-Value OpenSSL and TLS want (RFC 3279 section 2.2.3):
 *
 *   SEQUENCE { r INTEGER, s INTEGER }
 *
 * Written out rather than through BIGNUMs, ECDSA_SIG and i2d: this runs on
 * every ECDSA signature, and the bignum route cost about 10,000
 * instructions of a P-256 signature's 520,000 (docs/performance.md).
 */
#include <string.h>

#include "signature.h"

/*
 * One DER INTEGER (X.690 section 8.3) for the unsigned big-endian value
 * v[0..n): minimal, so leading zero bytes go, and non-negative, so a first
 * byte with its top bit set gets a 0x00 in front. Zero is one 0x00 byte.
 * Returns the bytes written at out (NULL: only counted).
 */
static size_t der_integer(const unsigned char *v, size_t n, unsigned char *out)
{
    size_t len;

    /* n >= 1 (tk_ecdsa_rs_to_der refuses empty halves), and at least one byte stays. */
    while (n > 1 && v[0] == 0) {
        v++;
        n--;
    }
    len = n + (v[0] & 0x80 ? 1 : 0);
    if (out != NULL) {
        *out++ = 0x02;
        *out++ = (unsigned char)len;
        if (v[0] & 0x80)
            *out++ = 0x00;
        memcpy(out, v, n);
    }
    return 2 + len;
}

int tk_ecdsa_rs_to_der(const unsigned char *rs, size_t rslen, unsigned char *out, size_t outsize,
                       size_t *outlen)
{
    size_t n = rslen / 2, body, total, hdr;

    /* 66-byte halves (P-521) at most: each INTEGER's length fits one byte. */
    if (rslen == 0 || rslen % 2 != 0 || n > TK_ECDSA_MAX_HALF)
        return 0;
    body = der_integer(rs, n, NULL) + der_integer(rs + n, n, NULL);
    /* The SEQUENCE's length: short form below 128, else 0x81 and one byte (X.690 8.1.3). */
    hdr = body < 0x80 ? 2 : 3;
    total = hdr + body;
    if (total > outsize)
        return 0;
    *out++ = 0x30;
    if (hdr == 3)
        *out++ = 0x81;
    *out++ = (unsigned char)body;
    out += der_integer(rs, n, out);
    der_integer(rs + n, n, out);
    *outlen = total;
    return 1;
}
