/* Helpers for the key management tests: see km_test.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "km_test.h"

extern char **environ;

/* The provider's entry point, from the static library the test links. */
int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx);

const KM_KIND km_kinds[KM_NKINDS] = {
    [KM_RSA2048] = { "rsa2048", "RSA", NULL, 2048 },
    [KM_P256] = { "p256", "EC", "P-256", 0 },
    [KM_P384] = { "p384", "EC", "P-384", 0 },
    [KM_P521] = { "p521", "EC", "P-521", 0 },
    [KM_ED25519] = { "ed25519", "ED25519", NULL, 0 },
};

int km_env_setup(KM_ENV *e, const char *label)
{
    memset(e, 0, sizeof(*e));
    if (tk_fixture_setup(&e->fx, label) != 0)
        return -1;
    /* The provider reads its configuration once, when it loads. */
    if (setenv("TOKENKEY_MODULE", tk_fixture_module(&e->fx), 1) != 0
        || setenv("TOKENKEY_PIN_FILE", tk_fixture_pin_file(&e->fx), 1) != 0)
        return -1;
    e->libctx = OSSL_LIB_CTX_new();
    if (e->libctx == NULL
        || !OSSL_PROVIDER_add_builtin(e->libctx, "tokenkey", OSSL_provider_init)
        || (e->deflt = OSSL_PROVIDER_load(e->libctx, "default")) == NULL
        || (e->tk = OSSL_PROVIDER_load(e->libctx, "tokenkey")) == NULL) {
        char errs[2048];

        fprintf(stderr, "test: cannot load the providers:\n%s\n", km_errors(errs, sizeof(errs)));
        return -1;
    }
    return 0;
}

void km_env_teardown(KM_ENV *e)
{
    OSSL_PROVIDER_unload(e->tk);
    OSSL_PROVIDER_unload(e->deflt);
    OSSL_LIB_CTX_free(e->libctx);
    tk_fixture_teardown(&e->fx);
    unsetenv("TOKENKEY_MODULE");
    unsetenv("TOKENKEY_PIN_FILE");
}

EVP_PKEY *km_generate(KM_ENV *e, const KM_KIND *kind, const char *label, const char *id_hex)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(e->libctx, kind->alg, "provider=tokenkey");
    EVP_PKEY *pk = NULL;
    OSSL_PARAM params[6];
    size_t n = 0, bits = kind->bits;

    params[n++] = OSSL_PARAM_construct_utf8_string("token", (char *)tk_fixture_token(&e->fx), 0);
    params[n++] = OSSL_PARAM_construct_utf8_string("label", (char *)label, 0);
    if (id_hex != NULL)
        params[n++] = OSSL_PARAM_construct_utf8_string("id", (char *)id_hex, 0);
    if (kind->group != NULL)
        params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                       (char *)kind->group, 0);
    if (bits != 0)
        params[n++] = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    params[n] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0 || !EVP_PKEY_CTX_set_params(ctx, params)
        || EVP_PKEY_generate(ctx, &pk) <= 0) {
        EVP_PKEY_free(pk);
        pk = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pk;
}

EVP_PKEY *km_software_key(KM_ENV *e, const KM_KIND *kind)
{
    if (kind->group != NULL)
        return EVP_PKEY_Q_keygen(e->libctx, "provider=default", "EC", kind->group);
    if (kind->bits != 0)
        return EVP_PKEY_Q_keygen(e->libctx, "provider=default", "RSA", kind->bits);
    return EVP_PKEY_Q_keygen(e->libctx, "provider=default", kind->alg);
}

const char *km_provider(const EVP_PKEY *pk)
{
    const OSSL_PROVIDER *prov = pk != NULL ? EVP_PKEY_get0_provider(pk) : NULL;

    return prov != NULL ? OSSL_PROVIDER_get0_name(prov) : "";
}

