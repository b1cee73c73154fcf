/* appt_store's idempotency keys (appt_store.h, "idempotency keys"): a key's
 * record, its replay, its expiry and the sweep's deletion by day. A part of
 * the appt_store module, apart so that each file stays one concern. */
#include "appt_store.h"
#include <stdio.h>
#include <string.h>
#include "bsonread.h"
#include "clock.h"
#include "log.h"
#include "timefmt.h"
#include "registry_store.h"

bool appt_store_idem_expired(int64_t created_ms, int64_t now_ms, int64_t ttl_ms)
{
    return now_ms - created_ms >= ttl_ms;
}

/* The record of (client, key) -> a, whose _id is id. */
static void idem_record(bson_t *doc, const char *id, const char *client, const char *key,
                        const appt *a, bool start_given)
{
    char day[BUCKET_DAY_LEN];
    timefmt_format_day(a->created_ms, day);
    BSON_APPEND_UTF8(doc, "_id", id);
    BSON_APPEND_UTF8(doc, "client", client);
    BSON_APPEND_UTF8(doc, "key", key);
    BSON_APPEND_UTF8(doc, "appointment_id", a->id);
    BSON_APPEND_UTF8(doc, "physician_id", a->physician_id);
    BSON_APPEND_UTF8(doc, "patient_id", a->patient_id);
    BSON_APPEND_BOOL(doc, "start_given", start_given);
    BSON_APPEND_DATE_TIME(doc, "start_date", a->start_ms);
    BSON_APPEND_DATE_TIME(doc, "created_at", a->created_ms);
    BSON_APPEND_UTF8(doc, APPT_IDEM_DAY_FIELD, day);
}

/* FerretDB's update with a filter is no compare-and-swap (it reads, then
 * writes by _id), but an insert of a taken _id always fails: so one retry
 * renews an expired record, the one that inserts the lock "<id> renews
 * <expired appointment id>". Returns 0 with the lock, 1 if another retry
 * holds it, -1 with err. */
static int idem_lock(mongo_db *db, const char *id, const char *expired_appt, int64_t now_ms,
                     bson_error_t *err)
{
    char *lock = bson_strdup_printf("%s renews %s", id, expired_appt);
    char day[BUCKET_DAY_LEN];
    timefmt_format_day(now_ms, day);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(lock), "created_at", BCON_DATE_TIME(now_ms),
                           APPT_IDEM_DAY_FIELD, BCON_UTF8(day));
    int rc = mongo_insert(db, APPT_IDEM_COLLECTION, doc, err);
    if (rc != 0 && mongo_error_is_duplicate(err))
        rc = 1;
    bson_destroy(doc);
    bson_free(lock);
    return rc;
}

/* Drops the lock idem_lock took (the sweep removes one a crash left). */
static void idem_unlock(mongo_db *db, const char *id, const char *expired_appt)
{
    char *lock = bson_strdup_printf("%s renews %s", id, expired_appt);
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(lock));
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, APPT_IDEM_COLLECTION);
    bson_error_t err;
    if (!mongoc_collection_delete_one(coll, sel, NULL, NULL, &err))
        log_warn("cannot drop an idempotency key's renewal lock", "error", err.message, NULL);
    mongo_db_push(db, c);
    bson_destroy(sel);
    bson_free(lock);
}

/* Replaces record id by doc (the caller holds its renewal lock). */
static int idem_replace(mongo_db *db, const char *id, const bson_t *doc, bson_error_t *err)
{
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, APPT_IDEM_COLLECTION);
    int rc = mongoc_collection_replace_one(coll, filter, doc, NULL, NULL, err) ? 0 : -1;
    mongo_db_push(db, c);
    bson_destroy(filter);
    return rc;
}

/* Fills *existing and *existing_start_given from a record. */
static void idem_decode(const bson_t *found, appt *existing, bool *existing_start_given)
{
    /* The record names its fields as the appointment's document does, but
     * for its _id, which is the key's. */
    appt_store_coll.docs.decode(found, existing);
    existing->id[0] = '\0';
    bson_iter_t it;
    if (bson_iter_init_find(&it, found, "appointment_id"))
        mongo_iter_str(&it, existing->id, sizeof existing->id);
    *existing_start_given = bson_iter_init_find(&it, found, "start_given") &&
                            BSON_ITER_HOLDS_BOOL(&it) && bson_iter_bool(&it);
}

/* Rounds of insert, read, replace: a round ends early only when the record
 * changed under it (swept, or replaced by a concurrent retry). */
#define IDEM_PUT_ROUNDS 100
/* How long a retry waits while another renews the key (at most
 * IDEM_PUT_ROUNDS times). */
