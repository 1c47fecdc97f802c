/*
 * Running one variant on N threads for a fixed time.
 *
 * Each thread times every operation with CLOCK_MONOTONIC (a vDSO call,
 * tens of nanoseconds against tens of microseconds per signature) into a
 * histogram of its own, so threads share nothing while they measure.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bench.h"

/* Operations each thread makes before the clock starts: sessions opened, caches warm. */
#define WARMUP_OPS 5

uint64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Workers wait at the gate until every thread of the round exists, so that
 * a thread that could not be started is reported, not waited for at the
 * barrier forever.
 */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t opened;
    int state;                 /* 0 closed, 1 open, -1 round called off */
} GATE;

typedef struct worker {
    pthread_t tid;
    int index;
    bench_op_fn *op;
    void *arg;
    GATE *gate;
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
    int state;

    pthread_mutex_lock(&w->gate->lock);
    while ((state = w->gate->state) == 0)
        pthread_cond_wait(&w->gate->opened, &w->gate->lock);
    pthread_mutex_unlock(&w->gate->lock);
    if (state < 0)
        return NULL;
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
    GATE gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
    uint64_t start = 0, end = 0, ops = 0;
    int failed = 0, started = 0;

    if (w == NULL || res->nrounds >= BENCH_MAX_ROUNDS
        || (res->hist == NULL && (res->hist = calloc(1, sizeof(*res->hist))) == NULL)) {
        free(w);
        fprintf(stderr, "tk-bench: out of memory\n");
        return 0;
    }
    pthread_barrier_init(&ready, NULL, (unsigned)threads);
    for (; started < threads; started++) {
        WORKER *x = &w[started];

        *x = (WORKER){ .index = started, .op = op, .arg = arg, .gate = &gate, .ready = &ready,
                       .start = &start, .duration_ns = (uint64_t)(seconds * 1e9) };
        if (pthread_create(&x->tid, NULL, worker_main, x) != 0) {
            fprintf(stderr, "tk-bench: cannot start thread %d\n", started);
            failed = 1;
            break;
        }
    }
    pthread_mutex_lock(&gate.lock);
    gate.state = failed ? -1 : 1;
    pthread_cond_broadcast(&gate.opened);
    pthread_mutex_unlock(&gate.lock);
    for (int i = 0; i < started; i++) {
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
