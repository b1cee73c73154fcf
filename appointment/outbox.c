#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "metrics.h"
#include "timefmt.h"
#include "worker.h"

struct outbox {
    outbox_opts opts;
    char *topic;
    rd_kafka_t *rk;
    worker thread;
    metrics_counter published;
    metrics_counter failed;
    metrics_counter relayed;
    /* Acknowledged entries not yet marked published: filled by the delivery
     * reports, written in one bulk update (see ACK_DELAY_MS). Touched only
     * by the thread that polls (the outbox thread, then outbox_free's). */
    char (*acked)[UUID_STR_LEN];
    size_t nacked, capacked;
    int64_t first_acked_ms; /* clock_mono_ms of acked[0]'s report */
};

/* The outbox thread marks acknowledged entries published once the oldest
 * has waited ACK_DELAY_MS or ACK_BATCH are waiting: flat out, one bulk
 * write then covers dozens of events instead of the one or two of each
 * poll. An entry acknowledged but not yet marked when the process dies is
 * published again by the relay under the same ce_id, as after a failed
 * mark. */
#define ACK_DELAY_MS 50
#define ACK_BATCH 256

/* What a delivery report needs to find its outbox entry. */
typedef struct outbox_msg {
    char id[UUID_STR_LEN];
    char event_id[UUID_STR_LEN];
    int32_t attempts;
} outbox_msg;

static int64_t backoff_ms(const outbox *ob, int32_t attempts)
{
    int64_t d = 1000;
    for (int32_t i = 0; i < attempts && d < ob->opts.retry_max_ms; i++)
        d *= 2;
    return d < ob->opts.retry_max_ms ? d : ob->opts.retry_max_ms;
}

/* Runs on the outbox thread, once per message. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    outbox *ob = opaque;
    outbox_msg *om = m->_private;
    bson_error_t err;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        metrics_inc(&ob->published);
        if (ob->nacked == 0)
            ob->first_acked_ms = clock_mono_ms();
        if (ob->nacked == ob->capacked) {
            ob->capacked = ob->capacked ? ob->capacked * 2 : 64;
            ob->acked = xrealloc(ob->acked, ob->capacked * sizeof *ob->acked);
        }
        memcpy(ob->acked[ob->nacked++], om->id, UUID_STR_LEN);
    } else {
        metrics_inc(&ob->failed);
        int64_t at = clock_now_ms() + backoff_ms(ob, om->attempts);
        log_warn("event delivery failed; the relay will retry", "appointment_id", om->id, "error",
                 rd_kafka_err2str(m->err), NULL);
        if (appt_store_outbox_retry_at(ob->opts.db, om->id, at, &err) != 0)
            log_warn("cannot reschedule outbox entry", "appointment_id", om->id, "error",
                     err.message, NULL);
    }
    free(om);
}

/* Marks the entries acknowledged since the last call published, in one
 * bulk write. On failure they stay pending: the relay publishes them again
 * under the same ce_id and the consumer's idempotent write absorbs the
 * duplicates. Called on the polling thread, after a poll. */
static void mark_acked(outbox *ob)
{
    if (ob->nacked == 0)
        return;
    bson_error_t err;
    if (appt_store_outbox_published(ob->opts.db, (const char(*)[UUID_STR_LEN])ob->acked, ob->nacked,
                                    &err) != 0) {
        log_warn("events delivered but not marked published; the relay will resend them",
                 LOG_INT("count", ob->nacked), "error", err.message, NULL);
    }
    ob->nacked = 0;
}

outbox *outbox_new(const outbox_opts *opts, char *err, size_t errlen)
{
    outbox *ob = xcalloc(1, sizeof *ob);
    ob->opts = *opts;
    ob->topic = xstrdup(opts->topic);
    worker_init(&ob->thread);
    kafka_producer_opts po = {
        .bootstrap = opts->bootstrap,
        .client_id = "appointment",
        .message_timeout_ms = opts->message_timeout_ms,
        .linger_ms = 2,
        .on_delivery = on_delivery,
        .opaque = ob,
    };
    ob->rk = kafka_producer_new(&po, err, errlen);
    if (!ob->rk) {
        outbox_free(ob, 0);
        return NULL;
    }
    return ob;
}

