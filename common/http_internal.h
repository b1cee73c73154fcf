/* http_internal: what the files of the http module share and the services
 * must not see (as libuv's internal.h). The module is
 *   http.c        the server (civetweb start and stop), dispatch, metrics;
 *   http_body.c   reading a request body, and the watchdog that bounds it;
 *   http_reply.c  every response, problem+json ones included;
 *   http_parse.c  the pure readers of request lines and headers.
 * Only http*.c include this header. */
#ifndef COMMON_HTTP_INTERNAL_H
#define COMMON_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"

/* request_timeout_ms when the options leave it at 0. */
#define HTTP_TIMEOUT_MS_DEFAULT 10000

/* A body being read, and when its time is up (see http_body_read_or_reply).
 * Lives on the reading thread's stack while it is registered. */
typedef struct http_body_watch {
    int fd;
    int64_t deadline_ms;
    bool fired; /* the watchdog shut the socket's read side */
    struct http_body_watch *next;
} http_body_watch;

struct http_server {
    struct mg_context *ctx;
    http_server_opts opts;
    char listen_host[64];    /* the address listened on, "0.0.0.0" for all */
    http_route_stats *stats; /* one per route, plus one for unmatched requests */
    /* the slow-body watchdog (http_body.c) */
    pthread_mutex_t watch_mu;
    http_body_watch *watches; /* behind watch_mu */
    pthread_t watchdog;
    bool watchdog_started;
    atomic_bool watchdog_stop;
};

/* A request as the module sees it: the handler's http_req, and what only
 * dispatch and body reading use. Lives on begin_request's stack; its heap
 * parts (path_copy, req.body) are freed there. */
typedef struct http_exchange {
    http_req req;
    char *path_copy; /* the routed path; captures point into it, NUL-terminated */
    bool body_read;  /* the declared body was read to its end */
} http_exchange;

/* Counts req's status in its route's counters (http.c). Called by
 * http_reply just before the response is written: a client that sees the
 * response and then reads /metrics must find it counted. */
void http_count_status(http_req *req);

/* ---- http_reply.c ---- */

/* The reason phrase of status ("Not Found"), also a problem's title. Cannot fail. */
const char *http_reply_status_title(int status);

/* http_reply_problem with extra headers (NULL or a NULL-terminated list of
 * name, value pairs, as http_reply takes). */
void http_reply_problem_with(http_req *req, int status, const char *slug, const char *field,
                             const char *detail, const char *const *headers);

/* A problem after which the connection must not be reused (the client's
 * bytes can no longer be trusted to start the next request): the same with
 * "Connection: close". */
void http_reply_problem_close(http_req *req, int status, const char *slug, const char *field,
                              const char *detail);

/* ---- http_body.c ---- */

/* Initialises srv's watch list and starts the watchdog thread. Returns 0, or
 * -1 when the thread cannot start: bodies are then bounded only per read
 * (civetweb's request_timeout_ms between bytes). */
int http_body_watchdog_start(http_server *srv);

/* Stops and joins the watchdog if it runs. Call after mg_stop, when no body
 * is being read. */
void http_body_watchdog_stop(http_server *srv);

/* Reads the body civetweb announced (declared: its Content-Length, or -1
 * for a chunked one) into x->req.body, at most srv->opts.max_body bytes, and
 * sets x->body_read. Returns 0, or -1 after replying: 413 over the limit, 400
 * when the client stops short, 408 when it takes longer than
 * request_timeout_ms. */
int http_body_read_or_reply(http_server *srv, http_exchange *x, long long declared);

#endif
