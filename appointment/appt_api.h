/* appt_api: the appointment service's HTTP routes (see proto/ for the
 * contract). Handlers run on civetweb threads and share one appt_api. */
#ifndef APPT_API_H
#define APPT_API_H

#include <stdint.h>

#include "appt_store.h"
#include "idem_expiry.h"
#include "outbox.h"
#include "registry_api.h"
#include "service.h"

typedef struct appt_api {
    service_app svc;     /* first: ops, the pool, the lists' day buckets */
    outbox *ob;          /* borrowed */
    idem_expiry *expiry; /* borrowed: the idempotency records' sweep */
    int64_t price_cents; /* hourly price captured by new appointments */
    char currency[EVENT_CURRENCY_LEN];
    int64_t max_consultation_ms; /* MAX_CONSULTATION_HOURS: a finish past it is 422 */
    int64_t idem_ttl_ms;         /* IDEMPOTENCY_TTL_S: an older key is as good as absent */
    registry reg;                /* the physicians and patients a start must name */
} appt_api;

/* The routes, the readiness checks (mongodb, needed; kafka, reported), the
 * outbox's metrics and the store's set-up, for service_main; app is an
 * appt_api. */
extern const service_api appt_api_service;

#endif
