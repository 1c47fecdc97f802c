/*
 * The broker side of the test cluster: librdkafka's mock cluster, created
 * inside a fresh network namespace.
 *
 * Why a namespace: librdkafka 2.0.2's mock brokers listen on plaintext
 * sockets on 127.0.0.1:<port> and advertise exactly that address in
 * Metadata, with no TLS and no call to change the advertised address. So
 * the gateway must answer with TLS on those very addresses, which it can
 * only do if the plaintext listeners are somewhere else: in a namespace of
 * their own, whose 127.0.0.1 is not the host's.
 */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

struct setup {
    struct tk_mock *m;
    int brokers;
    const struct tk_topic *topics;
    size_t ntopics;
    int rc;
    char *err;
    size_t errlen;
};

/* A new namespace has a loopback interface that is down. */
static int lo_up(char *err, size_t errlen)
{
    struct ifreq ifr;
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (s < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        snprintf(err, errlen, "SIOCGIFFLAGS lo: %s", strerror(errno));
        close(s);
        return -1;
    }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
        snprintf(err, errlen, "SIOCSIFFLAGS lo up: %s", strerror(errno));
        close(s);
        return -1;
    }
    close(s);
    return 0;
}

static void mock_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    tk_log("mock: %d|%s| %s", level, fac, buf);
}

/* "127.0.0.1:p1,127.0.0.1:p2,..." into m->ports. */
static int parse_ports(struct tk_mock *m, char *err, size_t errlen)
{
    const char *p = m->bootstraps;

    m->nports = 0;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memrchr(p, ':', len);
        char *stop;
        unsigned long port;

        if (!colon || m->nports == TK_MAX_BROKERS)
            goto bad;
        errno = 0;
        port = strtoul(colon + 1, &stop, 10);
        if (errno || stop != p + len || port == 0 || port > 65535)
            goto bad;
        if (len < 10 || memcmp(p, "127.0.0.1:", 10) != 0)
            goto bad; /* the gateway listens on 127.0.0.1 only */
        m->ports[m->nports++] = (uint16_t)port;
        p += len;
        if (*p == ',')
            p++;
    }
    if (m->nports > 0)
        return 0;
bad:
    snprintf(err, errlen, "unexpected mock cluster bootstrap list '%s'", m->bootstraps);
    return -1;
}

/* Runs in its own thread: unshare(CLONE_NEWNET) moves only the calling
 * thread, so the gateway's main thread stays in the host's namespace. The
 * mock cluster's sockets and its thread (created from here) stay in the new
 * namespace after this thread ends; netns_fd keeps the namespace for
 * tk_netns_connect. */
static void *setup_main(void *arg)
{
    struct setup *s = arg;
    struct tk_mock *m = s->m;
    rd_kafka_conf_t *conf;
    char path[64];
    char errstr[512];

    s->rc = TK_EXIT_FAIL;
    if (unshare(CLONE_NEWNET) < 0) {
        if (errno == EPERM) {
            snprintf(s->err, s->errlen, "needs root or CAP_SYS_ADMIN for a network namespace");
            s->rc = TK_EXIT_NO_NETNS;
        } else {
            snprintf(s->err, s->errlen, "unshare(CLONE_NEWNET): %s", strerror(errno));
        }
        return NULL;
    }
    if (lo_up(s->err, s->errlen) < 0)
        return NULL;
    snprintf(path, sizeof(path), "/proc/self/task/%ld/ns/net", (long)syscall(SYS_gettid));
    m->netns_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->netns_fd < 0) {
        snprintf(s->err, s->errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }

    /* A handle with no bootstrap.servers: it only owns the mock cluster. */
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, mock_log_cb);
    if (rd_kafka_conf_set(conf, "client.id", "tk-kafka-cluster", errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "log_level", "4", errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK) {
        snprintf(s->err, s->errlen, "mock handle configuration: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!m->rk) {
        snprintf(s->err, s->errlen, "rd_kafka_new: %s", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    m->mcluster = rd_kafka_mock_cluster_new(m->rk, s->brokers);
    if (!m->mcluster) {
        snprintf(s->err, s->errlen, "rd_kafka_mock_cluster_new(%d brokers) failed", s->brokers);
        return NULL;
    }
    for (size_t i = 0; i < s->ntopics; i++) {
        int rf = s->brokers < 3 ? s->brokers : 3;
        rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(m->mcluster, s->topics[i].name,
                                                           s->topics[i].partitions, rf);
        if (e) {
            snprintf(s->err, s->errlen, "topic '%s': %s", s->topics[i].name, rd_kafka_err2str(e));
            return NULL;
        }
    }
    m->bootstraps = strdup(rd_kafka_mock_cluster_bootstraps(m->mcluster));
    if (!m->bootstraps) {
        snprintf(s->err, s->errlen, "out of memory");
        return NULL;
    }
    if (parse_ports(m, s->err, s->errlen) < 0)
        return NULL;
    s->rc = TK_EXIT_OK;
    return NULL;
}

int tk_mock_start(struct tk_mock *m, int brokers, const struct tk_topic *topics,
                  size_t ntopics, char *err, size_t errlen)
{
    struct setup s = { m, brokers, topics, ntopics, TK_EXIT_FAIL, err, errlen };
    pthread_t t;
    int e;

    memset(m, 0, sizeof(*m));
    m->netns_fd = -1;
    e = pthread_create(&t, NULL, setup_main, &s);
    if (e) {
        snprintf(err, errlen, "pthread_create: %s", strerror(e));
        return TK_EXIT_FAIL;
    }
    pthread_join(t, NULL);
    if (s.rc != TK_EXIT_OK)
        tk_mock_stop(m);
    return s.rc;
}

void tk_mock_stop(struct tk_mock *m)
{
    if (m->mcluster)
        rd_kafka_mock_cluster_destroy(m->mcluster);
    if (m->rk)
        rd_kafka_destroy(m->rk);
    if (m->netns_fd >= 0)
        close(m->netns_fd);
    free(m->bootstraps);
    memset(m, 0, sizeof(*m));
    m->netns_fd = -1;
}

int tk_netns_connect(int netns_fd, uint16_t port)
{
    struct sockaddr_in sin;
    int one = 1;
    int s, e;

    if (setns(netns_fd, CLONE_NEWNET) < 0)
        return -1;
    s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Blocking: a loopback connect either completes or is refused at once. */
    if (connect(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) < 0) {
        e = errno;
        close(s);
        errno = e;
        return -1;
    }
    /* Kafka requests are small and latency-bound. */
    setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return s;
}
