/*
 * tokenkey inspect: the evidence a compliance reviewer asks for about one
 * token key - what it is, its PKCS#11 attributes (public ones only, read
 * through the PKCS#11 layer), the certificate stored with it, and whether
 * any path takes the private key off the token. That verdict is computed
 * by trying each path, never asserted: exit 0 only when every path is shut.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "cli.h"
#include "objects.h"

/* The attributes that decide whether a key can leave a token (PKCS#11 v2.40 section 4.9). */
static const struct {
    CK_ATTRIBUTE_TYPE type;
    const char *name;
} flag_attrs[] = {
    { CKA_SENSITIVE, "CKA_SENSITIVE" },
    { CKA_EXTRACTABLE, "CKA_EXTRACTABLE" },
    { CKA_ALWAYS_SENSITIVE, "CKA_ALWAYS_SENSITIVE" },
    { CKA_NEVER_EXTRACTABLE, "CKA_NEVER_EXTRACTABLE" },
    { CKA_ALWAYS_AUTHENTICATE, "CKA_ALWAYS_AUTHENTICATE" },
    { CKA_LOCAL, "CKA_LOCAL" },
    { CKA_PRIVATE, "CKA_PRIVATE" },
    { CKA_TOKEN, "CKA_TOKEN" },
    { CKA_MODIFIABLE, "CKA_MODIFIABLE" },
};
#define N_FLAGS (sizeof(flag_attrs) / sizeof(flag_attrs[0]))
/* Indexes into flag_attrs. */
enum { F_SENSITIVE, F_EXTRACTABLE, F_ALWAYS_SENSITIVE, F_NEVER_EXTRACTABLE, F_LOCAL = 5 };

#define DETAIL 512
enum { PATH_TOKEN, PATH_PROVIDER, PATH_LAYER, PATH_ENCODER, N_PATHS };
static const char *const path_names[N_PATHS] = { "token", "provider", "pkcs11-layer", "encoder" };

typedef struct {
    char *uri;
    const char *key_type;          /* "CKK_EC" */
    char curve[32];
    int bits;
    char label[256], id[130];
    int flags[N_FLAGS];            /* 1 TRUE, 0 FALSE, -1 the token did not say */
    CK_ATTRIBUTE allowed;          /* CKA_ALLOWED_MECHANISMS as read (tk_p11_attrs_free) */
    int allowed_read;              /* 1: allowed is the key's answer; 0: the token did not say */
    int n_certs;                   /* certificates sharing the key's CKA_ID */
    char *cert_uri;
    char subject[512], issuer[512], serial[128], not_before[64], not_after[64];
    int cert_matches;
    struct {
        int possible;
        char detail[DETAIL];
    } paths[N_PATHS];
    int export_possible;
    const char *made_off_token;    /* the attribute that says its value existed off the token, or NULL */
} INSPECTION;

/*
 * Whether the key's value ever existed outside the token (PKCS#11 v2.40
 * 4.9): not generated there (CKA_LOCAL false: imported), or once not
 * sensitive, or once extractable. A compliance rule that forbids the key
 * outside a token is broken by such a key whatever its flags say now.
 */
static const char *made_off_token(const INSPECTION *in)
{
    if (in->flags[F_LOCAL] == 0)
        return "CKA_LOCAL is FALSE: the key was not generated on the token";
    if (in->flags[F_ALWAYS_SENSITIVE] == 0)
        return "CKA_ALWAYS_SENSITIVE is FALSE: the key was not always sensitive";
    if (in->flags[F_NEVER_EXTRACTABLE] == 0)
        return "CKA_NEVER_EXTRACTABLE is FALSE: the key was once extractable";
    return NULL;
}

static const char *key_type_name(CK_KEY_TYPE kt)
{
    switch (kt) {
    case CKK_RSA: return "CKK_RSA";
    case CKK_EC: return "CKK_EC";
    case CKK_EC_EDWARDS: return "CKK_EC_EDWARDS";
    default: return "other";
    }
}

/* CKA_ALLOWED_MECHANISMS: what the key may be used for (absent or empty: anything). */
static void read_allowed_mechanisms(TK_P11_SESSION *s, CK_OBJECT_HANDLE h, INSPECTION *in)
{
    in->allowed = (CK_ATTRIBUTE){ CKA_ALLOWED_MECHANISMS, NULL, 0 };
    in->allowed_read = tk_p11_get_attrs_alloc(s, h, &in->allowed, 1) == CKR_OK;
}

