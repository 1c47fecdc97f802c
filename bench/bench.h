/*
 * tk-bench: how fast tokenkey signs compared with the token's own limit
 * (issue 9). Shared declarations of the bench's files:
 *
 *   bench_main.c    options, the order of the work, the interleaved rounds
 *   bench_setup.c   the SoftHSM2 token, keys made by pkcs11-tool, key files,
 *                   the library contexts of each provider
 *   bench_run.c     running one variant on N threads for a while
 *   bench_stats.c   latency histograms, medians, the verdict on a goal
 *   bench_raw.c     PKCS#11 called directly (the token without tokenkey)
 *   bench_ossl.c    the EVP variants (tokenkey, another provider, software)
 *                   and the RSS check
 *   bench_tls.c     TLS 1.3 mutual-auth handshakes over BIO pairs
 *   bench_cold.c    cold start, in fresh processes
 *   bench_report.c  the tables and the goals
 *
 * This is a report, not a test: it prints ratios measured in one run and
 * exits 0 unless the bench itself failed.
 */
#ifndef TK_BENCH_H
#define TK_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#define BENCH_MAX_THREADS 8
#define BENCH_MAX_ROUNDS 50
#define BENCH_MAX_PARAMS 16
/*
 * What libssl signs for a TLS 1.3 CertificateVerify (RFC 8446 section
 * 4.4.3): 64 spaces, the context string, a zero byte and the 32-byte
 * transcript hash = 130 bytes.
 */
#define BENCH_MSG_LEN 130
extern const unsigned char bench_msg[BENCH_MSG_LEN];

enum { BK_RSA, BK_EC, BK_NKEYS };
extern const char *const bench_key_names[BK_NKEYS];   /* "RSA-2048", "EC P-256" */
extern const char *const bench_key_short[BK_NKEYS];   /* "rsa", "ec" */
extern const unsigned char bench_key_id[BK_NKEYS];    /* CKA_ID of the token keys */

/* The variants a row of the table compares. */
enum {
    V_RAW_TOKEN,   /* raw C_Sign on the token object */
    V_RAW_COPY,    /* raw C_Sign on a session-object copy: the limit */
    V_TK_URI,      /* tokenkey, key loaded through a pkcs11: URI */
    V_TK_PEM,      /* tokenkey, key loaded from its key-reference PEM */
    V_OTHER_URI,   /* --other-provider, URI */
    V_OTHER_PEM,   /* --other-provider, its own key file */
    V_SOFT,        /* the default provider, software key */
    V_TLS_TOKEN,   /* TLS 1.3 mTLS handshakes, client key on the token */
    V_TLS_SOFT,    /* the same with a software client key */
    V_TLS_SOFT_TK, /* software client key, but in tokenkey's library context */
    BENCH_NV
};
extern const char *const bench_variant_names[BENCH_NV];

/* ---- options ---- */

typedef struct bench_opts {
    int rounds;
    double seconds;              /* per variant per round */
    int keys[BK_NKEYS];          /* which key types are measured */
    int threads[4];              /* thread counts measured (1 and 2) */
    int nthreads;
    long rss_sigs;
    int cold_reps;
    const char *build_dir, *source_dir, *mktoken, *init_token, *provider_dir, *pkcs11_tool;
    const char *other_path, *other_name;
    const char *other_params[BENCH_MAX_PARAMS];
    int n_other_params;
    int keep;
    int no_tls, no_cold, no_rss;
    /* --profile VARIANT: run one variant for profile_ops signatures, nothing else */
    const char *profile;
    long profile_ops;
    int profile_key;
} BENCH_OPTS;

/* ---- statistics (bench_stats.c) ---- */

/* Latency histogram: buckets 0.5% wide, from 1 ns to about 20 s. */
#define BENCH_HIST_BUCKETS 4800
typedef struct bench_hist {
    uint64_t n;
    uint32_t b[BENCH_HIST_BUCKETS];
} BENCH_HIST;

void bench_hist_add(BENCH_HIST *h, uint64_t ns);
void bench_hist_merge(BENCH_HIST *dst, const BENCH_HIST *src);
/* The q-quantile (0..1) in microseconds; 0 when empty. */
double bench_hist_quantile(const BENCH_HIST *h, double q);

double bench_median(const double *v, int n);

/* A goal of issue 9 on a ratio. */
typedef struct bench_goal {
    double goal;
    int at_least;      /* met at or above goal, else at or below it */
    double bound;      /* the best the ratio can truly be (NAN: no such bound) */
} BENCH_GOAL;

