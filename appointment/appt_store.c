#include "appt_store.h"

#include <stdio.h>
#include <string.h>

#include "bsonread.h"
#include "clock.h"
#include "timefmt.h"
#include "registry_store.h"

/* "status": "started" or "finished". */
static void read_status(const bson_iter_t *it, void *out)
{
    char st[16];
    mongo_iter_str(it, st, sizeof st);
    ((appt *)out)->finished = strcmp(st, "finished") == 0;
}

/* "outbox.state": "pending" or "published". */
static void read_outbox_state(const bson_iter_t *it, void *out)
{
    char st[16];
    mongo_iter_str(it, st, sizeof st);
    ((appt *)out)->outbox_state =
        strcmp(st, "published") == 0 ? APPT_OUTBOX_PUBLISHED : APPT_OUTBOX_PENDING;
}

static const bsonread_field outbox_fields[] = {
    BSONREAD_FN("state", read_outbox_state),
    BSONREAD_STR("event_id", appt, event_id),
    BSONREAD_INT("time", appt, event_time_ms),
    BSONREAD_STR("traceparent", appt, traceparent),
    BSONREAD_STR("tracestate", appt, tracestate),
    BSONREAD_INT32("attempts", appt, attempts),
    BSONREAD_INT("next_attempt_at", appt, next_attempt_ms),
};

static const bsonread_field appt_fields[] = {
    BSONREAD_CONSULTATION_FIELDS(appt, id, ), BSONREAD_INT("created_at", appt, created_ms),
    BSONREAD_FN("status", read_status),       BSONREAD_INT("price_cents", appt, price_cents),
    BSONREAD_DOC("outbox", outbox_fields),
};

/* A mongo_decode_fn: the appointment of an appointments document. */
static void appt_decode(const bson_t *doc, void *item)
{
    memset(item, 0, sizeof(appt));
    bsonread_doc(doc, appt_fields, BSONREAD_COUNT(appt_fields), item);
}

void appt_store_bucket_refs(const appt *a, bucket_ref refs[APPT_MAX_REFS])
{
    buckets_id_refs(a->id, a->created_ms, a->physician_id, refs);
}

/* buckets_migration.refs_of */
static size_t refs_of(const void *item, bucket_ref *refs)
{
    appt_store_bucket_refs(item, refs);
    return APPT_MAX_REFS;
}

/* Documents written before the top-level outbox flag existed keep their
 * outbox state only in outbox.state: give them the flag. */
static int flag_pending(mongo_db *db, bson_error_t *err)
{
    bson_t *sel = BCON_NEW("outbox.state", BCON_UTF8("pending"), "outbox_pending", "{", "$exists",
                           BCON_BOOL(false), "}");
    bson_t *upd = BCON_NEW("$set", "{", "outbox_pending", BCON_BOOL(true), "}");
    int rc = mongo_update(db, APPT_COLLECTION, sel, upd, true, err);
    bson_destroy(upd);
    bson_destroy(sel);
    return rc;
}

/* Records written before they carried their day have none, and the sweep
 * would never delete them: give them today's, so that they go a time to
 * live after this version first started (a day late rather than early:
 * their lookups already treat them as expired by created_at). */
static int idem_give_day(mongo_db *db, bson_error_t *err)
{
    char today[BUCKET_DAY_LEN];
    timefmt_format_day(clock_now_ms(), today);
    bson_t *sel = BCON_NEW(APPT_IDEM_DAY_FIELD, "{", "$exists", BCON_BOOL(false), "}");
    bson_t *upd = BCON_NEW("$set", "{", APPT_IDEM_DAY_FIELD, BCON_UTF8(today), "}");
    int rc = mongo_update(db, APPT_IDEM_COLLECTION, sel, upd, true, err);
    bson_destroy(upd);
    bson_destroy(sel);
    return rc;
}

