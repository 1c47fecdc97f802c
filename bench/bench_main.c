/*
 * tk-bench: tokenkey against the token's own limit, in one interleaved run
 * (issue 9). See bench.h for the files, docs/performance.md for a run and
 * how to read it.
 *
 * Why interleaved: the machines this runs on are shared and noisy. Every
 * round measures every variant for a few seconds, in an order rotated from
 * round to round, so a burst of load from elsewhere hits all variants
 * alike; ratios are taken between variants of the same round, and the
 * median over rounds is reported.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

const char *const bench_variant_names[BENCH_NV] = {
    "raw-token", "raw-copy", "tokenkey-uri", "tokenkey-pem", "other-uri", "other-pem",
    "default-sw", "tls-token", "tls-sw", "tls-sw-tklib",
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: tk-bench [options]\n"
        "Makes a SoftHSM2 token with RSA-2048 and P-256 keys (pkcs11-tool) and measures, in one\n"
        "interleaved run, signatures/s of raw C_Sign (token object, session copy = the limit),\n"
        "tokenkey (URI, key-reference PEM), the default provider with a software key, TLS 1.3\n"
        "mTLS handshakes, cold start and RSS growth; then prints the issue-9 goals.\n"
        "\n"
        "  --rounds N            interleaved rounds (default 3)\n"
        "  --seconds S           seconds per variant per round (default 2)\n"
        "  --threads LIST        thread counts, comma-separated (default 1,2)\n"
        "  --keys LIST           rsa, ec or rsa,ec (default)\n"
        "  --rss-sigs N          signatures for the RSS check (default 1000000, the goal's count)\n"
        "  --cold-reps N         fresh processes per cold-start mode (default 7)\n"
        "  --other-provider PATH another provider module (e.g. pkcs11-provider's pkcs11.so)\n"
        "  --other-name NAME     its name in the table and its config (default pkcs11)\n"
        "  --other-param K=V     a config key for it (repeatable; @MODULE@ and @PINFILE@ are\n"
        "                        replaced). Default: pkcs11-provider's pkcs11-module-path,\n"
        "                        pkcs11-module-token-pin=file:..., pkcs11-module-quirks=no-deinit\n"
        "  --no-tls, --no-cold, --no-rss   skip those parts\n"
        "  --build-dir DIR, --source-dir DIR, --mktoken PATH, --init-token PATH,\n"
        "  --provider-dir DIR, --pkcs11-tool PATH   where things are (found from the build dir)\n"
        "  --keep                keep the token directory\n"
        "  --profile VARIANT --key rsa|ec --ops N\n"
        "                        only run N operations of one variant (raw-token, raw-copy,\n"
        "                        tokenkey-uri, tokenkey-pem, other-uri, other-pem, default-sw,\n"
        "                        tls-token, tls-sw, tls-sw-tklib) in bench_profile_loop, for\n"
        "                        valgrind --tool=callgrind --toggle-collect=bench_profile_loop\n");
}

static int parse_threads(BENCH_OPTS *o, const char *list)
{
    char *copy = strdup(list), *save = NULL;

    o->nthreads = 0;
    for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
        int n = atoi(t);

        if (n < 1 || n > BENCH_MAX_THREADS || o->nthreads == 4) {
            fprintf(stderr, "tk-bench: --threads '%s': up to 4 counts of 1..%d\n", list,
                    BENCH_MAX_THREADS);
            free(copy);
            return 0;
        }
        o->threads[o->nthreads++] = n;
    }
    free(copy);
    return o->nthreads > 0;
}

enum { O_ROUNDS = 256, O_SECONDS, O_THREADS, O_KEYS, O_RSS, O_COLD, O_OTHER, O_OTHER_NAME, O_OTHER_PARAM,
       O_NO_TLS, O_NO_COLD, O_NO_RSS, O_BUILD, O_SOURCE, O_MKTOKEN, O_INIT, O_PROVDIR, O_TOOL,
       O_KEEP, O_PROFILE, O_KEY, O_OPS, O_HELP };

static int parse(BENCH_OPTS *o, int argc, char **argv)
{
    static const struct option opts[] = {
        { "rounds", 1, NULL, O_ROUNDS }, { "seconds", 1, NULL, O_SECONDS },
        { "threads", 1, NULL, O_THREADS }, { "keys", 1, NULL, O_KEYS },
        { "rss-sigs", 1, NULL, O_RSS },
        { "cold-reps", 1, NULL, O_COLD }, { "other-provider", 1, NULL, O_OTHER },
        { "other-name", 1, NULL, O_OTHER_NAME }, { "other-param", 1, NULL, O_OTHER_PARAM },
        { "no-tls", 0, NULL, O_NO_TLS }, { "no-cold", 0, NULL, O_NO_COLD },
        { "no-rss", 0, NULL, O_NO_RSS }, { "build-dir", 1, NULL, O_BUILD },
        { "source-dir", 1, NULL, O_SOURCE }, { "mktoken", 1, NULL, O_MKTOKEN },
        { "init-token", 1, NULL, O_INIT }, { "provider-dir", 1, NULL, O_PROVDIR },
        { "pkcs11-tool", 1, NULL, O_TOOL }, { "keep", 0, NULL, O_KEEP },
        { "profile", 1, NULL, O_PROFILE }, { "key", 1, NULL, O_KEY }, { "ops", 1, NULL, O_OPS },
        { "help", 0, NULL, O_HELP }, { NULL, 0, NULL, 0 }
    };
    int c;

    *o = (BENCH_OPTS){ .rounds = 3, .seconds = 2, .keys = { 1, 1 }, .threads = { 1, 2 }, .nthreads = 2,
                       .rss_sigs = 1000000, .cold_reps = 7, .other_name = "pkcs11",
                       .profile_ops = 2000, .profile_key = BK_EC };
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_ROUNDS: o->rounds = atoi(optarg); break;
        case O_SECONDS: o->seconds = atof(optarg); break;
        case O_THREADS: if (!parse_threads(o, optarg)) return 0; break;
        case O_KEYS:
            o->keys[BK_RSA] = strstr(optarg, "rsa") != NULL;
            o->keys[BK_EC] = strstr(optarg, "ec") != NULL;
            break;
        case O_RSS: o->rss_sigs = atol(optarg); break;
        case O_COLD: o->cold_reps = atoi(optarg); break;
        case O_OTHER: o->other_path = optarg; break;
        case O_OTHER_NAME: o->other_name = optarg; break;
        case O_OTHER_PARAM:
            if (o->n_other_params == BENCH_MAX_PARAMS) {
                fprintf(stderr, "tk-bench: at most %d --other-param\n", BENCH_MAX_PARAMS);
                return 0;
            }
            o->other_params[o->n_other_params++] = optarg;
            break;
        case O_NO_TLS: o->no_tls = 1; break;
        case O_NO_COLD: o->no_cold = 1; break;
        case O_NO_RSS: o->no_rss = 1; break;
        case O_BUILD: o->build_dir = optarg; break;
        case O_SOURCE: o->source_dir = optarg; break;
        case O_MKTOKEN: o->mktoken = optarg; break;
        case O_INIT: o->init_token = optarg; break;
        case O_PROVDIR: o->provider_dir = optarg; break;
        case O_TOOL: o->pkcs11_tool = optarg; break;
        case O_KEEP: o->keep = 1; break;
        case O_PROFILE: o->profile = optarg; break;
        case O_KEY: o->profile_key = strcmp(optarg, "rsa") == 0 ? BK_RSA : BK_EC; break;
        case O_OPS: o->profile_ops = atol(optarg); break;
        case 'h': case O_HELP: usage(stdout); exit(0);
        default: usage(stderr); return 0;
        }
    }
    if (optind < argc || o->rounds < 1 || o->rounds > BENCH_MAX_ROUNDS || o->seconds <= 0
        || o->rss_sigs < 1000 || o->cold_reps < 1 || o->cold_reps > BENCH_MAX_ROUNDS
        || !(o->keys[BK_RSA] || o->keys[BK_EC])) {
        fprintf(stderr, "tk-bench: bad arguments (rounds 1..%d, seconds > 0, rss-sigs >= 1000, "
                "cold-reps 1..%d); see --help\n", BENCH_MAX_ROUNDS, BENCH_MAX_ROUNDS);
        return 0;
    }
    return 1;
}

/* Out of line so that `valgrind --toggle-collect=bench_profile_loop` counts this and no setup. */
__attribute__((noinline)) static int bench_profile_loop(bench_op_fn *op, void *arg, long n)
{
    for (long i = 0; i < n; i++)
        if (!op(arg, 0))
            return 0;
    return 1;
}

