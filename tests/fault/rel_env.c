/* The reliability tests' environment: see rel_env.h. */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/x509v3.h>

#include "p11/p11.h"
#include "rel_env.h"
#include "vg_check.h"
#include "tls_pair.h"
#include "token_keygen.h"
#include "token_pubkey.h"
#include "tokenkey/uri.h"

/* The provider's entry point, linked in from tokenkey-core. */
OSSL_provider_init_fn OSSL_provider_init;

long rel_env_long(const char *name, long def)
{
    const char *s = getenv(name);
    char *end;
    long v;

    if (s == NULL || *s == '\0')
        return def;
    v = strtol(s, &end, 10);
    return *end == '\0' && v > 0 ? v : def;
}

/* ---- key generation, in a child process ---- */

/* A token key pair (CKA_ID and CKA_LABEL both label), its public half written as PEM. */
static CK_RV generate(TK_P11_TOKEN *t, int rsa, const char *label, const char *pem_path)
{
    CK_OBJECT_HANDLE hpub, hpriv;
    TK_P11_SESSION s;
    EVP_PKEY *pub = NULL;
    FILE *f;
    CK_RV rv = tk_p11_session_get(t, &s);

    if (rv != CKR_OK)
        return rv;
    rv = tk_test_keygen(&s, rsa ? TK_TEST_RSA2048 : TK_TEST_P256, label,
                        (const unsigned char *)label, strlen(label), &hpub, &hpriv);
    if (rv == CKR_OK && (pub = tk_test_token_public_key(&s, hpub)) == NULL)
        rv = CKR_GENERAL_ERROR;
    tk_p11_session_put(&s, rv);
    if (rv != CKR_OK)
        return rv;
    f = fopen(pem_path, "w");
    if (f == NULL || PEM_write_PUBKEY(f, pub) != 1)
        rv = CKR_GENERAL_ERROR;
    if (f != NULL && fclose(f) != 0)
        rv = CKR_GENERAL_ERROR;
    EVP_PKEY_free(pub);
    return rv;
}

static int keygen_child(REL_ENV *e, const char *rsa_pem, const char *ec_pem)
{
    TK_P11_MODULE *m = NULL;
    TK_P11_TOKEN *t = NULL;
    TK_P11_PIN_GETTER pin = tk_fixture_user_pin(&e->fx);
    TK_URI *uri = NULL;
    char text[256];
    size_t count = 0;
    CK_RV rv;

    snprintf(text, sizeof(text), "pkcs11:serial=%s", tk_fixture_serial(&e->fx));
    rv = tk_p11_module_open(tk_fixture_module(&e->fx), NULL, &m);
    if (rv == CKR_OK && tk_uri_parse(text, &uri, NULL) != TK_URI_OK)
        rv = CKR_GENERAL_ERROR;
    if (rv == CKR_OK)
        rv = tk_p11_token_find(m, uri, &t, 1, &count);
    if (rv == CKR_OK)
        rv = tk_p11_login(t, &pin);
    if (rv == CKR_OK)
        rv = generate(t, 1, "rsa", rsa_pem);
    if (rv == CKR_OK)
        rv = generate(t, 0, "ec", ec_pem);
    if (rv != CKR_OK)
        fprintf(stderr, "rel_env: key generation: %s\n", tk_p11_rv_name(rv));
    tk_uri_free(uri);
    tk_p11_module_close(m);
    return rv == CKR_OK ? 0 : 1;
}

static EVP_PKEY *read_pub(const char *path)
{
    FILE *f = fopen(path, "r");
    EVP_PKEY *k = f != NULL ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;

    if (f != NULL)
        fclose(f);
    return k;
}

/* ---- certificates (software CA) ---- */

static EVP_PKEY *software_p256(void)
{
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
}

static X509 *certify(EVP_PKEY *subject_key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
    X509 *x = X509_new();
    X509_NAME *name;
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    int ok;

    if (x == NULL)
        return NULL;
    name = X509_get_subject_name(x);
    ok = X509_set_version(x, X509_VERSION_3)
         && ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff) + 1)
         && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL
         && X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL
         && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0)
         && X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name)
         && X509_set_pubkey(x, subject_key);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
    ext = ok ? X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                   ca ? "critical,CA:TRUE" : "critical,CA:FALSE") : NULL;
    ok = ext != NULL && X509_add_ext(x, ext, -1) && X509_sign(x, issuer_key, EVP_sha256()) > 0;
    X509_EXTENSION_free(ext);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* ---- setup ---- */

