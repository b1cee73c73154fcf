#include "fin_api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "money.h"
#include "fin_request.h"
#include "service.h"
#include "billing_store.h"
#include "timefmt.h"

#define SUMMARY_MAX_GROUPS 10000

static fin_api *app_of(http_req *req)
{
    return req->app;
}

static void append_billing(buf *b, const billing *x)
{
    buf_puts(b, "{\"appointment_id\":");
    json_append_cstr(b, x->appointment_id);
    buf_puts(b, ",\"total_price\":");
    json_append_money(b, x->total_cents);
    buf_puts(b, ",\"currency\":");
    json_append_cstr(b, x->currency);
    buf_printf(b, ",\"billed_hours\":%" PRId64, x->billed_hours);
    buf_puts(b, ",\"hourly_price\":");
    json_append_money(b, x->hourly_price_cents);
    buf_puts(b, ",\"physician_id\":");
    json_append_cstr(b, x->physician_id);
    buf_puts(b, ",\"patient_id\":");
    json_append_cstr(b, x->patient_id);
    buf_puts(b, ",\"start_date\":");
    json_append_time(b, x->start_ms);
    buf_puts(b, ",\"end_date\":");
    json_append_time(b, x->end_ms);
    buf_puts(b, ",\"created_at\":");
    json_append_time(b, x->created_ms);
    buf_putc(b, '}');
}

static void handle_get(http_req *req)
{
    fin_api *app = app_of(req);
    char id[UUID_STR_LEN];
    if (http_param_uuid_or_reply(req, 0, "appointment_id", id) != 0)
        return;
    bson_error_t err;
    billing b;
    int rc = billing_store_get(app->db, id, &b, &err);
    if (rc < 0) {
        http_reply_db_error(req, &err);
        return;
    }
    if (rc == 0) {
        http_reply_problem(req, 404, "not-found", "appointment_id",
                           "no billing for this appointment (not finished, or not billed yet)");
        return;
    }
    buf out;
    buf_init(&out);
    append_billing(&out, &b);
    http_reply_json(req, 200, &out, NULL);
    buf_free(&out);
}

static void handle_list(http_req *req)
{
    fin_api *app = app_of(req);
    fin_list_req lr;
    problem p;
    if (fin_request_list(req->query, &lr, &p) != 0) {
        http_reply_problem_of(req, &p);
        return;
    }
    billing_filter f = {
        .physician_id = lr.has_physician ? lr.physician_id : NULL,
        .patient_id = lr.has_patient ? lr.patient_id : NULL,
        .has_from = lr.range.has_from,
        .from_ms = lr.range.from_ms,
        .has_to = lr.range.has_to,
        .to_ms = lr.range.to_ms,
        .before_id = lr.has_cursor ? lr.cursor : NULL,
        .limit = lr.limit,
    };

    billing items[FIN_LIST_MAX];
    int n = 0;
    bool more = false;
    bson_error_t err;
    if (billing_store_list(app->db, app->bk, &f, items, &n, &more, &err) != 0) {
        http_reply_db_error(req, &err);
        return;
    }
    buf out;
    buf_init(&out);
    buf_puts(&out, "{\"items\":[");
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(&out, ',');
        append_billing(&out, &items[i]);
    }
    buf_puts(&out, "],\"next_cursor\":");
    json_append_cstr(&out, more && n > 0 ? items[n - 1].appointment_id : NULL);
    buf_putc(&out, '}');
    http_reply_json(req, 200, &out, NULL);
    buf_free(&out);
}

static const char *const group_names[] = {"physician", "patient", "day"};

static void append_time_or_null(buf *b, bool has, int64_t ms)
{
    if (has)
        json_append_time(b, ms);
    else
        buf_puts(b, "null");
}

