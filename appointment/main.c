/* appointment: HTTP API to start and finish consultations; emits
 * appointment.finished events through a transactional outbox. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "config.h"
#include "log.h"
#include "money.h"
#include "outbox.h"
#include "store.h"
#include "timefmt.h"

extern const char _binary_proto_appointment_openapi_json_start[];
extern const char _binary_proto_appointment_openapi_json_end[];

static const config_var vars[] = {
    {"HTTP_HOST", "0.0.0.0", "address to listen on (127.0.0.1 is forced while auth is off)"},
    {"HTTP_PORT", "8080", "TCP port of the HTTP API"},
    {"HTTP_THREADS", "16", "HTTP worker threads (concurrent requests)"},
    {"HTTP_MAX_BODY_BYTES", "65536", "largest accepted request body; larger gets 413"},
    {"HTTP_REQUEST_TIMEOUT_MS", "10000", "time a client has to send a request"},
    {"AUTH_TOKENS", "", "bearer tokens and scopes: TOKEN=scope,scope;TOKEN2=scope (empty: auth off)"},
    {"MONGODB_URI", "mongodb://127.0.0.1:27017/clinic", "MongoDB connection string; its path names the database"},
    {"MONGODB_POOL_SIZE", "32", "most MongoDB connections held at once"},
    {"KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers (host:port,...)"},
    {"KAFKA_TOPIC", "appointment.finished", "topic of appointment.finished events"},
    {"KAFKA_MESSAGE_TIMEOUT_MS", "30000", "how long the producer retries one event before the relay takes over"},
    {"OUTBOX_RELAY_INTERVAL_MS", "1000", "how often the relay looks for pending events"},
    {"OUTBOX_RETRY_MAX_MS", "30000", "longest wait between two attempts to publish an event"},
    {"HOURLY_PRICE", "200.00", "price per started hour, captured when a consultation starts"},
    {"CURRENCY", "BRL", "ISO 4217 currency of the prices"},
    {"SHUTDOWN_FLUSH_MS", "10000", "how long shutdown waits for the broker to acknowledge events"},
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
    int a = config_handle_args(argc, argv, "appointment",
                               "Starts and finishes consultations over HTTP and publishes "
                               "appointment.finished events to Kafka.",
                               vars, NVARS);
    if (a != 0)
        return a > 0 ? 0 : 2;
    log_init("appointment", config_str(vars, NVARS, "LOG_LEVEL"));
    install_signals();

    int port, threads, max_body, req_timeout, pool, msg_timeout, relay_interval, retry_max, flush;
    if (get_int("HTTP_PORT", 1, 65535, &port) || get_int("HTTP_THREADS", 1, 1024, &threads) ||
        get_int("HTTP_MAX_BODY_BYTES", 1024, 64 << 20, &max_body) ||
        get_int("HTTP_REQUEST_TIMEOUT_MS", 100, 600000, &req_timeout) ||
        get_int("MONGODB_POOL_SIZE", 1, 1000, &pool) ||
        get_int("KAFKA_MESSAGE_TIMEOUT_MS", 1000, 3600000, &msg_timeout) ||
        get_int("OUTBOX_RELAY_INTERVAL_MS", 10, 3600000, &relay_interval) ||
        get_int("OUTBOX_RETRY_MAX_MS", 100, 3600000, &retry_max) ||
        get_int("SHUTDOWN_FLUSH_MS", 0, 600000, &flush))
        return 2;

    appt_app app;
    memset(&app, 0, sizeof app);
    const char *price = config_str(vars, NVARS, "HOURLY_PRICE");
    if (money_parse(price, strlen(price), &app.price_cents) != 0 ||
        app.price_cents > EVENT_MAX_HOURLY_PRICE_CENTS) {
        log_error("invalid configuration", "error", "HOURLY_PRICE must look like 200.00 (at most 1000000000.00)", NULL);
        return 2;
    }
    const char *cur = config_str(vars, NVARS, "CURRENCY");
    if (strlen(cur) != 3 || cur[0] < 'A' || cur[0] > 'Z' || cur[1] < 'A' || cur[1] > 'Z' ||
        cur[2] < 'A' || cur[2] > 'Z') {
        log_error("invalid configuration", "error", "CURRENCY must be 3 capital letters", NULL);
        return 2;
    }
    memcpy(app.currency, cur, 4);
    app.ops.docs = docs_new(config_str(vars, NVARS, "DOCS_DIR"), "clinic-events appointment API");
    app.ops.render_metrics = appt_render_metrics;
    app.ops.openapi = _binary_proto_appointment_openapi_json_start;
    app.ops.openapi_len = (size_t)(_binary_proto_appointment_openapi_json_end -
                               _binary_proto_appointment_openapi_json_start);

    char err[512];
    int rc = 1;
    http_server *srv = NULL;
    outbox *ob = NULL;
    mongo_global_init();
    mongo_db *db = mongo_db_new(config_str(vars, NVARS, "MONGODB_URI"), "appointment", pool, err,
                                sizeof err);
    if (!db) {
        log_error("cannot start", "error", err, NULL);
        goto done;
    }
    app.db = db;
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

    http_server_opts ho = {
        .service = "appointment",
        .host = config_str(vars, NVARS, "HTTP_HOST"),
        .port = port,
        .threads = threads,
        .max_body = (size_t)max_body,
        .request_timeout_ms = req_timeout,
        .auth_tokens = config_str(vars, NVARS, "AUTH_TOKENS"),
        .routes = appt_routes,
        .nroutes = appt_nroutes,
        .app = &app,
    };
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
    snprintf(portstr, sizeof portstr, "%d", port);
    log_info("appointment listening", "port", portstr, NULL);

    /* The API answers 503 while the database is down; indexes are created as
     * soon as it is reachable, so start-up order does not matter. */
    bool indexes_ok = false;
    int64_t next_index_try = 0;
    while (!stop_requested) {
        if (!indexes_ok && timefmt_mono_ms() >= next_index_try) {
            bson_error_t berr;
            indexes_ok = appt_store_init(db, &berr) == 0;
            if (!indexes_ok) {
                log_warn("cannot create indexes yet; retrying", "error", berr.message, NULL);
                next_index_try = timefmt_mono_ms() + 2000;
            }
        }
        if (outbox_failed(ob))
            break;
        sleep_ms(100);
    }
    log_info("shutting down", NULL);
    rc = outbox_failed(ob) ? 1 : 0;

done:
    http_server_free(srv); /* stop accepting, finish requests in flight */
    outbox_free(ob, flush);
    mongo_db_free(db);
    docs_free(app.ops.docs);
    mongo_global_cleanup();
    log_info("stopped", NULL);
    return rc;
}
