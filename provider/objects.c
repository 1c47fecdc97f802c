/* Finding objects by URI (see objects.h). */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "errors.h"
#include "objects.h"

static void copy_field(char **dst, const unsigned char *field, size_t size)
{
    *dst = OPENSSL_strndup((const char *)field, (size_t)tk_p11_text_len(field, size));
}

static TK_URI_TYPE uri_type_of(CK_OBJECT_CLASS cls)
{
    switch (cls) {
    case CKO_PRIVATE_KEY: return TK_URI_TYPE_PRIVATE;
    case CKO_PUBLIC_KEY: return TK_URI_TYPE_PUBLIC;
    case CKO_CERTIFICATE: return TK_URI_TYPE_CERT;
    case CKO_SECRET_KEY: return TK_URI_TYPE_SECRET;
    default: return TK_URI_TYPE_DATA;
    }
}

char *tk_objects_uri_named(TK_P11_TOKEN *t, const char *label, const unsigned char *id,
                           size_t id_len, CK_OBJECT_CLASS cls)
{
    const CK_TOKEN_INFO *ti = tk_p11_token_cached_info(t);
    TK_URI uri;
    char *text = NULL;

    memset(&uri, 0, sizeof(uri));
    copy_field(&uri.model, ti->model, sizeof(ti->model));
    copy_field(&uri.manufacturer, ti->manufacturerID, sizeof(ti->manufacturerID));
    copy_field(&uri.serial, ti->serialNumber, sizeof(ti->serialNumber));
    copy_field(&uri.token, ti->label, sizeof(ti->label));
    uri.object = (char *)label;
    uri.id = (unsigned char *)id;
    uri.id_len = id_len;
    uri.has_id = id != NULL && id_len > 0;
    uri.type = uri_type_of(cls);
    if (uri.model != NULL && uri.manufacturer != NULL && uri.serial != NULL && uri.token != NULL)
        text = tk_uri_format(&uri);
    OPENSSL_free(uri.model);
    OPENSSL_free(uri.manufacturer);
    OPENSSL_free(uri.serial);
    OPENSSL_free(uri.token);
    return text;
}

char *tk_objects_uri(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_OBJECT_CLASS cls)
{
    CK_ATTRIBUTE a[2] = { { CKA_LABEL }, { CKA_ID } };
    char *label = NULL, *text = NULL;

    if (tk_p11_get_attrs_alloc(s, o, a, 2) != CKR_OK)
        return NULL;
    if (a[0].pValue == NULL
        || (label = OPENSSL_strndup(a[0].pValue, a[0].ulValueLen)) != NULL)
        text = tk_objects_uri_named(s->token, label, a[1].pValue,
                                    a[1].pValue != NULL ? a[1].ulValueLen : 0, cls);
    OPENSSL_free(label);
    tk_p11_attrs_free(a, 2);
    return text;
}

/*
 * pin-source is written as "pin-source=...": saying that one was given
 * helps whoever reads the message, but its value may be the PIN itself,
 * put there by mistake (see tk_pin_target_display). Whether the file or
 * variable it names is shown is for the PIN source's own error to decide.
 * tk_uri_format never writes pin-value.
 */
char *tk_objects_uri_for_message(const TK_URI *uri)
{
    static char elided[] = "...";
    TK_URI shown;
    char *text = NULL;

    if (uri != NULL) {
        shown = *uri; /* shallow: only pin_source is replaced, nothing is freed */
        if (shown.pin_source != NULL)
            shown.pin_source = elided;
        text = tk_uri_format(&shown);
    }
    return text != NULL ? text : OPENSSL_strdup("(unprintable URI)");
}

/*
 * Matches counted per token and class: the results a caller keeps are
 * fewer (max), this only bounds how far *count is exact ("matches N keys").
 */
#define TK_OBJECTS_COUNT_MAX 256

