/* service: a service process from start to exit, the same for both mains:
 * argv and the configuration table, logging and signals, the HTTP and auth
 * settings, the MongoDB pool and the day buckets, the HTTP server with the
 * ops routes and the readiness probe, the wait for SIGINT/SIGTERM (creating
 * the indexes as soon as the database answers), and the shutdown in reverse
 * order. A main.c keeps its own variables and its worker (the outbox, the
 * consumer), which it hands over as a service_worker (SERVICE_MAIN). */
#ifndef COMMON_SERVICE_H
#define COMMON_SERVICE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buckets.h"
#include "buf.h"
#include "config.h"
#include "http.h"
#include "mongo.h"
#include "ops.h"
#include "store.h"

/* Rows of a service's config_var table, in the order --help lists them. */
#define SERVICE_HTTP_VARS(default_port)                                                            \
    {"HTTP_HOST", "0.0.0.0", "address to listen on (127.0.0.1 is forced while auth is off)"},      \
        {"HTTP_PORT", default_port, "TCP port of the HTTP API"},                                   \
        {"HTTP_THREADS", "256",                                                                    \
         "HTTP worker threads: each open connection holds one, slow or idle clients included"},    \
        {"HTTP_MAX_BODY_BYTES", "65536", "largest accepted request body; larger gets 413"},        \
        {"HTTP_REQUEST_TIMEOUT_MS", "10000",                                                       \
         "time a client has to send its request line and headers, then its body (408 after)"},     \
        {"AUTH_TOKENS", "",                                                                        \
         "static bearer tokens and their scopes: TOKEN=scope,scope;TOKEN2=scope"},                 \
        {"AUTH_JWT_ALG", "",                                                                       \
         "accept JWT bearer tokens signed with RS256, ES256 or HS256 (and only that)"},            \
        {"AUTH_JWT_KEY_FILE", "",                                                                  \
         "the JWT key: a PEM public key (RS256, ES256) or a file holding the HS256 secret"},       \
        {"AUTH_JWT_ISSUER", "", "required JWT iss (unset: not checked)"},                          \
        {"AUTH_JWT_AUDIENCE", "", "required JWT aud, one of its values (unset: not checked)"},     \
        {"AUTH_JWT_LEEWAY_S", "30", "clock skew allowed on JWT exp, nbf and iat, in seconds"},     \
        {"MONGODB_URI", "mongodb://127.0.0.1:27017/clinic",                                        \
         "MongoDB connection string; its path names the database"},                                \
        {"MONGODB_URI_FILE", "",                                                                   \
         "file whose first line is the connection string (one holding a password), for "           \
         "MONGODB_URI"},                                                                           \
        {"MONGODB_POOL_SIZE", "32", "most MongoDB connections held at once"},                      \
        {"KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers (host:port,...)"},          \
        {"KAFKA_TOPIC", "appointment.finished", "topic of appointment.finished events"},           \
        SERVICE_KAFKA_SECURITY_VARS

/* How every Kafka client of the service authenticates (kafka_security.h);
 * service_main reads them and kafka_conf_new applies them. */
#define SERVICE_KAFKA_SECURITY_VARS                                                                \
    {"KAFKA_SECURITY_PROTOCOL", "plaintext", "plaintext, ssl, sasl_plaintext or sasl_ssl"},        \
        {"KAFKA_SASL_MECHANISM", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (sasl_* protocols)"},  \
        {"KAFKA_SASL_USERNAME", "", "SASL user name"},                                             \
        {"KAFKA_SASL_PASSWORD_FILE", "", "file holding the SASL password (first line)"},           \
        {"KAFKA_SSL_CA_FILE", "", "PEM CA certificates that sign the brokers' (unset: system's)"}, \
        {"KAFKA_SSL_CERT_FILE", "", "PEM client certificate for mutual TLS (with its key)"},       \
        {"KAFKA_SSL_KEY_FILE", "", "PEM private key of KAFKA_SSL_CERT_FILE"},                      \
    {                                                                                              \
        "KAFKA_CONFIG_FILE", "", "further librdkafka properties, key=value lines (kcat -F format)" \
    }

/* The longest consultation, the same for both services: appointment refuses
 * to finish past it, financial dead-letters such an event (too_long). */
#define SERVICE_CONSULTATION_VAR                                                                   \
    {                                                                                              \
        "MAX_CONSULTATION_HOURS", "24",                                                            \
            "longest consultation: a finish past it answers 422, an event past it is never billed" \
    }

#define SERVICE_TAIL_VARS                                                                          \
    {"DOCS_DIR", ".deps/swagger-ui", "directory of the Swagger UI files served at /docs"},         \
    {                                                                                              \
        "LOG_LEVEL", "info", "debug, info, warn or error"                                          \
    }

/* What a service's API module provides (appt_api_service, billing_api_service).
 * probe and render_metrics get the app service_main was given. */