static int profile(BENCH_ENV *env)
{
    int k = env->o.profile_key;
    uint64_t t0;

    for (int v = 0; v < BENCH_NV; v++) {
        if (strcmp(env->o.profile, bench_variant_names[v]) != 0)
            continue;
        if (env->op[k][v] == NULL)
            break;
        t0 = bench_now_ns();
        if (!bench_profile_loop(env->op[k][v], env->arg[k][v], env->o.profile_ops))
            return 0;
        printf("%s %s: %ld operations in %.3f s\n", bench_key_names[k], bench_variant_names[v],
               env->o.profile_ops, (double)(bench_now_ns() - t0) / 1e9);
        return 1;
    }
    fprintf(stderr, "tk-bench: --profile %s: no such variant here\n", env->o.profile);
    return 0;
}

static double loadavg(void)
{
    FILE *f = fopen("/proc/loadavg", "r");
    double l = -1;

    if (f != NULL) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

typedef struct cell {
    int k, ti, v, threads;
} CELL;

/* Every variant x key x thread count, each round in a rotated order. */
static int run_rounds(BENCH_ENV *env, BENCH_REPORT *rep)
{
    CELL cells[BK_NKEYS * 4 * BENCH_NV];
    int n = 0;

    for (int k = 0; k < BK_NKEYS; k++)
        for (int ti = 0; ti < env->o.nthreads && env->o.keys[k]; ti++)
            for (int v = 0; v < BENCH_NV; v++) {
                int tls = v >= V_TLS_TOKEN;

                /* Handshakes: one client, one server, one thread. */
                if (env->op[k][v] != NULL && (!tls || env->o.threads[ti] == 1))
                    cells[n++] = (CELL){ k, ti, v, env->o.threads[ti] };
            }
    for (int r = 0; r < env->o.rounds; r++) {
        int first = r * n / env->o.rounds;

        fprintf(stderr, "tk-bench: round %d/%d (%d variants x %.1f s, load %.2f)\n", r + 1,
                env->o.rounds, n, env->o.seconds, loadavg());
        for (int i = 0; i < n; i++) {
            const CELL *c = &cells[(first + i) % n];

            if (!bench_measure(env->op[c->k][c->v], env->arg[c->k][c->v], c->threads,
                               env->o.seconds, &rep->res[c->k][c->ti][c->v])) {
                fprintf(stderr, "tk-bench: %s %s with %d threads failed\n",
                        bench_key_names[c->k], bench_variant_names[c->v], c->threads);
                return 0;
            }
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    static BENCH_ENV env;
    static BENCH_REPORT rep;
    int ok;

    if (argc > 1 && strcmp(argv[1], "--cold-child") == 0)
        return bench_cold_child(argc, argv);
    if (!parse(&env.o, argc, argv) || !bench_paths(&env))
        return 2;
    ok = bench_make_token(&env) && bench_open_variants(&env);
    if (ok && env.o.profile != NULL) {
        if (strncmp(env.o.profile, "tls", 3) == 0)
            ok = bench_tls_setup(&env);
        ok = ok && profile(&env);
        bench_env_free(&env);
        return ok ? 0 : 1;
    }
    if (ok && !env.o.no_tls)
        ok = bench_tls_setup(&env);
    rep.env = &env;
    rep.load1_start = loadavg();
    if (ok)
        ok = run_rounds(&env, &rep);
    if (ok && !env.o.no_cold) {
        fprintf(stderr, "tk-bench: cold start, %d fresh processes per mode\n", env.o.cold_reps);
        ok = rep.have_cold = bench_cold_run(&env, &rep.cold);
    }
    if (ok && !env.o.no_rss && env.o.keys[BK_EC]) {
        fprintf(stderr, "tk-bench: RSS over %ld signatures (tokenkey, then software)\n",
                env.o.rss_sigs);
        ok = bench_rss(&env.evp[BK_EC][V_TK_URI], env.o.rss_sigs, &rep.rss_tk)
             && bench_rss(&env.evp[BK_EC][V_SOFT], env.o.rss_sigs, &rep.rss_soft);
        rep.have_rss = ok;
    }
    rep.load1_end = loadavg();
    if (ok)
        bench_print_report(&rep);
    bench_tls_free(&env);
    bench_env_free(&env);
    if (!ok)
        fprintf(stderr, "tk-bench: the bench failed (see above); no report\n");
    return ok ? 0 : 1;
}
