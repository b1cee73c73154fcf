#include "consumer.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "billing.h"
#include "billing_store.h"
#include "clock.h"
#include "commits.h"
#include "dlq.h"
#include "kafka.h"
#include "lag.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "trace.h"
#include "worker.h"

#define POLL_MS 100
#define BATCH_MAX_DEFAULT 500
/* How long a shutdown waits to leave the group (SIGTERM to exit: under 5 s
 * even with the broker down). */
#define CLOSE_TIMEOUT_MS 3000
#define RETRY_MIN_MS 100
#define SEEK_TIMEOUT_MS 5000
#define LAG_REFRESH_MS 1000

struct consumer {
    consumer_opts opts; /* its strings point at the copies below */
    char *bootstrap;
    char *group_id;
    char *topic;
    char *dlq_topic;
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
    commits commits;             /* the offsets' commits (commits.h) */

    metrics_counter consumed;
    metrics_counter billed;
    metrics_counter duplicates;
    metrics_counter db_retries;
    metrics_counter dlq_retries;
};

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

static void update_state(consumer *c)
{
    consumer_state s = c->paused           ? c->pause_reason
                       : !c->joined        ? CONSUMER_STARTING
                       : lag_count(c->lag) ? CONSUMER_RUNNING
                                           : CONSUMER_NOT_ASSIGNED;
    atomic_store(&c->state, (int)s);
}

/* "0,3,5" */
static void describe(const rd_kafka_topic_partition_list_t *l, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < l->cnt && used + 12 < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%d", i ? "," : "",
                                 (int)l->elems[i].partition);
}

/* ---- offsets ---- */

/* librdkafka's statistics (every COMMITS_STATS_INTERVAL_MS, served by the
 * consumer's poll): they show the group's coordinator. The JSON is
 * librdkafka's own, and it frees it (return 0). */
static int on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    consumer *c = opaque;
    commits_stats(&c->commits, json, len, clock_mono_ms());
    return 0;
}

/* The result of an asynchronous commit, served by the consumer's poll. */
static void on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                      rd_kafka_topic_partition_list_t *offsets, void *opaque)
{
    (void)rk;
    (void)offsets;
    consumer *c = opaque;
    commits_result(&c->commits, err, clock_mono_ms());
}

/* Stores the offsets after msgs[from..to), all handled: per partition, the
 * highest one. A partition revoked meanwhile refuses: its next owner reads
 * those events again, and the idempotent write makes that harmless. */
static void store_offsets(consumer *c, rd_kafka_message_t **msgs, size_t from, size_t to)
{
    if (from >= to)
        return;
    metrics_add(&c->consumed, to - from);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)(to - from));
    for (size_t i = from; i < to; i++) {
        rd_kafka_topic_partition_t *tp =
            rd_kafka_topic_partition_list_find(l, c->topic, msgs[i]->partition);
        if (!tp)
            tp = rd_kafka_topic_partition_list_add(l, c->topic, msgs[i]->partition);
        if (msgs[i]->offset + 1 > tp->offset)
            tp->offset = msgs[i]->offset + 1;
    }
    rd_kafka_resp_err_t e = rd_kafka_offsets_store(c->rk, l);
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_resp_err_t pe = e ? e : l->elems[i].err;
        if (pe != RD_KAFKA_RESP_ERR_NO_ERROR) {
            log_warn("cannot store the offset", LOG_INT("partition", l->elems[i].partition),
                     "error", rd_kafka_err2str(pe), NULL);
            continue;
        }
        lag_set_next(c->lag, l->elems[i].partition, l->elems[i].offset);
        commits_stored(&c->commits);
    }
    rd_kafka_topic_partition_list_destroy(l);
}

/* ---- rebalances ---- */

/* The eager calls return a code, the cooperative ones an error object: one
 * shape for both (NULL: no error). */
static rd_kafka_error_t *error_of(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? NULL
                                           : rd_kafka_error_new(e, "%s", rd_kafka_err2str(e));
}

