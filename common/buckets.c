#include "buckets.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "timefmt.h"
#include "uuid.h"

/* Records this process wrote (or found) already: "<scope>/<day>" keys in an
 * open-addressing set. Almost every note is for today, so the set stays
 * small; when it fills up it is simply emptied, which costs one redundant
 * upsert per key afterwards, never a missing record. */
#define SEEN_SLOTS 8192 /* a power of two */
#define SEEN_MAX (SEEN_SLOTS / 4 * 3)
#define KEY_LEN (BUCKET_SCOPE_LEN + BUCKET_DAY_LEN + 1)

struct buckets {
    char *records;
    pthread_mutex_t mu;
    size_t nseen;
    char (*seen)[KEY_LEN]; /* "" = empty slot */
};

buckets *buckets_new(const char *records)
{
    buckets *b = xcalloc(1, sizeof *b);
    b->records = xstrdup(records);
    b->seen = xcalloc(SEEN_SLOTS, sizeof *b->seen);
    pthread_mutex_init(&b->mu, NULL);
    return b;
}

void buckets_free(buckets *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    free(b->seen);
    free(b->records);
    free(b);
}

/* Creates the records' index on their scope (idempotent). */
static int init_records(buckets *b, mongo_db *db, bson_error_t *err)
{
    bson_t *idx = BCON_NEW("0", "{", "key", "{", "scope", BCON_INT32(1), "}", "name",
                           BCON_UTF8("scope"), "}");
    int rc = mongo_db_create_indexes(db, b->records, idx, err);
    bson_destroy(idx);
    return rc;
}

void buckets_day_of_id(const char *id, int64_t fallback_ms, char day[BUCKET_DAY_LEN])
{
    int64_t ms;
    timefmt_format_day(uuid_v7_unix_ms(id, &ms) == 0 ? ms : fallback_ms, day);
}

void bucket_ref_set(bucket_ref *ref, const char *scope, const char *day)
{
    size_t n = strlen(scope);
    if (n >= sizeof ref->scope)
        n = sizeof ref->scope - 1;
    memcpy(ref->scope, scope, n);
    ref->scope[n] = '\0';
    memcpy(ref->day, day, BUCKET_DAY_LEN - 1);
    ref->day[BUCKET_DAY_LEN - 1] = '\0';
}

void buckets_scope(const char *physician_id, char scope[BUCKET_SCOPE_LEN])
{
    if (physician_id)
        snprintf(scope, BUCKET_SCOPE_LEN, "physician/%s", physician_id);
    else
        snprintf(scope, BUCKET_SCOPE_LEN, "all");
}

void buckets_people_filter(bson_t *filter, const char *physician_id, const char *patient_id,
                           char scope[BUCKET_SCOPE_LEN])
{
    if (physician_id)
        BSON_APPEND_UTF8(filter, "physician_id", physician_id);
    if (patient_id)
        BSON_APPEND_UTF8(filter, "patient_id", patient_id);
    buckets_scope(physician_id, scope);
}

void buckets_id_refs(const char *id, int64_t fallback_ms, const char *physician_id,
                     bucket_ref refs[BUCKETS_ID_REFS])
{
    char day[BUCKET_DAY_LEN], scope[BUCKET_SCOPE_LEN];
    buckets_day_of_id(id, fallback_ms, day);
    bucket_ref_set(&refs[0], "all", day);
    buckets_scope(physician_id, scope);
    bucket_ref_set(&refs[1], scope, day);
}

static void key_of(const bucket_ref *ref, char key[KEY_LEN])
{
    size_t n = strlen(ref->scope);
    memcpy(key, ref->scope, n);
    key[n] = '/';
    memcpy(key + n + 1, ref->day, BUCKET_DAY_LEN);
}

/* FNV-1a. */
static size_t slot_of(const char *key)
{
    uint64_t h = 1469598103934665603u;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * 1099511628211u;
    return (size_t)(h & (SEEN_SLOTS - 1));
}

/* Returns the slot holding key, or the empty slot where it would go. Caller
 * holds mu. */
static size_t seen_find(const buckets *b, const char *key)
{
    size_t i = slot_of(key);
    while (b->seen[i][0] && strcmp(b->seen[i], key) != 0)
        i = (i + 1) & (SEEN_SLOTS - 1);
    return i;
}

static bool seen_has(buckets *b, const char *key)
{
    pthread_mutex_lock(&b->mu);
    bool has = b->seen[seen_find(b, key)][0] != '\0';
    pthread_mutex_unlock(&b->mu);
    return has;
}

