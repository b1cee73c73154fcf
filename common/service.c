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
    const char *level = config_str(vars, nvars, "LOG_LEVEL");
    if (log_init(name, level) != 0) {
        /* A typo must not quietly log at another level than asked. */
        char err[128];
        snprintf(err, sizeof err, "LOG_LEVEL must be debug, info, warn or error, got '%.32s'",
                 level);
        log_error("invalid configuration", "error", err, NULL);
        *exit_code = 2;
        return false;
    }

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
    return 0;
}

auth *service_auth(const config_var *vars, size_t nvars)
{
    int leeway;
    if (service_int(vars, nvars, "AUTH_JWT_LEEWAY_S", 0, 3600, &leeway) != 0)
        return NULL;
    auth_opts o = {
        .tokens = config_str(vars, nvars, "AUTH_TOKENS"),
        .jwt_alg = config_str(vars, nvars, "AUTH_JWT_ALG"),
        .jwt_key_file = config_str(vars, nvars, "AUTH_JWT_KEY_FILE"),
        .jwt_issuer = config_str(vars, nvars, "AUTH_JWT_ISSUER"),
        .jwt_audience = config_str(vars, nvars, "AUTH_JWT_AUDIENCE"),
        .jwt_leeway_s = leeway,
    };
    char err[512];
    auth *a = auth_new(&o, err, sizeof err);
    if (!a) {
        log_error("invalid configuration", "error", err, NULL);
        return NULL;
    }
    if (auth_jwt_on(a)) {
        log_info("auth on", LOG_INT("static_tokens", auth_ntokens(a)), "jwt_alg", o.jwt_alg,
                 "jwt_key_file", o.jwt_key_file, "jwt_issuer",
                 o.jwt_issuer[0] ? o.jwt_issuer : "(any)", "jwt_audience",
                 o.jwt_audience[0] ? o.jwt_audience : "(any)", NULL);
        if (!o.jwt_issuer[0] || !o.jwt_audience[0])
            log_warn("AUTH_JWT_ISSUER or AUTH_JWT_AUDIENCE is unset: JWTs from any issuer the key "
                     "signs for, or meant for any audience, are accepted",
                     NULL);
    } else if (auth_on(a)) {
        log_info("auth on", LOG_INT("static_tokens", auth_ntokens(a)), NULL);
    }
    return a;
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
