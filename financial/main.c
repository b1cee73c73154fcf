/* financial: bills finished consultations from appointment.finished events
 * and serves the billings over HTTP. */
#include <stdio.h>

#include "billing_api.h"
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
    {"BILLING_WRITE_ATTEMPTS", "3",
     "refusals in a row of one billing (the database answers, but not that document) before its "
     "message is dead-lettered"},
    SERVICE_CONSULTATION_VAR,
    {"EVENT_SOURCE", EVENT_SOURCE,
     "the ce_source of the events to bill (the appointment service's); any other is "
     "dead-lettered"},
    {"CURRENCY", "BRL",
     "ISO 4217 currency that /billings/summary totals when the request names none"},
    {"CURRENCIES", "BRL",
     "ISO 4217 currencies billed, comma-separated (BRL,USD); an event in another one is "
     "dead-lettered with reason currency"},
    RECONCILE_VARS,
    SERVICE_TAIL_VARS,
};

/* The consumer's settings, read by configure for open_consumer: start-up
 * runs on main's thread. */
static consumer_opts consumer_options;
static reconcile_opts reconcile_options;

static int configure(void *app, const config_var *v, size_t n, char *err, size_t errlen)
{
    consumer_options.bootstrap = config_str(v, n, "KAFKA_BOOTSTRAP");
    consumer_options.topic = config_str(v, n, "KAFKA_TOPIC");
    consumer_options.dlq_topic = config_str(v, n, "KAFKA_DLQ_TOPIC");
    consumer_options.group_id = config_str(v, n, "KAFKA_GROUP_ID");
    consumer_options.event_source = config_str(v, n, "EVENT_SOURCE");
    return reconcile_configure(v, n, &reconcile_options, err, errlen) ||
                   service_int(v, n, "KAFKA_SESSION_TIMEOUT_MS", 1000, 3600000,
                               &consumer_options.session_timeout_ms, err, errlen) ||
                   service_int(v, n, "CONSUMER_RETRY_MAX_MS", 100, 3600000,
                               &consumer_options.retry_max_ms, err, errlen) ||
                   service_int(v, n, "BILLING_WRITE_ATTEMPTS", 1, 1000,
                               &consumer_options.write_attempts_max, err, errlen) ||
                   service_max_consultation_ms(v, n, &consumer_options.max_consultation_ms, err,
                                               errlen) ||
                   service_currency(v, n, ((billing_api *)app)->currency, err, errlen) ||
                   intake_currencies_parse(config_str(v, n, "CURRENCIES"),
                                           &((billing_api *)app)->currencies, err, errlen)
               ? -1
               : 0;
}

static int open_consumer(void *app, char *err, size_t errlen)
{
    billing_api *f = app;
    consumer_options.db = f->svc.db;
    consumer_options.bk = f->svc.bk;
    consumer_options.currencies = &f->currencies;
    f->replays = replays_new(f->svc.db, f->svc.bk, &f->currencies, consumer_options.event_source,
                             consumer_options.max_consultation_ms);
    f->consumer = consumer_new(&consumer_options, err, errlen);
    reconcile_options.db = f->svc.db;
    if (f->consumer)
        f->reconcile = reconcile_new(&reconcile_options, err, errlen);
    return f->consumer && f->reconcile ? 0 : -1;
}

/* The consumer needs no index (it writes by _id), so it starts at once;
 * while the database is down it pauses and retries by itself. */
static int start_consumer(void *app, char *err, size_t errlen)
{
    if (consumer_start(((billing_api *)app)->consumer) != 0 ||
        reconcile_start(((billing_api *)app)->reconcile) != 0) {
        snprintf(err, errlen, "cannot start the consumer or the reconciler thread");
        return -1;
    }
    log_info("consuming", "topic", consumer_options.topic, "group_id", consumer_options.group_id,
             NULL);
    return 0;
}

/* Stops taking messages and partitions at once, not after the HTTP server
 * has finished its requests. */
static void stop_consumer(void *app)
{
    consumer_stop(((billing_api *)app)->consumer);
    replays_stop(((billing_api *)app)->replays);
    reconcile_stop(((billing_api *)app)->reconcile);
}

/* Commits the stored offsets and leaves the group. */
static void free_consumer(void *app)
{
    consumer_free(((billing_api *)app)->consumer);
    replays_free(((billing_api *)app)->replays);
    reconcile_free(((billing_api *)app)->reconcile);
}

/* configure, open, start, stop, close: see service_worker. */
static const service_worker consumer_worker = {configure, open_consumer, start_consumer,
                                               stop_consumer, free_consumer};

SERVICE_MAIN(financial, billing_api,
             "Bills finished consultations from appointment.finished events and serves the "
             "billings over HTTP.",
             vars, &billing_api_service, &consumer_worker)