enum { BENCH_MISS, BENCH_PASS, BENCH_UNSURE };

/*
 * The verdict on `measured` (the ratio as the issue defines it), given
 * `cross` (NAN: none), the same ratio taken another way that load from
 * elsewhere moves differently. UNSURE, with *why, when the two disagree,
 * or when either lies beyond g->bound by more than the goal's own margin
 * |goal - bound|: noise that large could as well have made the verdict.
 */
int bench_judge(const BENCH_GOAL *g, double measured, double cross, const char **why);

/* ---- running a variant (bench_run.c) ---- */

uint64_t bench_now_ns(void);

/*
 * One operation of a variant on thread number `thread` (0-based; each
 * thread has its own PKCS#11 session where the variant needs one).
 * Returns 1, or 0 after printing why.
 */
typedef int bench_op_fn(void *arg, int thread);

typedef struct bench_result {
    double rate[BENCH_MAX_ROUNDS];  /* operations per second, one per round */
    int nrounds;
    BENCH_HIST *hist;               /* latencies of every round */
    int failed;
} BENCH_RESULT;

/*
 * Run op on `threads` threads for `seconds` (after a short untimed warm-up
 * on each thread), add the round's rate to res->rate and the latencies to
 * res->hist. Returns 1, or 0 when an operation failed.
 */
int bench_measure(bench_op_fn *op, void *arg, int threads, double seconds, BENCH_RESULT *res);

/* ---- PKCS#11 directly (bench_raw.c) ---- */

typedef struct bench_raw BENCH_RAW;

/*
 * dlopen the module, C_Initialize, find the token labelled label, open
 * nsessions sessions, log in with the PIN read from pin_file. NULL after
 * printing why.
 */
BENCH_RAW *bench_raw_open(const char *module, const char *label, const char *pin_file,
                          int nsessions);
void bench_raw_close(BENCH_RAW *r);
/* The private key with CKA_ID id (one byte); CK_INVALID_HANDLE after printing why. */
CK_OBJECT_HANDLE bench_raw_find(BENCH_RAW *r, unsigned char id);
/* A session-object copy (CKA_TOKEN=FALSE) of obj; CK_INVALID_HANDLE after printing why. */
CK_OBJECT_HANDLE bench_raw_copy(BENCH_RAW *r, CK_OBJECT_HANDLE obj);

typedef struct bench_raw_key {
    BENCH_RAW *raw;
    CK_OBJECT_HANDLE obj;
    int key;                     /* BK_RSA or BK_EC */
    const EVP_MD *sha256;
} BENCH_RAW_KEY;

/* Hash bench_msg in software and C_SignInit + C_Sign it on the thread's session. */
bench_op_fn bench_raw_sign_op;
/* The same once, keeping the signature (RSA: PKCS#1 v1.5; EC: r || s). */
int bench_raw_sign(BENCH_RAW_KEY *k, int thread, unsigned char *sig, size_t *siglen);

/* ---- the EVP variants (bench_ossl.c) ---- */

typedef struct bench_evp {
    EVP_PKEY *pkey;
    OSSL_LIB_CTX *libctx;
} BENCH_EVP;

/*
 * As libssl 3.0 makes a TLS 1.3 CertificateVerify: EVP_MD_CTX_new,
 * EVP_DigestSignInit_ex(SHA256), EVP_DigestSign for the size, EVP_DigestSign,
 * EVP_MD_CTX_free.
 */
bench_op_fn bench_evp_sign_op;
int bench_evp_sign(BENCH_EVP *e, unsigned char *sig, size_t *siglen);

/* A library context with the default provider, plus the provider `name` found in dir (if any). */
OSSL_LIB_CTX *bench_libctx(const char *dir, const char *name);
/* A library context with the default provider and what the config file conf activates. */
OSSL_LIB_CTX *bench_libctx_conf(const char *conf);
/* The one private key at uri / in the PEM file at path; NULL after printing why. */
EVP_PKEY *bench_load_uri(OSSL_LIB_CTX *lc, const char *uri);
EVP_PKEY *bench_load_pem(OSSL_LIB_CTX *lc, const char *path);
/* PEM_write_bio_PrivateKey: for a token key, its provider's key reference. 1 or 0. */
int bench_write_pem(EVP_PKEY *pkey, const char *path);
/* A software copy of pkey's public half (for verifying and certificates). */
EVP_PKEY *bench_public_copy(EVP_PKEY *pkey);
/*
 * Verify a signature over bench_msg with SHA-256. raw_ec: sig is r || s
 * (the token's CKM_ECDSA output) rather than DER.
 */
