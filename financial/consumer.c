#include "consumer.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "billing.h"
#include "event.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "money.h"
#include "billing_store.h"
#include "timefmt.h"
#include "trace.h"

#define POLL_MS 100
#define BATCH_MAX_DEFAULT 500
/* How long a shutdown waits to leave the group (SIGTERM to exit: under 5 s
 * even with the broker down). */
#define CLOSE_TIMEOUT_MS 3000
#define CLOSE_TIMEOUT_MS_STR "3000"
#define RETRY_MIN_MS 100
#define SEEK_TIMEOUT_MS 5000
#define DLQ_MESSAGE_TIMEOUT_MS 10000 /* the DLQ producer's message.timeout.ms */
#define LAG_REFRESH_MS 1000
/* Lag needs broker round trips for partitions the consumer is not fetching
 * (paused, idle): each partition at most this often, and no new query once a
 * refresh has spent its budget, so the poll loop never stalls for long even
 * with the broker down. */
#define LAG_QUERY_INTERVAL_MS 2000
#define LAG_QUERY_TIMEOUT_MS 500
#define LAG_QUERY_BUDGET_MS 200
#define OFFSET_NONE (-2) /* the group has no committed offset for the partition */

/* What the consumer knows about one assigned partition, for its lag. */
typedef struct part_info {
    int32_t partition;
    int64_t next;                 /* offset after the last message handled and stored, or -1 */
    int64_t committed;            /* committed offset (queried while idle), OFFSET_NONE, or -1 */
    int64_t lo, hi;               /* last known watermarks, or -1 */
    int64_t lag;                  /* -1: unknown */
    int64_t hi_queried_ms;        /* last watermark query (monotonic) */
    int64_t committed_queried_ms; /* last committed-offset query (monotonic) */
} part_info;

struct consumer {
    consumer_opts opts; /* its strings point at the copies below */
    char *bootstrap;
    char *group_id;
    char *topic;
    char *dlq_topic;
    rd_kafka_t *rk;  /* group consumer; polled by the consumer thread only */
    rd_kafka_t *dlq; /* producer of dead letters (thread-safe, set at start-up) */
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_int state; /* consumer_state */

    /* Consumer thread only (and the closing thread once it has joined it). */
    bool joined;                 /* a first assignment arrived */
    bool closing;                /* consumer_free is leaving the group */
    bool paused;                 /* partitions paused after a failure */
    consumer_state pause_reason; /* CONSUMER_PAUSED_* while paused */
    int64_t backoff_ms;          /* 0 after a success */
    int64_t next_try_ms;         /* monotonic time of the next probe */
    int64_t next_lag_ms;         /* monotonic time of the next lag refresh */
    uint64_t dlq_seq;            /* id of the dead letter being awaited */
    bool dlq_done;               /* its delivery report arrived */
    rd_kafka_resp_err_t dlq_err; /* and said this */

    /* Written by the consumer thread under mu, read by the metrics renderer. */
    pthread_mutex_t mu;
    part_info *parts;
    size_t nparts, capparts;

    metrics_counter consumed;
    metrics_counter billed;
    metrics_counter duplicates;
    metrics_counter dead_lettered;
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
    consumer_state s = c->paused    ? c->pause_reason
                       : !c->joined ? CONSUMER_STARTING
                       : c->nparts  ? CONSUMER_RUNNING
                                    : CONSUMER_NOT_ASSIGNED;
    atomic_store(&c->state, (int)s);
}

/* ---- the partition table ---- */

static part_info *part_find(consumer *c, int32_t partition)
{
    for (size_t i = 0; i < c->nparts; i++)
        if (c->parts[i].partition == partition)
            return &c->parts[i];
    return NULL;
}

static void parts_add(consumer *c, const rd_kafka_topic_partition_list_t *l)
{
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < l->cnt; i++) {
        if (part_find(c, l->elems[i].partition))
            continue;
        if (c->nparts == c->capparts) {
            c->capparts = c->capparts ? c->capparts * 2 : 8;
            c->parts = xrealloc(c->parts, c->capparts * sizeof *c->parts);
        }
        c->parts[c->nparts++] = (part_info){.partition = l->elems[i].partition,
                                            .next = -1,
                                            .committed = -1,
                                            .lo = -1,
                                            .hi = -1,
                                            .lag = -1};
    }
    pthread_mutex_unlock(&c->mu);
}

