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

/* The route's handler: 200 {"items":[{"id","end_date"}],"next_cursor"},
 * 400, or the database's error. req->app starts with a service_app. */
void appt_finished_api_handle(http_req *req);

/* Appends clinic_outbox_oldest_pending_age_seconds (0 when none is pending,
 * -1 when the database does not answer) at now_ms. Cannot fail. */
void appt_finished_api_render_metrics(mongo_db *db, int64_t now_ms, buf *out);

#endif
