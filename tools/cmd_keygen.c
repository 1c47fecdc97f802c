/*
 * tokenkey keygen: a non-exportable key pair made on the token by the
 * token (C_GenerateKeyPair through the provider's keymgmt: sensitive,
 * never extractable). Prints the new private key's pkcs11: URI.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "cli.h"
#include "objects.h"
#include "subject_text.h"

static const struct key_type {
    const char *name;  /* --type */
    const char *alg;   /* OpenSSL's key type */
    size_t bits;       /* RSA */
    const char *group; /* EC */
    const char *text;  /* for messages */
} key_types[] = {
    { "rsa:2048", "RSA", 2048, NULL, "RSA 2048" },
    { "rsa:3072", "RSA", 3072, NULL, "RSA 3072" },
    { "rsa:4096", "RSA", 4096, NULL, "RSA 4096" },
    { "ec:P-256", "EC", 0, "P-256", "EC P-256" },
    { "ec:P-384", "EC", 0, "P-384", "EC P-384" },
    { "ec:P-521", "EC", 0, "P-521", "EC P-521" },
    { "ed25519", "ED25519", 0, NULL, "Ed25519" },
};

#define KEYGEN_USAGE "--type TYPE --label LABEL [--id HEX] [--token LABEL|URI] [--module PATH] " \
                     "[--pin-file FILE]"

static const struct key_type *find_type(const char *name)
{
    for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
        if (strcasecmp(name, key_types[i].name) == 0)
            return &key_types[i];
    return NULL;
}

/* CKA_ID as hex: 1 to 64 bytes, so it fits every token and URI. */
static int id_ok(const char *hex)
{
    size_t len = strlen(hex);

    if (len == 0 || len % 2 != 0 || len > 128)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (OPENSSL_hexchar2int((unsigned char)hex[i]) < 0)
            return 0;
    return 1;
}

/*
 * CKA_LABEL is UTF-8 (PKCS#11 v2.40 4.4); a '/' would make the label read
 * as a key reference file's path wherever the CLI takes --key, and one
 * starting with "pkcs11:" as a URI.
 */
static int label_ok(const char *label)
{
    size_t len = strlen(label);
    unsigned long cp;

    for (size_t i = 0; i < len;) {
        int n = tk_cli_utf8_char((const unsigned char *)label + i, len - i, &cp);

        if (n == 0 || tk_cli_is_control(cp) || cp == '/')
            return 0;
        i += (size_t)n;
    }
    /* --key would read the label as a URI or a key reference file. */
    return len > 0 && len <= 128 && !tk_uri_is_pkcs11(label);
}

/* A key object (or certificate, for the id) already there: refuse with a clear line. */
static int check_unused(TK_CLI *cli, TK_P11_TOKEN *t, const char *token_label, const char *label,
                        const unsigned char *id, long id_len, const char *id_hex)
{
    static const CK_OBJECT_CLASS classes[] = { CKO_PRIVATE_KEY, CKO_PUBLIC_KEY, CKO_CERTIFICATE };
    TK_P11_SESSION s = { 0 };
    CK_RV rv = tk_p11_session_get(t, &s);
    int ok = 1;

    for (size_t i = 0; ok && rv == CKR_OK && i < 3; i++) {
        CK_OBJECT_CLASS cls = classes[i];
        CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) } };
        CK_OBJECT_HANDLE h;
        CK_ULONG n = 0;

        if (cls != CKO_CERTIFICATE) {
            tmpl[1] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)label, strlen(label) };
            if ((rv = tk_p11_find(&s, tmpl, 2, &h, 1, &n)) == CKR_OK && n > 0) {
                char *word = tk_cli_shell_quoted(label);

                tk_cli_error(cli, 0, "token '%s' already has a key labelled '%s': choose another "
                                     "--label (or remove it: tokenkey delete --key %s --yes)",
                             token_label, label, word != NULL ? word : "LABEL");
                OPENSSL_free(word);
                ok = 0;
            }
        }
        if (ok && rv == CKR_OK && id != NULL) {
            tmpl[1] = (CK_ATTRIBUTE){ CKA_ID, (void *)id, (CK_ULONG)id_len };
            if ((rv = tk_p11_find(&s, tmpl, 2, &h, 1, &n)) == CKR_OK && n > 0) {
                tk_cli_error(cli, 0, "token '%s' already has an object with id %s: choose another "
                                     "--id, or leave --id out for a random one", token_label,
                             id_hex);
                ok = 0;
            }
        }
    }
    if (rv != CKR_OK) {
        tk_cli_error(cli, 0, "cannot search token '%s': %s", token_label, tk_p11_rv_name(rv));
        ok = 0;
    }
    tk_p11_session_put(&s, rv);
    return ok;
}

