/*
 * tokenkey-kafka-example: produce N messages to a topic, then read them all
 * back, with a Kafka client configured only by standard librdkafka
 * properties. For mTLS these are security.protocol=ssl, ssl.ca.location,
 * ssl.certificate.location and ssl.key.location (docs/kafka.md); the
 * program itself knows nothing of TLS or of where the key lives, which is
 * the point: what works here works in any librdkafka application.
 *
 * usage: tokenkey-kafka-example -F client.properties [-b BROKERS] -t TOPIC
 *            [-n N] [-T SECONDS] [-X key=value]...
 *
 * Exit status: 0 when all N messages were delivered and read back; 1 when
 * not (a delivery failure, a TLS or authentication error, the time limit);
 * 2 when the client could not be set up (bad option, bad property,
 * rd_kafka_new failed: where an unreadable certificate or a key that
 * cannot be loaded shows up).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define PROG "tokenkey-kafka-example"
#define MAX_PROPS 256
#define MAX_MSGS 1000000

enum { EXIT_INCOMPLETE = 1, EXIT_SETUP = 2 };

static const char usage_text[] =
    "usage: " PROG " -F client.properties [-b BROKERS] -t TOPIC [-n N] [-T SECONDS]\n"
    "       [-X key=value]...\n"
    "\n"
    "Produces N messages (default 10) with unique payloads to TOPIC, waits for\n"
    "their delivery reports, then reads TOPIC from the beginning until all N\n"
    "came back. Prints \"produced N, consumed M\".\n"
    "\n"
    "  -F FILE      librdkafka properties, key=value per line, # comments (as kcat -F)\n"
    "  -b BROKERS   bootstrap.servers (overrides the file)\n"
    "  -t TOPIC     the topic\n"
    "  -n N         number of messages (default 10)\n"
    "  -T SECONDS   time limit for the whole run (default 60)\n"
    "  -X key=value one more property (after the file; repeatable)\n"
    "  -h           this text\n"
    "\n"
    "Exit status: 0 all N read back; 1 not (delivery, TLS error, time limit);\n"
    "2 could not set up the client (options, properties, rd_kafka_new).\n";

struct prop {
    char *key, *value;
    char where[64]; /* "FILE:LINE" or "-X", for messages */
};

struct props {
    struct prop p[MAX_PROPS];
    size_t n;
};

struct run {
    char id[64];            /* unique to this run: "tokenkey-kafka-example-<pid>-<ns>" */
    char prefix[80];        /* payloads are "<id> #<i>" */
    long n;
    long delivered, failed;
    long consumed;
    unsigned char *seen;    /* seen[i]: message i came back */
    volatile int tls_error; /* an SSL or authentication error: stop */
};

static void die_setup(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_setup(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, PROG ": ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(EXIT_SETUP);
}

static long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
        *--end = '\0';
    return s;
}

static void add_prop(struct props *ps, const char *where, char *kv)
{
    char *eq = strchr(kv, '=');
    struct prop *p;

    if (!eq)
        die_setup("%s: expected key=value, got '%s'", where, kv);
    if (ps->n == MAX_PROPS)
        die_setup("%s: more than %d properties", where, MAX_PROPS);
    *eq = '\0';
    p = &ps->p[ps->n++];
    p->key = strdup(trim(kv));
    p->value = strdup(trim(eq + 1));
    if (!p->key || !p->value)
        die_setup("out of memory");
    if (!*p->key)
        die_setup("%s: empty property name", where);
    snprintf(p->where, sizeof(p->where), "%s", where);
}

/* The format kcat -F reads: key=value lines; blank lines and lines
 * starting with # are skipped. */
static void read_props(struct props *ps, const char *path)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    int lineno = 0;

    if (!fp)
        die_setup("-F '%s': %s", path, strerror(errno));
    while (fgets(line, sizeof(line), fp)) {
        char where[64];
        char *s = trim(line);

        lineno++;
        if (!*s || *s == '#')
            continue;
        snprintf(where, sizeof(where), "%.50s:%d", path, lineno);
        add_prop(ps, where, s);
    }
    if (ferror(fp))
        die_setup("-F '%s': read error", path);
    fclose(fp);
}

static int has_prop(const struct props *ps, const char *key)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->p[i].key, key) == 0)
            return 1;
    return 0;
}

static void free_props(struct props *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->p[i].key);
        free(ps->p[i].value);
    }
    ps->n = 0;
}

