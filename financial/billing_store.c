#include "billing_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "bsonread.h"
#include "day_totals.h"
#include "dead_letters.h"
#include "timefmt.h"

static const bsonread_field billing_fields[] = {
    BSONREAD_CONSULTATION_FIELDS(billing, event.appointment_id, event.),
    BSONREAD_INT("created_at", billing, created_ms),
    BSONREAD_INT("billed_hours", billing, billed_hours),
    BSONREAD_INT("hourly_price_cents", billing, event.hourly_price_cents),
    BSONREAD_INT("total_cents", billing, total_cents),
    BSONREAD_STR("event_id", billing, event_id),
};

/* A mongo_decode_fn: the billing of a billings document. */
static void billing_decode(const bson_t *doc, void *item)
{
    memset(item, 0, sizeof(billing));
    bsonread_doc(doc, billing_fields, BSONREAD_COUNT(billing_fields), item);
}

void billing_store_bucket_refs(const billing *b, bucket_ref refs[BILLING_MAX_REFS])
{
    char end_day[BUCKET_DAY_LEN];
    buckets_id_refs(b->event.appointment_id, b->created_ms, b->event.physician_id, refs);
    timefmt_format_day(b->event.end_ms, end_day);
    bucket_ref_set(&refs[BUCKETS_ID_REFS], "end", end_day);
}

/* buckets_migration.refs_of */
static size_t refs_of(const void *item, bucket_ref *refs)
{
    billing_store_bucket_refs(item, refs);
    return BILLING_MAX_REFS;
}

int billing_store_init(mongo_db *db, buckets *bk, bson_error_t *err)
{
    static const buckets_migration migration = {"billings-buckets-v1", refs_of, NULL};
    /* physician_newest .. end_date serve lists and summaries on MongoDB; on
     * FerretDB only equality lookups use an index (their GIN twins), hence
     * bucket_newest (the id-day walk) and end_day (summaries, ranges). */
    bson_t *idx =
        BCON_NEW("0", "{", "key", "{", "physician_id", BCON_INT32(1), "_id", BCON_INT32(-1), "}",
                 "name", "physician_newest", "}", "1", "{", "key", "{", "patient_id", BCON_INT32(1),
                 "_id", BCON_INT32(-1), "}", "name", "patient_newest", "}", "2", "{", "key", "{",
                 "end_date", BCON_INT32(-1), "}", "name", "end_date", "}", "3", "{", "key", "{",
                 BUCKET_FIELD, BCON_INT32(1), "_id", BCON_INT32(-1), "}", "name", "bucket_newest",
                 "}", "4", "{", "key", "{", "end_day", BCON_INT32(1), "}", "name", "end_day", "}");
    int rc = buckets_setup(bk, db, &billing_store_coll.docs, idx, &migration, err);
    bson_destroy(idx);
    /* The service's other collections: the summaries' day totals and their
     * gens, its dead letters, replay jobs, audit. */
    if (rc == 0)
        rc = day_totals_setup(db, err);
    return rc == 0 ? dead_letters_setup(db, err) : rc;
}

const store_desc billing_store_coll = {{BILLING_COLLECTION, billing_decode, sizeof(billing)},
                                       BILLING_BUCKETS_COLLECTION,
                                       billing_store_init};

/* The billing document as it is stored (_id = appointment id). */
static void billing_to_bson(const billing *b, const char *bucket, bson_t *doc)
{
    char day[BUCKET_DAY_LEN];
    timefmt_format_day(b->event.end_ms, day);
    BSON_APPEND_UTF8(doc, "_id", b->event.appointment_id);
    BSON_APPEND_UTF8(doc, "appointment_id", b->event.appointment_id);
    BSON_APPEND_UTF8(doc, "physician_id", b->event.physician_id);
    BSON_APPEND_UTF8(doc, "patient_id", b->event.patient_id);
    BSON_APPEND_DATE_TIME(doc, "start_date", b->event.start_ms);
    BSON_APPEND_DATE_TIME(doc, "end_date", b->event.end_ms);
    /* The UTC day, precomputed: FerretDB 1.24 has no $dateToString, and an
     * equality on it is what summaries and ranges query. */
    BSON_APPEND_UTF8(doc, "end_day", day);
    BSON_APPEND_UTF8(doc, BUCKET_FIELD, bucket);
    BSON_APPEND_INT64(doc, "billed_hours", b->billed_hours);
    BSON_APPEND_INT64(doc, "hourly_price_cents", b->event.hourly_price_cents);
    BSON_APPEND_INT64(doc, "total_cents", b->total_cents);
    BSON_APPEND_UTF8(doc, "currency", b->event.currency);
    if (b->event_id[0])
        BSON_APPEND_UTF8(doc, "event_id", b->event_id);
    BSON_APPEND_DATE_TIME(doc, "created_at", b->created_ms);
}

