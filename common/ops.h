/* ops: the operational routes both services share: /healthz, /readyz,
 * /metrics, /openapi.json and /docs. A service's app struct starts with an
 * ops_ctx, so these handlers find it through req->app.
 *
 * Readiness follows what answering requests needs (MongoDB); the other
 * checks (Kafka, the consumer) are reported in the body and in /metrics
 * without failing it. A probe thread runs the service's checks every
 * OPS_PROBE_INTERVAL_MS and /readyz answers from its last result: a request
 * never waits on a dependency. */
#ifndef COMMON_OPS_H
#define COMMON_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "docs.h"
#include "http.h"

/* How often the probe thread runs the checks. */
#define OPS_PROBE_INTERVAL_MS 1000
/* A result older than this (a check hung, e.g. on a database that accepts
 * connections but never answers) no longer counts as ready. */
#define OPS_PROBE_STALE_MS 10000
/* Most checks a probe reports. */
#define OPS_MAX_CHECKS 4
/* Broker metadata requests of a readiness probe wait at most this long. */
#define OPS_KAFKA_PROBE_TIMEOUT_MS 500

/* One check of the /readyz body: "name": "state". */
typedef struct ops_check {
    const char *name;  /* static string */
    const char *state; /* static string: "ok", "down", or a state word */
    bool ok;           /* clinic_check_up in /metrics */
    bool needed;       /* readiness needs it ok (requests cannot be answered without it) */
} ops_check;

/* The check of a dependency: "ok" when ok, else "down". Cannot fail. */
ops_check ops_check_of(const char *name, bool ok, bool needed);

/* Runs a service's checks and fills checks[0..OPS_MAX_CHECKS); returns how
 * many. Runs on the probe thread, never on a request, so it may block for
 * a few seconds (a MongoDB ping waits up to serverSelectionTimeoutMS while
 * the database is down); shutdown waits for the one in flight. */
typedef size_t (*ops_probe_fn)(void *app, ops_check *checks);

/* The probe thread and its last result (ops.c). */
typedef struct ops_ready ops_ready;

typedef struct ops_ctx {
    http_server *server; /* set once started, for /metrics */
    const char *service; /* "appointment" or "financial": clinic_build_info */
    const char *openapi; /* the OpenAPI document, linked into the binary */
    size_t openapi_len;
    docs *docs;
    /* Appends the service's own metrics (Prometheus text). */
    void (*render_metrics)(void *app, buf *out);
    ops_probe_fn probe;
    ops_ready *ready; /* from ops_ready_new, before the HTTP server starts */
} ops_ctx;

/* The state /readyz reads: "starting" (503) until the first probe ends.
 * Cannot fail. Free with ops_destroy. */
ops_ready *ops_ready_new(void);

/* Starts the probe thread: ops->probe(app, ...) now, then every
 * OPS_PROBE_INTERVAL_MS. Returns 0, or -1 if the thread cannot start. */
int ops_probe_start(ops_ctx *ops, void *app);
/* Asks the probe thread to stop after the probe in flight, if any; returns
 * at once, so shutdown goes on meanwhile. Thread-safe. */
void ops_probe_request_stop(ops_ctx *ops);
/* Asks the probe thread to probe again at once (after the probe in flight,
 * if any) instead of at the end of its interval: something a check reads
 * has just changed. Thread-safe; returns at once. */
void ops_probe_now(ops_ctx *ops);
/* Stops the probe thread and waits for it (the probe in flight ends first:
 * up to serverSelectionTimeoutMS while MongoDB is down), so what the probe
 * uses may be freed after this returns. /readyz keeps answering the last
 * result. A no-op when not started. Call from the thread that started it. */
void ops_probe_stop(ops_ctx *ops);

/* Frees the docs and the readiness state; call after the HTTP server is
 * gone (and ops_probe_stop). */
void ops_destroy(ops_ctx *ops);

void ops_handle_healthz(http_req *req);
/* 200 {"status":"ready","checks":{...}} when every needed check is ok;
 * else 503 with Retry-After and "status" "unavailable" (or "starting"
 * before the first probe ends). */
void ops_handle_readyz(http_req *req);
void ops_handle_metrics(http_req *req);
void ops_handle_openapi(http_req *req);
void ops_handle_docs(http_req *req);
void ops_handle_docs_asset(http_req *req);

/* The body of /readyz for the given checks (pure, for unit tests): sets
 * *ready to whether every needed one is ok. stale_ms > 0 makes it not
 * ready, saying how old the checks are; n == 0 means "starting". */
void ops_ready_body(buf *out, const ops_check *checks, size_t n, long stale_ms, bool *ready);

/* The shared rows of a route table (metrics needs the metrics:read scope),
 * one per line like the services' tables, which tests parse. */
/* clang-format off */
#define OPS_ROUTES                                                                                 \
    {"GET", "/healthz", ops_handle_healthz, NULL, false, false},                                   \
    {"GET", "/readyz", ops_handle_readyz, NULL, false, false},                                     \
    {"GET", "/metrics", ops_handle_metrics, "metrics:read", false, false},                         \
    {"GET", "/openapi.json", ops_handle_openapi, NULL, false, false},                              \
    {"GET", "/docs", ops_handle_docs, NULL, false, false},                                         \
    {"GET", "/docs/{file}", ops_handle_docs_asset, NULL, false, false}
/* clang-format on */

#endif
