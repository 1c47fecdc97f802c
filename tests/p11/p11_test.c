/* Helpers shared by the PKCS#11-layer tests: see p11_test.h. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "p11_test.h"

void *tk_test_loaded_symbol(const char *module_path, const char *name)
{
    /* The layer keeps its own reference; this one only finds the same copy. */
    void *dl = dlopen(module_path, RTLD_NOW | RTLD_NOLOAD), *sym;

    if (dl == NULL) {
        fprintf(stderr, "test: %s is not loaded: %s\n", module_path, dlerror());
        return NULL;
    }
    sym = dlsym(dl, name);
    if (sym == NULL)
        fprintf(stderr, "test: %s has no %s\n", module_path, name);
    dlclose(dl);
    return sym;
}

CK_FUNCTION_LIST *tk_test_raw_functions(const char *module_path)
{
    CK_C_GetFunctionList get;
    CK_FUNCTION_LIST *fl = NULL;

    *(void **)&get = tk_test_loaded_symbol(module_path, "C_GetFunctionList");
    if (get == NULL || get(&fl) != CKR_OK)
        fl = NULL;
    return fl;
}

const char *tk_test_tokenshim(void)
{
    const char *shim = getenv("TK_TOKENSHIM");

    if (shim == NULL)
        fprintf(stderr, "test: TK_TOKENSHIM is not set (run with 'meson test')\n");
    return shim;
}

long tk_test_raw_session_state(CK_FUNCTION_LIST *raw, CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE h;
    CK_SESSION_INFO info;
    long state = -1;

    if (raw->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h) != CKR_OK)
        return -1;
    if (raw->C_GetSessionInfo(h, &info) == CKR_OK)
        state = (long)info.state;
    raw->C_CloseSession(h);
    return state;
}

CK_FLAGS tk_test_live_token_flags(TK_P11_TEST *e)
{
    CK_TOKEN_INFO info;

    if (tk_p11_token_info(e->m, tk_p11_token_slot(e->t), &info) != CKR_OK)
        return 0;
    return info.flags;
}

int tk_p11_test_setup(TK_P11_TEST *e, const char *label, const char *module_path)
{
    memset(e, 0, sizeof(*e));
    if (tk_fixture_setup(&e->fx, label) != 0)
        return -1;
    return tk_p11_test_open(e, module_path);
}

int tk_p11_test_open(TK_P11_TEST *e, const char *module_path)
{
    TK_URI *uri = NULL;
    char text[256];
    size_t count = 0;
    CK_RV rv;

    if (module_path == NULL)
        module_path = tk_fixture_module(&e->fx);
    rv = tk_p11_module_open(module_path, NULL, &e->m);
    if (rv != CKR_OK) {
        fprintf(stderr, "test: tk_p11_module_open %s: %s %s\n", module_path,
                tk_p11_rv_name(rv), tk_p11_module_load_error());
        goto fail;
    }
    /* Serials are hex digits: nothing to escape. */
    snprintf(text, sizeof(text), "pkcs11:serial=%s", tk_fixture_serial(&e->fx));
    if (tk_uri_parse(text, &uri, NULL) != TK_URI_OK) {
        fprintf(stderr, "test: cannot parse %s\n", text);
        goto fail;
    }
    rv = tk_p11_token_find(e->m, uri, &e->t, 1, &count);
    tk_uri_free(uri);
    if (rv != CKR_OK || count != 1) {
        fprintf(stderr, "test: token %s: %s, %zu found\n", text, tk_p11_rv_name(rv), count);
        goto fail;
    }
    e->pin = tk_fixture_user_pin(&e->fx);
    e->raw = tk_test_raw_functions(module_path);
    if (e->raw == NULL)
        goto fail;
    return 0;

fail:
    tk_p11_test_teardown(e);
    return -1;
}

void tk_p11_test_teardown(TK_P11_TEST *e)
{
    if (e->m != NULL)
        tk_p11_module_close(e->m);
    tk_fixture_teardown(&e->fx);
    memset(e, 0, sizeof(*e));
}

