/* dead_letters: the messages the consumer could not bill, kept where an
 * operator can list, read, replay and discard them (collection
 * DEAD_LETTERS_COLLECTION; the dead-letter topic keeps its copies too), and
 * the audit trail of what operators did to them (AUDIT_COLLECTION).
 *
 * A record's _id is its source "<topic>/<partition>/<offset>": a redelivery
 * of the same message is the same record (an upsert that only moves
 * last_seen and attempts). Its `id` is the UUIDv5 of that source, the API's
 * opaque id. Every query is an equality on `id`, `status` or `reason` (each
 * indexed: FerretDB uses an index for top-level equality only) walked by
 * _id in bounded pages.
 *
 * All database functions are thread-safe (each borrows a pooled client) and
 * return -1 with err filled on a database error. */
#ifndef DEAD_LETTERS_H
#define DEAD_LETTERS_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "intake.h"
#include "mongo.h"
#include "uuid.h"

#define DEAD_LETTERS_COLLECTION "dead_letters"
#define DEAD_LETTER_REPLAYS_COLLECTION "dead_letter_replays"
#define AUDIT_COLLECTION "audit"
/* The most bytes of a value kept; a larger value is cut there and marked
 * truncated (and can then not be replayed). */
#define DEAD_LETTER_VALUE_MAX (64 * 1024)
/* Most headers kept per message. */
#define DEAD_LETTER_HEADERS_MAX 32
/* A source "<topic>/<partition>/<offset>": Kafka topics are at most 249
 * characters. */
#define DEAD_LETTER_SOURCE_MAX 288
#define DEAD_LETTER_DETAIL_MAX 256

typedef enum dead_letter_status {
    DEAD_LETTER_OPEN = 0,  /* "open": waiting for an operator (or a replay still failing) */
    DEAD_LETTER_REPLAYED,  /* "replayed": a replay billed it (or found it billed) */
    DEAD_LETTER_DISCARDED, /* "discarded": an operator gave up on it, with a note */
    DEAD_LETTER_NSTATUSES
} dead_letter_status;

/* "open", "replayed", "discarded". Cannot fail. */
const char *dead_letter_status_name(dead_letter_status s);
/* The status named s[0..len), or -1. */
int dead_letter_status_parse(const char *s, size_t len);

/* The source of a message: "<topic>/<partition>/<offset>" into
 * out[DEAD_LETTER_SOURCE_MAX] (a longer topic is cut). Pure. */
void dead_letters_source(const char *topic, int32_t partition, int64_t offset, char *out);
/* The opaque id of a source: its UUIDv5 (a fixed namespace), lowercase,
 * into out[UUID_STR_LEN]. Pure. */
void dead_letters_id_of(const char *source, char *out);
/* How many of len bytes of a value are kept: at most DEAD_LETTER_VALUE_MAX;
 * *truncated says whether some were cut. Pure. */
size_t dead_letters_kept_len(size_t len, bool *truncated);

/* One record as lists show it (no key, headers or value). */
typedef struct dead_letter {
    char source[DEAD_LETTER_SOURCE_MAX]; /* the _id */
    char id[UUID_STR_LEN];
    char topic[256];
    int32_t partition;
    int64_t offset;
    char reason[24];
    char detail[DEAD_LETTER_DETAIL_MAX];
    char status[16];
    char appointment_id[UUID_STR_LEN]; /* "" when not decodable */
    char trace_id[33];                 /* "" when the message had no traceparent */
    int64_t first_seen_ms, last_seen_ms;
    int64_t attempts;
    int64_t value_len; /* the original value's bytes */
    bool truncated;
} dead_letter;

/* Decodes a record (mongo_decode_fn). Cannot fail. */
void dead_letters_decode(const bson_t *doc, void *item);

/* What a list asks for (dead_letter_request_list reads it). */
typedef struct dead_letter_query {
    bool has_reason, has_status, has_from, has_to, has_cursor;
    intake_reason reason;
    dead_letter_status status;
    int64_t from_ms, to_ms;         /* first_seen in [from, to) */
    char cursor[MONGO_PAGE_ID_MAX]; /* the last _id of the previous page */
    int limit;
} dead_letter_query;

/* Creates the three collections and the indexes (id unique, reason, status;
 * jobs by status). Idempotent. */
int dead_letters_setup(mongo_db *db, bson_error_t *err);

/* Records m (read from `topic`) as a dead letter for `reason` with `detail`,
 * seen at now_ms: inserted open with attempts 1, or, when the record exists
 * (a redelivery), last_seen set and attempts + 1, the rest kept. With a
 * majority write concern unless the URI sets one. Returns 0 once durable. */
int dead_letters_put(mongo_db *db, const rd_kafka_message_t *m, const char *topic,
                     intake_reason reason, const char *detail, int64_t now_ms, bson_error_t *err);

/* The record whose id is `id` (a lowercase UUID): 1 with a copy in *out
 * (bson_destroy it), 0 when none, -1. */
int dead_letters_find(mongo_db *db, const char *id, bson_t *out, bson_error_t *err);

/* Fills p (items: dead_letter) with what q asks for, _id descending. */
int dead_letters_list(mongo_db *db, const dead_letter_query *q, mongo_page *p, bson_error_t *err);

/* Applies update to the record `source` only while it is open. Returns 0
 * with *matched 1 when it was open (and is updated), 0 when it was not. */
int dead_letters_update_open(mongo_db *db, const char *source, const bson_t *update, int *matched,
                             bson_error_t *err);

/* Counts the open records of each reason into counts[INTAKE_NREASONS] (one
 * indexed count per reason). */
int dead_letters_count_open(mongo_db *db, int64_t counts[INTAKE_NREASONS], bson_error_t *err);

/* Inserts one audit record (the caller fills it: _id, action, who, at,
 * trace_id, ...). */
int dead_letters_audit(mongo_db *db, const bson_t *doc, bson_error_t *err);

#endif
