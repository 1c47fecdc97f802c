#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bio.h>
#include <openssl/err.h>

#include "error_text.h"

char *tk_test_error_text(void)
{
    BIO *mem = BIO_new(BIO_s_mem());
    char *data = NULL, *copy;
    long len;

    assert_non_null(mem);
    ERR_print_errors(mem);
    len = BIO_get_mem_data(mem, &data);
    copy = strndup(len > 0 && data != NULL ? data : "", len > 0 ? (size_t)len : 0);
    BIO_free(mem);
    assert_non_null(copy);
    return copy;
}