static void seen_add(buckets *b, const char *key)
{
    pthread_mutex_lock(&b->mu);
    if (b->nseen >= SEEN_MAX) {
        memset(b->seen, 0, SEEN_SLOTS * sizeof *b->seen);
        b->nseen = 0;
    }
    size_t i = seen_find(b, key);
    if (!b->seen[i][0]) {
        memcpy(b->seen[i], key, KEY_LEN);
        b->nseen++;
    }
    pthread_mutex_unlock(&b->mu);
}

typedef struct note_ctx {
    const bucket_ref *refs;
    char (*keys)[KEY_LEN];
    const size_t *which;
    bool raced; /* a chunk's reply held a duplicate-key error */
} note_ctx;

static void add_record(mongoc_bulk_operation_t *bulk, size_t k, void *ctx)
{
    const note_ctx *nc = ctx;
    const bucket_ref *r = &nc->refs[nc->which[k]];
    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, set, opts = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&sel, "_id", nc->keys[k]);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$setOnInsert", &set);
    BSON_APPEND_UTF8(&set, "scope", r->scope);
    BSON_APPEND_UTF8(&set, "day", r->day);
    bson_append_document_end(&upd, &set);
    BSON_APPEND_BOOL(&opts, "upsert", true);
    /* Our own keys; scope and day are made of ids and dates checked before. */
    BSON_APPEND_BOOL(&opts, "validate", false);
    /* Two writers racing on one new record: the loser's E11000 means it
     * exists, but see buckets_note for the statements after it. */
    mongoc_bulk_operation_update_one_with_opts(bulk, &sel, &upd, &opts, NULL);
    bson_destroy(&opts);
    bson_destroy(&upd);
    bson_destroy(&sel);
}

/* FerretDB 1.24 ends an unordered update command at its first E11000 and
 * answers that error alone: the statements after it were never run. So a
 * note that raced another writer's runs again (upserts of $setOnInsert are
 * idempotent: the records that exist now are no-ops, the skipped ones get
 * written) until one run meets no duplicate, a few times at most. */
#define NOTE_ATTEMPTS 5

static void note_raced(const bson_t *reply, size_t first, size_t count, void *ctx)
{
    (void)first;
    (void)count;
    note_ctx *nc = ctx;
    bson_iter_t it, errs;
    if (bson_iter_init_find(&it, reply, "writeErrors") && BSON_ITER_HOLDS_ARRAY(&it) &&
        bson_iter_recurse(&it, &errs) && bson_iter_next(&errs))
        nc->raced = true;
}

int buckets_note(buckets *b, mongo_db *db, const bucket_ref *refs, size_t n, bson_error_t *err)
{
    char(*keys)[KEY_LEN] = NULL; /* the new keys, each once */
    size_t *which = NULL;        /* and the ref each came from */
    size_t nkeys = 0;
    for (size_t i = 0; i < n; i++) {
        char key[KEY_LEN];
        key_of(&refs[i], key);
        if (seen_has(b, key))
            continue;
        bool dup = false;
        for (size_t k = 0; k < nkeys && !dup; k++)
            dup = strcmp(keys[k], key) == 0;
        if (dup)
            continue;
        if (!keys) {
            keys = xmalloc(n * sizeof *keys);
            which = xmalloc(n * sizeof *which);
        }
        memcpy(keys[nkeys], key, KEY_LEN);
        which[nkeys++] = i;
    }
    if (nkeys == 0)
        return 0;

    note_ctx nc = {.refs = refs, .keys = keys, .which = which};
    bool ok = false;
    for (int attempt = 0; attempt < NOTE_ATTEMPTS && !ok; attempt++) {
        nc.raced = false;
        if (mongo_bulk_write(db, b->records, NULL, nkeys, add_record, note_raced, &nc, err) != 0)
            break;
        ok = !nc.raced;
    }
    if (ok)
        for (size_t k = 0; k < nkeys; k++)
            seen_add(b, keys[k]);
    else if (nc.raced)
        bson_set_error(err, MONGO_ERROR_DOMAIN_CLINIC, MONGO_ERROR_CONTENDED,
                       "bucket records of %s: still racing with another writer after %d tries",
                       b->records, NOTE_ATTEMPTS);
    free(which);
    free(keys);
    return ok ? 0 : -1;
}

