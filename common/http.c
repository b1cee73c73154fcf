#include "http.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "alloc.h"
#include "json.h"
#include "log.h"
#include "mongo.h"
#include "query.h"
#include "timefmt.h"

/* A body being read, and when its time is up (see read_body_or_reply). */
typedef struct body_watch {
    int fd;
    int64_t deadline_ms;
    bool fired;
    struct body_watch *next;
} body_watch;

struct http_server {
    struct mg_context *ctx;
    http_server_opts opts;
    http_route_stats *stats; /* one per route, plus one for unmatched requests */
    pthread_mutex_t watch_mu;
    body_watch *watches;
    pthread_t watchdog;
    bool watchdog_started;
    atomic_bool watchdog_stop;
};

static const char *status_title(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* ---- replies ---- */

void http_reply(http_req *req, int status, const char *content_type, const char *body, size_t len,
                const char *const *headers)
{
    if (req->status)
        return; /* one response per request */
    req->status = status;
    buf h;
    buf_init(&h);
    buf_printf(&h,
               "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
               "X-Request-Id: %s\r\nCache-Control: no-store\r\n"
               "X-Content-Type-Options: nosniff\r\n",
               status, status_title(status), content_type, len, req->request_id);
    for (const char *const *p = headers; p && p[0]; p += 2)
        buf_printf(&h, "%s: %s\r\n", p[0], p[1]);
    buf_puts(&h, "\r\n");
    /* One write for head and body: two small writes meet Nagle and the
     * client's delayed ACK and cost ~40 ms per response. */
    if (len && strcmp(req->method, "HEAD") != 0)
        buf_append(&h, body, len);
    mg_write(req->conn, h.ptr, h.len);
    buf_free(&h);
}

void http_reply_json(http_req *req, int status, const buf *body, const char *const *headers)
{
    http_reply(req, status, "application/json", body->ptr ? body->ptr : "", body->len, headers);
}

static void reply_problem_h(http_req *req, int status, const char *slug, const char *field,
                            const char *detail, const char *const *headers)
{
    buf b;
    buf_init(&b);
    buf_puts(&b, "{\"type\":\"/problems/");
    buf_puts(&b, slug);
    buf_puts(&b, "\",\"title\":");
    json_append_cstr(&b, status_title(status));
    buf_printf(&b, ",\"status\":%d,\"detail\":", status);
    json_append_cstr(&b, detail);
    if (field) {
        buf_puts(&b, ",\"field\":");
        json_append_cstr(&b, field);
    }
    buf_puts(&b, ",\"request_id\":");
    json_append_cstr(&b, req->request_id);
    buf_putc(&b, '}');
    http_reply(req, status, "application/problem+json", b.ptr, b.len, headers);
    buf_free(&b);
}

void http_reply_problem(http_req *req, int status, const char *slug, const char *field,
                        const char *detail)
{
    reply_problem_h(req, status, slug, field, detail, NULL);
}

void http_reply_problem_of(http_req *req, const problem *p)
{
    http_reply_problem(req, p->status, p->slug, p->field, p->detail);
}

void http_reply_unavailable(http_req *req, const char *what)
{
    static const char *const hdr[] = {"Retry-After", "2", NULL};
    char detail[160];
    snprintf(detail, sizeof detail, "%s is unreachable; retry shortly", what);
    reply_problem_h(req, 503, "unavailable", NULL, detail, hdr);
}

void http_reply_db_error(http_req *req, const bson_error_t *err)
{
    if (mongo_error_is_unavailable(err)) {
        http_reply_unavailable(req, "the database");
        return;
    }
    log_error("database error", "error", err->message, "request_id", req->request_id, "trace_id",
              req->trace.trace_id, "span_id", req->trace.span_id, NULL);
    http_reply_problem(req, 500, "internal", NULL, "the database rejected the operation");
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

int http_body_json_or_reply(http_req *req, json_t **doc)
{
    json_parse_error err;
    json_t *d = json_parse_object(req->body ? req->body : "", req->body_len, &err);
    if (!d) {
        http_reply_problem(req, 400, "malformed-body", err.duplicate_key ? err.key : "body",
                           err.msg);
        return -1;
    }
    *doc = d;
    return 0;
}

/* The parsing itself is pure and lives in common/query.c (fuzzed there). */
int http_query_or_reply(http_req *req, const char *name, char *out, size_t outlen)
{
    problem p;
    int rc = query_str(req->query, name, out, outlen, &p);
    if (rc < 0)
        http_reply_problem(req, p.status, p.slug, p.field, p.detail);
    return rc;
}

int http_query_uuid_or_reply(http_req *req, const char *name, char *out)
{
    problem p;
    int rc = query_uuid(req->query, name, out, &p);
    if (rc < 0)
        http_reply_problem(req, p.status, p.slug, p.field, p.detail);
    return rc;
}

int http_query_int_or_reply(http_req *req, const char *name, int64_t min, int64_t max, int64_t *out)
{
    problem p;
    int rc = query_int(req->query, name, min, max, out, &p);
    if (rc < 0)
        http_reply_problem(req, p.status, p.slug, p.field, p.detail);
    return rc;
}

/* ---- dispatch ---- */

/* True if s[0..n) has the shape of a UUID (36 chars of hex digits and dashes
 * in the right places). Handlers still validate it fully. */
static bool uuid_shaped(const char *s, size_t n)
{
    return n == 36 && uuid_is_valid(s, n);
}

/* Matches path (no trailing slash) against pattern, capturing "{x}" segments
 * as (pointer into path, length) in param/param_len. "{x:uuid}" only matches a
 * UUID-shaped segment, so the compatibility routes ("/{id:uuid}") do not
 * swallow every unknown path. Reads path only: dispatch tries every route on
 * the same string and NUL-terminates the captures of the one it picks. */
static bool route_match(const char *pattern, const char *path, const char **param,
                        size_t *param_len)
{
    const char *p = pattern;
    const char *s = path;
    int nparam = 0;
    while (*p && *s) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            const char *se = strchr(s, '/');
            size_t n = se ? (size_t)(se - s) : strlen(s);
            if (n == 0 || nparam >= HTTP_MAX_PARAMS)
                return false;
            if (pe - p > 6 && strncmp(pe - 5, ":uuid", 5) == 0 && !uuid_shaped(s, n))
                return false;
            param[nparam] = s;
            param_len[nparam++] = n;
            p = pe + 1;
            s += n;
            continue;
        }
        if (*p != *s)
            return false;
        p++;
        s++;
    }
    return !*p && !*s;
}

