/*
 * The variants that go through OpenSSL: tokenkey (key by URI or by its
 * key-reference PEM), another provider given with --other-provider, and
 * the default provider with a software key. All do per operation exactly
 * what libssl 3.0 does for a TLS 1.3 CertificateVerify
 * (tls_construct_cert_verify): a new EVP_MD_CTX, EVP_DigestSignInit_ex
 * with "SHA256", EVP_DigestSign with no buffer for the size, EVP_DigestSign,
 * free. The key itself is loaded once, as a client loads it at start.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "bench.h"

const unsigned char bench_msg[BENCH_MSG_LEN] = {
    /* 64 spaces */
    ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
    ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
    ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
    ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ',
    /* "TLS 1.3, client CertificateVerify", 0 */
    'T', 'L', 'S', ' ', '1', '.', '3', ',', ' ', 'c', 'l', 'i', 'e', 'n', 't', ' ',
    'C', 'e', 'r', 't', 'i', 'f', 'i', 'c', 'a', 't', 'e', 'V', 'e', 'r', 'i', 'f',
    'y', 0,
    /* a transcript hash (any 32 bytes) */
    0x5f, 0x1c, 0x9e, 0x22, 0x47, 0x03, 0xb8, 0x61, 0xd4, 0x7a, 0x2e, 0x90, 0x11, 0xc6, 0x38, 0xef,
    0x84, 0x2b, 0x5d, 0x06, 0xa9, 0x73, 0xe1, 0x4c, 0x30, 0x9b, 0x57, 0xd2, 0x68, 0x0f, 0xbc, 0x45,
};

void bench_ossl_errors(const char *what)
{
    unsigned long e;
    const char *data;
    int flags;
    char buf[256];

    fprintf(stderr, "tk-bench: %s failed\n", what);
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "  %s%s%s\n", buf, (flags & ERR_TXT_STRING) ? ": " : "",
                (flags & ERR_TXT_STRING) ? data : "");
    }
}

int bench_evp_sign(BENCH_EVP *e, unsigned char *sig, size_t *siglen)
{
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    size_t need = 0;
    int ok = mctx != NULL
             && EVP_DigestSignInit_ex(mctx, NULL, "SHA256", e->libctx, NULL, e->pkey, NULL) == 1
             && EVP_DigestSign(mctx, NULL, &need, bench_msg, BENCH_MSG_LEN) == 1
             && need <= *siglen
             && EVP_DigestSign(mctx, sig, siglen, bench_msg, BENCH_MSG_LEN) == 1;

    EVP_MD_CTX_free(mctx);
    if (!ok)
        bench_ossl_errors("EVP_DigestSign");
    return ok;
}

int bench_evp_sign_op(void *arg, int thread)
{
    unsigned char sig[512];
    size_t len = sizeof(sig);

    return bench_evp_sign(arg, sig, &len);
}

OSSL_LIB_CTX *bench_libctx(const char *dir, const char *name)
{
    OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();

    if (lc == NULL || OSSL_PROVIDER_load(lc, "default") == NULL
        || (dir != NULL && !OSSL_PROVIDER_set_default_search_path(lc, dir))
        || (name != NULL && OSSL_PROVIDER_load(lc, name) == NULL)) {
        bench_ossl_errors(name != NULL ? name : "the default provider");
        OSSL_LIB_CTX_free(lc);
        return NULL;
    }
    return lc;
}

OSSL_LIB_CTX *bench_libctx_conf(const char *conf)
{
    OSSL_LIB_CTX *lc = bench_libctx(NULL, NULL);

    if (lc != NULL && !OSSL_LIB_CTX_load_config(lc, conf)) {
        bench_ossl_errors(conf);
        OSSL_LIB_CTX_free(lc);
        return NULL;
    }
    return lc;
}

