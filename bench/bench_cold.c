/*
 * Cold start: what a client pays once, in a fresh process, before its
 * first signature. Each sample is a new process (fork + exec of tk-bench
 * with --cold-child), so nothing is cached: not the module, not the
 * token's login, not OpenSSL's algorithm caches.
 *
 * Timed, per mode:
 *   raw        dlopen the module, C_Initialize, find the token, C_OpenSession,
 *              C_Login (PIN from its file), C_FindObjects for the key,
 *              SHA-256 + C_SignInit + C_Sign on the token object
 *   tk-uri     load tokenkey, OSSL_STORE the key by URI, first EVP_DigestSign
 *   tk-pem     load tokenkey, PEM_read_bio_PrivateKey_ex, first EVP_DigestSign
 *   other-*    the same through --other-provider (config file, then key)
 * Not timed, in every mode: process start and OpenSSL's own initialisation
 * with the default provider, which every TLS client has done anyway.
 *
 * Samples of all modes are interleaved, and each mode's median is kept.
 * A child that fails or crashes (at exit too) fails the bench.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/provider.h>

#include "bench.h"

const char *const bench_cold_names[COLD_N] = {
    "raw", "tk-uri", "tk-pem", "other-uri", "other-pem"
};

static int cold_mode(const char *name)
{
    for (int i = 0; i < COLD_N; i++)
        if (strcmp(name, bench_cold_names[i]) == 0)
            return i;
    return -1;
}

/* What the mode's child loads: a URI, a key file, or the raw key's id. */
static const char *target(BENCH_ENV *env, int k, int mode, char *idhex)
{
    switch (mode) {
    case COLD_RAW:
        snprintf(idhex, 3, "%02x", bench_key_id[k]);
        return idhex;
    case COLD_TK_URI:
    case COLD_OTHER_URI:
        return env->uri[k];
    case COLD_TK_PEM:
        return env->tk_pem_path[k];
    default:
        return env->other_pem_path[k];
    }
}

static int one_sample(BENCH_ENV *env, int k, int mode, double *us)
{
    char idhex[3], out[256];
    const char *argv[] = {
        env->exe, "--cold-child", bench_cold_names[mode], bench_key_short[k], env->module,
        env->label, env->pin_file, env->o.provider_dir, target(env, k, mode, idhex),
        env->other_conf != NULL ? env->other_conf : "-", NULL
    };
    int rc = bench_spawn(argv, NULL, NULL, out, sizeof(out));

    if (rc != 0 || sscanf(out, "%lf", us) != 1) {
        fprintf(stderr, "tk-bench: cold start %s %s: child exited with %d%s\n", bench_key_names[k],
                bench_cold_names[mode], rc, rc > 128 ? " (killed by a signal)" : "");
        return 0;
    }
    return 1;
}

int bench_cold_run(BENCH_ENV *env, BENCH_COLD *out)
{
    double s[BK_NKEYS][COLD_N][BENCH_MAX_ROUNDS];
    int reps = env->o.cold_reps; /* at most BENCH_MAX_ROUNDS: parse() refuses more */
    int nmodes = env->other_lc == NULL ? COLD_OTHER_URI : COLD_N;

    memset(out, 0, sizeof(*out));
    out->reps = reps;
    for (int r = 0; r < reps; r++)
        for (int k = 0; k < BK_NKEYS; k++)
            for (int i = 0; i < nmodes && env->o.keys[k]; i++) {
                /* Rotate the order so no mode always runs first (page cache, CPU frequency). */
                int mode = (i + r) % nmodes;

                if (mode == COLD_OTHER_PEM && env->op[k][V_OTHER_PEM] == NULL)
                    continue;
                if (!one_sample(env, k, mode, &s[k][mode][r]))
                    return 0;
            }
    for (int k = 0; k < BK_NKEYS; k++)
        for (int mode = 0; mode < nmodes && env->o.keys[k]; mode++)
            if (mode != COLD_OTHER_PEM || env->op[k][V_OTHER_PEM] != NULL) {
                double q[BENCH_MAX_ROUNDS];

                /* Each repetition ran every mode back to back: the same load for all. */
                for (int r = 0; r < reps; r++)
                    q[r] = s[k][mode][r] / s[k][COLD_RAW][r];
                out->us[k][mode] = bench_median(s[k][mode], reps);
                out->ratio[k][mode] = bench_median(q, reps);
            }
    return 1;
}

typedef struct cold_args {
    int mode, k;
    const char *module, *label, *pin_file, *what, *conf;
    BENCH_RAW *raw;       /* what the timed part leaves open, closed after the clock stops */
    EVP_PKEY *pkey;
} COLD_ARGS;

/*
 * The timed steps, out of line so that `valgrind --tool=callgrind
 * --toggle-collect=cold_timed` counts exactly them.
 */
__attribute__((noinline)) static int cold_timed(COLD_ARGS *a)
{
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    BENCH_EVP e = { NULL, NULL };

    switch (a->mode) {
    case COLD_RAW: {
        BENCH_RAW_KEY rk = { NULL, CK_INVALID_HANDLE, a->k, NULL };

        if ((a->raw = rk.raw = bench_raw_open(a->module, a->label, a->pin_file, 1)) == NULL
            || (rk.obj = bench_raw_find(a->raw, (unsigned char)strtoul(a->what, NULL, 16)))
               == CK_INVALID_HANDLE
            || (rk.sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) == NULL)
            return 0;
        return bench_raw_sign(&rk, 0, sig, &siglen);
    }
    case COLD_TK_URI:
    case COLD_TK_PEM:
        if (OSSL_PROVIDER_load(NULL, "tokenkey") == NULL)
            return 0;
        e.pkey = a->mode == COLD_TK_URI ? bench_load_uri(NULL, a->what) : bench_load_pem(NULL, a->what);
        break;
    default:
        if (!OSSL_LIB_CTX_load_config(NULL, a->conf))
            return 0;
        e.pkey = a->mode == COLD_OTHER_URI ? bench_load_uri(NULL, a->what) : bench_load_pem(NULL, a->what);
        break;
    }
    a->pkey = e.pkey;
    return e.pkey != NULL && bench_evp_sign(&e, sig, &siglen);
}

/* argv: exe --cold-child MODE KEY MODULE LABEL PIN_FILE PROVIDER_DIR TARGET OTHER_CONF */
int bench_cold_child(int argc, char **argv)
{
    COLD_ARGS a = { .mode = argc == 10 ? cold_mode(argv[2]) : -1 };
    uint64_t t0, t1;
    int ok;

    if (a.mode < 0) {
        fprintf(stderr, "tk-bench: bad --cold-child arguments\n");
        return 2;
    }
    a.k = strcmp(argv[3], "rsa") == 0 ? BK_RSA : BK_EC;
    a.module = argv[4];
    a.label = argv[5];
    a.pin_file = argv[6];
    a.what = argv[8];
    a.conf = argv[9];
    /* Untimed: OpenSSL up with the default provider, as in any TLS client. */
    if (OSSL_PROVIDER_load(NULL, "default") == NULL
        || !OSSL_PROVIDER_set_default_search_path(NULL, argv[7]))
        return 1;
    t0 = bench_now_ns();
    ok = cold_timed(&a);
    t1 = bench_now_ns();
    if (!ok)
        return 1;
    printf("%.1f\n", (double)(t1 - t0) / 1000.0);
    fflush(stdout);
    /* Exit as a client would: providers unload and the module tears down after this. */
    bench_raw_close(a.raw);
    EVP_PKEY_free(a.pkey);
    return 0;
}