int rel_env_setup(REL_ENV *e, const char *label)
{
    char rsa_pem[1024], ec_pem[1024];
    int status;
    pid_t pid;

    memset(e, 0, sizeof(*e));
    e->faultmod = getenv("TK_FAULTMOD");
    if (e->faultmod == NULL || access(e->faultmod, R_OK) != 0) {
        fprintf(stderr, "rel_env: TK_FAULTMOD (the built tk-faultmod.so) is not set or not readable: "
                "run with 'meson test'\n");
        return -1;
    }
    if (tk_fixture_setup(&e->fx, label) != 0)
        return -1;
    snprintf(rsa_pem, sizeof(rsa_pem), "%s/rsa.pub.pem", tk_fixture_dir(&e->fx));
    snprintf(ec_pem, sizeof(ec_pem), "%s/ec.pub.pem", tk_fixture_dir(&e->fx));
    pid = rel_fork();
    if (pid < 0) {
        perror("rel_env: fork");
        goto fail;
    }
    if (pid == 0) {
        TK_VG vg;
        int rc;

        tk_vg_mark(&vg);
        rc = keygen_child(e, rsa_pem, ec_pem);
        exit(rc == 0 && !tk_vg_clean(&vg, "key generation process") ? 99 : rc);
    }
    status = rel_wait(pid, (int)rel_env_long("TK_REL_CHILD_TIMEOUT", 300));
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "rel_env: the key generation process failed (status 0x%x)\n", status);
        goto fail;
    }
    e->rsa_pub = read_pub(rsa_pem);
    e->ec_pub = read_pub(ec_pem);
    snprintf(e->rsa_uri, sizeof(e->rsa_uri), "pkcs11:serial=%s;object=rsa;type=private",
             tk_fixture_serial(&e->fx));
    snprintf(e->ec_uri, sizeof(e->ec_uri), "pkcs11:serial=%s;object=ec;type=private",
             tk_fixture_serial(&e->fx));
    e->ca_key = software_p256();
    e->server_key = software_p256();
    if (e->rsa_pub == NULL || e->ec_pub == NULL || e->ca_key == NULL || e->server_key == NULL)
        goto fail_ssl;
    e->ca = certify(e->ca_key, "tokenkey reliability CA", NULL, e->ca_key, 1);
    if (e->ca == NULL)
        goto fail_ssl;
    e->rsa_cert = certify(e->rsa_pub, "rsa client", e->ca, e->ca_key, 0);
    e->ec_cert = certify(e->ec_pub, "ec client", e->ca, e->ca_key, 0);
    e->server_cert = certify(e->server_key, "localhost", e->ca, e->ca_key, 0);
    if (e->rsa_cert == NULL || e->ec_cert == NULL || e->server_cert == NULL)
        goto fail_ssl;

    /* The same instance the provider will dlopen; nothing is loaded until C_GetFunctionList. */
    e->dl = dlopen(e->faultmod, RTLD_NOW | RTLD_LOCAL);
    if (e->dl == NULL) {
        fprintf(stderr, "rel_env: %s\n", dlerror());
        goto fail;
    }
    *(void **)&e->set = dlsym(e->dl, "tk_fault_set");
    *(void **)&e->calls = dlsym(e->dl, "tk_fault_calls");
    *(void **)&e->injected = dlsym(e->dl, "tk_fault_injected");
    *(void **)&e->max_inflight = dlsym(e->dl, "tk_fault_max_inflight");
    *(void **)&e->reset_counts = dlsym(e->dl, "tk_fault_reset_counts");
    if (e->set == NULL || e->calls == NULL || e->injected == NULL || e->max_inflight == NULL
        || e->reset_counts == NULL) {
        fprintf(stderr, "rel_env: %s lacks the tk_fault_* functions\n", e->faultmod);
        goto fail;
    }
    /* The provider's configuration when there is no openssl.cnf section (config.h). */
    setenv("TOKENKEY_MODULE", e->faultmod, 1);
    setenv("TOKENKEY_PIN_FILE", tk_fixture_pin_file(&e->fx), 1);
    setenv("TK_FAULT_MODULE", tk_fixture_module(&e->fx), 1);
    return 0;
