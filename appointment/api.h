/* appt_api: the appointment service's HTTP routes (see proto/ for the
 * contract). Handlers run on civetweb threads and share one appt_app. */
#ifndef APPOINTMENT_API_H
#define APPOINTMENT_API_H

#include <stddef.h>
#include <stdint.h>

#include "docs.h"
#include "http.h"
#include "mongo.h"
#include "outbox.h"

typedef struct appt_app {
    mongo_db *db;        /* borrowed */
    outbox *ob;          /* borrowed */
    http_server *server; /* set after start, for /metrics */
    int64_t price_cents; /* hourly price captured by new appointments */
    char currency[EVENT_CURRENCY_LEN];
    const char *openapi; /* the OpenAPI document served at /openapi.json */
    size_t openapi_len;
    docs *docs;          /* Swagger UI at /docs */
} appt_app;

extern const http_route appt_routes[];
extern const size_t appt_nroutes;

#endif
