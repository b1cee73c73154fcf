/* appt_finished: finished appointments as others read them in bulk: the
 * financial service's reconciler (by the day they ended) and /metrics (the
 * oldest pending outbox entry). Every finished appointment carries
 * APPT_END_DAY_FIELD, the UTC day "YYYY-MM-DD" of its end_date, set by
 * appt_store_finish in the same update as the end; an index on it
 * (appt_store_init) lets each
 * day be read by one top-level equality, the only filter FerretDB 1.24 serves
 * from an index (docs/data.md). Appointments finished before the field
 * existed have none and are not listed here. Thread-safe; functions that
 * touch the database return 0, or -1 with err filled. */
#ifndef APPT_FINISHED_H
#define APPT_FINISHED_H

#include <stdbool.h>
#include <stdint.h>

#include "buckets.h"
#include "mongo.h"
#include "uuid.h"

#define APPT_END_DAY_FIELD "end_day" /* written and indexed by appt_store */
/* The widest from/to range one request may walk, in days, and the largest
 * page. */
#define APPT_FINISHED_RANGE_DAYS_MAX 31
#define APPT_FINISHED_LIMIT_MAX 500
/* A cursor: "YYYY-MM-DD.<uuid>", the end day and id of a page's last item. */
#define APPT_FINISHED_CURSOR_LEN (BUCKET_DAY_LEN + UUID_STR_LEN)

/* What a page asks for (appt_finished_api_query reads it from a query
 * string): appointments whose end_date is in [from_ms, to_ms), newest end
 * day first and, within a day, newest id first. */
typedef struct appt_finished_query {
    int64_t from_ms, to_ms;
    bool has_cursor; /* resume after the item cursor_id of day cursor_day */
    char cursor_day[BUCKET_DAY_LEN];
    char cursor_id[UUID_STR_LEN];
    int limit; /* 1..APPT_FINISHED_LIMIT_MAX */
} appt_finished_query;

/* One finished appointment: what the reconciler needs of it. */
typedef struct appt_finished_item {
    char id[UUID_STR_LEN];
    int64_t end_ms;
} appt_finished_item;

/* Fills items[0..*n) (room for q->limit) with the page q asks for, walking
 * the end days from the cursor's (or to_ms's) back to from_ms's, one
 * equality query per day until the page is full. cursor (room for
 * APPT_FINISHED_CURSOR_LEN) gets the next page's cursor, or "" when no more
 * follow. */
int appt_finished_page(mongo_db *db, const appt_finished_query *q, appt_finished_item *items,
                       int *n, char *cursor, bson_error_t *err);

/* The time (ms) of the oldest pending outbox entry (when it was written),
 * read through the same top-level equality as the relay's: *any false when
 * none is pending. */
int appt_finished_oldest_pending(mongo_db *db, bool *any, int64_t *oldest_ms, bson_error_t *err);

#endif