typedef struct service_api {
    const http_route *routes; /* OPS_ROUTES and the service's own */
    size_t nroutes;
    /* The readiness checks besides MongoDB's, which comes first and is the
     * one needed: at most OPS_MAX_CHECKS - 1. */
    ops_probe_fn probe;
    /* Its own /metrics lines, before MongoDB's; may be NULL. */
    void (*render_metrics)(void *app, buf *out);
    /* What api_handle_get and api_list serve (service_handle_get and
     * service_list hand it to them). */
    const struct api_resource *resource;
    /* Its store: service_main makes its buckets and runs its setup as soon
     * as the database answers, retrying every 2 s. */
    const store_desc *store;
} service_api;

/* The rows of a service_api that name its route table. */
#define SERVICE_ROUTES(table) .routes = (table), .nroutes = sizeof(table) / sizeof((table)[0])

/* What a service's app struct starts with; service_main fills it. */
typedef struct service_app {
    ops_ctx ops;            /* first: the ops routes find it through req->app */
    mongo_db *db;           /* the pool */
    buckets *bk;            /* the lists' day buckets */
    const service_api *api; /* for the probe and /metrics, which add MongoDB's */
    /* The store's setup (collections, indexes, migrations) has succeeded:
     * until then /readyz says mongodb "setting-up" and is 503. */
    atomic_bool setup_done;
} service_app;

/* A service's own steps of start-up and shutdown (its configuration, its
 * worker: the outbox, the consumer), which service_main calls in this
 * order. Each gets service_main's app; those that can fail return 0, or -1
 * with the reason in err. */
typedef struct service_worker {
    /* Reads the service's own variables, before anything is opened
     * (failing: exit 2). */
    int (*configure)(void *app, const config_var *vars, size_t nvars, char *err, size_t errlen);
    /* Creates the worker, once app's service_app is filled and before the
     * HTTP server starts. */
    int (*open)(void *app, char *err, size_t errlen);
    /* Starts the worker's thread, once the HTTP server listens. */
    int (*start)(void *app, char *err, size_t errlen);
    /* After SIGINT or SIGTERM, while the HTTP server drains; may be NULL. */
    void (*stop)(void *app);
    /* Frees the worker once the HTTP server and the probe are gone; also
     * after a failed start, whatever step failed. */
    void (*close)(void *app);
} service_worker;

/* A service: its name, --help summary, configuration table, OpenAPI
 * document, API and worker. SERVICE_MAIN fills one. */
typedef struct service_spec {
    const char *name; /* "appointment": logs, --help, MongoDB appname, clinic_build_info */
    const char *summary;
    const config_var *vars; /* SERVICE_HTTP_VARS, its own rows, SERVICE_TAIL_VARS */
    size_t nvars;
    const char *openapi_start, *openapi_end; /* proto/<name>.openapi.json, linked in */
    const service_api *api;
    const service_worker *worker;
} service_spec;

/* Runs the process described above and returns its exit status: 0 (after
 * SIGINT or SIGTERM, or --help), 2 for a bad argument or configuration
 * (checked whole before anything is opened), 1 when start-up fails; it logs
 * why. app is what handlers see as req->app and what the worker's steps
 * get: a zeroed struct that starts with its service_app. Call once, from
 * main (SERVICE_MAIN). */
int service_main(int argc, char **argv, const service_spec *spec, void *app);

/* The main() of a service, as CHECK_MAIN is a test suite's: service_ is its
 * name as an identifier (appointment), which also names its OpenAPI
 * document proto/<service_>.openapi.json (the Makefile links it in), and
 * app_ the type of its app struct, which starts with its service_app. */
#define SERVICE_MAIN(service_, app_, summary_, vars_, api_, worker_)                               \
    extern const char _binary_proto_##service_##_openapi_json_start[];                             \
    extern const char _binary_proto_##service_##_openapi_json_end[];                               \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const service_spec spec = {                                                         \
            .name = #service_,                                                                     \
            .summary = (summary_),                                                                 \
            .vars = (vars_),                                                                       \
            .nvars = sizeof(vars_) / sizeof((vars_)[0]),                                           \
            .openapi_start = _binary_proto_##service_##_openapi_json_start,                        \
            .openapi_end = _binary_proto_##service_##_openapi_json_end,                            \
            .api = (api_),                                                                         \
            .worker = (worker_),                                                                   \
        };                                                                                         \
        static app_ app;                                                                           \
        return service_main(argc, argv, &spec, &app);                                              \
    }

/* A route handler: api_handle_get of the service's resource with the
 * pool of req->app's service_app. */
void service_handle_get(http_req *req);

/* For a list handler: api_list of the service's resource (query and limit
 * as api_list's) with the pool and day buckets of req->app's service_app. */
void service_list(http_req *req, const void *query, int limit);

/* For a configure step: config_int into an int. Returns 0, or -1 with the
 * reason in err. */
int service_int(const config_var *vars, size_t nvars, const char *name, int64_t min, int64_t max,
                int *out, char *err, size_t errlen);

/* For a configure step: CURRENCY as three capital letters plus NUL. Returns
 * 0, or -1 with the reason in err. */
int service_currency(const config_var *vars, size_t nvars, char out[4], char *err, size_t errlen);

/* For a configure step: MAX_CONSULTATION_HOURS (1..8760) in ms into *out.
 * Returns 0, or -1 with the reason in err. */
int service_max_consultation_ms(const config_var *vars, size_t nvars, int64_t *out, char *err,
                                size_t errlen);

#endif
