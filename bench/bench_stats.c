/*
 * The bench's statistics: latency histograms and their quantiles, medians,
 * and the verdict on a goal. Kept apart from the measuring so that the
 * tests (tests/bench) can check them on numbers known in advance.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

/* Bucket i holds latencies in [STEP^i, STEP^(i+1)) ns, STEP = 1.005. */
static const double LOG_STEP = 0.0049875415110390738; /* log(1.005) */

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
        if (seen + h->b[i] >= want) {
            /*
             * Where in its bucket the wanted latency lies, taking the
             * bucket's latencies as spread evenly over it: a bucket's
             * middle alone is off by up to 0.25%, which moves a ratio of
             * two medians across a goal's threshold.
             */
            double within = ((double)(want - seen) - 0.5) / (double)h->b[i];

            return exp((i + within) * LOG_STEP) / 1000.0; /* in us */
        }
        seen += h->b[i];
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

/* How far x lies beyond the best it can truly be, on the side where the goal is met. */
static double beyond(const BENCH_GOAL *g, double x)
{
    if (isnan(g->bound) || isnan(x))
        return 0;
    return g->at_least ? x - g->bound : g->bound - x;
}

static int meets(const BENCH_GOAL *g, double x)
{
    return g->at_least ? x >= g->goal : x <= g->goal;
}

int bench_judge(const BENCH_GOAL *g, double measured, double cross, const char **why)
{
    double margin = fabs(g->goal - g->bound);

    *why = NULL;
    if (!isnan(cross) && meets(g, cross) != meets(g, measured))
        *why = "the two measures disagree";
    else if (beyond(g, measured) > margin || beyond(g, cross) > margin)
        *why = "beyond what is possible by more than the goal's margin";
    if (*why != NULL)
        return BENCH_UNSURE;
    return meets(g, measured) ? BENCH_PASS : BENCH_MISS;
}
