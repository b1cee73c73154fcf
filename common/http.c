/* The server: civetweb's start and stop, and dispatch of each request
 * through the route table (auth, body, handler), with its metrics and
 * access log. Bodies are read in http_body.c, responses sent by
 * http_reply.c. */
#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "http_internal.h"
#include "http_parse.h"
#include "log.h"

/* ---- request ids and trace context ---- */

/* The client's X-Request-Id when it is safe to echo and log, else a new one. */
static void set_request_id(http_req *req)
{
    const char *rid = mg_get_header(req->conn, "X-Request-Id");
    size_t n = rid ? strlen(rid) : 0;
    if (http_parse_request_id_ok(rid, n))
        memcpy(req->request_id, rid, n + 1);
    else
        uuid_v4(req->request_id);
}

/* W3C trace context: continue the caller's trace, or start one, so that
 * every request's log lines and event carry a trace id. A tracestate travels
 * only with the traceparent it belongs to. */
static void set_trace(http_req *req)
{
    const char *tp = mg_get_header(req->conn, "traceparent");
    const char *ts = mg_get_header(req->conn, "tracestate");
    req->tracestate[0] = '\0';
    if (tp && trace_parse(tp, strlen(tp), &req->trace) == 0) {
        memcpy(req->traceparent, tp, TRACEPARENT_LEN);
        if (ts && trace_state_valid(ts, strlen(ts)))
            memcpy(req->tracestate, ts, strlen(ts) + 1);
    } else {
        trace_new(req->traceparent);
        trace_parse(req->traceparent, TRACEPARENT_LEN - 1, &req->trace);
    }
}

/* ---- dispatch ---- */

/* Answers 401 or 403 as RFC 6750 3 says, with a problem+json body. The
 * token is never logged; why is a fixed phrase from auth_check. Returns 0
 * when the route is public or the caller may use it (req->client set), or -1
 * after replying. */
static int check_auth_or_reply(http_server *srv, http_req *req)
{
    if (!req->route->scope)
        return 0;
    auth_result res;
    auth_status st = auth_check(srv->opts.auth, mg_get_header(req->conn, "Authorization"),
                                req->route->scope, (int64_t)time(NULL), &res);
    if (st == AUTH_OK) {
        memcpy(req->client, res.client, sizeof req->client);
        return 0;
    }
    char detail[160];
    char challenge[200];
    int status = 401;
    const char *slug = "unauthorized";
    if (st == AUTH_NO_TOKEN) {
        snprintf(detail, sizeof detail, "a valid bearer token is required");
        snprintf(challenge, sizeof challenge, "Bearer realm=\"clinic-events\"");
    } else if (st == AUTH_INVALID) {
        snprintf(detail, sizeof detail, "the bearer token is not valid: %s", res.why);
        snprintf(challenge, sizeof challenge,
                 "Bearer realm=\"clinic-events\", error=\"invalid_token\", "
                 "error_description=\"%s\"",
                 res.why);
        log_debug("bearer token refused", "reason", res.why, "request_id", req->request_id,
                  "trace_id", req->trace.trace_id, "span_id", req->trace.span_id, NULL);
    } else {
        status = 403;
        slug = "forbidden";
        snprintf(detail, sizeof detail, "the token lacks the scope %s", req->route->scope);
        snprintf(challenge, sizeof challenge,
                 "Bearer realm=\"clinic-events\", error=\"insufficient_scope\", scope=\"%s\"",
                 req->route->scope);
    }
    const char *const hdr[] = {"WWW-Authenticate", challenge, NULL};
    http_reply_problem_with(req, status, slug, NULL, detail, hdr);
    return -1;
}

/* Adds method to the comma-separated list in allowed[cap] (an Allow
 * header's value) unless it is there already or would not fit. */
static void allow_add(char *allowed, size_t cap, const char *method)
{
    size_t n = strlen(allowed);
    if (strstr(allowed, method) || n + strlen(method) + 3 >= cap)
        return;
    snprintf(allowed + n, cap - n, "%s%s", n ? ", " : "", method);
}