typedef struct {
    CK_ATTRIBUTE tmpl[4];
    CK_ULONG n;
    CK_OBJECT_HANDLE *handles;
    CK_ULONG got;
    unsigned long generation;
} FIND_OP;

static CK_RV find_op(TK_P11_SESSION *s, void *arg)
{
    FIND_OP *f = arg;

    f->got = 0;
    f->generation = s->generation;
    return tk_p11_find(s, f->tmpl, f->n, f->handles, TK_OBJECTS_COUNT_MAX, &f->got);
}

CK_RV tk_objects_session_for(const TK_FOUND *found, TK_P11_SESSION *s)
{
    CK_RV rv = tk_p11_session_get(found->token, s);

    if (rv == CKR_OK && s->generation != found->generation) {
        tk_p11_session_put(s, CKR_OK);
        rv = TK_CKR_FOUND_STALE;
    }
    return rv;
}

/*
 * The search runs with the layer's recovery (tk_p11_with_session): pooled
 * sessions that another library closed (C_CloseAllSessions), or a token
 * that was reset, would otherwise fail the first key load after it. pin:
 * the getter to log in again with when the recovery lost the login (NULL:
 * a search that needs none).
 */
static CK_RV find_on_token(TK_P11_TOKEN *t, const TK_URI *uri, CK_OBJECT_CLASS cls,
                           const CK_ATTRIBUTE *also, const TK_P11_PIN_GETTER *pin, TK_FOUND *out,
                           size_t max, size_t *count)
{
    FIND_OP f = { .n = 0 };
    CK_RV rv;

    if ((f.handles = OPENSSL_malloc(sizeof(*f.handles) * TK_OBJECTS_COUNT_MAX)) == NULL)
        return CKR_HOST_MEMORY;
    f.tmpl[f.n++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
    if (uri->has_id)
        f.tmpl[f.n++] = (CK_ATTRIBUTE){ CKA_ID, uri->id, uri->id_len };
    if (uri->object != NULL)
        f.tmpl[f.n++] = (CK_ATTRIBUTE){ CKA_LABEL, uri->object, strlen(uri->object) };
    if (also != NULL)
        f.tmpl[f.n++] = *also;
    rv = tk_p11_with_session(t, pin, find_op, &f);
    for (CK_ULONG i = 0; rv == CKR_OK && i < f.got; i++) {
        if (*count < max)
            out[*count] = (TK_FOUND){ t, f.handles[i], f.generation };
        (*count)++;
    }
    OPENSSL_free(f.handles);
    return rv;
}

/* Whether logging in to t would send it a PIN. */
static int needs_pin(TK_P11_TOKEN *t)
{
    return (tk_p11_token_cached_info(t)->flags & CKF_LOGIN_REQUIRED) && !tk_p11_token_logged_in(t);
}

/* Whether t holds a public key or certificate with the URI's id and label (visible without login). */
static int has_public_match(TK_P11_TOKEN *t, const TK_URI *uri)
{
    size_t count = 0;

    if (!uri->has_id && uri->object == NULL)
        return 0;
    return (find_on_token(t, uri, CKO_PUBLIC_KEY, NULL, NULL, NULL, 0, &count) == CKR_OK
            && count > 0)
           || (find_on_token(t, uri, CKO_CERTIFICATE, NULL, NULL, NULL, 0, &count) == CKR_OK
               && count > 0);
}

/*
 * The tokens to log in to and search. A PIN is sent to one token only: a
 * PIN meant for one token costs a try on every other token it is sent to.
 * With several matching tokens that would need one, only those whose
 * public objects match the URI are kept; if that leaves more than one, or
 * none where nothing else matches, the URI must name the token.
 */
static int narrow_logins(TK_PROVCTX *ctx, const TK_URI *uri, TK_P11_TOKEN **tokens, size_t *n)
{
    size_t need = 0, kept = 0, kept_need = 0;
    char names[256] = "";

    for (size_t i = 0; i < *n; i++)
        need += needs_pin(tokens[i]);
    if (need <= 1)
        return 1;
    for (size_t i = 0; i < *n; i++) {
        const CK_TOKEN_INFO *ti = tk_p11_token_cached_info(tokens[i]);
        int len = tk_p11_text_len(ti->label, sizeof(ti->label));

        if (needs_pin(tokens[i]))
            snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s'%.*s'",
                     names[0] != '\0' ? ", " : "", len, (const char *)ti->label);
        if (!needs_pin(tokens[i]) || has_public_match(tokens[i], uri)) {
            kept_need += needs_pin(tokens[i]);
            tokens[kept++] = tokens[i];
        }
    }
    if (kept_need > 1 || kept == 0) {
        TK_RAISE(ctx, TK_R_TOKENS_AMBIGUOUS, "%zu tokens need a login (%s) and %s", need, names,
                 kept_need > 1 ? "the URI's public key or certificate is on more than one of them"
                               : "no public key or certificate on them tells which holds the key");
        return 0;
    }
    *n = kept;
    return 1;
}