int bench_verify(EVP_PKEY *pub, const unsigned char *sig, size_t siglen, int raw_ec);

/* Print the last OpenSSL errors, with what failed. */
void bench_ossl_errors(const char *what);

/* ---- the environment built by bench_setup.c ---- */

typedef struct bench_env {
    BENCH_OPTS o;
    char *exe;                              /* /proc/self/exe, for cold-start children */
    char *dir, *module, *label, *pin_file;  /* the token made for this run */
    char *uri[BK_NKEYS];                    /* pkcs11:token=...;id=...;type=private */
    char *tk_pem_path[BK_NKEYS], *other_pem_path[BK_NKEYS], *other_conf;
    OSSL_LIB_CTX *tk_lc, *sw_lc, *other_lc;
    EVP_PKEY *pub[BK_NKEYS];                /* software public halves of the token keys */
    BENCH_RAW *raw;
    CK_OBJECT_HANDLE token_obj[BK_NKEYS], copy_obj[BK_NKEYS];
    EVP_MD *sha256;
    /* The operations of every variant, per key; NULL op: not measured. */
    bench_op_fn *op[BK_NKEYS][BENCH_NV];
    void *arg[BK_NKEYS][BENCH_NV];
    BENCH_RAW_KEY raw_key[BK_NKEYS][2];     /* [0] token object, [1] session copy */
    BENCH_EVP evp[BK_NKEYS][BENCH_NV];
    void *tls[BK_NKEYS][3];                 /* BENCH_TLS for V_TLS_TOKEN, _SOFT, _SOFT_TK */
} BENCH_ENV;

/* Resolve paths: options first, then relative to the build dir of this binary. */
int bench_paths(BENCH_ENV *env);
/* The token, its keys (pkcs11-tool) and the environment the providers read. */
int bench_make_token(BENCH_ENV *env);
/* Library contexts, keys loaded by URI and PEM, software keys; one checked signature each. */
int bench_open_variants(BENCH_ENV *env);
void bench_env_free(BENCH_ENV *env);
/* Run a program, wait, return its exit status (or -1); its stdout to out (cap bytes) if out. */
int bench_spawn(const char *const argv[], const char *env_name, const char *env_value,
                char *out, size_t cap);
/* A file's content as a NUL-terminated string without trailing newlines (free() it). */
char *bench_read_file(const char *path);

/* ---- TLS (bench_tls.c) ---- */

/* Certificates, contexts: a token-key client and a software-key client for each key type. */
int bench_tls_setup(BENCH_ENV *env);
void bench_tls_free(BENCH_ENV *env);
/* One full handshake (client certificate required and verified). */
bench_op_fn bench_tls_handshake_op;

/* ---- cold start (bench_cold.c) ---- */

enum { COLD_RAW, COLD_TK_URI, COLD_TK_PEM, COLD_OTHER_URI, COLD_OTHER_PEM, COLD_N };
extern const char *const bench_cold_names[COLD_N];

typedef struct bench_cold {
    double us[BK_NKEYS][COLD_N];   /* median microseconds; 0: not measured */
    double ratio[BK_NKEYS][COLD_N]; /* median of each repetition's mode / raw */
    int reps;
} BENCH_COLD;

int bench_cold_run(BENCH_ENV *env, BENCH_COLD *out);
/* The child side: tk-bench --cold-child MODE KEY ... ; returns the exit status. */
int bench_cold_child(int argc, char **argv);

/* ---- RSS (bench_ossl.c) ---- */

typedef struct bench_rss {
    long sigs;
    long kib_start, kib_half, kib_end;   /* resident KiB after warm-up, at N/2, at N */
} BENCH_RSS;

/* Sign n times with e, reading RSS after a warm-up, at n/2 and at n. */
int bench_rss(BENCH_EVP *e, long n, BENCH_RSS *out);

/* ---- the report (bench_report.c) ---- */

typedef struct bench_report {
    const BENCH_ENV *env;
    BENCH_RESULT res[BK_NKEYS][4][BENCH_NV];   /* [key][thread index][variant] */
    int have_cold, have_rss;
    BENCH_COLD cold;
    BENCH_RSS rss_tk, rss_soft;
    double load1_start, load1_end;
} BENCH_REPORT;

void bench_print_report(const BENCH_REPORT *r);

#endif