static bool is_json_type(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    const char *end = ct;
    while (*end && *end != ';' && *end != ' ')
        end++;
    size_t n = (size_t)(end - ct);
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(end - 5, "+json", 5) == 0;
}

static void set_request_id(http_req *req)
{
    const char *rid = mg_get_header(req->conn, "X-Request-Id");
    size_t n = rid ? strlen(rid) : 0;
    bool ok = n > 0 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)rid[i]) || rid[i] == '-' || rid[i] == '_' || rid[i] == '.';
    if (ok)
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

/* Answers 401 or 403 as RFC 6750 3 says, with a problem+json body. The
 * token is never logged; why is a fixed phrase from auth_check. */
static bool check_auth_or_reply(http_server *srv, http_req *req)
{
    if (!req->route->scope)
        return true;
    auth_result res;
    auth_status st = auth_check(srv->opts.auth, mg_get_header(req->conn, "Authorization"),
                                req->route->scope, (int64_t)time(NULL), &res);
    if (st == AUTH_OK) {
        memcpy(req->client, res.client, sizeof req->client);
        return true;
    }
    if (st == AUTH_NO_TOKEN) {
        static const char *const hdr[] = {"WWW-Authenticate", "Bearer realm=\"clinic-events\"",
                                          NULL};
        reply_problem_h(req, 401, "unauthorized", NULL, "a valid bearer token is required", hdr);
        return false;
    }
    char detail[160];
    char challenge[200];
    if (st == AUTH_INVALID) {
        snprintf(detail, sizeof detail, "the bearer token is not valid: %s", res.why);
        snprintf(challenge, sizeof challenge,
                 "Bearer realm=\"clinic-events\", error=\"invalid_token\", "
                 "error_description=\"%s\"",
                 res.why);
        const char *const hdr[] = {"WWW-Authenticate", challenge, NULL};
        log_debug("bearer token refused", "reason", res.why, "request_id", req->request_id,
                  "trace_id", req->trace.trace_id, "span_id", req->trace.span_id, NULL);
        reply_problem_h(req, 401, "unauthorized", NULL, detail, hdr);
        return false;
    }
    snprintf(detail, sizeof detail, "the token lacks the scope %s", req->route->scope);
    snprintf(challenge, sizeof challenge,
             "Bearer realm=\"clinic-events\", error=\"insufficient_scope\", scope=\"%s\"",
             req->route->scope);
    const char *const hdr[] = {"WWW-Authenticate", challenge, NULL};
    reply_problem_h(req, 403, "forbidden", NULL, detail, hdr);
    return false;
}

