/*
 * Small text helpers shared by the --subject and --san parsers
 * (subject.c, san.c): error lines and quoting of untrusted text.
 * ASCII-only on purpose, so the locale never changes a result.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "subject_text.h"

void tk_text_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *tk_text_quote(TK_QUOTED *q, const char *s, size_t len)
{
    size_t o = 0;

    for (size_t i = 0; i < len && i < TK_QUOTE_IN; i++) {
        unsigned char c = (unsigned char)s[i];

        /* Control characters would break the one-line message or the terminal. */
        if (c < 0x20 || c == 0x7f)
            o += (size_t)snprintf(q->s + o, sizeof(q->s) - o, "\\x%02x", c);
        else
            q->s[o++] = (char)c;
    }
    q->s[o] = '\0';
    if (len > TK_QUOTE_IN)
        memcpy(q->s + o, "...", 4);
    return q->s;
}

int tk_text_is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int tk_text_is_digit(int c)
{
    return c >= '0' && c <= '9';
}

int tk_text_hex_value(int c)
{
    if (tk_text_is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* ASCII-only, so the locale never changes what a type name means. */
int tk_text_caseeq(const char *a, size_t alen, const char *b)
{
    size_t i;

    for (i = 0; i < alen && b[i] != '\0'; i++) {
        int x = a[i], y = b[i];

        if (x >= 'A' && x <= 'Z')
            x += 'a' - 'A';
        if (y >= 'A' && y <= 'Z')
            y += 'a' - 'A';
        if (x != y)
            return 0;
    }
    return i == alen && b[i] == '\0';
}