typedef struct days_acc {
    const char *max_day;
    char (*days)[BUCKET_DAY_LEN];
    size_t n, cap;
} days_acc;

static int add_day(const bson_t *doc, void *ctx)
{
    days_acc *a = ctx;
    bson_iter_t it;
    char day[BUCKET_DAY_LEN];
    if (!bson_iter_init_find(&it, doc, "day"))
        return 0;
    mongo_iter_str(&it, day, sizeof day);
    if (strlen(day) != BUCKET_DAY_LEN - 1 || (a->max_day && strcmp(day, a->max_day) > 0))
        return 0;
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->days = xrealloc(a->days, a->cap * sizeof *a->days);
    }
    memcpy(a->days[a->n++], day, BUCKET_DAY_LEN);
    return 0;
}

static int day_desc(const void *x, const void *y)
{
    return strcmp(y, x);
}

int buckets_days(buckets *b, mongo_db *db, const char *scope, const char *max_day,
                 char (**days)[BUCKET_DAY_LEN], size_t *n, bson_error_t *err)
{
    bson_t *filter = BCON_NEW("scope", BCON_UTF8(scope));
    bson_t *proj = BCON_NEW("day", BCON_INT32(1));
    days_acc a = {.max_day = max_day};
    int rc = mongo_find_each(db, b->records, filter, proj, add_day, &a, err);
    bson_destroy(proj);
    bson_destroy(filter);
    if (rc != 0) {
        free(a.days);
        return -1;
    }
    if (a.n > 1)
        qsort(a.days, a.n, sizeof *a.days, day_desc);
    *days = a.days;
    *n = a.n;
    return 0;
}

int buckets_page(buckets *b, mongo_db *db, const char *coll, const char *scope,
                 const bson_t *filter, const char *before_id, mongo_page *p, bson_error_t *err)
{
    char max_day[BUCKET_DAY_LEN];
    int64_t ms;
    /* A cursor from a v7 id bounds the walk by its day; another id (a foreign
     * event's billing, in its creation-day bucket) bounds nothing. */
    bool bounded = before_id && uuid_v7_unix_ms(before_id, &ms) == 0;
    if (bounded)
        timefmt_format_day(ms, max_day);
    char(*days)[BUCKET_DAY_LEN] = NULL;
    size_t ndays = 0;
    if (buckets_days(b, db, scope, bounded ? max_day : NULL, &days, &ndays, err) != 0)
        return -1;
    int rc = 0;
    size_t i = 0;
    for (; i < ndays && i < BUCKETS_PAGE_MAX_QUERIES && !p->more && rc == 0; i++) {
        bson_t f = BSON_INITIALIZER;
        bson_concat(&f, filter);
        BSON_APPEND_UTF8(&f, BUCKET_FIELD, days[i]);
        rc = mongo_page_fill(db, coll, &f, before_id, p, err);
        bson_destroy(&f);
    }
    /* Out of queries with older buckets left: the client resumes there. */
    if (rc == 0 && !p->more && i < ndays && i > 0 &&
        buckets_resume_cursor(days[i - 1], p->last_id) == 0)
        p->more = true;
    free(days);
    return rc;
}

int buckets_resume_cursor(const char *day, char cursor[UUID_STR_LEN])
{
    unsigned y, m, d;
    char tail;
    if (sscanf(day, "%4u-%2u-%2u%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    int64_t start_ms = timefmt_days_from_civil(y, m, d) * INT64_C(86400000);
    uuid_v7_max(start_ms - 1, cursor);
    return 0;
}

static void migration_id(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "migration/%s", name);
}

/* Whether migration `name` ran on this database: 1 yes, 0 no, -1 error.
 * One _id lookup in the records collection. */
static int migrated(buckets *b, mongo_db *db, const char *name, bson_error_t *err)
{
    char id[128];
    migration_id(name, id, sizeof id);
    return mongo_find_id(db, b->records, id, NULL, NULL, err);
}

/* Records that migration `name` ran. */
static int mark_migrated(buckets *b, mongo_db *db, const char *name, bson_error_t *err)
{
    char id[128];
    migration_id(name, id, sizeof id);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(id), "scope", BCON_UTF8("migration"), "at",
                           BCON_DATE_TIME(clock_now_ms()));
    bool ok = mongo_insert(db, b->records, doc, err) == 0 || mongo_error_is_duplicate(err);
    bson_destroy(doc);
    return ok ? 0 : -1;
}

