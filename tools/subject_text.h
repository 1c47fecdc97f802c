/* Text helpers shared by subject.c and san.c (internal to the parsers). */
#ifndef TK_SUBJECT_TEXT_H
#define TK_SUBJECT_TEXT_H

#include <stddef.h>

/* snprintf into err (which may be NULL or empty). */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
void tk_text_fail(char *err, size_t errlen, const char *fmt, ...);

#define TK_QUOTE_IN 60 /* bytes of the user's text shown in a message */

/* A piece of the user's text for a message: one line, printable, bounded. */
typedef struct {
    char s[TK_QUOTE_IN * 4 + 4];
} TK_QUOTED;

/* s[0..len) with control bytes as \xNN, cut after TK_QUOTE_IN bytes with "...". */
const char *tk_text_quote(TK_QUOTED *q, const char *s, size_t len);

int tk_text_is_alpha(int c);
int tk_text_is_digit(int c);
/* 0..15, or -1 for a non-hex character. */
int tk_text_hex_value(int c);
/* a[0..alen) equals the C string b, ASCII case ignored. */
int tk_text_caseeq(const char *a, size_t alen, const char *b);

#endif
