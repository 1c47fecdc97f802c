/*
 * TLS 1.3 handshakes with client authentication, client and server in this
 * process over a BIO pair: what a Kafka client's connection costs with its
 * key on the token versus the same key type in software. The server
 * requires and verifies the client certificate (both sides verify the
 * other against one test CA); session tickets are off, so every handshake
 * is a full one with one CertificateVerify signature by the client.
 *
 * The only difference between the two clients is where their key lives:
 * same library context setup, same certificates' shape, same server.
 */
#include <stdio.h>
#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "bench.h"

typedef struct bench_tls {
    SSL_CTX *client, *server;
    EVP_PKEY *own_key;        /* the client's key when made here, else NULL */
} BENCH_TLS;

static EVP_PKEY *ca_key;
static X509 *ca_cert;
static SSL_CTX *server_ctx;

/* A certificate for pub signed by the CA (self-signed when ca is NULL). */
static X509 *make_cert(EVP_PKEY *pub, const char *cn, EVP_PKEY *sign_key, X509 *ca)
{
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX v3;
    X509_EXTENSION *ext = NULL;
    static long serial = 1;
    int ok = x != NULL && name != NULL && X509_set_version(x, 2)
             && ASN1_INTEGER_set(X509_get_serialNumber(x), serial++)
             && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                                           -1, -1, 0)
             && X509_set_subject_name(x, name)
             && X509_set_issuer_name(x, ca != NULL ? X509_get_subject_name(ca) : name)
             && X509_gmtime_adj(X509_getm_notBefore(x), -3600) != NULL
             && X509_gmtime_adj(X509_getm_notAfter(x), 86400) != NULL
             && X509_set_pubkey(x, pub);

    if (ok) {
        X509V3_set_ctx(&v3, ca != NULL ? ca : x, x, NULL, NULL, 0);
        ext = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                  ca == NULL ? "critical,CA:TRUE" : "CA:FALSE");
        ok = ext != NULL && X509_add_ext(x, ext, -1) && X509_sign(x, sign_key, EVP_sha256()) > 0;
    }
    X509_EXTENSION_free(ext);
    X509_NAME_free(name);
    if (!ok) {
        bench_ossl_errors("making a certificate");
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Settings both sides share: TLS 1.3 only, no resumption, the CA trusted. */
static SSL_CTX *new_ctx(OSSL_LIB_CTX *lc, int server)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(lc, NULL, server ? TLS_server_method() : TLS_client_method());

    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION)
        || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION)
        || !X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca_cert)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_verify(ctx, server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
                                   : SSL_VERIFY_PEER, NULL);
    if (server)
        SSL_CTX_set_num_tickets(ctx, 0);
    return ctx;
}

