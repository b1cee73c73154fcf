#include "service.h"

#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "clock.h"
#include "kafka.h"
#include "log.h"
#include "money.h"

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
    /* A client that hangs up mid-reply must not kill the process. */
    signal(SIGPIPE, SIG_IGN);
}

int service_int(const config_var *vars, size_t nvars, const char *name, int64_t min, int64_t max,
                int *out, char *err, size_t errlen)
{
    int64_t v = 0;
    if (config_int(vars, nvars, name, min, max, &v, err, errlen) != 0)
        return -1;
    *out = (int)v;
    return 0;
}

int service_max_consultation_ms(const config_var *vars, size_t nvars, int64_t *out, char *err,
                                size_t errlen)
{
    int hours;
    if (service_int(vars, nvars, "MAX_CONSULTATION_HOURS", 1, 8760, &hours, err, errlen) != 0)
        return -1;
    *out = (int64_t)hours * 3600000;
    return 0;
}

int service_currency(const config_var *vars, size_t nvars, char out[4], char *err, size_t errlen)
{
    const char *cur = config_str(vars, nvars, "CURRENCY");
    if (!money_currency_valid(cur, strlen(cur))) {
        snprintf(err, errlen, "CURRENCY must be 3 capital letters");
        return -1;
    }
    memcpy(out, cur, 4);
    return 0;
}

/* What the api's handlers work with: req->app's pool, day buckets and
 * resource. */
static api_ctx api_ctx_of(const http_req *req)
{
    const service_app *svc = req->app;
    return (api_ctx){.db = svc->db, .bk = svc->bk, .resource = svc->api->resource};
}

void service_handle_get(http_req *req)
{
    api_ctx ctx = api_ctx_of(req);
    api_handle_get(req, &ctx);
}

void service_list(http_req *req, const void *query, int limit)
{
    api_ctx ctx = api_ctx_of(req);
    api_list(req, &ctx, query, limit);
}

/* LOG_LEVEL. On failure logging is on at "info", so the caller can still say
 * why it stops. */
static int start_logging(const service_spec *spec, char *err, size_t errlen)
{
    const char *level = config_str(spec->vars, spec->nvars, "LOG_LEVEL");
    if (log_init(spec->name, level) == 0)
        return 0;
    /* A typo must not quietly log at another level than asked. */
    snprintf(err, errlen, "LOG_LEVEL must be debug, info, warn or error, got '%.32s'", level);
    return -1;
}

/* The Kafka security settings every client of the process uses (read by
 * configure, freed at the end of service_main). */
static kafka_security kafka_sec;

/* KAFKA_SECURITY_PROTOCOL and the rest, checked whole (librdkafka included)
 * and handed to kafka_conf_new; logs what is on, never a secret. */
static int kafka_security_configure(const config_var *vars, size_t nvars, char *err, size_t errlen)
{
    kafka_security_opts o = {
        .protocol = config_str(vars, nvars, "KAFKA_SECURITY_PROTOCOL"),
        .mechanism = config_str(vars, nvars, "KAFKA_SASL_MECHANISM"),
        .username = config_str(vars, nvars, "KAFKA_SASL_USERNAME"),
        .password_file = config_str(vars, nvars, "KAFKA_SASL_PASSWORD_FILE"),
        .ca_file = config_str(vars, nvars, "KAFKA_SSL_CA_FILE"),
        .cert_file = config_str(vars, nvars, "KAFKA_SSL_CERT_FILE"),
        .key_file = config_str(vars, nvars, "KAFKA_SSL_KEY_FILE"),
        .config_file = config_str(vars, nvars, "KAFKA_CONFIG_FILE"),
    };
    if (kafka_security_init(&kafka_sec, &o, err, errlen) != 0)
        return -1;
    if (kafka_security_check(&kafka_sec, err, errlen) != 0) {
        kafka_security_destroy(&kafka_sec);
        return -1;
    }
    kafka_use_security(&kafka_sec);
    char desc[512];
    kafka_security_describe(&kafka_sec, desc, sizeof desc);
    log_info("kafka security", "protocol", kafka_sec.protocol, "settings", desc, NULL);
    if (strcmp(kafka_sec.protocol, "sasl_plaintext") == 0)
        log_warn("KAFKA_SECURITY_PROTOCOL is sasl_plaintext: the password and every event cross "
                 "the network unencrypted",
                 NULL);
    return 0;
}

/* Fills the HTTP_* fields of opts. */
static int http_opts(const config_var *vars, size_t nvars, http_server_opts *opts, char *err,
                     size_t errlen)
{
    int max_body;
    if (service_int(vars, nvars, "HTTP_PORT", 1, 65535, &opts->port, err, errlen) ||
        service_int(vars, nvars, "HTTP_THREADS", 1, 1024, &opts->threads, err, errlen) ||
        service_int(vars, nvars, "HTTP_MAX_BODY_BYTES", 1024, 64 << 20, &max_body, err, errlen) ||
        service_int(vars, nvars, "HTTP_REQUEST_TIMEOUT_MS", 100, 600000, &opts->request_timeout_ms,
                    err, errlen))
        return -1;
    opts->max_body = (size_t)max_body;
    opts->host = config_str(vars, nvars, "HTTP_HOST");
    return 0;
}

