/* outbox: turns pending outbox entries into Kafka events. Handlers call
 * outbox_publish() right after the finishing update; the delivery report
 * marks the entry published. A relay re-publishes entries still pending once
 * their lease runs out (broker down, process crashed between write and ack),
 * with capped exponential backoff. One background thread polls the producer
 * (delivery reports run there) and runs the relay. */
#ifndef APPOINTMENT_OUTBOX_H
#define APPOINTMENT_OUTBOX_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "mongo.h"
#include "appt_store.h"

typedef struct outbox_opts {
    const char *bootstrap;
    const char *topic;
    int message_timeout_ms; /* librdkafka delivery timeout */
    int relay_interval_ms;  /* how often the relay looks for due entries */
    int retry_max_ms;       /* cap of the backoff between attempts */
    mongo_db *db;           /* borrowed; outlives the outbox */
} outbox_opts;

typedef struct outbox outbox;

/* Creates the producer (acks=all; see kafka_producer_new). Returns NULL with a
 * reason in err. */
outbox *outbox_new(const outbox_opts *opts, char *err, size_t errlen);
/* Starts the poll + relay thread. Returns 0 or -1. */
int outbox_start(outbox *ob);
/* Stops the thread, flushes the producer (up to timeout_ms) and frees. Entries
 * not acknowledged stay pending in MongoDB for the next start. NULL: no-op. */
void outbox_free(outbox *ob, int timeout_ms);

/* The time until which a freshly written entry belongs to the in-process
 * producer: the relay leaves it alone before then. */
int64_t outbox_lease_until(const outbox *ob, int64_t now_ms);

/* Enqueues the event of the finished appointment a. Thread-safe, non-blocking.
 * On a local enqueue failure the entry simply stays pending for the relay. */
void outbox_publish(outbox *ob, const appt *a);

/* Whether a broker answers and the topic exists (timeout_ms at most). */
int outbox_ready(outbox *ob, int timeout_ms);

/* Appends clinic_events_published_total, ..., clinic_outbox_pending to out. */
void outbox_render_metrics(outbox *ob, buf *out);

/* Builds the event of a finished appointment (pure). */
void outbox_event_of(const appt *a, event_finished *ev);

#endif
