#include "registry_store.h"

#include <stdio.h>
#include <string.h>

#include "bsonread.h"

/* "active": a boolean, into the reg_meta every record starts with. */
static void read_active(const bson_iter_t *it, void *out)
{
    ((reg_meta *)out)->active = BSON_ITER_HOLDS_BOOL(it) && bson_iter_bool(it);
}

#define META_FIELDS(type)                                                                          \
    BSONREAD_STR("_id", type, m.id), BSONREAD_FN("active", read_active),                           \
        BSONREAD_INT("created_at", type, m.created_ms),                                            \
        BSONREAD_INT("updated_at", type, m.updated_ms), BSONREAD_INT("version", type, m.version)

static const bsonread_field license_fields[] = {
    BSONREAD_STR("system", reg_physician, license_system),
    BSONREAD_STR("value", reg_physician, license_value),
};

static const bsonread_field physician_fields[] = {
    META_FIELDS(reg_physician),
    BSONREAD_STR("name", reg_physician, name),
    BSONREAD_STR("specialty", reg_physician, specialty),
    BSONREAD_DOC("license", license_fields),
    BSONREAD_INT("hourly_price_cents", reg_physician, hourly_price_cents),
    BSONREAD_STR("currency", reg_physician, currency),
};

static const bsonread_field patient_fields[] = {
    META_FIELDS(reg_patient),
    BSONREAD_STR("name", reg_patient, name),
    BSONREAD_STR("birth_date", reg_patient, birth_date),
    BSONREAD_STR("cpf", reg_patient, cpf),
    BSONREAD_STR("email", reg_patient, email),
    BSONREAD_STR("phone", reg_patient, phone),
};

static void physician_decode(const bson_t *doc, void *item)
{
    memset(item, 0, sizeof(reg_physician));
    bsonread_doc(doc, physician_fields, BSONREAD_COUNT(physician_fields), item);
}

static void patient_decode(const bson_t *doc, void *item)
{
    memset(item, 0, sizeof(reg_patient));
    bsonread_doc(doc, patient_fields, BSONREAD_COUNT(patient_fields), item);
}

static void meta_to_bson(const reg_meta *m, bson_t *doc)
{
    BSON_APPEND_BOOL(doc, "active", m->active);
    BSON_APPEND_DATE_TIME(doc, "created_at", m->created_ms);
    BSON_APPEND_DATE_TIME(doc, "updated_at", m->updated_ms);
}

static void physician_to_bson(const void *record, bson_t *doc)
{
    const reg_physician *ph = record;
    meta_to_bson(&ph->m, doc);
    BSON_APPEND_UTF8(doc, "name", ph->name);
    BSON_APPEND_UTF8(doc, "specialty", ph->specialty);
    bson_t lic;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "license", &lic);
    BSON_APPEND_UTF8(&lic, "system", ph->license_system);
    BSON_APPEND_UTF8(&lic, "value", ph->license_value);
    bson_append_document_end(doc, &lic);
    char key[REG_SYSTEM_LEN + REG_LICENSE_LEN + 1];
    snprintf(key, sizeof key, "%s/%s", ph->license_system, ph->license_value);
    BSON_APPEND_UTF8(doc, "license_key", key);
    BSON_APPEND_INT64(doc, "hourly_price_cents", ph->hourly_price_cents);
    BSON_APPEND_UTF8(doc, "currency", ph->currency);
}

/* The CPF is kept in one top-level field: it is the unique key as well. */
static void patient_to_bson(const void *record, bson_t *doc)
{
    const reg_patient *pt = record;
    meta_to_bson(&pt->m, doc);
    BSON_APPEND_UTF8(doc, "name", pt->name);
    BSON_APPEND_UTF8(doc, "birth_date", pt->birth_date);
    BSON_APPEND_UTF8(doc, "cpf", pt->cpf);
    if (pt->email[0])
        BSON_APPEND_UTF8(doc, "email", pt->email);
    if (pt->phone[0])
        BSON_APPEND_UTF8(doc, "phone", pt->phone);
}

const registry_kind registry_physicians = {
    {REG_PHYSICIANS_COLLECTION, physician_decode, sizeof(reg_physician)}, physician_to_bson};
