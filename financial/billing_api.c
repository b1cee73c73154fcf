#include "billing_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "billing_delay.h"
#include "billing_request.h"
#include "billing_store.h"
#include "clock.h"
#include "dead_letter_api.h"
#include "json.h"
#include "service.h"

#define SUMMARY_MAX_GROUPS 10000

/* An api_append_fn: the billing resource. */
static void append_billing(buf *b, const void *item, api_dates dates)
{
    const billing *x = item;
    buf_puts(b, "{\"appointment_id\":");
    json_append_cstr(b, x->event.appointment_id);
    api_json_money(b, "total_price", x->total_cents);
    api_json_str(b, "currency", x->event.currency);
    api_json_int(b, "billed_hours", x->billed_hours);
    api_json_money(b, "hourly_price", x->event.hourly_price_cents);
    api_json_consultation(b, x->event.physician_id, x->event.patient_id, x->event.start_ms,
                          &x->event.end_ms, dates);
    api_json_time(b, "created_at", true, x->created_ms, dates);
    buf_putc(b, '}');
}

/* api_resource.list: query is a billing_list_query (handle_list). */
static int list_billings(mongo_db *db, buckets *bk, const void *query, mongo_page *p,
                         bson_error_t *err)
{
    return billing_store_list(db, bk, query, p, err);
}

static void handle_list(http_req *req)
{
    billing_list_query lq;
    problem p;
    if (api_valid_or_reply(req, billing_request_list(req->query, &lq, &p), &p) == 0)
        service_list(req, &lq, lq.limit);
}

/* 400 summary-too-large, saying why. */
static void reply_too_large(http_req *req, const char *why)
{
    char detail[128];
    snprintf(detail, sizeof detail, "the summary is too large (%s); narrow from/to", why);
    http_reply_problem(req, 400, "summary-too-large", NULL, detail);
}

static void handle_summary(http_req *req)
{
    billing_api *app = req->app;
    billing_summary_query q;
    problem p;
    if (api_valid_or_reply(req, billing_request_summary(req->query, app->currency, &q, &p), &p))
        return;
    billing_group *groups = NULL;
    size_t n = 0;
    billing_summary_outcome outcome;
    bson_error_t err;
    if (billing_store_summary(app->svc.db, app->svc.bk, &q, SUMMARY_MAX_GROUPS, &groups, &n,
                              &outcome, &err) != 0) {
        http_reply_db_error(req, &err);
        return;
    }
    switch (outcome) {
    case BILLING_SUMMARY_TOO_MANY_GROUPS: {
        char why[64];
        snprintf(why, sizeof why, "more than %d groups", SUMMARY_MAX_GROUPS);
        reply_too_large(req, why);
        return;
    }
    case BILLING_SUMMARY_TOTAL_TOO_LARGE:
        reply_too_large(req, "a total exceeds the largest amount");
        return;
    case BILLING_SUMMARY_TOO_MANY_DAYS: {
        char detail[128];
        snprintf(detail, sizeof detail,
                 "the summary would read more than %d days of billings: give from and to at "
                 "most %d days apart",
                 BILLING_SUMMARY_MAX_DAYS, BILLING_RANGE_MAX_DAYS);
        http_reply_problem(req, 422, "range-too-long", "from", detail);
        return;
    }
    case BILLING_SUMMARY_OK:
        break;
    }
    int64_t total = 0, count = 0;
    bool overflow = false;
    buf out;
    buf_init(&out);
    buf_puts(&out, "{\"group_by\":");
    json_append_cstr(&out, billing_request_group_name(q.group_by));
    api_json_time(&out, "from", q.range.has_from, q.range.from_ms, API_DATES_RFC3339);
    api_json_time(&out, "to", q.range.has_to, q.range.to_ms, API_DATES_RFC3339);
    api_json_str(&out, "currency", q.currency);
    buf_puts(&out, ",\"groups\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(&out, ',');
        buf_puts(&out, "{\"key\":");
        json_append_cstr(&out, groups[i].key);
        api_json_int(&out, "count", groups[i].count);
        api_json_money(&out, "total_price", groups[i].total_cents);
        buf_putc(&out, '}');
        overflow |= __builtin_add_overflow(total, groups[i].total_cents, &total);
        count += groups[i].count;
    }
    buf_putc(&out, ']');
    api_json_money(&out, "total_price", total);
    api_json_int(&out, "count", count);
    buf_putc(&out, '}');
    free(groups);
    if (overflow)
        reply_too_large(req, "the total exceeds the largest amount");
    else
        http_reply_json(req, 200, &out, NULL);
    buf_free(&out);
}

