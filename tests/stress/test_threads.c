/*
 * Threads against one token, the way a Kafka client's broker threads use
 * it: 8 threads x 10,000 signatures with an RSA-2048 token key and with
 * an EC P-256 token key (a fresh EVP_DigestSignInit for each, 130 bytes
 * in, as libssl signs a handshake), and 8 threads doing TLS 1.3 mTLS
 * handshakes whose client key is on the token. No errors; every EC
 * signature and every 100th RSA one verified with the default provider;
 * exactly one C_Sign per signature, counted both by the PKCS#11 layer
 * (tk_p11_stat) and by the module (tk-faultmod). And the provider does
 * not serialise its callers: with a small delay in every C_Sign, the
 * module sees two or more C_Sign in flight at once (no timing asserted).
 *
 * Sizes come from the environment, so sanitizer and valgrind runs can use
 * fewer: TK_STRESS_THREADS (8), TK_STRESS_SIGNATURES (10000 per thread),
 * TK_STRESS_HANDSHAKES (100 per thread; 5 when TK_UNDER_VALGRIND is set).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>

#include "p11/p11.h"
#include "rel_env.h"
#include "runner.h"

#define MAX_THREADS 64

static REL_ENV env;
static OSSL_LIB_CTX *libctx;
static OSSL_PROVIDER *prov[2];
static EVP_PKEY *rsa, *ec;
static long n_threads, n_signatures, n_handshakes;

typedef struct {
    int id;
    EVP_PKEY *key, *pub;
    long count, verify_every;
    SSL_CTX *cctx, *sctx;
    pthread_barrier_t *go;
    long errors, bad, verified;
    char first_error[1024];
} WORK;

/* The message of signature i of thread id: 130 bytes, different for each. */
static void message(int id, long i, unsigned char msg[130])
{
    for (int k = 0; k < 130; k++)
        msg[k] = (unsigned char)(id * 131 + i * 7 + k);
    memcpy(msg, &i, sizeof(i));
    msg[sizeof(i)] = (unsigned char)id;
}

static void note_error(WORK *w)
{
    if (w->errors++ == 0)
        rel_errors(w->first_error, sizeof(w->first_error));
    ERR_clear_error();
}

static void *sign_loop(void *arg)
{
    WORK *w = arg;
    unsigned char msg[130], sig[512];

    pthread_barrier_wait(w->go);
    for (long i = 0; i < w->count; i++) {
        size_t siglen = 0;

        message(w->id, i, msg);
        if (!rel_sign(libctx, w->key, msg, sizeof(msg), sig, &siglen)) {
            note_error(w);
            continue;
        }
        if (w->verify_every > 0 && i % w->verify_every == 0) {
            if (rel_verify(w->pub, msg, sizeof(msg), sig, siglen))
                w->verified++;
            else
                w->bad++;
        }
    }
    /* OpenSSL's per-thread state, as a thread of a long-lived client ends. */
    OPENSSL_thread_stop();
    return NULL;
}

static void *handshake_loop(void *arg)
{
    WORK *w = arg;

    pthread_barrier_wait(w->go);
    for (long i = 0; i < w->count; i++)
        if (!rel_handshake(w->cctx, w->sctx))
            note_error(w);
    OPENSSL_thread_stop();
    return NULL;
}

/* Run n threads of fn over w[], all starting together; returns the totals in *sum. */
static void run_threads(WORK *w, long n, void *(*fn)(void *), WORK *sum)
{
    pthread_t th[MAX_THREADS];
    pthread_barrier_t go;

    assert_int_equal(pthread_barrier_init(&go, NULL, (unsigned)n), 0);
    for (long i = 0; i < n; i++) {
        w[i].id = (int)i;
        w[i].go = &go;
        assert_int_equal(pthread_create(&th[i], NULL, fn, &w[i]), 0);
    }
    memset(sum, 0, sizeof(*sum));
    for (long i = 0; i < n; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        sum->errors += w[i].errors;
        sum->bad += w[i].bad;
        sum->verified += w[i].verified;
        if (w[i].errors > 0 && sum->first_error[0] == '\0')
            memcpy(sum->first_error, w[i].first_error, sizeof(sum->first_error));
    }
    pthread_barrier_destroy(&go);
}