/* Removes the partitions of l, or all of them when l is NULL. */
static void parts_remove(consumer *c, const rd_kafka_topic_partition_list_t *l)
{
    pthread_mutex_lock(&c->mu);
    if (!l) {
        c->nparts = 0;
    } else {
        for (int i = 0; i < l->cnt; i++) {
            part_info *p = part_find(c, l->elems[i].partition);
            if (p)
                *p = c->parts[--c->nparts];
        }
    }
    pthread_mutex_unlock(&c->mu);
}

/* "0,3,5" */
static void describe(const rd_kafka_topic_partition_list_t *l, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < l->cnt && used + 12 < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%" PRId32, i ? "," : "",
                                 l->elems[i].partition);
}

/* ---- offsets ---- */

/* Commits the offsets stored so far; each one follows a durable billing. */
static void commit_stored(consumer *c, const char *when)
{
    rd_kafka_resp_err_t e = rd_kafka_commit(c->rk, NULL, 0);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("cannot commit offsets; the next owner re-reads from the last commit", "when",
                 when, "error", rd_kafka_err2str(e), NULL);
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
    parts_add(c, parts);
    c->joined = true;
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
 * partitions from the next owner until the close revoked them. An empty assignment is what
 * librdkafka itself answers when a close has no rebalance callback to serve
 * it; the cooperative protocol wants the increment acknowledged, and the
 * close revokes it right after. */
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
     * belong to someone else already; a commit would fail. While closing,
     * the close commits them itself, within its deadline (a synchronous
     * commit here would wait for an absent broker). */
    if (!lost && !c->closing)
        commit_stored(c, "revoke");
    rd_kafka_error_t *error =
        coop ? rd_kafka_incremental_unassign(rk, parts) : error_of(rd_kafka_assign(rk, NULL));
    parts_remove(c, coop ? parts : NULL);
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
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS && (c->closing || atomic_load(&c->stop))) {
        error = decline_assignment(rk, coop, parts, desc);
    } else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        error = take_assignment(c, rk, coop, parts, desc);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        error = give_back(c, rk, coop, parts, desc);
    } else {
        log_error("rebalance failed", "error", rd_kafka_err2str(err), NULL);
        error = error_of(rd_kafka_assign(rk, NULL));
        parts_remove(c, NULL);
    }
    if (error) {
        log_error("cannot apply the assignment", "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    }
    update_state(c);
}

/* ---- pause, rewind, resume ---- */

static void pause_assigned(consumer *c)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
        if (l->cnt > 0)
            rd_kafka_pause_partitions(c->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
}

/* Pauses every assigned partition and moves m's partition back to m, so that
 * m is fetched again on resume. Pause first: it resets the fetch position to
 * after the last message handed out, which the seek then overrides. */
static void rewind_to(consumer *c, const rd_kafka_message_t *m)
{
    pause_assigned(c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, c->topic, m->partition)->offset = m->offset;
    rd_kafka_error_t *error = rd_kafka_seek_partitions(c->rk, l, SEEK_TIMEOUT_MS);
    const char *why = error             ? rd_kafka_error_string(error)
                      : l->elems[0].err ? rd_kafka_err2str(l->elems[0].err)
                                        : NULL;
    if (why) {
        /* Nothing was stored for m, so whoever reads the partition next (us
         * after a re-assignment, or another member) starts at or before it. */
        char part[16], off[24];
        snprintf(part, sizeof part, "%" PRId32, m->partition);
        snprintf(off, sizeof off, "%" PRId64, m->offset);
        log_warn("cannot rewind the partition", "partition", part, "offset", off, "error", why,
                 NULL);
    }
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
    c->next_try_ms = timefmt_mono_ms() + c->backoff_ms;
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

static void resume_assigned(consumer *c)
{
    rd_kafka_topic_partition_list_t *l = NULL;
    if (rd_kafka_assignment(c->rk, &l) == RD_KAFKA_RESP_ERR_NO_ERROR && l) {
        if (l->cnt > 0)
            rd_kafka_resume_partitions(c->rk, l);
        rd_kafka_topic_partition_list_destroy(l);
    }
    c->paused = false;
    update_state(c);
}

/* While paused: checks whether what failed is back, and resumes if so; the
 * message that failed is fetched again and retried. */
static void probe(consumer *c)
{
    if (c->pause_reason == CONSUMER_PAUSED_DB_DOWN) {
        metrics_inc(&c->db_retries);
        bson_error_t err;
        if (mongo_db_ping(c->opts.db, &err) != 0) {
            backoff_grow(c);
            char next[24];
            snprintf(next, sizeof next, "%" PRId64, c->backoff_ms);
            log_warn("database still unavailable; consumption stays paused", "error", err.message,
                     "retry_in_ms", next, NULL);
            return;
        }
    } else {
        metrics_inc(&c->dlq_retries);
        if (kafka_ping(c->dlq, c->dlq_topic, 1000) != 0) {
            backoff_grow(c);
            char next[24];
            snprintf(next, sizeof next, "%" PRId64, c->backoff_ms);
            log_warn("dead-letter topic still unavailable; consumption stays paused", "topic",
                     c->dlq_topic, "retry_in_ms", next, NULL);
            return;
        }
    }
    log_info("resuming consumption", "after", consumer_state_name(c->pause_reason), NULL);
    resume_assigned(c);
}

/* ---- dead letters ---- */

/* The trace ids of m's traceparent header ("" when it has none). */
static void trace_of(const rd_kafka_message_t *m, trace_ids *t)
{
    rd_kafka_headers_t *h = NULL;
    char tp[TRACEPARENT_LEN + 1];
    t->trace_id[0] = t->span_id[0] = '\0';
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        kafka_header_get(h, "traceparent", tp, sizeof tp) == 0)
        trace_parse(tp, strlen(tp), t);
}

/* Runs on the thread that flushes the DLQ producer, once per dead letter. */
static void on_dlq_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    consumer *c = opaque;
    /* A report for an attempt already given up on (flush timed out) is late
     * news: the retry produces the message again. */
    if ((uint64_t)(uintptr_t)m->_private != c->dlq_seq)
        return;
    c->dlq_done = true;
    c->dlq_err = m->err;
}