#define IDEM_RENEW_WAIT_MS 20

int appt_store_idem_put(mongo_db *db, const char *client, const char *key, const appt *a,
                        bool start_given, int64_t ttl_ms, bool *recorded, appt *existing,
                        bool *existing_start_given, bson_error_t *err)
{
    char *id = bson_strdup_printf("%s %s", client, key);
    bson_t doc = BSON_INITIALIZER, filter = BSON_INITIALIZER;
    idem_record(&doc, id, client, key, a, start_given);
    BSON_APPEND_UTF8(&filter, "_id", id);
    int rc = -1;
    for (int round = 0; round < IDEM_PUT_ROUNDS; round++) {
        if (mongo_insert(db, APPT_IDEM_COLLECTION, &doc, err) == 0) {
            *recorded = true;
            rc = 0;
            goto done;
        }
        if (!mongo_error_is_duplicate(err))
            goto done;
        bson_t found;
        int got = mongo_find_one(db, APPT_IDEM_COLLECTION, &filter, &found, err);
        if (got < 0)
            goto done;
        if (got == 0) /* swept between insert and read: insert again */
            continue;
        bson_iter_t it;
        int64_t created_ms =
            bson_iter_init_find(&it, &found, "created_at") ? mongo_iter_int(&it) : 0;
        if (!appt_store_idem_expired(created_ms, a->created_ms, ttl_ms)) {
            idem_decode(&found, existing, existing_start_given);
            bson_destroy(&found);
            *recorded = false;
            rc = 0;
            goto done;
        }
        char expired_appt[UUID_STR_LEN] = "";
        if (bson_iter_init_find(&it, &found, "appointment_id"))
            mongo_iter_str(&it, expired_appt, sizeof expired_appt);
        bson_destroy(&found);
        int locked = idem_lock(db, id, expired_appt, a->created_ms, err);
        if (locked < 0)
            goto done;
        if (locked == 1) { /* another retry renews it: read it again */
            clock_sleep_ms(IDEM_RENEW_WAIT_MS);
            continue;
        }
        /* Locked: renew it unless a retry that held the lock before did. */
        bson_t again;
        got = mongo_find_one(db, APPT_IDEM_COLLECTION, &filter, &again, err);
        char now_appt[UUID_STR_LEN] = "";
        if (got == 1 && bson_iter_init_find(&it, &again, "appointment_id"))
            mongo_iter_str(&it, now_appt, sizeof now_appt);
        if (got == 1)
            bson_destroy(&again);
        if (got == 1 && strcmp(now_appt, expired_appt) == 0) {
            rc = idem_replace(db, id, &doc, err);
            idem_unlock(db, id, expired_appt);
            if (rc == 0)
                *recorded = true;
            goto done;
        }
        idem_unlock(db, id, expired_appt);
        if (got < 0)
            goto done;
        /* Renewed (or swept) meanwhile: read it again. */
    }
    bson_set_error(err, MONGOC_ERROR_SERVER, 11000, "idempotency key changed meanwhile");
done:
    bson_destroy(&filter);
    bson_destroy(&doc);
    bson_free(id);
    return rc;
}

typedef struct idem_days {
    const char (*days)[BUCKET_DAY_LEN];
    int64_t deleted;
} idem_days;

/* mongo_bulk_add_fn: deleteMany({day: days[i]}). */
static void add_day_delete(mongoc_bulk_operation_t *bulk, size_t i, void *ctx)
{
    const idem_days *d = ctx;
    bson_t *sel = BCON_NEW(APPT_IDEM_DAY_FIELD, BCON_UTF8(d->days[i]));
    mongoc_bulk_operation_remove_many_with_opts(bulk, sel, NULL, NULL);
    bson_destroy(sel);
}

/* mongo_bulk_reply_fn: adds up the records a chunk deleted. */
static void count_deleted(const bson_t *reply, size_t first, size_t count, void *ctx)
{
    (void)first;
    (void)count;
    bson_iter_t it;
    if (bson_iter_init_find(&it, reply, "nRemoved"))
        ((idem_days *)ctx)->deleted += mongo_iter_int(&it);
}

int appt_store_idem_delete_days(mongo_db *db, const char (*days)[BUCKET_DAY_LEN], size_t n,
                                int64_t *deleted, bson_error_t *err)
{
    idem_days d = {days, 0};
    int rc =
        mongo_bulk_write(db, APPT_IDEM_COLLECTION, NULL, n, add_day_delete, count_deleted, &d, err);
    *deleted = d.deleted;
    return rc;
}
