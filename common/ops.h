/* ops: the operational routes both services share: /healthz, /metrics,
 * /openapi.json, /docs and the /readyz body. A service's app struct starts
 * with an ops_ctx, so these handlers find it through req->app. */
#ifndef COMMON_OPS_H
#define COMMON_OPS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "docs.h"
#include "http.h"

typedef struct ops_ctx {
    http_server *server; /* set once started, for /metrics */
    const char *openapi; /* the OpenAPI document, linked into the binary */
    size_t openapi_len;
    docs *docs;
    /* Appends the service's own metrics (Prometheus text). */
    void (*render_metrics)(void *app, buf *out);
} ops_ctx;

/* One dependency in the /readyz body: "name": "state". */
typedef struct ops_check {
    const char *name;
    const char *state; /* "ok", "down", or a state word */
    bool ok;
} ops_check;

void ops_handle_healthz(http_req *req);
void ops_handle_metrics(http_req *req);
void ops_handle_openapi(http_req *req);
void ops_handle_docs(http_req *req);
void ops_handle_docs_asset(http_req *req);

/* 200 {"status":"ready","checks":{...}} when every check is ok, else 503 with
 * Retry-After and "status":"unavailable". */
void ops_reply_ready(http_req *req, const ops_check *checks, size_t n);

/* The shared rows of a route table (metrics needs the metrics:read scope),
 * one per line like the services' tables, which tests parse. */
/* clang-format off */
#define OPS_ROUTES                                                                                 \
    {"GET", "/healthz", ops_handle_healthz, NULL, false},                                          \
    {"GET", "/metrics", ops_handle_metrics, "metrics:read", false},                                \
    {"GET", "/openapi.json", ops_handle_openapi, NULL, false},                                     \
    {"GET", "/docs", ops_handle_docs, NULL, false},                                                \
    {"GET", "/docs/{file}", ops_handle_docs_asset, NULL, false}
/* clang-format on */

#endif