static rd_kafka_t *dlq_producer_new(consumer *c, char *err, size_t errlen)
{
    kafka_producer_opts po = {
        .bootstrap = c->opts.bootstrap,
        .client_id = "financial-dlq",
        .message_timeout_ms = DLQ_MESSAGE_TIMEOUT_MS,
        .linger_ms = 0,
        .on_delivery = on_dlq_delivery,
        .opaque = c,
    };
    return kafka_producer_new(&po, err, errlen);
}

/* Copies m unchanged (key, value, headers) to the dead-letter topic with
 * dlq_* headers added, and waits for the broker's ack. Returns 0 once the
 * dead letter is durable, -1 if it is not (the caller retries later). */
static int dead_letter(consumer *c, const rd_kafka_message_t *m, const char *reason)
{
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *h = rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR
                                ? rd_kafka_headers_copy(orig)
                                : rd_kafka_headers_new(4);
    char part[16], off[24];
    snprintf(part, sizeof part, "%" PRId32, m->partition);
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    rd_kafka_header_add(h, "dlq_reason", -1, reason, -1);
    rd_kafka_header_add(h, "dlq_source_topic", -1, c->topic, -1);
    rd_kafka_header_add(h, "dlq_source_partition", -1, part, -1);
    rd_kafka_header_add(h, "dlq_source_offset", -1, off, -1);

    c->dlq_seq++;
    c->dlq_done = false;
    c->dlq_err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        c->dlq, RD_KAFKA_V_TOPIC(c->dlq_topic), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)c->dlq_seq), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(h); /* not taken by librdkafka on failure */
    } else {
        /* The delivery report runs inside rd_kafka_poll, on this thread. A
         * shutdown stops the wait: the offset is not stored, so the message
         * is handled again after the restart. */
        int64_t deadline = timefmt_mono_ms() + DLQ_MESSAGE_TIMEOUT_MS + 2000;
        while (!c->dlq_done && timefmt_mono_ms() < deadline && !atomic_load(&c->stop))
            rd_kafka_poll(c->dlq, POLL_MS);
        e = !c->dlq_done ? RD_KAFKA_RESP_ERR__TIMED_OUT : c->dlq_err;
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && atomic_load(&c->stop)) {
        log_info("dead letter not acknowledged at shutdown; handled again after the restart",
                 "partition", part, "offset", off, NULL);
        return -1;
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("cannot dead-letter the message; will retry", "partition", part, "offset", off,
                 "dlq_topic", c->dlq_topic, "error", rd_kafka_err2str(e), NULL);
        return -1;
    }
    metrics_inc(&c->dead_lettered);
    trace_ids t;
    trace_of(m, &t);
    log_warn("message dead-lettered", "reason", reason, "partition", part, "offset", off,
             "dlq_topic", c->dlq_topic, "trace_id", t.trace_id, NULL);
    return 0;
}

