#include "appt_api.h"

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "appt_finished_api.h"
#include "appt_request.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "service.h"

#define IDEM_KEY_MAX 200

/* An api_append_fn: the appointment resource. */
static void append_appt(buf *b, const void *item, api_dates dates)
{
    const appt *a = item;
    buf_puts(b, "{\"id\":");
    json_append_cstr(b, a->id);
    api_json_consultation(b, a->physician_id, a->patient_id, a->start_ms,
                          a->finished ? &a->end_ms : NULL, dates);
    api_json_money(b, "price", a->price_cents);
    api_json_str(b, "currency", a->currency);
    api_json_str(b, "status", a->finished ? "finished" : "started");
    buf_putc(b, '}');
}

/* api_resource.list: query is an appt_list_query (handle_list). */
static int list_appts(mongo_db *db, buckets *bk, const void *query, mongo_page *p,
                      bson_error_t *err)
{
    return appt_store_list(db, bk, query, p, err);
}

static void reply_appt(http_req *req, int status, const appt *a)
{
    /* The original service answered its start with 200 (its clients check
     * for it), and with no Location. */
    if (req->route->compat && status == 201) {
        api_reply_item(req, 200, a, append_appt, NULL);
        return;
    }
    static const char prefix[] = "/appointments/";
    char location[sizeof prefix - 1 + UUID_STR_LEN];
    memcpy(location, prefix, sizeof prefix - 1);
    memcpy(location + sizeof prefix - 1, a->id, UUID_STR_LEN);
    const char *const hdr[] = {"Location", location, NULL};
    api_reply_item(req, status, a, append_appt, status == 201 ? hdr : NULL);
}

/* Validates a JSON body with one of appt_request's parsers; compat: for a
 * compatibility route (its _compat parser). */
typedef int (*body_check_fn)(const json_t *doc, int64_t now_ms, bool compat, void *out, problem *p);

static int check_start(const json_t *doc, int64_t now_ms, bool compat, void *out, problem *p)
{
    return compat ? appt_request_start_compat(doc, now_ms, out, p)
                  : appt_request_start(doc, now_ms, out, p);
}

static int check_finish(const json_t *doc, int64_t now_ms, bool compat, void *out, problem *p)
{
    return compat ? appt_request_finish_compat(doc, now_ms, out, p)
                  : appt_request_finish(doc, now_ms, out, p);
}

/* Parses the body and validates it with check into *out. Returns 0, or -1
 * after replying 400. */
static int body_or_reply(http_req *req, int64_t now_ms, body_check_fn check, void *out)
{
    json_t *doc;
    if (http_body_json_or_reply(req, &doc) != 0)
        return -1;
    problem p;
    int rc = check(doc, now_ms, req->route->compat, out, &p);
    json_decref(doc);
    return api_valid_or_reply(req, rc, &p);
}

/* Idempotency-Key: 1..200 visible ASCII characters. Returns 0 with *key
 * set to the header, or left NULL when there is none; -1 after replying
 * 400. */
static int idem_key_or_reply(http_req *req, const char **key)
{
    const char *k = http_header(req, "Idempotency-Key");
    if (!k)
        return 0;
    size_t n = strlen(k);
    bool ok = n > 0 && n <= IDEM_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = k[i] > 0x20 && k[i] < 0x7f;
    if (!ok) {
        http_reply_problem(req, 400, "invalid-header", "Idempotency-Key",
                           "Idempotency-Key must be 1 to 200 visible ASCII characters");
        return -1;
    }
    *key = k;
    return 0;
}

/* A retry with a recorded key: same request -> the first response; a different
 * one -> 422. Recreates the appointment if the first attempt died between
 * recording the key and inserting it. */
