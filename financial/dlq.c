#include "dlq.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "trace.h"

#define DLQ_MESSAGE_TIMEOUT_MS 10000 /* the producer's message.timeout.ms */
#define DLQ_POLL_MS 100
/* librdkafka's own cap (and so no cap): the broker's limit is the one that
 * counts. With librdkafka's default (1,000,000) a copy of an event the broker
 * took (its limit is 1,048,588) failed here for ever, which the consumer read
 * as "the dead-letter topic is down": the partition stopped. */
#define DLQ_MESSAGE_MAX_BYTES 1000000000

struct dlq {
    rd_kafka_t *rk;
    char *topic;
    uint64_t seq;            /* id of the dead letter being awaited */
    bool done;               /* its delivery report arrived */
    rd_kafka_resp_err_t err; /* and said this */
    metrics_counter sent;
};

/* Runs inside rd_kafka_poll on the sending thread, once per dead letter. */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    dlq *d = opaque;
    /* A report for an attempt already given up on (its wait timed out) is
     * late news: the retry produces the message again. */
    if ((uint64_t)(uintptr_t)m->_private != d->seq)
        return;
    d->done = true;
    d->err = m->err;
}

dlq *dlq_new(const char *bootstrap, const char *topic, char *err, size_t errlen)
{
    dlq *d = xcalloc(1, sizeof *d);
    kafka_producer_opts po = {
        .bootstrap = bootstrap,
        .client_id = "financial-dlq",
        .message_timeout_ms = DLQ_MESSAGE_TIMEOUT_MS,
        .linger_ms = 0,
        .message_max_bytes = DLQ_MESSAGE_MAX_BYTES,
        .on_delivery = on_delivery,
        .opaque = d,
    };
    d->rk = kafka_producer_new(&po, err, errlen);
    if (!d->rk) {
        free(d);
        return NULL;
    }
    d->topic = xstrdup(topic);
    return d;
}

/* Produces value[0..len) with m's key and headers h (taken, whatever
 * happens); returns the error of the attempt (awaited). */
static rd_kafka_resp_err_t produce_awaited(dlq *d, const rd_kafka_message_t *m, const void *value,
                                           size_t len, rd_kafka_headers_t *h, worker *owner)
{
    d->seq++;
    d->done = false;
    d->err = RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_resp_err_t e = rd_kafka_producev(
        d->rk, RD_KAFKA_V_TOPIC(d->topic), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE((void *)(uintptr_t)d->seq), RD_KAFKA_V_END);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_headers_destroy(h); /* not taken by librdkafka on failure */
        return e;
    }
    /* A shutdown stops the wait: the offset is not stored, so the message is
     * handled again after the restart. */
    int64_t deadline = clock_mono_ms() + DLQ_MESSAGE_TIMEOUT_MS + 2000;
    while (!d->done && clock_mono_ms() < deadline && !worker_stopping(owner))
        rd_kafka_poll(d->rk, DLQ_POLL_MS);
    return d->done ? d->err : RD_KAFKA_RESP_ERR__TIMED_OUT;
}

/* m's headers (copied) plus the dead letter's: why, and where m was. */
static rd_kafka_headers_t *dead_letter_headers(const rd_kafka_message_t *m, bool with_originals,
                                               const char *source_topic, const char *reason)
{
    rd_kafka_headers_t *orig = NULL;
    rd_kafka_headers_t *h =
        with_originals && rd_kafka_message_headers(m, &orig) == RD_KAFKA_RESP_ERR_NO_ERROR
            ? rd_kafka_headers_copy(orig)
            : rd_kafka_headers_new(4);
    /* Header values are strings on the wire: these two are formatted for
     * the broker, not for the log. */
    char part[16], off[24];
    snprintf(part, sizeof part, "%" PRId32, m->partition);
    snprintf(off, sizeof off, "%" PRId64, m->offset);
    rd_kafka_header_add(h, "dlq_reason", -1, reason, -1);
    rd_kafka_header_add(h, "dlq_source_topic", -1, source_topic, -1);
    rd_kafka_header_add(h, "dlq_source_partition", -1, part, -1);
    rd_kafka_header_add(h, "dlq_source_offset", -1, off, -1);
    return h;
}

