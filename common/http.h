/* http: civetweb glue shared by both services. One catch-all civetweb handler
 * routes requests through a table of http_route, enforces auth scopes, the
 * body limit and the JSON content type, answers errors as RFC 9457
 * application/problem+json, and counts requests and latency per route.
 *
 * Handlers run on civetweb worker threads, several at once; everything a
 * request allocates lives in its http_req and is freed when the handler
 * returns.
 *
 * This is the module's public interface. It is implemented by http.c (server
 * and dispatch), http_body.c (bodies), http_reply.c (responses) and the pure
 * http_parse.c (http_parse.h), which share http_internal.h. Results: 0 is
 * success, -1 failure; an _or_reply function returns nonzero exactly when it
 * has replied. */
#ifndef COMMON_HTTP_H
#define COMMON_HTTP_H

#include <bson/bson.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "buf.h"
#include "http_parse.h"
#include "metrics.h"
#include "problem.h"
#include "trace.h"
#include "uuid.h"

#define HTTP_MAX_STATUS 600 /* statuses counted per route: 0..599 */

struct mg_connection;
typedef struct http_req http_req;
typedef void (*http_handler_fn)(http_req *req);

typedef struct http_route {
    const char *method;  /* "GET", "POST" */
    const char *pattern; /* "/appointments/{id}/finish": "{x}" matches one segment,
                          * "{x:uuid}" only a UUID-shaped one (http_parse_route) */
    http_handler_fn fn;
    const char *scope; /* required scope when auth is on; NULL: public */
    bool takes_body;   /* read (bounded) and require application/json if non-empty */
    /* One of the original Python service's routes, kept for its clients: a
     * body without Content-Type is read as JSON (its clients send
     * requests' data=json.dumps(...), which sets none; any other type is
     * still 415), and its handlers answer in that service's forms
     * (api_dates, statuses). */
    bool compat;
} http_route;

/* Per-route request counters by status and a latency histogram. */
typedef struct http_route_stats {
    metrics_counter by_status[HTTP_MAX_STATUS];
    metrics_histogram latency;
} http_route_stats;

/* One request, as its handler sees it. Every pointer in it is borrowed,
 * valid until the handler returns. */
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
    char request_id[HTTP_REQUEST_ID_MAX + 1]; /* the client's X-Request-Id, or a new UUID */
    /* W3C trace context: the request's valid traceparent, or a new trace's */
    char traceparent[TRACEPARENT_LEN];
    trace_ids trace;                 /* its trace id and parent span id, for logs */
    char tracestate[TRACESTATE_MAX]; /* the request's valid tracestate, or "" */
    int status;                      /* status sent, 0 until a reply */
    /* Who is calling (auth.h): "t:…" or "j:…" on a route that needs a scope
     * while auth is on, else "anonymous". What a client stores under a name
     * of its choosing (an Idempotency-Key) is scoped by it. */
    char client[AUTH_CLIENT_LEN];
};

typedef struct http_server_opts {
    const char *host; /* "0.0.0.0"; forced to 127.0.0.1 when auth is off */
    int port;
    int threads;
    size_t max_body;          /* bytes; larger bodies get 413 */
    int request_timeout_ms;   /* bounds slow clients */
    auth *auth;               /* borrowed, outlives the server; NULL or no tokens: auth off */
    const http_route *routes; /* borrowed, outlives the server */
    size_t nroutes;
    void *app;
} http_server_opts;

typedef struct http_server http_server;

/* ---- the server (http.c); call these from the main thread ---- */

/* Copies opts (what it points to is borrowed), binds and starts serving on
 * civetweb's threads. Returns the server, which the caller frees with
 * http_server_free, or NULL with a reason in err[errlen] (port in use). */
http_server *http_server_start(const http_server_opts *opts, char *err, size_t errlen);
/* Stops accepting, waits for requests in flight, frees. NULL is a no-op. */
void http_server_free(http_server *srv);
/* Appends the request counters and latency histograms to out in
 * Prometheus text. Any thread. Cannot fail. */
void http_server_render_metrics(http_server *srv, buf *out);

/* ---- replies (http_reply.c); each request gets exactly one response:
 * a second reply is ignored. Cannot fail (a client gone is not an error). ---- */

/* Sends status, content_type and body[0..len) (not for HEAD), with the
 * request id, no-store and nosniff headers, plus headers: NULL or a
 * NULL-terminated list of name, value pairs. Everything is borrowed. */
void http_reply(http_req *req, int status, const char *content_type, const char *body, size_t len,
                const char *const *headers);
/* http_reply of body (borrowed) as application/json. */
void http_reply_json(http_req *req, int status, const buf *body, const char *const *headers);
/* application/problem+json with type "/problems/<slug>", the status's title,
 * detail, and "field" when field is not NULL. */
void http_reply_problem(http_req *req, int status, const char *slug, const char *field,
                        const char *detail);
/* Answers a problem a pure validator found (common/problem.h). */
void http_reply_problem_of(http_req *req, const problem *p);
/* Answers a failed MongoDB operation: 503 with Retry-After when the database
 * is unreachable (mongo_error_is_unavailable), else logs it and answers 500. */
void http_reply_db_error(http_req *req, const bson_error_t *err);

/* ---- request helpers. An _or_reply function returns 0 when it has not
 * replied (its result is set), or -1 when it has sent a 4xx (the handler
 * just returns). ---- */

/* The value of request header `name` (any case), borrowed until the handler
 * returns, or NULL when absent. */
const char *http_header(http_req *req, const char *name);
/* Validates path capture i as a UUID into out[UUID_STR_LEN] (lowercase), or
 * replies 400 invalid-field naming field. */
int http_param_uuid_or_reply(http_req *req, int i, const char *field, char *out);
/* Parses the body as a JSON object (json_parse_object): *doc is then a new
 * reference the caller json_decref()s. Else replies 400 malformed-body naming
 * the duplicated key, or "body" for anything else. (http_body.c) */
int http_body_json_or_reply(http_req *req, json_t **doc);

#endif