/* Takes the partitions the group handed us. */
static rd_kafka_error_t *take_assignment(consumer *c, rd_kafka_t *rk, bool coop,
                                         rd_kafka_topic_partition_list_t *parts, const char *desc)
{
    log_info("partitions assigned", "partitions", desc, "protocol", coop ? "cooperative" : "eager",
             NULL);
    rd_kafka_error_t *error =
        coop ? rd_kafka_incremental_assign(rk, parts) : error_of(rd_kafka_assign(rk, parts));
    lag_add(c->lag, parts);
    c->joined = true;
    commits_seen(&c->commits, true, clock_mono_ms());
    /* While the database is down, new partitions wait too. */
    if (c->paused && parts->cnt > 0)
        rd_kafka_pause_partitions(rk, parts);
    return error;
}

/* An assignment that arrives once shutdown began (SIGTERM came before the
 * first join completed, or during a rebalance) is not taken: nothing would
 * consume it. Taking it logged "partitions assigned" after "shutting down"
 * for a member on its way out (so one partition set showed up assigned
 * twice in a row across a restart), started fetchers, and kept the
 * partitions from the next owner until the close revoked them. An empty
 * assignment is what librdkafka itself answers when a close has no rebalance
 * callback to serve it; the cooperative protocol wants the increment
 * acknowledged, and the close revokes it right after. */
static rd_kafka_error_t *decline_assignment(rd_kafka_t *rk, bool coop,
                                            rd_kafka_topic_partition_list_t *parts,
                                            const char *desc)
{
    log_debug("assignment declined: leaving the group", "partitions", desc, NULL);
    return coop ? rd_kafka_incremental_assign(rk, parts) : error_of(rd_kafka_assign(rk, NULL));
}

/* Gives back revoked (or lost) partitions. */
static rd_kafka_error_t *give_back(consumer *c, rd_kafka_t *rk, bool coop,
                                   rd_kafka_topic_partition_list_t *parts, const char *desc)
{
    bool lost = rd_kafka_assignment_lost(rk);
    log_info("partitions revoked", "partitions", desc, "lost", lost ? "true" : "false", NULL);
    /* Hand over exactly what is billed: the stored offsets. Lost partitions
     * belong to someone else already; a commit would fail. */
    if (!lost)
        commits_before_revoke(&c->commits, !c->closing);
    rd_kafka_error_t *error =
        coop ? rd_kafka_incremental_unassign(rk, parts) : error_of(rd_kafka_assign(rk, NULL));
    lag_remove(c->lag, coop ? parts : NULL);
    return error;
}

