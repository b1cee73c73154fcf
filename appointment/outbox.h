/* outbox: turns pending outbox entries into Kafka events. Handlers finish
 * an appointment through outbox_finish(), which writes the entry with the
 * finishing update and publishes it right after; the delivery report marks
 * the entry published. A relay re-publishes entries still pending once
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
    int message_timeout_ms;      /* librdkafka delivery timeout */
    int relay_interval_ms;       /* how often the relay looks for due entries */
    int retry_max_ms;            /* cap of the backoff between attempts */
    mongo_db *db;                /* borrowed; outlives the outbox */
    int64_t max_consultation_ms; /* appt_store_finish's max_ms */
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

/* Finishes appointment a through appt_store_finish (same a, end_given, with
 * opts.max_consultation_ms,
 * *out, *outcome and errors), with an entry leased to the in-process producer
 * from now_ms on (the relay leaves it alone until the lease runs out), and
 * when the outcome is APPT_FINISH_DONE enqueues its event. Thread-safe; does
 * not wait for the broker: on a local enqueue failure the entry simply stays
 * pending for the relay. */
int outbox_finish(outbox *ob, const appt *a, bool end_given, int64_t now_ms, appt *out,
                  appt_finish_outcome *outcome, bson_error_t *err);

/* Whether a broker answers and the topic exists (timeout_ms at most). */
int outbox_ready(outbox *ob, int timeout_ms);

/* Appends clinic_events_published_total, ..., clinic_outbox_pending to out. */
void outbox_render_metrics(outbox *ob, buf *out);

/* Builds the event of a finished appointment (pure). */
void outbox_event_of(const appt *a, event_finished *ev);

#endif
