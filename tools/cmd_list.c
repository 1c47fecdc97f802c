/* tokenkey list: the objects on a token, what each is, and its pkcs11: URI. */
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>

#include "cli.h"
#include "objects.h"

static const char *class_name(CK_OBJECT_CLASS cls)
{
    switch (cls) {
    case CKO_PRIVATE_KEY: return "private-key";
    case CKO_PUBLIC_KEY: return "public-key";
    case CKO_CERTIFICATE: return "certificate";
    case CKO_SECRET_KEY: return "secret-key";
    case CKO_DATA: return "data";
    default: return "other";
    }
}

static const char *key_type_name(CK_KEY_TYPE kt)
{
    switch (kt) {
    case CKK_RSA: return "RSA";
    case CKK_EC: return "EC";
    case CKK_EC_EDWARDS: return "EdDSA";
    default: return "other";
    }
}

/* The flags a compliance reviewer asks about (PKCS#11 v2.40 section 4.9). */
static const struct {
    CK_ATTRIBUTE_TYPE type;
    const char *name;
} key_flags[] = {
    { CKA_SENSITIVE, "SENSITIVE" },
    { CKA_EXTRACTABLE, "EXTRACTABLE" },
    { CKA_ALWAYS_SENSITIVE, "ALWAYS_SENSITIVE" },
    { CKA_NEVER_EXTRACTABLE, "NEVER_EXTRACTABLE" },
    { CKA_ALWAYS_AUTHENTICATE, "ALWAYS_AUTHENTICATE" },
};

typedef struct {
    char label[256];
    char id[130];
    char type[64];          /* "RSA 2048", "EC prime256v1", ... */
    char flags[160];
    char subject[256], issuer[256], not_after[64];
    char *uri;
} OBJECT_VIEW;

static void hex(char *out, size_t cap, const unsigned char *v, size_t len)
{
    out[0] = '\0';
    for (size_t i = 0; i < len && 2 * i + 2 < cap; i++)
        snprintf(out + 2 * i, 3, "%02x", v[i]);
}

static void describe_key(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_OBJECT_CLASS cls, OBJECT_VIEW *v)
{
    CK_KEY_TYPE kt;
    unsigned char *val = NULL;
    CK_ULONG len;

    if (tk_p11_get_ulong(s, o, CKA_KEY_TYPE, &kt) != CKR_OK)
        return;
    if (kt == CKK_RSA && tk_p11_get_attr_alloc(s, o, CKA_MODULUS, &val, &len) == CKR_OK) {
        snprintf(v->type, sizeof(v->type), "RSA %lu", (unsigned long)len * 8);
    } else if ((kt == CKK_EC || kt == CKK_EC_EDWARDS)
               && tk_p11_get_attr_alloc(s, o, CKA_EC_PARAMS, &val, &len) == CKR_OK) {
        int nid = tk_p11_ec_params_nid(val, len);

        snprintf(v->type, sizeof(v->type), "%s %s", key_type_name(kt),
                 nid != NID_undef ? OBJ_nid2sn(nid) : "?");
    } else {
        snprintf(v->type, sizeof(v->type), "%s", key_type_name(kt));
    }
    OPENSSL_free(val);
    if (cls != CKO_PRIVATE_KEY)
        return;
    for (size_t i = 0; i < sizeof(key_flags) / sizeof(key_flags[0]); i++) {
        CK_BBOOL b = CK_FALSE;

        if (tk_p11_get_bool(s, o, key_flags[i].type, &b) == CKR_OK && b == CK_TRUE) {
            if (v->flags[0] != '\0')
                OPENSSL_strlcat(v->flags, ",", sizeof(v->flags));
            OPENSSL_strlcat(v->flags, key_flags[i].name, sizeof(v->flags));
        }
    }
}

static void describe_cert(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, OBJECT_VIEW *v)
{
    unsigned char *der = NULL;
    CK_ULONG len;
    const unsigned char *p;
    X509 *x;

    if (tk_p11_get_cert_der(s, o, &der, &len) != CKR_OK)
        return;
    p = der;
    x = d2i_X509(NULL, &p, (long)len);
    if (x != NULL) {
        BIO *b = BIO_new(BIO_s_mem());
        int n;

        X509_NAME_oneline(X509_get_subject_name(x), v->subject, sizeof(v->subject));
        X509_NAME_oneline(X509_get_issuer_name(x), v->issuer, sizeof(v->issuer));
        if (b != NULL && ASN1_TIME_print(b, X509_get0_notAfter(x))
            && (n = BIO_read(b, v->not_after, sizeof(v->not_after) - 1)) > 0)
            v->not_after[n] = '\0';
        BIO_free(b);
        X509_free(x);
    }
    OPENSSL_free(der);
}