/* The bearer-token configuration (AUTH_TOKENS, AUTH_JWT_*), checked whole:
 * logs what is on. Returns it (the caller auth_free()s it after the HTTP
 * server), or NULL with the reason in err. */
static auth *service_auth(const config_var *vars, size_t nvars, char *err, size_t errlen)
{
    int leeway;
    if (service_int(vars, nvars, "AUTH_JWT_LEEWAY_S", 0, 3600, &leeway, err, errlen) != 0)
        return NULL;
    auth_opts o = {
        .tokens = config_str(vars, nvars, "AUTH_TOKENS"),
        .jwt_alg = config_str(vars, nvars, "AUTH_JWT_ALG"),
        .jwt_key_file = config_str(vars, nvars, "AUTH_JWT_KEY_FILE"),
        .jwt_issuer = config_str(vars, nvars, "AUTH_JWT_ISSUER"),
        .jwt_audience = config_str(vars, nvars, "AUTH_JWT_AUDIENCE"),
        .jwt_leeway_s = leeway,
    };
    auth *a = auth_new(&o, err, errlen);
    if (!a)
        return NULL;
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

/* The connection string MONGODB_URI_FILE holds (read by configure, wiped
 * and freed once the pool is made), or NULL for MONGODB_URI's. */
static char *mongo_uri_from_file;

/* MONGODB_URI_FILE: one or the other of the two, never both. */
static int mongo_uri_configure(const config_var *vars, size_t nvars, char *err, size_t errlen)
{
    const char *path = config_str(vars, nvars, "MONGODB_URI_FILE");
    if (!path[0])
        return 0;
    if (config_is_set(vars, nvars, "MONGODB_URI")) {
        snprintf(err, errlen, "MONGODB_URI_FILE and MONGODB_URI are both set: keep one");
        return -1;
    }
    mongo_uri_from_file = config_read_secret("MONGODB_URI_FILE", path, 16384, err, errlen);
    return mongo_uri_from_file ? 0 : -1;
}

static void mongo_uri_forget(void)
{
    if (!mongo_uri_from_file)
        return;
    explicit_bzero(mongo_uri_from_file, strlen(mongo_uri_from_file));
    free(mongo_uri_from_file);
    mongo_uri_from_file = NULL;
}

/* The MongoDB pool from MONGODB_URI (or MONGODB_URI_FILE's) and
 * MONGODB_POOL_SIZE; NULL with err. */
static mongo_db *open_db(const service_spec *spec, char *err, size_t errlen)
{
    int pool;
    if (service_int(spec->vars, spec->nvars, "MONGODB_POOL_SIZE", 1, 1000, &pool, err, errlen) != 0)
        return NULL;
    const char *uri = mongo_uri_from_file ? mongo_uri_from_file
                                          : config_str(spec->vars, spec->nvars, "MONGODB_URI");
    mongo_db *db = mongo_db_new(uri, spec->name, pool, err, errlen);
    if (!db) { /* name the variable the user set, in front of the reason */
        char prefix[32];
        int n = snprintf(prefix, sizeof prefix,
                         "%s: ", mongo_uri_from_file ? "MONGODB_URI_FILE" : "MONGODB_URI");
        size_t plen = (size_t)n, len = strlen(err);
        if (plen + len + 1 <= errlen) {
            memmove(err + plen, err, len + 1);
            memcpy(err, prefix, plen);
        }
    }
    mongo_uri_forget();
    return db;
}

/* ops_probe_fn: MongoDB's check, needed (a ping; it blocks up to
 * serverSelectionTimeoutMS while the database is down), then the API's.
 * A database that answers but lacks the store's collections and indexes is
 * "setting-up", not ready: its requests would scan or create collections,
 * and on FerretDB a collection whose creation an outage cuts in two is
 * lost for good (docs/operations.md, "FerretDB and DDL"). */
static size_t probe(void *app, ops_check *checks)
{
    service_app *svc = app;
    bson_error_t err;
    checks[0] = ops_check_of("mongodb", mongo_db_ping(svc->db, &err) == 0, true);
    if (checks[0].ok && !atomic_load(&svc->setup_done)) {
        checks[0].state = "setting-up";
        checks[0].ok = false;
    }
    return 1 + svc->api->probe(app, checks + 1);
}

/* The API's metrics, then MongoDB's. */
static void render_metrics(void *app, buf *out)
{
    service_app *svc = app;
    if (svc->api->render_metrics)
        svc->api->render_metrics(app, out);
    mongo_render_metrics(svc->db, out);
}

/* The ops routes' context: docs from DOCS_DIR, the spec's fields, and the
 * readiness state ("starting" until the first probe ends). */
static void ops_init(ops_ctx *ops, const service_spec *spec)
{
    char title[96];
    snprintf(title, sizeof title, "clinic-events %s API", spec->name);
    ops->docs = docs_new(config_str(spec->vars, spec->nvars, "DOCS_DIR"), title);
    ops->service = spec->name;
    ops->render_metrics = render_metrics;
    ops->probe = probe;
    ops->openapi = spec->openapi_start;
    ops->openapi_len = (size_t)(spec->openapi_end - spec->openapi_start);
    ops->ready = ops_ready_new();
}

/* Blocks until SIGINT or SIGTERM. Meanwhile runs the readiness probe
 * thread, and the store's setup as soon as the database answers, retrying
 * every 2 s, so start-up order does not matter. On return the probe thread
 * is asked to stop: call ops_probe_stop before freeing what the probe
 * uses. */
static void wait_for_signal(service_app *svc)
{
    ops_ctx *ops = &svc->ops;
    if (ops_probe_start(ops, svc) != 0)
        log_error("cannot start the readiness probe thread: /readyz stays 503", NULL);
    int64_t next_setup_try = 0;
    while (!stop_requested) {
        if (!atomic_load(&svc->setup_done) && clock_mono_ms() >= next_setup_try) {
            bson_error_t berr;
            if (svc->api->store->setup(svc->db, svc->bk, &berr) == 0) {
                atomic_store(&svc->setup_done, true);
                log_info("collections and indexes ready", NULL);
                ops_probe_now(ops); /* ready now, not at the next probe */
            } else {
                log_warn("cannot create indexes yet; retrying", "error", berr.message, NULL);
                next_setup_try = clock_mono_ms() + 2000;
            }
        }
        clock_sleep_ms(100);
    }
    log_info("shutting down", NULL);
    /* The last probe (a ping waits up to 2 s with the database down) ends
     * while the HTTP server drains; service_main joins it with
     * ops_probe_stop. */
    ops_probe_request_stop(ops);
}

/* Everything read before anything is opened: a failure here exits 2. */
static int configure(const service_spec *spec, void *app, http_server_opts *ho, auth **au,
                     char *err, size_t errlen)
{
    if (start_logging(spec, err, errlen) != 0 ||
        http_opts(spec->vars, spec->nvars, ho, err, errlen) != 0 ||
        kafka_security_configure(spec->vars, spec->nvars, err, errlen) != 0 ||
        mongo_uri_configure(spec->vars, spec->nvars, err, errlen) != 0 ||
        spec->worker->configure(app, spec->vars, spec->nvars, err, errlen) != 0)
        return -1;
    *au = service_auth(spec->vars, spec->nvars, err, errlen);
    return *au ? 0 : -1;
}

int service_main(int argc, char **argv, const service_spec *spec, void *app)
{
    char err[512];
    int a = config_handle_args(argc, argv, spec->name, spec->summary, spec->vars, spec->nvars, err,
                               sizeof err);
    if (a < 0) /* before logging starts: a plain line */
        fprintf(stderr, "%s: %s\n", spec->name, err);
    if (a != 0)
        return a > 0 ? 0 : 2;
    http_server_opts ho = {.routes = spec->api->routes, .nroutes = spec->api->nroutes, .app = app};
    auth *au = NULL;
    if (configure(spec, app, &ho, &au, err, sizeof err) != 0) {
        log_error("invalid configuration", "error", err, NULL);
        kafka_use_security(NULL);
        kafka_security_destroy(&kafka_sec);
        mongo_uri_forget();
        return 2;
    }
    ho.auth = au;
    install_signals();
    service_app *svc = app;
    svc->api = spec->api;
    ops_init(&svc->ops, spec);

    /* From here on, everything is released at done, whatever step failed. */
    int rc = 1;
    http_server *srv = NULL;
    char msg[64];
    mongo_global_init();
    svc->db = open_db(spec, err, sizeof err);
    if (!svc->db)
        goto fail;
    svc->bk = buckets_new(spec->api->store->records);
    if (spec->worker->open(app, err, sizeof err) != 0)
        goto fail;
    srv = http_server_start(&ho, err, sizeof err);
    if (!srv)
        goto fail;
    svc->ops.server = srv;
    if (spec->worker->start(app, err, sizeof err) != 0)
        goto fail;
    snprintf(msg, sizeof msg, "%s listening", spec->name);
    log_info(msg, LOG_INT("port", ho.port), NULL);

    /* The API answers 503 while the database is down. */
    wait_for_signal(svc);
    if (spec->worker->stop)
        spec->worker->stop(app);
    rc = 0;
    goto done;

fail:
    log_error("cannot start", "error", err, NULL);
done:
    http_server_free(srv);     /* stop accepting, finish requests in flight */
    ops_probe_stop(&svc->ops); /* the probe uses what follows */
    spec->worker->close(app);  /* the outbox flushes, the consumer commits and leaves */
    buckets_free(svc->bk);
    mongo_db_free(svc->db);
    ops_destroy(&svc->ops); /* after the server: /readyz reads it */
    mongo_global_cleanup();
    auth_free(au); /* after the server: its requests read it */
    kafka_use_security(NULL);
    kafka_security_destroy(&kafka_sec); /* after every Kafka client */
    log_info("stopped", NULL);
    return rc;
}
