#include "appt_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json.h"
#include "log.h"
#include "appt_request.h"
#include "service.h"
#include "timefmt.h"

#define IDEM_KEY_MAX 200

static appt_api *app_of(http_req *req)
{
    return req->app;
}

static void append_appt(buf *b, const appt *a)
{
    buf_puts(b, "{\"id\":");
    json_append_cstr(b, a->id);
    buf_puts(b, ",\"physician_id\":");
    json_append_cstr(b, a->physician_id);
    buf_puts(b, ",\"patient_id\":");
    json_append_cstr(b, a->patient_id);
    buf_puts(b, ",\"start_date\":");
    json_append_time(b, a->start_ms);
    buf_puts(b, ",\"end_date\":");
    if (a->finished)
        json_append_time(b, a->end_ms);
    else
        buf_puts(b, "null");
    buf_puts(b, ",\"price\":");
    json_append_money(b, a->price_cents);
    buf_puts(b, ",\"currency\":");
    json_append_cstr(b, a->currency);
    buf_puts(b, ",\"status\":");
    json_append_cstr(b, a->finished ? "finished" : "started");
    buf_putc(b, '}');
}

static void reply_appt(http_req *req, int status, const appt *a)
{
    buf b;
    buf_init(&b);
    append_appt(&b, a);
    char location[64];
    snprintf(location, sizeof location, "/appointments/%s", a->id);
    const char *const hdr[] = {"Location", location, NULL};
    http_reply_json(req, status, &b, status == 201 ? hdr : NULL);
    buf_free(&b);
}

/* Idempotency-Key: 1..200 visible ASCII characters. Returns 1 with *key when
 * present, 0 when absent, -1 after replying 400. */
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
    return 1;
}

/* A retry with a recorded key: same request -> the first response; a different
 * one -> 422. Recreates the appointment if the first attempt died between
 * recording the key and inserting it. */
static void start_replay(http_req *req, const appt *want, bool start_given, const appt *first,
                         bool first_start_given)
{
    appt_api *app = app_of(req);
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
    int rc = appt_store_get(app->db, first->id, &a, &err);
    if (rc == 0) {
        a = *want;
        memcpy(a.id, first->id, UUID_STR_LEN);
        a.start_ms = first->start_ms;
        a.created_ms = first->created_ms;
        if (appt_store_insert(app->db, app->bk, &a, &err) != 0 && !mongo_error_is_duplicate(&err)) {
            http_reply_db_error(req, &err);
            return;
        }
        rc = appt_store_get(app->db, first->id, &a, &err);
    }
    if (rc != 1) {
        if (rc == 0)
            bson_set_error(&err, MONGOC_ERROR_SERVER, 0, "appointment vanished");
        http_reply_db_error(req, &err);
        return;
    }
    reply_appt(req, 201, &a);
}

static void handle_start(http_req *req)
{
    appt_api *app = app_of(req);
    json_t *doc;
    if (http_body_json_or_reply(req, &doc) != 0)
        return;
    int64_t now = timefmt_now_ms();
    appt_start_req sr;
    problem p;
    const char *key = NULL;
    int vrc = appt_request_start(doc, now, &sr, &p);
    json_decref(doc);
    if (vrc != 0) {
        http_reply_problem_of(req, &p);
        return;
    }
    if (idem_key_or_reply(req, &key) < 0)
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

    bson_error_t err;
    if (key) {
        appt first;
        bool first_given = false;
        int rc = appt_store_idem_put(app->db, req->client, key, &a, has_start, &first, &first_given,
                                     &err);
        if (rc < 0) {
            http_reply_db_error(req, &err);
            return;
        }
        if (rc == 0) {
            start_replay(req, &a, has_start, &first, first_given);
            return;
        }
    }
    if (appt_store_insert(app->db, app->bk, &a, &err) != 0) {
        http_reply_db_error(req, &err);
        return;
    }
    reply_appt(req, 201, &a);
}

/* Answers a finish request against an appointment already finished. */
static void refinish(http_req *req, const appt *a, bool end_given, int64_t end_ms)
{
    if (end_given && end_ms != a->end_ms) {
        http_reply_problem(req, 409, "already-finished", "end_date",
                           "the appointment is already finished with another end_date");
        return;
    }
    reply_appt(req, 200, a);
}

