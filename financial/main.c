/* financial: bills finished consultations from appointment.finished events
 * and serves the billings over HTTP. */
#include <stdio.h>

#include "fin_api.h"
#include "log.h"

static const config_var vars[] = {
    SERVICE_HTTP_VARS("8081"),
    {"KAFKA_DLQ_TOPIC", "appointment.finished.dlq",
     "dead-letter topic for messages that can never be billed"},
    {"KAFKA_GROUP_ID", "financial", "consumer group; its members share the topic's partitions"},
    {"KAFKA_SESSION_TIMEOUT_MS", "10000",
     "how long the group waits for a silent member before reassigning its partitions"},
    {"CONSUMER_RETRY_MAX_MS", "5000",
     "longest wait between two attempts while MongoDB (or the dead-letter topic) is down"},
    {"CURRENCY", "BRL",
     "ISO 4217 currency that /billings/summary totals when the request names none"},
    SERVICE_TAIL_VARS,
};

/* The process: the handlers' fin_api first (they see this as theirs), then
 * what only start-up reads. */
typedef struct financial {
    fin_api api;
    consumer_opts consumer;
} financial;

static int configure(void *app, const config_var *v, size_t n, char *err, size_t errlen)
{
    financial *f = app;
    f->consumer.bootstrap = config_str(v, n, "KAFKA_BOOTSTRAP");
    f->consumer.topic = config_str(v, n, "KAFKA_TOPIC");
    f->consumer.dlq_topic = config_str(v, n, "KAFKA_DLQ_TOPIC");
    f->consumer.group_id = config_str(v, n, "KAFKA_GROUP_ID");
    return service_int(v, n, "KAFKA_SESSION_TIMEOUT_MS", 1000, 3600000,
                       &f->consumer.session_timeout_ms, err, errlen) ||
                   service_int(v, n, "CONSUMER_RETRY_MAX_MS", 100, 3600000,
                               &f->consumer.retry_max_ms, err, errlen) ||
                   service_currency(v, n, f->api.currency, err, errlen)
               ? -1
               : 0;
}

static int open_consumer(void *app, char *err, size_t errlen)
{
    financial *f = app;
    f->consumer.db = f->api.svc.db;
    f->consumer.bk = f->api.svc.bk;
    f->api.consumer = consumer_new(&f->consumer, err, errlen);
    return f->api.consumer ? 0 : -1;
}

/* The consumer needs no index (it writes by _id), so it starts at once;
 * while the database is down it pauses and retries by itself. */
static int start_consumer(void *app, char *err, size_t errlen)
{
    financial *f = app;
    if (consumer_start(f->api.consumer) != 0) {
        snprintf(err, errlen, "cannot start the consumer thread");
        return -1;
    }
    log_info("consuming", "topic", f->consumer.topic, "group_id", f->consumer.group_id, NULL);
    return 0;
}

/* Stops taking messages and partitions at once, not after the HTTP server
 * has finished its requests. */
static void stop_consumer(void *app)
{
    consumer_stop(((financial *)app)->api.consumer);
}

/* Commits the stored offsets and leaves the group. */
static void free_consumer(void *app)
{
    consumer_free(((financial *)app)->api.consumer);
}

static const service_worker consumer_worker = {
    .configure = configure,
    .open = open_consumer,
    .start = start_consumer,
    .stop = stop_consumer,
    .close = free_consumer,
};

SERVICE_MAIN(financial,
             "Bills finished consultations from appointment.finished events and serves the "
             "billings over HTTP.",
             vars, BILLING_BUCKETS_COLLECTION, &fin_api_service, &consumer_worker)
