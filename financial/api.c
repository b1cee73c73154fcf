#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "store.h"
#include "timefmt.h"

#define LIST_MAX 100
#define LIST_DEFAULT 20
#define SUMMARY_MAX_GROUPS 10000

static fin_app *app_of(http_req *req)
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

/* Reads an optional RFC 3339 query parameter. Returns 1 with *out, 0 when
 * absent, -1 after replying 400. */
static int query_time_or_reply(http_req *req, const char *name, int64_t *out)
{
    char v[64];
    int rc = http_query_or_reply(req, name, v, sizeof v);
    if (rc <= 0)
        return rc;
    /* Query strings decode '+' as a space, so "...T10:00:00+03:00" sent
     * unencoded arrives as "...T10:00:00 03:00". Past the date (where the
     * Python form puts its one space) a space can only have been a '+'. */
    size_t len = strlen(v);
    for (size_t i = 11; i < len; i++)
        if (v[i] == ' ')
            v[i] = '+';
    if (timefmt_parse(v, len, out) != 0) {
        char detail[128];
        snprintf(detail, sizeof detail,
                 "%s must be an RFC 3339 date-time such as 2024-05-01T00:00:00Z", name);
        http_reply_problem(req, 400, "invalid-query", name, detail);
        return -1;
    }
    return 1;
}

/* Reads the optional from/to pair (end_date range [from, to)). */
static int query_range_or_reply(http_req *req, bool *has_from, int64_t *from, bool *has_to,
                                int64_t *to)
{
    int f = query_time_or_reply(req, "from", from);
    if (f < 0)
        return -1;
    int t = query_time_or_reply(req, "to", to);
    if (t < 0)
        return -1;
    if (f == 1 && t == 1 && *to <= *from) {
        http_reply_problem(req, 400, "invalid-query", "to", "to must be after from");
        return -1;
    }
    *has_from = f == 1;
    *has_to = t == 1;
    return 0;
}

static void handle_get(http_req *req)
{
    fin_app *app = app_of(req);
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
    fin_app *app = app_of(req);
    char physician[UUID_STR_LEN], patient[UUID_STR_LEN], cursor[UUID_STR_LEN];
    int has_phys, has_pat, has_cursor;
    int64_t limit = LIST_DEFAULT;
    billing_filter f = {0};
    if ((has_phys = http_query_uuid_or_reply(req, "physician_id", physician)) < 0 ||
        (has_pat = http_query_uuid_or_reply(req, "patient_id", patient)) < 0 ||
        (has_cursor = http_query_uuid_or_reply(req, "cursor", cursor)) < 0 ||
        query_range_or_reply(req, &f.has_from, &f.from_ms, &f.has_to, &f.to_ms) < 0 ||
        http_query_int_or_reply(req, "limit", 1, LIST_MAX, &limit) < 0)
        return;
    f.physician_id = has_phys ? physician : NULL;
    f.patient_id = has_pat ? patient : NULL;
    f.before_id = has_cursor ? cursor : NULL;
    f.limit = (int)limit;

    billing items[LIST_MAX];
    int n = 0;
    bool more = false;
    bson_error_t err;
    if (billing_store_list(app->db, &f, items, &n, &more, &err) != 0) {
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

static int query_group_by_or_reply(http_req *req, billing_group_by *out)
{
    char v[16];
    int rc = http_query_or_reply(req, "group_by", v, sizeof v);
    if (rc < 0)
        return -1;
    for (size_t i = 0; rc == 1 && i < sizeof group_names / sizeof group_names[0]; i++) {
        if (strcmp(v, group_names[i]) == 0) {
            *out = (billing_group_by)i;
            return 0;
        }
    }
    http_reply_problem(req, 400, "invalid-query", "group_by",
                       rc == 0 ? "group_by is required: physician, patient or day"
                               : "group_by must be physician, patient or day");
    return -1;
}

static int query_currency_or_reply(http_req *req, const char *def, char *out)
{
    char v[8];
    int rc = http_query_or_reply(req, "currency", v, sizeof v);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        memcpy(out, def, EVENT_CURRENCY_LEN);
        return 0;
    }
    bool ok = strlen(v) == 3;
    for (size_t i = 0; ok && i < 3; i++)
        ok = v[i] >= 'A' && v[i] <= 'Z';
    if (!ok) {
        http_reply_problem(req, 400, "invalid-query", "currency",
                           "currency must be a three-letter ISO 4217 code such as BRL");
        return -1;
    }
    memcpy(out, v, EVENT_CURRENCY_LEN);
    return 0;
}

static void append_time_or_null(buf *b, bool has, int64_t ms)
{
    if (has)
        json_append_time(b, ms);
    else
        buf_puts(b, "null");
}

static void handle_summary(http_req *req)
{
    fin_app *app = app_of(req);
    char currency[EVENT_CURRENCY_LEN];
    billing_summary_query q = {.max_groups = SUMMARY_MAX_GROUPS, .currency = currency};
    if (query_group_by_or_reply(req, &q.group_by) < 0 ||
        query_range_or_reply(req, &q.has_from, &q.from_ms, &q.has_to, &q.to_ms) < 0 ||
        query_currency_or_reply(req, app->currency, currency) < 0)
        return;

    billing_group *groups = NULL;
    size_t n = 0;
    bson_error_t err;
    int rc = billing_store_summary(app->db, &q, &groups, &n, &err);
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

static void handle_readyz(http_req *req)
{
    fin_app *app = app_of(req);
    bson_error_t err;
    bool db_ok = mongo_db_ping(app->db, &err) == 0;
    bool kafka_ok = consumer_kafka_ready(app->consumer, 1000) == 0;
    consumer_state s = consumer_get_state(app->consumer);
    /* Ready: billing events flow. A member without partitions (more members
     * than partitions) still serves the API, so it counts as ready. */
    bool consumer_ok = s == CONSUMER_RUNNING || s == CONSUMER_NOT_ASSIGNED;
    ops_check checks[] = {
        {"mongodb", db_ok ? "ok" : "down", db_ok},
        {"kafka", kafka_ok ? "ok" : "down", kafka_ok},
        {"consumer", consumer_state_name(s), consumer_ok},
    };
    ops_reply_ready(req, checks, 3);
}

void fin_render_metrics(void *app, buf *out)
{
    consumer_render_metrics(((fin_app *)app)->consumer, out);
}

/* First match wins: /billings/summary before /billings/{appointment_id}. The
 * compatibility route only takes UUID-shaped segments, so other unknown paths
 * stay 404. */
const http_route fin_routes[] = {
    OPS_ROUTES,
    {"GET", "/readyz", handle_readyz, NULL, false},
    {"GET", "/billings/summary", handle_summary, "billings:read", false},
    {"GET", "/billings", handle_list, "billings:read", false},
    {"GET", "/billings/{appointment_id}", handle_get, "billings:read", false},
    /* the original Python service's route */
    {"GET", "/{appointment_id:uuid}", handle_get, "billings:read", false},
};
const size_t fin_nroutes = sizeof fin_routes / sizeof fin_routes[0];
