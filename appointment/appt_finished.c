#include "appt_finished.h"

#include <stdio.h>
#include <string.h>

#include "appt_store.h"
#include "bsonread.h"
#include "timefmt.h"

#define DAY_MS 86400000LL

static const bsonread_field item_fields[] = {
    BSONREAD_STR("_id", appt_finished_item, id),
    BSONREAD_INT("end_date", appt_finished_item, end_ms),
};

/* A mongo_decode_fn: the id and end of an appointments document. */
static void item_decode(const bson_t *doc, void *item)
{
    memset(item, 0, sizeof(appt_finished_item));
    bsonread_doc(doc, item_fields, BSONREAD_COUNT(item_fields), item);
}

/* Days since the epoch of ms, rounding down (before 1970 too). */
static int64_t day_index(int64_t ms)
{
    return ms >= 0 ? ms / DAY_MS : -((-ms + DAY_MS - 1) / DAY_MS);
}

int appt_finished_page(mongo_db *db, const appt_finished_query *q, appt_finished_item *items,
                       int *n, char *cursor, bson_error_t *err)
{
    mongo_page p = {
        .items = items, .item_size = sizeof *items, .limit = q->limit, .decode = item_decode};
    int64_t first = day_index(q->from_ms), day = day_index(q->to_ms - 1);
    const char *before_id = NULL;
    if (q->has_cursor) {
        int64_t ms = 0;
        char t[32];
        snprintf(t, sizeof t, "%sT00:00:00Z", q->cursor_day);
        if (timefmt_parse(t, strlen(t), &ms) == 0 && day_index(ms) < day)
            day = day_index(ms);
        before_id = q->cursor_id;
    }
    char last_day[BUCKET_DAY_LEN] = "";
    int rc = 0;
    /* Each day is one query by equality on its end day; the range bounds
     * what that day's documents must also match. */
    for (; day >= first && !p.more && rc == 0; day--) {
        char d[BUCKET_DAY_LEN];
        timefmt_format_day(day * DAY_MS, d);
        bson_t *filter = BCON_NEW(APPT_END_DAY_FIELD, BCON_UTF8(d), "end_date", "{", "$gte",
                                  BCON_DATE_TIME(q->from_ms), "$lt", BCON_DATE_TIME(q->to_ms), "}");
        int before = p.n;
        rc = mongo_page_fill(db, APPT_COLLECTION, filter, before_id, &p, err);
        bson_destroy(filter);
        if (p.n > before)
            memcpy(last_day, d, sizeof last_day);
        before_id = NULL; /* the cursor's id bounds its own day only */
    }
    if (rc != 0)
        return -1;
    *n = p.n;
    cursor[0] = '\0';
    /* A full page may have ended a day exactly: then the next page starts
     * with an empty look at that day, and goes on with the older ones. */
    if (p.more || (p.n == p.limit && day >= first))
        snprintf(cursor, APPT_FINISHED_CURSOR_LEN, "%s.%.36s", last_day, p.last_id);
    return 0;
}

int appt_finished_oldest_pending(mongo_db *db, bool *any, int64_t *oldest_ms, bson_error_t *err)
{
    /* The equality picks the pending entries only (a handful, unless the
     * broker is down); the sort runs over those. */
    bson_t *filter = BCON_NEW("outbox_pending", BCON_BOOL(true));
    bson_t *opts = BCON_NEW("sort", "{", "outbox.time", BCON_INT32(1), "}", "limit", BCON_INT64(1),
                            "projection", "{", "outbox.time", BCON_INT32(1), "}");
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, APPT_COLLECTION);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    const bson_t *doc = NULL;
    bool found = mongoc_cursor_next(cur, &doc);
    int64_t ms = 0;
    bson_iter_t it, time;
    if (found && bson_iter_init(&it, doc) && bson_iter_find_descendant(&it, "outbox.time", &time))
        ms = mongo_iter_int(&time);
    int rc = !found && mongoc_cursor_error(cur, err) ? -1 : 0;
    mongoc_cursor_destroy(cur);
    mongo_db_push(db, c);
    bson_destroy(opts);
    bson_destroy(filter);
    if (rc == 0) {
        *any = found;
        *oldest_ms = ms;
    }
    return rc;
}
