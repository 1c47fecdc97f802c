/*
 * A TLS client and server in one process, joined by an in-memory BIO pair
 * and taken through the handshake in turns: what the signature and fault
 * tests use to see a token key sign a real CertificateVerify.
 */
#ifndef TK_TEST_TLS_PAIR_H
#define TK_TEST_TLS_PAIR_H

#include <openssl/ssl.h>

/*
 * New SSL objects from client and server, handshaken. Returns 1 when both
 * ends completed the handshake, 0 otherwise (the error queue says why).
 * *c and *s are set in both cases when not NULL: SSL_free them.
 */
int tk_test_tls_handshake(SSL_CTX *client, SSL_CTX *server, SSL **c, SSL **s);

/*
 * After a handshake: the client writes "ping" and the server reads it.
 * In TLS 1.3 a server learns of a client certificate it refuses only when
 * it reads, so this is part of checking that both sides accepted.
 */
int tk_test_tls_ping(SSL *c, SSL *s);

#endif
