#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

const double metrics_bucket_bounds[METRICS_BUCKETS] = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
};

void metrics_observe_us(metrics_histogram *h, uint64_t us)
{
    double s = (double)us / 1e6;
    int i = 0;
    while (i < METRICS_BUCKETS && s > metrics_bucket_bounds[i])
        i++;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_us, us, memory_order_relaxed);
}

void metrics_family(buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void metrics_sample(buf *out, const char *name, const char *labels, uint64_t value)
{
    if (labels && labels[0])
        buf_printf(out, "%s{%s} %" PRIu64 "\n", name, labels, value);
    else
        buf_printf(out, "%s %" PRIu64 "\n", name, value);
}

void metrics_sample_i(buf *out, const char *name, const char *labels, int64_t value)
{
    if (labels && labels[0])
        buf_printf(out, "%s{%s} %" PRId64 "\n", name, labels, value);
    else
        buf_printf(out, "%s %" PRId64 "\n", name, value);
}

/* The shortest of %.15g and %.17g that reads back as the same double:
 * 0.03, not 0.029999999999999999. */
static void format_double(double value, char out[32])
{
    snprintf(out, 32, "%.15g", value);
    if (strtod(out, NULL) != value)
        snprintf(out, 32, "%.17g", value);
}

void metrics_sample_f(buf *out, const char *name, const char *labels, double value)
{
    char v[32];
    format_double(value, v);
    if (labels && labels[0])
        buf_printf(out, "%s{%s} %s\n", name, labels, v);
    else
        buf_printf(out, "%s %s\n", name, v);
}

void metrics_single(buf *out, const char *name, const char *type, const char *help, uint64_t value)
{
    metrics_family(out, name, type, help);
    metrics_sample(out, name, NULL, value);
}

void metrics_single_i(buf *out, const char *name, const char *type, const char *help, int64_t value)
{
    metrics_family(out, name, type, help);
    metrics_sample_i(out, name, NULL, value);
}

void metrics_single_f(buf *out, const char *name, const char *type, const char *help, double value)
{
    metrics_family(out, name, type, help);
    metrics_sample_f(out, name, NULL, value);
}

void metrics_histogram_render(buf *out, const char *name, const char *labels, metrics_histogram *h)
{
    const char *sep = labels && labels[0] ? "," : "";
    const char *lb = labels ? labels : "";
    uint64_t cum = 0;
    for (int i = 0; i <= METRICS_BUCKETS; i++) {
        cum += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < METRICS_BUCKETS)
            buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, lb, sep,
                       metrics_bucket_bounds[i], cum);
        else
            buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, lb, sep, cum);
    }
    uint64_t sum_us = atomic_load_explicit(&h->sum_us, memory_order_relaxed);
    if (lb[0]) {
        buf_printf(out, "%s_sum{%s} %.6f\n", name, lb, (double)sum_us / 1e6);
        buf_printf(out, "%s_count{%s} %" PRIu64 "\n", name, lb, cum);
    } else {
        buf_printf(out, "%s_sum %.6f\n", name, (double)sum_us / 1e6);
        buf_printf(out, "%s_count %" PRIu64 "\n", name, cum);
    }
}
