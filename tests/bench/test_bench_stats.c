/*
 * tk-bench's statistics (bench/bench_stats.c) on numbers known in advance:
 * the medians and latency quantiles its ratios are made of, and the
 * verdicts it prints for the goals of issue 9.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bench.h"

static void median_of_odd_even_and_no_values(void **state)
{
    const double odd[] = { 3, 1, 2 }, even[] = { 4, 1, 3, 2 };

    (void)state;
    assert_true(bench_median(odd, 3) == 2);
    assert_true(bench_median(even, 4) == 2.5);
    assert_true(bench_median(odd, 0) == 0);
}

static BENCH_HIST *hist_new(void)
{
    BENCH_HIST *h = calloc(1, sizeof(*h));

    assert_non_null(h);
    return h;
}

/* |got - want| / want, got in microseconds and want in nanoseconds. */
static double rel_error_us(double got_us, double want_ns)
{
    return fabs(got_us * 1000.0 - want_ns) / want_ns;
}

/*
 * Latencies spread evenly over [lo, lo + 5%) ns: the quartiles and the
 * median come out within 0.05%. A bucket is 0.5% wide, so a quantile read
 * as its bucket's middle is off by up to 0.25%, enough to move a ratio of
 * two medians across 0.97; the spreads here start at several places
 * inside a bucket. (Near the ends of the spread, in a bucket the
 * latencies fill only in part, the reading is off by up to a bucket.)
 */
static void quantiles_are_read_inside_the_bucket(void **state)
{
    static const double starts[] = { 100000, 100130, 100260, 100390, 37000, 412345 };

    (void)state;
    for (size_t s = 0; s < sizeof(starts) / sizeof(starts[0]); s++) {
        BENCH_HIST *h = hist_new();
        const double lo = starts[s], width = lo * 0.05;
        const int n = 20000;

        for (int i = 0; i < n; i++)
            bench_hist_add(h, (uint64_t)(lo + width * (i + 0.5) / n));
        assert_int_equal(h->n, n);
        for (double q = 0.25; q < 0.8; q += 0.25)
            assert_true(rel_error_us(bench_hist_quantile(h, q), lo + width * q) < 0.0005);
        free(h);
    }
}

/* Two histograms merged are read as one; an empty one reads 0. */
static void merged_and_empty_histograms(void **state)
{
    BENCH_HIST *a = hist_new(), *b = hist_new(), *empty = hist_new();

    (void)state;
    for (int i = 0; i < 1000; i++) {
        bench_hist_add(a, 30000);
        bench_hist_add(b, 90000);
    }
    bench_hist_add(b, 90000); /* b has one more: the median is b's */
    bench_hist_merge(a, b);
    assert_int_equal(a->n, 2001);
    assert_true(rel_error_us(bench_hist_quantile(a, 0.5), 90000) < 0.005);
    assert_true(rel_error_us(bench_hist_quantile(a, 0.25), 30000) < 0.005);
    assert_true(bench_hist_quantile(empty, 0.5) == 0);
    free(a);
    free(b);
    free(empty);
}

static int judged(const BENCH_GOAL *g, double measured, double cross)
{
    const char *why;
    int v = bench_judge(g, measured, cross, &why);

    /* A reason exactly when UNSURE. */
    assert_true((v == BENCH_UNSURE) == (why != NULL));
    return v;
}

static const BENCH_GOAL sign = { 0.97, 1, 1.0 }, tls = { 1.1, 0, 0.0 }, cold = { 1.2, 0, 1.0 },
                        other = { 1.14, 1, NAN };

static void verdicts_pass_and_miss(void **state)
{
    (void)state;
    assert_int_equal(judged(&sign, 0.98, 0.985), BENCH_PASS);
    assert_int_equal(judged(&sign, 0.97, NAN), BENCH_PASS);
    assert_int_equal(judged(&sign, 0.969, 0.96), BENCH_MISS);
    assert_int_equal(judged(&tls, 0.9, 0.8), BENCH_PASS);
    assert_int_equal(judged(&tls, 3.1, 2.9), BENCH_MISS);
    assert_int_equal(judged(&cold, 1.19, 1.18), BENCH_PASS);
    assert_int_equal(judged(&cold, 1.35, 1.4), BENCH_MISS);
    assert_int_equal(judged(&other, 1.5, 1.6), BENCH_PASS); /* no bound */
}

static void verdicts_unsure_when_the_measures_disagree(void **state)
{
    (void)state;
    assert_int_equal(judged(&sign, 0.98, 0.96), BENCH_UNSURE);
    assert_int_equal(judged(&sign, 0.96, 0.98), BENCH_UNSURE);
    assert_int_equal(judged(&tls, 1.0, 1.2), BENCH_UNSURE);
    assert_int_equal(judged(&cold, 1.25, 1.15), BENCH_UNSURE);
}

/*
 * Beyond what is possible by more than the goal's margin: tokenkey faster
 * than the raw call it makes by more than 3%, a cold start more than 20%
 * faster than raw PKCS#11, a handshake more than 1.1 C_Signs faster with
 * the token key. Within the margin, the verdict stands.
 */
static void verdicts_unsure_beyond_the_possible(void **state)
{
    (void)state;
    assert_int_equal(judged(&sign, 1.02, 1.01), BENCH_PASS);
    assert_int_equal(judged(&sign, 1.04, 0.99), BENCH_UNSURE);
    assert_int_equal(judged(&sign, 0.99, 1.05), BENCH_UNSURE);
    assert_int_equal(judged(&cold, 0.85, 0.9), BENCH_PASS);
    assert_int_equal(judged(&cold, 0.75, 0.9), BENCH_UNSURE);
    assert_int_equal(judged(&tls, -0.5, 0.2), BENCH_PASS);
    assert_int_equal(judged(&tls, -1.5, 0.2), BENCH_UNSURE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(median_of_odd_even_and_no_values),
        cmocka_unit_test(quantiles_are_read_inside_the_bucket),
        cmocka_unit_test(merged_and_empty_histograms),
        cmocka_unit_test(verdicts_pass_and_miss),
        cmocka_unit_test(verdicts_unsure_when_the_measures_disagree),
        cmocka_unit_test(verdicts_unsure_beyond_the_possible),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