/* ---- one message ---- */

typedef enum outcome {
    OUTCOME_BILL = 0, /* a valid event: write its billing */
    OUTCOME_POISON,   /* can never be processed: dead-letter it */
} outcome;

static void billing_of(const event_finished *ev, const billing_amount *amt,
                       const rd_kafka_message_t *m, billing *b)
{
    memset(b, 0, sizeof *b);
    memcpy(b->appointment_id, ev->appointment_id, UUID_STR_LEN);
    memcpy(b->physician_id, ev->physician_id, UUID_STR_LEN);
    memcpy(b->patient_id, ev->patient_id, UUID_STR_LEN);
    b->start_ms = ev->start_ms;
    b->end_ms = ev->end_ms;
    b->billed_hours = amt->hours;
    b->hourly_price_cents = ev->hourly_price_cents;
    b->total_cents = amt->total_cents;
    memcpy(b->currency, ev->currency, EVENT_CURRENCY_LEN);
    rd_kafka_headers_t *h = NULL;
    char id[64];
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        kafka_header_get(h, "ce_id", id, sizeof id) == 0 &&
        uuid_normalize(id, strlen(id), b->event_id) != 0)
        b->event_id[0] = '\0'; /* not a UUID: not worth keeping */
    b->created_ms = timefmt_now_ms();
}

/* Decides what m is: a billing to write (OUTCOME_BILL, *b filled) or a
 * message that can never be processed (OUTCOME_POISON, reason filled). Pure
 * but for reading m. */
static outcome classify(const rd_kafka_message_t *m, billing *b, char *reason, size_t reasonlen)
{
    event_finished ev;
    billing_amount amt;
    if (m->len == 0 || !m->payload) {
        snprintf(reason, reasonlen, "body: empty");
        return OUTCOME_POISON;
    }
    /* A CloudEvents type we do not know is not ours to bill, even if its body
     * looks like one; no ce_type header at all is accepted (plain producers). */
    rd_kafka_headers_t *h = NULL;
    char type[128];
    if (rd_kafka_message_headers(m, &h) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        kafka_header_get(h, "ce_type", type, sizeof type) == 0 && strcmp(type, EVENT_TYPE) != 0) {
        snprintf(reason, reasonlen, "ce_type: expected %s", EVENT_TYPE);
        return OUTCOME_POISON;
    }
    if (event_decode(m->payload, m->len, &ev, reason, reasonlen) != 0)
        return OUTCOME_POISON;
    if (billing_compute(ev.start_ms, ev.end_ms, ev.hourly_price_cents, &amt) != 0) {
        snprintf(reason, reasonlen, "hourly_price_cents: the total does not fit in int64");
        return OUTCOME_POISON;
    }
    billing_of(&ev, &amt, m, b);
    return OUTCOME_BILL;
}

/* Stores the offsets after msgs[from..to), all handled: per partition, the
 * highest one. A partition revoked meanwhile refuses: its next owner reads
 * those events again, and the idempotent write makes that harmless. */
