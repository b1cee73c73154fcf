/* appointment: HTTP API to start and finish consultations; emits
 * appointment.finished events through a transactional outbox. */
#include <stdio.h>
#include <string.h>

#include "appt_api.h"
#include "money.h"

static const config_var vars[] = {
    SERVICE_HTTP_VARS("8080"),
    {"KAFKA_MESSAGE_TIMEOUT_MS", "30000",
     "how long the producer retries one event before the relay takes over"},
    {"OUTBOX_RELAY_INTERVAL_MS", "1000",
     "how often the relay looks for pending events after a failure or a start (else every 30 s)"},
    {"OUTBOX_RETRY_MAX_MS", "30000", "longest wait between two attempts to publish an event"},
    {"HOURLY_PRICE", "200.00", "price per started hour, captured when a consultation starts"},
    {"CURRENCY", "BRL", "ISO 4217 currency of the prices"},
    {"SHUTDOWN_FLUSH_MS", "10000", "how long shutdown waits for the broker to acknowledge events"},
    SERVICE_TAIL_VARS,
};

/* The process: the handlers' appt_api first (they see this as theirs), then
 * what only start-up and shutdown read. */
typedef struct appointment {
    appt_api api;
    outbox_opts outbox;
    int flush_ms;
} appointment;

static int configure(void *app, const config_var *v, size_t n, char *err, size_t errlen)
{
    appointment *a = app;
    a->outbox.bootstrap = config_str(v, n, "KAFKA_BOOTSTRAP");
    a->outbox.topic = config_str(v, n, "KAFKA_TOPIC");
    if (service_int(v, n, "KAFKA_MESSAGE_TIMEOUT_MS", 1000, 3600000, &a->outbox.message_timeout_ms,
                    err, errlen) ||
        service_int(v, n, "OUTBOX_RELAY_INTERVAL_MS", 10, 3600000, &a->outbox.relay_interval_ms,
                    err, errlen) ||
        service_int(v, n, "OUTBOX_RETRY_MAX_MS", 100, 3600000, &a->outbox.retry_max_ms, err,
                    errlen) ||
        service_int(v, n, "SHUTDOWN_FLUSH_MS", 0, 600000, &a->flush_ms, err, errlen) ||
        service_currency(v, n, a->api.currency, err, errlen))
        return -1;
    const char *price = config_str(v, n, "HOURLY_PRICE");
    if (money_parse(price, strlen(price), &a->api.price_cents) != 0 ||
        a->api.price_cents > EVENT_MAX_HOURLY_PRICE_CENTS) {
        snprintf(err, errlen, "HOURLY_PRICE must look like 200.00 (at most 1000000000.00)");
        return -1;
    }
    return 0;
}

static int open_outbox(void *app, char *err, size_t errlen)
{
    appointment *a = app;
    a->outbox.db = a->api.svc.db;
    a->api.ob = outbox_new(&a->outbox, err, errlen);
    return a->api.ob ? 0 : -1;
}

static int start_outbox(void *app, char *err, size_t errlen)
{
    appointment *a = app;
    if (outbox_start(a->api.ob) == 0)
        return 0;
    snprintf(err, errlen, "cannot start the outbox thread");
    return -1;
}

/* Waits up to SHUTDOWN_FLUSH_MS for the broker to acknowledge what is in
 * flight; the relay publishes the rest after a restart. */
static void free_outbox(void *app)
{
    appointment *a = app;
    outbox_free(a->api.ob, a->flush_ms);
}

static const service_worker outbox_worker = {
    .configure = configure,
    .open = open_outbox,
    .start = start_outbox,
    .close = free_outbox,
};

SERVICE_MAIN(appointment,
             "Starts and finishes consultations over HTTP and publishes appointment.finished "
             "events to Kafka.",
             vars, APPT_BUCKETS_COLLECTION, &appt_api_service, &outbox_worker)
