/* consumer: the loop, the batch, the offsets and the life cycle of the
 * consumer (consumer.h); group membership is group.c's, pause and retry
 * pause.c's, the state and metrics consumer_state.c's (consumer_internal.h). */
#include "consumer.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "billing.h"
#include "billing_delay.h"
#include "billing_store.h"
#include "consumer_internal.h"
#include "day_totals.h"
#include "dead_letters.h"
#include "kafka.h"
#include "log.h"
#include "money.h"
#include "mongo.h"
#include "refusals.h"
#include "clock.h"
#include "trace.h"

#define BATCH_MAX_DEFAULT 500
#define LAG_REFRESH_MS 1000

/* ---- offsets ---- */

/* librdkafka's statistics (every COMMITS_STATS_INTERVAL_MS, served by the
 * consumer's poll): they show the group's coordinator. The JSON is
 * librdkafka's own, and it frees it (return 0). */
int consumer_on_stats(rd_kafka_t *rk, char *json, size_t len, void *opaque)
{
    (void)rk;
    consumer *c = opaque;
    commits_stats(&c->commits, json, len, clock_mono_ms());
    return 0;
}

/* The result of an asynchronous commit, served by the consumer's poll. */
void consumer_on_commit(rd_kafka_t *rk, rd_kafka_resp_err_t err,
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

/* ---- one batch ---- */

/* The billing m makes (0), or -1 with why and the detail of why m can never
 * be billed: intake_judge, which a replay of a dead letter runs too. */
static int billing_of_message(const consumer *c, const rd_kafka_message_t *m, billing *b,
                              intake_reason *why, char *reason, size_t reasonlen)
{
    char type[128], id[64], source[256];
    bool has_type = kafka_message_header(m, "ce_type", type, sizeof type) == 0;
    bool has_id = kafka_message_header(m, "ce_id", id, sizeof id) == 0;
    bool has_source = kafka_message_header(m, "ce_source", source, sizeof source) == 0;
    intake_message in = {m->payload, m->payload ? m->len : 0, has_type ? type : NULL,
                         has_id ? id : NULL, has_source ? source : NULL};
    intake_rules rules = {c->opts.currencies, c->opts.event_source, c->opts.max_consultation_ms};
    return intake_judge(&in, &rules, clock_now_ms(), b, why, reason, reasonlen);
}

/* Dead-letters m: first its record in the dead_letters collection
 * (dead_letters.h), then its copy on the topic. CONSUMER_RUNNING once both
 * are durable, else what to wait for. */
static consumer_state dead_letter_send(consumer *c, const rd_kafka_message_t *m, intake_reason why,
                                       const char *reason)
{
    bson_error_t err;
    if (dead_letters_put(c->opts.db, m, c->topic, why, reason, clock_now_ms(), &err) != 0) {
        log_warn("cannot record the dead letter; pausing consumption",
                 LOG_INT("partition", m->partition), LOG_INT("offset", m->offset), "error",
                 err.message, NULL);
        return CONSUMER_PAUSED_DB_DOWN;
    }
    if (dlq_send(c->dlq, m, c->topic, reason, &c->thread) != 0)
        return CONSUMER_PAUSED_DLQ_DOWN;
    return CONSUMER_RUNNING;
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

/* What one flush of a batch's billings needs: bills[k] came from msgs[at[k]];
 * created[k] and refused[k] (with why[k]) are what the write made of it. */
typedef struct pending {
    billing *bills;
    size_t *at;
    bool *created;
    bool *refused;
    char (*why)[DLQ_REASON_LEN];
    size_t n;
} pending;

/* Writes p's billings one at a time, after their bulk write failed with an
 * error that is no outage: the billings the database takes are written, and
 * one it refuses is given up on (refused[k], to be dead-lettered) once
 * refusals_note says so. Returns 0, or -1 to pause and retry (an outage, or
 * a refusal not given up on yet). */
static int write_one_by_one(consumer *c, rd_kafka_message_t **msgs, pending *p)
{
    for (size_t k = 0; k < p->n; k++) {
        const rd_kafka_message_t *m = msgs[p->at[k]];
        bson_error_t err;
        if (billing_store_insert_many(c->opts.db, c->opts.bk, &p->bills[k], 1, &p->created[k],
                                      &err) == 0) {
            refusals_done(&c->refusals, m->partition, m->offset);
            continue;
        }
        if (mongo_error_is_unavailable(&err)) {
            log_warn("cannot write the billing; pausing consumption", "appointment_id",
                     p->bills[k].event.appointment_id, "error", err.message, NULL);
            return -1;
        }
        bool permanent = mongo_error_is_permanent(&err);
        if (!refusals_note(&c->refusals, m->partition, m->offset, permanent)) {
            log_warn("the database refused the billing; retrying after a pause", "appointment_id",
                     p->bills[k].event.appointment_id, LOG_INT("partition", m->partition),
                     LOG_INT("offset", m->offset), LOG_INT("refusals", c->refusals.count),
                     LOG_INT("max", c->refusals.max), "error", err.message, NULL);
            return -1;
        }
        refusals_done(&c->refusals, m->partition, m->offset);
        p->refused[k] = true;
        /* The reason is a header: the database's words, cut to fit. */
        int len = snprintf(
            p->why[k], sizeof p->why[k],
            "refused: the database refused the billing%s: ", permanent ? "" : " on every try");
        size_t used = len > 0 ? (size_t)len : 0;
        if (used < sizeof p->why[k])
            memcpy(p->why[k] + used, err.message,
                   strnlen(err.message, sizeof p->why[k] - used - 1) + 1);
        p->why[k][sizeof p->why[k] - 1] = '\0';
        log_warn("the database refused the billing; dead-lettering its message", "appointment_id",
                 p->bills[k].event.appointment_id, LOG_INT("partition", m->partition),
                 LOG_INT("offset", m->offset), "error", err.message, NULL);
    }
    return 0;
}

/* Writes p's billings in one bulk insert. An outage pauses; any other
 * failure (the database answers but refuses something) writes them one by
 * one, so that one document the database refuses cannot hold up the rest.
 * Returns 0 once every billing not refused is durable, -1 if the database
 * did not take them (nothing is stored then; a retry is harmless). */
static int write_billings(consumer *c, rd_kafka_message_t **msgs, pending *p)
{
    if (p->n == 0)
        return 0;
    for (size_t k = 0; k < p->n; k++)
        p->refused[k] = false;
    bson_error_t err;
    if (billing_store_insert_many(c->opts.db, c->opts.bk, p->bills, p->n, p->created, &err) != 0) {
        if (mongo_error_is_unavailable(&err)) {
            log_warn("cannot write the billings; pausing consumption", LOG_INT("count", p->n),
                     "first_appointment_id", p->bills[0].event.appointment_id, "error", err.message,
                     NULL);
            return -1;
        }
        log_warn("the database refused the bulk write; writing its billings one by one",
                 LOG_INT("count", p->n), "error", err.message, NULL);
        if (write_one_by_one(c, msgs, p) != 0)
            return -1;
    }
    for (size_t k = 0; k < p->n; k++) {
        if (p->refused[k])
            continue;
        metrics_inc(p->created[k] ? &c->billed : &c->duplicates);
        if (p->created[k])
            billing_delay_observe(p->bills[k].event.end_ms, clock_now_ms());
        log_billing(&p->bills[k], msgs[p->at[k]], p->created[k]);
    }
    return 0;
}

/* Dead-letters, in order, the messages of p's refused billings, storing the
 * offsets of the messages before each one first. *done is the first message
 * not handled. Returns CONSUMER_RUNNING, or what did not take one (*done
 * then is that message). */
static consumer_state dead_letter_refused(consumer *c, rd_kafka_message_t **msgs, const pending *p,
                                          size_t *done)
{
    for (size_t k = 0; k < p->n; k++) {
        if (!p->refused[k])
            continue;
        size_t i = p->at[k];
        store_offsets(c, msgs, *done, i);
        *done = i;
        consumer_state failure = dead_letter_send(c, msgs[i], INTAKE_REFUSED, p->why[k]);
        if (failure != CONSUMER_RUNNING)
            return failure;
        metrics_inc(&c->refused);
        store_offsets(c, msgs, i, i + 1);
        *done = i + 1;
    }
    return CONSUMER_RUNNING;
}

/* Writes p's billings, dead-letters the refused ones, and empties p. */
static consumer_state flush(consumer *c, rd_kafka_message_t **msgs, pending *p, size_t *done)
{
    consumer_state failure = CONSUMER_RUNNING;
    if (write_billings(c, msgs, p) != 0)
        failure = CONSUMER_PAUSED_DB_DOWN;
    else
        failure = dead_letter_refused(c, msgs, p, done);
    p->n = 0;
    return failure;
}

/* Handles one polled batch in order. Billings accumulate and go to the
 * database in one bulk write; a poison message first flushes what came
 * before it, then goes to the dead-letter topic alone, so offsets are stored
 * only ever after everything before them is durable. On a failure the
 * partitions pause and rewind to the first message not handled. */
static void handle_batch(consumer *c, rd_kafka_message_t **msgs, size_t n)
{
    pending p = {
        .bills = xmalloc(n * sizeof *p.bills),
        .at = xmalloc(n * sizeof *p.at),
        .created = xmalloc(n * sizeof *p.created),
        .refused = xmalloc(n * sizeof *p.refused),
        .why = xmalloc(n * sizeof *p.why),
    };
    size_t done = 0; /* msgs[0..done) are handled and stored */
    consumer_state failure = CONSUMER_RUNNING;
    for (size_t i = 0; i < n && failure == CONSUMER_RUNNING; i++) {
        char reason[DLQ_REASON_LEN];
        intake_reason why;
        if (billing_of_message(c, msgs[i], &p.bills[p.n], &why, reason, sizeof reason) == 0) {
            p.at[p.n++] = i;
            continue;
        }
        failure = flush(c, msgs, &p, &done);
        if (failure != CONSUMER_RUNNING)
            break;
        store_offsets(c, msgs, done, i);
        done = i;
        failure = dead_letter_send(c, msgs[i], why, reason);
        if (failure != CONSUMER_RUNNING)
            break;
        store_offsets(c, msgs, i, i + 1); /* the last message of a batch too */
        done = i + 1;
    }
    if (failure == CONSUMER_RUNNING)
        failure = flush(c, msgs, &p, &done);
    if (failure == CONSUMER_RUNNING) {
        store_offsets(c, msgs, done, n);
        done = n;
        c->backoff_ms = 0;
    } else {
        pause_enter(c, msgs + done, n - done, failure);
    }
    free(p.why);
    free(p.refused);
    free(p.created);
    free(p.at);
    free(p.bills);
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
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c->rk, CONSUMER_POLL_MS);
    while (m) {
        if (m->err) {
            on_consume_error(m);
            rd_kafka_message_destroy(m);
        } else if (c->paused) {
            /* Fetched before the pause took effect: not handled now, so make
             * sure it is fetched again. */
            pause_rewind_to(c, m);
            rd_kafka_message_destroy(m);
        } else {
            batch[n++] = m;
        }
        m = n < max ? rd_kafka_consumer_poll(c->rk, 0) : NULL;
    }
    return n;
}

/* After a failed write of the deferred day marks, the next try waits
 * this long (the database is likely down: the batches pause too). */
#define FLUSH_RETRY_MS 1000

/* Writes the deferred day marks; on failure they stay deferred (a later
 * call writes them) and their days are recounted by summaries meanwhile. */
static void flush_marks(consumer *c)
{
    int64_t now = clock_mono_ms();
    if (c->paused || now < c->next_flush_ms)
        return;
    bson_error_t err;
    if (billing_store_flush_marks(c->opts.db, &err) != 0) {
        log_warn("day marks not written yet", "error", err.message, NULL);
        c->next_flush_ms = now + FLUSH_RETRY_MS;
    }
}

static void *consumer_main(void *arg)
{
    consumer *c = arg;
    size_t max = c->opts.batch_max > 0 ? (size_t)c->opts.batch_max : BATCH_MAX_DEFAULT;
    rd_kafka_message_t **batch = xmalloc(max * sizeof *batch);
    /* The day marks' ends ride on the next batch's begins
     * (day_totals_defer_ends), and are written alone when a poll finds
     * nothing and before offsets are committed, so that a summary sees a
     * drained topic's days settled. */
    day_totals_defer_ends(true);
    while (!worker_stopping(&c->thread)) {
        size_t n = poll_batch(c, batch, max);
        if (n > 0)
            handle_batch(c, batch, n);
        for (size_t i = 0; i < n; i++)
            rd_kafka_message_destroy(batch[i]);
        if (n == 0 || commits_due(&c->commits, clock_mono_ms()))
            flush_marks(c);
        commits_if_due(&c->commits);
        int64_t now = clock_mono_ms();
        if (c->paused && now >= c->next_try_ms)
            pause_probe(c);
        if (now >= c->next_lag_ms) {
            lag_refresh(c->lag, c->rk, c->paused, commits_coordinator_up(&c->commits, now));
            c->next_lag_ms = clock_mono_ms() + LAG_REFRESH_MS;
        }
    }
    flush_marks(c);
    free(batch);
    return NULL;
}

/* ---- life cycle ---- */

consumer *consumer_new(const consumer_opts *opts, char *err, size_t errlen)
{
    consumer *c = xcalloc(1, sizeof *c);
    c->opts = *opts;
    /* Own copies: the caller's strings need not outlive this call. */
    c->bootstrap = xstrdup(opts->bootstrap);
    c->group_id = xstrdup(opts->group_id);
    c->topic = xstrdup(opts->topic);
    c->dlq_topic = xstrdup(opts->dlq_topic);
    c->event_source = xstrdup(opts->event_source ? opts->event_source : EVENT_SOURCE);
    c->opts.bootstrap = c->bootstrap;
    c->opts.group_id = c->group_id;
    c->opts.topic = c->topic;
    c->opts.dlq_topic = c->dlq_topic;
    c->opts.event_source = c->event_source;
    worker_init(&c->thread);
    atomic_init(&c->state, (int)CONSUMER_STARTING);
    c->lag = lag_table_new(c->topic);
    refusals_init(&c->refusals, opts->write_attempts_max > 0 ? opts->write_attempts_max
                                                             : CONSUMER_WRITE_ATTEMPTS_DEFAULT);

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
        group_leave(c);
        rd_kafka_destroy_flags(c->rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
    dlq_free(c->dlq);
    lag_table_free(c->lag);
    free(c->group_id);
    free(c->bootstrap);
    free(c->dlq_topic);
    free(c->event_source);
    free(c->topic);
    free(c);
}