static void store_offsets(consumer *c, rd_kafka_message_t **msgs, size_t from, size_t to)
{
    if (from >= to)
        return;
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
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < l->cnt; i++) {
        rd_kafka_resp_err_t pe = e ? e : l->elems[i].err;
        if (pe != RD_KAFKA_RESP_ERR_NO_ERROR) {
            char part[16];
            snprintf(part, sizeof part, "%" PRId32, l->elems[i].partition);
            log_warn("cannot store the offset", "partition", part, "error", rd_kafka_err2str(pe),
                     NULL);
            continue;
        }
        part_info *p = part_find(c, l->elems[i].partition);
        if (p)
            p->next = l->elems[i].offset;
    }
    pthread_mutex_unlock(&c->mu);
    rd_kafka_topic_partition_list_destroy(l);
}

static void log_billing(const billing *b, const rd_kafka_message_t *m, bool created)
{
    char part[16], off[24];
    snprintf(part, sizeof part, "%" PRId32, m->partition);
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    trace_ids t;
    trace_of(m, &t);
    if (!created) {
        log_info("duplicate event ignored: already billed", "appointment_id", b->appointment_id,
                 "event_id", b->event_id, "partition", part, "offset", off, "trace_id", t.trace_id,
                 "span_id", t.span_id, NULL);
        return;
    }
    char total[MONEY_STR_LEN];
    money_format(b->total_cents, total);
    log_info("billing created", "appointment_id", b->appointment_id, "event_id", b->event_id,
             "total", total, "currency", b->currency, "partition", part, "offset", off, "trace_id",
             t.trace_id, "span_id", t.span_id, NULL);
}

/* Writes the billings of msgs[from..to) (bills[k] came from msgs[at[k]]) in
 * one bulk upsert. Returns 0 once they are durable, -1 if the database did
 * not take them (nothing is stored then; a retry is harmless). */