const char *km_errors(char *buf, size_t cap)
{
    unsigned long err;
    const char *data;
    int flags;
    size_t len = 0;

    buf[0] = '\0';
    while ((err = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0 && len + 1 < cap) {
        char one[256];

        ERR_error_string_n(err, one, sizeof(one));
        len += (size_t)snprintf(buf + len, cap - len, "%s [%s]\n", one,
                                (flags & ERR_TXT_STRING) != 0 ? data : "");
        if (len >= cap)
            len = cap - 1;
    }
    ERR_clear_error();
    return buf;
}

/* environ plus NAME=value, minus unset_var; entries point into environ (free the array only). */
static char **child_env(const char *name, const char *value, const char *unset_var, char **extra)
{
    size_t n = 0, k = 0;
    char **env;

    while (environ[n] != NULL)
        n++;
    env = calloc(n + 2, sizeof(*env));
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        size_t ulen = unset_var != NULL ? strlen(unset_var) : 0;

        if (unset_var != NULL && strncmp(environ[i], unset_var, ulen) == 0
            && environ[i][ulen] == '=')
            continue;
        env[k++] = environ[i];
    }
    if (name != NULL) {
        size_t len = strlen(name) + strlen(value) + 2;

        if ((*extra = malloc(len)) == NULL) {
            free(env);
            return NULL;
        }
        snprintf(*extra, len, "%s=%s", name, value);
        env[k++] = *extra;
    }
    return env;
}