fail_ssl:
    fprintf(stderr, "rel_env: keys or certificates could not be made\n");
    ERR_print_errors_fp(stderr);
fail:
    rel_env_teardown(e);
    return -1;
}

void rel_env_teardown(REL_ENV *e)
{
    EVP_PKEY_free(e->rsa_pub);
    EVP_PKEY_free(e->ec_pub);
    EVP_PKEY_free(e->ca_key);
    EVP_PKEY_free(e->server_key);
    X509_free(e->ca);
    X509_free(e->rsa_cert);
    X509_free(e->ec_cert);
    X509_free(e->server_cert);
    /* e->dl stays open: the provider may still use the module (it never unloads it at exit). */
    tk_fixture_teardown(&e->fx);
    memset(e, 0, sizeof(*e));
}

OSSL_LIB_CTX *rel_libctx_new(OSSL_PROVIDER *prov[2])
{
    OSSL_LIB_CTX *libctx = OSSL_LIB_CTX_new();

    prov[0] = prov[1] = NULL;
    if (libctx == NULL || !OSSL_PROVIDER_add_builtin(libctx, "tokenkey", OSSL_provider_init)
        || (prov[0] = OSSL_PROVIDER_load(libctx, "default")) == NULL
        || (prov[1] = OSSL_PROVIDER_load(libctx, "tokenkey")) == NULL) {
        fprintf(stderr, "rel_env: cannot load the default and tokenkey providers\n");
        ERR_print_errors_fp(stderr);
        rel_libctx_free(libctx, prov);
        return NULL;
    }
    return libctx;
}

void rel_libctx_free(OSSL_LIB_CTX *libctx, OSSL_PROVIDER *prov[2])
{
    /* OSSL_LIB_CTX_free alone would not drop the references OSSL_PROVIDER_load took. */
    OSSL_PROVIDER_unload(prov[1]);
    OSSL_PROVIDER_unload(prov[0]);
    prov[0] = prov[1] = NULL;
    OSSL_LIB_CTX_free(libctx);
}

int rel_open_keys(REL_ENV *e, OSSL_LIB_CTX **libctx, OSSL_PROVIDER *prov[2], EVP_PKEY **rsa,
                  EVP_PKEY **ec)
{
    *rsa = *ec = NULL;
    if ((*libctx = rel_libctx_new(prov)) == NULL)
        return -1;
    *rsa = tk_test_load_private(*libctx, e->rsa_uri);
    *ec = tk_test_load_private(*libctx, e->ec_uri);
    if (*rsa == NULL || *ec == NULL) {
        fprintf(stderr, "rel_env: cannot load the token keys\n");
        ERR_print_errors_fp(stderr);
        return -1;
    }
    return 0;
}

void rel_close_keys(OSSL_LIB_CTX *libctx, OSSL_PROVIDER *prov[2], EVP_PKEY *rsa, EVP_PKEY *ec)
{
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
    if (libctx != NULL)
        rel_libctx_free(libctx, prov);
}

int rel_sign(OSSL_LIB_CTX *libctx, EVP_PKEY *key, const unsigned char *msg, size_t msglen,
             unsigned char *sig, size_t *siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    *siglen = 512;
    ok = mctx != NULL && EVP_DigestSignInit_ex(mctx, &pctx, "SHA256", libctx, NULL, key, NULL) == 1;
    if (ok && EVP_PKEY_is_a(key, "RSA"))
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestSign(mctx, sig, siglen, msg, msglen) == 1;
    EVP_MD_CTX_free(mctx);
    return ok;
}

int rel_verify(EVP_PKEY *pub, const unsigned char *msg, size_t msglen,
               const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok;

    ok = mctx != NULL && EVP_DigestVerifyInit_ex(mctx, &pctx, "SHA256", NULL, "provider=default",
                                                 pub, NULL) == 1;
    if (ok && EVP_PKEY_is_a(pub, "RSA"))
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1
             && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(mctx, sig, siglen, msg, msglen) == 1;
    EVP_MD_CTX_free(mctx);
    ERR_clear_error();
    return ok;
}

