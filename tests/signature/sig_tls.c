/* TLS handshakes with token keys for the signature tests: see sig_test.h. */
#include <openssl/rsa.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "sig_test.h"
#include "tls_pair.h"

X509 *sig_self_signed(SIG_ENV *e, SIG_KEY *k, const char *md, int pss)
{
    X509 *x = X509_new_ex(e->libctx, NULL);
    X509_NAME *name;
    EVP_MD_CTX *mctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;

    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -60));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
    name = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                                                (const unsigned char *)"tokenkey test", -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(x, name), 1);
    assert_int_equal(X509_set_pubkey(x, k->pub), 1);
    assert_int_equal(EVP_DigestSignInit_ex(mctx, &pctx, md, e->libctx, NULL, k->token, NULL), 1);
    if (pss)
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_true(X509_sign_ctx(x, mctx) > 0);
    EVP_MD_CTX_free(mctx);
    /* Checked with the default provider's public key. */
    assert_int_equal(X509_verify(x, k->pub), 1);
    return x;
}

static SSL_CTX *tls_ctx(SIG_ENV *e, const SSL_METHOD *method, SIG_KEY *k, X509 *cert, int version,
                        const char *sigalgs, const char *ciphers)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(e->libctx, NULL, method);

    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_set_min_proto_version(ctx, version), 1);
    assert_int_equal(SSL_CTX_set_max_proto_version(ctx, version), 1);
    /* The order librdkafka uses: certificate, key, then the check. */
    assert_int_equal(SSL_CTX_use_certificate(ctx, cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k->token), 1);
    assert_int_equal(SSL_CTX_check_private_key(ctx), 1);
    if (sigalgs != NULL)
        assert_int_equal(SSL_CTX_set1_sigalgs_list(ctx, sigalgs), 1);
    if (ciphers != NULL)
        assert_int_equal(SSL_CTX_set_cipher_list(ctx, ciphers), 1);
    assert_int_equal(X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), cert), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    return ctx;
}

void sig_tls_handshake(SIG_ENV *e, SIG_KEY *k, const char *md, int cert_pss, int version,
                       const char *sigalgs, const char *ciphers, int want_sig_type, int want_md)
{
    X509 *cert = sig_self_signed(e, k, md, cert_pss);
    SSL_CTX *sctx = tls_ctx(e, TLS_server_method(), k, cert, version, sigalgs, ciphers);
    SSL_CTX *cctx = tls_ctx(e, TLS_client_method(), k, cert, version, sigalgs, ciphers);
    SSL *s = NULL, *c = NULL;
    SIG_STATS before;
    int nid = 0;

    sig_stats_take(&before);
    if (!tk_test_tls_handshake(cctx, sctx, &c, &s)) {
        char *text = sig_errors_text();

        fail_msg("handshake failed: %s", text);
    }
    assert_int_equal(sig_stats_delta(&before, TK_FN_C_Sign), 2);
    assert_int_equal(SSL_version(c), version);
    assert_int_equal(SSL_get_verify_result(c), X509_V_OK);
    assert_int_equal(SSL_get_verify_result(s), X509_V_OK);
    assert_int_equal(SSL_get_peer_signature_type_nid(c, &nid), 1);
    assert_int_equal(nid, want_sig_type);
    assert_int_equal(SSL_get_peer_signature_type_nid(s, &nid), 1);
    assert_int_equal(nid, want_sig_type);
    if (want_md != NID_undef) {
        assert_int_equal(SSL_get_peer_signature_nid(c, &nid), 1);
        assert_int_equal(nid, want_md);
    }
    assert_int_equal(tk_test_tls_ping(c, s), 1);
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    X509_free(cert);
}
