/*
 * The token without tokenkey: PKCS#11 called directly through dlopen of the
 * module.
 *
 * This file deliberately bypasses tokenkey's PKCS#11 layer (provider/p11/,
 * which everything else in the project must use): these variants measure
 * what the token itself can do, so that tokenkey's overhead is the
 * difference. Going through tokenkey's layer would hide part of what we
 * want to see.
 *
 * Per operation, as tokenkey's provider does it: SHA-256 of the 130-byte
 * message in software (libcrypto), then one C_SignInit + one C_Sign on the
 * thread's own session, with CKM_ECDSA over the hash (P-256) or
 * CKM_RSA_PKCS over DigestInfo || hash (RSA-2048, PKCS#1 v1.5, RFC 8017
 * section 9.2).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bench.h"

struct bench_raw {
    void *dl;
    CK_FUNCTION_LIST *fl;
    CK_SLOT_ID slot;
    int nsessions;
    /* sess[0] also holds the session-object copies: they live as long as it. */
    CK_SESSION_HANDLE sess[BENCH_MAX_THREADS];
};

/* DigestInfo prefix for SHA-256 (RFC 8017 section 9.2, note 1). */
static const unsigned char di_sha256[] = {
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
    0x05, 0x00, 0x04, 0x20
};

static int fail(const char *call, CK_RV rv)
{
    fprintf(stderr, "tk-bench: %s: CKR 0x%lx\n", call, (unsigned long)rv);
    return 0;
}

/* Blank-padded PKCS#11 label equals label. */
static int label_is(const CK_UTF8CHAR *padded, size_t cap, const char *label)
{
    size_t n = strlen(label);

    if (n > cap || memcmp(padded, label, n) != 0)
        return 0;
    for (size_t i = n; i < cap; i++)
        if (padded[i] != ' ')
            return 0;
    return 1;
}

static int find_slot(BENCH_RAW *r, const char *label)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    CK_TOKEN_INFO ti;
    CK_RV rv = r->fl->C_GetSlotList(CK_TRUE, slots, &n);

    if (rv != CKR_OK)
        return fail("C_GetSlotList", rv);
    for (CK_ULONG i = 0; i < n; i++)
        if (r->fl->C_GetTokenInfo(slots[i], &ti) == CKR_OK
            && label_is(ti.label, sizeof(ti.label), label)) {
            r->slot = slots[i];
            return 1;
        }
    fprintf(stderr, "tk-bench: no token labelled '%s'\n", label);
    return 0;
}

static int login(BENCH_RAW *r, const char *pin_file)
{
    char *pin = bench_read_file(pin_file);
    CK_RV rv;

    if (pin == NULL) {
        fprintf(stderr, "tk-bench: cannot read the PIN file %s\n", pin_file);
        return 0;
    }
    rv = r->fl->C_Login(r->sess[0], CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
    OPENSSL_cleanse(pin, strlen(pin));
    free(pin);
    /* tokenkey or another provider in this process may have logged in first. */
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN)
        return fail("C_Login", rv);
    return 1;
}

BENCH_RAW *bench_raw_open(const char *module, const char *label, const char *pin_file,
                          int nsessions)
{
    CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
    CK_C_GetFunctionList get;
    BENCH_RAW *r = calloc(1, sizeof(*r));
    CK_RV rv;

    if (r == NULL || nsessions < 1 || nsessions > BENCH_MAX_THREADS)
        goto err;
    r->nsessions = nsessions;
    if ((r->dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "tk-bench: %s\n", dlerror());
        goto err;
    }
    *(void **)&get = dlsym(r->dl, "C_GetFunctionList");
    if (get == NULL || (rv = get(&r->fl)) != CKR_OK) {
        fprintf(stderr, "tk-bench: %s has no usable C_GetFunctionList\n", module);
        goto err;
    }
    /* One C_Initialize per process: a provider may have made it already. */
    rv = r->fl->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        fail("C_Initialize", rv);
        goto err;
    }
    if (!find_slot(r, label))
        goto err;
    for (int i = 0; i < nsessions; i++)
        if ((rv = r->fl->C_OpenSession(r->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                                       &r->sess[i])) != CKR_OK) {
            fail("C_OpenSession", rv);
            goto err;
        }
    if (!login(r, pin_file))
        goto err;
    return r;
err:
    free(r);
    return NULL;
}

void bench_raw_close(BENCH_RAW *r)
{
    /*
     * Sessions close and the module stays initialised: tokenkey shares
     * this module instance in the process, and SoftHSM2 tears itself down
     * at exit anyway.
     */
    if (r == NULL)
        return;
    for (int i = 0; i < r->nsessions; i++)
        r->fl->C_CloseSession(r->sess[i]);
    free(r);
}

CK_OBJECT_HANDLE bench_raw_find(BENCH_RAW *r, unsigned char id)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) }, { CKA_TOKEN, &yes, sizeof(yes) }, { CKA_ID, &id, 1 },
    };
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    CK_RV rv = r->fl->C_FindObjectsInit(r->sess[0], tmpl, 3);

    if (rv == CKR_OK) {
        rv = r->fl->C_FindObjects(r->sess[0], h, 2, &n);
        r->fl->C_FindObjectsFinal(r->sess[0]);
    }
    if (rv != CKR_OK || n != 1) {
        fprintf(stderr, "tk-bench: %lu private keys with id %02x (CKR 0x%lx)\n",
                (unsigned long)n, id, (unsigned long)rv);
        return CK_INVALID_HANDLE;
    }
    return h[0];
}

CK_OBJECT_HANDLE bench_raw_copy(BENCH_RAW *r, CK_OBJECT_HANDLE obj)
{
    CK_BBOOL no = CK_FALSE;
    CK_ATTRIBUTE tmpl[] = { { CKA_TOKEN, &no, sizeof(no) } };
    CK_OBJECT_HANDLE copy = CK_INVALID_HANDLE;
    CK_RV rv = r->fl->C_CopyObject(r->sess[0], obj, tmpl, 1, &copy);

    if (rv != CKR_OK) {
        fail("C_CopyObject (CKA_TOKEN=FALSE)", rv);
        return CK_INVALID_HANDLE;
    }
    return copy;
}

int bench_raw_sign(BENCH_RAW_KEY *k, int thread, unsigned char *sig, size_t *siglen)
{
    CK_MECHANISM ecdsa = { CKM_ECDSA, NULL, 0 }, rsa = { CKM_RSA_PKCS, NULL, 0 };
    unsigned char in[sizeof(di_sha256) + 32];
    size_t off = k->key == BK_RSA ? sizeof(di_sha256) : 0;
    CK_ULONG outlen = *siglen;
    CK_SESSION_HANDLE s = k->raw->sess[thread];
    CK_RV rv;

    if (!EVP_Digest(bench_msg, BENCH_MSG_LEN, in + off, NULL, k->sha256, NULL)) {
        bench_ossl_errors("SHA-256");
        return 0;
    }
    memcpy(in, di_sha256, off);
    rv = k->raw->fl->C_SignInit(s, k->key == BK_RSA ? &rsa : &ecdsa, k->obj);
    if (rv != CKR_OK)
        return fail("C_SignInit", rv);
    rv = k->raw->fl->C_Sign(s, in, (CK_ULONG)(off + 32), sig, &outlen);
    if (rv != CKR_OK)
        return fail("C_Sign", rv);
    *siglen = outlen;
    return 1;
}

int bench_raw_sign_op(void *arg, int thread)
{
    unsigned char sig[512];
    size_t len = sizeof(sig);

    return bench_raw_sign(arg, thread, sig, &len);
}