/* ---- progress while a slow key is made ---- */

typedef struct {
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done;
} PROGRESS;

static void *progress_dots(void *arg)
{
    PROGRESS *p = arg;
    struct timespec next;

    pthread_mutex_lock(&p->lock);
    clock_gettime(CLOCK_REALTIME, &next);
    while (!p->done) {
        next.tv_sec++;
        while (!p->done && pthread_cond_timedwait(&p->done_cond, &p->lock, &next) == 0)
            ;
        if (!p->done) {
            fputc('.', stderr);
            fflush(stderr);
        }
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* EVP_PKEY_generate on the token, with a dot a second on a terminal (RSA takes seconds). */
static EVP_PKEY *generate(TK_CLI *cli, EVP_PKEY_CTX *ctx, const struct key_type *type,
                          const char *token_label)
{
    PROGRESS p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    pthread_t thread;
    int dots = 0;
    EVP_PKEY *pkey = NULL;

    if (type->bits != 0) {
        fprintf(stderr, "%s %s: generating %s key on token '", cli->prog, cli->cmd, type->text);
        tk_cli_put_text(stderr, token_label);
        fputs(isatty(STDERR_FILENO) ? "' " : "' (this can take a while)\n", stderr);
    }
    if (type->bits != 0 && isatty(STDERR_FILENO)) {
        fflush(stderr);
        dots = pthread_create(&thread, NULL, progress_dots, &p) == 0;
    }
    if (EVP_PKEY_generate(ctx, &pkey) <= 0)
        pkey = NULL;
    if (type->bits != 0 && isatty(STDERR_FILENO)) {
        pthread_mutex_lock(&p.lock);
        p.done = 1;
        pthread_cond_signal(&p.done_cond);
        pthread_mutex_unlock(&p.lock);
        if (dots)
            pthread_join(thread, NULL);
        fputs(pkey != NULL ? " done\n" : "\n", stderr);
    }
    return pkey;
}

/* The token as a URI naming exactly it (label and serial), for the provider. */
static char *token_uri(TK_P11_TOKEN *t)
{
    const CK_TOKEN_INFO *ti = tk_p11_token_cached_info(t);
    char label[33], serial[17];
    TK_URI uri;

    tk_cli_field(label, sizeof(label), ti->label, sizeof(ti->label));
    tk_cli_field(serial, sizeof(serial), ti->serialNumber, sizeof(ti->serialNumber));
    memset(&uri, 0, sizeof(uri));
    uri.token = label;
    uri.serial = serial;
    return tk_uri_format(&uri);
}

/* The new private key's URI, found by its label (checked unique above). */
static char *new_key_uri(TK_P11_TOKEN *t, const char *label)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[2] = { { CKA_CLASS, &cls, sizeof(cls) },
                             { CKA_LABEL, (void *)label, strlen(label) } };
    TK_P11_SESSION s = { 0 };
    CK_OBJECT_HANDLE h;
    CK_ULONG n = 0;
    CK_RV rv = tk_p11_session_get(t, &s);
    char *uri = NULL;

    if (rv == CKR_OK && (rv = tk_p11_find(&s, tmpl, 2, &h, 1, &n)) == CKR_OK && n == 1)
        uri = tk_objects_uri(&s, h, CKO_PRIVATE_KEY);
    tk_p11_session_put(&s, rv);
    return uri;
}

static int run(TK_CLI *cli, const struct key_type *type, const char *label, const char *id_hex)
{
    TK_URI *uri = tk_cli_uri(cli, NULL);
    TK_P11_TOKEN *t;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM params[6];
    unsigned char *id = NULL;
    long id_len = 0;
    char token_label[33], *turi = NULL, *key_uri = NULL, why[512];
    size_t bits = type->bits;
    int n = 0, code = TK_EXIT_SETUP;

    if (uri == NULL || !tk_cli_one_token(cli, uri, &t) || !tk_cli_login(cli, t))
        goto end;
    tk_cli_field(token_label, sizeof(token_label), tk_p11_token_cached_info(t)->label,
                 sizeof(tk_p11_token_cached_info(t)->label));
    if (id_hex != NULL && (id = OPENSSL_hexstr2buf(id_hex, &id_len)) == NULL)
        goto end;
    code = TK_EXIT_FAILURE;
    if (!check_unused(cli, t, token_label, label, id, id_len, id_hex))
        goto end;
    code = TK_EXIT_SETUP;
    if (tk_cli_libctx(cli) == NULL || (turi = token_uri(t)) == NULL)
        goto end;
    params[n++] = OSSL_PARAM_construct_utf8_string("token", turi, 0);
    params[n++] = OSSL_PARAM_construct_utf8_string("label", (char *)label, 0);
    if (id_hex != NULL)
        params[n++] = OSSL_PARAM_construct_utf8_string("id", (char *)id_hex, 0);
    if (type->bits != 0)
        params[n++] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    if (type->group != NULL)
        params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                       (char *)type->group, 0);
    params[n] = OSSL_PARAM_construct_end();
    code = TK_EXIT_FAILURE;
    ctx = EVP_PKEY_CTX_new_from_name(cli->libctx, type->alg, "provider=tokenkey");
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 || !EVP_PKEY_CTX_set_params(ctx, params)
        || (pkey = generate(cli, ctx, type, token_label)) == NULL) {
        tk_cli_error(cli, 0, "cannot generate the %s key on token '%s': %s", type->text,
                     token_label, tk_cli_openssl_reason(why, sizeof(why)));
        goto end;
    }
    if ((key_uri = new_key_uri(t, label)) == NULL) {
        tk_cli_error(cli, 0, "the %s key was made but not found again on token '%s' by its "
                             "label '%s'", type->text, token_label, label);
        goto end;
    }
    printf("%s\n", key_uri);
    code = TK_EXIT_OK;
