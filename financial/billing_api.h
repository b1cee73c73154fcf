/* billing_api: the financial service's HTTP routes (see proto/ for the
 * contract): read, list and total billings, the dead letters
 * (dead_letter_api.c, a part of this module), plus health, readiness,
 * metrics and the OpenAPI document. Handlers run on civetweb threads and share one
 * billing_api, which they only read.
 * billing_, not fin_: one prefix for the folder, which is about billings. */
#ifndef BILLING_API_H
#define BILLING_API_H

#include "billing_store.h"
#include "consumer.h"
#include "intake.h"
#include "replay.h"
#include "reconcile.h"
#include "service.h"

typedef struct billing_api {
    service_app svc;                   /* first: ops, the pool, the day buckets */
    consumer *consumer;                /* borrowed */
    reconcile *reconcile;              /* borrowed */
    char currency[EVENT_CURRENCY_LEN]; /* summarised when a request names none */
    intake_currencies currencies;      /* CURRENCIES: accepted by the consumer and replays */
    replays *replays;                  /* dead-letter replays (replay.h) */
} billing_api;

/* The routes, the readiness checks (mongodb, needed; kafka and the
 * consumer's state, reported), the consumer's metrics and the store's
 * set-up, for service_main; app is a billing_api. */
extern const service_api billing_api_service;

#endif