CK_RV tk_test_op_random(TK_P11_SESSION *s, void *arg)
{
    unsigned char buf[32];

    return tk_p11_generate_random(s, buf, sizeof(buf));
}

CK_RV tk_test_op_create_private(TK_P11_SESSION *s, void *arg)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    static const char label[] = "tokenkey-test-private-data";
    static const unsigned char value[] = "not a secret";
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_TOKEN, &no, sizeof(no) },
        { CKA_PRIVATE, &yes, sizeof(yes) },
        { CKA_LABEL, (void *)label, sizeof(label) - 1 },
        { CKA_VALUE, (void *)value, sizeof(value) - 1 },
    };
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_RV rv = tk_p11_create(s, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &h);

    if (rv == CKR_OK && arg != NULL)
        *(CK_OBJECT_HANDLE *)arg = h;
    return rv;
}

CK_RV tk_test_pin_counting(void *arg, char *buf, size_t cap, size_t *len)
{
    TK_TEST_COUNTING_PIN *c = arg;

    __atomic_fetch_add(&c->calls, 1, __ATOMIC_SEQ_CST);
    return c->inner.get(c->inner.arg, buf, cap, len);
}

CK_RV tk_test_pin_literal(void *arg, char *buf, size_t cap, size_t *len)
{
    size_t n = strlen(arg);

    if (n == 0 || n > cap)
        return TK_CKR_PIN_UNAVAILABLE;
    memcpy(buf, arg, n);
    *len = n;
    return CKR_OK;
}

char *tk_test_run_capture(char *const argv[], int *status)
{
    int fds[2];
    size_t len = 0, cap = 8192;
    char *out = malloc(cap);
    ssize_t got;
    pid_t pid;

    *status = -1;
    if (out == NULL || pipe2(fds, O_CLOEXEC) != 0) {
        free(out);
        return NULL;
    }
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(fds[1], STDERR_FILENO);
        execvp(argv[0], argv);
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        free(out);
        return NULL;
    }
    while ((got = read(fds[0], out + len, cap - len - 1)) != 0) {
        if (got < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
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
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return out;
}

char *tk_test_read_file(const char *path)
{
    FILE *f = fopen(path, "re");
    char *buf = NULL;
    long size;

    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0
        && (buf = malloc((size_t)size + 1)) != NULL) {
        size_t n = fread(buf, 1, (size_t)size, f);

        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

/* The provider's entry point, from the static library the tests link. */
extern OSSL_provider_init_fn OSSL_provider_init;

int tk_p11_test_provider_load(TK_P11_TEST_PROVIDER *p, const TK_P11_TEST *e,
                              const char *module_path)
{
    memset(p, 0, sizeof(*p));
    setenv("TOKENKEY_MODULE", module_path, 1);
    setenv("TOKENKEY_PIN_FILE", tk_fixture_pin_file(&e->fx), 1);
    if ((p->libctx = OSSL_LIB_CTX_new()) == NULL
        || OSSL_PROVIDER_add_builtin(p->libctx, "tokenkey", OSSL_provider_init) != 1
        || (p->deflt = OSSL_PROVIDER_load(p->libctx, "default")) == NULL
        || (p->tokenkey = OSSL_PROVIDER_load(p->libctx, "tokenkey")) == NULL) {
        fprintf(stderr, "test: cannot load tokenkey over %s\n", module_path);
        ERR_print_errors_fp(stderr);
        tk_p11_test_provider_unload(p);
        return -1;
    }
    return 0;
}

void tk_p11_test_provider_unload(TK_P11_TEST_PROVIDER *p)
{
    OSSL_PROVIDER_unload(p->tokenkey);
    OSSL_PROVIDER_unload(p->deflt);
    OSSL_LIB_CTX_free(p->libctx);
    memset(p, 0, sizeof(*p));
}

int tk_p11_test_provider_sign(const TK_P11_TEST_PROVIDER *p, EVP_PKEY *key)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    int ok;

    ok = md != NULL
         && EVP_DigestSignInit_ex(md, NULL, "SHA256", p->libctx, NULL, key, NULL) == 1
         && EVP_DigestSign(md, sig, &siglen, (const unsigned char *)"test", 4) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}