/* Runs on the thread that polls (the consumer thread, or the closing one). */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    consumer *c = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    char desc[256];
    describe(parts, desc, sizeof desc);
    rd_kafka_error_t *error;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS &&
        (c->closing || worker_stopping(&c->thread))) {
        error = decline_assignment(rk, coop, parts, desc);
    } else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        error = take_assignment(c, rk, coop, parts, desc);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        error = give_back(c, rk, coop, parts, desc);
    } else {
        log_error("rebalance failed", "error", rd_kafka_err2str(err), NULL);
        error = error_of(rd_kafka_assign(rk, NULL));
        lag_remove(c->lag, NULL);
    }
    if (error) {
        log_error("cannot apply the assignment", "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    }
    update_state(c);
}

/* ---- pause, rewind, resume ---- */

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
static void rewind_to(consumer *c, const rd_kafka_message_t *m)
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
static void enter_pause(consumer *c, rd_kafka_message_t **msgs, size_t n, consumer_state reason)
{
    for (size_t i = 0; i < n; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            first = msgs[j]->partition != msgs[i]->partition;
        if (first)
            rewind_to(c, msgs[i]);
    }
    backoff_grow(c);
    c->paused = true;
    c->pause_reason = reason;
    update_state(c);
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
static void probe(consumer *c)
{
    if (!pause_cause_is_back(c))
        return;
    log_info("resuming consumption", "after", consumer_state_name(c->pause_reason), NULL);
    set_paused(c, false);
    c->paused = false;
    update_state(c);
}

/* ---- one batch ---- */

/* The billing m makes (0), or -1 with the reason m can never be billed. */
static int billing_of_message(const rd_kafka_message_t *m, billing *b, char *reason,
                              size_t reasonlen)
{
    char type[128], id[64];
    bool has_type = kafka_message_header(m, "ce_type", type, sizeof type) == 0;
    bool has_id = kafka_message_header(m, "ce_id", id, sizeof id) == 0;
    return billing_from_event(m->payload, m->payload ? m->len : 0, has_type ? type : NULL,
                              has_id ? id : NULL, clock_now_ms(), b, reason, reasonlen);
}

static void log_billing(const billing *b, const rd_kafka_message_t *m, bool created)
{
    trace_ids t;
    kafka_message_trace(m, &t);
    if (!created) {
        log_info("duplicate event ignored: already billed", "appointment_id",
                 b->event.appointment_id, "event_id", b->event_id,
                 LOG_INT("partition", m->partition), LOG_INT("offset", m->offset), "trace_id",
                 t.trace_id, "span_id", t.span_id, NULL);
        return;
    }
    char total[MONEY_STR_LEN];
    money_format(b->total_cents, total);
    log_info("billing created", "appointment_id", b->event.appointment_id, "event_id", b->event_id,
             "total", total, "currency", b->event.currency, LOG_INT("partition", m->partition),
             LOG_INT("offset", m->offset), "trace_id", t.trace_id, "span_id", t.span_id, NULL);
}

/* Writes the billings of a batch (bills[k] came from msgs[at[k]]) in one bulk
 * insert. Returns 0 once they are durable, -1 if the database did not take
 * them (nothing is stored then; a retry is harmless). */
static int write_billings(consumer *c, rd_kafka_message_t **msgs, const billing *bills,
                          const size_t *at, size_t nbills, bool *created)
{
    if (nbills == 0)
        return 0;
    bson_error_t err;
    if (billing_store_insert_many(c->opts.db, c->opts.bk, bills, nbills, created, &err) != 0) {
        log_warn("cannot write the billings; pausing consumption", LOG_INT("count", nbills),
                 "first_appointment_id", bills[0].event.appointment_id, "error", err.message, NULL);
        return -1;
    }
    for (size_t k = 0; k < nbills; k++) {
        metrics_inc(created[k] ? &c->billed : &c->duplicates);
        log_billing(&bills[k], msgs[at[k]], created[k]);
    }
    return 0;
}

/* Handles one polled batch in order. Billings accumulate and go to the
 * database in one bulk write; a poison message first flushes what came
 * before it, then goes to the dead-letter topic alone, so offsets are stored
 * only ever after everything before them is durable. On a failure the
 * partitions pause and rewind to the first message not handled. */
static void handle_batch(consumer *c, rd_kafka_message_t **msgs, size_t n)
{
    billing *bills = xmalloc(n * sizeof *bills);
    size_t *at = xmalloc(n * sizeof *at);
    bool *created = xmalloc(n * sizeof *created);
    size_t nbills = 0, done = 0; /* msgs[0..done) are handled and stored */
    consumer_state failure = CONSUMER_RUNNING;
    for (size_t i = 0; i < n && failure == CONSUMER_RUNNING; i++) {
        char reason[256];
        if (billing_of_message(msgs[i], &bills[nbills], reason, sizeof reason) == 0) {
            at[nbills++] = i;
            continue;
        }
        if (write_billings(c, msgs, bills, at, nbills, created) != 0) {
            failure = CONSUMER_PAUSED_DB_DOWN;
            break;
        }
        nbills = 0;
        bool sent = dlq_send(c->dlq, msgs[i], c->topic, reason, &c->thread) == 0;
        store_offsets(c, msgs, done, sent ? i + 1 : i);
        done = sent ? i + 1 : i;
        if (!sent)
            failure = CONSUMER_PAUSED_DLQ_DOWN;
    }
    if (failure == CONSUMER_RUNNING) {
        if (write_billings(c, msgs, bills, at, nbills, created) == 0) {
            store_offsets(c, msgs, done, n);
            done = n;
            c->backoff_ms = 0;
        } else {
            failure = CONSUMER_PAUSED_DB_DOWN;
        }
    }
    if (failure != CONSUMER_RUNNING)
        enter_pause(c, msgs + done, n - done, failure);
    free(created);
    free(at);
    free(bills);
}

/* ---- the thread ---- */

static void on_consume_error(const rd_kafka_message_t *m)
{
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
        return;
    /* Mostly informational: librdkafka recovers by itself. */
    log_warn("consumer error", "error", rd_kafka_message_errstr(m), "code",
             rd_kafka_err2name(m->err), NULL);
}

/* Waits for one message, then takes what else is already fetched, up to
 * max. Returns how many are in batch. */
static size_t poll_batch(consumer *c, rd_kafka_message_t **batch, size_t max)
{
    size_t n = 0;
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, POLL_MS);
    while (m) {
        if (m->err) {
            on_consume_error(m);
            rd_kafka_message_destroy(m);
        } else if (c->paused) {
            /* Fetched before the pause took effect: not handled now, so make
             * sure it is fetched again. */
            rewind_to(c, m);
            rd_kafka_message_destroy(m);
        } else {
            batch[n++] = m;
        }
        m = n < max ? rd_kafka_consumer_poll(c->rk, 0) : NULL;
    }
    return n;
}

static void *consumer_main(void *arg)
{
    consumer *c = arg;
    size_t max = c->opts.batch_max > 0 ? (size_t)c->opts.batch_max : BATCH_MAX_DEFAULT;
    rd_kafka_message_t **batch = xmalloc(max * sizeof *batch);
    while (!worker_stopping(&c->thread)) {
        size_t n = poll_batch(c, batch, max);
        if (n > 0)
            handle_batch(c, batch, n);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(batch[i]);
        commits_if_due(&c->commits);
        int64_t now = clock_mono_ms();
        if (c->paused && now >= c->next_try_ms)
            probe(c);
        if (now >= c->next_lag_ms) {
            lag_refresh(c->lag, c->rk, c->paused, commits_coordinator_up(&c->commits, now));
            c->next_lag_ms = clock_mono_ms() + LAG_REFRESH_MS;
        }
    }
    free(batch);
    return NULL;
}

/* ---- life cycle ---- */

static rd_kafka_t *group_consumer_new(consumer *c, char *err, size_t errlen)
{
    char session[16], heartbeat[16];
    snprintf(session, sizeof session, "%d", c->opts.session_timeout_ms);
    /* The broker wants heartbeats well inside the session timeout. */
    snprintf(heartbeat, sizeof heartbeat, "%d",
             c->opts.session_timeout_ms / 3 > 100 ? c->opts.session_timeout_ms / 3 : 100);
    rd_kafka_conf_t *conf = kafka_conf_new(c->opts.bootstrap, "financial", err, errlen);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "group.id", c->opts.group_id, err, errlen) != 0 ||
        /* Offsets are stored by hand after each durable billing, and
         * committed by commits_if_due. */
        kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) != 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen) != 0 ||
        kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen) != 0 ||
        kafka_conf_set(conf, "session.timeout.ms", session, err, errlen) != 0 ||
        kafka_conf_set(conf, "heartbeat.interval.ms", heartbeat, err, errlen) != 0 ||
        kafka_conf_set(conf, "statistics.interval.ms", COMMITS_STATS_INTERVAL_MS, err, errlen) !=
            0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, on_commit);
    rd_kafka_conf_set_stats_cb(conf, on_stats);
    rd_kafka_conf_set_opaque(conf, c);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk) {
        snprintf(err, errlen, "cannot create the Kafka consumer: %s", why);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* Everything (rebalances, errors, statistics, commit results) is served
     * by rd_kafka_consumer_poll. */
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Leaves the group in the background and serves its callbacks here for at
 * most CLOSE_TIMEOUT_MS: the revoke commits the stored offsets when the
 * coordinator is known; when the broker does not answer, waiting longer would
 * only delay the exit, and what was not committed is billed already, so the
 * next owner's re-reads are absorbed as duplicates. */
static void close_group(consumer *c)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(c->rk, q);
    if (error) {
        log_warn("cannot leave the consumer group cleanly", "error", rd_kafka_error_string(error),
                 NULL);
        rd_kafka_error_destroy(error);
    } else {
        int64_t deadline = clock_mono_ms() + CLOSE_TIMEOUT_MS;
        while (!rd_kafka_consumer_closed(c->rk) && clock_mono_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, POLL_MS);
            if (!ev)
                continue;
            /* The revoke arrives here as an event: apply it through the
             * rebalance callback's logic. */
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
                rd_kafka_topic_partition_list_t *parts = rd_kafka_event_topic_partition_list(ev);
                on_rebalance(c->rk, rd_kafka_event_error(ev), parts, c);
            }
            rd_kafka_event_destroy(ev);
        }
        if (!rd_kafka_consumer_closed(c->rk))
            log_warn("left the consumer group without the broker's answer (timed out)",
                     LOG_INT("timeout_ms", CLOSE_TIMEOUT_MS), NULL);
    }
    rd_kafka_queue_destroy(q);
}

