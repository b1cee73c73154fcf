/* http: civetweb glue shared by both services. One catch-all civetweb handler
 * routes requests through a table of http_route, enforces auth scopes, the
 * body limit and the JSON content type, answers errors as RFC 9457
 * application/problem+json, and counts requests and latency per route.
 *
 * Handlers run on civetweb worker threads, several at once; everything a
 * request allocates lives in its http_req and is freed when the handler
 * returns. */
#ifndef COMMON_HTTP_H
#define COMMON_HTTP_H

#include <bson/bson.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "buf.h"
#include "metrics.h"
#include "problem.h"
#include "trace.h"
#include "uuid.h"

#define HTTP_MAX_PARAMS 2
#define HTTP_MAX_STATUS 600

struct mg_connection;
typedef struct http_req http_req;
typedef void (*http_handler_fn)(http_req *req);

typedef struct http_route {
    const char *method;  /* "GET", "POST" */
    const char *pattern; /* "/appointments/{id}/finish": "{x}" matches one segment,
                          * "{x:uuid}" only a UUID-shaped one */
    http_handler_fn fn;
    const char *scope; /* required scope when auth is on; NULL: public */
    bool takes_body;   /* read (bounded) and require application/json if non-empty */
} http_route;

/* Per-route request counters by status and a latency histogram. */
typedef struct http_route_stats {
    metrics_counter by_status[HTTP_MAX_STATUS];
    metrics_histogram latency;
} http_route_stats;

struct http_req {
    struct mg_connection *conn;
    const http_route *route;
    void *app; /* the service's context, from http_server_opts.app */
    const char *method;
    const char *query;                  /* raw query string, or NULL */
    const char *param[HTTP_MAX_PARAMS]; /* "{x}" captures, NUL-terminated */
    size_t param_len[HTTP_MAX_PARAMS];
    char *body; /* NUL-terminated; NULL when the route takes none or it is empty */
    size_t body_len;
    char request_id[UUID_STR_LEN + 28];
    /* W3C trace context: the request's valid traceparent, or a new trace's */
    char traceparent[TRACEPARENT_LEN];
    trace_ids trace;                 /* its trace id and parent span id, for logs */
    char tracestate[TRACESTATE_MAX]; /* the request's valid tracestate, or "" */
    int status;                      /* status sent, 0 until a reply */
    /* Who is calling (auth.h): "t:…" or "j:…" on a route that needs a scope
     * while auth is on, else "anonymous". What a client stores under a name
     * of its choosing (an Idempotency-Key) is scoped by it. */
    char client[AUTH_CLIENT_LEN];
    /* private */
    char *path_copy;
    bool body_read; /* the declared body was read to its end */
};

typedef struct http_server_opts {
    const char *service; /* for logs and problem types */
    const char *host;    /* "0.0.0.0"; forced to 127.0.0.1 when auth is off */
    int port;
    int threads;
    size_t max_body;        /* bytes; larger bodies get 413 */
    int request_timeout_ms; /* bounds slow clients */
    auth *auth;             /* borrowed, outlives the server; NULL or no tokens: auth off */
    const http_route *routes;
    size_t nroutes;
    void *app;
} http_server_opts;

typedef struct http_server http_server;

/* Binds and starts serving. Returns the server, or NULL with a reason in err
 * (port in use). */
http_server *http_server_start(const http_server_opts *opts, char *err, size_t errlen);
/* Stops accepting, waits for requests in flight, frees. NULL is a no-op. */
void http_server_free(http_server *srv);
/* True when bearer-token auth is on (static tokens, JWTs or both). */
bool http_server_auth_on(const http_server *srv);
/* Appends the request counters and latency histograms in Prometheus text. */
void http_server_render_metrics(http_server *srv, buf *out);

/* ---- replies (each sends exactly one response) ---- */

/* headers: NULL or a NULL-terminated list of name, value pairs. */
void http_reply(http_req *req, int status, const char *content_type, const char *body, size_t len,
                const char *const *headers);
void http_reply_json(http_req *req, int status, const buf *body, const char *const *headers);
/* Answers a problem a pure validator found (common/problem.h). */
void http_reply_problem_of(http_req *req, const problem *p);
/* application/problem+json with type "/problems/<slug>", the status's title,
 * detail, and "field" when field is not NULL. */
void http_reply_problem(http_req *req, int status, const char *slug, const char *field,
                        const char *detail);
/* 503 with Retry-After, for a dependency that is down. */
void http_reply_unavailable(http_req *req, const char *what);
/* Answers a failed MongoDB operation: 503 with Retry-After when the database
 * is unreachable (mongo_error_is_unavailable), else logs it and answers 500. */
void http_reply_db_error(http_req *req, const bson_error_t *err);

/* ---- request helpers; the _or_reply ones send a 4xx and return -1 ---- */

const char *http_header(http_req *req, const char *name);
/* Validates path capture i as a UUID into out (lowercase); 400 naming field. */
int http_param_uuid_or_reply(http_req *req, int i, const char *field, char *out);
/* Parses the body as a JSON object (json_parse_object). On 0, *doc is a new
 * reference the caller json_decref()s. Else replies 400 malformed-body naming
 * the duplicated key, or "body" for anything else. */
int http_body_json_or_reply(http_req *req, json_t **doc);
/* Copies query parameter `name` (URL-decoded) into out[outlen]. Returns 1 if
 * present, 0 if absent; replies 400 (-1) if too long or invalid UTF-8. */
int http_query_or_reply(http_req *req, const char *name, char *out, size_t outlen);
/* Reads optional query parameter `name` as a UUID into out[UUID_STR_LEN]
 * (lowercase). Returns 1 if present, 0 if absent (out untouched), or replies
 * 400 naming the parameter and returns -1. */
int http_query_uuid_or_reply(http_req *req, const char *name, char *out);
/* Reads optional query parameter `name` as a decimal integer in [min, max].
 * Returns 1 if present (*out set), 0 if absent, or replies 400 naming the
 * parameter and returns -1. */
int http_query_int_or_reply(http_req *req, const char *name, int64_t min, int64_t max,
                            int64_t *out);

#endif