static void handle_finish(http_req *req)
{
    appt_api *app = app_of(req);
    char id[UUID_STR_LEN];
    if (http_param_uuid_or_reply(req, 0, "id", id) != 0)
        return;
    json_t *doc;
    if (http_body_json_or_reply(req, &doc) != 0)
        return;
    int64_t now = timefmt_now_ms();
    appt_finish_req fr;
    problem p;
    int prc = appt_request_finish(doc, now, &fr, &p);
    json_decref(doc);
    if (prc != 0) {
        http_reply_problem_of(req, &p);
        return;
    }
    bool end_given = fr.has_end;
    appt a;
    memset(&a, 0, sizeof a);
    memcpy(a.id, id, UUID_STR_LEN);
    a.end_ms = end_given ? fr.end_ms : now;
    uuid_v4(a.event_id);
    a.event_time_ms = now;
    memcpy(a.traceparent, req->traceparent, sizeof a.traceparent);
    memcpy(a.tracestate, req->tracestate, sizeof a.tracestate);

    /* One findAndModify whose filter holds the guards; only a miss reads the
     * document, to tell the client why. */
    bson_error_t err;
    appt done;
    int64_t lease = outbox_lease_until(app->ob, now);
    int rc = appt_store_finish(app->db, &a, lease, &done, &err);
    if (rc == 0) {
        rc = appt_store_get(app->db, id, &done, &err);
        if (rc == 0) {
            http_reply_problem(req, 404, "not-found", "id", "no appointment with this id");
            return;
        }
        if (rc == 1 && done.finished) { /* before, or concurrently by another request */
            refinish(req, &done, end_given, fr.end_ms);
            return;
        }
        if (rc == 1 && end_given) {
            http_reply_problem(req, 400, "invalid-field", "end_date",
                               "end_date must not be before start_date");
            return;
        }
        if (rc == 1) {
            /* Started "in the future" by this clock (another host's was
             * ahead): end it at its start, the shortest consultation. */
            a.end_ms = done.start_ms;
            rc = appt_store_finish(app->db, &a, lease, &done, &err);
            if (rc == 0) {
                rc = appt_store_get(app->db, id, &done, &err);
                if (rc == 1 && done.finished) {
                    refinish(req, &done, end_given, fr.end_ms);
                    return;
                }
                if (rc >= 0)
                    bson_set_error(&err, MONGOC_ERROR_SERVER, 0, "appointment changed meanwhile");
                rc = -1;
            }
        }
    }
    if (rc < 0) {
        http_reply_db_error(req, &err);
        return;
    }
    outbox_publish(app->ob, &done);
    log_info("appointment finished", "appointment_id", done.id, "event_id", done.event_id,
             "request_id", req->request_id, "trace_id", req->trace.trace_id, "span_id",
             req->trace.span_id, NULL);
    reply_appt(req, 200, &done);
}

static void handle_get(http_req *req)
{
    appt_api *app = app_of(req);
    char id[UUID_STR_LEN];
    if (http_param_uuid_or_reply(req, 0, "id", id) != 0)
        return;
    bson_error_t err;
    appt a;
    int rc = appt_store_get(app->db, id, &a, &err);
    if (rc < 0)
        http_reply_db_error(req, &err);
    else if (rc == 0)
        http_reply_problem(req, 404, "not-found", "id", "no appointment with this id");
    else
        reply_appt(req, 200, &a);
}

static void handle_list(http_req *req)
{
    appt_api *app = app_of(req);
    appt_list_req lr;
    problem p;
    if (appt_request_list(req->query, &lr, &p) != 0) {
        http_reply_problem_of(req, &p);
        return;
    }
    appt_filter f = {
        .physician_id = lr.has_physician ? lr.physician_id : NULL,
        .patient_id = lr.has_patient ? lr.patient_id : NULL,
        .status = lr.status,
        .before_id = lr.has_cursor ? lr.cursor : NULL,
        .limit = lr.limit,
    };

    /* On the heap: a page of appointments (with their trace state) is too
     * big for a civetweb worker's stack. */
    appt *items = xcalloc(APPT_LIST_MAX, sizeof *items);
    int n = 0;
    bool more = false;
    bson_error_t err;
    if (appt_store_list(app->db, app->bk, &f, items, &n, &more, &err) != 0) {
        http_reply_db_error(req, &err);
        free(items);
        return;
    }
    buf b;
    buf_init(&b);
    buf_puts(&b, "{\"items\":[");
    for (int i = 0; i < n; i++) {
        if (i)
            buf_putc(&b, ',');
        append_appt(&b, &items[i]);
    }
    buf_puts(&b, "],\"next_cursor\":");
    json_append_cstr(&b, more && n > 0 ? items[n - 1].id : NULL);
    buf_putc(&b, '}');
    http_reply_json(req, 200, &b, NULL);
    buf_free(&b);
    free(items);
}

size_t appt_api_probe(void *app, ops_check *checks)
{
    appt_api *a = app;
    /* Finishing works while the broker is down (the outbox keeps the
     * events), so Kafka is reported but not needed. */
    bool kafka_ok = outbox_ready(a->ob, KAFKA_PROBE_TIMEOUT_MS) == 0;
    checks[0] = service_check_db(a->db);
    checks[1] = (ops_check){.name = "kafka", .state = kafka_ok ? "ok" : "down", .ok = kafka_ok};
    return 2;
}

int appt_api_init_store(void *app, bson_error_t *err)
{
    appt_api *a = app;
    return appt_store_init(a->db, a->bk, err);
}

void appt_api_render_metrics(void *app, buf *out)
{
    appt_api *a = app;
    outbox_render_metrics(a->ob, out);
    mongo_render_metrics(a->db, out);
}

const http_route appt_api_routes[] = {
    OPS_ROUTES,
    {"POST", "/appointments", handle_start, "appointments:write", true},
    {"GET", "/appointments", handle_list, "appointments:read", false},
    {"GET", "/appointments/{id}", handle_get, "appointments:read", false},
    {"POST", "/appointments/{id}/finish", handle_finish, "appointments:write", true},
    /* the original Python service's routes */
    {"POST", "/", handle_start, "appointments:write", true},
    {"POST", "/{id:uuid}", handle_finish, "appointments:write", true},
};
const size_t appt_api_nroutes = sizeof appt_api_routes / sizeof appt_api_routes[0];
