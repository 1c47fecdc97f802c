/* PIN sources (see pin.h). PINs live in stack buffers and are wiped after use. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include <sys/stat.h>

#include "debug.h"
#include "errors.h"
#include "pin.h"
#include "pinfile.h"
#include "provider.h"

const char *tk_pin_spec_target(const char *spec, TK_PIN_KIND *kind)
{
    /* RFC 7512: pin-source is a URI; "file:" or a bare path name a file. */
    if (strncmp(spec, "env:", 4) == 0) {
        *kind = TK_PIN_ENV;
        return spec + 4;
    }
    *kind = TK_PIN_FILE;
    if (strncmp(spec, "file://", 7) == 0)
        return spec + 7;
    if (strncmp(spec, "file:", 5) == 0)
        return spec + 5;
    return spec;
}

static int looks_like_variable_name(const char *name)
{
    if (!isupper((unsigned char)*name) && *name != '_')
        return 0;
    for (; *name != '\0'; name++)
        if (!isupper((unsigned char)*name) && !isdigit((unsigned char)*name) && *name != '_')
            return 0;
    return 1;
}

const char *tk_pin_target_display(TK_PIN_KIND kind, const char *target, char *out, size_t cap)
{
    struct stat st;
    int shown = kind == TK_PIN_ENV
                    ? getenv(target) != NULL || looks_like_variable_name(target)
                    : strchr(target, '/') != NULL || lstat(target, &st) == 0;

    if (shown)
        snprintf(out, cap, kind == TK_PIN_ENV ? "%s" : "'%s'", target);
    else
        snprintf(out, cap, "(name not shown: %s, so it may be the PIN itself)",
                 kind == TK_PIN_ENV ? "no such variable and not an upper-case name"
                                    : "no such file and no '/' in it");
    return out;
}

static int set_from_spec(TK_PIN_SOURCE *src, const char *spec)
{
    spec = tk_pin_spec_target(spec, &src->kind);
    if (*spec == '\0') {
        TK_RAISE(src->ctx, TK_R_PIN_UNAVAILABLE, "empty PIN source");
        return 0;
    }
    src->spec = OPENSSL_strdup(spec);
    if (src->spec == NULL) {
        TK_RAISE(src->ctx, TK_R_OUT_OF_MEMORY, "PIN source");
        return 0;
    }
    return 1;
}

int tk_pin_source_choose(TK_PIN_SOURCE *src, const TK_PROVCTX *ctx, const TK_URI *uri,
                         const char *config_pin, OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    memset(src, 0, sizeof(*src));
    src->ctx = ctx;
    if (uri != NULL && uri->pin_value != NULL) {
        src->kind = TK_PIN_VALUE;
        src->spec = OPENSSL_strdup(uri->pin_value);
        if (src->spec == NULL) {
            TK_RAISE(ctx, TK_R_OUT_OF_MEMORY, "PIN");
            return 0;
        }
        return 1;
    }
    if (uri != NULL && uri->pin_source != NULL)
        return set_from_spec(src, uri->pin_source);
    if (config_pin != NULL)
        return set_from_spec(src, config_pin);
    if (cb != NULL) {
        src->kind = TK_PIN_PROMPT;
        src->cb = cb;
        src->cbarg = cbarg;
        if (uri != NULL && uri->token != NULL)
            snprintf(src->prompt_info, sizeof(src->prompt_info), "%s", uri->token);
        return 1;
    }
    src->kind = TK_PIN_NONE;
    return 1;
}

int tk_pin_source_copy_lasting(TK_PIN_SOURCE *dst, const TK_PIN_SOURCE *src)
{
    memset(dst, 0, sizeof(*dst));
    dst->ctx = src->ctx;
    dst->prompted_once = src->kind == TK_PIN_PROMPT || src->prompted_once;
    if (src->kind == TK_PIN_PROMPT || src->kind == TK_PIN_NONE)
        return 1;
    dst->spec = OPENSSL_strdup(src->spec);
    if (dst->spec == NULL)
        return 0;
    dst->kind = src->kind;
    return 1;
}

void tk_pin_source_clear(TK_PIN_SOURCE *src)
{
    if (src->spec != NULL)
        OPENSSL_clear_free(src->spec, strlen(src->spec));
    memset(src, 0, sizeof(*src));
}