int appt_store_init(mongo_db *db, buckets *bk, bson_error_t *err)
{
    static const buckets_migration migration = {"appointments-buckets-v1", refs_of, flag_pending};
    /* physician_newest .. status_newest serve the lists on MongoDB; on
     * FerretDB only their GIN twins' equality lookups help, hence
     * bucket_newest (the day walk) and outbox_pending (the relay's claim). */
    bson_t *idx = BCON_NEW(
        "0", "{", "key", "{", "physician_id", BCON_INT32(1), "_id", BCON_INT32(-1), "}", "name",
        "physician_newest", "}", "1", "{", "key", "{", "patient_id", BCON_INT32(1), "_id",
        BCON_INT32(-1), "}", "name", "patient_newest", "}", "2", "{", "key", "{", "status",
        BCON_INT32(1), "_id", BCON_INT32(-1), "}", "name", "status_newest", "}", "3", "{", "key",
        "{", BUCKET_FIELD, BCON_INT32(1), "_id", BCON_INT32(-1), "}", "name", "bucket_newest", "}",
        "4", "{", "key", "{", "outbox_pending", BCON_INT32(1), "}", "name", "outbox_pending", "}",
        "5", "{", "key", "{", "end_day", BCON_INT32(1), "}", "name", "end_day", "}");
    /* The expiry sweep deletes a day's idempotency records by equality. */
    bson_t *idem_idx = BCON_NEW("0", "{", "key", "{", APPT_IDEM_DAY_FIELD, BCON_INT32(1), "}",
                                "name", APPT_IDEM_DAY_FIELD, "}");
    int rc = buckets_setup(bk, db, &appt_store_coll.docs, idx, &migration, err);
    if (rc == 0)
        rc = mongo_db_create_collection(db, APPT_IDEM_COLLECTION, err);
    if (rc == 0)
        rc = mongo_db_create_indexes(db, APPT_IDEM_COLLECTION, idem_idx, err);
    if (rc == 0)
        rc = buckets_once(bk, db, "idempotency-keys-day-v1", idem_give_day, err);
    bson_destroy(idem_idx);
    bson_destroy(idx);
    return rc == 0 ? registry_store_init(db, err) : rc;
}

const store_desc appt_store_coll = {
    {APPT_COLLECTION, appt_decode, sizeof(appt)}, APPT_BUCKETS_COLLECTION, appt_store_init};

static void appt_to_bson(const appt *a, bson_t *doc)
{
    BSON_APPEND_UTF8(doc, "_id", a->id);
    BSON_APPEND_UTF8(doc, "physician_id", a->physician_id);
    BSON_APPEND_UTF8(doc, "patient_id", a->patient_id);
    BSON_APPEND_DATE_TIME(doc, "start_date", a->start_ms);
    BSON_APPEND_NULL(doc, "end_date");
    BSON_APPEND_UTF8(doc, "status", "started");
    BSON_APPEND_INT64(doc, "price_cents", a->price_cents);
    BSON_APPEND_UTF8(doc, "currency", a->currency);
    BSON_APPEND_DATE_TIME(doc, "created_at", a->created_ms);
}

int appt_store_insert(mongo_db *db, buckets *bk, const appt *a, bson_error_t *err)
{
    bucket_ref refs[APPT_MAX_REFS];
    appt_store_bucket_refs(a, refs);
    if (buckets_note(bk, db, refs, APPT_MAX_REFS, err) != 0)
        return -1;
    bson_t doc = BSON_INITIALIZER;
    appt_to_bson(a, &doc);
    BSON_APPEND_UTF8(&doc, BUCKET_FIELD, refs[0].day);
    /* Fixed keys; the ids checked by appt_request, the currency by the
     * configuration or the registry. */
    int rc = mongo_insert_trusted(db, APPT_COLLECTION, &doc, err);
    bson_destroy(&doc);
    return rc;
}

int appt_store_get(mongo_db *db, const char *id, appt *out, bool *found, bson_error_t *err)
{
    int rc = mongo_get(db, &appt_store_coll.docs, id, out, err);
    if (rc < 0)
        return -1;
    *found = rc == 1;
    return 0;
}

/* Runs findAndModify(query, update, return new): sets *matched, and decodes
 * the new document into *out when it is true. */
static int find_and_modify(mongo_db *db, const bson_t *query, const bson_t *update,
                           const bson_t *sort, appt *out, bool *matched, bson_error_t *err)
{
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, APPT_COLLECTION);
    mongoc_find_and_modify_opts_t *opts = mongoc_find_and_modify_opts_new();
    mongoc_find_and_modify_opts_set_update(opts, update);
    mongoc_find_and_modify_opts_set_flags(opts, MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    if (sort)
        mongoc_find_and_modify_opts_set_sort(opts, sort);
    bson_t reply;
    int rc = -1;
    if (mongoc_collection_find_and_modify_with_opts(coll, query, opts, &reply, err)) {
        bson_iter_t it;
        rc = 0;
        *matched = bson_iter_init_find(&it, &reply, "value") && BSON_ITER_HOLDS_DOCUMENT(&it);
        if (*matched) {
            uint32_t len = 0;
            const uint8_t *data = NULL;
            bson_iter_document(&it, &len, &data);
            bson_t v;
            if (out && bson_init_static(&v, data, len))
                appt_decode(&v, out);
        }
    }
    bson_destroy(&reply);
    mongoc_find_and_modify_opts_destroy(opts);
    mongo_db_push(db, c);
    return rc;
}