int buckets_once(buckets *b, mongo_db *db, const char *name,
                 int (*run)(mongo_db *db, bson_error_t *err), bson_error_t *err)
{
    int done = migrated(b, db, name, err);
    if (done != 0)
        return done < 0 ? -1 : 0;
    return run(db, err) != 0 ? -1 : mark_migrated(b, db, name, err);
}

#define BACKFILL_BATCH 500

typedef struct backfill_batch {
    const mongo_coll *coll;
    size_t (*refs_of)(const void *item, bucket_ref *refs);
    void *item;                  /* one decoded document */
    bson_t *ids[BACKFILL_BATCH]; /* {_id: ...} of each document */
    char days[BACKFILL_BATCH][BUCKET_DAY_LEN];
    bucket_ref *refs; /* BACKFILL_BATCH * BUCKETS_MAX_REFS */
    size_t nrefs;
    size_t ndocs;
} backfill_batch;

static int backfill_read(const bson_t *doc, void *ctx)
{
    backfill_batch *bb = ctx;
    bson_iter_t it;
    if (bb->ndocs == BACKFILL_BATCH || !bson_iter_init_find(&it, doc, "_id"))
        return 0;
    bucket_ref *refs = bb->refs + bb->nrefs;
    memset(bb->item, 0, bb->coll->item_size);
    bb->coll->decode(doc, bb->item);
    bb->nrefs += bb->refs_of(bb->item, refs);
    memcpy(bb->days[bb->ndocs], refs[0].day, BUCKET_DAY_LEN);
    bson_t *sel = bson_new();
    bson_append_iter(sel, "_id", 3, &it);
    bb->ids[bb->ndocs++] = sel;
    return bb->ndocs == BACKFILL_BATCH ? 1 : 0; /* 1: a batch is full, stop reading */
}

static void add_bucket_set(mongoc_bulk_operation_t *bulk, size_t i, void *ctx)
{
    backfill_batch *bb = ctx;
    bson_t *upd = BCON_NEW("$set", "{", BUCKET_FIELD, BCON_UTF8(bb->days[i]), "}");
    mongoc_bulk_operation_update_one_with_opts(bulk, bb->ids[i], upd, NULL, NULL);
    bson_destroy(upd);
}

/* Gives every document of c that has no bucket field its bucket and notes
 * its refs, in batches. Idempotent; a scan of the collection, so it runs
 * once (see migrated). */
static int backfill(buckets *b, mongo_db *db, const mongo_coll *c, const buckets_migration *m,
                    bson_error_t *err)
{
    const char *coll = c->name;
    backfill_batch *bb = xcalloc(1, sizeof *bb);
    bb->coll = c;
    bb->refs_of = m->refs_of;
    bb->item = xmalloc(c->item_size);
    bb->refs = xmalloc(BACKFILL_BATCH * BUCKETS_MAX_REFS * sizeof *bb->refs);
    bson_t *filter = BCON_NEW(BUCKET_FIELD, "{", "$exists", BCON_BOOL(false), "}");
    int rc = 0;
    for (;;) {
        bb->ndocs = bb->nrefs = 0;
        rc = mongo_find_each(db, coll, filter, NULL, backfill_read, bb, err);
        if (rc == 1)
            rc = 0;
        /* Records first: a document must never sit in a bucket no record names. */
        if (rc == 0 && bb->ndocs > 0)
            rc = buckets_note(b, db, bb->refs, bb->nrefs, err);
        if (rc == 0 && bb->ndocs > 0)
            rc = mongo_bulk_write(db, coll, NULL, bb->ndocs, add_bucket_set, NULL, bb, err);
        size_t got = bb->ndocs;
        for (size_t i = 0; i < bb->ndocs; i++)
            bson_destroy(bb->ids[i]);
        if (rc != 0 || got < BACKFILL_BATCH)
            break;
    }
    bson_destroy(filter);
    free(bb->item);
    free(bb->refs);
    free(bb);
    return rc;
}

int buckets_setup(buckets *b, mongo_db *db, const mongo_coll *c, const bson_t *indexes,
                  const buckets_migration *m, bson_error_t *err)
{
    if (mongo_db_create_indexes(db, c->name, indexes, err) != 0 || init_records(b, db, err) != 0)
        return -1;
    int done = migrated(b, db, m->name, err);
    if (done != 0)
        return done < 0 ? -1 : 0;
    if ((m->also && m->also(db, err) != 0) || backfill(b, db, c, m, err) != 0)
        return -1;
    return mark_migrated(b, db, m->name, err);
}
