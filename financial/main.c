/* financial: bills finished consultations from appointment.finished events
 * and serves the billings over HTTP. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "config.h"
#include "consumer.h"
#include "log.h"
#include "store.h"
#include "timefmt.h"

extern const char _binary_proto_financial_openapi_json_start[];
extern const char _binary_proto_financial_openapi_json_end[];

static const config_var vars[] = {
    {"HTTP_HOST", "0.0.0.0", "address to listen on (127.0.0.1 is forced while auth is off)"},
    {"HTTP_PORT", "8081", "TCP port of the HTTP API"},
    {"HTTP_THREADS", "16", "HTTP worker threads (concurrent requests)"},
    {"HTTP_MAX_BODY_BYTES", "65536", "largest accepted request body; larger gets 413"},
    {"HTTP_REQUEST_TIMEOUT_MS", "10000", "time a client has to send a request"},
    {"AUTH_TOKENS", "",
     "bearer tokens and scopes: TOKEN=scope,scope;TOKEN2=scope (empty: auth off)"},
    {"MONGODB_URI", "mongodb://127.0.0.1:27017/clinic",
     "MongoDB connection string; its path names the database"},
    {"MONGODB_POOL_SIZE", "32", "most MongoDB connections held at once"},
    {"KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers (host:port,...)"},
    {"KAFKA_TOPIC", "appointment.finished", "topic of appointment.finished events"},
    {"KAFKA_DLQ_TOPIC", "appointment.finished.dlq",
     "dead-letter topic for messages that can never be billed"},
    {"KAFKA_GROUP_ID", "financial", "consumer group; its members share the topic's partitions"},
    {"KAFKA_SESSION_TIMEOUT_MS", "10000",
     "how long the group waits for a silent member before reassigning its partitions"},
    {"CONSUMER_RETRY_MAX_MS", "5000",
     "longest wait between two attempts while MongoDB (or the dead-letter topic) is down"},
    {"CURRENCY", "BRL",
     "ISO 4217 currency that /billings/summary totals when the request names none"},
    {"DOCS_DIR", ".deps/swagger-ui", "directory of the Swagger UI files served at /docs"},
    {"LOG_LEVEL", "info", "debug, info, warn or error"},
};
#define NVARS (sizeof vars / sizeof vars[0])

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int get_int(const char *name, int64_t min, int64_t max, int *out)
{
    char err[256];
    int64_t v = 0;
    if (config_int(vars, NVARS, name, min, max, &v, err, sizeof err) != 0) {
        log_error("invalid configuration", "error", err, NULL);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
    int a = config_handle_args(argc, argv, "financial",
                               "Bills finished consultations from appointment.finished events "
                               "and serves the billings over HTTP.",
                               vars, NVARS);
    if (a != 0)
        return a > 0 ? 0 : 2;
    log_init("financial", config_str(vars, NVARS, "LOG_LEVEL"));
    install_signals();

    int port, threads, max_body, req_timeout, pool, session_timeout, retry_max;
    if (get_int("HTTP_PORT", 1, 65535, &port) || get_int("HTTP_THREADS", 1, 1024, &threads) ||
        get_int("HTTP_MAX_BODY_BYTES", 1024, 64 << 20, &max_body) ||
        get_int("HTTP_REQUEST_TIMEOUT_MS", 100, 600000, &req_timeout) ||
        get_int("MONGODB_POOL_SIZE", 1, 1000, &pool) ||
        get_int("KAFKA_SESSION_TIMEOUT_MS", 1000, 3600000, &session_timeout) ||
        get_int("CONSUMER_RETRY_MAX_MS", 100, 3600000, &retry_max))
        return 2;

    fin_app app;
    memset(&app, 0, sizeof app);
    const char *cur = config_str(vars, NVARS, "CURRENCY");
    if (strlen(cur) != 3 || cur[0] < 'A' || cur[0] > 'Z' || cur[1] < 'A' || cur[1] > 'Z' ||
        cur[2] < 'A' || cur[2] > 'Z') {
        log_error("invalid configuration", "error", "CURRENCY must be 3 capital letters", NULL);
        return 2;
    }
    memcpy(app.currency, cur, 4);
    app.ops.docs = docs_new(config_str(vars, NVARS, "DOCS_DIR"), "clinic-events financial API");
    app.ops.render_metrics = fin_render_metrics;
    app.ops.openapi = _binary_proto_financial_openapi_json_start;
    app.ops.openapi_len = (size_t)(_binary_proto_financial_openapi_json_end -
                               _binary_proto_financial_openapi_json_start);

    char err[512];
    int rc = 1;
    http_server *srv = NULL;
    consumer *cons = NULL;
    mongo_global_init();
    mongo_db *db =
        mongo_db_new(config_str(vars, NVARS, "MONGODB_URI"), "financial", pool, err, sizeof err);
    if (!db) {
        log_error("cannot start", "error", err, NULL);
        goto done;
    }
    app.db = db;
    consumer_opts co = {
        .bootstrap = config_str(vars, NVARS, "KAFKA_BOOTSTRAP"),
        .topic = config_str(vars, NVARS, "KAFKA_TOPIC"),
        .dlq_topic = config_str(vars, NVARS, "KAFKA_DLQ_TOPIC"),
        .group_id = config_str(vars, NVARS, "KAFKA_GROUP_ID"),
        .session_timeout_ms = session_timeout,
        .retry_max_ms = retry_max,
        .db = db,
    };
    cons = consumer_new(&co, err, sizeof err);
    if (!cons) {
        log_error("cannot start", "error", err, NULL);
        goto done;
    }
    app.consumer = cons;

    http_server_opts ho = {
        .service = "financial",
        .host = config_str(vars, NVARS, "HTTP_HOST"),
        .port = port,
        .threads = threads,
        .max_body = (size_t)max_body,
        .request_timeout_ms = req_timeout,
        .auth_tokens = config_str(vars, NVARS, "AUTH_TOKENS"),
        .routes = fin_routes,
        .nroutes = fin_nroutes,
        .app = &app,
    };
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
    snprintf(portstr, sizeof portstr, "%d", port);
    log_info("financial listening", "port", portstr, "topic", co.topic, "group_id", co.group_id,
             NULL);

    /* The list indexes are created as soon as the database is reachable, so
     * start-up order does not matter. */
    bool indexes_ok = false;
    int64_t next_index_try = 0;
    while (!stop_requested) {
        if (!indexes_ok && timefmt_mono_ms() >= next_index_try) {
            bson_error_t berr;
            indexes_ok = billing_store_init(db, &berr) == 0;
            if (!indexes_ok) {
                log_warn("cannot create indexes yet; retrying", "error", berr.message, NULL);
                next_index_try = timefmt_mono_ms() + 2000;
            }
        }
        sleep_ms(100);
    }
    log_info("shutting down", NULL);
    rc = 0;

done:
    http_server_free(srv); /* stop accepting, finish requests in flight */
    consumer_free(cons);   /* stop consuming, commit stored offsets, leave the group */
    mongo_db_free(db);
    docs_free(app.ops.docs);
    mongo_global_cleanup();
    log_info("stopped", NULL);
    return rc;
}