/*
 * The certificates and software keys were made in the default library
 * context; the TLS context gets copies of its own. Using the originals
 * would leave libctx's keymgmt exports cached in them (EVP_PKEY_eq in
 * SSL_CTX_check_private_key), and those hold references to libctx's
 * providers: tokenkey would then never be torn down.
 */
static SSL_CTX *tls_ctx(REL_ENV *e, OSSL_LIB_CTX *libctx, const SSL_METHOD *method,
                        EVP_PKEY *key, X509 *cert)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(libctx, NULL, method);
    X509 *mine = X509_dup(cert), *ca = X509_dup(e->ca);
    EVP_PKEY *k = EVP_PKEY_get0_provider(key) != NULL
                  && strcmp(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(key)), "tokenkey") == 0
                  ? (EVP_PKEY_up_ref(key), key) : EVP_PKEY_dup(key);
    int ok;

    ok = ctx != NULL && mine != NULL && ca != NULL && k != NULL
         && SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) == 1
         /* The order librdkafka uses: certificate, key, then the check. */
         && SSL_CTX_use_certificate(ctx, mine) == 1 && SSL_CTX_use_PrivateKey(ctx, k) == 1
         && SSL_CTX_check_private_key(ctx) == 1
         && X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca) == 1;
    /* The context holds its own references now. */
    X509_free(mine);
    X509_free(ca);
    EVP_PKEY_free(k);
    if (!ok) {
        fprintf(stderr, "rel_env: cannot set up a TLS context\n");
        ERR_print_errors_fp(stderr);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* No tickets: every handshake is a full one, with a client signature. */
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    return ctx;
}

SSL_CTX *rel_tls_client(REL_ENV *e, OSSL_LIB_CTX *libctx, EVP_PKEY *key, X509 *cert)
{
    return tls_ctx(e, libctx, TLS_client_method(), key, cert);
}

SSL_CTX *rel_tls_server(REL_ENV *e, OSSL_LIB_CTX *libctx)
{
    return tls_ctx(e, libctx, TLS_server_method(), e->server_key, e->server_cert);
}

int rel_handshake(SSL_CTX *client, SSL_CTX *server)
{
    SSL *c = NULL, *s = NULL;
    /* TLS 1.3: the server learns of a bad client signature only when it reads. */
    int ok = tk_test_tls_handshake(client, server, &c, &s)
             && SSL_get_verify_result(c) == X509_V_OK && SSL_get_verify_result(s) == X509_V_OK
             && tk_test_tls_ping(c, s);

    SSL_free(c);
    SSL_free(s);
    return ok;
}

char *rel_errors(char *buf, size_t cap)
{
    const char *data = NULL;
    unsigned long code;
    int flags = 0;
    size_t used = 0;

    buf[0] = '\0';
    while ((code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        char one[256];

        ERR_error_string_n(code, one, sizeof(one));
        used += (size_t)snprintf(buf + used, used < cap ? cap - used : 0, "%s%s [%s]",
                                 used > 0 ? " | " : "", one,
                                 (flags & ERR_TXT_STRING) && data != NULL ? data : "");
        if (used >= cap)
            used = cap - 1;
    }
    return buf;
}

pid_t rel_fork(void)
{
    static const int crashes[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGSYS, SIGABRT };
    pid_t pid;

    fflush(NULL);
    pid = fork();
    if (pid == 0)
        for (size_t i = 0; i < sizeof(crashes) / sizeof(crashes[0]); i++)
            signal(crashes[i], SIG_DFL);
    return pid;
}

int rel_wait(pid_t pid, int timeout)
{
    int status = 0;

    for (long waited = 0; waited < (long)timeout * 100; waited++) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        struct timespec tick = { 0, 10 * 1000 * 1000 };

        if (done == pid)
            return status;
        if (done < 0 && errno != EINTR)
            return -1;
        nanosleep(&tick, NULL);
    }
    /* For a post-mortem of a hang: TK_REL_GDB_ON_HANG=1 prints every thread's stack first. */
    if (getenv("TK_REL_GDB_ON_HANG") != NULL) {
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "gdb -p %ld -batch -ex 'thread apply all bt' >&2 2>/dev/null",
                 (long)pid);
        if (system(cmd) != 0)
            fprintf(stderr, "rel_wait: gdb failed\n");
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}
