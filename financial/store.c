#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "timefmt.h"

static void billing_from_bson(const bson_t *doc, billing *b)
{
    memset(b, 0, sizeof *b);
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (strcmp(k, "_id") == 0)
            mongo_iter_str(&it, b->appointment_id, sizeof b->appointment_id);
        else if (strcmp(k, "physician_id") == 0)
            mongo_iter_str(&it, b->physician_id, sizeof b->physician_id);
        else if (strcmp(k, "patient_id") == 0)
            mongo_iter_str(&it, b->patient_id, sizeof b->patient_id);
        else if (strcmp(k, "start_date") == 0)
            b->start_ms = mongo_iter_int(&it);
        else if (strcmp(k, "end_date") == 0)
            b->end_ms = mongo_iter_int(&it);
        else if (strcmp(k, "billed_hours") == 0)
            b->billed_hours = mongo_iter_int(&it);
        else if (strcmp(k, "hourly_price_cents") == 0)
            b->hourly_price_cents = mongo_iter_int(&it);
        else if (strcmp(k, "total_cents") == 0)
            b->total_cents = mongo_iter_int(&it);
        else if (strcmp(k, "currency") == 0)
            mongo_iter_str(&it, b->currency, sizeof b->currency);
        else if (strcmp(k, "event_id") == 0)
            mongo_iter_str(&it, b->event_id, sizeof b->event_id);
        else if (strcmp(k, "created_at") == 0)
            b->created_ms = mongo_iter_int(&it);
    }
}

int billing_store_init(mongo_db *db, bson_error_t *err)
{
    bson_t *idx =
        BCON_NEW("0", "{", "key", "{", "physician_id", BCON_INT32(1), "_id", BCON_INT32(-1), "}",
                 "name", "physician_newest", "}", "1", "{", "key", "{", "patient_id", BCON_INT32(1),
                 "_id", BCON_INT32(-1), "}", "name", "patient_newest", "}", "2", "{", "key", "{",
                 "end_date", BCON_INT32(-1), "}", "name", "end_date", "}");
    int rc = mongo_db_create_indexes(db, BILLING_COLLECTION, idx, err);
    bson_destroy(idx);
    return rc;
}

int billing_store_upsert(mongo_db *db, const billing *b, bson_error_t *err)
{
    char day[BILLING_DAY_LEN];
    timefmt_format_day(b->end_ms, day);
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(b->appointment_id));
    bson_t update = BSON_INITIALIZER, set;
    BSON_APPEND_DOCUMENT_BEGIN(&update, "$setOnInsert", &set);
    BSON_APPEND_UTF8(&set, "appointment_id", b->appointment_id);
    BSON_APPEND_UTF8(&set, "physician_id", b->physician_id);
    BSON_APPEND_UTF8(&set, "patient_id", b->patient_id);
    BSON_APPEND_DATE_TIME(&set, "start_date", b->start_ms);
    BSON_APPEND_DATE_TIME(&set, "end_date", b->end_ms);
    /* The UTC day, precomputed: FerretDB 1.24 has no $dateToString to group on. */
    BSON_APPEND_UTF8(&set, "end_day", day);
    BSON_APPEND_INT64(&set, "billed_hours", b->billed_hours);
    BSON_APPEND_INT64(&set, "hourly_price_cents", b->hourly_price_cents);
    BSON_APPEND_INT64(&set, "total_cents", b->total_cents);
    BSON_APPEND_UTF8(&set, "currency", b->currency);
    if (b->event_id[0])
        BSON_APPEND_UTF8(&set, "event_id", b->event_id);
    BSON_APPEND_DATE_TIME(&set, "created_at", b->created_ms);
    bson_append_document_end(&update, &set);

    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_BOOL(&opts, "upsert", true);
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, BILLING_COLLECTION);
    /* The offset is committed once this returns: in a replica set the billing
     * must then survive a failover, so ask for a majority unless the URI
     * chose a write concern itself. */
    if (mongoc_write_concern_is_default(mongoc_collection_get_write_concern(coll))) {
        mongoc_write_concern_t *wc = mongoc_write_concern_new();
        mongoc_write_concern_set_wmajority(wc, 10000);
        mongoc_write_concern_append(wc, &opts);
        mongoc_write_concern_destroy(wc);
    }
    bson_t reply;
    int rc = -1;
    if (mongoc_collection_update_one(coll, sel, &update, &opts, &reply, err)) {
        bson_iter_t it;
        rc = bson_iter_init_find(&it, &reply, "upsertedCount") && mongo_iter_int(&it) > 0 ? 1 : 0;
    } else if (mongo_error_is_duplicate(err)) {
        rc = 0; /* a concurrent upsert of the same id won the race */
    }
    bson_destroy(&reply);
    mongoc_collection_destroy(coll);
    mongo_db_push(db, c);
    bson_destroy(&opts);
    bson_destroy(&update);
    bson_destroy(sel);
    return rc;
}

