/* Reading request bodies, bounded in size and in time.
 *
 * civetweb bounds the request line and headers by request_timeout_ms, but a
 * body only per read: mg_read keeps waiting as long as each byte comes within
 * the timeout, so a client sending a byte a second would hold a worker thread
 * for ever. While a body is read, its socket is registered here with a
 * deadline; past it, the watchdog shuts the socket's read side, mg_read
 * returns, and the request gets a 408. civetweb does not expose the socket,
 * so it is found by its addresses. */
#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "alloc.h"
#include "clock.h"
#include "http_internal.h"
#include "json.h"

/* ---- finding the request's socket ---- */

/* The port of an IPv4 or IPv6 socket address, and where its address is.
 * Returns 0, or -1 for another family. */
static int sock_port(const struct sockaddr_storage *sa, int *port, const void **in_addr)
{
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        *port = ntohs(in->sin_port);
        *in_addr = &in->sin_addr;
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        *port = ntohs(in6->sin6_port);
        *in_addr = &in6->sin6_addr;
    } else {
        return -1;
    }
    return 0;
}

/* True if fd is the connected socket of this request (peer and local port).
 * The ports are compared first: they tell most other sockets apart without
 * formatting an address. */
static bool fd_is_conn(int fd, const struct mg_request_info *ri)
{
    struct sockaddr_storage sa;
    socklen_t n = sizeof sa;
    char addr[INET6_ADDRSTRLEN];
    int port = 0;
    const void *in_addr = NULL;
    if (getpeername(fd, (struct sockaddr *)&sa, &n) != 0 || sock_port(&sa, &port, &in_addr) != 0 ||
        port != ri->remote_port || !inet_ntop(sa.ss_family, in_addr, addr, sizeof addr) ||
        strcmp(addr, ri->remote_addr) != 0)
        return false;
    n = sizeof sa;
    return getsockname(fd, (struct sockaddr *)&sa, &n) == 0 &&
           sock_port(&sa, &port, &in_addr) == 0 && port == ri->server_port;
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

/* ---- the watchdog ---- */

static void *watchdog_main(void *arg)
{
    http_server *srv = arg;
    while (!atomic_load(&srv->watchdog_stop)) {
        int64_t now = clock_mono_ms();
        pthread_mutex_lock(&srv->watch_mu);
        for (http_body_watch *w = srv->watches; w; w = w->next)
            if (!w->fired && now >= w->deadline_ms) {
                shutdown(w->fd, SHUT_RD);
                w->fired = true;
            }
        pthread_mutex_unlock(&srv->watch_mu);
        clock_sleep_ms(50);
    }
    return NULL;
}

int http_body_watchdog_start(http_server *srv)
{
    pthread_mutex_init(&srv->watch_mu, NULL);
    srv->watches = NULL;
    atomic_init(&srv->watchdog_stop, false);
    srv->watchdog_started = pthread_create(&srv->watchdog, NULL, watchdog_main, srv) == 0;
    return srv->watchdog_started ? 0 : -1;
}

void http_body_watchdog_stop(http_server *srv)
{
    if (srv->watchdog_started) {
        atomic_store(&srv->watchdog_stop, true);
        pthread_join(srv->watchdog, NULL);
        srv->watchdog_started = false;
    }
    pthread_mutex_destroy(&srv->watch_mu);
}

static void watch_add(http_server *srv, http_body_watch *w)
{
    pthread_mutex_lock(&srv->watch_mu);
    w->next = srv->watches;
    srv->watches = w;
    pthread_mutex_unlock(&srv->watch_mu);
}

/* Unregisters w; returns whether its deadline fired. */
static bool watch_remove(http_server *srv, http_body_watch *w)
{
    pthread_mutex_lock(&srv->watch_mu);
    for (http_body_watch **p = &srv->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            break;
        }
    bool fired = w->fired;
    pthread_mutex_unlock(&srv->watch_mu);
    return fired;
}

/* ---- reading ---- */

static int reply_too_large(http_req *req, size_t max)
{
    char detail[96];
    snprintf(detail, sizeof detail, "the body is larger than %zu bytes", max);
    http_reply_problem_close(req, 413, "body-too-large", "body", detail);
    return -1;
}

static int reply_too_slow(http_req *req, int timeout_ms)
{
    char detail[96];
    snprintf(detail, sizeof detail, "the body was not received within %d ms", timeout_ms);
    http_reply_problem_close(req, 408, "request-timeout", "body", detail);
    return -1;
}

/* Reads from conn until the end of the body, the declared length, or one
 * byte past max when the length is not declared (chunked). Returns the
 * buffer (room for a NUL after *len); the caller frees it. */
static char *read_all(struct mg_connection *conn, long long declared, size_t max, size_t *len)
{
    size_t cap = declared > 0 ? (size_t)declared : 4096;
    char *body = xmalloc(cap + 1);
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (declared > 0 || cap > max)
                break;
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            body = xrealloc(body, cap + 1);
        }
        int got = mg_read(conn, body + n, cap - n);
        if (got <= 0)
            break;
        n += (size_t)got;
    }
    *len = n;
    return body;
}

int http_body_read_or_reply(http_server *srv, http_exchange *x, long long declared)
{
    http_req *req = &x->req;
    size_t max = srv->opts.max_body;
    int timeout_ms =
        srv->opts.request_timeout_ms > 0 ? srv->opts.request_timeout_ms : HTTP_TIMEOUT_MS_DEFAULT;
    if (declared > (long long)max)
        return reply_too_large(req, max);
    if (declared == 0) {
        x->body_read = true;
        return 0;
    }
    http_body_watch w = {conn_fd(mg_get_request_info(req->conn)), clock_mono_ms() + timeout_ms,
                         false, NULL};
    if (w.fd >= 0)
        watch_add(srv, &w);
    size_t len;
    char *body = read_all(req->conn, declared, max, &len);
    bool fired = w.fd >= 0 && watch_remove(srv, &w);

    int rc = 0;
    bool complete = declared > 0 && len == (size_t)declared;
    if (fired && !complete) /* a complete body is kept, late or not */
        rc = reply_too_slow(req, timeout_ms);
    else if (len > max)
        rc = reply_too_large(req, max);
    else if (declared > 0 && len < (size_t)declared) {
        http_reply_problem(req, 400, "malformed-body", "body", "the body ended before its length");
        rc = -1;
    }
    if (rc != 0) {
        free(body);
        return -1;
    }
    body[len] = '\0';
    req->body = body;
    req->body_len = len;
    x->body_read = true;
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
