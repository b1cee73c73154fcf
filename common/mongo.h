/* mongo: one mongoc client pool per process, shared by all threads. Threads
 * pop a client for the duration of one operation and push it back. Timeouts
 * are short by default so that a database outage becomes a fast 503 instead
 * of a hung request. */
#ifndef COMMON_MONGO_H
#define COMMON_MONGO_H

#include <mongoc/mongoc.h>

#include "buf.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct mongo_db mongo_db;

/* Calls mongoc_init(); call mongo_global_cleanup() at exit. */
void mongo_global_init(void);
void mongo_global_cleanup(void);

/* Creates the pool for uri ("mongodb://host:port/dbname"); the database is the
 * uri's path, or "clinic". Adds serverSelectionTimeoutMS=2000 and
 * connectTimeoutMS=2000 unless the uri sets them. Does not connect yet.
 * Returns NULL with a reason in err for a malformed uri; the reason never
 * holds the uri's password (libmongoc's own message quotes it). */
mongo_db *mongo_db_new(const char *uri, const char *appname, int max_pool, char *err,
                       size_t errlen);
void mongo_db_free(mongo_db *db);

/* uri with its user info (user name and password, everything from after
 * "://" to the last '@') replaced by "[redacted]", for any message that
 * shows a connection string; copied as is when it has none. Truncated to
 * outlen. Pure. */
void mongo_uri_redact(const char *uri, char *out, size_t outlen);

/* Borrow a client (blocks while all max_pool are in use) / give it back. */
mongoc_client_t *mongo_db_pop(mongo_db *db);
void mongo_db_push(mongo_db *db, mongoc_client_t *client);
/* A handle on collection `name` of our database, made by client: borrowed
 * (never destroy it), valid until the client is pushed back. Each client
 * keeps its handles for the next operation that borrows it. Cannot fail. */
mongoc_collection_t *mongo_db_collection(mongo_db *db, mongoc_client_t *client, const char *name);
/* True when MONGODB_URI sets no write concern (w, journal) of its own. */
bool mongo_db_default_write_concern(mongo_db *db);

/* Fills one item (a struct) from a document; cannot fail. */
typedef void (*mongo_decode_fn)(const bson_t *doc, void *item);

/* A collection whose documents decode into one struct type: what code that
 * does not know the type (a get by _id, a page, a backfill) needs. */
typedef struct mongo_coll {
    const char *name;
    mongo_decode_fn decode;
    size_t item_size;
} mongo_coll;

/* Finds the first document of collection `coll` matching filter. Returns 1
 * and a copy in *out (bson_destroy it), 0 when there is none, -1 with err. */
int mongo_find_one(mongo_db *db, const char *coll, const bson_t *filter, bson_t *out,
                   bson_error_t *err);

/* Finds the document of `coll` whose _id is the string id and decodes it
 * into item (decode NULL: only looks). Returns 1 when found, 0 when there is
 * none (item untouched), -1 with err. */
int mongo_find_id(mongo_db *db, const char *coll, const char *id, mongo_decode_fn decode,
                  void *item, bson_error_t *err);
/* The same for a mongo_coll: decodes into item (room for c->item_size). */
int mongo_get(mongo_db *db, const mongo_coll *c, const char *id, void *item, bson_error_t *err);

/* Commands this process sent to the database (every operation, ping and
 * index creation included; not the driver's own heartbeats). Lock-free. */
uint64_t mongo_db_commands(const mongo_db *db);
/* Appends clinic_db_commands_total (the count above) in Prometheus text. */
void mongo_render_metrics(const mongo_db *db, buf *out);

/* Longest _id a page remembers as its cursor (UUIDs need 37 bytes). */
#define MONGO_PAGE_ID_MAX 128

/* One page of a keyset-paged list, newest _id first. The caller sets items
 * (room for limit items of item_size bytes each), limit and decode; n, more
 * and last_id start at 0, false and "" and grow as mongo_page_fill is
 * called. */
typedef struct mongo_page {
    void *items;
    size_t item_size;
    int limit;
    mongo_decode_fn decode;
    int n;                           /* items filled so far */
    bool more;                       /* a further item exists after the last one */
    char last_id[MONGO_PAGE_ID_MAX]; /* the last item's _id: the next page's cursor */
} mongo_page;

/* Appends to p the documents of collection `coll` that match filter and have
 * _id < before_id (NULL: any), newest _id first, until p holds p->limit
 * items; sets p->more when one more matches. A no-op once p->more is set.
 * Returns 0, or -1 with err (p may then hold part of the answer). */
int mongo_page_fill(mongo_db *db, const char *coll, const bson_t *filter, const char *before_id,
                    mongo_page *p, bson_error_t *err);

/* Calls each(doc, ctx) for every document of `coll` matching filter, with
 * the fields of projection (NULL: all). each returns 0 to go on, non-zero to
 * stop and have mongo_find_each return that value. Returns 0, the callback's
 * value, or -1 with err. */
int mongo_find_each(mongo_db *db, const char *coll, const bson_t *filter, const bson_t *projection,
                    int (*each)(const bson_t *doc, void *ctx), void *ctx, bson_error_t *err);

/* Statements per bulk write command. FerretDB 1.24 keeps each statement's
 * PostgreSQL connection until the whole command ends (msg_update.go defers
 * every iterator's Close to the function's return), so a command of more
 * statements than its pool has connections (50 by default) waits for ever. */
