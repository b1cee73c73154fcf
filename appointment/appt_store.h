/* appt_store: appointments in MongoDB. The outbox entry of a finished
 * appointment lives in the appointment's own document, so finishing and
 * queueing its event are one atomic single-document update. All functions are
 * thread-safe (they borrow a pooled client) and return 0, or -1 with err
 * filled on a database error (mongo_error_is_unavailable(err) tells an outage
 * apart). A business outcome (found, recorded, claimed, how a finish ended) is
 * an out-parameter, written only when the function returns 0. */
#ifndef APPT_STORE_H
#define APPT_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "buckets.h"
#include "event.h"
#include "mongo.h"
#include "store.h"
#include "trace.h"
#include "uuid.h"

#define APPT_COLLECTION "appointments"
#define APPT_IDEM_COLLECTION "idempotency_keys"
#define APPT_BUCKETS_COLLECTION "appointment_buckets"

typedef enum appt_outbox_state {
    APPT_OUTBOX_NONE = 0, /* not finished */
    APPT_OUTBOX_PENDING,
    APPT_OUTBOX_PUBLISHED,
} appt_outbox_state;

typedef struct appt {
    char id[UUID_STR_LEN]; /* UUIDv7: sorts by creation time */
    char physician_id[UUID_STR_LEN];
    char patient_id[UUID_STR_LEN];
    int64_t start_ms;
    int64_t end_ms; /* meaningful when finished */
    bool finished;
    int64_t price_cents; /* hourly price captured at start */
    char currency[EVENT_CURRENCY_LEN];
    int64_t created_ms;
    /* outbox, meaningful when finished */
    appt_outbox_state outbox_state;
    char event_id[UUID_STR_LEN]; /* ce_id, fixed when the entry is written */
    int64_t event_time_ms;       /* ce_time */
    char traceparent[TRACEPARENT_LEN];
    char tracestate[TRACESTATE_MAX]; /* "" when the request had none */
    int32_t attempts;
    int64_t next_attempt_ms; /* the relay's: when the entry is due */
} appt;

/* The appointments collection: decoded into appt, its buckets recorded in
 * APPT_BUCKETS_COLLECTION, set up by appt_store_init. */
extern const store_desc appt_store_coll;

/* Creates the collections and indexes and gives documents written before
 * day buckets, the top-level outbox flag and the idempotency records' day
 * existed their fields (once per database; a marker records it).
 * Idempotent. */
int appt_store_init(mongo_db *db, buckets *bk, bson_error_t *err);

/* The buckets a list walks to find a: "all" and "physician/<id>", on the
 * day of its id (buckets_id_refs). Pure. */
#define APPT_MAX_REFS BUCKETS_ID_REFS
void appt_store_bucket_refs(const appt *a, bucket_ref refs[APPT_MAX_REFS]);

/* Notes a's buckets (see buckets_note), then inserts it. */
int appt_store_insert(mongo_db *db, buckets *bk, const appt *a, bson_error_t *err);

/* Sets *found, and fills *out when it is true. */
int appt_store_get(mongo_db *db, const char *id, appt *out, bool *found, bson_error_t *err);

/* How appt_store_finish ended. */
typedef enum appt_finish_outcome {
    APPT_FINISH_DONE,         /* finished now: *out is the new document */
    APPT_FINISH_ALREADY,      /* finished before, with the same end or none asked: *out */
    APPT_FINISH_CONFLICT,     /* finished before with another end than the one asked: *out */
    APPT_FINISH_NOT_FOUND,    /* no such appointment */
    APPT_FINISH_BEFORE_START, /* the end asked is before its start */
    APPT_FINISH_TOO_LONG,     /* the end (asked, or now) is more than max_ms after its start */
} appt_finish_outcome;

/* Finishes appointment a->id if it is still started and a->end_ms is not
 * before its start nor more than max_ms after it: sets end, status, and a pending outbox entry (a's
 * event id, time, traceparent and tracestate, next attempt at retry_at_ms) in one findAndModify
 * whose filter holds those guards. Only a miss reads the document, to tell why into *outcome.
 * end_given: a->end_ms is the client's end_date; otherwise it is now, and an appointment started
 * after it (another host's clock was ahead) ends at its start, the shortest consultation, with a
 * second findAndModify. *out is written for DONE, ALREADY and CONFLICT. An appointment that changes
 * between the reads in a way none of the outcomes covers is reported as an error. */
int appt_store_finish(mongo_db *db, const appt *a, bool end_given, int64_t max_ms,
                      int64_t retry_at_ms, appt *out, appt_finish_outcome *outcome,
                      bson_error_t *err);

