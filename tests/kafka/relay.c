/*
 * One thread per accepted client: the TLS handshake with a required client
 * certificate, one log line saying who was let in or why not, then a plain
 * byte relay to the same port inside the mock cluster's namespace.
 *
 * Both sockets are non-blocking and the relay is a small state machine over
 * poll(): with a blocking SSL_read, a thread waiting for the rest of a TLS
 * record could not pass on what the broker sends meanwhile.
 */
#include "cluster.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#define RELAY_BUF 16384

struct buf {
    unsigned char data[RELAY_BUF];
    size_t off, len;
};

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 1 when stop_fd is readable: the gateway is shutting down. */
static int wait_fd(int fd, short events, int stop_fd, int timeout_ms)
{
    struct pollfd p[2] = { { fd, events, 0 }, { stop_fd, POLLIN, 0 } };

    if (poll(p, 2, timeout_ms) < 0 && errno != EINTR)
        return -1;
    return (p[1].revents & POLLIN) ? 1 : 0;
}

static void name_string(const X509_NAME *name, char *out, size_t outlen)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n = 0;

    out[0] = '\0';
    if (!b)
        return;
    /* RFC 2253 order and escaping, on one line: "CN=...,O=..." */
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0)
        n = BIO_read(b, out, (int)outlen - 1);
    out[n > 0 ? n : 0] = '\0';
    BIO_free(b);
}

/* Remembers which certificate failed, for the log: after a failed
 * handshake SSL_get0_peer_certificate has nothing. */
static int verify_cb(int ok, X509_STORE_CTX *store)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct tk_conn *c = ssl ? SSL_get_app_data(ssl) : NULL;
    X509 *leaf = X509_STORE_CTX_get0_cert(store);

    if (!ok && c && leaf && !c->rejected_subject[0])
        name_string(X509_get_subject_name(leaf), c->rejected_subject,
                    sizeof(c->rejected_subject));
    return ok;
}

/* Why the handshake failed, in words from OpenSSL: the verify result when
 * the certificate was the problem, else the first error on the queue. */
static void reject_reason(struct tk_conn *c, SSL *ssl, int timed_out, char *out, size_t outlen)
{
    long vr = SSL_get_verify_result(ssl);
    unsigned long e = ERR_peek_error();

    if (timed_out)
        snprintf(out, outlen, "TLS handshake timed out");
    else if (vr != X509_V_OK)
        snprintf(out, outlen, "certificate verify failed: %s (subject=%s)",
                 X509_verify_cert_error_string(vr), c->rejected_subject);
    else if (e && ERR_reason_error_string(e))
        snprintf(out, outlen, "%s", ERR_reason_error_string(e));
    else if (e)
        ERR_error_string_n(e, out, outlen);
    else
        snprintf(out, outlen, "TLS handshake failed");
}

/* The handshake ended because the client closed or reset the connection,
 * with nothing else wrong: no verify error, no TLS error but the EOF. */
static int client_left(SSL *ssl, int err)
{
    unsigned long e = ERR_peek_error();

    if (SSL_get_verify_result(ssl) != X509_V_OK)
        return 0;
    if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_ZERO_RETURN)
        return e == 0;
    return err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
           ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING &&
           ERR_peek_error() == ERR_peek_last_error();
}

/* 1 on success, 0 on failure (logged), -1 when told to stop. */
static int handshake(struct tk_conn *c, SSL *ssl)
{
    long deadline = now_ms() + c->handshake_ms;
    char reason[1024];

    for (;;) {
        int r, err, left;

        ERR_clear_error();
        r = SSL_accept(ssl);
        if (r == 1)
            return 1;
        err = SSL_get_error(ssl, r);
        left = (int)(deadline - now_ms());
        if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
            if (client_left(ssl, err)) {
                /* Not a rejection: a client being shut down, or a port
                 * probe, may drop a connection mid-handshake. */
                tk_log("client closed the connection during the TLS handshake (broker=%u)",
                       c->port);
                return 0;
            }
            reject_reason(c, ssl, 0, reason, sizeof(reason));
            tk_log("rejected client: %s (broker=%u)", reason, c->port);
            return 0;
        }
        if (left <= 0) {
            reject_reason(c, ssl, 1, reason, sizeof(reason));
            tk_log("rejected client: %s (broker=%u)", reason, c->port);
            return 0;
        }
        r = wait_fd(c->fd, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, c->stop_fd, left);
        if (r != 0)
            return -1;
    }
}

static void log_verified(struct tk_conn *c, SSL *ssl)
{
    X509 *peer = SSL_get0_peer_certificate(ssl);
    char subject[512] = "", issuer[512] = "";

    if (peer) { /* always, with SSL_VERIFY_FAIL_IF_NO_PEER_CERT */
        name_string(X509_get_subject_name(peer), subject, sizeof(subject));
        name_string(X509_get_issuer_name(peer), issuer, sizeof(issuer));
    }
    tk_log("verified client: subject=%s issuer=%s protocol=%s broker=%u", subject, issuer,
           SSL_get_version(ssl), c->port);
}

