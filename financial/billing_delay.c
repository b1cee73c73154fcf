#include "billing_delay.h"

#include <stdatomic.h>
#include <stdio.h>

#include "metrics.h"

/* Upper bounds in seconds: from the consumer's usual second or so to the
 * days a dead letter may wait for an operator. */
static const double bounds[] = {1, 5, 15, 60, 300, 900, 3600, 21600, 86400, 604800};
#define NBOUNDS (sizeof bounds / sizeof bounds[0])

static atomic_uint_fast64_t counts[NBOUNDS + 1]; /* non-cumulative; [NBOUNDS] = +Inf */
static atomic_uint_fast64_t total;
static atomic_uint_fast64_t sum_ms;

void billing_delay_observe(int64_t end_ms, int64_t billed_ms)
{
    int64_t d = billed_ms > end_ms ? billed_ms - end_ms : 0;
    size_t i = 0;
    while (i < NBOUNDS && (double)d / 1000.0 > bounds[i])
        i++;
    atomic_fetch_add_explicit(&counts[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&total, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&sum_ms, (uint64_t)d, memory_order_relaxed);
}

void billing_delay_render(buf *out)
{
    static const char name[] = "clinic_billing_delay_seconds";
    metrics_family(out, name, "histogram",
                   "Seconds from a consultation's end_date to its billing being written");
    char metric[64], le[32];
    snprintf(metric, sizeof metric, "%s_bucket", name);
    uint64_t cum = 0;
    for (size_t i = 0; i <= NBOUNDS; i++) {
        cum += atomic_load_explicit(&counts[i], memory_order_relaxed);
        if (i < NBOUNDS)
            snprintf(le, sizeof le, "le=\"%g\"", bounds[i]);
        else
            snprintf(le, sizeof le, "le=\"+Inf\"");
        metrics_sample(out, metric, le, cum);
    }
    snprintf(metric, sizeof metric, "%s_sum", name);
    metrics_sample_f(out, metric, NULL,
                     (double)atomic_load_explicit(&sum_ms, memory_order_relaxed) / 1000.0);
    snprintf(metric, sizeof metric, "%s_count", name);
    metrics_sample(out, metric, NULL, atomic_load_explicit(&total, memory_order_relaxed));
}
