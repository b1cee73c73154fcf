/* buckets: day buckets that keep lists and summaries bounded on a database
 * whose only usable index is top-level equality (FerretDB 1.24 on PostgreSQL,
 * with the GIN twins of deploy/postgres/gin-twins.sql).
 *
 * A listed document carries `bucket`, the UTC day "YYYY-MM-DD" of its UUIDv7
 * _id: the documents of one bucket are exactly those whose ids fall in that
 * day, so walking buckets newest day first and each bucket newest _id first
 * yields the whole list in _id order. A small records collection remembers
 * which (scope, day) buckets may hold documents: scope "all", or a narrower
 * one such as "physician/<uuid>". A record is written before the first
 * document of its bucket and may outlive its documents (then the walk makes
 * one empty query), so a list never misses a document.
 *
 * All functions are thread-safe; those that touch the database return 0, or
 * -1 with err filled (mongo_error_is_unavailable tells an outage apart). */
#ifndef COMMON_BUCKETS_H
#define COMMON_BUCKETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mongo.h"
#include "uuid.h"

#define BUCKET_DAY_LEN 11     /* "YYYY-MM-DD" + NUL */
#define BUCKET_SCOPE_LEN 64   /* "physician/<uuid>" + NUL fits */
#define BUCKET_FIELD "bucket" /* the documents' bucket field */

typedef struct buckets buckets;

/* One (scope, day) bucket. */
typedef struct bucket_ref {
    char scope[BUCKET_SCOPE_LEN];
    char day[BUCKET_DAY_LEN];
} bucket_ref;

/* The records of buckets live in collection `records` (copied). Cannot fail.
 * buckets_free(NULL) does nothing. */
buckets *buckets_new(const char *records);
void buckets_free(buckets *b);

/* The bucket of id: the UTC day of its UUIDv7 time, or of fallback_ms when
 * id is not a version 7 UUID. Pure. */
void buckets_day_of_id(const char *id, int64_t fallback_ms, char day[BUCKET_DAY_LEN]);

/* Fills *ref with scope (truncated to fit) and day. Cannot fail. */
void bucket_ref_set(bucket_ref *ref, const char *scope, const char *day);

/* The scope of the lists of one physician's documents, "physician/<id>", or
 * "all" when physician_id is NULL. Pure. */
void buckets_scope(const char *physician_id, char scope[BUCKET_SCOPE_LEN]);

/* For a list of documents that carry physician_id and patient_id: appends
 * the equality of each one given (NULL: any) to filter, and writes in scope
 * the buckets_scope(physician_id) whose buckets hold the list. Pure. */
void buckets_people_filter(bson_t *filter, const char *physician_id, const char *patient_id,
                           char scope[BUCKET_SCOPE_LEN]);

/* The buckets a list walks to find a document of physician_id whose _id is
 * id: refs[0] "all" and refs[1] buckets_scope(physician_id), both on
 * buckets_day_of_id(id, fallback_ms). Pure. */
#define BUCKETS_ID_REFS 2
void buckets_id_refs(const char *id, int64_t fallback_ms, const char *physician_id,
                     bucket_ref refs[BUCKETS_ID_REFS]);

/* Makes sure a record exists for each of refs[0..n): those this process has
 * not written yet go in one bulk upsert (no round trip at all when every one
 * is known). A bulk upsert that raced another writer's runs again, a few
 * times at most. Returns 0 or -1 (when the race outlasts those tries: MONGO_ERROR_CONTENDED,
 * which mongo_error_is_unavailable calls an outage: the start answers 503,
 * the consumer pauses and retries). */
int buckets_note(buckets *b, mongo_db *db, const bucket_ref *refs, size_t n, bson_error_t *err);

/* The days of scope that may hold documents, newest first, none after
 * max_day (NULL: no bound). Returns 0 with *days (free() it; NULL when none)
 * and *n, or -1. */
int buckets_days(buckets *b, mongo_db *db, const char *scope, const char *max_day,
                 char (**days)[BUCKET_DAY_LEN], size_t *n, bson_error_t *err);

/* The most bucket queries one page runs (plus one for the bucket records):
 * a filter that matches little must not walk years of days in one request. */
#define BUCKETS_PAGE_MAX_QUERIES 32

/* Fills p from collection `coll`: the documents that match filter (which must
 * not use the bucket field) and have _id < before_id (NULL: from the
 * newest), walking the buckets of scope newest first with one equality query
 * per bucket, until the page is full and one more item is known to exist, or
 * the buckets run out. At most BUCKETS_PAGE_MAX_QUERIES buckets are read: a
 * page that stops there with buckets left holds what they had (maybe
 * nothing), sets p->more, and sets p->last_id to a cursor that resumes at
 * the next older bucket (buckets_resume_cursor). Returns 0 or -1. */
int buckets_page(buckets *b, mongo_db *db, const char *coll, const char *scope,
                 const bson_t *filter, const char *before_id, mongo_page *p, bson_error_t *err);

/* The cursor of a page that stopped after walking bucket `day` ("YYYY-MM-DD"):
 * the greatest v7 id of the day before, so the next page starts with the next
 * older bucket and repeats none of `day`. Returns 0, or -1 if day is no date.
 * Pure. */
int buckets_resume_cursor(const char *day, char cursor[UUID_STR_LEN]);

/* ---- setting up a collection of bucketed documents ---- */

#define BUCKETS_MAX_REFS 4

/* The one-time migration of a collection's documents written before
 * buckets existed. */
typedef struct buckets_migration {
    const char *name; /* its record in the records collection */
    /* Writes the refs of one document, decoded by the collection's
     * mongo_coll (at most BUCKETS_MAX_REFS; refs[0] on the day of its own
     * bucket), and returns how many. */
    size_t (*refs_of)(const void *item, bucket_ref *refs);
    /* More of the same migration, run first; NULL: none. 0 or -1 with err. */
    int (*also)(mongo_db *db, bson_error_t *err);
} buckets_migration;

/* Makes collection c ready for bucketed lists: creates its indexes
 * (`indexes` is the createIndexes "indexes" array) and the records' own;
 * then, unless the records say it ran, migration m: m->also, and a bucket
 * for every document without one (its refs noted first), a few hundred
 * documents at a time. Idempotent. Returns 0, or -1 with err. */
int buckets_setup(buckets *b, mongo_db *db, const mongo_coll *c, const bson_t *indexes,
                  const buckets_migration *m, bson_error_t *err);

/* Runs run(db, err) unless the records collection says migration `name` ran
 * on this database, and then records that it did (a one-time migration of
 * a store that has no buckets of its own; buckets_setup must have made the
 * records collection first). Returns 0, or -1 with err (run again on the
 * next set-up). */
int buckets_once(buckets *b, mongo_db *db, const char *name,
                 int (*run)(mongo_db *db, bson_error_t *err), bson_error_t *err);

#endif
