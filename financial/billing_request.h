/* billing_request: the financial API's query validation, pure (no connection, no
 * database), so handlers stay I/O and this part can be fuzzed
 * (tests/fuzz/fuzz_request.c). Each parser fills its output only on success
 * and otherwise returns -1 with the 400 problem to answer in *p.
 * Thread-safe. The parsers fill the store's queries (billing_store.h)
 * directly: this layer sits on the store, never the other way round.
 * billing_, not fin_: one prefix for the folder, which is about billings. */
#ifndef BILLING_REQUEST_H
#define BILLING_REQUEST_H

#include "billing_store.h"
#include "problem.h"

#define BILLING_LIST_MAX 100
#define BILLING_LIST_DEFAULT 20

/* GET /billings: physician_id, patient_id, cursor (UUIDs), from / to
 * (date-times, to after from), limit (1..100, default 20). query may be NULL. */
int billing_request_list(const char *query, billing_list_query *out, problem *p);

/* GET /billings/summary: group_by (required), from / to, currency (three
 * uppercase letters; default_currency when absent, copied as it is). */
int billing_request_summary(const char *query, const char *default_currency,
                            billing_summary_query *out, problem *p);

/* The group_by value that names g: "physician", "patient" or "day". Cannot
 * fail. */
const char *billing_request_group_name(billing_group_by g);

#endif
