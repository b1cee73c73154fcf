/* appt_request: the appointment API's input validation, pure (no connection,
 * no database), so handlers stay I/O and this part can be fuzzed
 * (tests/fuzz/fuzz_request.c). Each parser fills its output only on success
 * and otherwise returns -1 with the 400 problem to answer in *p.
 * Thread-safe. */
#ifndef APPT_REQUEST_H
#define APPT_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "appt_store.h"
#include "problem.h"
#include "uuid.h"

/* Requests may carry a clock slightly ahead of ours. */
#define APPT_FUTURE_TOLERANCE_MS 1000
#define APPT_LIST_MAX 100
#define APPT_LIST_DEFAULT 20

typedef struct appt_start_req {
    char physician_id[UUID_STR_LEN]; /* lowercase */
    char patient_id[UUID_STR_LEN];
    bool has_start; /* start_date given; else the caller uses now */
    int64_t start_ms;
} appt_start_req;

typedef struct appt_finish_req {
    bool has_end; /* end_date given */
    int64_t end_ms;
} appt_finish_req;

/* POST /appointments: physician_id and patient_id (UUIDs, required),
 * start_date (optional date-time, not after now + the tolerance). doc is the
 * parsed body (json_parse_object). */
int appt_request_start(const json_t *doc, int64_t now_ms, appt_start_req *out, problem *p);

/* POST /appointments/{id}/finish: end_date (optional, as start_date). */
int appt_request_finish(const json_t *doc, int64_t now_ms, appt_finish_req *out, problem *p);

/* The same for the original Python service's routes (POST /, POST /{id}):
 * their dates may also be naive, as its clients send them
 * (timefmt_parse_compat: "2024-05-01T14:30:00.123456" is UTC). */
int appt_request_start_compat(const json_t *doc, int64_t now_ms, appt_start_req *out, problem *p);
int appt_request_finish_compat(const json_t *doc, int64_t now_ms, appt_finish_req *out, problem *p);

/* GET /appointments, into the store's query: physician_id, patient_id,
 * cursor (UUIDs), status (started | finished), limit (1..100, default 20).
 * query may be NULL. */
int appt_request_list(const char *query, appt_list_query *out, problem *p);

#endif