/*
 * Every matching token is searched, however many the module has: "the key
 * matches once" is only true of all of them.
 */
static int search_tokens(TK_PROVCTX *ctx, const TK_URI *uri, CK_OBJECT_CLASS cls,
                         const CK_ATTRIBUTE *also, TK_PIN_SOURCE *pin, int login,
                         TK_P11_TOKEN **tokens, size_t ntokens, TK_FOUND *out, size_t max,
                         size_t *count)
{
    CK_RV rv;

    if (login && !narrow_logins(ctx, uri, tokens, &ntokens))
        return 0;
    for (size_t i = 0; i < ntokens; i++) {
        TK_P11_PIN_GETTER getter = tk_pin_getter(pin);

        if (login) {
            const CK_TOKEN_INFO *ti = tk_p11_token_cached_info(tokens[i]);

            rv = tk_p11_login(tokens[i], &getter);
            if (rv != CKR_OK) {
                char what[96];
                int len = tk_p11_text_len(ti->label, sizeof(ti->label));

                /* A PIN source that failed already raised why; add the token. */
                snprintf(what, sizeof(what), "logging in to token '%.*s'", len,
                         (const char *)ti->label);
                TK_RAISE_RV(ctx, rv, what);
                return 0;
            }
        }
        rv = find_on_token(tokens[i], uri, cls, also, login ? &getter : NULL, out, max, count);
        if (rv != CKR_OK) {
            TK_RAISE_RV(ctx, rv, "searching the token");
            return 0;
        }
    }
    return 1;
}

int tk_objects_find(TK_PROVCTX *ctx, const TK_URI *uri, CK_OBJECT_CLASS cls,
                    const CK_ATTRIBUTE *also, TK_PIN_SOURCE *pin, int login, TK_FOUND *out,
                    size_t max, size_t *count)
{
    TK_P11_MODULE *m;
    TK_P11_TOKEN **tokens = NULL;
    size_t ntokens = 0;
    char *text;
    CK_RV rv;
    int ok;

    *count = 0;
    if (!tk_provctx_module(ctx, uri, &m))
        return 0;
    rv = tk_p11_token_find_all(m, uri, &tokens, &ntokens);
    if (rv != CKR_OK) {
        text = tk_objects_uri_for_message(uri);
        if (rv == TK_CKR_NO_TOKEN)
            TK_RAISE(ctx, TK_R_TOKEN_NOT_FOUND, "no token in '%s' matches %s",
                     tk_p11_module_path(m), text);
        else
            TK_RAISE_RV(ctx, rv, "listing tokens");
        OPENSSL_free(text);
        return 0;
    }
    ok = search_tokens(ctx, uri, cls, also, pin, login, tokens, ntokens, out, max, count);
    OPENSSL_free(tokens);
    return ok;
}