/* The allowed mechanisms, by name; NULL when the key has no limit. */
static const CK_MECHANISM_TYPE *allowed_list(const INSPECTION *in, size_t *n)
{
    *n = in->allowed.pValue != NULL ? in->allowed.ulValueLen / sizeof(CK_MECHANISM_TYPE) : 0;
    return *n > 0 ? in->allowed.pValue : NULL;
}

/* Label, id, type, curve and the flags, straight from the token. */
static void read_attributes(TK_P11_SESSION *s, CK_OBJECT_HANDLE h, INSPECTION *in)
{
    unsigned char *val = NULL;
    CK_ULONG len = 0;
    CK_KEY_TYPE kt = CK_UNAVAILABLE_INFORMATION;

    if (tk_p11_get_attr_alloc(s, h, CKA_LABEL, &val, &len) == CKR_OK)
        snprintf(in->label, sizeof(in->label), "%.*s", (int)len, (const char *)val);
    OPENSSL_free(val);
    val = NULL;
    if (tk_p11_get_attr_alloc(s, h, CKA_ID, &val, &len) == CKR_OK)
        tk_cli_hex(in->id, sizeof(in->id), val, len);
    OPENSSL_free(val);
    val = NULL;
    tk_p11_get_ulong(s, h, CKA_KEY_TYPE, &kt);
    in->key_type = key_type_name(kt);
    if ((kt == CKK_EC || kt == CKK_EC_EDWARDS)
        && tk_p11_get_attr_alloc(s, h, CKA_EC_PARAMS, &val, &len) == CKR_OK) {
        int nid = tk_p11_ec_params_nid(val, len);

        if (nid != NID_undef)
            snprintf(in->curve, sizeof(in->curve), "%s", OBJ_nid2sn(nid));
    }
    OPENSSL_free(val);
    for (size_t i = 0; i < N_FLAGS; i++) {
        CK_BBOOL b = CK_FALSE;

        in->flags[i] = tk_p11_get_bool(s, h, flag_attrs[i].type, &b) != CKR_OK ? -1 : b == CK_TRUE;
    }
    read_allowed_mechanisms(s, h, in);
}

/* The certificate stored with the key: one matching the key when several share its id. */
static void read_certificate(TK_P11_SESSION *s, CK_OBJECT_HANDLE key, EVP_PKEY *pkey, INSPECTION *in)
{
    CK_OBJECT_HANDLE chosen = CK_INVALID_HANDLE;
    CK_ULONG n = 0, id_len = 0;
    unsigned char *id = NULL;
    X509 *x = NULL;

    /* Of several (a renewal without --replace), the one doctor and a renewed client take. */
    if (tk_p11_get_attr_alloc(s, key, CKA_ID, &id, &id_len) == CKR_OK)
        x = tk_cli_best_token_cert(s, id, id_len, pkey, &n, &chosen);
    OPENSSL_free(id);
    if (x == NULL)
        return;
    in->n_certs = (int)n;
    in->cert_matches = tk_cli_cert_matches(x, pkey);
    in->cert_uri = tk_objects_uri(s, chosen, CKO_CERTIFICATE);
    tk_cli_name(in->subject, sizeof(in->subject), X509_get_subject_name(x));
    tk_cli_name(in->issuer, sizeof(in->issuer), X509_get_issuer_name(x));
    tk_cli_time(in->not_before, sizeof(in->not_before), X509_get0_notBefore(x));
    tk_cli_time(in->not_after, sizeof(in->not_after), X509_get0_notAfter(x));
    {
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
        char *hex = bn != NULL ? BN_bn2hex(bn) : NULL;

        snprintf(in->serial, sizeof(in->serial), "%s", hex != NULL ? hex : "?");
        OPENSSL_free(hex);
        BN_free(bn);
    }
    X509_free(x);
}

