/* appt_finished_api: GET /appointments/finished, the finished appointments
 * of an end_date range a page at a time, for the financial service's
 * reconciler (scope appointments:read: it shows less than GET /appointments
 * does), and the outbox's age on /metrics. Handlers run on civetweb
 * threads. */
#ifndef APPT_FINISHED_API_H
#define APPT_FINISHED_API_H

#include "appt_finished.h"
#include "buf.h"
#include "http.h"
#include "problem.h"

#define APPT_FINISHED_LIMIT_DEFAULT 100

/* Reads from and to (RFC 3339, both required, to after from and at most
 * APPT_FINISHED_RANGE_DAYS_MAX days later), cursor (a page's next_cursor,
 * on a day of the range) and limit (1..APPT_FINISHED_LIMIT_MAX, default
 * APPT_FINISHED_LIMIT_DEFAULT) from query (NULL: none). Returns 0 with *q,
 * or -1 with a 400 problem naming the parameter. Pure. */
int appt_finished_api_query(const char *query, appt_finished_query *q, problem *p);

/* The route's handler: 200 {"items":[{"id","end_date"}],"next_cursor"},
 * 400, or the database's error. req->app starts with a service_app. */
void appt_finished_api_handle(http_req *req);

/* Appends clinic_outbox_oldest_pending_age_seconds (0 when none is pending,
 * -1 when the database does not answer) at now_ms. Cannot fail. */
void appt_finished_api_render_metrics(mongo_db *db, int64_t now_ms, buf *out);

#endif