static void handle_summary(http_req *req)
{
    fin_api *app = app_of(req);
    fin_summary_req sr;
    problem p;
    if (fin_request_summary(req->query, app->currency, &sr, &p) != 0) {
        http_reply_problem_of(req, &p);
        return;
    }
    const char *currency = sr.currency;
    billing_summary_query q = {
        .group_by = (billing_group_by)sr.group_by,
        .has_from = sr.range.has_from,
        .from_ms = sr.range.from_ms,
        .has_to = sr.range.has_to,
        .to_ms = sr.range.to_ms,
        .currency = currency,
        .max_groups = SUMMARY_MAX_GROUPS,
    };

    billing_group *groups = NULL;
    size_t n = 0;
    bson_error_t err;
    int rc = billing_store_summary(app->db, app->bk, &q, &groups, &n, &err);
    if (rc == -2) {
        char detail[sizeof err.message + 64];
        snprintf(detail, sizeof detail, "the summary is too large (%s); narrow from/to",
                 err.message);
        http_reply_problem(req, 400, "summary-too-large", NULL, detail);
        return;
    }
    if (rc != 0) {
        http_reply_db_error(req, &err);
        return;
    }
    int64_t total = 0, count = 0;
    bool overflow = false;
    buf out;
    buf_init(&out);
    buf_puts(&out, "{\"group_by\":");
    json_append_cstr(&out, group_names[q.group_by]);
    buf_puts(&out, ",\"from\":");
    append_time_or_null(&out, q.has_from, q.from_ms);
    buf_puts(&out, ",\"to\":");
    append_time_or_null(&out, q.has_to, q.to_ms);
    buf_puts(&out, ",\"currency\":");
    json_append_cstr(&out, currency);
    buf_puts(&out, ",\"groups\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(&out, ',');
        buf_puts(&out, "{\"key\":");
        json_append_cstr(&out, groups[i].key);
        buf_printf(&out, ",\"count\":%" PRId64 ",\"total_price\":", groups[i].count);
        json_append_money(&out, groups[i].total_cents);
        buf_putc(&out, '}');
        overflow |= __builtin_add_overflow(total, groups[i].total_cents, &total);
        count += groups[i].count;
    }
    buf_puts(&out, "],\"total_price\":");
    json_append_money(&out, total);
    buf_printf(&out, ",\"count\":%" PRId64 "}", count);
    free(groups);
    if (overflow)
        http_reply_problem(req, 400, "summary-too-large", NULL,
                           "the summary is too large (the total exceeds the largest amount); "
                           "narrow from/to");
    else
        http_reply_json(req, 200, &out, NULL);
    buf_free(&out);
}

size_t fin_api_probe(void *app, ops_check *checks)
{
    fin_api *a = app;
    /* Billings are served from MongoDB alone; while the broker is down or
     * the consumer paused, events wait in the topic. So only MongoDB is
     * needed; Kafka and the consumer's state are reported. */
    bool kafka_ok = consumer_kafka_ready(a->consumer, KAFKA_PROBE_TIMEOUT_MS) == 0;
    consumer_state s = consumer_get_state(a->consumer);
    checks[0] = service_check_db(a->db);
    checks[1] = (ops_check){.name = "kafka", .state = kafka_ok ? "ok" : "down", .ok = kafka_ok};
    /* ok: billing events flow, or this member has no partition to read
     * (more members than partitions). */
    checks[2] = (ops_check){.name = "consumer",
                            .state = consumer_state_name(s),
                            .ok = s == CONSUMER_RUNNING || s == CONSUMER_NOT_ASSIGNED};
    return 3;
}

int fin_api_init_store(void *app, bson_error_t *err)
{
    fin_api *a = app;
    return billing_store_init(a->db, a->bk, err);
}

void fin_api_render_metrics(void *app, buf *out)
{
    fin_api *a = app;
    consumer_render_metrics(a->consumer, out);
    mongo_render_metrics(a->db, out);
}

/* First match wins: /billings/summary before /billings/{appointment_id}. The
 * compatibility route only takes UUID-shaped segments, so other unknown paths
 * stay 404. */
const http_route fin_api_routes[] = {
    OPS_ROUTES,
    {"GET", "/billings/summary", handle_summary, "billings:read", false},
    {"GET", "/billings", handle_list, "billings:read", false},
    {"GET", "/billings/{appointment_id}", handle_get, "billings:read", false},
    /* the original Python service's route */
    {"GET", "/{appointment_id:uuid}", handle_get, "billings:read", false},
};
const size_t fin_api_nroutes = sizeof fin_api_routes / sizeof fin_api_routes[0];