static void describe(TK_P11_SESSION *s, CK_OBJECT_HANDLE o, CK_OBJECT_CLASS cls, OBJECT_VIEW *v)
{
    unsigned char *val = NULL;
    CK_ULONG len;

    memset(v, 0, sizeof(*v));
    if (tk_p11_get_attr_alloc(s, o, CKA_LABEL, &val, &len) == CKR_OK)
        snprintf(v->label, sizeof(v->label), "%.*s", (int)len, (const char *)val);
    OPENSSL_free(val);
    val = NULL;
    if (tk_p11_get_attr_alloc(s, o, CKA_ID, &val, &len) == CKR_OK)
        hex(v->id, sizeof(v->id), val, len);
    OPENSSL_free(val);
    if (cls == CKO_PRIVATE_KEY || cls == CKO_PUBLIC_KEY)
        describe_key(s, o, cls, v);
    else if (cls == CKO_CERTIFICATE)
        describe_cert(s, o, v);
    v->uri = tk_objects_uri(s, o, cls);
}

static void print_view(const TK_CLI *cli, int first, CK_OBJECT_CLASS cls, const OBJECT_VIEW *v)
{
    if (!cli->json) {
        printf("%s '", class_name(cls));
        tk_cli_put_text(stdout, v->label);
        printf("' id=%s", v->id[0] ? v->id : "(none)");
        if (v->type[0])
            printf(" %s", v->type);
        if (v->flags[0])
            printf(" [%s]", v->flags);
        printf("\n");
        if (v->subject[0])
            printf("  subject: %s\n  issuer:  %s\n  expires: %s\n", v->subject, v->issuer,
                   v->not_after);
        printf("  uri: %s\n", v->uri != NULL ? v->uri : "");
        return;
    }
    printf("%s\n  {\"class\": \"%s\", \"label\": ", first ? "" : ",", class_name(cls));
    tk_cli_json_string(stdout, v->label);
    printf(", \"id\": \"%s\", \"key_type\": ", v->id);
    tk_cli_json_string(stdout, v->type);
    printf(", \"flags\": ");
    tk_cli_json_string(stdout, v->flags);
    if (cls == CKO_CERTIFICATE) {
        printf(", \"subject\": ");
        tk_cli_json_string(stdout, v->subject);
        printf(", \"issuer\": ");
        tk_cli_json_string(stdout, v->issuer);
        printf(", \"not_after\": ");
        tk_cli_json_string(stdout, v->not_after);
    }
    printf(", \"uri\": ");
    tk_cli_json_string(stdout, v->uri != NULL ? v->uri : "");
    printf("}");
}

/*
 * Every object on the token: one find into a buffer that grows until the
 * token has returned fewer handles than it holds (a fixed buffer cut the
 * listing short without a word).
 */
static CK_RV find_all(TK_P11_SESSION *s, CK_OBJECT_HANDLE **out, CK_ULONG *n)
{
    for (CK_ULONG cap = 256;; cap *= 2) {
        CK_OBJECT_HANDLE *objs = OPENSSL_malloc(cap * sizeof(*objs));
        CK_RV rv = objs != NULL ? tk_p11_find(s, NULL, 0, objs, cap, n) : CKR_HOST_MEMORY;

        if (rv != CKR_OK || *n < cap || cap >= (1UL << 20)) {
            if (rv != CKR_OK || *n == cap) {
                OPENSSL_free(objs);
                return rv != CKR_OK ? rv : CKR_HOST_MEMORY; /* a million objects: give up */
            }
            *out = objs;
            return CKR_OK;
        }
        OPENSSL_free(objs);
    }
}

int tk_cmd_list(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "list" };
    CK_OBJECT_HANDLE *objs = NULL;
    CK_ULONG n = 0;
    TK_P11_SESSION s = { 0 };
    TK_P11_TOKEN *t;
    TK_URI *uri;
    int code, shown = 0;
    CK_RV rv;

    if (tk_cli_parse(&cli, argc, argv, TK_USES_MODULE | TK_USES_TOKEN | TK_USES_PIN | TK_USES_JSON, NULL,
                     "[--token LABEL|URI] [--module PATH] [--pin-file FILE] [--json]", &code) < 0)
        return code;
    if (!tk_cli_open_module(&cli))
        return TK_EXIT_SETUP;
    code = TK_EXIT_SETUP;
    uri = tk_cli_uri(&cli, NULL);
    /* Private objects are visible only after login. */
    if (uri == NULL || !tk_cli_find_token(&cli, uri, &t) || !tk_cli_login(&cli, t))
        goto end;
    rv = tk_p11_session_get(t, &s);
    if (rv == CKR_OK)
        rv = find_all(&s, &objs, &n);
    if (rv != CKR_OK) {
        tk_cli_error(&cli, 0, "cannot list objects: %s", tk_p11_rv_name(rv));
        goto end;
    }
    if (cli.json)
        printf("[");
    for (CK_ULONG i = 0; i < n; i++) {
        CK_OBJECT_CLASS cls;
        OBJECT_VIEW v;

        if (tk_p11_get_ulong(&s, objs[i], CKA_CLASS, &cls) != CKR_OK)
            continue;
        describe(&s, objs[i], cls, &v);
        print_view(&cli, shown++ == 0, cls, &v);
        OPENSSL_free(v.uri);
    }
    if (cli.json)
        printf("%s]\n", shown > 0 ? "\n" : "");
    else if (shown == 0)
        printf("no objects on the token\n");
    code = TK_EXIT_OK;
end:
    OPENSSL_free(objs);
    tk_p11_session_put(&s, CKR_OK);
    tk_uri_free(uri);
    tk_cli_close(&cli);
    return code;
}
