/* pause: after a database or dead-letter failure the consumer pauses its
 * partitions, rewinds them to the first message not handled and probes what
 * failed with capped exponential backoff, storing nothing meanwhile
 * (consumer_internal.h). */
#include "consumer_internal.h"
#include "log.h"
#include "mongo.h"
#include "clock.h"

#define RETRY_MIN_MS 100
#define SEEK_TIMEOUT_MS 5000

/* Pauses (or resumes) every assigned partition. */
static void set_paused(consumer *c, bool pause)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
        if (l->cnt > 0)
            (void)(pause ? rd_kafka_pause_partitions(c->rk, l)
                         : rd_kafka_resume_partitions(c->rk, l));
        rd_kafka_topic_partition_list_destroy(l);
    }
}

/* Pauses every assigned partition and moves m's partition back to m, so that
 * m is fetched again on resume. Pause first: it resets the fetch position to
 * after the last message handed out, which the seek then overrides. */
void pause_rewind_to(consumer *c, const rd_kafka_message_t *m)
{
    set_paused(c, true);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, c->topic, m->partition)->offset = m->offset;
    rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, l, SEEK_TIMEOUT_MS);
    const char *why = error             ? rd_kafka_error_string(error)
                      : l->elems[0].err ? rd_kafka_err2str(l->elems[0].err)
                                        : NULL;
    /* Nothing was stored for m, so whoever reads the partition next (us after
     * a re-assignment, or another member) starts at or before it. */
    if (why)
        log_warn("cannot rewind the partition", LOG_INT("partition", m->partition),
                 LOG_INT("offset", m->offset), "error", why, NULL);
    if (error)
        rd_kafka_error_destroy(error);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Doubles the wait before the next attempt: 100 ms, 200 ms, ... up to
 * retry_max_ms. It only shrinks back after a message is handled. */
static void backoff_grow(consumer *c)
{
    c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : RETRY_MIN_MS;
    if (c->backoff_ms > c->opts.retry_max_ms)
        c->backoff_ms = c->opts.retry_max_ms;
    c->next_try_ms = clock_mono_ms() + c->backoff_ms;
}

/* Pauses, and rewinds each partition of msgs[0..n) to its first message
 * there (the batch holds each partition's messages in order). */
void pause_enter(consumer *c, rd_kafka_message_t **msgs, size_t n, consumer_state reason)
{
    for (size_t i = 0; i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = msgs[j]->partition != msgs[i]->partition;
        if (first)
            pause_rewind_to(c, msgs[i]);
    }
    backoff_grow(c);
    c->paused = true;
    c->pause_reason = reason;
    consumer_update_state(c);
}

/* Whether what the pause waits for answers again. */
static bool pause_cause_is_back(consumer *c)
{
    if (c->pause_reason == CONSUMER_PAUSED_DB_DOWN) {
        metrics_inc(&c->db_retries);
        bson_error_t err;
        if (mongo_db_ping(c->opts.db, &err) == 0)
            return true;
        backoff_grow(c);
        log_warn("database still unavailable; consumption stays paused", "error", err.message,
                 LOG_INT("retry_in_ms", c->backoff_ms), NULL);
        return false;
    }
    metrics_inc(&c->dlq_retries);
    if (dlq_ping(c->dlq, c->dlq_topic, 1000) == 0)
        return true;
    backoff_grow(c);
    log_warn("dead-letter topic still unavailable; consumption stays paused", "topic", c->dlq_topic,
             LOG_INT("retry_in_ms", c->backoff_ms), NULL);
    return false;
}

/* While paused: resumes once what failed is back; the message that failed is
 * fetched again and retried. */
void pause_probe(consumer *c)
{
    if (!pause_cause_is_back(c))
        return;
    log_info("resuming consumption", "after", consumer_state_name(c->pause_reason), NULL);
    set_paused(c, false);
    c->paused = false;
    consumer_update_state(c);
}
