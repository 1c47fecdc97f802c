/*
 * What the bench measures on: a fresh SoftHSM2 token made by the project's
 * softhsm-conf/mktoken.sh in a temporary directory, an RSA-2048 and a
 * P-256 key pair generated on it by OpenSC's pkcs11-tool (as the issue's
 * anchors were; the PIN goes to pkcs11-tool through its environment,
 * never on argv), software keys for the default provider, and each
 * variant's key loaded once and checked with one verified signature.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "bench.h"

const char *const bench_key_names[BK_NKEYS] = { "RSA-2048", "EC P-256" };
const char *const bench_key_short[BK_NKEYS] = { "rsa", "ec" };
const unsigned char bench_key_id[BK_NKEYS] = { 0x01, 0x02 };
static const char *const keygen_type[BK_NKEYS] = { "rsa:2048", "EC:prime256v1" };

char *bench_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[256], *copy;
    size_t n;

    if (f == NULL)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    copy = n > 0 ? strdup(buf) : NULL;
    OPENSSL_cleanse(buf, sizeof(buf)); /* it may be a PIN */
    return copy;
}

int bench_spawn(const char *const argv[], const char *env_name, const char *env_value,
                char *out, size_t cap)
{
    int fd[2] = { -1, -1 }, status;
    size_t got = 0;
    pid_t pid;

    if (out != NULL && pipe(fd) != 0)
        return -1;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);

        if (env_name != NULL)
            setenv(env_name, env_value, 1);
        dup2(out != NULL ? fd[1] : null, 1);
        if (out != NULL) {
            close(fd[0]);
            close(fd[1]);
        }
        execvp(argv[0], (char *const *)argv);
        fprintf(stderr, "tk-bench: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (out != NULL) {
        ssize_t r;

        close(fd[1]);
        while ((r = read(fd[0], out + got, cap - 1 - got)) > 0 || (r < 0 && errno == EINTR))
            if (r > 0)
                got += (size_t)r;
        close(fd[0]);
        out[got] = '\0';
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char *join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *s = malloc(n);

    if (s != NULL)
        snprintf(s, n, "%s/%s", a, b);
    return s;
}

int bench_paths(BENCH_ENV *env)
{
    BENCH_OPTS *o = &env->o;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0)
        return 0;
    exe[n] = '\0';
    env->exe = strdup(exe);
    /* The binary is BUILD/bench/tk-bench: the build dir is two levels up. */
    if (o->build_dir == NULL && (slash = strrchr(exe, '/')) != NULL) {
        *slash = '\0';
        if ((slash = strrchr(exe, '/')) != NULL)
            *slash = '\0';
        o->build_dir = strdup(exe);
    }
    if (o->source_dir == NULL)
        o->source_dir = TK_BENCH_SOURCE_DIR;
    if (o->mktoken == NULL)
        o->mktoken = join(o->source_dir, "softhsm-conf/mktoken.sh");
    if (o->init_token == NULL)
        o->init_token = join(o->build_dir, "softhsm-conf/tk-init-token");
    if (o->provider_dir == NULL)
        o->provider_dir = join(o->build_dir, "provider");
    if (o->pkcs11_tool == NULL)
        o->pkcs11_tool = "pkcs11-tool";
    if (access(o->mktoken, X_OK) != 0 || access(o->init_token, X_OK) != 0) {
        fprintf(stderr, "tk-bench: need %s and %s (build first, or --mktoken/--init-token)\n",
                o->mktoken, o->init_token);
        return 0;
    }
    return 1;
}

/* The value of NAME='value' in mktoken.sh's output. */
static char *var(const char *text, const char *name)
{
    char key[64];
    const char *p, *q;

    snprintf(key, sizeof(key), "%s='", name);
    for (p = text; (p = strstr(p, key)) != NULL; p++)
        if (p == text || p[-1] == '\n') {
            p += strlen(key);
            q = strchr(p, '\'');
            return q != NULL ? strndup(p, (size_t)(q - p)) : NULL;
        }
    return NULL;
}

static int keygen(BENCH_ENV *env, int k)
{
    char id[8], label[32];
    char *pin = bench_read_file(env->pin_file);
    const char *argv[] = {
        env->o.pkcs11_tool, "--module", env->module, "--token-label", env->label,
        "--login", "--pin", "env:TK_BENCH_PIN", "--keypairgen", "--key-type",
        keygen_type[k], "--id", id, "--label", label, NULL
    };
    int rc;

    if (pin == NULL)
        return 0;
    snprintf(id, sizeof(id), "%02x", bench_key_id[k]);
    snprintf(label, sizeof(label), "bench-%s", bench_key_short[k]);
    rc = bench_spawn(argv, "TK_BENCH_PIN", pin, NULL, 0);
    OPENSSL_cleanse(pin, strlen(pin));
    free(pin);
    if (rc != 0)
        fprintf(stderr, "tk-bench: pkcs11-tool --keypairgen %s exited with %d\n",
                keygen_type[k], rc);
    return rc == 0;
}