/* ---- slow bodies ----
 * civetweb bounds the request line and headers by request_timeout_ms, but a
 * body only per read: mg_read keeps waiting as long as each byte comes within
 * the timeout, so a client sending a byte a second would hold a worker thread
 * for ever. While a body is read, its socket is registered here with a
 * deadline; past it, the watchdog shuts the socket's read side, mg_read
 * returns, and the request gets a 408. civetweb does not expose the socket,
 * so it is found by its addresses. */

static bool port_of(const struct sockaddr_storage *sa, char *addr, size_t addrlen, int *port)
{
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        *port = ntohs(in->sin_port);
        return inet_ntop(AF_INET, &in->sin_addr, addr, (socklen_t)addrlen) != NULL;
    }
    if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        *port = ntohs(in6->sin6_port);
        return inet_ntop(AF_INET6, &in6->sin6_addr, addr, (socklen_t)addrlen) != NULL;
    }
    return false;
}

/* True if fd is the connected socket of this request (peer and local port). */
static bool fd_is_conn(int fd, const struct mg_request_info *ri)
{
    struct sockaddr_storage sa;
    socklen_t n = sizeof sa;
    char addr[INET6_ADDRSTRLEN];
    int port = 0;
    if (getpeername(fd, (struct sockaddr *)&sa, &n) != 0 ||
        !port_of(&sa, addr, sizeof addr, &port) || port != ri->remote_port ||
        strcmp(addr, ri->remote_addr) != 0)
        return false;
    n = sizeof sa;
    return getsockname(fd, (struct sockaddr *)&sa, &n) == 0 &&
           port_of(&sa, addr, sizeof addr, &port) && port == ri->server_port;
}

/* The request's socket, or -1. A worker thread serves one connection at a
 * time, so the last one found is the first guess. */
static int conn_fd(const struct mg_request_info *ri)
{
    static _Thread_local int last = -1;
    if (last >= 0 && fd_is_conn(last, ri))
        return last;
    for (int fd = 3; fd < 65536; fd++)
        if (fd_is_conn(fd, ri))
            return last = fd;
    return -1;
}

