/*
 * Running one variant on N threads for a fixed time, and the statistics.
 *
 * Each thread times every operation with CLOCK_MONOTONIC (a vDSO call,
 * tens of nanoseconds against tens of microseconds per signature) into a
 * histogram of its own, so threads share nothing while they measure.
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

/* Operations each thread makes before the clock starts: sessions opened, caches warm. */
#define WARMUP_OPS 5

/* Bucket i holds latencies in [STEP^i, STEP^(i+1)) ns, STEP = 1.005. */
static const double LOG_STEP = 0.0049875415110390738; /* log(1.005) */

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_hist_add(BENCH_HIST *h, uint64_t ns)
{
    long i = ns > 1 ? (long)(log((double)ns) / LOG_STEP) : 0;

    if (i >= BENCH_HIST_BUCKETS)
        i = BENCH_HIST_BUCKETS - 1;
    h->b[i]++;
    h->n++;
}

void bench_hist_merge(BENCH_HIST *dst, const BENCH_HIST *src)
{
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++)
        dst->b[i] += src->b[i];
    dst->n += src->n;
}

double bench_hist_quantile(const BENCH_HIST *h, double q)
{
    uint64_t want, seen = 0;

    if (h == NULL || h->n == 0)
        return 0;
    want = (uint64_t)ceil(q * (double)h->n);
    if (want < 1)
        want = 1;
    for (int i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= want)
            return exp((i + 0.5) * LOG_STEP) / 1000.0; /* the bucket's middle, in us */
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

double bench_median(const double *v, int n)
{
    double s[BENCH_MAX_ROUNDS];

    if (n <= 0)
        return 0;
    if (n > BENCH_MAX_ROUNDS)
        n = BENCH_MAX_ROUNDS;
    memcpy(s, v, (size_t)n * sizeof(*s));
    qsort(s, (size_t)n, sizeof(*s), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

typedef struct worker {
    pthread_t tid;
    int index;
    bench_op_fn *op;
    void *arg;
    pthread_barrier_t *ready;
    uint64_t *start, duration_ns;
    uint64_t ops, end;
    int failed;
    BENCH_HIST hist;
} WORKER;

static void *worker_main(void *p)
{
    WORKER *w = p;
    uint64_t deadline, t0, t1;

    for (int i = 0; i < WARMUP_OPS && !w->failed; i++)
        w->failed = !w->op(w->arg, w->index);
    /* Everyone starts together; thread 0 sets the common start time. */
    pthread_barrier_wait(w->ready);
    if (w->index == 0)
        __atomic_store_n(w->start, bench_now_ns(), __ATOMIC_RELEASE);
    pthread_barrier_wait(w->ready);
    deadline = __atomic_load_n(w->start, __ATOMIC_ACQUIRE) + w->duration_ns;
    t1 = bench_now_ns();
    while (!w->failed && t1 < deadline) {
        t0 = t1;
        if (!w->op(w->arg, w->index)) {
            w->failed = 1;
            break;
        }
        t1 = bench_now_ns();
        bench_hist_add(&w->hist, t1 - t0);
        w->ops++;
    }
    w->end = t1;
    return NULL;
}

int bench_measure(bench_op_fn *op, void *arg, int threads, double seconds, BENCH_RESULT *res)
{
    WORKER *w = calloc((size_t)threads, sizeof(*w));
    pthread_barrier_t ready;
    uint64_t start = 0, end = 0, ops = 0;
    int failed = 0;

    if (w == NULL || res->nrounds >= BENCH_MAX_ROUNDS
        || (res->hist == NULL && (res->hist = calloc(1, sizeof(*res->hist))) == NULL)) {
        free(w);
        fprintf(stderr, "tk-bench: out of memory\n");
        return 0;
    }
    pthread_barrier_init(&ready, NULL, (unsigned)threads);
    for (int i = 0; i < threads; i++) {
        w[i] = (WORKER){ .index = i, .op = op, .arg = arg, .ready = &ready, .start = &start,
                         .duration_ns = (uint64_t)(seconds * 1e9) };
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
            /* The barrier would wait forever for the missing thread. */
            fprintf(stderr, "tk-bench: cannot start thread %d\n", i);
            exit(1);
        }
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(w[i].tid, NULL);
        failed |= w[i].failed;
        ops += w[i].ops;
        if (w[i].end > end)
            end = w[i].end;
        bench_hist_merge(res->hist, &w[i].hist);
    }
    pthread_barrier_destroy(&ready);
    free(w);
    if (failed) {
        res->failed = 1;
        return 0;
    }
    /* The slowest thread's last operation ends the round: no op is counted twice or lost. */
    res->rate[res->nrounds++] = end > start ? (double)ops * 1e9 / (double)(end - start) : 0;
    return 1;
}
