#include "dead_letter_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "api.h"
#include "billing_api.h"
#include "clock.h"
#include "dead_letter_request.h"
#include "dead_letters.h"
#include "json.h"
#include "replay.h"

/* ---- JSON ---- */

/* A dead letter as lists show it, its object left open. */
static void append_summary(buf *b, const void *item)
{
    const dead_letter *d = item;
    buf_puts(b, "{\"id\":");
    json_append_cstr(b, d->id);
    api_json_str(b, "source", d->source);
    api_json_str(b, "topic", d->topic);
    api_json_int(b, "partition", d->partition);
    api_json_int(b, "offset", d->offset);
    api_json_str(b, "reason", d->reason);
    api_json_str(b, "detail", d->detail);
    api_json_str(b, "status", d->status);
    api_json_str(b, "appointment_id", d->appointment_id[0] ? d->appointment_id : NULL);
    api_json_str(b, "trace_id", d->trace_id[0] ? d->trace_id : NULL);
    api_json_time(b, "first_seen", true, d->first_seen_ms, API_DATES_RFC3339);
    api_json_time(b, "last_seen", true, d->last_seen_ms, API_DATES_RFC3339);
    api_json_int(b, "attempts", d->attempts);
    api_json_int(b, "value_bytes", d->value_len);
    buf_puts(b, d->truncated ? ",\"truncated\":true" : ",\"truncated\":false");
}

/* An api_append_fn: a list's item. */
static void append_list_item(buf *b, const void *item, api_dates dates)
{
    (void)dates; /* RFC 3339 always: the compatibility dates are billings' */
    append_summary(b, item);
    buf_putc(b, '}');
}

/* The string (or null) field `key` of doc as ,"name":value. */
static void append_bson_str(buf *b, const bson_t *doc, const char *key, const char *name)
{
    bson_iter_t it;
    buf_putc(b, ',');
    json_append_key(b, name);
    if (bson_iter_init_find(&it, doc, key) && BSON_ITER_HOLDS_UTF8(&it)) {
        uint32_t len;
        const char *s = bson_iter_utf8(&it, &len);
        json_append_str(b, s, len);
    } else {
        buf_puts(b, "null");
    }
}

/* The whole record: the summary, key, headers and value (null when it is
 * no UTF-8 text). */
static void append_full(buf *b, const bson_t *doc)
{
    dead_letter d;
    dead_letters_decode(doc, &d);
    append_summary(b, &d);
    append_bson_str(b, doc, "key", "key");
    buf_puts(b, ",\"headers\":[");
    bson_iter_t it, arr, h;
    int n = 0;
    if (bson_iter_init_find(&it, doc, "headers") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &arr)) {
        while (bson_iter_next(&arr)) {
            if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &h))
                continue;
            uint32_t len;
            const uint8_t *data;
            bson_iter_document(&arr, &len, &data);
            bson_t hd;
            if (!bson_init_static(&hd, data, len))
                continue;
            buf_puts(b, n++ ? ",{" : "{");
            buf_puts(b, "\"name\":");
            bson_iter_t nm;
            if (bson_iter_init_find(&nm, &hd, "name") && BSON_ITER_HOLDS_UTF8(&nm)) {
                uint32_t l;
                const char *s = bson_iter_utf8(&nm, &l);
                json_append_str(b, s, l);
            } else {
                buf_puts(b, "\"\"");
            }
            append_bson_str(b, &hd, "value", "value");
            buf_putc(b, '}');
        }
    }
    buf_putc(b, ']');
    buf_putc(b, ',');
    json_append_key(b, "value");
    if (bson_iter_init_find(&it, doc, "value") && BSON_ITER_HOLDS_BINARY(&it)) {
        bson_subtype_t sub;
        uint32_t len;
        const uint8_t *data;
        bson_iter_binary(&it, &sub, &len, &data);
        if (bson_utf8_validate((const char *)data, len, false))
            json_append_str(b, (const char *)data, len);
        else
            buf_puts(b, "null");
    } else {
        buf_puts(b, "null");
    }
}

static void append_counts(buf *b, const replay_counts *c)
{
    buf_puts(b, ",\"counts\":{\"matched\":");
    buf_printf(b, "%lld", (long long)c->matched);
    for (int i = 0; i < REPLAY_NRESULTS; i++)
        api_json_int(b, replay_result_name((replay_result)i), c->by[i]);
    buf_putc(b, '}');
}

