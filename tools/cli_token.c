/*
 * Turning --token / --key into a token and objects: a label or a pkcs11:
 * URI (RFC 7512), found through the PKCS#11 layer, logged in when asked.
 */
#include <string.h>

#include <openssl/crypto.h>

#include "cli.h"

TK_URI *tk_cli_uri(TK_CLI *cli, const char *key_or_null)
{
    TK_URI *uri = NULL;
    TK_URI_ERROR err;
    const char *text = key_or_null != NULL ? key_or_null : cli->token;

    /* A token given as URI carries the token attributes; a key URI may too. */
    if (tk_uri_is_pkcs11(text)) {
        if (tk_uri_parse(text, &uri, &err) != TK_URI_OK) {
            tk_cli_error(cli, 0, "bad pkcs11: URI '%s': %s at offset %zu%s%s", text,
                         tk_uri_strerror(err.code), err.offset, err.attr[0] ? " in " : "",
                         err.attr);
            return NULL;
        }
    } else if (tk_uri_parse("pkcs11:", &uri, NULL) != TK_URI_OK) {
        return NULL;
    }
    if (key_or_null != NULL && !tk_uri_is_pkcs11(key_or_null)) {
        uri->object = OPENSSL_strdup(key_or_null);
        if (uri->object == NULL) {
            tk_uri_free(uri);
            return NULL;
        }
    }
    /* --token LABEL narrows a key given by label (or a URI without token=). */
    if (cli->token != NULL && uri->token == NULL && !tk_uri_is_pkcs11(cli->token)) {
        uri->token = OPENSSL_strdup(cli->token);
        if (uri->token == NULL) {
            tk_uri_free(uri);
            return NULL;
        }
    }
    return uri;
}

int tk_cli_find_token(TK_CLI *cli, const TK_URI *uri, TK_P11_TOKEN **out)
{
    TK_P11_TOKEN *tokens[2];
    size_t n = 0;
    CK_RV rv = tk_p11_token_find(cli->m, uri, tokens, 2, &n);
    char *text = tk_uri_format(uri);

    if (rv == TK_CKR_NO_TOKEN)
        tk_cli_error(cli, 0, "no token matches '%s' in '%s': see 'tokenkey tokens'", text,
                     cli->module);
    else if (rv != CKR_OK)
        tk_cli_error(cli, 0, "cannot list tokens of '%s': %s", cli->module, tk_p11_rv_name(rv));
    else if (n > 1)
        tk_cli_error(cli, 0, "%zu tokens match '%s': pass --token LABEL or a URI with serial=",
                     n, text);
    OPENSSL_free(text);
    if (rv != CKR_OK || n != 1)
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
    case TK_CKR_PIN_FINAL_TRY:
        tk_cli_error(cli, 0, "one PIN attempt is left before the token locks: tokenkey will not "
                             "spend it; verify the PIN with the token's own tool");
        return 0;
    default:
        tk_cli_error(cli, 0, "login failed: %s", tk_p11_rv_name(rv));
        return 0;
    }
}
