/* appt_api: the appointment service's HTTP routes (see proto/ for the
 * contract). Handlers run on civetweb threads and share one appt_api. */
#ifndef APPT_API_H
#define APPT_API_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "ops.h"
#include "buckets.h"
#include "mongo.h"
#include "outbox.h"

typedef struct appt_api {
    ops_ctx ops;         /* first: the shared /healthz, /metrics, /docs ... */
    mongo_db *db;        /* borrowed */
    buckets *bk;         /* borrowed: the lists' day buckets */
    outbox *ob;          /* borrowed */
    int64_t price_cents; /* hourly price captured by new appointments */
    char currency[EVENT_CURRENCY_LEN];
} appt_api;

/* Creates the indexes and runs the one-time migrations (service_wait). */
int appt_api_init_store(void *app, bson_error_t *err);

/* Broker metadata requests of a readiness probe wait at most this long. */
#define KAFKA_PROBE_TIMEOUT_MS 500

/* The readiness checks (ops_probe_fn): mongodb (needed) and kafka. */
size_t appt_api_probe(void *app, ops_check *checks);

/* Appends the service's own metrics (outbox counters) for /metrics. */
void appt_api_render_metrics(void *app, buf *out);

extern const http_route appt_api_routes[];
extern const size_t appt_api_nroutes;

#endif