static void start_replay(http_req *req, const appt *want, bool start_given, const appt *first,
                         bool first_start_given)
{
    appt_api *app = req->app;
    bool same = strcmp(want->physician_id, first->physician_id) == 0 &&
                strcmp(want->patient_id, first->patient_id) == 0 &&
                start_given == first_start_given &&
                (!start_given || want->start_ms == first->start_ms);
    if (!same) {
        http_reply_problem(req, 422, "idempotency-key-reused", "Idempotency-Key",
                           "this Idempotency-Key was used with a different request body");
        return;
    }
    bson_error_t err;
    appt a;
    bool found = false;
    if (appt_store_get(app->svc.db, first->id, &a, &found, &err) != 0)
        goto fail;
    if (!found) {
        a = *want;
        memcpy(a.id, first->id, UUID_STR_LEN);
        a.start_ms = first->start_ms;
        a.created_ms = first->created_ms;
        if ((appt_store_insert(app->svc.db, app->svc.bk, &a, &err) != 0 &&
             !mongo_error_is_duplicate(&err)) ||
            appt_store_get(app->svc.db, first->id, &a, &found, &err) != 0)
            goto fail;
        if (!found) {
            bson_set_error(&err, MONGOC_ERROR_SERVER, 0, "appointment vanished");
            goto fail;
        }
    }
    reply_appt(req, 201, &a);
    return;
fail:
    http_reply_db_error(req, &err);
}

static void handle_start(http_req *req)
{
    appt_api *app = req->app;
    int64_t now = clock_now_ms();
    appt_start_req sr;
    const char *key = NULL;
    if (body_or_reply(req, now, check_start, &sr) != 0 || idem_key_or_reply(req, &key) != 0)
        return;
    bool has_start = sr.has_start;
    appt a;
    memset(&a, 0, sizeof a);
    memcpy(a.physician_id, sr.physician_id, UUID_STR_LEN);
    memcpy(a.patient_id, sr.patient_id, UUID_STR_LEN);
    a.start_ms = has_start ? sr.start_ms : now;
    uuid_v7(a.id, now);
    a.created_ms = now;
    a.price_cents = app->price_cents;
    memcpy(a.currency, app->currency, EVENT_CURRENCY_LEN);
    if (registry_start_check_or_reply(req, &app->reg, app->svc.db, a.physician_id, a.patient_id,
                                      &a.price_cents, a.currency) != 0)
        return;

    bson_error_t err;
    if (key) {
        appt first;
        bool recorded = false, first_given = false;
        if (appt_store_idem_put(app->svc.db, req->client, key, &a, has_start, app->idem_ttl_ms,
                                &recorded, &first, &first_given, &err) != 0) {
            http_reply_db_error(req, &err);
            return;
        }
        if (!recorded) {
            start_replay(req, &a, has_start, &first, first_given);
            return;
        }
    }
    if (appt_store_insert(app->svc.db, app->svc.bk, &a, &err) != 0) {
        /* A concurrent retry of the same key read our record and inserted
         * the appointment first (start_replay): it is this one. */
        bool found = false;
        if (!key || !mongo_error_is_duplicate(&err) ||
            appt_store_get(app->svc.db, a.id, &a, &found, &err) != 0 || !found) {
            http_reply_db_error(req, &err);
            return;
        }
    }
    reply_appt(req, 201, &a);
}

static void handle_finish(http_req *req)
{
    appt_api *app = req->app;
    char id[UUID_STR_LEN];
    int64_t now = clock_now_ms();
    appt_finish_req fr;
    if (http_param_uuid_or_reply(req, 0, "id", id) != 0 ||
        body_or_reply(req, now, check_finish, &fr) != 0)
        return;
    appt a;
    memset(&a, 0, sizeof a);
    memcpy(a.id, id, UUID_STR_LEN);
    a.end_ms = fr.has_end ? fr.end_ms : now;
    uuid_v4(a.event_id);
    a.event_time_ms = now;
    memcpy(a.traceparent, req->traceparent, sizeof a.traceparent);
    memcpy(a.tracestate, req->tracestate, sizeof a.tracestate);

    bson_error_t err;
    appt done;
    appt_finish_outcome outcome;
    if (outbox_finish(app->ob, &a, fr.has_end, now, &done, &outcome, &err) != 0) {
        http_reply_db_error(req, &err);
        return;
    }
    switch (outcome) {
    case APPT_FINISH_DONE:
        log_info("appointment finished", "appointment_id", done.id, "event_id", done.event_id,
                 "request_id", req->request_id, "trace_id", req->trace.trace_id, "span_id",
                 req->trace.span_id, NULL);
        reply_appt(req, 200, &done);
        return;
    case APPT_FINISH_ALREADY:
        reply_appt(req, 200, &done);
        return;
    case APPT_FINISH_CONFLICT:
        http_reply_problem(req, 409, "already-finished", "end_date",
                           "the appointment is already finished with another end_date");
        return;
    case APPT_FINISH_NOT_FOUND:
        http_reply_problem(req, 404, "not-found", "id", "no appointment with this id");
        return;
    case APPT_FINISH_BEFORE_START:
        http_reply_problem(req, 400, "invalid-field", "end_date",
                           "end_date must not be before start_date");
        return;
    case APPT_FINISH_TOO_LONG: {
        char detail[160];
        snprintf(detail, sizeof detail,
                 "the consultation would last more than MAX_CONSULTATION_HOURS (%lld hours): "
                 "give the end_date it ended at",
                 (long long)(app->max_consultation_ms / 3600000));
        http_reply_problem(req, 422, "consultation-too-long", "end_date", detail);
        return;
    }
    }
}

