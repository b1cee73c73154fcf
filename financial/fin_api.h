/* fin_api: the financial service's HTTP routes (see proto/ for the
 * contract): read, list and total billings, plus health, readiness, metrics
 * and the OpenAPI document. Handlers run on civetweb threads and share one
 * fin_api, which they only read. */
#ifndef FIN_API_H
#define FIN_API_H

#include <stddef.h>

#include "buckets.h"
#include "consumer.h"
#include "event.h"
#include "http.h"
#include "mongo.h"
#include "ops.h"

typedef struct fin_api {
    ops_ctx ops;                       /* first: the shared /healthz, /metrics, /docs ... */
    mongo_db *db;                      /* borrowed */
    buckets *bk;                       /* borrowed: lists' and summaries' day buckets */
    consumer *consumer;                /* borrowed */
    char currency[EVENT_CURRENCY_LEN]; /* summarised when a request names none */
} fin_api;

/* Creates the indexes and runs the one-time migrations (service_wait). */
int fin_api_init_store(void *app, bson_error_t *err);

/* Broker metadata requests of a readiness probe wait at most this long. */
#define KAFKA_PROBE_TIMEOUT_MS 500

/* The readiness checks (ops_probe_fn): mongodb (needed), kafka and the
 * consumer's state. */
size_t fin_api_probe(void *app, ops_check *checks);

/* Appends the consumer's metrics for /metrics. */
void fin_api_render_metrics(void *app, buf *out);

extern const http_route fin_api_routes[];
extern const size_t fin_api_nroutes;

#endif
