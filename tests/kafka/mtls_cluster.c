/*
 * tk-kafka-cluster: a Kafka cluster for mTLS tests. librdkafka's mock
 * cluster runs in a private network namespace (netns.c); this process
 * listens with TLS on 127.0.0.1 at each mock broker's port in the host's
 * namespace, requires and verifies a client certificate, logs who came in,
 * and relays the bytes to the same port inside the namespace (relay.c).
 * docs/kafka.md explains why and how to use it.
 */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#define MAX_TOPICS 64
#define MAX_CONNS 256       /* clients at once; more are refused */
#define HANDSHAKE_MS 10000
#define START_ATTEMPTS 5    /* see start_listening */

static const char usage_text[] =
    "usage: tk-kafka-cluster --ca FILE --cert FILE --key FILE [options]\n"
    "\n"
    "librdkafka's mock Kafka cluster in a private network namespace, behind a\n"
    "mutual-TLS gateway on 127.0.0.1 at the same ports the brokers advertise.\n"
    "Needs root (or CAP_SYS_ADMIN) for the namespace.\n"
    "\n"
    "  --ca FILE            CA certificate(s) (PEM) that client certificates must chain to\n"
    "  --cert FILE          the brokers' certificate chain (PEM), for 127.0.0.1/localhost\n"
    "  --key FILE           its private key (PEM)\n"
    "  --brokers N          number of brokers, 1..32 (default 3)\n"
    "  --topic NAME[:P]     create topic NAME with P partitions (default 3); repeatable\n"
    "  --tls-min 1.2|1.3    lowest TLS version accepted (default 1.2)\n"
    "  --tls-max 1.2|1.3    highest TLS version accepted (default 1.3)\n"
    "  --log FILE           append the log here instead of stderr\n"
    "  --ready-file FILE    once listening, write the bootstrap list here (removed at exit)\n"
    "  --lifetime SECONDS   exit 0 by itself after this long (default 600)\n"
    "  --help               this text\n"
    "\n"
    "Exit status: 0 after SIGTERM, SIGINT or the lifetime; 1 runtime failure;\n"
    "2 bad options or unreadable certificate/key; 3 no right to create a namespace.\n";

struct options {
    const char *ca, *cert, *key, *log, *ready_file;
    int brokers;
    struct tk_topic topics[MAX_TOPICS];
    size_t ntopics;
    int tls_min, tls_max;
    long lifetime;
};

/* ---- log ---- */

static FILE *log_fp;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void tk_log(const char *fmt, ...)
{
    FILE *fp = log_fp ? log_fp : stderr;
    struct timespec ts;
    struct tm tm;
    char stamp[32];
    va_list ap;

    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    pthread_mutex_lock(&log_lock);
    fprintf(fp, "%s.%03ld tk-kafka-cluster: ", stamp, ts.tv_nsec / 1000000);
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fputc('\n', fp);
    fflush(fp);
    pthread_mutex_unlock(&log_lock);
}

/* OpenSSL's errors for a start-up failure, one log line each. */
static void log_ssl_errors(void)
{
    unsigned long e;
    char buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        tk_log("  %s", buf);
    }
}

/* ---- options ---- */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "tk-kafka-cluster: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(try --help)\n");
    return TK_EXIT_USAGE;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_tls(const char *s, int *out)
{
    if (strcmp(s, "1.2") == 0)
        *out = TLS1_2_VERSION;
    else if (strcmp(s, "1.3") == 0)
        *out = TLS1_3_VERSION;
    else
        return -1;
    return 0;
}