static void append_job(buf *b, const replay_job *j)
{
    const replay_filter *f = &j->filter;
    buf_puts(b, "{\"id\":");
    json_append_cstr(b, j->id);
    api_json_str(b, "status", j->status);
    buf_puts(b, f->dry_run ? ",\"dry_run\":true" : ",\"dry_run\":false");
    buf_puts(b, ",\"filter\":{\"reason\":");
    json_append_cstr(b, f->has_reason ? intake_reason_name(f->reason) : NULL);
    api_json_time(b, "from", f->has_from, f->from_ms, API_DATES_RFC3339);
    api_json_time(b, "to", f->has_to, f->to_ms, API_DATES_RFC3339);
    buf_puts(b, ",\"ids\":[");
    for (size_t i = 0; i < f->nids; i++) {
        if (i)
            buf_putc(b, ',');
        json_append_cstr(b, f->ids[i]);
    }
    buf_putc(b, ']');
    api_json_int(b, "limit", f->limit);
    api_json_int(b, "max_per_second", f->max_per_second);
    buf_putc(b, '}');
    append_counts(b, &j->counts);
    api_json_time(b, "created_at", true, j->created_ms, API_DATES_RFC3339);
    api_json_time(b, "updated_at", true, j->updated_ms, API_DATES_RFC3339);
    api_json_time(b, "finished_at", j->finished_ms != 0, j->finished_ms, API_DATES_RFC3339);
    api_json_str(b, "error", j->error[0] ? j->error : NULL);
    buf_putc(b, '}');
}

/* ---- helpers ---- */

static replay_actor actor_of(http_req *req)
{
    return (replay_actor){req->client, req->trace.trace_id};
}

/* The record of path capture 0 into *doc (bson_destroy it): 0, or -1 when
 * it has replied (400 bad id, 404, database error). */
static int find_or_reply(http_req *req, bson_t *doc)
{
    billing_api *app = req->app;
    char id[UUID_STR_LEN];
    if (http_param_uuid_or_reply(req, 0, "id", id) != 0)
        return -1;
    bson_error_t err;
    int found = dead_letters_find(app->svc.db, id, doc, &err);
    return api_found_or_reply(req, found, &err, "id", "no dead letter with this id");
}

/* The request's body as an object ({} when empty): 0, or -1 replied. */
static int body_or_reply(http_req *req, json_t **body)
{
    if (!req->body) {
        *body = json_object();
        return 0;
    }
    return http_body_json_or_reply(req, body);
}

/* Answers 200 with the record re-read after a change (or as it was). */
static void reply_record(http_req *req, const bson_t *before, const char *result,
                         const char *detail, const bool *dry_run)
{
    billing_api *app = req->app;
    dead_letter d;
    dead_letters_decode(before, &d);
    bson_t now;
    bson_error_t err;
    int found = dead_letters_find(app->svc.db, d.id, &now, &err);
    buf b;
    buf_init(&b);
    if (result) {
        buf_puts(&b, "{\"result\":");
        json_append_cstr(&b, result);
        api_json_str(&b, "detail", detail && detail[0] ? detail : NULL);
        buf_puts(&b, *dry_run ? ",\"dry_run\":true" : ",\"dry_run\":false");
        buf_puts(&b, ",\"dead_letter\":");
    }
    append_full(&b, found == 1 ? &now : before);
    buf_putc(&b, '}');
    if (result)
        buf_putc(&b, '}');
    if (found == 1)
        bson_destroy(&now);
    http_reply_json(req, 200, &b, NULL);
    buf_free(&b);
}

/* ---- dead letters ---- */

void dead_letter_api_list(http_req *req)
{
    billing_api *app = req->app;
    dead_letter_query q;
    problem p;
    if (api_valid_or_reply(req, dead_letter_request_list(req->query, &q, &p), &p))
        return;
    mongo_page page = {.items = xcalloc((size_t)q.limit, sizeof(dead_letter)),
                       .item_size = sizeof(dead_letter),
                       .limit = q.limit};
    bson_error_t err;
    if (dead_letters_list(app->svc.db, &q, &page, &err) != 0) {
        http_reply_db_error(req, &err);
    } else {
        buf b;
        buf_init(&b);
        api_page_json(&b, &page, append_list_item);
        http_reply_json(req, 200, &b, NULL);
        buf_free(&b);
    }
    free(page.items);
}

void dead_letter_api_get(http_req *req)
{
    bson_t doc;
    if (find_or_reply(req, &doc) != 0)
        return;
    buf b;
    buf_init(&b);
    append_full(&b, &doc);
    buf_putc(&b, '}');
    http_reply_json(req, 200, &b, NULL);
    buf_free(&b);
    bson_destroy(&doc);
}

void dead_letter_api_replay(http_req *req)
{
    billing_api *app = req->app;
    json_t *body;
    bson_t doc;
    problem p;
    bool dry_run;
    if (body_or_reply(req, &body) != 0)
        return;
    int rc = dead_letter_request_replay(body, &dry_run, &p);
    json_decref(body);
    if (api_valid_or_reply(req, rc, &p) || find_or_reply(req, &doc) != 0)
        return;
    replay_actor actor = actor_of(req);
    replay_result res;
    char detail[DEAD_LETTER_DETAIL_MAX];
    bson_error_t err;
    if (replays_one(app->replays, &doc, dry_run, &actor, &res, detail, sizeof detail, &err) != 0)
        http_reply_db_error(req, &err);
    else if (res == REPLAY_SKIPPED)
        http_reply_problem(req, 409, "conflict", "id", detail);
    else
        reply_record(req, &doc, replay_result_name(res), detail, &dry_run);
    bson_destroy(&doc);
}