/* service_api.probe: kafka and the consumer's state. Billings are served
 * from MongoDB alone; while the broker is down or the consumer paused,
 * events wait in the topic. So both are reported, not needed. */
static size_t probe(void *app, ops_check *checks)
{
    consumer *c = ((billing_api *)app)->consumer;
    consumer_state s = consumer_get_state(c);
    checks[0] =
        ops_check_of("kafka", consumer_kafka_ready(c, OPS_KAFKA_PROBE_TIMEOUT_MS) == 0, false);
    /* ok: billing events flow, or this member has no partition to read
     * (more members than partitions). */
    checks[1] = (ops_check){.name = "consumer",
                            .state = consumer_state_name(s),
                            .ok = s == CONSUMER_RUNNING || s == CONSUMER_NOT_ASSIGNED};
    return 2;
}

static void render_metrics(void *app, buf *out)
{
    billing_api *f = app;
    consumer_render_metrics(f->consumer, out);
    replays_render_metrics(f->replays, out);
    reconcile_render_metrics(f->reconcile, clock_now_ms(), out);
    billing_delay_render(out);
}

static void handle_unbilled(http_req *req)
{
    reconcile_reply_unbilled(((billing_api *)req->app)->reconcile, req, clock_now_ms());
}

/* First match wins: /billings/summary before /billings/{appointment_id}. The
 * compatibility route only takes UUID-shaped segments, so other unknown paths
 * stay 404. */
static const http_route routes[] = {
    OPS_ROUTES,
    {"GET", "/billings/summary", handle_summary, "billings:read", false, false},
    {"GET", "/billings", handle_list, "billings:read", false, false},
    {"GET", "/reconciliation/unbilled", handle_unbilled, "billing:admin", false, false},
    {"GET", "/billings/{appointment_id}", service_handle_get, "billings:read", false, false},
    {"GET", "/dead-letters", dead_letter_api_list, "billing:admin", false, false},
    {"GET", "/dead-letters/{id}", dead_letter_api_get, "billing:admin", false, false},
    {"POST", "/dead-letters/{id}/replay", dead_letter_api_replay, "billing:admin", true, false},
    {"POST", "/dead-letters/{id}/discard", dead_letter_api_discard, "billing:admin", true, false},
    {"POST", "/dead-letter-replays", dead_letter_api_job_start, "billing:admin", true, false},
    {"GET", "/dead-letter-replays/{id}", dead_letter_api_job_get, "billing:admin", false, false},
    {"POST", "/dead-letter-replays/{id}/cancel", dead_letter_api_job_cancel, "billing:admin", false,
     false},
    /* the original Python service's route */
    {"GET", "/{appointment_id:uuid}", service_handle_get, "billings:read", false, true},
};

/* What service_handle_get and service_list serve. */
static const api_resource billings = {
    .docs = &billing_store_coll.docs,
    .not_found = "no billing for this appointment (not finished, or not billed yet)",
    .append = append_billing,
    .list = list_billings,
};

const service_api billing_api_service = {
    .probe = probe,
    .render_metrics = render_metrics,
    .resource = &billings,
    .store = &billing_store_coll,
    SERVICE_ROUTES(routes),
};