static int write_billings(consumer *c, rd_kafka_message_t **msgs, const billing *bills,
                          const size_t *at, size_t nbills, bool *created)
{
    if (nbills == 0)
        return 0;
    bson_error_t err;
    if (billing_store_upsert_many(c->opts.db, c->opts.bk, bills, nbills, created, &err) != 0) {
        char count[24];
        snprintf(count, sizeof count, "%zu", nbills);
        log_warn("cannot write the billings; pausing consumption", "count", count,
                 "first_appointment_id", bills[0].appointment_id, "error", err.message, NULL);
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
        if (classify(msgs[i], &bills[nbills], reason, sizeof reason) == OUTCOME_BILL) {
            at[nbills++] = i;
            continue;
        }
        if (write_billings(c, msgs, bills, at, nbills, created) != 0) {
            failure = CONSUMER_PAUSED_DB_DOWN;
            break;
        }
        nbills = 0;
        if (dead_letter(c, msgs[i], reason) != 0) {
            store_offsets(c, msgs, done, i);
            metrics_add(&c->consumed, i - done);
            done = i;
            failure = CONSUMER_PAUSED_DLQ_DOWN;
            break;
        }
        store_offsets(c, msgs, done, i + 1);
        metrics_add(&c->consumed, i + 1 - done);
        done = i + 1;
    }
    if (failure == CONSUMER_RUNNING) {
        if (write_billings(c, msgs, bills, at, nbills, created) == 0) {
            store_offsets(c, msgs, done, n);
            metrics_add(&c->consumed, n - done);
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

/* ---- lag ---- */

/* Queries the broker for p's watermarks, or for the group's committed offset
 * when nothing was consumed yet; at most one of each per interval. */
static void lag_query(consumer *c, part_info *p, bool need_hi, bool need_committed, int64_t now)
{
    if (need_committed && now - p->committed_queried_ms >= LAG_QUERY_INTERVAL_MS) {
        p->committed_queried_ms = now;
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(one, c->topic, p->partition);
        if (rd_kafka_committed(c->rk, one, LAG_QUERY_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            one->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            p->committed = one->elems[0].offset >= 0 ? one->elems[0].offset : OFFSET_NONE;
        rd_kafka_topic_partition_list_destroy(one);
    }
    if (need_hi && now - p->hi_queried_ms >= LAG_QUERY_INTERVAL_MS) {
        p->hi_queried_ms = now;
        int64_t lo = -1, hi = -1;
        if (rd_kafka_query_watermark_offsets(c->rk, c->topic, p->partition, &lo, &hi,
                                             LAG_QUERY_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->lo = lo;
            p->hi = hi;
        }
    }
}

/* Refreshes each assigned partition's lag: high watermark minus the next
 * offset to handle. Consumer thread only. */
static void refresh_lag(consumer *c)
{
    if (c->nparts == 0)
        return;
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new((int)c->nparts);
    for (size_t i = 0; i < c->nparts; i++)
        rd_kafka_topic_partition_list_add(pos, c->topic, c->parts[i].partition);
    rd_kafka_position(c->rk, pos);

    int64_t budget_end = timefmt_mono_ms() + LAG_QUERY_BUDGET_MS;
    for (size_t i = 0; i < c->nparts; i++) {
        part_info p = c->parts[i];
        int64_t lo = -1, hi = -1;
        /* Cached watermarks come with fetch responses: stale while paused. */
        bool fresh = !c->paused &&
                     rd_kafka_get_watermark_offsets(c->rk, c->topic, p.partition, &lo, &hi) ==
                         RD_KAFKA_RESP_ERR_NO_ERROR &&
                     hi >= 0;
        if (fresh) {
            p.lo = lo;
            p.hi = hi;
        }
        int64_t at = pos->elems[i].offset;
        int64_t next = p.next >= 0 ? p.next : at >= 0 ? at : -1;
        /* Nothing consumed since the assignment (idle, or rewound): the
         * group's committed offset is where consumption stands. */
        bool need_committed = next < 0 && p.committed == -1;
        int64_t now = timefmt_mono_ms();
        if ((!fresh || need_committed) && now < budget_end)
            lag_query(c, &p, !fresh, need_committed, now);
        if (next < 0)
            next = p.committed >= 0 ? p.committed : p.committed == OFFSET_NONE ? p.lo : -1;
        p.lag = p.hi >= 0 && next >= 0 ? (p.hi > next ? p.hi - next : 0) : -1;
        pthread_mutex_lock(&c->mu);
        c->parts[i] = p;
        pthread_mutex_unlock(&c->mu);
    }
    rd_kafka_topic_partition_list_destroy(pos);
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

static void *consumer_main(void *arg)
{
    consumer *c = arg;
    size_t max = c->opts.batch_max > 0 ? (size_t)c->opts.batch_max : BATCH_MAX_DEFAULT;
    rd_kafka_message_t **batch = xmalloc(max * sizeof *batch);
    while (!atomic_load(&c->stop)) {
        /* Wait for one message, then take what else is already fetched. */
        size_t n = 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, POLL_MS);
        while (m) {
            if (m->err) {
                on_consume_error(m);
                rd_kafka_message_destroy(m);
            } else if (c->paused) {
                /* Fetched before the pause took effect: not handled now, so
                 * make sure it is fetched again. */
                rewind_to(c, m);
                rd_kafka_message_destroy(m);
            } else {
                batch[n++] = m;
            }
            m = n < max ? rd_kafka_consumer_poll(c->rk, 0) : NULL;
        }
        if (n > 0)
            handle_batch(c, batch, n);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(batch[i]);
        int64_t now = timefmt_mono_ms();
        if (c->paused && now >= c->next_try_ms)
            probe(c);
        if (now >= c->next_lag_ms) {
            refresh_lag(c);
            c->next_lag_ms = timefmt_mono_ms() + LAG_REFRESH_MS;
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
        /* Offsets are stored by hand after each durable billing; librdkafka
         * commits what is stored in the background. */
        kafka_conf_set(conf, "enable.auto.commit", "true", err, errlen) != 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen) != 0 ||
        kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen) != 0 ||
        kafka_conf_set(conf, "session.timeout.ms", session, err, errlen) != 0 ||
        kafka_conf_set(conf, "heartbeat.interval.ms", heartbeat, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_opaque(conf, c);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk) {
        snprintf(err, errlen, "cannot create the Kafka consumer: %s", why);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    conf = NULL; /* rk owns it now */
    /* Everything (rebalances, errors) is served by rd_kafka_consumer_poll. */
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

static void close_group(consumer *c)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(c->rk, q);
    if (error) {
        log_warn("cannot leave the consumer group cleanly", "error", rd_kafka_error_string(error),
                 NULL);
        rd_kafka_error_destroy(error);
    } else {
        int64_t deadline = timefmt_mono_ms() + CLOSE_TIMEOUT_MS;
        while (!rd_kafka_consumer_closed(c->rk) && timefmt_mono_ms() < deadline) {
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
                     "timeout_ms", CLOSE_TIMEOUT_MS_STR, NULL);
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
    atomic_init(&c->stop, false);
    atomic_init(&c->state, (int)CONSUMER_STARTING);
    pthread_mutex_init(&c->mu, NULL);

    c->dlq = dlq_producer_new(c, err, errlen);
    if (!c->dlq)
        goto fail;
    c->rk = group_consumer_new(c, err, errlen);
    if (!c->rk)
        goto fail;
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
    if (c->rk)
        rd_kafka_destroy(c->rk);
    if (c->dlq)
        rd_kafka_destroy(c->dlq);
    pthread_mutex_destroy(&c->mu);
    free(c->group_id);
    free(c->bootstrap);
    free(c->dlq_topic);
    free(c->topic);
    free(c);
    return NULL;
}

int consumer_start(consumer *c)
{
    if (pthread_create(&c->thread, NULL, consumer_main, c) != 0)
        return -1;
    c->started = true;
    return 0;
}

void consumer_stop(consumer *c)
{
    if (c)
        atomic_store(&c->stop, true);
}

void consumer_free(consumer *c)
{
    if (!c)
        return;
    atomic_store(&c->stop, true);
    if (c->started)
        pthread_join(c->thread, NULL);
    /* From here on this thread is the consumer thread. Leave the group in
     * the background and serve its callbacks here for at most
     * CLOSE_TIMEOUT_MS: the close commits the stored offsets (each follows a
     * durable billing) when the broker answers; when it does not, waiting
     * longer would only delay the exit, and what was not committed is billed
     * already, so the next owner's re-reads are absorbed as duplicates. */
    c->closing = true;
    log_info("leaving the consumer group", "group_id", c->group_id, NULL);
    close_group(c);
    rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    /* Each dead letter was awaited before moving on, so anything still queued
     * was given up on (its offset is not stored): drop it. */
    rd_kafka_purge(c->dlq, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(c->dlq, 1000);
    rd_kafka_destroy(c->dlq);
    pthread_mutex_destroy(&c->mu);
    free(c->parts);
    free(c->group_id);
    free(c->bootstrap);
    free(c->dlq_topic);
    free(c->topic);
    free(c);
}

int consumer_kafka_ready(consumer *c, int timeout_ms)
{
    /* Through the producer: on the group consumer's handle, metadata for a
     * topic it does not subscribe to takes ~500 ms to come back. */
    return kafka_ping(c->dlq, c->topic, timeout_ms) == 0 &&
                   kafka_ping(c->dlq, c->dlq_topic, timeout_ms) == 0
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

/* clinic_consumer_assigned_partitions, clinic_consumer_lag and one
 * clinic_consumer_partition_lag sample per partition whose lag is known. */
static void render_lag(consumer *c, buf *out)
{
    static const char per_partition[] = "clinic_consumer_partition_lag";
    buf parts;
    buf_init(&parts);
    int64_t sum = 0;
    size_t n;
    pthread_mutex_lock(&c->mu);
    n = c->nparts;
    for (size_t i = 0; i < c->nparts; i++) {
        const part_info *p = &c->parts[i];
        if (p->lag < 0)
            continue;
        char labels[192];
        snprintf(labels, sizeof labels, "topic=\"%s\",partition=\"%" PRId32 "\"", c->topic,
                 p->partition);
        metrics_sample_i(&parts, per_partition, labels, p->lag);
        sum += p->lag;
    }
    pthread_mutex_unlock(&c->mu);
    metrics_single(out, "clinic_consumer_assigned_partitions", "gauge",
                   "Partitions of the topic assigned to this consumer.", n);
    metrics_single_i(out, "clinic_consumer_lag", "gauge",
                     "Events on the assigned partitions not yet handled (sum of known lags).", sum);
    metrics_family(out, per_partition, "gauge", "Events not yet handled, per assigned partition.");
    if (parts.len)
        buf_append(out, parts.ptr, parts.len);
    buf_free(&parts);
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
                   metrics_get(&c->dead_lettered));
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
    render_lag(c, out);
}
