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
     "how often the relay looks for pending events that are due"},
    {"OUTBOX_RETRY_MAX_MS", "30000", "longest wait between two attempts to publish an event"},
    {"HOURLY_PRICE", "200.00", "price per started hour, captured when a consultation starts"},
    {"CURRENCY", "BRL", "ISO 4217 currency of the prices"},
    SERVICE_CONSULTATION_VAR,
    {"IDEMPOTENCY_TTL_S", "86400",
     "how long an Idempotency-Key is remembered; a retry after it starts a new consultation"},
    {"SHUTDOWN_FLUSH_MS", "10000", "how long shutdown waits for the broker to acknowledge events"},
    REGISTRY_VARS,
    SERVICE_TAIL_VARS,
};

/* The outbox's settings, read by configure for open_outbox and
 * free_outbox: start-up and shutdown run on main's thread. */
static outbox_opts outbox_options;
static int flush_ms, idem_ttl_s;

static int configure(void *app, const config_var *v, size_t n, char *err, size_t errlen)
{
    appt_api *a = app;
    outbox_options.bootstrap = config_str(v, n, "KAFKA_BOOTSTRAP");
    outbox_options.topic = config_str(v, n, "KAFKA_TOPIC");
    if (service_int(v, n, "KAFKA_MESSAGE_TIMEOUT_MS", 1000, 3600000,
                    &outbox_options.message_timeout_ms, err, errlen) ||
        service_int(v, n, "OUTBOX_RELAY_INTERVAL_MS", 10, 3600000,
                    &outbox_options.relay_interval_ms, err, errlen) ||
        service_int(v, n, "OUTBOX_RETRY_MAX_MS", 100, 3600000, &outbox_options.retry_max_ms, err,
                    errlen) ||
        service_int(v, n, "SHUTDOWN_FLUSH_MS", 0, 600000, &flush_ms, err, errlen) ||
        service_int(v, n, "IDEMPOTENCY_TTL_S", 1, 315360000, &idem_ttl_s, err, errlen) ||
        service_currency(v, n, a->currency, err, errlen) ||
        service_max_consultation_ms(v, n, &a->max_consultation_ms, err, errlen) ||
        registry_configure(&a->reg, v, n, err, errlen))
        return -1;
    outbox_options.max_consultation_ms = a->max_consultation_ms;
    a->idem_ttl_ms = (int64_t)idem_ttl_s * 1000;
    const char *price = config_str(v, n, "HOURLY_PRICE");
    if (money_parse(price, strlen(price), &a->price_cents) != 0 ||
        a->price_cents > EVENT_MAX_HOURLY_PRICE_CENTS) {
        snprintf(err, errlen, "HOURLY_PRICE must look like 200.00 (at most 1000000000.00)");
        return -1;
    }
    return 0;
}

static int open_outbox(void *app, char *err, size_t errlen)
{
    appt_api *a = app;
    outbox_options.db = a->svc.db;
    a->expiry = idem_expiry_new(a->svc.db, &a->svc.setup_done, a->idem_ttl_ms);
    a->ob = outbox_new(&outbox_options, err, errlen);
    return a->ob ? 0 : -1;
}

static int start_outbox(void *app, char *err, size_t errlen)
{
    appt_api *a = app;
    if (outbox_start(a->ob) == 0 && idem_expiry_start(a->expiry) == 0)
        return 0;
    snprintf(err, errlen, "cannot start the outbox or idempotency expiry thread");
    return -1;
}

/* Stops the idempotency sweep, then waits up to SHUTDOWN_FLUSH_MS for the broker to acknowledge
 * what is in flight; the relay publishes the rest after a restart. */
static void free_outbox(void *app)
{
    appt_api *a = app;
    idem_expiry_free(a->expiry);
    outbox_free(a->ob, flush_ms);
    registry_destroy(&a->reg);
}

/* configure, open, start, stop, close: see service_worker. The worker is
 * the outbox, and the idempotency records' expiry sweep next to it. */
static const service_worker outbox_worker = {configure, open_outbox, start_outbox, NULL,
                                             free_outbox};

SERVICE_MAIN(appointment, appt_api,
             "Starts and finishes consultations over HTTP and publishes appointment.finished "
             "events to Kafka.",
             vars, &appt_api_service, &outbox_worker)