static int parse_topic(char *arg, struct tk_topic *t)
{
    char *colon = strrchr(arg, ':');
    long p = 3;

    if (colon) {
        if (parse_long(colon + 1, 1, 1000, &p) < 0)
            return -1;
        *colon = '\0';
    }
    if (!*arg)
        return -1;
    t->name = arg;
    t->partitions = (int)p;
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    enum { O_CA = 256, O_CERT, O_KEY, O_BROKERS, O_TOPIC, O_TLS_MIN, O_TLS_MAX, O_LOG,
           O_READY, O_LIFETIME, O_HELP };
    static const struct option longopts[] = {
        { "ca", required_argument, NULL, O_CA },
        { "cert", required_argument, NULL, O_CERT },
        { "key", required_argument, NULL, O_KEY },
        { "brokers", required_argument, NULL, O_BROKERS },
        { "topic", required_argument, NULL, O_TOPIC },
        { "tls-min", required_argument, NULL, O_TLS_MIN },
        { "tls-max", required_argument, NULL, O_TLS_MAX },
        { "log", required_argument, NULL, O_LOG },
        { "ready-file", required_argument, NULL, O_READY },
        { "lifetime", required_argument, NULL, O_LIFETIME },
        { "help", no_argument, NULL, O_HELP },
        { NULL, 0, NULL, 0 },
    };
    long v;
    int c;

    memset(o, 0, sizeof(*o));
    o->brokers = 3;
    o->tls_min = TLS1_2_VERSION;
    o->tls_max = TLS1_3_VERSION;
    o->lifetime = 600;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (c) {
        case O_CA: o->ca = optarg; break;
        case O_CERT: o->cert = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_LOG: o->log = optarg; break;
        case O_READY: o->ready_file = optarg; break;
        case O_BROKERS:
            if (parse_long(optarg, 1, TK_MAX_BROKERS, &v) < 0)
                return usage_error("--brokers '%s': expected 1..32", optarg);
            o->brokers = (int)v;
            break;
        case O_TOPIC:
            if (o->ntopics == MAX_TOPICS)
                return usage_error("--topic '%s': too many topics", optarg);
            if (parse_topic(optarg, &o->topics[o->ntopics]) < 0)
                return usage_error("--topic '%s': expected NAME or NAME:PARTITIONS", optarg);
            o->ntopics++;
            break;
        case O_TLS_MIN:
            if (parse_tls(optarg, &o->tls_min) < 0)
                return usage_error("--tls-min '%s': expected 1.2 or 1.3", optarg);
            break;
        case O_TLS_MAX:
            if (parse_tls(optarg, &o->tls_max) < 0)
                return usage_error("--tls-max '%s': expected 1.2 or 1.3", optarg);
            break;
        case O_LIFETIME:
            if (parse_long(optarg, 1, INT_MAX / 1000, &v) < 0)
                return usage_error("--lifetime '%s': expected a number of seconds", optarg);
            o->lifetime = v;
            break;
        case O_HELP:
            fputs(usage_text, stdout);
            exit(TK_EXIT_OK);
        default:
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument '%s'", argv[optind]);
    if (!o->ca || !o->cert || !o->key)
        return usage_error("%s", "--ca, --cert and --key are required");
    if (o->tls_min > o->tls_max)
        return usage_error("%s", "--tls-min is above --tls-max");
    return TK_EXIT_OK;
}

/* ---- TLS ---- */

static SSL_CTX *make_ctx(const struct options *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    STACK_OF(X509_NAME) *names;

    if (!ctx)
        goto fail;
    if (!SSL_CTX_set_min_proto_version(ctx, o->tls_min) ||
        !SSL_CTX_set_max_proto_version(ctx, o->tls_max))
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
        tk_log("cannot use --cert '%s'", o->cert);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1) {
        /* OpenSSL checks the key against the certificate already loaded. */
        if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH)
            tk_log("--key '%s' does not match --cert '%s'", o->key, o->cert);
        else
            tk_log("cannot use --key '%s'", o->key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        tk_log("--key '%s' does not match --cert '%s'", o->key, o->cert);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
        tk_log("cannot load --ca '%s'", o->ca);
        goto fail;
    }
    /* Sent in CertificateRequest (RFC 8446 4.2.4 certificate_authorities,
     * RFC 5246 7.4.4) so a client with several certificates can pick. */
    names = SSL_load_client_CA_file(o->ca);
    if (!names) {
        tk_log("no CA certificate in --ca '%s'", o->ca);
        goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    /* Every connection is a full handshake with a client certificate,
     * checked and logged: no session resumption, no tickets. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return ctx;

fail:
    log_ssl_errors();
    SSL_CTX_free(ctx);
    return NULL;
}

/* ---- listeners ---- */

static int listen_on(uint16_t port)
{
    struct sockaddr_in sin;
    int one = 1;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

    if (s < 0)
        return -1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* loopback only, always */
    if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(s, 64) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

static void close_all(int *fds, int n)
{
    for (int i = 0; i < n; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

/* Starts the mock cluster and listens on its ports here. The mock picks
 * its ports in its own, empty namespace, so one may be taken in ours (by
 * another test's cluster, say): then start over with a new namespace. */
static int start_listening(const struct options *o, struct tk_mock *m, int *lfds)
{
    char err[512];

    for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
        int rc = tk_mock_start(m, o->brokers, o->topics, o->ntopics, err, sizeof(err));
        int i, e = 0;

        if (rc != TK_EXIT_OK) {
            tk_log("%s", err);
            return rc;
        }
        for (i = 0; i < m->nports; i++) {
            lfds[i] = listen_on(m->ports[i]);
            if (lfds[i] < 0) {
                e = errno;
                break;
            }
        }
        if (i == m->nports)
            return TK_EXIT_OK;
        tk_log("cannot listen on 127.0.0.1:%u: %s%s", m->ports[i], strerror(e),
               e == EADDRINUSE && attempt < START_ATTEMPTS ? "; trying new ports" : "");
        close_all(lfds, i);
        tk_mock_stop(m);
        if (e != EADDRINUSE)
            break;
    }
    return TK_EXIT_FAIL;
}

/* Written whole under a temporary name and renamed, so a script that
 * waits for the file never reads half of it. */
static int write_ready_file(const char *path, const char *bootstraps)
{
    char tmp[PATH_MAX];
    FILE *fp;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid()) >= sizeof(tmp))
        return -1;
    fp = fopen(tmp, "w");
    if (!fp)
        return -1;
    fprintf(fp, "%s\n", bootstraps);
    if (fclose(fp) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* ---- connections ---- */

struct gateway {
    SSL_CTX *ctx;
    struct tk_mock mock;
    int lfds[TK_MAX_BROKERS];
    int stop_pipe[2];
    struct tk_conn *conns;
    int nconns;
};

static void reap(struct gateway *g, int all)
{
    struct tk_conn **pp = &g->conns;

    while (*pp) {
        struct tk_conn *c = *pp;

        if (all || atomic_load(&c->done)) {
            pthread_join(c->thread, NULL);
            *pp = c->next;
            free(c);
            g->nconns--;
        } else {
            pp = &c->next;
        }
    }
}

static void accept_one(struct gateway *g, int lfd, uint16_t port)
{
    struct tk_conn *c;
    int fd, e, one = 1;

    fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED && errno != EINTR)
            tk_log("accept on port %u: %s", port, strerror(errno));
        return;
    }
    if (g->nconns >= MAX_CONNS) {
        tk_log("refused a connection on port %u: %d clients already", port, MAX_CONNS);
        close(fd);
        return;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->fd = fd;
    c->port = port;
    c->ctx = g->ctx;
    c->netns_fd = g->mock.netns_fd;
    c->stop_fd = g->stop_pipe[0];
    c->handshake_ms = HANDSHAKE_MS;
    atomic_init(&c->done, 0);
    e = pthread_create(&c->thread, NULL, tk_conn_main, c);
    if (e) {
        tk_log("pthread_create: %s", strerror(e));
        close(fd);
        free(c);
        return;
    }
    c->next = g->conns;
    g->conns = c;
    g->nconns++;
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Accepts until a signal or the end of the lifetime. */
static int serve(struct gateway *g, int sfd, long lifetime)
{
    long deadline = now_ms() + lifetime * 1000;
    struct pollfd p[TK_MAX_BROKERS + 1];
    int n = g->mock.nports;

    for (int i = 0; i < n; i++)
        p[i] = (struct pollfd){ g->lfds[i], POLLIN, 0 };
    p[n] = (struct pollfd){ sfd, POLLIN, 0 };
    for (;;) {
        long left = deadline - now_ms();
        int r;

        if (left <= 0) {
            tk_log("lifetime of %ld s reached: exiting", lifetime);
            return TK_EXIT_OK;
        }
        /* Wake at least every second to join finished client threads. */
        r = poll(p, (nfds_t)n + 1, left < 1000 ? (int)left : 1000);
        if (r < 0 && errno != EINTR) {
            tk_log("poll: %s", strerror(errno));
            return TK_EXIT_FAIL;
        }
        if (p[n].revents & POLLIN) {
            struct signalfd_siginfo si;

            if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                tk_log("%s: exiting", strsignal((int)si.ssi_signo));
                return TK_EXIT_OK;
            }
        }
        for (int i = 0; i < n; i++)
            if (p[i].revents & POLLIN)
                accept_one(g, g->lfds[i], g->mock.ports[i]);
        reap(g, 0);
    }
}

int main(int argc, char **argv)
{
    struct options o;
    struct gateway g;
    sigset_t sigs;
    int sfd = -1, rc, ready_written = 0;

    rc = parse_options(argc, argv, &o);
    if (rc != TK_EXIT_OK)
        return rc;

    memset(&g, 0, sizeof(g));
    g.stop_pipe[0] = g.stop_pipe[1] = -1;
    for (int i = 0; i < TK_MAX_BROKERS; i++)
        g.lfds[i] = -1;
    g.mock.netns_fd = -1;

    if (o.log) {
        log_fp = fopen(o.log, "ae");
        if (!log_fp) {
            fprintf(stderr, "tk-kafka-cluster: --log '%s': %s\n", o.log, strerror(errno));
            return TK_EXIT_USAGE;
        }
    }

    /* Before any thread exists, so all inherit it: only the signalfd below
     * sees SIGTERM/SIGINT. A client that goes away mid-write must not kill
     * the gateway with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    sfd = signalfd(-1, &sigs, SFD_CLOEXEC);
    if (sfd < 0) {
        tk_log("signalfd: %s", strerror(errno));
        rc = TK_EXIT_FAIL;
        goto out;
    }

    g.ctx = make_ctx(&o);
    if (!g.ctx) {
        rc = TK_EXIT_USAGE;
        goto out;
    }
    if (pipe2(g.stop_pipe, O_CLOEXEC) < 0) {
        tk_log("pipe: %s", strerror(errno));
        rc = TK_EXIT_FAIL;
        goto out;
    }
    rc = start_listening(&o, &g.mock, g.lfds);
    if (rc != TK_EXIT_OK) {
        /* The one line a user needs when not root goes to stderr too. */
        if (rc == TK_EXIT_NO_NETNS && log_fp)
            fprintf(stderr, "tk-kafka-cluster: needs root or CAP_SYS_ADMIN for a network namespace\n");
        goto out;
    }
    tk_log("listening on %s (%d brokers, TLS %s..%s, client certificates from '%s', lifetime %ld s)",
           g.mock.bootstraps, o.brokers, o.tls_min == TLS1_3_VERSION ? "1.3" : "1.2",
           o.tls_max == TLS1_3_VERSION ? "1.3" : "1.2", o.ca, o.lifetime);
    if (o.ready_file && write_ready_file(o.ready_file, g.mock.bootstraps) < 0) {
        tk_log("--ready-file '%s': %s", o.ready_file, strerror(errno));
        rc = TK_EXIT_FAIL;
        goto out;
    }
    ready_written = o.ready_file != NULL;

    rc = serve(&g, sfd, o.lifetime);

out:
    close_all(g.lfds, TK_MAX_BROKERS);
    /* Tell every client thread to stop, then wait for each. */
    if (g.stop_pipe[1] >= 0 && write(g.stop_pipe[1], "x", 1) < 0)
        tk_log("stop pipe: %s", strerror(errno));
    reap(&g, 1);
    tk_mock_stop(&g.mock);
    if (ready_written)
        unlink(o.ready_file);
    close_all(g.stop_pipe, 2);
    if (sfd >= 0)
        close(sfd);
    SSL_CTX_free(g.ctx);
    if (log_fp)
        fclose(log_fp);
    return rc;
}
