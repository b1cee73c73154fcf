/* registry_store: physicians and patients in MongoDB. Each record is one
 * document by its id, with a version counter that every change increments
 * (the ETag; writes compare-and-swap on it). Unique indexes: physicians'
 * license_key ("<system>/<value>") and patients' cpf (11 digits),
 * top-level strings, so FerretDB serves them as equalities; active and
 * specialty are top-level too, for the lists' equality filters.
 * Thread-safe (each call borrows a pooled client); -1 with err on a database
 * error, mongo_error_is_unavailable(err) telling an outage apart. */
#ifndef APPT_REGISTRY_STORE_H
#define APPT_REGISTRY_STORE_H

#include "mongo.h"
#include "registry_request.h"

#define REG_PHYSICIANS_COLLECTION "physicians"
#define REG_PATIENTS_COLLECTION "patients"

/* What the store does the same way for both registries. */
typedef struct registry_kind {
    mongo_coll coll;                                  /* name, decode into the record, its size */
    void (*to_bson)(const void *record, bson_t *doc); /* every field but _id and version */
} registry_kind;

extern const registry_kind registry_physicians, registry_patients;

/* Creates both collections and their indexes (at set-up, never at request
 * time). Idempotent. */
int registry_store_init(mongo_db *db, bson_error_t *err);

/* 1 with *record (room for k->coll.item_size), 0 if there is none, -1. */
int registry_store_get(mongo_db *db, const registry_kind *k, const char *id, void *record,
                       bson_error_t *err);

typedef enum registry_write {
    REG_WRITE_DONE = 0,
    REG_WRITE_DUPLICATE, /* another record holds its license / document */
    REG_WRITE_MOVED,     /* the id exists already (insert) or its version moved (replace) */
    REG_WRITE_FAILED,    /* err says why */
} registry_write;

/* Writes record (a reg_meta first): inserts it when expect_version is 0,
 * else replaces the document still at expect_version. */
registry_write registry_store_put(mongo_db *db, const registry_kind *k, const void *record,
                                  int64_t expect_version, bson_error_t *err);

/* The page q asks for, newest id first: an equality on active and specialty
 * with _id below the cursor, sorted by _id. The registries are small (tens
 * of physicians, thousands of patients), so a page reads at most its limit
 * plus one documents from the _id index on MongoDB; on FerretDB the
 * equalities are served by the active/specialty indexes. */
int registry_store_list(mongo_db *db, const registry_kind *k, const reg_list_req *q, mongo_page *p,
                        bson_error_t *err);

#endif