int bench_make_token(BENCH_ENV *env)
{
    char tmpl[] = "/tmp/tk-bench.XXXXXX", out[4096], uri[512];
    const char *argv[] = { env->o.mktoken, NULL, "tk-bench", NULL };
    char *conf;

    if (mkdtemp(tmpl) == NULL)
        return 0;
    env->dir = strdup(tmpl);
    argv[1] = env->dir;
    if (bench_spawn(argv, "TK_INIT_TOKEN", env->o.init_token, out, sizeof(out)) != 0
        || (conf = var(out, "SOFTHSM2_CONF")) == NULL) {
        fprintf(stderr, "tk-bench: %s failed\n", env->o.mktoken);
        return 0;
    }
    env->module = var(out, "TOKENKEY_TEST_MODULE");
    env->label = var(out, "TOKENKEY_TEST_TOKEN");
    env->pin_file = var(out, "TOKENKEY_TEST_PIN_FILE");
    if (env->module == NULL || env->label == NULL || env->pin_file == NULL) {
        fprintf(stderr, "tk-bench: %s did not print the token's variables\n", env->o.mktoken);
        return 0;
    }
    /*
     * Everything after this reads its setup from the environment, children
     * too: SoftHSM2 its config (once, at C_Initialize), tokenkey its module
     * and PIN file (a key reference carries no PIN), OpenSSL no system
     * openssl.cnf (the same providers in every run).
     */
    setenv("SOFTHSM2_CONF", conf, 1);
    setenv("TOKENKEY_MODULE", env->module, 1);
    setenv("TOKENKEY_PIN_FILE", env->pin_file, 1);
    setenv("OPENSSL_CONF", "/dev/null", 1);
    free(conf);
    for (int k = 0; k < BK_NKEYS; k++) {
        if (!keygen(env, k))
            return 0;
        snprintf(uri, sizeof(uri), "pkcs11:token=%s;id=%%%02x;type=private", env->label,
                 bench_key_id[k]);
        env->uri[k] = strdup(uri);
        snprintf(uri, sizeof(uri), "tokenkey-%s.pem", bench_key_short[k]);
        env->tk_pem_path[k] = join(env->dir, uri);
        snprintf(uri, sizeof(uri), "other-%s.pem", bench_key_short[k]);
        env->other_pem_path[k] = join(env->dir, uri);
    }
    return 1;
}

/* Replace @MODULE@ and @PINFILE@ in a --other-param value. */
static void expand(char *dst, size_t cap, const char *src, const BENCH_ENV *env)
{
    size_t n = 0;

    while (*src != '\0' && n + 1 < cap) {
        const char *with = NULL;

        if (strncmp(src, "@MODULE@", 8) == 0) {
            with = env->module;
            src += 8;
        } else if (strncmp(src, "@PINFILE@", 9) == 0) {
            with = env->pin_file;
            src += 9;
        }
        if (with != NULL)
            n += (size_t)snprintf(dst + n, cap - n, "%s", with);
        else
            dst[n++] = *src++;
        if (n >= cap)
            n = cap - 1;
    }
    dst[n] = '\0';
}

/*
 * OpenSSL 3.0 gives a provider parameters only through a config file, so
 * the other provider gets one. The defaults are pkcs11-provider's keys;
 * no-deinit keeps it from calling C_Finalize at exit, after SoftHSM2 has
 * torn itself down (../shared/README.md: that crashes).
 */
static int write_other_conf(BENCH_ENV *env)
{
    static const char *const p11prov[] = {
        "pkcs11-module-path=@MODULE@", "pkcs11-module-token-pin=file:@PINFILE@",
        "pkcs11-module-quirks=no-deinit",
    };
    const char *const *params = env->o.n_other_params > 0 ? env->o.other_params : p11prov;
    int n = env->o.n_other_params > 0 ? env->o.n_other_params : 3;
    FILE *f;
    char line[1024];

    env->other_conf = join(env->dir, "other-provider.cnf");
    if ((f = fopen(env->other_conf, "w")) == NULL)
        return 0;
    fprintf(f, "openssl_conf = openssl_init\n[openssl_init]\nproviders = provider_sect\n"
               "[provider_sect]\n%s = other_sect\n[other_sect]\nmodule = %s\n",
            env->o.other_name, env->o.other_path);
    for (int i = 0; i < n; i++) {
        char *eq;

        expand(line, sizeof(line), params[i], env);
        if ((eq = strchr(line, '=')) == NULL) {
            fprintf(stderr, "tk-bench: --other-param '%s' is not KEY=VALUE\n", params[i]);
            fclose(f);
            return 0;
        }
        fprintf(f, "%.*s = %s\n", (int)(eq - line), line, eq + 1);
    }
    fprintf(f, "activate = 1\n");
    return fclose(f) == 0;
}