int billing_store_get(mongo_db *db, const char *appointment_id, billing *out, bson_error_t *err)
{
    bson_t filter = BSON_INITIALIZER, doc;
    BSON_APPEND_UTF8(&filter, "_id", appointment_id);
    int rc = mongo_find_one(db, BILLING_COLLECTION, &filter, &doc, err);
    if (rc == 1) {
        billing_from_bson(&doc, out);
        bson_destroy(&doc);
    }
    bson_destroy(&filter);
    return rc;
}

/* Appends {field: {$gte: from, $lt: to}} for the bounds that are set. */
static void append_range(bson_t *filter, const char *field, bool has_from, int64_t from_ms,
                         bool has_to, int64_t to_ms)
{
    if (!has_from && !has_to)
        return;
    bson_t range;
    BSON_APPEND_DOCUMENT_BEGIN(filter, field, &range);
    if (has_from)
        BSON_APPEND_DATE_TIME(&range, "$gte", from_ms);
    if (has_to)
        BSON_APPEND_DATE_TIME(&range, "$lt", to_ms);
    bson_append_document_end(filter, &range);
}

int billing_store_list(mongo_db *db, const billing_filter *f, billing *out, int *n, bool *more,
                       bson_error_t *err)
{
    bson_t filter = BSON_INITIALIZER;
    if (f->physician_id)
        BSON_APPEND_UTF8(&filter, "physician_id", f->physician_id);
    if (f->patient_id)
        BSON_APPEND_UTF8(&filter, "patient_id", f->patient_id);
    append_range(&filter, "end_date", f->has_from, f->from_ms, f->has_to, f->to_ms);
    if (f->before_id) {
        bson_t lt;
        BSON_APPEND_DOCUMENT_BEGIN(&filter, "_id", &lt);
        BSON_APPEND_UTF8(&lt, "$lt", f->before_id);
        bson_append_document_end(&filter, &lt);
    }
    /* One more than asked, to know whether another page follows. */
    bson_t *opts =
        BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64(f->limit + 1));
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, BILLING_COLLECTION);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, &filter, opts, NULL);
    const bson_t *doc = NULL;
    int count = 0;
    bool extra = false;
    while (mongoc_cursor_next(cur, &doc)) {
        if (count == f->limit) {
            extra = true;
            break;
        }
        billing_from_bson(doc, &out[count++]);
    }
    int rc = mongoc_cursor_error(cur, err) ? -1 : 0;
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    mongo_db_push(db, c);
    bson_destroy(opts);
    bson_destroy(&filter);
    if (rc == 0) {
        *n = count;
        *more = extra;
    }
    return rc;
}

static const char *group_field(billing_group_by g)
{
    switch (g) {
    case BILLING_BY_PATIENT:
        return "$patient_id";
    case BILLING_BY_DAY:
        return "$end_day";
    case BILLING_BY_PHYSICIAN:
    default:
        return "$physician_id";
    }
}

/* Folds one result row {_id: {k, t}, n} into the groups, which arrive sorted
 * by k. Returns 0, or -2 with err set when the result is too large. */