/* The finishing findAndModify (appt_store_finish): sets *matched, and fills
 * *out when it is true. */
static int finish_guarded(mongo_db *db, const appt *a, int64_t max_ms, int64_t retry_at_ms,
                          appt *out, bool *matched, bson_error_t *err)
{
    /* Found by _id alone; status and the start guards are checked on that
     * one document. status is an $in, not an equality: FerretDB hands
     * PostgreSQL every top-level equality, and PostgreSQL then ANDed the _id
     * index with the status one, decoding the postings of every "started"
     * row version there is: a fifth of its CPU flat out (perf). */
    bson_t *query =
        BCON_NEW("_id", BCON_UTF8(a->id), "status", "{", "$in", "[", BCON_UTF8("started"), "]", "}",
                 "start_date", "{", "$lte", BCON_DATE_TIME(a->end_ms), "$gte",
                 BCON_DATE_TIME(a->end_ms - max_ms), "}");
    bson_t update = BSON_INITIALIZER, set, outbox;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$set", &set);
    BSON_APPEND_DATE_TIME(&set, "end_date", a->end_ms);
    BSON_APPEND_UTF8(&set, "status", "finished");
    /* The reconciler's equality (appt_finished.h: APPT_END_DAY_FIELD). */
    char end_day[BUCKET_DAY_LEN];
    timefmt_format_day(a->end_ms, end_day);
    BSON_APPEND_UTF8(&set, "end_day", end_day);
    /* Top level, so that the relay's claim is an indexed equality. */
    BSON_APPEND_BOOL(&set, "outbox_pending", true);
    BSON_APPEND_DOCUMENT_BEGIN(&set, "outbox", &outbox);
    BSON_APPEND_UTF8(&outbox, "state", "pending");
    BSON_APPEND_UTF8(&outbox, "event_id", a->event_id);
    BSON_APPEND_DATE_TIME(&outbox, "time", a->event_time_ms);
    BSON_APPEND_UTF8(&outbox, "traceparent", a->traceparent);
    if (a->tracestate[0])
        BSON_APPEND_UTF8(&outbox, "tracestate", a->tracestate);
    BSON_APPEND_INT32(&outbox, "attempts", 0);
    BSON_APPEND_DATE_TIME(&outbox, "next_attempt_at", retry_at_ms);
    bson_append_document_end(&set, &outbox);
    bson_append_document_end(&update, &set);
    int rc = find_and_modify(db, query, &update, NULL, out, matched, err);
    bson_destroy(&update);
    bson_destroy(query);
    return rc;
}

int appt_store_finish(mongo_db *db, const appt *a, bool end_given, int64_t max_ms,
                      int64_t retry_at_ms, appt *out, appt_finish_outcome *outcome,
                      bson_error_t *err)
{
    /* At most two passes: the second only after a start ahead of this clock. */
    appt want = *a;
    for (int pass = 0;; pass++) {
        bool matched = false, found = false;
        if (finish_guarded(db, &want, max_ms, retry_at_ms, out, &matched, err) != 0)
            return -1;
        if (matched) {
            *outcome = APPT_FINISH_DONE;
            return 0;
        }
        /* Only a miss reads the document, to tell why. */
        appt cur;
        if (appt_store_get(db, a->id, &cur, &found, err) != 0)
            return -1;
        if (found && cur.finished) { /* before, or concurrently by another request */
            *outcome =
                end_given && a->end_ms != cur.end_ms ? APPT_FINISH_CONFLICT : APPT_FINISH_ALREADY;
            *out = cur;
            return 0;
        }
        if (pass > 0) {
            bson_set_error(err, MONGOC_ERROR_SERVER, 0, "appointment changed meanwhile");
            return -1;
        }
        if (!found) {
            *outcome = APPT_FINISH_NOT_FOUND;
            return 0;
        }
        if (want.end_ms >= cur.start_ms && want.end_ms - cur.start_ms > max_ms) {
            *outcome = APPT_FINISH_TOO_LONG;
            return 0;
        }
        if (end_given) {
            *outcome = APPT_FINISH_BEFORE_START;
            return 0;
        }
        /* Started "in the future" by this clock (another host's was ahead):
         * end it at its start, the shortest consultation. */
        want.end_ms = cur.start_ms;
    }
}