/* Relays until either side closes, an error, or stop. Each pass tries all
 * four moves (TLS in, TCP out, TCP in, TLS out) until none progresses, then
 * polls for exactly what the stuck moves wait on. Returns 1 when the TLS
 * connection may still be shut down cleanly, 0 after an error. */
static int relay(struct tk_conn *c, SSL *ssl, int up)
{
    struct buf c2u = { .len = 0 }, u2c = { .len = 0 }; /* 32 KiB of an 8 MiB stack */
    int client_eof = 0, up_eof = 0;

    for (;;) {
        short cev, uev;
        int progress;
        struct pollfd p[3];

        do {
            size_t n;
            ssize_t k;

            progress = 0;
            cev = uev = 0;

            /* client -> broker */
            if (c2u.len == 0 && !client_eof) {
                ERR_clear_error();
                if (SSL_read_ex(ssl, c2u.data, sizeof(c2u.data), &n)) {
                    c2u.off = 0;
                    c2u.len = n;
                    progress = 1;
                } else {
                    switch (SSL_get_error(ssl, 0)) {
                    case SSL_ERROR_WANT_READ: cev |= POLLIN; break;
                    case SSL_ERROR_WANT_WRITE: cev |= POLLOUT; break;
                    case SSL_ERROR_ZERO_RETURN: client_eof = 1; break;
                    default: return 0; /* reset, or a TLS error: drop both */
                    }
                }
            }
            if (c2u.len > 0) {
                k = send(up, c2u.data + c2u.off, c2u.len, MSG_NOSIGNAL);
                if (k > 0) {
                    c2u.off += (size_t)k;
                    c2u.len -= (size_t)k;
                    progress = 1;
                } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    uev |= POLLOUT;
                } else if (errno != EINTR) {
                    return 0;
                }
            }

            /* broker -> client */
            if (u2c.len == 0 && !up_eof) {
                k = recv(up, u2c.data, sizeof(u2c.data), 0);
                if (k > 0) {
                    u2c.off = 0;
                    u2c.len = (size_t)k;
                    progress = 1;
                } else if (k == 0) {
                    up_eof = 1;
                } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    uev |= POLLIN;
                } else if (errno != EINTR) {
                    return 0;
                }
            }
            if (u2c.len > 0) {
                ERR_clear_error();
                if (SSL_write_ex(ssl, u2c.data + u2c.off, u2c.len, &n)) {
                    u2c.off += n;
                    u2c.len -= n;
                    progress = 1;
                } else {
                    switch (SSL_get_error(ssl, 0)) {
                    case SSL_ERROR_WANT_READ: cev |= POLLIN; break;
                    case SSL_ERROR_WANT_WRITE: cev |= POLLOUT; break;
                    default: return 0;
                    }
                }
            }
            /* Either side closed and what it sent is passed on: done. */
            if ((client_eof && c2u.len == 0) || (up_eof && u2c.len == 0))
                return 1;
        } while (progress);

        if (!cev && !uev)
            return 0; /* nothing to wait for: cannot happen, but never spin */
        p[0] = (struct pollfd){ c->fd, cev, 0 };
        p[1] = (struct pollfd){ up, uev, 0 };
        p[2] = (struct pollfd){ c->stop_fd, POLLIN, 0 };
        if (poll(p, 3, -1) < 0 && errno != EINTR)
            return 0;
        if (p[2].revents & POLLIN)
            return 1;
    }
}

void *tk_conn_main(void *arg)
{
    struct tk_conn *c = arg;
    SSL *ssl = SSL_new(c->ctx);
    int up = -1;

    if (!ssl || !SSL_set_fd(ssl, c->fd)) {
        tk_log("relay: SSL_new failed (broker=%u)", c->port);
        goto out;
    }
    SSL_set_app_data(ssl, c);
    SSL_set_verify(ssl, SSL_get_verify_mode(ssl), verify_cb);
    if (handshake(c, ssl) != 1)
        goto out;
    log_verified(c, ssl);

    up = tk_netns_connect(c->netns_fd, c->port);
    if (up < 0) {
        tk_log("relay: cannot connect to mock broker 127.0.0.1:%u in its namespace: %s",
               c->port, strerror(errno));
        goto out;
    }
    /* One try at close_notify, without waiting for the client's; never
     * after a fatal error (SSL_shutdown(3)). */
    if (relay(c, ssl, up)) {
        ERR_clear_error();
        SSL_shutdown(ssl);
    }

out:
    ERR_clear_error();
    SSL_free(ssl);
    if (up >= 0)
        close(up);
    close(c->fd);
    atomic_store(&c->done, 1);
    return NULL;
}
