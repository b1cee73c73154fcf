/* fin_api: the financial service's HTTP routes (see proto/ for the
 * contract): read, list and total billings, plus health, readiness, metrics
 * and the OpenAPI document. Handlers run on civetweb threads and share one
 * fin_app, which they only read. */
#ifndef FINANCIAL_API_H
#define FINANCIAL_API_H

#include <stddef.h>

#include "consumer.h"
#include "docs.h"
#include "event.h"
#include "http.h"
#include "mongo.h"

typedef struct fin_app {
    mongo_db *db;                      /* borrowed */
    consumer *consumer;                /* borrowed */
    http_server *server;               /* set after start, for /metrics */
    char currency[EVENT_CURRENCY_LEN]; /* summarised when a request names none */
    const char *openapi;               /* the OpenAPI document served at /openapi.json */
    size_t openapi_len;
    docs *docs; /* Swagger UI at /docs */
} fin_app;

extern const http_route fin_routes[];
extern const size_t fin_nroutes;

#endif