int appt_store_list(mongo_db *db, buckets *bk, const appt_list_query *q, mongo_page *p,
                    bson_error_t *err)
{
    bson_t filter = BSON_INITIALIZER;
    char scope[BUCKET_SCOPE_LEN];
    buckets_people_filter(&filter, q->has_physician ? q->physician_id : NULL,
                          q->has_patient ? q->patient_id : NULL, scope);
    if (q->status >= 0)
        BSON_APPEND_UTF8(&filter, "status", q->status ? "finished" : "started");
    const char *before_id = q->has_cursor ? q->cursor : NULL;
    p->decode = appt_decode;
    int rc = q->has_patient || q->status == 0
                 ? mongo_page_fill(db, APPT_COLLECTION, &filter, before_id, p, err)
                 : buckets_page(bk, db, APPT_COLLECTION, scope, &filter, before_id, p, err);
    bson_destroy(&filter);
    return rc;
}

static void add_published(mongoc_bulk_operation_t *bulk, size_t i, void *ctx)
{
    const char(*ids)[UUID_STR_LEN] = ctx;
    /* Filtered on {_id} alone: no other condition is needed (an appointment
     * is finished once, and nothing sets a published entry back to pending),
     * and an equality on _id is what every backend serves from an index. */
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, set, unset, opts;
    BSON_APPEND_UTF8(&sel, "_id", ids[i]);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    BSON_APPEND_UTF8(&set, "outbox.state", "published");
    bson_append_document_end(&upd, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$unset", &unset);
    BSON_APPEND_UTF8(&unset, "outbox_pending", "");
    bson_append_document_end(&upd, &unset);
    mongo_opts_no_validate(&opts); /* our own keys, ids read from the database */
    mongoc_bulk_operation_update_one_with_opts(bulk, &sel, &upd, &opts, NULL);
    bson_destroy(&upd);
    bson_destroy(&sel);
}

int appt_store_outbox_published(mongo_db *db, const char (*ids)[UUID_STR_LEN], size_t n,
                                bson_error_t *err)
{
    return mongo_bulk_write(db, APPT_COLLECTION, NULL, n, add_published, NULL, (void *)ids, err);
}

int appt_store_outbox_retry_at(mongo_db *db, const char *id, int64_t at_ms, bson_error_t *err)
{
    /* {_id} alone: the entry's event id is fixed once it is written. */
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *upd = BCON_NEW("$set", "{", "outbox.next_attempt_at", BCON_DATE_TIME(at_ms), "}");
    int rc = mongo_update(db, APPT_COLLECTION, sel, upd, false, err);
    bson_destroy(upd);
    bson_destroy(sel);
    return rc;
}

int appt_store_outbox_due(mongo_db *db, int64_t now_ms, appt *out, int max, int *n,
                          bson_error_t *err)
{
    bson_t *filter = BCON_NEW("outbox_pending", BCON_BOOL(true), "outbox.next_attempt_at", "{",
                              "$lte", BCON_DATE_TIME(now_ms), "}");
    bson_t *opts = BCON_NEW("sort", "{", "outbox.next_attempt_at", BCON_INT32(1), "}", "limit",
                            BCON_INT64(max));
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, APPT_COLLECTION);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc = NULL;
    int count = 0;
    while (count < max && mongoc_cursor_next(cur, &doc))
        appt_decode(doc, &out[count++]);
    int rc = mongoc_cursor_error(cur, err) ? -1 : 0;
    mongoc_cursor_destroy(cur);
    mongo_db_push(db, c);
    bson_destroy(opts);
    bson_destroy(filter);
    *n = count;
    return rc;
}

int appt_store_outbox_claim(mongo_db *db, const appt *seen, int64_t lease_until_ms, appt *out,
                            bool *claimed, bson_error_t *err)
{
    /* By _id alone, as the finish (finish_guarded says why outbox_pending
     * is an $in). */
    bson_t *query =
        BCON_NEW("_id", BCON_UTF8(seen->id), "outbox_pending", "{", "$in", "[", BCON_BOOL(true),
                 "]", "}", "outbox.next_attempt_at", BCON_DATE_TIME(seen->next_attempt_ms));
    bson_t *update = BCON_NEW("$set", "{", "outbox.next_attempt_at", BCON_DATE_TIME(lease_until_ms),
                              "}", "$inc", "{", "outbox.attempts", BCON_INT32(1), "}");
    int rc = find_and_modify(db, query, update, NULL, out, claimed, err);
    bson_destroy(update);
    bson_destroy(query);
    return rc;
}

int64_t appt_store_outbox_pending(mongo_db *db, bson_error_t *err)
{
    bson_t *filter = BCON_NEW("outbox_pending", BCON_BOOL(true));
    int64_t n = mongo_count(db, APPT_COLLECTION, filter, err);
    bson_destroy(filter);
    return n;
}
