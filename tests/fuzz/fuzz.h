/*
 * Shared by the libFuzzer harnesses (fuzz_*.c). Each harness defines
 * LLVMFuzzerTestOneInput; it is linked either with libFuzzer
 * (-fsanitize=fuzzer, clang, meson -Dfuzzing=true) or with replay.c, a
 * main() that runs the seed corpus through it with any compiler, so the
 * corpus is checked in every build (and under ASan and valgrind).
 *
 * A harness checks properties, not only "no crash": when one does not
 * hold it prints why and aborts, which libFuzzer reports as a crash with
 * the input saved.
 */
#ifndef TK_FUZZ_H
#define TK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenkey/uri.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The property failed: say which, with the input as text, and crash. */
#define TK_FUZZ_CHECK(cond, input, ...)                                            \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "fuzz property failed at %s:%d: %s\n  ", __FILE__,    \
                    __LINE__, #cond);                                             \
            fprintf(stderr, __VA_ARGS__);                                         \
            fprintf(stderr, "\n  input: \"%s\"\n", (input));                      \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* The input as a NUL-terminated string (parsers take C strings); free() it. */
static inline char *tk_fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);

    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* An error message must be one terminated line that says something. */
static inline int tk_fuzz_good_message(const char *msg, size_t cap)
{
    size_t n = strnlen(msg, cap);

    return n > 0 && n < cap && strchr(msg, '\n') == NULL;
}

static inline int tk_fuzz_same_str(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Which attribute differs ("" when none); pin-value compared when with_pin. */
static inline const char *tk_fuzz_uri_diff(const TK_URI *a, const TK_URI *b, int with_pin)
{
#define SAME_STR(f) if (!tk_fuzz_same_str(a->f, b->f)) return #f
    SAME_STR(token);
    SAME_STR(manufacturer);
    SAME_STR(serial);
    SAME_STR(model);
    SAME_STR(library_manufacturer);
    SAME_STR(library_description);
    SAME_STR(slot_manufacturer);
    SAME_STR(slot_description);
    SAME_STR(object);
    SAME_STR(pin_source);
    SAME_STR(module_name);
    SAME_STR(module_path);
    if (with_pin)
        SAME_STR(pin_value);
#undef SAME_STR
    if (a->has_library_version != b->has_library_version
        || (a->has_library_version && (a->library_version_major != b->library_version_major
                                       || a->library_version_minor != b->library_version_minor)))
        return "library-version";
    if (a->has_slot_id != b->has_slot_id || (a->has_slot_id && a->slot_id != b->slot_id))
        return "slot-id";
    if (a->type != b->type)
        return "type";
    if (a->has_id != b->has_id || a->id_len != b->id_len
        || (a->id_len > 0 && memcmp(a->id, b->id, a->id_len) != 0))
        return "id";
    return "";
}

#endif