char *km_run(KM_ENV *e, char *const argv[], const char *pin_var, const char *unset_var,
             int *status)
{
    char *pin = pin_var != NULL ? tk_fixture_read_pin(tk_fixture_pin_file(&e->fx)) : NULL;
    char *extra = NULL, **env, *out = NULL;
    size_t len = 0, cap = 16384;
    int fds[2];
    ssize_t got;
    pid_t pid;

    *status = -1;
    if ((pin_var != NULL && pin == NULL)
        || (env = child_env(pin_var, pin, unset_var, &extra)) == NULL) {
        free(pin);
        return NULL;
    }
    if ((out = malloc(cap)) == NULL || pipe2(fds, O_CLOEXEC) != 0) {
        free(out);
        out = NULL;
        goto end;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        execvpe(argv[0], argv, env);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    while (pid > 0 && ((got = read(fds[0], out + len, cap - len - 1)) > 0
                       || (got < 0 && errno == EINTR))) {
        if (got > 0)
            len += (size_t)got;
        if (cap - len < 2) {
            char *bigger = realloc(out, cap * 2);

            if (bigger == NULL)
                break;
            out = bigger;
            cap *= 2;
        }
    }
    close(fds[0]);
    out[len] = '\0';
    while (pid > 0 && waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
end:
    if (extra != NULL)
        OPENSSL_cleanse(extra, strlen(extra));
    if (pin != NULL)
        OPENSSL_cleanse(pin, strlen(pin));
    free(extra);
    free(pin);
    free(env);
    return out;
}

char *km_pkcs11_tool(KM_ENV *e, int login, const char *const args[], int *status)
{
    const char *argv[32];
    size_t n = 0;

    argv[n++] = "pkcs11-tool";
    argv[n++] = "--module";
    argv[n++] = tk_fixture_module(&e->fx);
    argv[n++] = "--token-label";
    argv[n++] = tk_fixture_token(&e->fx);
    if (login) {
        /* pkcs11-tool 0.23 reads a PIN from stdin only on a terminal; env: keeps it off argv. */
        argv[n++] = "--login";
        argv[n++] = "--pin";
        argv[n++] = "env:TK_KM_TEST_PIN";
    }
    for (size_t i = 0; args[i] != NULL && n < 31; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return km_run(e, (char *const *)argv, login ? "TK_KM_TEST_PIN" : NULL, NULL, status);
}

/*
 * The block pkcs11-tool prints for the object of kind ("Private Key
 * Object" / "Public Key Object") labelled label: its header line (which
 * starts at column 0) and the indented lines under it. Copied into buf;
 * fails the test when there is none or more than one.
 */
const char *km_object_block(const char *listing, const char *kind, const char *label,
                                char *buf, size_t cap)
{
    char want[128];
    int found = 0;

    snprintf(want, sizeof(want), "\n  label:      %s\n", label);
    for (const char *p = listing; *p != '\0';) {
        const char *end = p;

        /* The block runs to the next line that is not indented. */
        do
            end = strchr(end, '\n');
        while (end != NULL && *++end == ' ');
        if (end == NULL)
            end = p + strlen(p);
        if (strncmp(p, kind, strlen(kind)) == 0) {
            char *block = strndup(p, (size_t)(end - p));

            assert_non_null(block);
            if (strstr(block, want) != NULL) {
                if (found++)
                    fail_msg("two %s objects labelled %s:\n%s", kind, label, listing);
                snprintf(buf, cap, "%s", block);
            }
            free(block);
        }
        p = end;
    }
    if (!found)
        fail_msg("no %s labelled %s in:\n%s", kind, label, listing);
    return buf;
}

/* Whether the "Access:" or "Usage:" line of block lists flag as one of its comma-separated items. */
int km_line_has(const char *block, const char *field, const char *flag)
{
    const char *line = strstr(block, field);
    char items[256], *save = NULL;

    if (line == NULL)
        return 0;
    line += strlen(field);
    while (*line == ' ')
        line++;
    snprintf(items, sizeof(items), "%.*s", (int)strcspn(line, "\n"), line);
    for (char *item = strtok_r(items, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        if (strcmp(item, flag) == 0)
            return 1;
    }
    return 0;
}

/* An RSA public key object as pkcs11-tool writes it (DER SubjectPublicKeyInfo). */
static EVP_PKEY *rsa_public_object(KM_ENV *e, const char *label)
{
    char path[4096];
    const char *args[] = { "--read-object", "--type", "pubkey", "--label", label, "-o", path, NULL };
    unsigned char der[4096];
    const unsigned char *p = der;
    EVP_PKEY *pk = NULL;
    int status, len = 0;
    char *out;
    BIO *bio;

    snprintf(path, sizeof(path), "%s/pub-%s.der", tk_fixture_dir(&e->fx), label);
    out = km_pkcs11_tool(e, 0, args, &status);
    if (out == NULL || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "test: pkcs11-tool --read-object %s failed:\n%s\n", label,
                out != NULL ? out : "");
        free(out);
        return NULL;
    }
    free(out);
    if ((bio = BIO_new_file(path, "rb")) != NULL)
        len = BIO_read(bio, der, sizeof(der));
    BIO_free(bio);
    if (len > 0)
        pk = d2i_PUBKEY_ex(NULL, &p, len, e->libctx, "provider=default");
    return pk;
}

/*
 * An EC or Ed25519 public key object from pkcs11-tool's listing: its
 * "EC_POINT:" line is the hex of CKA_EC_POINT, a DER OCTET STRING around
 * the point. (pkcs11-tool 0.23's --read-object fails on P-384 and P-521.)
 */
static EVP_PKEY *ec_public_object(KM_ENV *e, const KM_KIND *kind, const char *label)
{
    const char *args[] = { "--list-objects", "--type", "pubkey", NULL };
    char block[4096], hex[512] = "";
    const char *line;
    unsigned char *raw = NULL;
    const unsigned char *p;
    long rawlen = 0;
    ASN1_OCTET_STRING *point = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    OSSL_PARAM params[3], *q = params;
    int status;
    char *out = km_pkcs11_tool(e, 0, args, &status);

    if (out == NULL || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        goto end;
    km_object_block(out, "Public Key Object", label, block, sizeof(block));
    if ((line = strstr(block, "EC_POINT:")) == NULL)
        goto end;
    line += strlen("EC_POINT:");
    line += strspn(line, " ");
    snprintf(hex, sizeof(hex), "%.*s", (int)strcspn(line, "\n"), line);
    if ((raw = OPENSSL_hexstr2buf(hex, &rawlen)) == NULL)
        goto end;
    p = raw;
    if ((point = d2i_ASN1_OCTET_STRING(NULL, &p, rawlen)) == NULL)
        goto end;
    if (kind->group != NULL)
        *q++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)kind->group, 0);
    *q++ = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point->data,
                                             (size_t)point->length);
    *q = OSSL_PARAM_construct_end();
    ctx = EVP_PKEY_CTX_new_from_name(e->libctx, kind->alg, "provider=default");
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0
        || EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pk = NULL;
end:
    if (pk == NULL)
        fprintf(stderr, "test: no public key object %s in:\n%s\n", label, out != NULL ? out : "");
    EVP_PKEY_CTX_free(ctx);
    ASN1_OCTET_STRING_free(point);
    OPENSSL_free(raw);
    free(out);
    return pk;
}

EVP_PKEY *km_token_public_key(KM_ENV *e, const KM_KIND *kind, const char *label)
{
    return kind->bits != 0 ? rsa_public_object(e, label) : ec_public_object(e, kind, label);
}