consumer *consumer_new(const consumer_opts *opts, char *err, size_t errlen)
{
    consumer *c = xcalloc(1, sizeof *c);
    c->opts = *opts;
    /* Own copies: the caller's strings need not outlive this call. */
    c->bootstrap = xstrdup(opts->bootstrap);
    c->group_id = xstrdup(opts->group_id);
    c->topic = xstrdup(opts->topic);
    c->dlq_topic = xstrdup(opts->dlq_topic);
    c->opts.bootstrap = c->bootstrap;
    c->opts.group_id = c->group_id;
    c->opts.topic = c->topic;
    c->opts.dlq_topic = c->dlq_topic;
    worker_init(&c->thread);
    atomic_init(&c->state, (int)CONSUMER_STARTING);
    c->lag = lag_table_new(c->topic);

    c->dlq = dlq_new(c->bootstrap, c->dlq_topic, err, errlen);
    if (!c->dlq)
        goto fail;
    c->rk = group_consumer_new(c, err, errlen);
    if (!c->rk)
        goto fail;
    commits_init(&c->commits, c->rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, c->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c->rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        snprintf(err, errlen, "cannot subscribe to %s: %s", c->topic, rd_kafka_err2str(e));
        goto fail;
    }
    return c;

fail:
    consumer_free(c);
    return NULL;
}

int consumer_start(consumer *c)
{
    return worker_start(&c->thread, consumer_main, c);
}

void consumer_stop(consumer *c)
{
    if (c)
        worker_request_stop(&c->thread);
}

void consumer_free(consumer *c)
{
    if (!c)
        return;
    worker_join(&c->thread);
    /* From here on this thread is the consumer thread. */
    if (c->rk) {
        c->closing = true;
        log_info("leaving the consumer group", "group_id", c->group_id, NULL);
        close_group(c);
        rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    dlq_free(c->dlq);
    lag_table_free(c->lag);
    free(c->group_id);
    free(c->bootstrap);
    free(c->dlq_topic);
    free(c->topic);
    free(c);
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

    consumer_state s = consumer_get_state(c);
    bool paused = s == CONSUMER_PAUSED_DB_DOWN || s == CONSUMER_PAUSED_DLQ_DOWN;
    metrics_single(out, "clinic_consumer_paused", "gauge",
                   "1 while consumption is paused until a dependency is back.", paused ? 1 : 0);
    render_state(s, out);
    lag_render(c->lag, out);
}
