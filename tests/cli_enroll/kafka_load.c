/*
 * What librdkafka 2.0.2 does with the files tokenkey kafka-config writes
 * (src/rdkafka_ssl.c, rd_kafka_ssl_ctx_init), and nothing else: load the
 * providers ssl.providers lists into the default library context, make
 * the SSL_CTX, load ssl.certificate.location as a chain file and
 * ssl.key.location as a PEM key file, then SSL_CTX_check_private_key.
 * The provider's settings come only from OPENSSL_CONF. Links no tokenkey
 * code. Then one signature with the key, as a handshake would make.
 *
 * usage: tk-kafka-load CERT.pem KEY.pem      exit 0 when all of it works
 *
 * TK_KAFKA_LOAD_SYSTEM_CLEANUP_FIRST=1: before exiting, run the
 * OPENSSL_cleanup of the system's libcrypto.so.3, as its own exit handler
 * does when something else initialised it after the program's OpenSSL:
 * for tk-kafka-load-static (OpenSSL linked in), whose exit then tears
 * tokenkey down after the libcrypto tokenkey runs on.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>

static int fail(const char *what)
{
    fprintf(stderr, "tk-kafka-load: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    return 1;
}

int main(int argc, char **argv)
{
    static const unsigned char msg[] = "tokenkey kafka-config";
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    OSSL_PROVIDER *def, *tk;
    EVP_MD_CTX *md = NULL;
    EVP_PKEY *key;
    SSL_CTX *ctx;
    int rc = 1;

    if (argc != 3) {
        fprintf(stderr, "usage: tk-kafka-load CERT.pem KEY.pem\n");
        return 2;
    }
    /* ssl.providers=default,tokenkey */
    if ((def = OSSL_PROVIDER_load(NULL, "default")) == NULL)
        return fail("OSSL_PROVIDER_load(default)");
    if ((tk = OSSL_PROVIDER_load(NULL, "tokenkey")) == NULL)
        return fail("OSSL_PROVIDER_load(tokenkey)");
    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
        return fail("SSL_CTX_new");
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1)
        rc = fail("SSL_CTX_use_certificate_chain_file (ssl.certificate.location)");
    else if (SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1)
        rc = fail("SSL_CTX_use_PrivateKey_file (ssl.key.location)");
    else if (SSL_CTX_check_private_key(ctx) != 1)
        rc = fail("SSL_CTX_check_private_key");
    else if ((key = SSL_CTX_get0_privatekey(ctx)) == NULL || (md = EVP_MD_CTX_new()) == NULL
             || EVP_DigestSignInit(md, NULL, EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256(),
                                   NULL, key) != 1
             || EVP_DigestSign(md, sig, &siglen, msg, sizeof(msg)) != 1)
        rc = fail("a signature with the key");
    else
        rc = 0;
    EVP_MD_CTX_free(md);
    SSL_CTX_free(ctx);
    OSSL_PROVIDER_unload(tk);
    OSSL_PROVIDER_unload(def);
    if (rc == 0)
        printf("librdkafka's key loading works: certificate, key reference, check, signature\n");
    if (getenv("TK_KAFKA_LOAD_SYSTEM_CLEANUP_FIRST") != NULL) {
        void *system = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);
        void (*cleanup)(void) = NULL;

        if (system != NULL)
            *(void **)&cleanup = dlsym(system, "OPENSSL_cleanup");
        if (cleanup == NULL) {
            fprintf(stderr, "tk-kafka-load: no libcrypto.so.3 loaded\n");
            return 1;
        }
        fflush(stdout);
        cleanup();
    }
    return rc;
}
