/*
 * tk-kafka-cluster: librdkafka's mock cluster in a private network namespace
 * behind an mTLS gateway on the same 127.0.0.1 ports. See docs/kafka.md.
 *
 * mtls_cluster.c  options, log, TLS context, listeners, accept loop, shutdown
 * netns.c         the namespace, the mock cluster in it, connecting into it
 * relay.c         one thread per client: TLS handshake, log, relay
 */
#ifndef TK_KAFKA_CLUSTER_H
#define TK_KAFKA_CLUSTER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#include <openssl/ssl.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#define TK_MAX_BROKERS 32

/* Exit statuses. */
#define TK_EXIT_OK 0
#define TK_EXIT_FAIL 1      /* a runtime failure after start-up */
#define TK_EXIT_USAGE 2     /* bad options, unreadable certificate or key */
#define TK_EXIT_NO_NETNS 3  /* no right to create a network namespace */

/* Every diagnostic goes through here: one line, with a time stamp, to
 * stderr or the --log file (mtls_cluster.c). Thread-safe. */
void tk_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

struct tk_topic {
    const char *name;
    int partitions;
};

/* The mock cluster and the namespace it lives in. */
struct tk_mock {
    rd_kafka_t *rk;                 /* the handle that owns the mock cluster */
    rd_kafka_mock_cluster_t *mcluster;
    int netns_fd;                   /* open on the namespace; -1 when none */
    char *bootstraps;               /* "127.0.0.1:p1,127.0.0.1:p2,..." */
    int nports;
    uint16_t ports[TK_MAX_BROKERS]; /* the brokers' ports, in bootstrap order */
};

/* Creates a network namespace with lo up, the mock cluster of `brokers`
 * brokers inside it and the topics. Returns TK_EXIT_OK, TK_EXIT_NO_NETNS
 * (unshare refused) or TK_EXIT_FAIL, with a message in err. */
int tk_mock_start(struct tk_mock *m, int brokers, const struct tk_topic *topics,
                  size_t ntopics, char *err, size_t errlen);
/* Destroys the mock cluster and its handle and closes the namespace fd. */
void tk_mock_stop(struct tk_mock *m);
/* From the calling thread, which it moves into the namespace for good:
 * a non-blocking TCP connection to 127.0.0.1:port there, or -1 with errno. */
int tk_netns_connect(int netns_fd, uint16_t port);

/* One accepted client. The accept loop fills the first block, starts
 * tk_conn_main in a thread, and joins the thread once done is set. */
struct tk_conn {
    int fd;             /* the accepted, non-blocking TCP socket */
    uint16_t port;      /* the broker port it came in on */
    SSL_CTX *ctx;
    int netns_fd;
    int stop_fd;        /* readable once the gateway shuts down */
    int handshake_ms;   /* limit for the TLS handshake */

    char rejected_subject[256]; /* the certificate that failed to verify */

    pthread_t thread;
    atomic_int done;
    struct tk_conn *next;
};

void *tk_conn_main(void *arg);

#endif
