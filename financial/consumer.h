/* consumer: turns appointment.finished events into billings. One thread
 * (common/worker.h) runs a librdkafka high-level consumer (group
 * KAFKA_GROUP_ID) over batches of messages:
 *   - a valid event: billing_from_event (financial/billing.h) makes its
 *     billing; the batch's billings go to the database in one bulk insert
 *     (a duplicate key means "already billed"), then their offsets are stored;
 *   - a message that can never be billed (intake.h says why) is recorded in
 *     the dead_letters collection (financial/dead_letters.h), then goes to
 *     the dead-letter topic (financial/dlq.h), awaited, then its offset is
 *     stored;
 *   - a database (or dead-letter broker) failure pauses the partitions,
 *     rewinds them to the first message not handled and retries with capped
 *     exponential backoff, storing nothing meanwhile.
 * Stored offsets are committed every second while the group's coordinator is
 * known, and when partitions are revoked: an offset is never committed before
 * its billing is durable, so every event is billed exactly once. The
 * partition table and lag metrics are financial/lag.h's. */
#ifndef CONSUMER_H
#define CONSUMER_H

#include <stddef.h>

#include "buckets.h"
#include "buf.h"
#include "intake.h"
#include "mongo.h"

typedef struct consumer_opts {
    const char *bootstrap;
    const char *topic;     /* source: appointment.finished */
    const char *dlq_topic; /* dead letters: appointment.finished.dlq */
    const char *group_id;
    int session_timeout_ms;
    int retry_max_ms; /* cap of the backoff while paused */
    mongo_db *db;     /* borrowed; outlives the consumer */
    buckets *bk;      /* borrowed; outlives the consumer */
    int batch_max;    /* most messages written in one bulk insert (0: 500) */
    /* Refusals in a row of one billing (the database answers, but not this
     * document) before its message is dead-lettered "refused" (0: 3). */
    int write_attempts_max;
    /* MAX_CONSULTATION_HOURS in ms: a longer consultation's event is
     * dead-lettered too_long, never billed (billing_check_length). */
    int64_t max_consultation_ms;
    /* CURRENCIES: an event in another one is dead-lettered "currency";
     * borrowed, outlives the consumer; NULL accepts any. */
    const intake_currencies *currencies;
    /* The ce_source of the events to bill (EVENT_SOURCE): any other is
     * dead-lettered, never billed (billing_check_origin). */
    const char *event_source;
} consumer_opts;

#define CONSUMER_WRITE_ATTEMPTS_DEFAULT 3

typedef enum consumer_state {
    CONSUMER_STARTING = 0,    /* not in the group yet */
    CONSUMER_RUNNING,         /* consuming its partitions */
    CONSUMER_NOT_ASSIGNED,    /* in the group, with no partition */
    CONSUMER_PAUSED_DB_DOWN,  /* waiting for MongoDB */
    CONSUMER_PAUSED_DLQ_DOWN, /* waiting for the dead-letter topic to take a message */
} consumer_state;

typedef struct consumer consumer;

/* Creates the consumer and the dead-letter producer and subscribes. Does not
 * start consuming. Returns NULL with a reason in err. */
consumer *consumer_new(const consumer_opts *opts, char *err, size_t errlen);
/* Starts the consumer thread. Returns 0 or -1. */
int consumer_start(consumer *c);
/* Asks the consumer thread to stop at shutdown: it finishes the batch in
 * hand, takes no new messages and declines any assignment from now on (a
 * member on its way out must not start on partitions). Returns at once;
 * consumer_free does the rest. NULL is a no-op. Thread-safe. */
void consumer_stop(consumer *c);
/* Stops the thread, commits the stored offsets (when the coordinator is
 * known), leaves the group within 3 s, drops the dead-letter producer's
 * leftovers and frees. Tolerates a half-built consumer (consumer_new's
 * failures end here too). NULL is a no-op. Call from the thread that created
 * it, after the HTTP server is gone. */
void consumer_free(consumer *c);

/* The current state; thread-safe. */
consumer_state consumer_get_state(consumer *c);
/* "starting", "running", "not-assigned", "paused-db-down", "paused-dlq-down". */
const char *consumer_state_name(consumer_state s);
/* Whether a broker answers and both topics exist (each check waits at most
 * timeout_ms). Thread-safe. Returns 0 or -1. */
int consumer_kafka_ready(consumer *c, int timeout_ms);
/* Appends clinic_events_consumed_total, ..., clinic_consumer_lag,
 * clinic_consumer_paused and clinic_consumer_state in Prometheus text.
 * Thread-safe. */
void consumer_render_metrics(consumer *c, buf *out);

#endif