/* Writes the audit record of a discard. */
static int audit_discard(http_req *req, const dead_letter *d, const char *note, bson_error_t *err)
{
    billing_api *app = req->app;
    char id[UUID_STR_LEN];
    int64_t now = clock_now_ms();
    uuid_v7(id, now);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "action", BCON_UTF8("dead_letter.discard"), "who",
                           BCON_UTF8(req->client), "at", BCON_DATE_TIME(now), "trace_id",
                           BCON_UTF8(req->trace.trace_id), "filter", "{", "ids", "[",
                           BCON_UTF8(d->id), "]", "}", "counts", "{", "matched", BCON_INT64(1),
                           "discarded", BCON_INT64(1), "}", "note", BCON_UTF8(note));
    int rc = dead_letters_audit(app->svc.db, doc, err);
    bson_destroy(doc);
    return rc;
}

void dead_letter_api_discard(http_req *req)
{
    billing_api *app = req->app;
    json_t *body;
    const char *note;
    problem p;
    bson_t doc;
    if (body_or_reply(req, &body) != 0)
        return;
    if (api_valid_or_reply(req, dead_letter_request_discard(body, &note, &p), &p) ||
        find_or_reply(req, &doc) != 0) {
        json_decref(body);
        return;
    }
    dead_letter d;
    dead_letters_decode(&doc, &d);
    bson_t *upd =
        BCON_NEW("$set", "{", "status", BCON_UTF8(dead_letter_status_name(DEAD_LETTER_DISCARDED)),
                 "note", BCON_UTF8(note), "discarded_by", BCON_UTF8(req->client), "discarded_at",
                 BCON_DATE_TIME(clock_now_ms()), "}");
    int matched = 0;
    bson_error_t err;
    if (dead_letters_update_open(app->svc.db, d.source, upd, &matched, &err) != 0 ||
        (matched && audit_discard(req, &d, note, &err) != 0)) {
        http_reply_db_error(req, &err);
    } else if (!matched) {
        char detail[64];
        snprintf(detail, sizeof detail, "the dead letter is %s, not open", d.status);
        http_reply_problem(req, 409, "conflict", "id", detail);
    } else {
        reply_record(req, &doc, NULL, NULL, NULL);
    }
    bson_destroy(upd);
    bson_destroy(&doc);
    json_decref(body);
}

/* ---- replay jobs ---- */

static void reply_job(http_req *req, int status, const replay_job *j)
{
    char location[64];
    snprintf(location, sizeof location, "/dead-letter-replays/%s", j->id);
    const char *const hdr[] = {"Location", location, NULL};
    buf b;
    buf_init(&b);
    append_job(&b, j);
    http_reply_json(req, status, &b, status == 202 ? hdr : NULL);
    buf_free(&b);
}

void dead_letter_api_job_start(http_req *req)
{
    billing_api *app = req->app;
    json_t *body;
    problem p;
    replay_filter *f = xmalloc(sizeof *f);
    replay_job *j = xmalloc(sizeof *j);
    if (body_or_reply(req, &body) != 0)
        goto done;
    int rc = dead_letter_request_job(body, f, &p);
    json_decref(body);
    if (api_valid_or_reply(req, rc, &p))
        goto done;
    replay_actor actor = actor_of(req);
    replay_start_outcome outcome;
    bson_error_t err;
    if (replays_start(app->replays, f, &actor, &outcome, j, &err) != 0) {
        http_reply_db_error(req, &err);
    } else if (outcome == REPLAY_BUSY) {
        char detail[128];
        snprintf(detail, sizeof detail, "replay job %s is running: one job at a time", j->id);
        http_reply_problem(req, 409, "conflict", NULL, detail);
    } else {
        reply_job(req, 202, j);
    }
done:
    free(j);
    free(f);
}

/* The job of path capture 0 into *j: 0, or -1 when it has replied. */
static int job_or_reply(http_req *req, char *id, replay_job *j)
{
    billing_api *app = req->app;
    if (http_param_uuid_or_reply(req, 0, "id", id) != 0)
        return -1;
    bson_error_t err;
    int found = replays_get(app->replays, id, j, &err);
    return api_found_or_reply(req, found, &err, "id", "no replay job with this id");
}

void dead_letter_api_job_get(http_req *req)
{
    char id[UUID_STR_LEN];
    replay_job *j = xmalloc(sizeof *j);
    if (job_or_reply(req, id, j) == 0)
        reply_job(req, 200, j);
    free(j);
}

void dead_letter_api_job_cancel(http_req *req)
{
    billing_api *app = req->app;
    char id[UUID_STR_LEN];
    replay_job *j = xmalloc(sizeof *j);
    if (job_or_reply(req, id, j) == 0) {
        if (replays_cancel(app->replays, id) == 0)
            reply_job(req, 202, j);
        else
            http_reply_problem(req, 409, "conflict", "id", "the replay job is not running");
    }
    free(j);
}