typedef struct insert_ctx {
    const billing *bs;
    const bucket_ref *refs;
    bool *created;
} insert_ctx;

static void add_insert(mongoc_bulk_operation_t *bulk, size_t i, void *ctx)
{
    const insert_ctx *u = ctx;
    bson_t doc = BSON_INITIALIZER;
    billing_to_bson(&u->bs[i], u->refs[i * BILLING_MAX_REFS].day, &doc);
    mongoc_bulk_operation_insert_with_opts(bulk, &doc, NULL, NULL);
    bson_destroy(&doc);
}

/* Clears created[] for the statements of a chunk that hit an existing
 * billing: the reply's duplicate-key write errors, by statement index. */
static void mark_existing(const bson_t *reply, size_t first, size_t count, void *ctx)
{
    insert_ctx *u = ctx;
    bson_iter_t it, arr;
    if (!bson_iter_init_find(&it, reply, "writeErrors") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return;
    while (bson_iter_next(&arr)) {
        bson_iter_t e;
        if (BSON_ITER_HOLDS_DOCUMENT(&arr) && bson_iter_recurse(&arr, &e) &&
            bson_iter_find(&e, "index")) {
            int64_t i = mongo_iter_int(&e);
            if (i >= 0 && (size_t)i < count)
                u->created[first + (size_t)i] = false;
        }
    }
}

/* The opts of the billing writes, into *opts (bson_destroy it). The offsets
 * are committed once a write returns: in a replica set the billings must then
 * survive a failover, so ask for a majority unless the URI chose a write
 * concern itself. */
static void write_opts(mongo_db *db, bson_t *opts)
{
    bson_init(opts);
    if (mongo_db_default_write_concern(db)) {
        mongoc_write_concern_t *wc = mongoc_write_concern_new();
        mongoc_write_concern_set_wmajority(wc, 10000);
        mongoc_write_concern_append(wc, opts);
        mongoc_write_concern_destroy(wc);
    }
}

int billing_store_flush_marks(mongo_db *db, bson_error_t *err)
{
    bson_t opts;
    write_opts(db, &opts);
    int rc = day_totals_flush(db, &opts, err);
    bson_destroy(&opts);
    return rc;
}

int billing_store_insert_many(mongo_db *db, buckets *bk, const billing *bs, size_t n, bool *created,
                              bson_error_t *err)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        created[i] = true;
    bucket_ref *refs = xmalloc(n * BILLING_MAX_REFS * sizeof *refs);
    for (size_t i = 0; i < n; i++)
        billing_store_bucket_refs(&bs[i], refs + i * BILLING_MAX_REFS);
    bson_t opts;
    write_opts(db, &opts);
    /* The end days, marked begun before the insert and done after it, the
     * "already billed" ones too (a writer that died between its insert and
     * its mark is repaired by the redelivery): day_totals.h says why. */
    char(*days)[BUCKET_DAY_LEN] = xmalloc(n * sizeof *days);
    for (size_t i = 0; i < n; i++)
        memcpy(days[i], refs[i * BILLING_MAX_REFS + BUCKETS_ID_REFS].day, sizeof *days);
    size_t ndays = day_totals_distinct(days, n);
    int64_t seq = 0;
    int rc = buckets_note(bk, db, refs, n * BILLING_MAX_REFS, err);
    if (rc != 0)
        goto done;
    rc = day_totals_begin(db, (const char(*)[BUCKET_DAY_LEN])days, ndays, &opts, &seq, err);
    if (rc == 0) {
        /* Plain inserts: the unique _id makes a second billing of one
         * appointment a duplicate-key error, which is "already billed".
         * On FerretDB an insert costs a sixth of an upsert (no read first). */
        insert_ctx u = {.bs = bs, .refs = refs, .created = created};
        rc = mongo_bulk_write(db, BILLING_COLLECTION, &opts, n, add_insert, mark_existing, &u, err);
    }
    /* Done, also when the database answered an error: what it applied is
     * applied by now (a refused billing may never be retried by this writer,
     * and its day would stay in flight). Not after an outage: a write the
     * database may still be applying must stay in flight; the retry ends it. */
    if (rc == 0) {
        rc = day_totals_end(db, (const char(*)[BUCKET_DAY_LEN])days, ndays, &opts, seq, err);
    } else if (!mongo_error_is_unavailable(err)) {
        bson_error_t end_err;
        (void)day_totals_end(db, (const char(*)[BUCKET_DAY_LEN])days, ndays, &opts, seq, &end_err);
    }
done:
    bson_destroy(&opts);
    free(days);
    free(refs);
    return rc;
}