/* Errors librdkafka reports outside any request: a refused connection, a
 * failed TLS handshake. librdkafka retries most of them by itself; a TLS
 * or authentication failure will not get better, so the run stops. */
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    struct run *r = opaque;

    fprintf(stderr, PROG ": %s error: %s: %s\n", rd_kafka_name(rk),
            rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    if (err == RD_KAFKA_RESP_ERR__SSL || err == RD_KAFKA_RESP_ERR__AUTHENTICATION ||
        err == RD_KAFKA_RESP_ERR__FATAL)
        r->tls_error = 1;
    /* With TLS 1.3 the broker checks the client certificate only after the
     * client has finished its side of the handshake (RFC 8446 4.4.2.4), so
     * a refused certificate reaches the client as a fatal alert on its
     * first read: a transport error whose OpenSSL text ends in "SSL alert
     * number N". */
    if (err == RD_KAFKA_RESP_ERR__TRANSPORT && strstr(reason, "SSL alert number"))
        r->tls_error = 1;
}

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct run *r = opaque;

    if (m->err) {
        if (r->failed++ == 0) /* the first says why; the rest are alike */
            fprintf(stderr, PROG ": delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        r->delivered++;
    }
}

static rd_kafka_t *make_client(rd_kafka_type_t type, const struct props *ps,
                               const char *brokers, struct run *r)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    rd_kafka_t *rk;

    for (size_t i = 0; i < ps->n; i++)
        if (rd_kafka_conf_set(conf, ps->p[i].key, ps->p[i].value, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK)
            die_setup("%s: %s", ps->p[i].where, errstr);
    if (brokers &&
        rd_kafka_conf_set(conf, "bootstrap.servers", brokers, errstr, sizeof(errstr)) !=
            RD_KAFKA_CONF_OK)
        die_setup("-b '%s': %s", brokers, errstr);
    if (!brokers && !has_prop(ps, "bootstrap.servers") && !has_prop(ps, "metadata.broker.list"))
        die_setup("no brokers: give -b or bootstrap.servers in the properties");

    if (type == RD_KAFKA_CONSUMER) {
        /* assign() needs a group; a fresh one never has committed offsets.
         * Only defaults: the properties file wins. */
        if (!has_prop(ps, "group.id") &&
            rd_kafka_conf_set(conf, "group.id", r->id, errstr, sizeof(errstr)) !=
                RD_KAFKA_CONF_OK)
            die_setup("group.id: %s", errstr);
        if (!has_prop(ps, "enable.auto.commit") &&
            rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) !=
                RD_KAFKA_CONF_OK)
            die_setup("enable.auto.commit: %s", errstr);
    } else {
        rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    }
    rd_kafka_conf_set_error_cb(conf, error_cb);
    rd_kafka_conf_set_opaque(conf, r);

    rk = rd_kafka_new(type, conf, errstr, sizeof(errstr));
    if (!rk) {
        /* On failure the conf is still ours. */
        rd_kafka_conf_destroy(conf);
        die_setup("cannot create the %s: %s",
                  type == RD_KAFKA_PRODUCER ? "producer" : "consumer", errstr);
    }
    return rk;
}

/* Produces r->n messages; 1 when all were delivered before the deadline. */
static int produce(rd_kafka_t *rk, const char *topic, struct run *r, long deadline)
{
    char payload[128];

    for (long i = 0; i < r->n && !r->tls_error; i++) {
        int len = snprintf(payload, sizeof(payload), "%s%ld", r->prefix, i);
        rd_kafka_resp_err_t err;

        for (;;) {
            err = rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic),
                                    RD_KAFKA_V_VALUE(payload, (size_t)len),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
            if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL || now_ms() >= deadline)
                break;
            rd_kafka_poll(rk, 100); /* serve delivery reports to make room */
        }
        if (err) {
            fprintf(stderr, PROG ": produce: %s\n", rd_kafka_err2str(err));
            return 0;
        }
    }
    while (r->delivered + r->failed < r->n && !r->tls_error && now_ms() < deadline)
        rd_kafka_poll(rk, 100);
    return r->delivered == r->n;
}

/* Message i of this run, or -1 for anything else in the topic. */
static long message_index(const struct run *r, const rd_kafka_message_t *m)
{
    size_t plen = strlen(r->prefix);
    char digits[24];
    char *end;
    long i;

    if (m->len <= plen || m->len - plen >= sizeof(digits) ||
        memcmp(m->payload, r->prefix, plen) != 0)
        return -1;
    memcpy(digits, (const char *)m->payload + plen, m->len - plen);
    digits[m->len - plen] = '\0';
    i = strtol(digits, &end, 10);
    return (*end || i < 0 || i >= r->n) ? -1 : i;
}