const registry_kind registry_patients = {
    {REG_PATIENTS_COLLECTION, patient_decode, sizeof(reg_patient)}, patient_to_bson};

int registry_store_init(mongo_db *db, bson_error_t *err)
{
    /* The unique key, then the list filters. */
    static const mongo_field_index physicians[] = {{"license_key", "license_key", true},
                                                   {"active", "active", false},
                                                   {"specialty", "specialty", false}};
    static const mongo_field_index patients[] = {{"cpf", "cpf", true}, {"active", "active", false}};
    if (mongo_db_setup_collection(db, REG_PHYSICIANS_COLLECTION, physicians, 3, err) != 0)
        return -1;
    return mongo_db_setup_collection(db, REG_PATIENTS_COLLECTION, patients, 2, err);
}

int registry_store_get(mongo_db *db, const registry_kind *k, const char *id, void *record,
                       bson_error_t *err)
{
    return mongo_get(db, &k->coll, id, record, err);
}

/* The document of record, _id and version included. */
static void record_to_bson(const registry_kind *k, const void *record, bson_t *doc)
{
    const reg_meta *m = record;
    BSON_APPEND_UTF8(doc, "_id", m->id);
    BSON_APPEND_INT64(doc, "version", m->version);
    k->to_bson(record, doc);
}

/* replaceOne({_id, version: expect}, doc): 1 when it matched, 0, -1. */
static int replace(mongo_db *db, const registry_kind *k, const char *id, int64_t expect,
                   const bson_t *doc, bson_error_t *err)
{
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(id), "version", BCON_INT64(expect));
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, k->coll.name);
    bson_t reply;
    int rc = -1;
    if (mongoc_collection_replace_one(coll, sel, doc, NULL, &reply, err)) {
        bson_iter_t it;
        rc = bson_iter_init_find(&it, &reply, "matchedCount") && mongo_iter_int(&it) > 0;
    }
    bson_destroy(&reply);
    mongo_db_push(db, c);
    bson_destroy(sel);
    return rc;
}

/* A unique-index violation: E11000, or, from FerretDB 1.24's update,
 * PostgreSQL's own unique_violation passed through as an internal error. */
static bool duplicate(const bson_error_t *err)
{
    return mongo_error_is_duplicate(err) || strstr(err->message, "(SQLSTATE 23505)") != NULL;
}

registry_write registry_store_put(mongo_db *db, const registry_kind *k, const void *record,
                                  int64_t expect_version, bson_error_t *err)
{
    const reg_meta *m = record;
    bson_t doc = BSON_INITIALIZER;
    record_to_bson(k, record, &doc);
    int rc = expect_version == 0 ? (mongo_insert(db, k->coll.name, &doc, err) == 0 ? 1 : -1)
                                 : replace(db, k, m->id, expect_version, &doc, err);
    bson_destroy(&doc);
    if (rc == 1)
        return REG_WRITE_DONE;
    if (rc == 0)
        return REG_WRITE_MOVED;
    if (!duplicate(err))
        return REG_WRITE_FAILED;
    if (expect_version != 0)
        return REG_WRITE_DUPLICATE; /* _id cannot clash in a replace: the unique key did */
    /* An insert clashed on _id or on the unique key: which one? */
    bson_error_t e2;
    int found = mongo_find_id(db, k->coll.name, m->id, NULL, NULL, &e2);
    if (found < 0) {
        *err = e2;
        return REG_WRITE_FAILED;
    }
    return found ? REG_WRITE_MOVED : REG_WRITE_DUPLICATE;
}

int registry_store_list(mongo_db *db, const registry_kind *k, const reg_list_req *q, mongo_page *p,
                        bson_error_t *err)
{
    bson_t filter = BSON_INITIALIZER;
    if (q->active >= 0)
        BSON_APPEND_BOOL(&filter, "active", q->active == 1);
    if (q->has_specialty)
        BSON_APPEND_UTF8(&filter, "specialty", q->specialty);
    p->decode = k->coll.decode;
    int rc = mongo_page_fill(db, k->coll.name, &filter, q->has_cursor ? q->cursor : NULL, p, err);
    bson_destroy(&filter);
    return rc;
}