/* Appends {field: {$gte: from, $lt: to}} for the bounds of r that are set. */
static void append_range(bson_t *filter, const char *field, const billing_range *r)
{
    if (!r->has_from && !r->has_to)
        return;
    bson_t range;
    BSON_APPEND_DOCUMENT_BEGIN(filter, field, &range);
    if (r->has_from)
        BSON_APPEND_DATE_TIME(&range, "$gte", r->from_ms);
    if (r->has_to)
        BSON_APPEND_DATE_TIME(&range, "$lt", r->to_ms);
    bson_append_document_end(filter, &range);
}

static int id_desc(const void *x, const void *y)
{
    return strcmp(((const billing *)y)->event.appointment_id,
                  ((const billing *)x)->event.appointment_id);
}

/* The UTC days [first, last] that a from/to range (to exclusive) touches. */
static void range_days(int64_t from_ms, int64_t to_ms, char first[BUCKET_DAY_LEN],
                       char last[BUCKET_DAY_LEN])
{
    timefmt_format_day(from_ms, first);
    timefmt_format_day(to_ms - 1, last);
}

/* The "end" days that may hold billings, newest first, within [first, last]
 * (either NULL: unbounded on that side). */
static int end_days(mongo_db *db, buckets *bk, const char *first, const char *last,
                    char (**days)[BUCKET_DAY_LEN], size_t *n, bson_error_t *err)
{
    if (buckets_days(bk, db, "end", last, days, n, err) != 0)
        return -1;
    while (first && *n > 0 && strcmp((*days)[*n - 1], first) < 0)
        (*n)--;
    return 0;
}

/* A short from/to range: the top of each of its end days, merged. */
static int list_by_end_days(mongo_db *db, buckets *bk, const bson_t *filter, const billing_range *r,
                            const char *before_id, mongo_page *p, bson_error_t *err)
{
    char first[BUCKET_DAY_LEN], last[BUCKET_DAY_LEN];
    range_days(r->from_ms, r->to_ms, first, last);
    char(*days)[BUCKET_DAY_LEN] = NULL;
    size_t ndays = 0;
    if (end_days(db, bk, first, last, &days, &ndays, err) != 0)
        return -1;
    size_t room = (size_t)(p->limit + 1);
    billing *all = xmalloc((ndays ? ndays : 1) * room * sizeof *all);
    size_t nall = 0;
    int rc = 0;
    for (size_t i = 0; i < ndays && rc == 0; i++) {
        bson_t day_filter = BSON_INITIALIZER;
        bson_concat(&day_filter, filter);
        BSON_APPEND_UTF8(&day_filter, "end_day", days[i]);
        /* limit + 1 per day: enough for the page and to know whether more follow. */
        mongo_page dp = {.items = all + nall,
                         .item_size = sizeof *all,
                         .limit = p->limit + 1,
                         .decode = billing_decode};
        rc = mongo_page_fill(db, BILLING_COLLECTION, &day_filter, before_id, &dp, err);
        nall += (size_t)dp.n;
        bson_destroy(&day_filter);
    }
    if (rc == 0) {
        if (nall > 1)
            qsort(all, nall, sizeof *all, id_desc);
        size_t take = nall < (size_t)p->limit ? nall : (size_t)p->limit;
        memcpy(p->items, all, take * sizeof *all);
        p->n = (int)take;
        p->more = nall > take;
        if (take > 0) /* _id is the appointment id */
            snprintf(p->last_id, sizeof p->last_id, "%s", all[take - 1].event.appointment_id);
    }
    free(all);
    free(days);
    return rc;
}