static CK_RV read_pin_file(TK_PIN_SOURCE *src, char *buf, size_t cap, size_t *len)
{
    char name[PATH_MAX + 3];
    unsigned mode;
    int err = 0;
    TK_PINFILE_STATUS st = tk_pinfile_read(src->spec, buf, cap, len, &mode, &err);

    if (st != TK_PINFILE_UNREADABLE && tk_pinfile_too_open(mode)) {
        fprintf(stderr, "tokenkey: warning: PIN file '%s' can be read by other users "
                        "(mode %04o): chmod 600 it\n", src->spec, mode);
        TK_DEBUG("PIN file '%s' has mode %04o", src->spec, mode);
    }
    switch (st) {
    case TK_PINFILE_OK:
        return CKR_OK;
    case TK_PINFILE_UNREADABLE:
        TK_RAISE(src->ctx, TK_R_PIN_FILE, "PIN file %s: %s",
                 tk_pin_target_display(TK_PIN_FILE, src->spec, name, sizeof(name)), strerror(err));
        break;
    case TK_PINFILE_TOO_LONG:
        TK_RAISE(src->ctx, TK_R_PIN_FILE, "PIN file '%s' is longer than %zu bytes: is it the right file?",
                 src->spec, cap);
        break;
    case TK_PINFILE_NO_DATA:
        TK_RAISE(src->ctx, TK_R_PIN_FILE, "PIN file '%s' is a pipe or device that gave no PIN "
                 "(a line, or its end) in %d seconds: give a regular file, or start the program "
                 "that writes it first", src->spec, TK_PINFILE_WAIT_SECONDS);
        break;
    case TK_PINFILE_EMPTY:
    default:
        TK_RAISE(src->ctx, TK_R_PIN_FILE, "PIN file '%s' is empty", src->spec);
        break;
    }
    return TK_CKR_PIN_SOURCE_FAILED;
}

static CK_RV copy_pin(TK_PIN_SOURCE *src, const char *pin, const char *what,
                      char *buf, size_t cap, size_t *len)
{
    size_t n = pin != NULL ? tk_pin_trimmed_len(pin, strlen(pin)) : 0;

    if (n == 0) {
        TK_RAISE(src->ctx, TK_R_PIN_UNAVAILABLE, "%s is empty or not set", what);
        return TK_CKR_PIN_SOURCE_FAILED;
    }
    if (n > cap) {
        TK_RAISE(src->ctx, TK_R_PIN_UNAVAILABLE, "%s is longer than %zu bytes", what, cap);
        return TK_CKR_PIN_SOURCE_FAILED;
    }
    memcpy(buf, pin, n);
    *len = n;
    return CKR_OK;
}

static CK_RV prompt_pin(TK_PIN_SOURCE *src, char *buf, size_t cap, size_t *len)
{
    OSSL_PARAM params[2];
    size_t got = 0;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO,
                                                 src->prompt_info, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (!src->cb(buf, cap, &got, params, src->cbarg) || got == 0) {
        TK_RAISE(src->ctx, TK_R_PIN_UNAVAILABLE, "the application gave no PIN");
        return TK_CKR_PIN_UNAVAILABLE;
    }
    *len = got;
    return CKR_OK;
}

int tk_pin_stored(void *arg)
{
    const TK_PIN_SOURCE *src = arg;
    const char *value = src->kind == TK_PIN_ENV ? getenv(src->spec) : NULL;

    /* A variable not set, or empty, keeps no PIN: a PIN pad then reads it. */
    return src->kind == TK_PIN_VALUE || src->kind == TK_PIN_FILE
           || (value != NULL && *value != '\0');
}

CK_RV tk_pin_get(void *arg, char *buf, size_t cap, size_t *len)
{
    TK_PIN_SOURCE *src = arg;
    char what[300], name[256];

    switch (src->kind) {
    case TK_PIN_VALUE:
        return copy_pin(src, src->spec, "pin-value in the URI", buf, cap, len);
    case TK_PIN_FILE:
        return read_pin_file(src, buf, cap, len);
    case TK_PIN_ENV:
        snprintf(what, sizeof(what), "environment variable %s",
                 tk_pin_target_display(TK_PIN_ENV, src->spec, name, sizeof(name)));
        return copy_pin(src, getenv(src->spec), what, buf, cap, len);
    case TK_PIN_PROMPT:
        return prompt_pin(src, buf, cap, len);
    case TK_PIN_NONE:
    default:
        if (src->prompted_once)
            TK_RAISE(src->ctx, TK_R_PIN_UNAVAILABLE, "the token needs the PIN again (a key that "
                     "asks for it at each use, CKA_ALWAYS_AUTHENTICATE, or a token that lost its "
                     "login), and the application's prompt is asked only while a key loads: give a "
                     "source that lasts");
        else
            TK_RAISE(src->ctx, TK_R_PIN_UNAVAILABLE, "the token needs a PIN");
        return TK_CKR_PIN_UNAVAILABLE;
    }
}
