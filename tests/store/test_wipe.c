/*
 * What held a pin-value is wiped before it is freed: a key reference read
 * from PEM (keyref.c: the lines, the body, the URI text and its ASN.1 string)
 * and key generation's "token" parameter (keygen.c). A URI may carry a
 * pin-value, and a key reference holds a URI.
 *
 * OpenSSL's allocator is replaced (CRYPTO_set_mem_functions, before any
 * allocation) by one that looks into every block freed while checking is
 * on, and counts the blocks that still hold the PIN. A control proves the
 * search finds one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "keymgmt/keymgmt_local.h"
#include "store/keyref.h"
#include "store_util.h"

#define NEEDLE "4711wipe-me-pin4711"
#define HEADER 16 /* the block's size, kept in front of it */

static int checking;
static int leaks;
static char leak_at[256];

static void *t_malloc(size_t num, const char *file, int line)
{
    unsigned char *p = malloc(num + HEADER);

    if (p == NULL)
        return NULL;
    /* Zeroed: t_free reads the whole block, and valgrind must not see uninitialised reads. */
    memset(p, 0, num + HEADER);
    memcpy(p, &num, sizeof(num));
    return p + HEADER;
}

static void t_free(void *addr, const char *file, int line)
{
    unsigned char *p = addr;
    size_t num;

    if (p == NULL)
        return;
    p -= HEADER;
    memcpy(&num, p, sizeof(num));
    if (checking && memmem(p + HEADER, num, NEEDLE, strlen(NEEDLE)) != NULL) {
        leaks++;
        snprintf(leak_at, sizeof(leak_at), "%s:%d", file, line);
    }
    free(p);
}

/* A grown block keeps its content where it moves: the old copy is not a leak. */
static void *t_realloc(void *addr, size_t num, const char *file, int line)
{
    unsigned char *p = addr, *q;
    size_t old;

    if (p == NULL)
        return t_malloc(num, file, line);
    q = t_malloc(num, file, line);
    if (q == NULL)
        return NULL;
    memcpy(&old, p - HEADER, sizeof(old));
    memcpy(q, p, old < num ? old : num);
    memset(p, 0, old);
    free(p - HEADER);
    return q;
}

static void start(void)
{
    leaks = 0;
    leak_at[0] = '\0';
    checking = 1;
}

static void stop_expect(int want)
{
    checking = 0;
    if (leaks != want)
        fail_msg("%d freed block(s) held the PIN (last freed at %s), expected %d", leaks,
                 leak_at, want);
}

/* The search finds a PIN that was not wiped. */
static void test_control(void **state)
{
    char *copy = OPENSSL_strdup("pin-value=" NEEDLE);

    start();
    OPENSSL_free(copy);
    stop_expect(1);
}

/* Read a key reference to uri as the PEM decoder does; 1 when it is good. */
static int read_keyref(const char *uri)
{
    char *pem = st_keyref_pem(TK_KEYREF_PEM_LABEL, TK_KEYREF_DESCRIPTION, uri, 0);
    unsigned char *der = NULL;
    size_t len = 0;
    TK_KEYREF_KIND kind;
    TK_URI *parsed = NULL;
    char why[256];
    BIO *in;
    int ok;

    in = BIO_new_mem_buf(pem, -1);
    assert_non_null(in);
    start();
    ok = tk_keyref_read_pem(in, &der, &len, &kind, why, sizeof(why)) == TK_KEYREF_OK
         && tk_keyref_from_der(der, len, kind, &parsed, why, sizeof(why)) == TK_KEYREF_OK;
    if (ok)
        assert_string_equal(parsed->pin_value, NEEDLE);
    OPENSSL_clear_free(der, len); /* decoder.c's part */
    tk_uri_free(parsed);
    BIO_free(in);
    stop_expect(0);
    free(pem);
    return ok;
}

/* A well-formed key reference with a PIN in it: refused (a public file), and wiped. */
static void test_keyref_pin_refused(void **state)
{
    assert_false(read_keyref("pkcs11:token=t1;object=k;type=private?pin-value=" NEEDLE));
}

/* The URI does not parse: the text check_uri made of it is wiped too. */
static void test_keyref_bad_uri(void **state)
{
    assert_false(read_keyref("pkcs11:token=t1;colour=blue?pin-value=" NEEDLE));
}

/* keygen's token parameter, replaced once and then freed with the context. */
static void test_keygen_token(void **state)
{
    char first[] = "pkcs11:token=t1?pin-value=" NEEDLE, second[] = "pkcs11:token=t2?pin-value=" NEEDLE;
    OSSL_PARAM p1[] = { OSSL_PARAM_utf8_string(TK_KM_GEN_PARAM_TOKEN, first, 0), OSSL_PARAM_END };
    OSSL_PARAM p2[] = { OSSL_PARAM_utf8_string(TK_KM_GEN_PARAM_TOKEN, second, 0), OSSL_PARAM_END };
    void *g;

    p1[0].data_size = strlen(first);
    p2[0].data_size = strlen(second);
    g = tk_km_gen_init(NULL, OSSL_KEYMGMT_SELECT_KEYPAIR, NULL, TK_KEY_EC);
    assert_non_null(g);
    start();
    assert_int_equal(tk_km_gen_set_params(g, p1), 1);
    assert_int_equal(tk_km_gen_set_params(g, p2), 1);
    tk_km_gen_cleanup(g);
    stop_expect(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_keyref_pin_refused),
        cmocka_unit_test(test_keyref_bad_uri),
        cmocka_unit_test(test_keygen_token),
    };

    /* Before anything allocates through OpenSSL: it refuses later. */
    if (!CRYPTO_set_mem_functions(t_malloc, t_realloc, t_free)) {
        fprintf(stderr, "test: CRYPTO_set_mem_functions refused\n");
        return 1;
    }
    return cmocka_run_group_tests_name("store-wipe", tests, NULL, NULL);
}
