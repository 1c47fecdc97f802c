/*
 * Two threads that find the key's session copy gone at once (the token
 * answers CKR_OBJECT_HANDLE_INVALID, as when another library destroyed it).
 * Thread B meets it first, forgets the copy, makes a new one and signs;
 * only then does thread A, held in tk-faultmod until B is done, meet it on
 * the old copy. A must not forget B's new copy too: before, it did, made a
 * second copy, and left B's in the anchor session, unused, until the
 * token's next generation. Now A signs with B's copy: one C_CopyObject.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <openssl/err.h>

#include "rel_env.h"
#include "runner.h"

static REL_ENV env;
static tk_fault_wait_held_fn *fault_wait_held;
static tk_fault_release_fn *fault_release;
static const unsigned char msg[] = "one CertificateVerify, signed twice at once";

typedef struct {
    OSSL_LIB_CTX *libctx;
    EVP_PKEY *key;
    unsigned char sig[512];
    size_t siglen;
    int ok;
} SIGNER;

static void *sign_once(void *arg)
{
    SIGNER *s = arg;

    s->ok = rel_sign(s->libctx, s->key, msg, sizeof(msg), s->sig, &s->siglen);
    if (!s->ok)
        ERR_print_errors_fp(stderr);
    return NULL;
}

/*
 * The race: A's C_SignInit is held, then fails with err; B's fails with
 * err at once, and B signs again; only then is A let go. Both sign, and
 * only B makes a new session copy: A signs with it.
 */
static void race_two_signers(const SIGNER *warm, const char *err)
{
    SIGNER a = *warm, b = *warm;
    pthread_t th_a, th_b;
    unsigned long copies = env.calls("C_CopyObject"), injected = env.injected("C_SignInit");
    unsigned long copies_by_b;
    char rules[256];

    /* The 1st C_SignInit (A's) is held, then fails; the 2nd (B's) fails at once. */
    snprintf(rules, sizeof(rules), "C_SignInit=hold@1 C_SignInit=%s@1 C_SignInit=%s@1", err, err);
    assert_int_equal(env.set(rules), 0);
    assert_int_equal(pthread_create(&th_a, NULL, sign_once, &a), 0);
    fault_wait_held("C_SignInit", 1);
    assert_int_equal(pthread_create(&th_b, NULL, sign_once, &b), 0);
    assert_int_equal(pthread_join(th_b, NULL), 0);
    copies_by_b = env.calls("C_CopyObject") - copies;
    /* A let go before any assertion: a failed one must not leave it held. */
    fault_release("C_SignInit");
    assert_int_equal(pthread_join(th_a, NULL), 0);
    assert_int_equal(env.set(""), 0);

    assert_true(b.ok);
    assert_int_equal(copies_by_b, 1); /* B's new copy */
    assert_true(a.ok);
    assert_int_equal(env.injected("C_SignInit") - injected, 2);
    assert_true(rel_verify(env.ec_pub, msg, sizeof(msg), a.sig, a.siglen));
    assert_true(rel_verify(env.ec_pub, msg, sizeof(msg), b.sig, b.siglen));
    /* A signed with B's copy: no second one. */
    assert_int_equal(env.calls("C_CopyObject") - copies, 1);
}

static void test_copy_gone_for_two_threads(void **state)
{
    OSSL_LIB_CTX *libctx = NULL;
    OSSL_PROVIDER *prov[2] = { NULL, NULL };
    EVP_PKEY *rsa = NULL, *ec = NULL;
    SIGNER warm;

    (void)state;
    assert_int_equal(rel_open_keys(&env, &libctx, prov, &rsa, &ec), 0);
    warm = (SIGNER){ libctx, ec, { 0 }, 0, 0 };
    sign_once(&warm); /* the session copy is made */
    assert_true(warm.ok);
    race_two_signers(&warm, "CKR_OBJECT_HANDLE_INVALID");
    rel_close_keys(libctx, prov, rsa, ec);
}

/*
 * The same race when the key signs with its token object (the token once
 * refused the copy): both threads find the token object gone. B forgets
 * it, finds it again, and this time makes a copy; A, held until then,
 * must not forget B's copy along with the token object it found gone.
 * Before, it did: a second C_CopyObject, and B's copy left in the anchor
 * session, unused, until the token's next generation.
 */
static void test_token_object_gone_for_two_threads(void **state)
{
    OSSL_LIB_CTX *libctx = NULL;
    OSSL_PROVIDER *prov[2] = { NULL, NULL };
    EVP_PKEY *rsa = NULL, *ec = NULL;
    SIGNER warm;
    unsigned long copies;

    (void)state;
    assert_int_equal(rel_open_keys(&env, &libctx, prov, &rsa, &ec), 0);
    /* The first copy is refused: the key signs with the token object. */
    copies = env.calls("C_CopyObject");
    assert_int_equal(env.set("C_CopyObject=CKR_FUNCTION_FAILED@1"), 0);
    warm = (SIGNER){ libctx, ec, { 0 }, 0, 0 };
    sign_once(&warm);
    assert_true(warm.ok);
    assert_int_equal(env.calls("C_CopyObject") - copies, 1);
    race_two_signers(&warm, "CKR_KEY_HANDLE_INVALID");
    rel_close_keys(libctx, prov, rsa, ec);
}

static int setup(void)
{
    if (rel_env_setup(&env, "copy-race") != 0)
        return -1;
    *(void **)&fault_wait_held = dlsym(env.dl, "tk_fault_wait_held");
    *(void **)&fault_release = dlsym(env.dl, "tk_fault_release");
    return fault_wait_held != NULL && fault_release != NULL ? 0 : -1;
}

static void teardown(void)
{
    rel_env_teardown(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_gone_for_two_threads),
        cmocka_unit_test(test_token_object_gone_for_two_threads),
    };

    return tk_test_run("fault-copy-gone", tests, TK_TEST_COUNT(tests), setup, teardown);
}
