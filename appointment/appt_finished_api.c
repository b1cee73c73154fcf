#include "appt_finished_api.h"

#include <stdlib.h>

#include "alloc.h"
#include "api.h"
#include "appt_finished_request.h"
#include "json.h"
#include "metrics.h"
#include "service.h"

void appt_finished_api_handle(http_req *req)
{
    service_app *app = req->app; /* an appt_api starts with it */
    appt_finished_query q;
    problem p;
    if (api_valid_or_reply(req, appt_finished_request_query(req->query, &q, &p), &p) != 0)
        return;
    appt_finished_item *items = xcalloc((size_t)q.limit, sizeof *items);
    int n = 0;
    char cursor[APPT_FINISHED_CURSOR_LEN];
    bson_error_t err;
    if (appt_finished_page(app->db, &q, items, &n, cursor, &err) != 0) {
        free(items);
        http_reply_db_error(req, &err);
        return;
    }
    buf out;
    buf_init(&out);
    buf_puts(&out, "{\"items\":[");
    for (int i = 0; i < n; i++) {
        buf_puts(&out, i ? ",{\"id\":" : "{\"id\":");
        json_append_cstr(&out, items[i].id);
        api_json_time(&out, "end_date", true, items[i].end_ms, API_DATES_RFC3339);
        buf_putc(&out, '}');
    }
    buf_putc(&out, ']');
    api_json_str(&out, "next_cursor", cursor[0] ? cursor : NULL);
    buf_putc(&out, '}');
    free(items);
    http_reply_json(req, 200, &out, NULL);
    buf_free(&out);
}

void appt_finished_api_render_metrics(mongo_db *db, int64_t now_ms, buf *out)
{
    bool any = false;
    int64_t oldest = 0;
    bson_error_t err;
    double age = -1;
    if (appt_finished_oldest_pending(db, &any, &oldest, &err) == 0)
        age = any && now_ms > oldest ? (double)(now_ms - oldest) / 1000.0 : 0;
    metrics_single_f(out, "clinic_outbox_oldest_pending_age_seconds", "gauge",
                     "Age of the oldest outbox entry not yet acknowledged by the broker (0: none "
                     "pending; -1: unknown).",
                     age);
}