/* Reads every partition of topic from the beginning until all r->n
 * messages of this run came back; 1 when they did. */
static int consume(rd_kafka_t *rk, const char *topic, struct run *r, long deadline)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_partition_list_t *parts = NULL;
    rd_kafka_resp_err_t err;
    long left = deadline - now_ms();
    int ok = 0;

    rd_kafka_poll_set_consumer(rk);
    err = rd_kafka_metadata(rk, 0, rkt, &md, left > 0 ? (int)left : 1);
    if (err || md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt < 1) {
        fprintf(stderr, PROG ": metadata for '%s': %s\n", topic,
                rd_kafka_err2str(err ? err : md->topic_cnt == 1 ? md->topics[0].err
                                                                : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        goto out;
    }
    parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int p = 0; p < md->topics[0].partition_cnt; p++)
        rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[p].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    err = rd_kafka_assign(rk, parts);
    if (err) {
        fprintf(stderr, PROG ": assign: %s\n", rd_kafka_err2str(err));
        goto out;
    }
    while (r->consumed < r->n && !r->tls_error && now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        long i;

        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, PROG ": consume: %s\n", rd_kafka_message_errstr(m));
        } else if ((i = message_index(r, m)) >= 0 && !r->seen[i]) {
            r->seen[i] = 1;
            r->consumed++;
        }
        rd_kafka_message_destroy(m);
    }
    ok = r->consumed == r->n;
    rd_kafka_assign(rk, NULL);

out:
    if (parts)
        rd_kafka_topic_partition_list_destroy(parts);
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return ok;
}

int main(int argc, char **argv)
{
    struct props ps = { .n = 0 };
    struct run r;
    const char *file = NULL, *brokers = NULL, *topic = NULL;
    char *x[MAX_PROPS];
    int nx = 0, c, ok;
    long seconds = 60, deadline;
    rd_kafka_t *rk;
    struct timespec ts;

    memset(&r, 0, sizeof(r));
    r.n = 10;
    while ((c = getopt(argc, argv, "F:b:t:n:T:X:h")) != -1) {
        char *end;

        switch (c) {
        case 'F': file = optarg; break;
        case 'b': brokers = optarg; break;
        case 't': topic = optarg; break;
        case 'n':
            r.n = strtol(optarg, &end, 10);
            if (*end || end == optarg || r.n < 1 || r.n > MAX_MSGS)
                die_setup("-n '%s': expected 1..%d", optarg, MAX_MSGS);
            break;
        case 'T':
            seconds = strtol(optarg, &end, 10);
            if (*end || end == optarg || seconds < 1 || seconds > 86400)
                die_setup("-T '%s': expected a number of seconds", optarg);
            break;
        case 'X':
            if (nx == MAX_PROPS)
                die_setup("too many -X");
            x[nx++] = optarg;
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        default:
            fputs(usage_text, stderr);
            return EXIT_SETUP;
        }
    }
    if (optind < argc)
        die_setup("unexpected argument '%s'", argv[optind]);
    if (!file || !topic)
        die_setup("-F and -t are required (try -h)");
    read_props(&ps, file);
    for (int i = 0; i < nx; i++)
        add_prop(&ps, "-X", x[i]);

    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(r.id, sizeof(r.id), PROG "-%ld-%ld%09ld", (long)getpid(), (long)ts.tv_sec,
             (long)ts.tv_nsec);
    snprintf(r.prefix, sizeof(r.prefix), "%s #", r.id);
    r.seen = calloc((size_t)r.n, 1);
    if (!r.seen)
        die_setup("out of memory");
    deadline = now_ms() + seconds * 1000;

    rk = make_client(RD_KAFKA_PRODUCER, &ps, brokers, &r);
    ok = produce(rk, topic, &r, deadline);
    if (!ok) {
        /* Drop what is still queued so destroy does not wait for it. */
        rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 1000);
    rd_kafka_destroy(rk);

    if (ok) {
        rk = make_client(RD_KAFKA_CONSUMER, &ps, brokers, &r);
        ok = consume(rk, topic, &r, deadline);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }

    printf("produced %ld, consumed %ld\n", r.delivered, r.consumed);
    if (!ok)
        fprintf(stderr, PROG ": %s: %ld of %ld delivered, %ld of %ld read back\n",
                r.tls_error ? "stopped after a TLS or authentication error"
                : now_ms() >= deadline ? "time limit reached"
                                       : "failed",
                r.delivered, r.n, r.consumed, r.n);
    free(r.seen);
    free_props(&ps);
    return ok ? 0 : EXIT_INCOMPLETE;
}