int billing_store_list(mongo_db *db, buckets *bk, const billing_list_query *q, mongo_page *p,
                       bson_error_t *err)
{
    const billing_range *r = &q->range;
    bson_t filter = BSON_INITIALIZER;
    char scope[BUCKET_SCOPE_LEN];
    buckets_people_filter(&filter, q->has_physician ? q->physician_id : NULL,
                          q->has_patient ? q->patient_id : NULL, scope);
    append_range(&filter, "end_date", r);
    const char *before_id = q->has_cursor ? q->cursor : NULL;
    p->decode = billing_decode;
    int rc;
    if (q->has_patient) {
        rc = mongo_page_fill(db, BILLING_COLLECTION, &filter, before_id, p, err);
    } else if (r->has_from && r->has_to &&
               (r->to_ms <= r->from_ms ||
                r->to_ms - r->from_ms <= (int64_t)BILLING_RANGE_DAYS_MAX * 86400000)) {
        rc = r->to_ms <= r->from_ms ? 0 : list_by_end_days(db, bk, &filter, r, before_id, p, err);
    } else {
        rc = buckets_page(bk, db, BILLING_COLLECTION, scope, &filter, before_id, p, err);
    }
    bson_destroy(&filter);
    return rc;
}

static const char *group_key_field(billing_group_by g)
{
    switch (g) {
    case BILLING_BY_PATIENT:
        return "patient_id";
    case BILLING_BY_DAY:
        return "end_day";
    case BILLING_BY_PHYSICIAN:
    default:
        return "physician_id";
    }
}

int billing_store_summary(mongo_db *db, buckets *bk, const billing_summary_query *q,
                          size_t max_groups, billing_group **out, size_t *n,
                          billing_summary_outcome *outcome, bson_error_t *err)
{
    const billing_range *r = &q->range;
    /* One equality query per end day that holds billings (the "end"
     * buckets), summed here: FerretDB serves each from an index, where an
     * aggregation would read the whole collection. */
    char first[BUCKET_DAY_LEN], last[BUCKET_DAY_LEN];
    if (r->has_from)
        timefmt_format_day(r->from_ms, first);
    if (r->has_to)
        timefmt_format_day(r->to_ms - 1, last);
    char(*days)[BUCKET_DAY_LEN] = NULL;
    size_t ndays = 0;
    if (r->has_from && r->has_to && r->to_ms <= r->from_ms)
        ndays = 0;
    else if (end_days(db, bk, r->has_from ? first : NULL, r->has_to ? last : NULL, &days, &ndays,
                      err) != 0)
        return -1;

    if (ndays > BILLING_SUMMARY_MAX_DAYS) {
        free(days);
        *outcome = BILLING_SUMMARY_TOO_MANY_DAYS;
        return 0;
    }

    /* Whole days from their day totals (day_totals.h); the first and last
     * days of a range that cuts them, from their billings in the range. */
    billing_fold fold;
    billing_fold_init(&fold, max_groups);
    const char *kf = group_key_field(q->group_by);
    char(*whole)[BUCKET_DAY_LEN] = xmalloc((ndays ? ndays : 1) * sizeof *whole);
    int64_t from_ms = r->has_from ? r->from_ms : INT64_MIN,
            to_ms = r->has_to ? r->to_ms : INT64_MAX;
    size_t nwhole = 0;
    day_totals_row row = {kf, &fold};
    bson_t *proj = BCON_NEW(kf, BCON_INT32(1), "total_cents", BCON_INT32(1));
    int rc = 0;
    for (size_t i = 0; i < ndays && rc == 0; i++) {
        if (day_totals_day_whole(days[i], from_ms, to_ms)) {
            memcpy(whole[nwhole++], days[i], sizeof *whole);
            continue;
        }
        bson_t filter = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&filter, "end_day", days[i]);
        BSON_APPEND_UTF8(&filter, "currency", q->currency);
        append_range(&filter, "end_date", r);
        rc = mongo_find_each(db, BILLING_COLLECTION, &filter, proj, day_totals_add_billing, &row,
                             err);
        bson_destroy(&filter);
    }
    bson_destroy(proj);
    day_totals_query dq = {BILLING_COLLECTION, kf, q->currency, from_ms, to_ms};
    if (rc == 0)
        rc = day_totals_fold(db, &dq, (const char(*)[BUCKET_DAY_LEN])whole, nwhole, &fold, err);
    free(whole);
    free(days);
    if (rc >= 0) /* 1: the fold stopped the read, its outcome says why */
        *outcome = billing_fold_finish(&fold, out, n);
    billing_fold_destroy(&fold);
    return rc < 0 ? -1 : 0;
}