static void print_text(const INSPECTION *in)
{
    const CK_MECHANISM_TYPE *mechs;
    size_t n;

    printf("key:           %s\n", in->uri);
    printf("class:         CKO_PRIVATE_KEY\n");
    printf("type:          %s%s%s, %d bits\n", in->key_type, in->curve[0] ? " " : "", in->curve, in->bits);
    printf("label:         ");
    tk_cli_put_text(stdout, in->label);
    printf("\nid:            %s\n", in->id[0] ? in->id : "(none)");
    printf("attributes:\n");
    for (size_t i = 0; i < N_FLAGS; i++)
        printf("  %-24s %s\n", flag_attrs[i].name,
               in->flags[i] < 0 ? "(not reported)" : in->flags[i] ? "TRUE" : "FALSE");
    printf("  %-24s ", "CKA_ALLOWED_MECHANISMS");
    if (!in->allowed_read) {
        printf("(not reported)\n");
    } else if ((mechs = allowed_list(in, &n)) == NULL) {
        printf("(any)\n");
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s%s", i > 0 ? ", " : "", tk_p11_mech_name(mechs[i]));
        printf("\n");
    }
    if (in->n_certs == 0) {
        printf("certificate:   none on the token with id %s\n", in->id[0] ? in->id : "(none)");
    } else {
        printf("certificate:   %s\n", in->cert_uri != NULL ? in->cert_uri : "");
        printf("  subject:     %s\n  issuer:      %s\n  serial:      %s\n", in->subject, in->issuer,
               in->serial);
        printf("  not before:  %s\n  not after:   %s\n", in->not_before, in->not_after);
        printf("  matches key: %s\n", in->cert_matches ? "yes (X509_check_private_key with the token key)"
                                                       : "NO: its public key is another key's");
    }
    printf("origin:        %s\n", in->made_off_token != NULL ? in->made_off_token
                                 : "generated on the token, always sensitive, never extractable");
    if (!in->export_possible) {
        printf("export paths:  none\n");
    } else {
        for (int i = 0; i < N_PATHS; i++)
            if (in->paths[i].possible) {
                printf("export paths:  %s\n", in->paths[i].detail);
                break;
            }
    }
    for (int i = 0; i < N_PATHS; i++)
        printf("  %-13s %s\n", path_names[i], in->paths[i].detail);
}

static void json_field(const char *name, const char *value, int comma)
{
    printf("%s\"%s\": ", comma ? ", " : "", name);
    if (value != NULL)
        tk_cli_json_string(stdout, value);
    else
        printf("null");
}

static void print_json(const INSPECTION *in)
{
    const CK_MECHANISM_TYPE *mechs;
    size_t n;

    printf("{");
    json_field("uri", in->uri, 0);
    json_field("class", "CKO_PRIVATE_KEY", 1);
    json_field("key_type", in->key_type, 1);
    json_field("curve", in->curve[0] ? in->curve : NULL, 1);
    printf(", \"bits\": %d", in->bits);
    json_field("label", in->label, 1);
    json_field("id", in->id, 1);
    printf(", \"attributes\": {");
    for (size_t i = 0; i < N_FLAGS; i++)
        printf("%s\"%s\": %s", i ? ", " : "", flag_attrs[i].name,
               in->flags[i] < 0 ? "null" : in->flags[i] ? "true" : "false");
    /* A list of names; "any" without a limit; null when the token did not say (as the flags). */
    printf("}, \"allowed_mechanisms\": ");
    if (!in->allowed_read) {
        printf("null");
    } else if ((mechs = allowed_list(in, &n)) == NULL) {
        printf("\"any\"");
    } else {
        printf("[");
        for (size_t i = 0; i < n; i++) {
            printf("%s", i > 0 ? ", " : "");
            tk_cli_json_string(stdout, tk_p11_mech_name(mechs[i]));
        }
        printf("]");
    }
    printf(", \"certificate\": ");
    if (in->n_certs == 0) {
        printf("null");
    } else {
        printf("{");
        json_field("uri", in->cert_uri, 0);
        json_field("subject", in->subject, 1);
        json_field("issuer", in->issuer, 1);
        json_field("serial", in->serial, 1);
        json_field("not_before", in->not_before, 1);
        json_field("not_after", in->not_after, 1);
        printf(", \"matches_key\": %s}", in->cert_matches ? "true" : "false");
    }
    printf(", \"made_on_token\": %s", in->made_off_token == NULL ? "true" : "false");
    printf(", \"export_possible\": %s, \"export_paths\": [", in->export_possible ? "true" : "false");
    for (int i = 0; i < N_PATHS; i++) {
        printf("%s{", i ? ", " : "");
        json_field("path", path_names[i], 0);
        printf(", \"possible\": %s", in->paths[i].possible ? "true" : "false");
        json_field("detail", in->paths[i].detail, 1);
        printf("}");
    }
    printf("]}\n");
}

/* Exactly one private key matches; prints why not. */
static int find_one_key(TK_CLI *cli, TK_P11_SESSION *s, const TK_URI *uri, const char *text,
                        CK_OBJECT_HANDLE *out)
{
    CK_OBJECT_HANDLE keys[8];
    CK_ULONG n = 0;
    CK_RV rv = tk_cli_find_keys(s, uri, keys, 8, &n);
    char list[1536], *named;

    if (rv != CKR_OK)
        return tk_cli_error(cli, 0, "cannot search the token: %s", tk_p11_rv_name(rv));
    if (n == 1) {
        *out = keys[0];
        return 1;
    }
    named = tk_cli_key_named(cli, text, uri);
    if (n == 0) {
        tk_cli_error(cli, 0, "no private key matches '%s': see 'tokenkey list'%s",
                     named != NULL ? named : "the key", tk_cli_key_file_note(text));
    } else {
        tk_cli_key_list(s, keys, n, list, sizeof(list));
        tk_cli_error(cli, 0, "%lu private keys match '%s' (%s): name one by its id=",
                     (unsigned long)n, named != NULL ? named : "the key", list);
    }
    OPENSSL_free(named);
    return 0;
}

