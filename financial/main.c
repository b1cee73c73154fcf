/* financial: bills finished consultations from appointment.finished events
 * and serves the billings over HTTP. */
#include <stdio.h>
#include <string.h>

#include "fin_api.h"
#include "consumer.h"
#include "log.h"
#include "service.h"
#include "billing_store.h"

extern const char _binary_proto_financial_openapi_json_start[];
extern const char _binary_proto_financial_openapi_json_end[];

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
#define NVARS (sizeof vars / sizeof vars[0])

static const service_ops_spec ops_spec = {
    .service = "financial",
    .title = "clinic-events financial API",
    .openapi_start = _binary_proto_financial_openapi_json_start,
    .openapi_end = _binary_proto_financial_openapi_json_end,
    .render_metrics = fin_api_render_metrics,
    .probe = fin_api_probe,
};

int main(int argc, char **argv)
{
    int rc = 1;
    if (!service_begin(argc, argv, "financial",
                       "Bills finished consultations from appointment.finished events "
                       "and serves the billings over HTTP.",
                       vars, NVARS, &rc))
        return rc;

    fin_api app;
    memset(&app, 0, sizeof app);
    http_server_opts ho = {
        .service = "financial", .routes = fin_api_routes, .nroutes = fin_api_nroutes, .app = &app};
    int session_timeout, retry_max;
    if (service_http_opts(vars, NVARS, &ho) ||
        service_int(vars, NVARS, "KAFKA_SESSION_TIMEOUT_MS", 1000, 3600000, &session_timeout) ||
        service_int(vars, NVARS, "CONSUMER_RETRY_MAX_MS", 100, 3600000, &retry_max) ||
        service_currency(vars, NVARS, app.currency))
        return 2;
    auth *au = service_auth(vars, NVARS);
    if (!au)
        return 2;
    ho.auth = au;

    service_ops_init(&app.ops, vars, NVARS, &ops_spec);

    char err[512];
    http_server *srv = NULL;
    consumer *cons = NULL;
    mongo_global_init();
    mongo_db *db = service_open_db(vars, NVARS, "financial", err, sizeof err);
    if (!db) {
        log_error("cannot start", "error", err, NULL);
        goto done;
    }
    app.db = db;
    app.bk = buckets_new(BILLING_BUCKETS_COLLECTION);
    consumer_opts co = {
        .bootstrap = config_str(vars, NVARS, "KAFKA_BOOTSTRAP"),
        .topic = config_str(vars, NVARS, "KAFKA_TOPIC"),
        .dlq_topic = config_str(vars, NVARS, "KAFKA_DLQ_TOPIC"),
        .group_id = config_str(vars, NVARS, "KAFKA_GROUP_ID"),
        .session_timeout_ms = session_timeout,
        .retry_max_ms = retry_max,
        .db = db,
        .bk = app.bk,
    };
    cons = consumer_new(&co, err, sizeof err);
    if (!cons) {
        log_error("cannot start", "error", err, NULL);
        goto done;
    }
    app.consumer = cons;

    srv = http_server_start(&ho, err, sizeof err);
    if (!srv) {
        log_error("cannot start", "error", err, NULL);
        goto done;
    }
    app.ops.server = srv;
    /* The consumer needs no index (it writes by _id), so it starts at once;
     * while the database is down it pauses and retries by itself. */
    if (consumer_start(cons) != 0) {
        log_error("cannot start the consumer thread", NULL);
        goto done;
    }
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%d", ho.port);
    log_info("financial listening", "port", portstr, "topic", co.topic, "group_id", co.group_id,
             NULL);

    service_wait(&app, fin_api_init_store);
    /* Stop taking messages and partitions now, not after the HTTP server
     * has finished its requests. */
    consumer_stop(cons);
    rc = 0;

done:
    http_server_free(srv);    /* stop accepting, finish requests in flight */
    ops_probe_stop(&app.ops); /* the probe uses what follows */
    consumer_free(cons);      /* stop consuming, commit stored offsets, leave the group */
    buckets_free(app.bk);
    mongo_db_free(db);
    ops_destroy(&app.ops); /* after the server: /readyz reads it */
    mongo_global_cleanup();
    auth_free(au); /* after the server: its requests read it */
    log_info("stopped", NULL);
    return rc;
}