/* Sign once with variant v of key k and verify the signature: the bench measures real work. */
static int check_variant(BENCH_ENV *env, int k, int v)
{
    unsigned char sig[512];
    size_t len = sizeof(sig);
    int raw = v == V_RAW_TOKEN || v == V_RAW_COPY;
    int ok = raw ? bench_raw_sign(env->arg[k][v], 0, sig, &len)
                 : bench_evp_sign(env->arg[k][v], sig, &len);

    if (ok)
        ok = bench_verify(v == V_SOFT ? bench_public_copy(env->evp[k][v].pkey) : env->pub[k],
                          sig, len, raw && k == BK_EC);
    if (!ok)
        fprintf(stderr, "tk-bench: %s %s does not sign correctly\n", bench_key_names[k],
                bench_variant_names[v]);
    return ok;
}

static void set_evp(BENCH_ENV *env, int k, int v, EVP_PKEY *pkey, OSSL_LIB_CTX *lc)
{
    env->evp[k][v] = (BENCH_EVP){ pkey, lc };
    env->op[k][v] = bench_evp_sign_op;
    env->arg[k][v] = &env->evp[k][v];
}

int bench_open_variants(BENCH_ENV *env)
{
    int maxthreads = 1;

    for (int i = 0; i < env->o.nthreads; i++)
        if (env->o.threads[i] > maxthreads)
            maxthreads = env->o.threads[i];
    env->raw = bench_raw_open(env->module, env->label, env->pin_file, maxthreads);
    env->tk_lc = bench_libctx(env->o.provider_dir, "tokenkey");
    env->sw_lc = bench_libctx(NULL, NULL);
    env->sha256 = EVP_MD_fetch(env->sw_lc, "SHA256", NULL);
    if (env->raw == NULL || env->tk_lc == NULL || env->sw_lc == NULL || env->sha256 == NULL)
        return 0;
    if (env->o.other_path != NULL
        && (!write_other_conf(env) || (env->other_lc = bench_libctx_conf(env->other_conf)) == NULL))
        return 0;

    for (int k = 0; k < BK_NKEYS; k++) {
        EVP_PKEY *tk = bench_load_uri(env->tk_lc, env->uri[k]), *p;

        if (tk == NULL || (env->pub[k] = bench_public_copy(tk)) == NULL)
            return 0;
        for (int c = 0; c < 2; c++) {
            CK_OBJECT_HANDLE h = bench_raw_find(env->raw, bench_key_id[k]);

            if (c == 1 && h != CK_INVALID_HANDLE)
                h = bench_raw_copy(env->raw, h);
            if (h == CK_INVALID_HANDLE)
                return 0;
            env->raw_key[k][c] = (BENCH_RAW_KEY){ env->raw, h, k, env->sha256 };
            env->op[k][V_RAW_TOKEN + c] = bench_raw_sign_op;
            env->arg[k][V_RAW_TOKEN + c] = &env->raw_key[k][c];
        }
        set_evp(env, k, V_TK_URI, tk, env->tk_lc);
        /* The key-reference file as tokenkey writes it, read back as a client reads it. */
        if (!bench_write_pem(tk, env->tk_pem_path[k])
            || (p = bench_load_pem(env->tk_lc, env->tk_pem_path[k])) == NULL)
            return 0;
        set_evp(env, k, V_TK_PEM, p, env->tk_lc);
        p = k == BK_RSA ? EVP_PKEY_Q_keygen(env->sw_lc, NULL, "RSA", (size_t)2048)
                        : EVP_PKEY_Q_keygen(env->sw_lc, NULL, "EC", "P-256");
        if (p == NULL)
            return 0;
        set_evp(env, k, V_SOFT, p, env->sw_lc);
        if (env->other_lc != NULL) {
            if ((p = bench_load_uri(env->other_lc, env->uri[k])) == NULL)
                return 0;
            set_evp(env, k, V_OTHER_URI, p, env->other_lc);
            /* "if it can write one": some providers have no key file format. */
            if (bench_write_pem(p, env->other_pem_path[k])
                && (p = bench_load_pem(env->other_lc, env->other_pem_path[k])) != NULL)
                set_evp(env, k, V_OTHER_PEM, p, env->other_lc);
            else
                fprintf(stderr, "tk-bench: %s wrote no usable key file; its PEM column stays empty\n",
                        env->o.other_name);
        }
        for (int v = 0; v < V_TLS_TOKEN; v++)
            if (env->op[k][v] != NULL && !check_variant(env, k, v))
                return 0;
    }
    return 1;
}

static void remove_tree(const char *dir)
{
    const char *argv[] = { "rm", "-rf", dir, NULL };

    bench_spawn(argv, NULL, NULL, NULL, 0);
}

void bench_env_free(BENCH_ENV *env)
{
    /*
     * Keys and library contexts stay until exit: tokenkey keeps the module
     * loaded for the process anyway, and freeing them here would only
     * exercise teardown, which the tests cover.
     */
    bench_raw_close(env->raw);
    env->raw = NULL;
    if (env->dir != NULL) {
        if (env->o.keep)
            fprintf(stderr, "tk-bench: keeping %s\n", env->dir);
        else
            remove_tree(env->dir);
    }
}