int tk_cmd_inspect(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "inspect" };
    const char *usage = "KEY|--key KEY [--token LABEL|URI] [--module PATH] [--pin-file FILE] [--json]";
    INSPECTION in;
    TK_P11_SESSION s = { 0 };
    TK_P11_TOKEN *t;
    TK_URI *uri = NULL, *found = NULL;
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    EVP_PKEY *pkey = NULL;
    const char *text;
    int code;
    CK_RV rv = CKR_OK;

    memset(&in, 0, sizeof(in));
    if (tk_cli_parse(&cli, argc, argv, TK_USES_KEY_ACCESS | TK_USES_JSON | TK_USES_ARG, NULL, usage,
                     &code) < 0)
        return code;
    if (cli.arg != NULL && cli.key != NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "give the key once: as the argument or with "
                                                 "--key, not both");
    text = cli.arg != NULL ? cli.arg : cli.key;
    if (text == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "which key? pass its pkcs11: URI, label or key reference file, or --key KEY");
    if ((uri = tk_cli_uri(&cli, text)) == NULL)
        return TK_EXIT_SETUP;
    code = TK_EXIT_SETUP;
    if (!tk_cli_open_module(&cli))
        goto end;
    /* Private keys are visible only after login. */
    if (!tk_cli_one_token(&cli, uri, &t) || !tk_cli_login(&cli, t))
        goto end;
    if ((rv = tk_p11_session_get(t, &s)) != CKR_OK) {
        tk_cli_error(&cli, 0, "cannot open a session: %s", tk_p11_rv_name(rv));
        goto end;
    }
    if (!find_one_key(&cli, &s, uri, text, &h))
        goto end;
    in.uri = tk_objects_uri(&s, h, CKO_PRIVATE_KEY);
    /* Load exactly the key found (its full URI), through the provider. */
    if (in.uri == NULL || tk_uri_parse(in.uri, &found, NULL) != TK_URI_OK
        || (pkey = tk_cli_load_key(&cli, found)) == NULL)
        goto end;
    read_attributes(&s, h, &in);
    in.bits = EVP_PKEY_get_bits(pkey);
    read_certificate(&s, h, pkey, &in);
    in.paths[PATH_TOKEN].possible = tk_cli_export_token(in.flags[F_SENSITIVE], in.flags[F_EXTRACTABLE],
                                                        in.paths[PATH_TOKEN].detail, DETAIL);
    in.paths[PATH_PROVIDER].possible = tk_cli_export_provider(pkey, in.paths[PATH_PROVIDER].detail, DETAIL);
    in.paths[PATH_LAYER].possible = tk_cli_export_layer(&s, h, in.paths[PATH_LAYER].detail, DETAIL);
    in.paths[PATH_ENCODER].possible = tk_cli_export_encoder(pkey, cli.libctx, in.paths[PATH_ENCODER].detail,
                                                            DETAIL);
    for (int p = 0; p < N_PATHS; p++)
        in.export_possible |= in.paths[p].possible;
    in.made_off_token = made_off_token(&in);
    if (cli.json)
        print_json(&in);
    else
        print_text(&in);
    code = TK_EXIT_OK;
    if (in.export_possible)
        code = tk_cli_error(&cli, TK_EXIT_FAILURE, "EXPORT POSSIBLE: '%s' can leave the token: replace "
                                                   "it with a key made by 'tokenkey keygen'", in.uri);
    else if (in.made_off_token != NULL)
        code = tk_cli_error(&cli, TK_EXIT_FAILURE, "MADE OFF THE TOKEN: '%s': %s, so its value existed "
                                                   "outside it: replace it with a key made by "
                                                   "'tokenkey keygen'", in.uri, in.made_off_token);
end:
    EVP_PKEY_free(pkey);
    tk_p11_session_put(&s, rv);
    OPENSSL_free(in.uri);
    OPENSSL_free(in.cert_uri);
    tk_p11_attrs_free(&in.allowed, 1);
    tk_uri_free(found);
    tk_uri_free(uri);
    tk_cli_close(&cli);
    return code;
}