static void many_signatures(EVP_PKEY *key, EVP_PKEY *pub, long verify_every)
{
    WORK w[MAX_THREADS], sum;
    unsigned long layer = tk_p11_stat(TK_FN_C_Sign), module = env.calls("C_Sign");
    long total = n_threads * n_signatures;

    memset(w, 0, sizeof(w));
    for (long i = 0; i < n_threads; i++) {
        w[i].key = key;
        w[i].pub = pub;
        w[i].count = n_signatures;
        w[i].verify_every = verify_every;
    }
    run_threads(w, n_threads, sign_loop, &sum);
    if (sum.errors > 0)
        fail_msg("%ld of %ld signatures failed; the first: %s", sum.errors, total, sum.first_error);
    assert_int_equal(sum.bad, 0);
    assert_int_equal(sum.verified, n_threads * ((n_signatures + verify_every - 1) / verify_every));
    /* One signature, one C_Sign: no retries, no second attempts. */
    assert_int_equal(tk_p11_stat(TK_FN_C_Sign) - layer, total);
    assert_int_equal(env.calls("C_Sign") - module, total);
    print_message("%ld threads x %ld signatures, %ld verified\n", n_threads, n_signatures,
                  sum.verified);
}

static void test_rsa_signatures(void **state)
{
    many_signatures(rsa, env.rsa_pub, 100);
}

static void test_ec_signatures(void **state)
{
    many_signatures(ec, env.ec_pub, 1);
}

static void test_handshakes(void **state)
{
    WORK w[MAX_THREADS], sum;
    SSL_CTX *cctx = rel_tls_client(&env, libctx, ec, env.ec_cert);
    SSL_CTX *sctx = rel_tls_server(&env, libctx);
    unsigned long layer = tk_p11_stat(TK_FN_C_Sign);
    long total = n_threads * n_handshakes;

    assert_non_null(cctx);
    assert_non_null(sctx);
    memset(w, 0, sizeof(w));
    /* One client context for all threads, as a client shares its SSL_CTX. */
    for (long i = 0; i < n_threads; i++) {
        w[i].cctx = cctx;
        w[i].sctx = sctx;
        w[i].count = n_handshakes;
    }
    run_threads(w, n_threads, handshake_loop, &sum);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    if (sum.errors > 0)
        fail_msg("%ld of %ld handshakes failed; the first: %s", sum.errors, total, sum.first_error);
    /* Each full handshake: one CertificateVerify signed on the token. */
    assert_int_equal(tk_p11_stat(TK_FN_C_Sign) - layer, total);
    print_message("%ld threads x %ld handshakes\n", n_threads, n_handshakes);
}

/*
 * Not serialised: every C_Sign takes 20 ms longer in the module, and 8
 * threads sign at once; a provider that held one lock across the call
 * would never have two in flight.
 */
static void test_not_serialised(void **state)
{
    WORK w[MAX_THREADS], sum;

    assert_int_equal(env.set("C_Sign=delay:20"), 0);
    env.reset_counts();
    memset(w, 0, sizeof(w));
    for (long i = 0; i < 8; i++) {
        w[i].key = ec;
        w[i].pub = env.ec_pub;
        w[i].count = 4;
        w[i].verify_every = 1;
    }
    run_threads(w, 8, sign_loop, &sum);
    assert_int_equal(env.set(""), 0);
    if (sum.errors > 0)
        fail_msg("%ld signatures failed; the first: %s", sum.errors, sum.first_error);
    assert_int_equal(sum.verified, 32);
    assert_int_equal(env.calls("C_Sign"), 32);
    print_message("most C_Sign in flight at once: %lu\n", env.max_inflight("C_Sign"));
    assert_true(env.max_inflight("C_Sign") >= 2);
}

static int setup(void)
{
    n_threads = rel_env_long("TK_STRESS_THREADS", 8);
    n_signatures = rel_env_long("TK_STRESS_SIGNATURES", 10000);
    /* Under valgrind (its test setup sets TK_UNDER_VALGRIND) a handshake costs about a second. */
    n_handshakes = rel_env_long("TK_STRESS_HANDSHAKES",
                                getenv("TK_UNDER_VALGRIND") != NULL ? 5 : 100);
    if (n_threads > MAX_THREADS)
        n_threads = MAX_THREADS;
    if (rel_env_setup(&env, "stress-threads") != 0)
        return -1;
    return rel_open_keys(&env, &libctx, prov, &rsa, &ec);
}

static void teardown(void)
{
    rel_close_keys(libctx, prov, rsa, ec);
    rel_env_teardown(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_serialised),
        cmocka_unit_test(test_ec_signatures),
        cmocka_unit_test(test_rsa_signatures),
        cmocka_unit_test(test_handshakes),
    };

    return tk_test_run("stress-threads", tests, TK_TEST_COUNT(tests), setup, teardown);
}
