/* billing_store: billings in MongoDB, one document per appointment (_id =
 * appointment id), written once: an insert whose duplicate key means "already
 * billed". All functions are
 * thread-safe (each borrows a pooled client for one operation) and return -1
 * with err filled on a database error; mongo_error_is_unavailable(err) tells
 * an outage apart. */
#ifndef BILLING_STORE_H
#define BILLING_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"
#include "billing_fold.h"
#include "buckets.h"
#include "event.h"
#include "mongo.h"
#include "store.h"
#include "uuid.h"

#define BILLING_COLLECTION "billings"
#define BILLING_BUCKETS_COLLECTION "billing_buckets"
/* The longest from/to range a list or a summary may ask for (a year, leap
 * years included): longer is 422 naming `to`. */
#define BILLING_RANGE_MAX_DAYS 366
/* The most end days one summary reads (a from/to range of BILLING_RANGE_MAX_DAYS
 * touches at most one more): past it, BILLING_SUMMARY_TOO_MANY_DAYS. */
#define BILLING_SUMMARY_MAX_DAYS 367
/* A from/to range of at most this many days is listed through its end-day
 * buckets; a longer one walks the id buckets. */
#define BILLING_RANGE_DAYS_MAX 31

typedef enum billing_group_by {
    BILLING_BY_PHYSICIAN = 0,
    BILLING_BY_PATIENT,
    BILLING_BY_DAY, /* UTC day of end_date */
} billing_group_by;

/* The end_date range [from, to) of lists and summaries. */
typedef struct billing_range {
    bool has_from; /* end_date >= from_ms */
    int64_t from_ms;
    bool has_to; /* end_date < to_ms */
    int64_t to_ms;
} billing_range;

/* What a list asks for (billing_request_list reads it from a query string). */
typedef struct billing_list_query {
    bool has_physician, has_patient, has_cursor;
    char physician_id[UUID_STR_LEN]; /* lowercase */
    char patient_id[UUID_STR_LEN];
    char cursor[UUID_STR_LEN]; /* the last appointment id of the previous page */
    billing_range range;
    int limit; /* 1..BILLING_LIST_MAX (billing_request.h) */
} billing_list_query;

/* What a summary asks for (billing_request_summary reads it from a query
 * string). */
typedef struct billing_summary_query {
    billing_group_by group_by;
    billing_range range;
    char currency[EVENT_CURRENCY_LEN]; /* only billings in this currency are summed */
} billing_summary_query;

/* The billings collection: decoded into billing, its buckets recorded in
 * BILLING_BUCKETS_COLLECTION, set up by billing_store_init. */
extern const store_desc billing_store_coll;

/* Creates the list indexes (idempotent; _id is the unique key) and gives
 * billings written before day buckets existed their bucket (once); then
 * sets up the service's other collections (dead_letters_setup). */
int billing_store_init(mongo_db *db, buckets *bk, bson_error_t *err);

#define BILLING_MAX_REFS (BUCKETS_ID_REFS + 1)
/* The buckets that lists and summaries walk to find b: "all" and
 * "physician/<id>" on the day of its appointment id, "end" on the day of its
 * end. Pure. */
void billing_store_bucket_refs(const billing *b, bucket_ref refs[BILLING_MAX_REFS]);

/* Writes each of bs[0..n) unless a billing for its appointment exists
 * already, in which case that one is left as it is: unordered bulk inserts
 * keyed by the appointment id, a duplicate key meaning "already billed",
 * after the buckets are noted; with a majority write concern unless the URI
 * sets one. On success returns 0 and sets created[i] to 1 for the billings
 * this call wrote, 0 for those that existed (a duplicate event, or a
 * concurrent writer that won the race); on error returns -1 and nothing is
 * known (a retry is harmless). */
int billing_store_insert_many(mongo_db *db, buckets *bk, const billing *bs, size_t n, bool *created,
                              bson_error_t *err);

/* Writes the calling thread's deferred day marks (day_totals_defer_ends):
 * the consumer thread calls it when idle and before committing offsets.
 * 0, or -1 with err (they stay deferred). */
int billing_store_flush_marks(mongo_db *db, bson_error_t *err);

/* Lists what q asks for, newest first (appointment id descending), into p, whose items (room
 * for p->limit billings) and limit the caller sets: fills p->n items, sets
 * p->more when more follow, and sets p->decode. A patient's billings are
 * read by their own equality; a from/to range of at most
 * BILLING_RANGE_DAYS_MAX days through its end days; anything else walks the
 * id buckets newest first. */
int billing_store_list(mongo_db *db, buckets *bk, const billing_list_query *q, mongo_page *p,
                       bson_error_t *err);

/* Counts and totals billings per physician, patient or day, sorted by key:
 * one equality query per end day that holds billings, read as a stream into
 * a billing_fold, so memory holds the groups only. Returns 0 with the
 * outcome in *outcome: BILLING_SUMMARY_OK with *out an array of *n groups
 * the caller free()s (NULL when empty); any other outcome (more end days than
 * BILLING_SUMMARY_MAX_DAYS, before any is read; more than max_groups groups;
 * a total beyond int64: reading stops there) leaves *out and *n untouched.
 * Returns -1 on a database error. */
int billing_store_summary(mongo_db *db, buckets *bk, const billing_summary_query *q,
                          size_t max_groups, billing_group **out, size_t *n,
                          billing_summary_outcome *outcome, bson_error_t *err);

#endif
