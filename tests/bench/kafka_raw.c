/* kafka_raw: librdkafka alone, as the ceiling of the services' Kafka paths.
 *
 *   kafka_raw produce BOOTSTRAP TOPIC N   N events as appointment's outbox sends
 *                                         them (same value, headers, key and
 *                                         producer settings), each with a new
 *                                         appointment id; waits for every ack
 *   kafka_raw consume BOOTSTRAP TOPIC N   reads N messages from the start of
 *                                         TOPIC in a fresh consumer group
 *
 * One JSON line on stdout: {"msgs":..,"seconds":..,"per_s":..}. For consume,
 * the clock starts at the first message (the group join is not throughput). */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "event.h"
#include "timefmt.h"
#include "uuid.h"

static long delivered, failed;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err)
        failed++;
    else
        delivered++;
}

static rd_kafka_conf_t *conf_new(const char *bootstrap)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char err[256];
    if (rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, sizeof err) !=
        RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_raw: %s\n", err);
        exit(1);
    }
    return conf;
}

static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char err[256];
    if (rd_kafka_conf_set(conf, k, v, err, sizeof err) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_raw: %s=%s: %s\n", k, v, err);
        exit(1);
    }
}

static int produce(const char *bootstrap, const char *topic, long n)
{
    rd_kafka_conf_t *conf = conf_new(bootstrap);
    /* The settings of appointment/outbox.c's producer. */
    set(conf, "enable.idempotence", "true");
    set(conf, "acks", "all");
    set(conf, "linger.ms", "2");
    set(conf, "partitioner", "murmur2_random");
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    char err[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_raw: %s\n", err);
        return 1;
    }
    int64_t t0 = clock_mono_us();
    buf value;
    buf_init(&value);
    for (long i = 0; i < n; i++) {
        event_finished ev;
        memset(&ev, 0, sizeof ev);
        int64_t now = clock_now_ms();
        uuid_v7(ev.appointment_id, now);
        memcpy(ev.physician_id, "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a", UUID_STR_LEN);
        memcpy(ev.patient_id, "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a", UUID_STR_LEN);
        ev.start_ms = now - 90 * 60 * 1000;
        ev.end_ms = now;
        ev.hourly_price_cents = 20000;
        memcpy(ev.currency, "BRL", 4);
        buf_reset(&value);
        event_encode(&ev, &value);
        char ce_id[UUID_STR_LEN], ce_time[TIMEFMT_LEN];
        uuid_v4(ce_id);
        timefmt_format(now, ce_time);
        rd_kafka_headers_t *h = rd_kafka_headers_new(7);
        rd_kafka_header_add(h, "ce_specversion", -1, EVENT_SPECVERSION, -1);
        rd_kafka_header_add(h, "ce_id", -1, ce_id, -1);
        rd_kafka_header_add(h, "ce_source", -1, EVENT_SOURCE, -1);
        rd_kafka_header_add(h, "ce_type", -1, EVENT_TYPE, -1);
        rd_kafka_header_add(h, "ce_time", -1, ce_time, -1);
        rd_kafka_header_add(h, "content-type", -1, EVENT_CONTENT_TYPE, -1);
        for (;;) {
            rd_kafka_resp_err_t e = rd_kafka_producev(
                rk, RD_KAFKA_V_TOPIC(topic),
                RD_KAFKA_V_KEY(ev.appointment_id, strlen(ev.appointment_id)),
                RD_KAFKA_V_VALUE(value.ptr, value.len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
            if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                rd_kafka_poll(rk, 100);
                continue;
            }
            if (e) {
                rd_kafka_headers_destroy(h);
                fprintf(stderr, "kafka_raw: produce: %s\n", rd_kafka_err2str(e));
                return 1;
            }
            break;
        }
        rd_kafka_poll(rk, 0);
    }
    rd_kafka_flush(rk, 60000);
    double secs = (double)(clock_mono_us() - t0) / 1e6;
    printf("{\"msgs\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"per_s\":%.1f}\n", delivered, failed,
           secs, (double)delivered / secs);
    buf_free(&value);
    rd_kafka_destroy(rk);
    return failed ? 1 : 0;
}

static int consume(const char *bootstrap, const char *topic, long n)
{
    rd_kafka_conf_t *conf = conf_new(bootstrap);
    char group[64], err[256];
    snprintf(group, sizeof group, "bench-raw-%lld", (long long)clock_now_ms());
    set(conf, "group.id", group);
    set(conf, "auto.offset.reset", "earliest");
    set(conf, "enable.auto.commit", "false");
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!rk) {
        fprintf(stderr, "kafka_raw: %s\n", err);
        return 1;
    }
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *t = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(t, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, t);
    rd_kafka_topic_partition_list_destroy(t);
    long got = 0;
    int64_t first = 0, deadline = clock_mono_us() + 120 * 1000000LL;
    size_t bytes = 0;
    while (got < n && clock_mono_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (!got)
                first = clock_mono_us();
            got++;
            bytes += m->len;
        }
        rd_kafka_message_destroy(m);
    }
    double secs = first ? (double)(clock_mono_us() - first) / 1e6 : 0;
    printf("{\"msgs\":%ld,\"bytes\":%zu,\"seconds\":%.3f,\"per_s\":%.1f}\n", got, bytes, secs,
           secs > 0 ? (double)(got - 1) / secs : 0);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return got == n ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: kafka_raw produce|consume BOOTSTRAP TOPIC N\n");
        return 2;
    }
    long n = atol(argv[4]);
    if (strcmp(argv[1], "produce") == 0)
        return produce(argv[2], argv[3], n);
    if (strcmp(argv[1], "consume") == 0)
        return consume(argv[2], argv[3], n);
    fprintf(stderr, "kafka_raw: unknown mode %s\n", argv[1]);
    return 2;
}
