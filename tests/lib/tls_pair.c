/* In-process TLS handshakes for tests: see tls_pair.h. */
#include <string.h>

#include "tls_pair.h"

/* Done, or only waiting for the other end: in a BIO pair it always answers. */
static int progressing(SSL *ssl, int rc)
{
    int err = SSL_get_error(ssl, rc);

    return rc == 1 || err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE;
}

int tk_test_tls_handshake(SSL_CTX *client, SSL_CTX *server, SSL **c, SSL **s)
{
    BIO *bc = NULL, *bs = NULL;
    int rc = 0, rs = 0;

    *c = SSL_new(client);
    *s = SSL_new(server);
    if (*c == NULL || *s == NULL || BIO_new_bio_pair(&bc, 0, &bs, 0) != 1)
        return 0;
    SSL_set_bio(*c, bc, bc);
    SSL_set_bio(*s, bs, bs);
    SSL_set_connect_state(*c);
    SSL_set_accept_state(*s);
    /* A full handshake takes a few turns; 50 bounds a stuck one. */
    for (int i = 0; i < 50 && (rc != 1 || rs != 1); i++) {
        rc = SSL_do_handshake(*c);
        if (!progressing(*c, rc))
            break;
        rs = SSL_do_handshake(*s);
        if (!progressing(*s, rs))
            break;
    }
    return rc == 1 && rs == 1;
}

int tk_test_tls_ping(SSL *c, SSL *s)
{
    char buf[4];

    return SSL_write(c, "ping", 4) == 4 && SSL_read(s, buf, sizeof(buf)) == 4
           && memcmp(buf, "ping", 4) == 0;
}
