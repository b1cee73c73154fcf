/* appointment: HTTP API to start and finish consultations; emits
 * appointment.finished events through a transactional outbox. */
#include <stdio.h>
#include <string.h>

#include "appt_api.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "service.h"
#include "appt_store.h"

extern const char _binary_proto_appointment_openapi_json_start[];
extern const char _binary_proto_appointment_openapi_json_end[];

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
#define NVARS (sizeof vars / sizeof vars[0])

static const service_ops_spec ops_spec = {
    .service = "appointment",
    .title = "clinic-events appointment API",
    .openapi_start = _binary_proto_appointment_openapi_json_start,
    .openapi_end = _binary_proto_appointment_openapi_json_end,
    .render_metrics = appt_api_render_metrics,
    .probe = appt_api_probe,
};

int main(int argc, char **argv)
{
    int rc = 1;
    if (!service_begin(argc, argv, "appointment",
                       "Starts and finishes consultations over HTTP and publishes "
                       "appointment.finished events to Kafka.",
                       vars, NVARS, &rc))
        return rc;

    appt_api app;
    memset(&app, 0, sizeof app);
    http_server_opts ho = {.service = "appointment",
                           .routes = appt_api_routes,
                           .nroutes = appt_api_nroutes,
                           .app = &app};
    int msg_timeout, relay_interval, retry_max, flush;
    if (service_http_opts(vars, NVARS, &ho) ||
        service_int(vars, NVARS, "KAFKA_MESSAGE_TIMEOUT_MS", 1000, 3600000, &msg_timeout) ||
        service_int(vars, NVARS, "OUTBOX_RELAY_INTERVAL_MS", 10, 3600000, &relay_interval) ||
        service_int(vars, NVARS, "OUTBOX_RETRY_MAX_MS", 100, 3600000, &retry_max) ||
        service_int(vars, NVARS, "SHUTDOWN_FLUSH_MS", 0, 600000, &flush) ||
        service_currency(vars, NVARS, app.currency))
        return 2;
    const char *price = config_str(vars, NVARS, "HOURLY_PRICE");
    if (money_parse(price, strlen(price), &app.price_cents) != 0 ||
        app.price_cents > EVENT_MAX_HOURLY_PRICE_CENTS) {
        log_error("invalid configuration", "error",
                  "HOURLY_PRICE must look like 200.00 (at most 1000000000.00)", NULL);
        return 2;
    }
    auth *au = service_auth(vars, NVARS);
    if (!au)
        return 2;
    ho.auth = au;

    service_ops_init(&app.ops, vars, NVARS, &ops_spec);

    char err[512];
    http_server *srv = NULL;
    outbox *ob = NULL;
    mongo_global_init();
    mongo_db *db = service_open_db(vars, NVARS, "appointment", err, sizeof err);
    if (!db) {
        log_error("cannot start", "error", err, NULL);
        goto done;
    }
    app.db = db;
    app.bk = buckets_new(APPT_BUCKETS_COLLECTION);
    outbox_opts oo = {
        .bootstrap = config_str(vars, NVARS, "KAFKA_BOOTSTRAP"),
        .topic = config_str(vars, NVARS, "KAFKA_TOPIC"),
        .message_timeout_ms = msg_timeout,
        .relay_interval_ms = relay_interval,
        .retry_max_ms = retry_max,
        .db = db,
    };
    ob = outbox_new(&oo, err, sizeof err);
    if (!ob) {
        log_error("cannot start", "error", err, NULL);
        goto done;
    }
    app.ob = ob;

    srv = http_server_start(&ho, err, sizeof err);
    if (!srv) {
        log_error("cannot start", "error", err, NULL);
        goto done;
    }
    app.ops.server = srv;
    if (outbox_start(ob) != 0) {
        log_error("cannot start the outbox thread", NULL);
        goto done;
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", ho.port);
    log_info("appointment listening", "port", portstr, NULL);

    /* The API answers 503 while the database is down. */
    service_wait(&app, appt_api_init_store);
    rc = 0;

done:
    http_server_free(srv);    /* stop accepting, finish requests in flight */
    ops_probe_stop(&app.ops); /* the probe uses what follows */
    outbox_free(ob, flush);
    buckets_free(app.bk);
    mongo_db_free(db);
    ops_destroy(&app.ops); /* after the server: /readyz reads it */
    mongo_global_cleanup();
    auth_free(au); /* after the server: its requests read it */
    log_info("stopped", NULL);
    return rc;
}
