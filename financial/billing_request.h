/* billing_request: the financial API's query validation, pure (no connection, no
 * database), so handlers stay I/O and this part can be fuzzed
 * (tests/fuzz/fuzz_request.c). Each parser fills its output only on success
 * and otherwise returns -1 with the 400 problem to answer in *p.
 * Thread-safe.
 * billing_, not fin_: one prefix for the folder, which is about billings. */
#ifndef BILLING_REQUEST_H
#define BILLING_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "event.h"
#include "problem.h"
#include "uuid.h"

#define BILLING_LIST_MAX 100
#define BILLING_LIST_DEFAULT 20

/* The end_date range [from, to) of lists and summaries. */
typedef struct billing_range {
    bool has_from;
    int64_t from_ms;
    bool has_to;
    int64_t to_ms;
} billing_range;

typedef struct billing_list_req {
    bool has_physician, has_patient, has_cursor;
    char physician_id[UUID_STR_LEN]; /* lowercase */
    char patient_id[UUID_STR_LEN];
    char cursor[UUID_STR_LEN];
    billing_range range;
    int limit; /* 1..BILLING_LIST_MAX */
} billing_list_req;

typedef struct billing_summary_req {
    int group_by; /* 0 physician, 1 patient, 2 day: billing_group_by's order */
    billing_range range;
    char currency[EVENT_CURRENCY_LEN];
} billing_summary_req;

/* GET /billings: physician_id, patient_id, cursor (UUIDs), from / to
 * (date-times, to after from), limit (1..100, default 20). query may be NULL. */
int billing_request_list(const char *query, billing_list_req *out, problem *p);

/* GET /billings/summary: group_by (required), from / to, currency (three
 * uppercase letters; default_currency when absent, copied as it is). */
int billing_request_summary(const char *query, const char *default_currency,
                            billing_summary_req *out, problem *p);

#endif