EVP_PKEY *bench_load_uri(OSSL_LIB_CTX *lc, const char *uri)
{
    OSSL_STORE_CTX *sc = OSSL_STORE_open_ex(uri, lc, NULL, NULL, NULL, NULL, NULL, NULL);
    EVP_PKEY *pkey = NULL;

    if (sc == NULL || !OSSL_STORE_expect(sc, OSSL_STORE_INFO_PKEY))
        goto end;
    while (pkey == NULL && !OSSL_STORE_eof(sc)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(sc);

        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
        if (info == NULL && OSSL_STORE_error(sc))
            break;
    }
end:
    OSSL_STORE_close(sc);
    if (pkey == NULL)
        bench_ossl_errors(uri);
    return pkey;
}

EVP_PKEY *bench_load_pem(OSSL_LIB_CTX *lc, const char *path)
{
    BIO *in = BIO_new_file(path, "r");
    EVP_PKEY *pkey = in != NULL ? PEM_read_bio_PrivateKey_ex(in, NULL, NULL, NULL, lc, NULL) : NULL;

    BIO_free(in);
    if (pkey == NULL)
        bench_ossl_errors(path);
    return pkey;
}

int bench_write_pem(EVP_PKEY *pkey, const char *path)
{
    BIO *out = BIO_new_file(path, "w");
    int ok = out != NULL && PEM_write_bio_PrivateKey(out, pkey, NULL, NULL, 0, NULL, NULL) == 1;

    ok = BIO_free(out) && ok;
    return ok;
}

EVP_PKEY *bench_public_copy(EVP_PKEY *pkey)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_PUBKEY(pkey, &der);
    EVP_PKEY *pub = NULL;

    p = der;
    if (len > 0)
        pub = d2i_PUBKEY(NULL, &p, len);
    OPENSSL_free(der);
    if (pub == NULL)
        bench_ossl_errors("copying the public key");
    return pub;
}

/* r || s (each half of rslen) as a DER ECDSA-Sig-Value into der; its length or 0. */
static int ec_raw_to_der(const unsigned char *rs, size_t rslen, unsigned char *der, size_t cap)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(rs, (int)rslen / 2, NULL), *ss = BN_bin2bn(rs + rslen / 2, (int)rslen / 2, NULL);
    unsigned char *p = der;
    int len = 0;

    if (s != NULL && r != NULL && ss != NULL && ECDSA_SIG_set0(s, r, ss)) {
        r = ss = NULL;
        len = i2d_ECDSA_SIG(s, NULL);
        if (len <= 0 || (size_t)len > cap || i2d_ECDSA_SIG(s, &p) != len)
            len = 0;
    }
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(s);
    return len;
}

int bench_verify(EVP_PKEY *pub, const unsigned char *sig, size_t siglen, int raw_ec)
{
    unsigned char der[256];
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    int ok;

    if (raw_ec) {
        int len = ec_raw_to_der(sig, siglen, der, sizeof(der));

        sig = der;
        siglen = (size_t)len;
    }
    ok = mctx != NULL && siglen > 0 && EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pub) == 1
         && EVP_DigestVerify(mctx, sig, siglen, bench_msg, BENCH_MSG_LEN) == 1;
    EVP_MD_CTX_free(mctx);
    if (!ok)
        bench_ossl_errors("verifying a signature");
    return ok;
}

/* Resident set in KiB, from /proc/self/statm (second field, in pages). */
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long size = 0, resident = -1;

    if (f != NULL) {
        if (fscanf(f, "%ld %ld", &size, &resident) != 2)
            resident = -1;
        fclose(f);
    }
    return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int bench_rss(BENCH_EVP *e, long n, BENCH_RSS *out)
{
    /* Warm-up: the allocator's arenas and OpenSSL's caches reach their working size. */
    long warm = n / 20 < 2000 ? 2000 : n / 20;

    out->sigs = n;
    for (long i = 0; i < warm; i++)
        if (!bench_evp_sign_op(e, 0))
            return 0;
    out->kib_start = rss_kib();
    for (long i = 0; i < n; i++) {
        if (i == n / 2)
            out->kib_half = rss_kib();
        if (!bench_evp_sign_op(e, 0))
            return 0;
    }
    out->kib_end = rss_kib();
    return out->kib_start >= 0 && out->kib_end >= 0;
}