/* Finds the route of x's method and path: sets req->route and its captures
 * (NUL-terminated in x->path_copy) and returns 0, or replies 404 (no such
 * path) or 405 (path known, method not) and returns -1. */
static int route_or_reply(http_server *srv, http_exchange *x, size_t path_len)
{
    http_req *req = &x->req;
    char allowed[64] = ""; /* methods of the routes whose path matches */
    for (size_t i = 0; i < srv->opts.nroutes; i++) {
        const http_route *r = &srv->opts.routes[i];
        const char *param[HTTP_MAX_PARAMS] = {NULL};
        size_t param_len[HTTP_MAX_PARAMS] = {0};
        if (http_parse_route(r->pattern, x->path_copy, path_len, param, param_len) != 0)
            continue;
        if (strcmp(r->method, req->method) != 0 &&
            !(strcmp(req->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
            allow_add(allowed, sizeof allowed, r->method);
            continue;
        }
        /* Captures end at a '/' or at the end: cutting one never moves another. */
        for (int k = 0; k < HTTP_MAX_PARAMS && param[k]; k++) {
            req->param[k] = param[k];
            req->param_len[k] = param_len[k];
            x->path_copy[(size_t)(param[k] - x->path_copy) + param_len[k]] = '\0';
        }
        req->route = r;
        return 0;
    }
    if (!allowed[0]) {
        http_reply_problem(req, 404, "not-found", NULL, "no such resource");
        return -1;
    }
    const char *const hdr[] = {"Allow", allowed, NULL};
    char detail[128];
    snprintf(detail, sizeof detail, "%s is not allowed here; use %s", req->method, allowed);
    http_reply_problem_with(req, 405, "method-not-allowed", NULL, detail, hdr);
    return -1;
}

static void dispatch(http_server *srv, http_exchange *x, const struct mg_request_info *ri)
{
    http_req *req = &x->req;
    const char *uri = ri->local_uri ? ri->local_uri : "/";
    size_t n = http_parse_path_len(uri, strlen(uri));
    x->path_copy = xstrndup(uri, n);

    if (ri->num_headers >= MG_MAX_HEADERS) {
        /* civetweb keeps the first 64 header lines and drops the rest
         * silently: never act on a request whose Authorization,
         * Content-Length or Content-Type may be among the dropped ones. */
        http_reply_problem_close(req, 431, "headers-too-large", NULL,
                                 "a request may carry at most 63 header fields");
        return;
    }
    if (route_or_reply(srv, x, n) != 0 || check_auth_or_reply(srv, req) != 0)
        return;
    if (req->route->takes_body) {
        long long declared = ri->content_length;
        bool has_body =
            http_parse_has_body(declared, mg_get_header(req->conn, "Transfer-Encoding") != NULL);
        const char *ct = mg_get_header(req->conn, "Content-Type");
        bool untyped_json = !ct && req->route->compat;
        if (has_body && !untyped_json && !http_parse_is_json_type(ct, ct ? strlen(ct) : 0)) {
            http_reply_problem(req, 415, "unsupported-media-type", "Content-Type",
                               "the body must be application/json");
            return;
        }
        if (has_body && http_body_read_or_reply(srv, x, declared) != 0)
            return;
    }
    req->route->fn(req);
    if (!req->status) {
        log_error("handler sent no response", "route", req->route->pattern, NULL);
        http_reply_problem(req, 500, "internal", NULL, "the server sent no response");
    }
}

static int begin_request(struct mg_connection *conn)
{
    const struct mg_request_info *ri = mg_get_request_info(conn);
    http_server *srv = ri->user_data;
    int64_t t0 = clock_mono_us();
    http_exchange x;
    memset(&x, 0, sizeof x);
    http_req *req = &x.req;
    req->conn = conn;
    req->app = srv->opts.app;
    req->method = ri->request_method;
    req->query = ri->query_string;
    memcpy(req->client, AUTH_ANONYMOUS, sizeof AUTH_ANONYMOUS);
    set_request_id(req);
    set_trace(req);
    dispatch(srv, &x, ri);

    size_t idx = req->route ? (size_t)(req->route - srv->opts.routes) : srv->opts.nroutes;
    http_route_stats *st = &srv->stats[idx];
    int status = req->status > 0 && req->status < HTTP_MAX_STATUS ? req->status : 0;
    metrics_inc(&st->by_status[status]);
    int64_t dt = clock_mono_us() - t0;
    metrics_observe_us(&st->latency, dt > 0 ? (uint64_t)dt : 0);
    if (req->status >= 500 && req->status != 503) /* 503s are outages, logged where seen */
        log_warn("request failed", "method", req->method, "route",
                 req->route ? req->route->pattern : "unmatched", LOG_INT("status", req->status),
                 "request_id", req->request_id, "trace_id", req->trace.trace_id, "span_id",
                 req->trace.span_id, NULL);
    free(req->body);
    free(x.path_copy);
    /* A body left unread (a 413, 415, 401, 404... answered before reading
     * it): civetweb 1.15 would read and discard all of it after a positive
     * return, 100 MB or a byte a second alike, holding this worker thread.
     * A negative return skips that; the connection is then kept alive only
     * if the whole body was already buffered, else closed. */
    bool declared_body =
        http_parse_has_body(ri->content_length, mg_get_header(conn, "Transfer-Encoding") != NULL);
    if (declared_body && !x.body_read)
        return -1;
    return req->status ? req->status : 1;
}

/* civetweb's own errors (malformed request line, headers too large, timeouts)
 * also answer as problem+json. */
static int http_error(struct mg_connection *conn, int status, const char *msg)
{
    (void)msg;
    http_req req;
    memset(&req, 0, sizeof req);
    req.conn = conn;
    req.method = "GET";
    uuid_v4(req.request_id);
    http_reply_problem_close(&req, status, "protocol-error", NULL, http_reply_status_title(status));
    return 0;
}

/* ---- request helpers ---- */

const char *http_header(http_req *req, const char *name)
{
    return mg_get_header(req->conn, name);
}

int http_param_uuid_or_reply(http_req *req, int i, const char *field, char *out)
{
    if (uuid_normalize(req->param[i], req->param_len[i], out) != 0) {
        char detail[96];
        snprintf(detail, sizeof detail, "%s must be a UUID", field);
        http_reply_problem(req, 400, "invalid-field", field, detail);
        return -1;
    }
    return 0;
}

/* ---- server ---- */

http_server *http_server_start(const http_server_opts *opts, char *err, size_t errlen)
{
    http_server *srv = xcalloc(1, sizeof *srv);
    srv->opts = *opts;
    srv->stats = xcalloc(opts->nroutes + 1, sizeof *srv->stats);

    const char *host = opts->host && opts->host[0] ? opts->host : "0.0.0.0";
    if (!auth_on(opts->auth)) {
        if (strcmp(host, "127.0.0.1") != 0)
            log_warn("auth is off (AUTH_TOKENS and AUTH_JWT_ALG are empty): listening on "
                     "127.0.0.1 only",
                     NULL);
        host = "127.0.0.1";
    }
    snprintf(srv->listen_host, sizeof srv->listen_host, "%s", host);
    char ports[96], threads[16], timeout[16];
    snprintf(ports, sizeof ports, "%s:%d", host, opts->port);
    snprintf(threads, sizeof threads, "%d", opts->threads > 0 ? opts->threads : 8);
    snprintf(timeout, sizeof timeout, "%d",
             opts->request_timeout_ms > 0 ? opts->request_timeout_ms : HTTP_TIMEOUT_MS_DEFAULT);
    const char *options[] = {"listening_ports", ports, "num_threads", threads, "request_timeout_ms",
                             timeout, "enable_keep_alive", "yes",
                             /* Each idle keep-alive connection holds a worker
                              * thread: 16 idle clients made a 17th wait 30 s.
                              * Load balancers' idle timeouts must be shorter. */
                             "keep_alive_timeout_ms", "5000", "max_request_size", "16384",
                             /* Paths are routed as sent: decoded, "%00" would
                              * cut "/appointments/%00/finish" to a start. */
                             "decode_url", "no",
                             /* Responses larger than a segment must not
                              * wait for an ACK (Nagle) before their tail. */
                             "tcp_nodelay", "1", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.begin_request = begin_request;
    cb.http_error = http_error;
    if (http_body_watchdog_start(srv) != 0)
        log_warn("cannot start the slow-body watchdog: a body is bounded per read only", NULL);
    /* If anything fails beyond this point the watchdog must be stopped. */
    srv->ctx = mg_start(&cb, srv, options);
    if (!srv->ctx) {
        snprintf(err, errlen, "cannot listen on %s (in use or not permitted)", ports);
        goto fail;
    }
    return srv;

fail:
    http_body_watchdog_stop(srv);
    free(srv->stats);
    free(srv);
    return NULL;
}

/* civetweb's master thread waits for connections in rounds of 2 s and only
 * sees mg_stop's flag between them, so every stop took up to 2 s. A
 * connection to our own listening socket ends the round at once: the waker
 * makes one every 20 ms until mg_stop has returned. */
typedef struct stop_waker {
    struct sockaddr_in addr;
    atomic_bool done;
} stop_waker;

static void *wake_master_thread(void *arg)
{
    stop_waker *w = arg;
    while (!atomic_load(&w->done)) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            (void)connect(fd, (const struct sockaddr *)&w->addr, sizeof w->addr);
            close(fd);
        }
        clock_sleep_ms(20);
    }
    return NULL;
}

/* The address the waker connects to: loopback when listening on every
 * address. Returns 0, or -1 when there is none (then mg_stop just waits). */
static int waker_address(http_server *srv, struct sockaddr_in *addr)
{
    struct mg_server_port port;
    if (mg_get_server_ports(srv->ctx, 1, &port) < 1)
        return -1;
    const char *host = strcmp(srv->listen_host, "0.0.0.0") == 0 ? "127.0.0.1" : srv->listen_host;
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port.port);
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

void http_server_free(http_server *srv)
{
    if (!srv)
        return;
    stop_waker w;
    pthread_t waker;
    atomic_init(&w.done, false);
    bool waking = waker_address(srv, &w.addr) == 0 &&
                  pthread_create(&waker, NULL, wake_master_thread, &w) == 0;
    mg_stop(srv->ctx);
    if (waking) {
        atomic_store(&w.done, true);
        pthread_join(waker, NULL);
    }
    http_body_watchdog_stop(srv);
    free(srv->stats);
    free(srv);
}

void http_server_render_metrics(http_server *srv, buf *out)
{
    static const char requests[] = "clinic_http_requests_total";
    static const char duration[] = "clinic_http_request_duration_seconds";
    metrics_family(out, requests, "counter", "HTTP requests by route and status.");
    char labels[192];
    for (size_t i = 0; i <= srv->opts.nroutes; i++) {
        const http_route *r = i < srv->opts.nroutes ? &srv->opts.routes[i] : NULL;
        for (int s = 0; s < HTTP_MAX_STATUS; s++) {
            uint64_t v = metrics_get(&srv->stats[i].by_status[s]);
            if (!v)
                continue;
            snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\",status=\"%d\"",
                     r ? r->method : "", r ? r->pattern : "unmatched", s);
            metrics_sample(out, requests, labels, v);
        }
    }
    metrics_family(out, duration, "histogram", "HTTP request latency by route.");
    for (size_t i = 0; i <= srv->opts.nroutes; i++) {
        const http_route *r = i < srv->opts.nroutes ? &srv->opts.routes[i] : NULL;
        if (!atomic_load(&srv->stats[i].latency.count))
            continue;
        snprintf(labels, sizeof labels, "method=\"%s\",route=\"%s\"", r ? r->method : "",
                 r ? r->pattern : "unmatched");
        metrics_histogram_render(out, duration, labels, &srv->stats[i].latency);
    }
}
