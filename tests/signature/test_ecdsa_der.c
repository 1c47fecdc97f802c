/*
 * tk_ecdsa_rs_to_der (provider/signature/ecdsa_der.c) against OpenSSL's own
 * encoder: for r || s of every size tokenkey signs with (P-256, P-384,
 * P-521), random and with the edge cases of DER INTEGERs (leading zero
 * bytes, top bit set, zero), the bytes must equal i2d_ECDSA_SIG's.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

#include "signature.h"

/* OpenSSL's encoding of r || s (two halves of n bytes) into want; its length. */
static size_t reference_der(const unsigned char *rs, size_t n, unsigned char *want)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, (int)n, NULL), *s = BN_bin2bn(rs + n, (int)n, NULL);
    unsigned char *p = want;
    int len;

    assert_non_null(sig);
    assert_non_null(r);
    assert_non_null(s);
    assert_int_equal(ECDSA_SIG_set0(sig, r, s), 1);
    len = i2d_ECDSA_SIG(sig, &p);
    assert_true(len > 0);
    ECDSA_SIG_free(sig);
    return (size_t)len;
}

static void check_same(const unsigned char *rs, size_t n)
{
    unsigned char want[256], got[256];
    size_t want_len = reference_der(rs, n, want), got_len = 0;

    assert_int_equal(tk_ecdsa_rs_to_der(rs, 2 * n, got, sizeof(got), &got_len), 1);
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    /* Exactly the size needed is enough; one byte less is refused. */
    assert_int_equal(tk_ecdsa_rs_to_der(rs, 2 * n, got, want_len, &got_len), 1);
    assert_int_equal(tk_ecdsa_rs_to_der(rs, 2 * n, got, want_len - 1, &got_len), 0);
}

static const size_t halves[] = { 32, 48, 66 };

static void test_random_values(void **state)
{
    unsigned char rs[2 * TK_ECDSA_MAX_HALF];

    (void)state;
    for (size_t h = 0; h < sizeof(halves) / sizeof(halves[0]); h++) {
        for (int i = 0; i < 5000; i++) {
            assert_int_equal(RAND_bytes(rs, (int)(2 * halves[h])), 1);
            check_same(rs, halves[h]);
        }
    }
}

/* Leading zero bytes (0..n of them) in r and in s, with and without the top bit after. */
static void test_leading_zeros_and_top_bit(void **state)
{
    unsigned char rs[2 * TK_ECDSA_MAX_HALF];

    (void)state;
    for (size_t h = 0; h < sizeof(halves) / sizeof(halves[0]); h++) {
        size_t n = halves[h];

        for (size_t zeros = 0; zeros <= n; zeros++) {
            for (int top = 0; top < 2; top++) {
                assert_int_equal(RAND_bytes(rs, (int)(2 * n)), 1);
                memset(rs, 0, zeros);
                memset(rs + n, 0, n - zeros);
                if (zeros < n)
                    rs[zeros] = top ? (unsigned char)(rs[zeros] | 0x80) : (unsigned char)(rs[zeros] & 0x7f);
                if (n - zeros < n)
                    rs[n + (n - zeros)] = top ? 0xff : 0x01;
                check_same(rs, n);
            }
        }
    }
}

static void test_both_zero_and_both_ff(void **state)
{
    unsigned char rs[2 * TK_ECDSA_MAX_HALF];

    (void)state;
    for (size_t h = 0; h < sizeof(halves) / sizeof(halves[0]); h++) {
        memset(rs, 0, sizeof(rs));
        check_same(rs, halves[h]);
        memset(rs, 0xff, sizeof(rs));
        check_same(rs, halves[h]);
    }
}

static void test_refuses_bad_lengths(void **state)
{
    unsigned char rs[2 * TK_ECDSA_MAX_HALF + 2] = { 1 }, out[256];
    size_t len = 0;

    (void)state;
    assert_int_equal(tk_ecdsa_rs_to_der(rs, 0, out, sizeof(out), &len), 0);
    assert_int_equal(tk_ecdsa_rs_to_der(rs, 63, out, sizeof(out), &len), 0);
    assert_int_equal(tk_ecdsa_rs_to_der(rs, 2 * TK_ECDSA_MAX_HALF + 2, out, sizeof(out), &len), 0);
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_values),
        cmocka_unit_test(test_leading_zeros_and_top_bit),
        cmocka_unit_test(test_both_zero_and_both_ff),
        cmocka_unit_test(test_refuses_bad_lengths),
    };

    return cmocka_run_group_tests_name("ecdsa-der", tests, NULL, NULL);
}
