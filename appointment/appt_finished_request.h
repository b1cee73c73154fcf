/* appt_finished_request: the query of GET /appointments/finished into an
 * appt_finished_query (appt_finished.h), or a 400 problem; pure, fuzzed
 * (tests/fuzz/fuzz_request.c). Thread-safe. */
#ifndef APPT_FINISHED_REQUEST_H
#define APPT_FINISHED_REQUEST_H

#include "appt_finished.h"
#include "problem.h"

#define APPT_FINISHED_LIMIT_DEFAULT 100

/* Reads from and to (RFC 3339, both required, to after from and at most
 * APPT_FINISHED_RANGE_DAYS_MAX days later), cursor (a page's next_cursor,
 * on a day of the range) and limit (1..APPT_FINISHED_LIMIT_MAX, default
 * APPT_FINISHED_LIMIT_DEFAULT) from query (NULL: none). Returns 0 with *q,
 * or -1 with a 400 problem naming the parameter; *q is written only on
 * success. */
int appt_finished_request_query(const char *query, appt_finished_query *q, problem *p);

#endif
