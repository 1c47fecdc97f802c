/*
 * Turning --token / --key into a token and objects: a label or a pkcs11:
 * URI (RFC 7512), found through the PKCS#11 layer, logged in when asked.
 */
#include <stddef.h>
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"

/* The token attributes of a URI (RFC 7512 section 2.3), which --token may add to a --key URI. */
static const struct {
    const char *name;
    size_t offset;
} token_attrs[] = {
    { "token", offsetof(TK_URI, token) },
    { "manufacturer", offsetof(TK_URI, manufacturer) },
    { "serial", offsetof(TK_URI, serial) },
    { "model", offsetof(TK_URI, model) },
    { "slot-manufacturer", offsetof(TK_URI, slot_manufacturer) },
    { "slot-description", offsetof(TK_URI, slot_description) },
};
#define N_TOKEN_ATTRS (sizeof(token_attrs) / sizeof(token_attrs[0]))

static char **token_attr(const TK_URI *uri, size_t k)
{
    return (char **)((const char *)uri + token_attrs[k].offset);
}

const char *tk_cli_token_conflict(const TK_URI *key, const TK_URI *token)
{
    for (size_t k = 0; k < N_TOKEN_ATTRS; k++) {
        const char *a = *token_attr(key, k), *b = *token_attr(token, k);

        if (a != NULL && b != NULL && strcmp(a, b) != 0)
            return token_attrs[k].name;
    }
    if (key->has_slot_id && token->has_slot_id && key->slot_id != token->slot_id)
        return "slot-id";
    return NULL;
}

/* token's attributes that uri lacks, copied into uri (tk_cli_parse refused conflicts). */
static int join_token(TK_URI *uri, const TK_URI *token)
{
    for (size_t k = 0; k < N_TOKEN_ATTRS; k++) {
        char **to = token_attr(uri, k), *from = *token_attr(token, k);

        if (*to == NULL && from != NULL && (*to = OPENSSL_strdup(from)) == NULL)
            return 0;
    }
    if (!uri->has_slot_id && token->has_slot_id) {
        uri->has_slot_id = 1;
        uri->slot_id = token->slot_id;
    }
    return 1;
}

TK_URI *tk_cli_uri(TK_CLI *cli, const char *key_or_null)
{
    TK_URI *uri = NULL, *token_uri = NULL;
    TK_URI label = { .token = (char *)cli->token };
    const char *text = key_or_null != NULL ? key_or_null : cli->token;
    int ok;

    /* tk_cli_parse has refused URIs that do not parse: this fails only for memory. */
    ok = tk_uri_parse(tk_uri_is_pkcs11(text) ? text : "pkcs11:", &uri, NULL) == TK_URI_OK;
    /* A key given by label; a token given by label or URI narrows where it is looked for. */
    if (ok && key_or_null != NULL && !tk_uri_is_pkcs11(key_or_null))
        ok = (uri->object = OPENSSL_strdup(key_or_null)) != NULL;
    if (ok && cli->token != NULL && tk_uri_is_pkcs11(cli->token))
        ok = tk_uri_parse(cli->token, &token_uri, NULL) == TK_URI_OK;
    if (ok && cli->token != NULL)
        ok = join_token(uri, token_uri != NULL ? token_uri : &label);
    tk_uri_free(token_uri);
    if (!ok) {
        tk_cli_error(cli, 0, "cannot use the --key or --token given: the URI does not parse, or "
                             "out of memory");
        tk_uri_free(uri);
        return NULL;
    }
    return uri;
}

int tk_cli_token_found(TK_CLI *cli, const TK_URI *uri, CK_RV rv, size_t n)
{
    char *text = tk_cli_token_text(uri);

    if (rv == TK_CKR_NO_TOKEN)
        tk_cli_error(cli, 0, "no token matches '%s' in '%s': see 'tokenkey tokens'", text, cli->module);
    else if (rv != CKR_OK)
        tk_cli_error(cli, 0, "cannot list tokens of '%s': %s", cli->module, tk_p11_rv_name(rv));
    else if (n > 1)
        tk_cli_error(cli, 0, "%zu tokens match '%s': %s (see 'tokenkey tokens')", n, text,
                     cli->token != NULL ? "add serial= to the --token URI"
                                        : "pass --token LABEL or a URI with serial=");
    OPENSSL_free(text);
    return rv == CKR_OK && n == 1;
}

int tk_cli_find_token(TK_CLI *cli, const TK_URI *uri, TK_P11_TOKEN **out)
{
    TK_P11_TOKEN *tokens[2];
    size_t n = 0;
    CK_RV rv = tk_p11_token_find(cli->m, uri, tokens, 2, &n);

    if (!tk_cli_token_found(cli, uri, rv, n))
        return 0;
    *out = tokens[0];
    return 1;
}

int tk_cli_login(TK_CLI *cli, TK_P11_TOKEN *t)
{
    TK_P11_PIN_GETTER pin = tk_cli_pin_getter(cli);
    CK_RV rv = tk_p11_login(t, &pin);
    char source[1100];

    switch (rv) {
    case CKR_OK:
        return 1;
    case TK_CKR_PIN_UNAVAILABLE:
        return 0; /* the getter said why */
    case CKR_PIN_INCORRECT:
        tk_cli_pin_source(cli, source, sizeof(source));
        tk_cli_error(cli, 0, "the token rejected %s (tokenkey never retries a PIN): "
                             "check it before the token locks", source);
        return 0;
    case CKR_PIN_LOCKED:
        tk_cli_error(cli, 0, "the user PIN is locked: the security officer must reset it");
        return 0;
    case CKR_USER_PIN_NOT_INITIALIZED:
        tk_cli_error(cli, 0, "the token's user PIN is not set: the security officer must set it "
                             "first (pkcs11-tool --login-type so --init-pin, or the token's own tool)");
        return 0;
    case CKR_PIN_EXPIRED:
        tk_cli_error(cli, 0, "the token says the user PIN has expired: set a new one with the "
                             "token's own tool (pkcs11-tool --change-pin), then update the PIN source");
        return 0;
    case TK_CKR_PIN_FINAL_TRY:
        tk_cli_error(cli, 0, "one PIN attempt is left before the token locks: tokenkey will not "
                             "spend it; verify the PIN with the token's own tool");
        return 0;
    default:
        tk_cli_error(cli, 0, "login failed: %s", tk_p11_rv_name(rv));
        return 0;
    }
}