static void handle_list(http_req *req)
{
    appt_list_query lr;
    problem p;
    if (api_valid_or_reply(req, appt_request_list(req->query, &lr, &p), &p) == 0)
        service_list(req, &lr, lr.limit);
}

/* service_api.probe: kafka. Finishing works while the broker is down (the
 * outbox keeps the events), so Kafka is reported but not needed. */
static size_t probe(void *app, ops_check *checks)
{
    outbox *ob = ((appt_api *)app)->ob;
    checks[0] = ops_check_of("kafka", outbox_ready(ob, OPS_KAFKA_PROBE_TIMEOUT_MS) == 0, false);
    return 1;
}

static void render_metrics(void *app, buf *out)
{
    outbox_render_metrics(((appt_api *)app)->ob, out);
    appt_finished_api_render_metrics(((appt_api *)app)->svc.db, clock_now_ms(), out);
    idem_expiry_render_metrics(((appt_api *)app)->expiry, out);
    registry_render_metrics(&((appt_api *)app)->reg, out);
}

registry *registry_of_request(const http_req *req)
{
    return &((appt_api *)req->app)->reg;
}

static const http_route routes[] = {
    OPS_ROUTES,
    {"POST", "/appointments", handle_start, "appointments:write", true, false},
    {"GET", "/appointments", handle_list, "appointments:read", false, false},
    {"GET", "/appointments/finished", appt_finished_api_handle, "appointments:read", false, false},
    {"GET", "/appointments/{id}", service_handle_get, "appointments:read", false, false},
    {"POST", "/appointments/{id}/finish", handle_finish, "appointments:write", true, false},
    /* the registries (registry_api.c) */
    {"POST", "/physicians", registry_handle_create, "registry:write", true, false},
    {"GET", "/physicians", registry_handle_list, "registry:read", false, false},
    {"GET", "/physicians/{id}", registry_handle_get, "registry:read", false, false},
    {"PUT", "/physicians/{id}", registry_handle_put, "registry:write", true, false},
    {"PATCH", "/physicians/{id}", registry_handle_patch, "registry:write", true, false},
    {"DELETE", "/physicians/{id}", registry_handle_delete, "registry:write", false, false},
    {"POST", "/patients", registry_handle_create, "patients:write", true, false},
    {"GET", "/patients", registry_handle_list, "patients:read", false, false},
    {"GET", "/patients/{id}", registry_handle_get, "patients:read", false, false},
    {"PUT", "/patients/{id}", registry_handle_put, "patients:write", true, false},
    {"PATCH", "/patients/{id}", registry_handle_patch, "patients:write", true, false},
    {"DELETE", "/patients/{id}", registry_handle_delete, "patients:write", false, false},
    /* the original Python service's routes */
    {"POST", "/", handle_start, "appointments:write", true, true},
    {"POST", "/{id:uuid}", handle_finish, "appointments:write", true, true},
};

/* What service_handle_get and service_list serve. */
static const api_resource appointments = {
    .docs = &appt_store_coll.docs,
    .not_found = "no appointment with this id",
    .append = append_appt,
    .list = list_appts,
};

const service_api appt_api_service = {
    .probe = probe,
    .render_metrics = render_metrics,
    .resource = &appointments,
    .store = &appt_store_coll,
    SERVICE_ROUTES(routes),
};