static SSL_CTX *ctx_with_key(OSSL_LIB_CTX *lc, int server, EVP_PKEY *key, EVP_PKEY *pub,
                             const char *cn)
{
    SSL_CTX *ctx = new_ctx(lc, server);
    X509 *x = ctx != NULL ? make_cert(pub, cn, ca_key, ca_cert) : NULL;
    int ok = x != NULL && SSL_CTX_use_certificate(ctx, x) && SSL_CTX_use_PrivateKey(ctx, key)
             && SSL_CTX_check_private_key(ctx);

    X509_free(x);
    if (!ok) {
        bench_ossl_errors(cn);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/*
 * The software key again, made in lc by lc's default provider: a key from
 * another library context is exported into lc's provider on use (cached
 * after the first, behind a lock), a cost no real client pays.
 */
static EVP_PKEY *soft_key_in(OSSL_LIB_CTX *lc, EVP_PKEY *soft)
{
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_PKEY *out = NULL;

    if (EVP_PKEY_todata(soft, EVP_PKEY_KEYPAIR, &params)
        && (pctx = EVP_PKEY_CTX_new_from_name(lc, EVP_PKEY_get0_type_name(soft),
                                              "provider=default")) != NULL
        && EVP_PKEY_fromdata_init(pctx) > 0
        && EVP_PKEY_fromdata(pctx, &out, EVP_PKEY_KEYPAIR, params) <= 0)
        out = NULL;
    if (out == NULL)
        bench_ossl_errors("copying the software key into tokenkey's library context");
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(pctx);
    return out;
}

int bench_tls_setup(BENCH_ENV *env)
{
    EVP_PKEY *server_key;

    ca_key = EVP_PKEY_Q_keygen(env->sw_lc, NULL, "EC", "P-256");
    server_key = EVP_PKEY_Q_keygen(env->sw_lc, NULL, "EC", "P-256");
    if (ca_key == NULL || server_key == NULL
        || (ca_cert = make_cert(ca_key, "tk-bench CA", ca_key, NULL)) == NULL
        || (server_ctx = ctx_with_key(env->sw_lc, 1, server_key, server_key, "tk-bench server"))
           == NULL)
        return 0;
    EVP_PKEY_free(server_key);
    for (int k = 0; k < BK_NKEYS; k++) {
        EVP_PKEY *soft = env->evp[k][V_SOFT].pkey;

        for (int i = 0; i < 3; i++) {
            BENCH_TLS *t = calloc(1, sizeof(*t));

            if (t == NULL)
                return 0;
            env->tls[k][i] = t; /* bench_tls_free frees it from here on */
            t->server = server_ctx;
            /*
             * The third client has a software key in tokenkey's library
             * context: it shows what merely loading tokenkey costs a
             * handshake (its decoders and key managers take part in
             * decoding the server's certificate).
             */
            if (i == 2 && (t->own_key = soft_key_in(env->tk_lc, soft)) == NULL)
                return 0;
            t->client = i == 0
                ? ctx_with_key(env->tk_lc, 0, env->evp[k][V_TK_URI].pkey, env->pub[k], "token client")
                : i == 1 ? ctx_with_key(env->sw_lc, 0, soft, soft, "software client")
                : ctx_with_key(env->tk_lc, 0, t->own_key, t->own_key, "software client");
            env->op[k][V_TLS_TOKEN + i] = bench_tls_handshake_op;
            env->arg[k][V_TLS_TOKEN + i] = t;
            if (t->client == NULL || !bench_tls_handshake_op(t, 0)) {
                fprintf(stderr, "tk-bench: %s %s handshake failed\n", bench_key_names[k],
                        bench_variant_names[V_TLS_TOKEN + i]);
                return 0;
            }
        }
    }
    return 1;
}

void bench_tls_free(BENCH_ENV *env)
{
    for (int k = 0; k < BK_NKEYS; k++)
        for (int i = 0; i < 3; i++) {
            BENCH_TLS *t = env->tls[k][i];

            if (t != NULL) {
                SSL_CTX_free(t->client);
                EVP_PKEY_free(t->own_key);
            }
            free(t);
            env->tls[k][i] = NULL;
        }
    SSL_CTX_free(server_ctx);
    X509_free(ca_cert);
    EVP_PKEY_free(ca_key);
}

/* Still in progress (wants to read or write) rather than failed. */
static int pending(SSL *ssl, int rc)
{
    int err = SSL_get_error(ssl, rc);

    return err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
}

int bench_tls_handshake_op(void *arg, int thread)
{
    BENCH_TLS *t = arg;
    SSL *c = SSL_new(t->client), *s = SSL_new(t->server);
    BIO *cb = NULL, *sb = NULL;
    int rc = 0, rs = 0, ok = 0;

    if (c == NULL || s == NULL || !BIO_new_bio_pair(&cb, 0, &sb, 0))
        goto end;
    SSL_set_bio(c, cb, cb);
    SSL_set_bio(s, sb, sb);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    /* A TLS 1.3 handshake takes a few flights; 50 turns is far more than enough. */
    for (int i = 0; i < 50 && !(rc == 1 && rs == 1); i++) {
        if (rc != 1 && (rc = SSL_do_handshake(c)) != 1 && !pending(c, rc))
            break;
        if (rs != 1 && (rs = SSL_do_handshake(s)) != 1 && !pending(s, rs))
            break;
    }
    /* The server saw and verified the client's certificate (so the client signed). */
    ok = rc == 1 && rs == 1 && SSL_get0_peer_certificate(s) != NULL
         && SSL_get_verify_result(s) == X509_V_OK;
end:
    if (!ok)
        bench_ossl_errors("TLS 1.3 handshake");
    SSL_free(c);
    SSL_free(s);
    return ok;
}
