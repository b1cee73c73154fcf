#include "service.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "money.h"
#include "timefmt.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

bool service_begin(int argc, char **argv, const char *name, const char *summary,
                   const config_var *vars, size_t nvars, int *exit_code)
{
    int a = config_handle_args(argc, argv, name, summary, vars, nvars);
    if (a != 0) {
        *exit_code = a > 0 ? 0 : 2;
        return false;
    }
    log_init(name, config_str(vars, nvars, "LOG_LEVEL"));

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A client that hangs up mid-reply must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    return true;
}

int service_int(const config_var *vars, size_t nvars, const char *name, int64_t min, int64_t max,
                int *out)
{
    char err[256];
    int64_t v = 0;
    if (config_int(vars, nvars, name, min, max, &v, err, sizeof err) != 0) {
        log_error("invalid configuration", "error", err, NULL);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int service_currency(const config_var *vars, size_t nvars, char out[4])
{
    const char *cur = config_str(vars, nvars, "CURRENCY");
    if (!money_currency_valid(cur, strlen(cur))) {
        log_error("invalid configuration", "error", "CURRENCY must be 3 capital letters", NULL);
        return -1;
    }
    memcpy(out, cur, 4);
    return 0;
}

int service_http_opts(const config_var *vars, size_t nvars, http_server_opts *opts)
{
    int max_body;
    if (service_int(vars, nvars, "HTTP_PORT", 1, 65535, &opts->port) ||
        service_int(vars, nvars, "HTTP_THREADS", 1, 1024, &opts->threads) ||
        service_int(vars, nvars, "HTTP_MAX_BODY_BYTES", 1024, 64 << 20, &max_body) ||
        service_int(vars, nvars, "HTTP_REQUEST_TIMEOUT_MS", 100, 600000, &opts->request_timeout_ms))
        return -1;
    opts->max_body = (size_t)max_body;
    opts->host = config_str(vars, nvars, "HTTP_HOST");
    opts->auth_tokens = config_str(vars, nvars, "AUTH_TOKENS");
    return 0;
}

mongo_db *service_open_db(const config_var *vars, size_t nvars, const char *appname, char *err,
                          size_t errlen)
{
    int pool;
    if (service_int(vars, nvars, "MONGODB_POOL_SIZE", 1, 1000, &pool) != 0) {
        snprintf(err, errlen, "MONGODB_POOL_SIZE is invalid");
        return NULL;
    }
    return mongo_db_new(config_str(vars, nvars, "MONGODB_URI"), appname, pool, err, errlen);
}

void service_ops_init(ops_ctx *ops, const config_var *vars, size_t nvars,
                      const service_ops_spec *spec)
{
    ops->docs = docs_new(config_str(vars, nvars, "DOCS_DIR"), spec->title);
    ops->service = spec->service;
    ops->render_metrics = spec->render_metrics;
    ops->probe = spec->probe;
    ops->openapi = spec->openapi_start;
    ops->openapi_len = (size_t)(spec->openapi_end - spec->openapi_start);
    ops->ready = ops_ready_new();
}

ops_check service_check_db(mongo_db *db)
{
    bson_error_t err;
    bool ok = mongo_db_ping(db, &err) == 0;
    return (ops_check){.name = "mongodb", .state = ok ? "ok" : "down", .ok = ok, .needed = true};
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void service_wait(void *app, int (*init_store)(void *app, bson_error_t *err))
{
    ops_ctx *ops = app; /* an app struct's first member is its ops_ctx */
    if (ops_probe_start(ops, app) != 0)
        log_error("cannot start the readiness probe thread: /readyz stays 503", NULL);
    bool indexes_ok = false;
    int64_t next_index_try = 0;
    while (!stop_requested) {
        if (!indexes_ok && timefmt_mono_ms() >= next_index_try) {
            bson_error_t berr;
            indexes_ok = init_store(app, &berr) == 0;
            if (!indexes_ok) {
                log_warn("cannot create indexes yet; retrying", "error", berr.message, NULL);
                next_index_try = timefmt_mono_ms() + 2000;
            }
        }
        sleep_ms(100);
    }
    log_info("shutting down", NULL);
    /* The last probe (a ping waits up to 2 s with the database down) ends
     * while the HTTP server drains; main joins it with ops_probe_stop. */
    ops_probe_request_stop(ops);
}
