/*
 * A client's first keys, loaded by several threads at once in a process
 * that never used the token: several rd_kafka_t made in parallel, each
 * reading its ssl.key.location. The provider context's module list, the
 * module's first C_Initialize, the first login, the store and the
 * key-reference decoder all race here; CI also runs this under
 * ThreadSanitizer (suite stress). Every thread gets the token key, by its
 * URI or through a key reference file, and signs; the token sees one
 * C_Initialize and one C_Login.
 *
 * TK_STRESS_THREADS threads (8).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "rel_env.h"
#include "runner.h"
#include "store_util.h"

#define MAX_THREADS 64

static REL_ENV env;

typedef struct {
    OSSL_LIB_CTX *libctx;
    const char *uri;      /* load by URI, */
    const char *keyref;   /* else from this key reference's text */
    pthread_barrier_t *go;
    int ok;
    char error[1024];
} LOADER;

static void *load_and_sign(void *arg)
{
    static const unsigned char msg[] = "a first handshake's CertificateVerify";
    LOADER *l = arg;
    unsigned char sig[512];
    size_t siglen = sizeof(sig);
    EVP_PKEY *key = NULL;

    pthread_barrier_wait(l->go);
    if (l->uri != NULL) {
        key = tk_test_load_private(l->libctx, l->uri);
    } else {
        BIO *in = BIO_new_mem_buf(l->keyref, -1);

        key = in != NULL ? PEM_read_bio_PrivateKey_ex(in, NULL, NULL, NULL, l->libctx, NULL)
                         : NULL;
        BIO_free(in);
    }
    l->ok = key != NULL && rel_sign(l->libctx, key, msg, sizeof(msg), sig, &siglen)
            && rel_verify(env.ec_pub, msg, sizeof(msg), sig, siglen);
    if (!l->ok) {
        char *errors = st_errors();

        snprintf(l->error, sizeof(l->error), "%s: %s", l->uri != NULL ? "by URI" : "by key file",
                 errors);
        free(errors);
    }
    EVP_PKEY_free(key);
    OPENSSL_thread_stop();
    return NULL;
}

static void test_first_loads_at_once(void **state)
{
    long n = rel_env_long("TK_STRESS_THREADS", 8);
    char *keyref = st_keyref_pem("TOKENKEY KEY REFERENCE", "tokenkey key reference v1",
                                 env.ec_uri, 0);
    unsigned long inits = env.calls("C_Initialize"), logins = env.calls("C_Login");
    OSSL_PROVIDER *prov[2] = { NULL, NULL };
    OSSL_LIB_CTX *libctx = rel_libctx_new(prov);
    LOADER l[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    pthread_barrier_t go;

    assert_non_null(libctx);
    /* The setup made the keys in a child: nothing of this process has touched the module. */
    assert_int_equal(inits, 0);
    if (n < 2)
        n = 2;
    if (n > MAX_THREADS)
        n = MAX_THREADS;
    assert_int_equal(pthread_barrier_init(&go, NULL, (unsigned)n), 0);
    for (long i = 0; i < n; i++) {
        l[i] = (LOADER){ libctx, i % 2 == 0 ? env.ec_uri : NULL, keyref, &go, 0, "" };
        assert_int_equal(pthread_create(&th[i], NULL, load_and_sign, &l[i]), 0);
    }
    for (long i = 0; i < n; i++)
        assert_int_equal(pthread_join(th[i], NULL), 0);
    pthread_barrier_destroy(&go);
    for (long i = 0; i < n; i++)
        if (!l[i].ok)
            fail_msg("thread %ld of %ld failed, %s", i, n, l[i].error);
    assert_int_equal(env.calls("C_Initialize") - inits, 1);
    assert_int_equal(env.calls("C_Login") - logins, 1);
    rel_libctx_free(libctx, prov);
    free(keyref);
}

static int setup(void)
{
    return rel_env_setup(&env, "first-loads");
}

static void teardown(void)
{
    rel_env_teardown(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_loads_at_once),
    };

    return tk_test_run("stress-first-loads", tests, TK_TEST_COUNT(tests), setup, teardown);
}
