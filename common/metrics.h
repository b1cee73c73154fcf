/* metrics: lock-free counters and latency histograms, rendered as Prometheus
 * text (exposition format 0.0.4). Counters may be bumped from any thread;
 * rendering reads them without locks (values may be a moment apart). */
#ifndef COMMON_METRICS_H
#define COMMON_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "buf.h"

typedef struct metrics_counter {
    atomic_uint_fast64_t value;
} metrics_counter;

/* Upper bounds of the latency buckets, in seconds (the last is +Inf). */
#define METRICS_BUCKETS 12
extern const double metrics_bucket_bounds[METRICS_BUCKETS];

typedef struct metrics_histogram {
    atomic_uint_fast64_t buckets[METRICS_BUCKETS + 1]; /* non-cumulative; [12] = +Inf */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
} metrics_histogram;

static inline void metrics_inc(metrics_counter *c)
{
    atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
}
static inline void metrics_add(metrics_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}
static inline uint64_t metrics_get(metrics_counter *c)
{
    return atomic_load_explicit(&c->value, memory_order_relaxed);
}

void metrics_observe_us(metrics_histogram *h, uint64_t us);

/* Writes "# HELP name help\n# TYPE name type\n". A family's samples follow
 * it, each with the same name: keep the name in one variable so it is written
 * once in the code. */
void metrics_family(buf *out, const char *name, const char *type, const char *help);
/* Writes "name{labels} value\n" (labels may be NULL or ""). */
void metrics_sample(buf *out, const char *name, const char *labels, uint64_t value);
void metrics_sample_i(buf *out, const char *name, const char *labels, int64_t value);
void metrics_sample_f(buf *out, const char *name, const char *labels, double value);

/* A whole family of one unlabelled sample: HELP, TYPE and "name value". type
 * is "counter" or "gauge". */
void metrics_single(buf *out, const char *name, const char *type, const char *help, uint64_t value);
void metrics_single_i(buf *out, const char *name, const char *type, const char *help,
                      int64_t value);
void metrics_single_f(buf *out, const char *name, const char *type, const char *help, double value);
/* Writes the _bucket/_sum/_count lines of one histogram series. */
void metrics_histogram_render(buf *out, const char *name, const char *labels, metrics_histogram *h);

#endif