#define MONGO_BULK_CHUNK 32

/* Adds statement i of a bulk write. */
typedef void (*mongo_bulk_add_fn)(mongoc_bulk_operation_t *bulk, size_t i, void *ctx);
/* Reads the reply of the chunk holding statements first..first+count-1. */
typedef void (*mongo_bulk_reply_fn)(const bson_t *reply, size_t first, size_t count, void *ctx);

/* Runs n statements (add(bulk, i, ctx) adds statement i) against `coll` as
 * unordered bulk writes of at most MONGO_BULK_CHUNK statements, with opts
 * (e.g. a write concern; may be NULL). A chunk whose only write errors are
 * duplicate keys counts as applied, but FerretDB 1.24 ends an unordered
 * update (not insert) command at its first duplicate key, skipping the
 * statements after it: a caller of upserts that may race checks the reply
 * for writeErrors (buckets_note does). on_reply (may be NULL) sees each applied
 * chunk's reply. Returns 0, or -1 with err at the first chunk that failed
 * (later chunks are not sent; earlier ones stay applied). */
int mongo_bulk_write(mongo_db *db, const char *coll, const bson_t *opts, size_t n,
                     mongo_bulk_add_fn add, mongo_bulk_reply_fn on_reply, void *ctx,
                     bson_error_t *err);

/* Counts the documents of `coll` matching filter with the `count` command
 * (which FerretDB serves from an index; countDocuments is an aggregation).
 * Returns the count, or -1 with err. */
int64_t mongo_count(mongo_db *db, const char *coll, const bson_t *filter, bson_error_t *err);

/* Inserts doc into `coll`. Returns 0, or -1 with err (a duplicate _id is
 * mongo_error_is_duplicate(err)). */
int mongo_insert(mongo_db *db, const char *coll, const bson_t *doc, bson_error_t *err);
/* The same for a doc whose keys are the caller's own and whose strings were
 * checked before (UUIDs, codes, dates): skips the driver's client-side check
 * of keys and UTF-8, a walk of the whole document per insert. */
int mongo_insert_trusted(mongo_db *db, const char *coll, const bson_t *doc, bson_error_t *err);
/* Sets *opts to {"validate": false} (static: never bson_destroy it), the
 * opts of a write whose documents need no client-side check (see
 * mongo_insert_trusted). Cannot fail. */
void mongo_opts_no_validate(bson_t *opts);
/* Applies update to the first (many: every) document of `coll` matching
 * selector. Returns 0, or -1 with err. */
int mongo_update(mongo_db *db, const char *coll, const bson_t *selector, const bson_t *update,
                 bool many, bson_error_t *err);

/* Round-trips a ping. Returns 0, or -1 with err filled. */
int mongo_db_ping(mongo_db *db, bson_error_t *err);

/* Creates indexes on collection `coll` (idempotent: same spec twice is a
 * no-op). `indexes` is the createIndexes "indexes" array. Returns 0, or -1
 * with err. */
int mongo_db_create_indexes(mongo_db *db, const char *coll, const bson_t *indexes,
                            bson_error_t *err);

/* Creates collection `coll` if it does not exist (an existing one is fine).
 * Services create every collection they write at set-up, never implicitly on
 * a write: on FerretDB a creation is two PostgreSQL statements, and an outage
 * between them leaves a table no later creation can get past. Returns 0, or
 * -1 with err. */
int mongo_db_create_collection(mongo_db *db, const char *coll, bson_error_t *err);

/* One single-field ascending index of a collection. */
typedef struct mongo_field_index {
    const char *name;
    const char *field;
    bool unique;
} mongo_field_index;

/* mongo_db_create_collection(coll), then its n single-field indexes idx[0..n)
 * (mongo_db_create_indexes). Returns 0, or -1 with err. */
int mongo_db_setup_collection(mongo_db *db, const char *coll, const mongo_field_index *idx,
                              size_t n, bson_error_t *err);

/* Copies the string the iterator is on into out[outlen], truncating; "" if it
 * is not a string. Cannot fail. */
void mongo_iter_str(const bson_iter_t *it, char *out, size_t outlen);
/* The date-time (ms) or integer the iterator is on; 0 for anything else. */
int64_t mongo_iter_int(const bson_iter_t *it);

/* The error of a write that kept racing with other writers (buckets_note):
 * nothing is wrong with the request, a later try succeeds. Unavailable. */
#define MONGO_ERROR_DOMAIN_CLINIC 1000
#define MONGO_ERROR_CONTENDED 1

/* True for errors that mean "the database is unreachable or not answering"
 * (server selection, socket, timeout), or MONGO_ERROR_CONTENDED: callers
 * answer 503 or retry later. */
bool mongo_error_is_unavailable(const bson_error_t *err);

/* True for errors that say "this document can never be written as it is"
 * (the server's BadValue, document too large, validation, key too long,
 * invalid BSON; the driver's own BSON and size refusals): retrying the same
 * document is pointless. Pure. */
bool mongo_error_is_permanent(const bson_error_t *err);
/* True for a unique-index violation (E11000). */
bool mongo_error_is_duplicate(const bson_error_t *err);
/* True when a failed bulk write's reply holds write errors that are all
 * unique-index violations and no write-concern error: every other write
 * was applied, and each violation means "that document exists already". */
bool mongo_bulk_only_duplicates(const bson_t *reply);

#endif
