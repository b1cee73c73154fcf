/* service: the start-up and shutdown steps both services share — the common
 * configuration rows, signals, the HTTP and MongoDB settings, the ops routes'
 * context, and the wait loop that creates indexes once the database answers.
 * Each service's main.c keeps only what is its own. */
#ifndef COMMON_SERVICE_H
#define COMMON_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "http.h"
#include "mongo.h"
#include "ops.h"

/* Rows of a service's config_var table, in the order --help lists them. */
#define SERVICE_HTTP_VARS(default_port)                                                            \
    {"HTTP_HOST", "0.0.0.0", "address to listen on (127.0.0.1 is forced while auth is off)"},      \
        {"HTTP_PORT", default_port, "TCP port of the HTTP API"},                                   \
        {"HTTP_THREADS", "16", "HTTP worker threads (concurrent requests)"},                       \
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
        {"MONGODB_POOL_SIZE", "32", "most MongoDB connections held at once"},                      \
        {"KAFKA_BOOTSTRAP", "127.0.0.1:9092", "Kafka bootstrap servers (host:port,...)"},          \
    {                                                                                              \
        "KAFKA_TOPIC", "appointment.finished", "topic of appointment.finished events"              \
    }

#define SERVICE_TAIL_VARS                                                                          \
    {"DOCS_DIR", ".deps/swagger-ui", "directory of the Swagger UI files served at /docs"},         \
    {                                                                                              \
        "LOG_LEVEL", "info", "debug, info, warn or error"                                          \
    }

/* Handles argv (--help), starts logging and installs the SIGINT/SIGTERM
 * handlers (SIGPIPE ignored). Returns true to go on; false when main should
 * return *exit_code (after --help, or a bad argument). */
bool service_begin(int argc, char **argv, const char *name, const char *summary,
                   const config_var *vars, size_t nvars, int *exit_code);

/* config_int into an int; logs the reason and returns -1 when invalid. */
int service_int(const config_var *vars, size_t nvars, const char *name, int64_t min, int64_t max,
                int *out);

/* CURRENCY as three capital letters plus NUL; logs and returns -1 otherwise. */
int service_currency(const config_var *vars, size_t nvars, char out[4]);

/* Fills the HTTP_* fields of opts (not auth, routes, app, service). */
int service_http_opts(const config_var *vars, size_t nvars, http_server_opts *opts);

/* The bearer-token configuration (AUTH_TOKENS, AUTH_JWT_*), checked whole:
 * logs what is on, or the reason it is refused and returns NULL. The caller
 * auth_free()s it after the HTTP server. */
auth *service_auth(const config_var *vars, size_t nvars);

/* The MongoDB pool from MONGODB_URI and MONGODB_POOL_SIZE; NULL with err. */
mongo_db *service_open_db(const config_var *vars, size_t nvars, const char *appname, char *err,
                          size_t errlen);

/* What a service's ops routes need besides the configuration. */
typedef struct service_ops_spec {
    const char *service;                     /* "appointment" or "financial" */
    const char *title;                       /* of the Swagger UI page */
    const char *openapi_start, *openapi_end; /* the document linked into the binary */
    void (*render_metrics)(void *app, buf *out);
    ops_probe_fn probe; /* the readiness checks */
} service_ops_spec;

/* The ops routes' context: docs from DOCS_DIR, the spec's fields, and the
 * readiness state ("starting" until service_wait's first probe ends). Call
 * before the HTTP server starts; free with ops_destroy. Cannot fail. */
void service_ops_init(ops_ctx *ops, const config_var *vars, size_t nvars,
                      const service_ops_spec *spec);

/* The MongoDB row of a probe: needed, "ok" when a ping answers. Blocks up
 * to serverSelectionTimeoutMS while the database is down. */
ops_check service_check_db(mongo_db *db);

/* Blocks until SIGINT or SIGTERM. Meanwhile runs the readiness probe
 * thread (app starts with its ops_ctx) and init_store(app) (indexes,
 * one-time migrations) as soon as the database answers, retrying every 2 s,
 * so start-up order does not matter. On return the probe thread is asked
 * to stop: call ops_probe_stop before freeing what the probe uses. */
void service_wait(void *app, int (*init_store)(void *app, bson_error_t *err));

#endif
