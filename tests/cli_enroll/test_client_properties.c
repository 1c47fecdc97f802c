/*
 * Unit tests for the client.properties reader (tools/client_properties.c):
 * it must read a file as kcat -F does, and never return a value cut short.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/crypto.h>

#include "cli.h"

/* The reader's line buffer: a line of this many characters, newline excluded, still fits. */
#define FITS (PATH_MAX + 256 - 1)

static char path[64];

static void write_file(const char *text, size_t len)
{
    FILE *f;
    int fd;

    strcpy(path, "/tmp/tk-props-XXXXXX");
    assert_true((fd = mkstemp(path)) >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void assert_property(const char *text, const char *key, const char *expected)
{
    char *value;

    write_file(text, strlen(text));
    value = tk_cli_client_property(path, key);
    unlink(path);
    if (expected == NULL) {
        assert_null(value);
    } else {
        assert_non_null(value);
        assert_string_equal(value, expected);
    }
    OPENSSL_free(value);
}

static void kcat_rules(void **state)
{
    (void)state;
    assert_property("ssl.key.location=/k.pem\n", "ssl.key.location", "/k.pem");
    assert_property("  ssl.key.location=  /k.pem \t\r\n", "ssl.key.location", "/k.pem");
    assert_property("ssl.key.location=/a\nssl.key.location=/b", "ssl.key.location", "/b");
    assert_property("#ssl.key.location=/a\n", "ssl.key.location", NULL);
    assert_property("ssl.key.location =/a\n", "ssl.key.location", NULL);
    assert_property("ssl.key.location.x=/a\nssl.key=/b\n", "ssl.key.location", NULL);
    assert_property("a=1\nssl.key.location=\n", "ssl.key.location", "");
}

static void no_file_is_no_property(void **state)
{
    (void)state;
    assert_null(tk_cli_client_property("/nonexistent/client.properties", "a"));
}

/* A line of exactly n characters, then tail; the value is what follows "k=". */
static char *long_line(size_t n, const char *tail)
{
    size_t len = n + strlen(tail);
    char *text = malloc(len + 1);

    assert_non_null(text);
    memcpy(text, "k=", 2);
    memset(text + 2, 'v', n - 2);
    strcpy(text + n, tail);
    return text;
}

static void assert_long_line(size_t n, const char *tail, int whole)
{
    char *text = long_line(n, tail), *value;

    write_file(text, strlen(text));
    value = tk_cli_client_property(path, "k");
    unlink(path);
    if (whole) {
        assert_non_null(value);
        assert_int_equal(strlen(value), n - 2);
    } else {
        assert_null(value);
    }
    OPENSSL_free(value);
    free(text);
}

static void lines_that_fill_the_buffer(void **state)
{
    (void)state;
    assert_long_line(FITS - 1, "", 1);
    assert_long_line(FITS, "", 1);          /* the file's last line, no newline */
    assert_long_line(FITS, "\n", 1);
    assert_long_line(FITS, "\r\n", 1);
    assert_long_line(FITS, "\rX\n", 0);      /* a lone CR, then more of the line */
    assert_long_line(FITS + 1, "", 0);      /* longer: skipped whole, not cut */
    assert_long_line(FITS + 1, "\n", 0);
    assert_long_line(3 * FITS, "\nx=1\n", 0);
}

static void the_line_after_a_long_one_counts(void **state)
{
    char *text = long_line(FITS + 5, "\nk=short\n"), *value;

    (void)state;
    write_file(text, strlen(text));
    value = tk_cli_client_property(path, "k");
    unlink(path);
    assert_non_null(value);
    assert_string_equal(value, "short");
    OPENSSL_free(value);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kcat_rules),
        cmocka_unit_test(no_file_is_no_property),
        cmocka_unit_test(lines_that_fill_the_buffer),
        cmocka_unit_test(the_line_after_a_long_one_counts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