/* Appends bytes[0..len) as a JSON string: printable ASCII as it is, every
 * other byte as \u00XX, so any input makes valid JSON. */
static void append_bytes(buf *out, const unsigned char *bytes, size_t len)
{
    buf_putc(out, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = bytes[i];
        if (ch == '"' || ch == '\\')
            buf_printf(out, "\\%c", ch);
        else if (ch >= 0x20 && ch < 0x7f)
            buf_putc(out, (char)ch);
        else
            buf_printf(out, "\\u%04x", ch);
    }
    buf_putc(out, '"');
}

void dlq_too_large_record(buf *out, const rd_kafka_message_t *m, const char *source_topic,
                          const char *reason)
{
    size_t len = m->payload ? m->len : 0;
    size_t head = len < DLQ_HEAD_BYTES ? len : DLQ_HEAD_BYTES;
    buf_puts(out, "{\"reason\":\"too_large\",\"original_reason\":");
    append_bytes(out, (const unsigned char *)reason, strlen(reason));
    buf_puts(out, ",\"source_topic\":");
    append_bytes(out, (const unsigned char *)source_topic, strlen(source_topic));
    buf_printf(out, ",\"source_partition\":%" PRId32 ",\"source_offset\":%" PRId64, m->partition,
               m->offset);
    buf_puts(out, ",\"key\":");
    if (m->key)
        append_bytes(out, m->key, m->key_len);
    else
        buf_puts(out, "null");
    buf_printf(out, ",\"value_bytes\":%zu,\"value_head\":", len);
    append_bytes(out, m->payload, head);
    buf_putc(out, '}');
}

int dlq_send(dlq *d, const rd_kafka_message_t *m, const char *source_topic, const char *reason,
             worker *owner)
{
    const char *sent_reason = reason;
    rd_kafka_resp_err_t e =
        produce_awaited(d, m, m->payload, m->payload ? m->len : 0,
                        dead_letter_headers(m, true, source_topic, reason), owner);
    if (e == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE) {
        /* Too large even for the dead-letter topic: a small record that says
         * where the message is and how it starts, so the partition moves on
         * and an operator can still find it (kcat -o offset). */
        buf record;
        buf_init(&record);
        dlq_too_large_record(&record, m, source_topic, reason);
        sent_reason = "too_large";
        e = produce_awaited(d, m, buf_cstr(&record), record.len,
                            dead_letter_headers(m, false, source_topic, sent_reason), owner);
        buf_free(&record);
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && worker_stopping(owner)) {
        log_info("dead letter not acknowledged at shutdown; handled again after the restart",
                 LOG_INT("partition", m->partition), LOG_INT("offset", m->offset), NULL);
        return -1;
    }
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        log_warn("cannot dead-letter the message; will retry", LOG_INT("partition", m->partition),
                 LOG_INT("offset", m->offset), "dlq_topic", d->topic, "error", rd_kafka_err2str(e),
                 NULL);
        return -1;
    }
    metrics_inc(&d->sent);
    trace_ids t;
    kafka_message_trace(m, &t);
    log_warn("message dead-lettered", "reason", sent_reason, LOG_INT("partition", m->partition),
             LOG_INT("offset", m->offset), LOG_INT("bytes", m->payload ? m->len : 0), "dlq_topic",
             d->topic, "trace_id", t.trace_id, NULL);
    return 0;
}

int dlq_ping(dlq *d, const char *topic, int timeout_ms)
{
    return kafka_ping(d->rk, topic, timeout_ms);
}

uint64_t dlq_sent(dlq *d)
{
    return metrics_get(&d->sent);
}

void dlq_free(dlq *d)
{
    if (!d)
        return;
    rd_kafka_purge(d->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_flush(d->rk, 1000);
    rd_kafka_destroy(d->rk);
    free(d->topic);
    free(d);
}