/* GET /appointments's query (appt_request_list fills it). */
typedef struct appt_list_query {
    bool has_physician, has_patient, has_cursor;
    char physician_id[UUID_STR_LEN];
    char patient_id[UUID_STR_LEN];
    char cursor[UUID_STR_LEN];
    int status; /* -1 any, 0 started, 1 finished */
    int limit;  /* 1..APPT_LIST_MAX (appt_request.h) */
} appt_list_query;

/* Lists what q asks for, newest first, into p, whose items (room for p->limit appointments)
 * and limit the caller sets: fills p->n items, sets p->more when more
 * follow, and sets p->decode. A patient's list, and the started ones, are
 * read by their own equality (they stay small: one patient's visits, the
 * consultations open now); every other list walks day buckets, so its cost
 * is bounded by the page, not by the collection. */
int appt_store_list(mongo_db *db, buckets *bk, const appt_list_query *q, mongo_page *p,
                    bson_error_t *err);

/* ---- idempotency keys ---- */

/* Records (client, key) -> a (its ids and the request's fields), so that the
 * same key from two clients is two keys. The document's _id is
 * "<client> <key>": one equality lookup, and never the _id of a key recorded
 * before keys were scoped (those were the bare key, and a key holds no
 * space), so an old record is never replayed to anyone. client is
 * http_req.client (a hash, never a token). The record carries created_at
 * (a->created_ms, the request's now) and APPT_IDEM_DAY_FIELD, its UTC day,
 * which the expiry sweep deletes by. A record at least ttl_ms old is as good
 * as absent: it is replaced by one update whose filter holds its _id and
 * its age, so of two concurrent retries one replaces it and the other
 * replays what the first recorded. Sets *recorded; false when the client's
 * key exists already and has not expired, and then *existing holds what was
 * recorded first (id, physician, patient, start_ms) and
 * *existing_start_given its start_given. */
int appt_store_idem_put(mongo_db *db, const char *client, const char *key, const appt *a,
                        bool start_given, int64_t ttl_ms, bool *recorded, appt *existing,
                        bool *existing_start_given, bson_error_t *err);

/* The top-level field of an idempotency record holding the UTC day
 * ("YYYY-MM-DD") it was written on; indexed, so that a day's records are
 * deleted by one equality. */
#define APPT_IDEM_DAY_FIELD "day"

/* Whether a record created at created_ms has expired at now_ms under a
 * time to live of ttl_ms (its age is ttl_ms or more). Pure. */
bool appt_store_idem_expired(int64_t created_ms, int64_t now_ms, int64_t ttl_ms);

/* Deletes the idempotency records of the UTC days days[0..n)
 * ("YYYY-MM-DD"): one deleteMany({day}) statement per day, an indexed
 * equality, sent as bulk writes of MONGO_BULK_CHUNK statements (one round
 * trip for a few days, 13 for 400). Sets *deleted to how many records went,
 * also when it fails part-way (the chunks before stay applied). Returns 0,
 * or -1 with err. */
int appt_store_idem_delete_days(mongo_db *db, const char (*days)[BUCKET_DAY_LEN], size_t n,
                                int64_t *deleted, bson_error_t *err);

/* ---- outbox ---- */

/* Marks the entries of appointments ids[0..n) published, in one unordered
 * bulk write (a published entry is never set back to pending, so no other
 * guard is needed). */
int appt_store_outbox_published(mongo_db *db, const char (*ids)[UUID_STR_LEN], size_t n,
                                bson_error_t *err);
/* Pushes the entry's next attempt to at_ms (after a failed delivery). */
int appt_store_outbox_retry_at(mongo_db *db, const char *id, int64_t at_ms, bson_error_t *err);
/* Fills out[0..*n) with at most max pending entries whose next attempt is
 * due (<= now_ms), earliest first: one query, an equality on the top-level
 * outbox_pending flag, so it reads the pending entries only. */
int appt_store_outbox_due(mongo_db *db, int64_t now_ms, appt *out, int max, int *n,
                          bson_error_t *err);
/* Claims the entry `seen` (from appt_store_outbox_due) if no one else did
 * meanwhile: moves its next attempt from what was seen to lease_until_ms and
 * counts the attempt, so other relays (other instances) skip it. The filter
 * is its _id plus the seen next attempt, a compare-and-swap. Sets *claimed
 * and fills *out when it is true; false if another relay claimed it first
 * (or it was published). */
int appt_store_outbox_claim(mongo_db *db, const appt *seen, int64_t lease_until_ms, appt *out,
                            bool *claimed, bson_error_t *err);
/* Counts pending entries (for /metrics). Returns the count or -1. */
int64_t appt_store_outbox_pending(mongo_db *db, bson_error_t *err);

#endif