static void *watchdog_main(void *arg)
{
    http_server *srv = arg;
    while (!atomic_load(&srv->watchdog_stop)) {
        int64_t now = timefmt_mono_ms();
        pthread_mutex_lock(&srv->watch_mu);
        for (body_watch *w = srv->watches; w; w = w->next)
            if (!w->fired && now >= w->deadline_ms) {
                shutdown(w->fd, SHUT_RD);
                w->fired = true;
            }
        pthread_mutex_unlock(&srv->watch_mu);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void watch_add(http_server *srv, body_watch *w)
{
    pthread_mutex_lock(&srv->watch_mu);
    w->next = srv->watches;
    srv->watches = w;
    pthread_mutex_unlock(&srv->watch_mu);
}

/* Unregisters w; returns whether its deadline fired. */
static bool watch_remove(http_server *srv, body_watch *w)
{
    pthread_mutex_lock(&srv->watch_mu);
    for (body_watch **p = &srv->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    bool fired = w->fired;
    pthread_mutex_unlock(&srv->watch_mu);
    return fired;
}

/* Reads the body into req->body, at most max_body bytes. Returns 0, or -1
 * after replying (413 over the limit, 400 when the client stops short, 408
 * when it takes longer than request_timeout_ms). */
static int read_body_or_reply(http_server *srv, http_req *req, long long declared)
{
    size_t max = srv->opts.max_body;
    int timeout_ms = srv->opts.request_timeout_ms > 0 ? srv->opts.request_timeout_ms : 10000;
    if (declared > (long long)max) {
        static const char *const hdr[] = {"Connection", "close", NULL};
        char detail[96];
        snprintf(detail, sizeof detail, "the body is larger than %zu bytes", max);
        reply_problem_h(req, 413, "body-too-large", "body", detail, hdr);
        return -1;
    }
    if (declared == 0) {
        req->body_read = true;
        return 0;
    }
    size_t cap = declared > 0 ? (size_t)declared : 4096;
    char *body = xmalloc(cap + 1);
    size_t len = 0;
    body_watch w = {conn_fd(mg_get_request_info(req->conn)), timefmt_mono_ms() + timeout_ms, false,
                    NULL};
    if (w.fd >= 0)
        watch_add(srv, &w);
    for (;;) {
        if (len == cap) {
            if (declared > 0 || cap > max)
                break;
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            body = xrealloc(body, cap + 1);
        }
        int n = mg_read(req->conn, body + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    bool fired = w.fd >= 0 && watch_remove(srv, &w);
    if (fired && !(declared > 0 && len == (size_t)declared)) { /* a complete body is kept */
        static const char *const hdr[] = {"Connection", "close", NULL};
        free(body);
        char detail[96];
        snprintf(detail, sizeof detail, "the body was not received within %d ms", timeout_ms);
        reply_problem_h(req, 408, "request-timeout", "body", detail, hdr);
        return -1;
    }
    if (len > max) {
        static const char *const hdr[] = {"Connection", "close", NULL};
        free(body);
        char detail[96];
        snprintf(detail, sizeof detail, "the body is larger than %zu bytes", max);
        reply_problem_h(req, 413, "body-too-large", "body", detail, hdr);
        return -1;
    }
    if (declared > 0 && len < (size_t)declared) {
        free(body);
        http_reply_problem(req, 400, "malformed-body", "body", "the body ended before its length");
        return -1;
    }
    body[len] = '\0';
    req->body = body;
    req->body_len = len;
    req->body_read = true;
    return 0;
}

static void dispatch(http_server *srv, http_req *req, const struct mg_request_info *ri)
{
    const char *uri = ri->local_uri ? ri->local_uri : "/";
    size_t n = strlen(uri);
    req->path_copy = xstrndup(uri, n);
    if (n > 1 && req->path_copy[n - 1] == '/')
        req->path_copy[n - 1] = '\0'; /* the Python clients call "/{id}/" */

    if (ri->num_headers >= MG_MAX_HEADERS) {
        /* civetweb keeps the first 64 header lines and drops the rest
         * silently: never act on a request whose Authorization,
         * Content-Length or Content-Type may be among the dropped ones. */
        static const char *const hdr[] = {"Connection", "close", NULL};
        reply_problem_h(req, 431, "headers-too-large", NULL,
                        "a request may carry at most 63 header fields", hdr);
        return;
    }
    char allowed[64] = ""; /* methods of the routes whose path matches */
    for (size_t i = 0; i < srv->opts.nroutes; i++) {
        const http_route *r = &srv->opts.routes[i];
        const char *param[HTTP_MAX_PARAMS] = {NULL};
        size_t param_len[HTTP_MAX_PARAMS] = {0};
        if (!route_match(r->pattern, req->path_copy, param, param_len))
            continue;
        if (strcmp(r->method, req->method) != 0 &&
            !(strcmp(req->method, "HEAD") == 0 && strcmp(r->method, "GET") == 0)) {
            if (!strstr(allowed, r->method) &&
                strlen(allowed) + strlen(r->method) + 3 < sizeof allowed) {
                if (allowed[0])
                    strcat(allowed, ", ");
                strcat(allowed, r->method);
            }
            continue;
        }
        /* Captures end at a '/' or at the end: cutting one never moves another. */
        for (int k = 0; k < HTTP_MAX_PARAMS && param[k]; k++) {
            req->param[k] = param[k];
            req->param_len[k] = param_len[k];
            req->path_copy[(size_t)(param[k] - req->path_copy) + param_len[k]] = '\0';
        }
        req->route = r;
        break;
    }
    if (!req->route) {
        if (allowed[0]) {
            const char *const hdr[] = {"Allow", allowed, NULL};
            char detail[128];
            snprintf(detail, sizeof detail, "%s is not allowed here; use %s", req->method, allowed);
            reply_problem_h(req, 405, "method-not-allowed", NULL, detail, hdr);
        } else {
            http_reply_problem(req, 404, "not-found", NULL, "no such resource");
        }
        return;
    }
    if (!check_auth_or_reply(srv, req))
        return;
    if (req->route->takes_body) {
        long long declared = ri->content_length;
        const char *te = mg_get_header(req->conn, "Transfer-Encoding");
        bool has_body = declared > 0 || (declared < 0 && te);
        if (has_body && !is_json_type(mg_get_header(req->conn, "Content-Type"))) {
            http_reply_problem(req, 415, "unsupported-media-type", "Content-Type",
                               "the body must be application/json");
            return;
        }
        if (has_body && read_body_or_reply(srv, req, declared) != 0)
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
    int64_t t0 = timefmt_mono_us();
    http_req req;
    memset(&req, 0, sizeof req);
    req.conn = conn;
    req.app = srv->opts.app;
    req.method = ri->request_method;
    req.query = ri->query_string;
    memcpy(req.client, AUTH_ANONYMOUS, sizeof AUTH_ANONYMOUS);
    set_request_id(&req);
    set_trace(&req);
    dispatch(srv, &req, ri);

    size_t idx = req.route ? (size_t)(req.route - srv->opts.routes) : srv->opts.nroutes;
    http_route_stats *st = &srv->stats[idx];
    int status = req.status > 0 && req.status < HTTP_MAX_STATUS ? req.status : 0;
    metrics_inc(&st->by_status[status]);
    int64_t dt = timefmt_mono_us() - t0;
    metrics_observe_us(&st->latency, dt > 0 ? (uint64_t)dt : 0);
    if (req.status >= 500 && req.status != 503) { /* 503s are outages, logged where seen */
        char s[16];
        snprintf(s, sizeof s, "%d", req.status);
        log_warn("request failed", "method", req.method, "route",
                 req.route ? req.route->pattern : "unmatched", "status", s, "request_id",
                 req.request_id, "trace_id", req.trace.trace_id, "span_id", req.trace.span_id,
                 NULL);
    }
    free(req.body);
    free(req.path_copy);
    /* A body left unread (a 413, 415, 401, 404... answered before reading
     * it): civetweb 1.15 would read and discard all of it after a positive
     * return, 100 MB or a byte a second alike, holding this worker thread.
     * A negative return skips that; the connection is then kept alive only
     * if the whole body was already buffered, else closed. */
    bool declared_body =
        ri->content_length > 0 ||
        (ri->content_length < 0 && mg_get_header(conn, "Transfer-Encoding") != NULL);
    if (declared_body && !req.body_read)
        return -1;
    return req.status ? req.status : 1;
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
    static const char *const hdr[] = {"Connection", "close", NULL};
    reply_problem_h(&req, status, "protocol-error", NULL, status_title(status), hdr);
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
    char ports[96], threads[16], timeout[16];
    snprintf(ports, sizeof ports, "%s:%d", host, opts->port);
    snprintf(threads, sizeof threads, "%d", opts->threads > 0 ? opts->threads : 8);
    snprintf(timeout, sizeof timeout, "%d",
             opts->request_timeout_ms > 0 ? opts->request_timeout_ms : 10000);
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
    pthread_mutex_init(&srv->watch_mu, NULL);
    atomic_init(&srv->watchdog_stop, false);
    srv->watchdog_started = pthread_create(&srv->watchdog, NULL, watchdog_main, srv) == 0;
    srv->ctx = mg_start(&cb, srv, options);
    if (!srv->ctx) {
        snprintf(err, errlen, "cannot listen on %s (in use or not permitted)", ports);
        goto fail;
    }
    return srv;

fail:
    if (srv->watchdog_started) {
        atomic_store(&srv->watchdog_stop, true);
        pthread_join(srv->watchdog, NULL);
    }
    free(srv->stats);
    free(srv);
    return NULL;
}

void http_server_free(http_server *srv)
{
    if (!srv)
        return;
    mg_stop(srv->ctx);
    if (srv->watchdog_started) {
        atomic_store(&srv->watchdog_stop, true);
        pthread_join(srv->watchdog, NULL);
    }
    free(srv->stats);
    free(srv);
}

bool http_server_auth_on(const http_server *srv)
{
    return auth_on(srv->opts.auth);
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
