/* consumer_state: the consumer's state, its readiness and its metrics, as
 * /readyz and /metrics show them (consumer.h, consumer_internal.h). */
#include <stdio.h>

#include "consumer_internal.h"

const char *consumer_state_name(consumer_state s)
{
    switch (s) {
    case CONSUMER_RUNNING:
        return "running";
    case CONSUMER_NOT_ASSIGNED:
        return "not-assigned";
    case CONSUMER_PAUSED_DB_DOWN:
        return "paused-db-down";
    case CONSUMER_PAUSED_DLQ_DOWN:
        return "paused-dlq-down";
    case CONSUMER_STARTING:
    default:
        return "starting";
    }
}

consumer_state consumer_get_state(consumer *c)
{
    return (consumer_state)atomic_load(&c->state);
}

void consumer_update_state(consumer *c)
{
    consumer_state s = c->paused           ? c->pause_reason
                       : !c->joined        ? CONSUMER_STARTING
                       : lag_count(c->lag) ? CONSUMER_RUNNING
                                           : CONSUMER_NOT_ASSIGNED;
    atomic_store(&c->state, (int)s);
}

int consumer_kafka_ready(consumer *c, int timeout_ms)
{
    /* Through the dead-letter producer: on the group consumer's handle,
     * metadata for a topic it does not subscribe to takes ~500 ms to come
     * back. */
    return dlq_ping(c->dlq, c->topic, timeout_ms) == 0 &&
                   dlq_ping(c->dlq, c->dlq_topic, timeout_ms) == 0
               ? 0
               : -1;
}

/* The consumer's state as a state set: one sample per state, 1 for the
 * current one, so a dashboard can graph each state without parsing /readyz. */
static void render_state(consumer_state s, buf *out)
{
    static const char name[] = "clinic_consumer_state";
    static const consumer_state all[] = {CONSUMER_STARTING, CONSUMER_RUNNING, CONSUMER_NOT_ASSIGNED,
                                         CONSUMER_PAUSED_DB_DOWN, CONSUMER_PAUSED_DLQ_DOWN};
    metrics_family(out, name, "gauge", "1 for the consumer's current state, 0 for the others.");
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char labels[64];
        snprintf(labels, sizeof labels, "state=\"%s\"", consumer_state_name(all[i]));
        metrics_sample(out, name, labels, all[i] == s ? 1 : 0);
    }
}

void consumer_render_metrics(consumer *c, buf *out)
{
    metrics_single(out, "clinic_events_consumed_total", "counter",
                   "Events handled to the end: billed, duplicate, or dead-lettered.",
                   metrics_get(&c->consumed));
    metrics_single(out, "clinic_billings_created_total", "counter", "Billings written.",
                   metrics_get(&c->billed));
    metrics_single(out, "clinic_duplicates_ignored_total", "counter",
                   "Events for an appointment already billed (redeliveries).",
                   metrics_get(&c->duplicates));
    metrics_single(out, "clinic_events_dead_lettered_total", "counter",
                   "Messages that can never be processed, copied to the dead-letter topic.",
                   dlq_sent(c->dlq));
    metrics_single(out, "clinic_db_retries_total", "counter",
                   "Database probes while consumption was paused for an outage.",
                   metrics_get(&c->db_retries));
    metrics_single(out, "clinic_dlq_retries_total", "counter",
                   "Dead-letter topic probes while consumption was paused for it.",
                   metrics_get(&c->dlq_retries));
    metrics_single(out, "clinic_billings_refused_total", "counter",
                   "Messages dead-lettered because the database refused their billing for good.",
                   metrics_get(&c->refused));

    consumer_state s = consumer_get_state(c);
    bool paused = s == CONSUMER_PAUSED_DB_DOWN || s == CONSUMER_PAUSED_DLQ_DOWN;
    metrics_single(out, "clinic_consumer_paused", "gauge",
                   "1 while consumption is paused until a dependency is back.", paused ? 1 : 0);
    render_state(s, out);
    lag_render(c->lag, out);
}