end:
    EVP_PKEY_free(pkey);
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(key_uri);
    OPENSSL_free(turi);
    OPENSSL_free(id);
    tk_uri_free(uri);
    return code;
}

int tk_cmd_keygen(int argc, char **argv)
{
    TK_CLI cli = { .prog = "tokenkey", .cmd = "keygen" };
    const char *type_name = NULL, *label = NULL, *id_hex = NULL;
    const TK_CLI_OPTION opts[] = {
        { "--type", &type_name, NULL, "rsa:2048|rsa:3072|rsa:4096|ec:P-256|ec:P-384|ec:P-521|"
                                      "ed25519" },
        { "--label", &label, NULL, "CKA_LABEL of the new key pair (required)" },
        { "--id", &id_hex, NULL, "CKA_ID in hex (default: 16 random bytes)" },
        { NULL, NULL, NULL, NULL }
    };
    const struct key_type *type;
    int code;

    if (tk_cli_parse(&cli, argc, argv, TK_USES_MODULE | TK_USES_TOKEN | TK_USES_PIN, opts, KEYGEN_USAGE,
                     &code) < 0)
        return code;
    if (type_name == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "--type is required: rsa:2048, rsa:3072, "
                                                 "rsa:4096, ec:P-256, ec:P-384, ec:P-521 or "
                                                 "ed25519");
    if ((type = find_type(type_name)) == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "unknown key type '%s': use rsa:2048, rsa:3072, "
                                                 "rsa:4096, ec:P-256, ec:P-384, ec:P-521 or "
                                                 "ed25519", type_name);
    if (label == NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "--label is required: the name to find the key "
                                                 "by later");
    /* Unechoed: it may be a URI with a PIN in it, given where a label goes. */
    if (tk_cli_mentions_pin_value(label))
        return tk_cli_error(&cli, TK_EXIT_USAGE, "bad --label: it mentions pin-value, and --key "
                                                 "refuses such a value unread, as a URI that may "
                                                 "hold a PIN: choose another label");
    if (!label_ok(label)) {
        TK_QUOTED q;

        return tk_cli_error(&cli, TK_EXIT_USAGE, "bad --label '%s': 1 to 128 bytes of UTF-8, "
                                                 "no control characters, no '/' and not starting "
                                                 "with 'pkcs11:' (--key takes such a value as a "
                                                 "key reference file or a URI)",
                            tk_text_quote(&q, label, strlen(label)));
    }
    if (id_hex != NULL && !id_ok(id_hex))
        return tk_cli_error(&cli, TK_EXIT_USAGE, "bad --id '%s': give 1 to 64 bytes as hex "
                                                 "digits, e.g. --id 0a1b", id_hex);
    if (cli.key != NULL)
        return tk_cli_error(&cli, TK_EXIT_USAGE, "keygen makes a new key: name it with --label, "
                                                 "not --key");
    if (!tk_cli_open_module(&cli))
        return TK_EXIT_SETUP;
    code = run(&cli, type, label, id_hex);
    tk_cli_close(&cli);
    return code;
}