/* The time until which a freshly written or claimed entry belongs to the
 * in-process producer: the relay leaves it alone before then. */
static int64_t outbox_lease_until(const outbox *ob, int64_t now_ms)
{
    /* librdkafka keeps retrying until message.timeout.ms; the relay only steps
     * in after that, so the two never publish the same entry at once. */
    return now_ms + ob->opts.message_timeout_ms + 2000;
}

void outbox_event_of(const appt *a, event_finished *ev)
{
    memset(ev, 0, sizeof *ev);
    memcpy(ev->appointment_id, a->id, UUID_STR_LEN);
    memcpy(ev->physician_id, a->physician_id, UUID_STR_LEN);
    memcpy(ev->patient_id, a->patient_id, UUID_STR_LEN);
    ev->start_ms = a->start_ms;
    ev->end_ms = a->end_ms;
    ev->hourly_price_cents = a->price_cents;
    memcpy(ev->currency, a->currency, EVENT_CURRENCY_LEN);
}

/* Enqueues the event of the finished appointment a. Thread-safe,
 * non-blocking. On a local enqueue failure the entry simply stays pending for
 * the relay. */
static void outbox_publish(outbox *ob, const appt *a)
{
    event_finished ev;
    outbox_event_of(a, &ev);
    buf value;
    buf_init(&value);
    event_encode(&ev, &value);
    char ce_time[TIMEFMT_LEN];
    timefmt_format(a->event_time_ms, ce_time);

    rd_kafka_headers_t *h = rd_kafka_headers_new(8);
    rd_kafka_header_add(h, "ce_specversion", -1, EVENT_SPECVERSION, -1);
    rd_kafka_header_add(h, "ce_id", -1, a->event_id, -1);
    rd_kafka_header_add(h, "ce_source", -1, EVENT_SOURCE, -1);
    rd_kafka_header_add(h, "ce_type", -1, EVENT_TYPE, -1);
    rd_kafka_header_add(h, "ce_time", -1, ce_time, -1);
    rd_kafka_header_add(h, "content-type", -1, EVENT_CONTENT_TYPE, -1);
    if (a->traceparent[0])
        rd_kafka_header_add(h, "traceparent", -1, a->traceparent, -1);
    if (a->tracestate[0])
        rd_kafka_header_add(h, "tracestate", -1, a->tracestate, -1);

    outbox_msg *om = xmalloc(sizeof *om);
    memcpy(om->id, a->id, UUID_STR_LEN);
    memcpy(om->event_id, a->event_id, UUID_STR_LEN);
    om->attempts = a->attempts;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        ob->rk, RD_KAFKA_V_TOPIC(ob->topic), RD_KAFKA_V_KEY(a->id, strlen(a->id)),
        RD_KAFKA_V_VALUE(value.ptr, value.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(om), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        /* Not enqueued: librdkafka did not take the headers. The entry stays
         * pending and the relay picks it up when its lease runs out. */
        rd_kafka_headers_destroy(h);
        free(om);
        metrics_inc(&ob->failed);
        log_warn("cannot enqueue event; left for the relay", "appointment_id", a->id, "error",
                 rd_kafka_err2str(e), NULL);
    }
    buf_free(&value);
}

int outbox_finish(outbox *ob, const appt *a, bool end_given, int64_t now_ms, appt *out,
                  appt_finish_outcome *outcome, bson_error_t *err)
{
    if (appt_store_finish(ob->opts.db, a, end_given, ob->opts.max_consultation_ms,
                          outbox_lease_until(ob, now_ms), out, outcome, err) != 0)
        return -1;
    if (*outcome == APPT_FINISH_DONE)
        outbox_publish(ob, out);
    return 0;
}

#define RELAY_BATCH 64
#define RELAY_MAX_PER_ROUND 512

/* Publishes the entries that are due: one query finds a batch of them, then
 * each is claimed by _id (an indexed compare-and-swap) and published, so a
 * backlog (after a broker outage) drains at the rate of cheap claims, not of
 * one read of every pending entry per event. */
