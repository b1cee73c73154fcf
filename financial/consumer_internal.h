/* consumer_internal: what the consumer's files share and the rest of the
 * tree must not see (consumer.h is the public interface). The consumer is
 * split by concern:
 *   - consumer.c: the loop, the batch, the offsets and the life cycle;
 *   - group.c: group membership and rebalances (the group consumer's
 *     configuration, assignments, revokes, leaving the group);
 *   - pause.c: pause, rewind and the backoff of the retries;
 *   - consumer_state.c: the state, readiness and the metrics.
 * Unless said otherwise, everything here runs on the consumer thread (or the
 * closing one once it has joined it), the thread that polls the consumer. */
#ifndef CONSUMER_INTERNAL_H
#define CONSUMER_INTERNAL_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "commits.h"
#include "consumer.h"
#include "dlq.h"
#include "lag.h"
#include "metrics.h"
#include "refusals.h"
#include "worker.h"

/* How long one poll waits for a message (or, while leaving, an event). */
#define CONSUMER_POLL_MS 100

struct consumer {
    consumer_opts opts; /* its strings point at the copies below */
    char *bootstrap;
    char *group_id;
    char *topic;
    char *dlq_topic;
    char *event_source;
    rd_kafka_t *rk; /* group consumer; polled by the consumer thread only */
    dlq *dlq;       /* dead letters (the consumer thread only; dlq_ping from any) */
    lag_table *lag; /* the assigned partitions and their lag */
    worker thread;
    atomic_int state; /* consumer_state */

    /* Consumer thread only (and the closing thread once it has joined it). */
    bool joined;                 /* a first assignment arrived */
    bool closing;                /* consumer_free is leaving the group */
    bool paused;                 /* partitions paused after a failure */
    consumer_state pause_reason; /* CONSUMER_PAUSED_* while paused */
    int64_t backoff_ms;          /* 0 after a success */
    int64_t next_try_ms;         /* monotonic time of the next probe */
    int64_t next_lag_ms;         /* monotonic time of the next lag refresh */
    int64_t next_flush_ms;       /* no deferred day-mark write before (after a failure) */
    commits commits;             /* the offsets' commits (commits.h) */
    refusals refusals;           /* billings the database refuses (refusals.h) */

    metrics_counter consumed;
    metrics_counter billed;
    metrics_counter duplicates;
    metrics_counter db_retries;
    metrics_counter dlq_retries;
    metrics_counter refused; /* messages dead-lettered because the database refused them */
};

/* ---- consumer.c: the offsets ---- */

/* librdkafka's statistics callback (the group's coordinator) and the
 * result of an asynchronous commit; both feed c->commits. */
int consumer_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque);
void consumer_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                        rd_kafka_topic_partition_list_t *offsets, void *opaque);

/* ---- group.c: group membership and rebalances ---- */

/* The group consumer of c->opts (group id, session timeout, offsets stored
 * and committed by hand), with its rebalance, statistics and commit
 * callbacks, all served by rd_kafka_consumer_poll. Returns NULL with a
 * reason in err. */
rd_kafka_t *group_consumer_new(consumer *c, char *err, size_t errlen);
/* Leaves the group, committing the stored offsets on the way out when the
 * coordinator is known; waits at most a few seconds. Called by
 * consumer_free once the consumer thread is joined. */
void group_leave(consumer *c);

/* ---- pause.c: pause, rewind, backoff ---- */

/* Pauses every assigned partition and moves m's partition back to m, so
 * that m is fetched again on resume. */
void pause_rewind_to(consumer *c, const rd_kafka_message_t *m);
/* After a failure (reason: CONSUMER_PAUSED_*): pauses, rewinds each
 * partition of msgs[0..n) to its first message there and schedules the
 * first probe. */
void pause_enter(consumer *c, rd_kafka_message_t **msgs, size_t n, consumer_state reason);
/* While paused, once c->next_try_ms is due: resumes if what failed is back,
 * else backs off further. */
void pause_probe(consumer *c);

/* ---- consumer_state.c: state and metrics ---- */

/* Recomputes c->state from the paused / joined flags and the assignment. */
void consumer_update_state(consumer *c);

#endif