static int fold_row(const bson_t *row, billing_group **groups, size_t *ngroups, size_t *cap,
                    size_t max_groups, bson_error_t *err)
{
    bson_iter_t it, id;
    char key[UUID_STR_LEN] = "";
    int64_t t = 0, n = 0;
    if (bson_iter_init_find(&it, row, "_id") && BSON_ITER_HOLDS_DOCUMENT(&it) &&
        bson_iter_recurse(&it, &id)) {
        while (bson_iter_next(&id)) {
            if (strcmp(bson_iter_key(&id), "k") == 0)
                mongo_iter_str(&id, key, sizeof key);
            else if (strcmp(bson_iter_key(&id), "t") == 0)
                t = mongo_iter_int(&id);
        }
    }
    if (bson_iter_init_find(&it, row, "n"))
        n = mongo_iter_int(&it);

    billing_group *g = *ngroups ? &(*groups)[*ngroups - 1] : NULL;
    if (!g || strcmp(g->key, key) != 0) {
        if (*ngroups == max_groups) {
            bson_set_error(err, MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_TOO_BIG,
                           "more than %zu groups", max_groups);
            return -2;
        }
        if (*ngroups == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *groups = xrealloc(*groups, *cap * sizeof **groups);
        }
        g = &(*groups)[(*ngroups)++];
        memset(g, 0, sizeof *g);
        memcpy(g->key, key, sizeof g->key);
    }
    int64_t sub;
    if (__builtin_mul_overflow(t, n, &sub) ||
        __builtin_add_overflow(g->total_cents, sub, &g->total_cents) ||
        __builtin_add_overflow(g->count, n, &g->count)) {
        bson_set_error(err, MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_TOO_BIG,
                       "a total exceeds the largest amount");
        return -2;
    }
    return 0;
}

int billing_store_summary(mongo_db *db, const billing_summary_query *q, billing_group **out,
                          size_t *n, bson_error_t *err)
{
    /* FerretDB 1.24 fills only the first accumulator of a $group (the others
     * come back 0), so one $sum cannot give both count and total. Grouping by
     * (key, total_cents) and counting needs a single accumulator and still
     * leaves the arithmetic to the server: a key has few distinct totals
     * (whole hours times a price), and C folds them into one line per key. */
    bson_t match = BSON_INITIALIZER;
    append_range(&match, "end_date", q->has_from, q->from_ms, q->has_to, q->to_ms);
    BSON_APPEND_UTF8(&match, "currency", q->currency);
    bson_t *pipeline =
        BCON_NEW("pipeline", "[", "{", "$match", BCON_DOCUMENT(&match), "}", "{", "$group", "{",
                 "_id", "{", "k", BCON_UTF8(group_field(q->group_by)), "t",
                 BCON_UTF8("$total_cents"), "}", "n", "{", "$sum", BCON_INT32(1), "}", "}", "}",
                 "{", "$sort", "{", "_id.k", BCON_INT32(1), "_id.t", BCON_INT32(1), "}", "}", "]");
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, BILLING_COLLECTION);
    mongoc_cursor_t *cur =
        mongoc_collection_aggregate(coll, MONGOC_QUERY_NONE, pipeline, NULL, NULL);
    billing_group *groups = NULL;
    size_t ngroups = 0, cap = 0;
    const bson_t *row = NULL;
    int rc = 0;
    while (rc == 0 && mongoc_cursor_next(cur, &row))
        rc = fold_row(row, &groups, &ngroups, &cap, q->max_groups, err);
    if (rc == 0 && mongoc_cursor_error(cur, err))
        rc = -1;
    mongoc_cursor_destroy(cur);
    mongoc_collection_destroy(coll);
    mongo_db_push(db, c);
    bson_destroy(pipeline);
    bson_destroy(&match);
    if (rc != 0) {
        free(groups);
        return rc;
    }
    *out = groups;
    *n = ngroups;
    return 0;
}