static void relay_due(outbox *ob)
{
    appt *due = xcalloc(RELAY_BATCH, sizeof *due);
    for (int done = 0; done < RELAY_MAX_PER_ROUND && !worker_stopping(&ob->thread);) {
        int64_t now = clock_now_ms();
        bson_error_t err;
        int n = 0;
        if (appt_store_outbox_due(ob->opts.db, now, due, RELAY_BATCH, &n, &err) != 0) {
            log_debug("relay cannot read the outbox", "error", err.message, NULL);
            break;
        }
        for (int i = 0; i < n && !worker_stopping(&ob->thread); i++, done++) {
            appt a;
            bool claimed = false;
            if (appt_store_outbox_claim(ob->opts.db, &due[i], outbox_lease_until(ob, now), &a,
                                        &claimed, &err) != 0) {
                log_debug("relay cannot claim an outbox entry", "error", err.message, NULL);
                goto out;
            }
            if (!claimed) /* claimed by another relay, or published meanwhile */
                continue;
            metrics_inc(&ob->relayed);
            trace_ids t = {"", ""};
            trace_parse(a.traceparent, strlen(a.traceparent), &t);
            log_info("relaying pending event", "appointment_id", a.id, "event_id", a.event_id,
                     "trace_id", t.trace_id, NULL);
            outbox_publish(ob, &a);
            rd_kafka_poll(ob->rk, 0);
            mark_acked(ob);
        }
        if (n < RELAY_BATCH)
            break;
    }
out:
    free(due);
}

static void *outbox_main(void *arg)
{
    outbox *ob = arg;
    /* Each relay round is one indexed equality query on the outbox_pending
     * flag, cheap on every backend, so the relay simply looks every interval:
     * that also picks up what a crashed instance left pending. */
    int64_t next_relay = 0;
    while (!worker_stopping(&ob->thread)) {
        int64_t due = ob->nacked ? ob->first_acked_ms + ACK_DELAY_MS - clock_mono_ms() : 100;
        rd_kafka_poll(ob->rk, due <= 0 ? 0 : due < 100 ? (int)due : 100);
        if (ob->nacked >= ACK_BATCH ||
            (ob->nacked && clock_mono_ms() - ob->first_acked_ms >= ACK_DELAY_MS))
            mark_acked(ob);
        if (clock_mono_ms() >= next_relay) {
            relay_due(ob);
            next_relay = clock_mono_ms() + ob->opts.relay_interval_ms;
        }
    }
    return NULL;
}

int outbox_start(outbox *ob)
{
    return worker_start(&ob->thread, outbox_main, ob);
}

void outbox_free(outbox *ob, int timeout_ms)
{
    if (!ob)
        return;
    worker_join(&ob->thread);
    if (ob->rk) { /* NULL when outbox_new failed half-way */
        /* Delivery reports of the flush run here, on this thread, now that
         * the outbox thread is gone. */
        rd_kafka_flush(ob->rk, timeout_ms);
        mark_acked(ob);
        int left = rd_kafka_outq_len(ob->rk);
        if (left > 0)
            log_warn("events not acknowledged at shutdown; they stay pending for the relay",
                     LOG_INT("count", left), NULL);
        rd_kafka_destroy(ob->rk);
    }
    free(ob->acked);
    free(ob->topic);
    free(ob);
}

int outbox_ready(outbox *ob, int timeout_ms)
{
    return kafka_ping(ob->rk, ob->topic, timeout_ms);
}

void outbox_render_metrics(outbox *ob, buf *out)
{
    metrics_single(out, "clinic_events_published_total", "counter",
                   "Events acknowledged by the broker.", metrics_get(&ob->published));
    metrics_single(out, "clinic_events_publish_failed_total", "counter",
                   "Events the broker did not acknowledge in time (retried by the relay).",
                   metrics_get(&ob->failed));
    metrics_single(out, "clinic_events_relayed_total", "counter",
                   "Pending outbox entries re-published by the relay.", metrics_get(&ob->relayed));
    bson_error_t err;
    metrics_single_i(out, "clinic_outbox_pending", "gauge",
                     "Finished appointments whose event is not yet acknowledged (-1: unknown).",
                     appt_store_outbox_pending(ob->opts.db, &err));
}
