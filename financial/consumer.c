/* consumer: the loop, the batch, the offsets and the life cycle of the
 * consumer (consumer.h); group membership is group.c's, pause and retry
 * pause.c's, the state and metrics consumer_state.c's (consumer_internal.h). */
#include "consumer.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "billing.h"
#include "billing_delay.h"
#include "billing_store.h"
#include "consumer_internal.h"
#include "dead_letters.h"
#include "kafka.h"
#include "log.h"
#include "money.h"
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
    char type[128], id[64];
    bool has_type = kafka_message_header(m, "ce_type", type, sizeof type) == 0;
    bool has_id = kafka_message_header(m, "ce_id", id, sizeof id) == 0;
    intake_message in = {m->payload, m->payload ? m->len : 0, has_type ? type : NULL,
                         has_id ? id : NULL};
    return intake_judge(&in, c->opts.currencies, clock_now_ms(), b, why, reason, reasonlen);
}

/* Records m in the dead_letters collection (dead_letters.h), before it goes
 * to the topic: 0 once durable, -1 while the database is down. */
static int record_dead_letter(consumer *c, const rd_kafka_message_t *m, intake_reason why,
                              const char *reason)
{
    bson_error_t err;
    if (dead_letters_put(c->opts.db, m, c->topic, why, reason, clock_now_ms(), &err) == 0)
        return 0;
    log_warn("cannot record the dead letter; pausing consumption",
             LOG_INT("partition", m->partition), LOG_INT("offset", m->offset), "error", err.message,
             NULL);
    return -1;
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
        if (created[k])
            billing_delay_observe(bills[k].event.end_ms, clock_now_ms());
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
        intake_reason why;
        if (billing_of_message(c, msgs[i], &bills[nbills], &why, reason, sizeof reason) == 0) {
            at[nbills++] = i;
            continue;
        }
        if (write_billings(c, msgs, bills, at, nbills, created) != 0) {
            failure = CONSUMER_PAUSED_DB_DOWN;
            break;
        }
        nbills = 0;
        if (record_dead_letter(c, msgs[i], why, reason) != 0) {
            store_offsets(c, msgs, done, i);
            done = i;
            failure = CONSUMER_PAUSED_DB_DOWN;
            break;
        }
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
        pause_enter(c, msgs + done, n - done, failure);
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
            pause_probe(c);
        if (now >= c->next_lag_ms) {
            lag_refresh(c->lag, c->rk, c->paused, commits_coordinator_up(&c->commits, now));
            c->next_lag_ms = clock_mono_ms() + LAG_REFRESH_MS;
        }
    }
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
        group_leave(c);
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
