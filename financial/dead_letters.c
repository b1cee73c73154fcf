#include "dead_letters.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "bsonread.h"
#include "kafka.h"
#include "trace.h"

static const char *const status_names[DEAD_LETTER_NSTATUSES] = {
    [DEAD_LETTER_OPEN] = "open",
    [DEAD_LETTER_REPLAYED] = "replayed",
    [DEAD_LETTER_DISCARDED] = "discarded",
};

const char *dead_letter_status_name(dead_letter_status s)
{
    return (unsigned)s < DEAD_LETTER_NSTATUSES ? status_names[s] : status_names[0];
}

int dead_letter_status_parse(const char *s, size_t len)
{
    for (int i = 0; i < DEAD_LETTER_NSTATUSES; i++)
        if (strlen(status_names[i]) == len && memcmp(status_names[i], s, len) == 0)
            return i;
    return -1;
}

void dead_letters_source(const char *topic, int32_t partition, int64_t offset, char *out)
{
    snprintf(out, DEAD_LETTER_SOURCE_MAX, "%.249s/%" PRId32 "/%" PRId64, topic, partition, offset);
}

/* The namespace of dead-letter ids (RFC 9562 section 5.5), chosen once. */
static const unsigned char id_namespace[16] = {0x6f, 0x1d, 0x6a, 0x52, 0x3c, 0x4e, 0x4b, 0x8e,
                                               0x9a, 0x53, 0x8d, 0x7f, 0x1e, 0x2c, 0x0b, 0x4a};

void dead_letters_id_of(const char *source, char *out)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha1(), NULL);
    EVP_DigestUpdate(ctx, id_namespace, sizeof id_namespace);
    EVP_DigestUpdate(ctx, source, strlen(source));
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x50); /* version 5 */
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80); /* RFC variant */
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[md[i] >> 4];
        out[o++] = hex[md[i] & 15];
    }
    out[o] = '\0';
}

size_t dead_letters_kept_len(size_t len, bool *truncated)
{
    *truncated = len > DEAD_LETTER_VALUE_MAX;
    return *truncated ? DEAD_LETTER_VALUE_MAX : len;
}

/* A BSONREAD_FN: truncated is a boolean. */
static void read_truncated(const bson_iter_t *it, void *out)
{
    ((dead_letter *)out)->truncated = BSON_ITER_HOLDS_BOOL(it) && bson_iter_bool(it);
}

static const bsonread_field record_fields[] = {
    BSONREAD_STR("_id", dead_letter, source),
    BSONREAD_STR("id", dead_letter, id),
    BSONREAD_STR("topic", dead_letter, topic),
    BSONREAD_INT32("partition", dead_letter, partition),
    BSONREAD_INT("offset", dead_letter, offset),
    BSONREAD_STR("reason", dead_letter, reason),
    BSONREAD_STR("detail", dead_letter, detail),
    BSONREAD_STR("status", dead_letter, status),
    BSONREAD_STR("appointment_id", dead_letter, appointment_id),
    BSONREAD_STR("trace_id", dead_letter, trace_id),
    BSONREAD_INT("first_seen", dead_letter, first_seen_ms),
    BSONREAD_INT("last_seen", dead_letter, last_seen_ms),
    BSONREAD_INT("attempts", dead_letter, attempts),
    BSONREAD_INT("value_len", dead_letter, value_len),
    BSONREAD_FN("truncated", read_truncated),
};

void dead_letters_decode(const bson_t *doc, void *item)
{
    memset(item, 0, sizeof(dead_letter));
    bsonread_doc(doc, record_fields, BSONREAD_COUNT(record_fields), item);
}

int dead_letters_setup(mongo_db *db, bson_error_t *err)
{
    static const mongo_field_index letters[] = {
        {"id_1", "id", true}, {"reason_1", "reason", false}, {"status_1", "status", false}};
    static const mongo_field_index jobs[] = {{"status_1", "status", false}};
    return mongo_db_setup_collection(db, DEAD_LETTERS_COLLECTION, letters, 3, err) ||
                   mongo_db_setup_collection(db, DEAD_LETTER_REPLAYS_COLLECTION, jobs, 1, err) ||
                   mongo_db_setup_collection(db, AUDIT_COLLECTION, NULL, 0, err)
               ? -1
               : 0;
}

/* update_one of coll with opts {upsert?, writeConcern majority unless the
 * URI sets one}; *matched (may be NULL) gets the reply's matchedCount. */
static int update_one(mongo_db *db, const char *coll, const bson_t *sel, const bson_t *upd,
                      bool upsert, int *matched, bson_error_t *err)
{
    bson_t opts = BSON_INITIALIZER, reply;
    if (upsert)
        BSON_APPEND_BOOL(&opts, "upsert", true);
    if (mongo_db_default_write_concern(db)) {
        mongoc_write_concern_t *wc = mongoc_write_concern_new();
        mongoc_write_concern_set_wmajority(wc, 10000);
        mongoc_write_concern_append(wc, &opts);
        mongoc_write_concern_destroy(wc);
    }
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *h = mongo_db_collection(db, c, coll);
    bool ok = mongoc_collection_update_one(h, sel, upd, &opts, &reply, err);
    if (ok && matched) {
        bson_iter_t it;
        *matched = bson_iter_init_find(&it, &reply, "matchedCount") ? (int)mongo_iter_int(&it) : 0;
    }
    bson_destroy(&reply);
    mongo_db_push(db, c);
    bson_destroy(&opts);
    return ok ? 0 : -1;
}

/* Appends m's headers as [{name, value}] (value null when not UTF-8). */
static void append_headers(bson_t *doc, const rd_kafka_message_t *m)
{
    bson_t arr;
    BSON_APPEND_ARRAY_BEGIN(doc, "headers", &arr);
    rd_kafka_headers_t *hdrs = NULL;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t len;
        for (size_t i = 0;
             i < DEAD_LETTER_HEADERS_MAX &&
             rd_kafka_header_get_all(hdrs, i, &name, &val, &len) == RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            char key[16];
            snprintf(key, sizeof key, "%zu", i);
            bson_t h;
            BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &h);
            BSON_APPEND_UTF8(&h, "name", name);
            if (val && bson_utf8_validate(val, len, false))
                bson_append_utf8(&h, "value", -1, val, (int)len);
            else
                BSON_APPEND_NULL(&h, "value");
            bson_append_document_end(&arr, &h);
        }
    }
    bson_append_array_end(doc, &arr);
}

int dead_letters_put(mongo_db *db, const rd_kafka_message_t *m, const char *topic,
                     intake_reason reason, const char *detail, int64_t now_ms, bson_error_t *err)
{
    /* The consumer may get here before service_main's set-up has run: the
     * collection is created first, never implicitly by the write (mongo.h). */
    static atomic_bool created;
    if (!atomic_load(&created)) {
        if (mongo_db_create_collection(db, DEAD_LETTERS_COLLECTION, err) != 0)
            return -1;
        atomic_store(&created, true);
    }
    char source[DEAD_LETTER_SOURCE_MAX], id[UUID_STR_LEN], appt[UUID_STR_LEN];
    dead_letters_source(topic, m->partition, m->offset, source);
    dead_letters_id_of(source, id);
    bool truncated;
    size_t len = m->payload ? m->len : 0;
    size_t kept = dead_letters_kept_len(len, &truncated);
    trace_ids t;
    kafka_message_trace(m, &t);

    bson_t sel = BSON_INITIALIZER, upd = BSON_INITIALIZER, ins, set, inc;
    BSON_APPEND_UTF8(&sel, "_id", source);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$setOnInsert", &ins);
    BSON_APPEND_UTF8(&ins, "id", id);
    BSON_APPEND_UTF8(&ins, "topic", topic);
    BSON_APPEND_INT32(&ins, "partition", m->partition);
    BSON_APPEND_INT64(&ins, "offset", m->offset);
    BSON_APPEND_UTF8(&ins, "reason", intake_reason_name(reason));
    BSON_APPEND_UTF8(&ins, "detail", detail);
    if (m->key && bson_utf8_validate(m->key, m->key_len, false))
        bson_append_utf8(&ins, "key", -1, m->key, (int)m->key_len);
    else
        BSON_APPEND_NULL(&ins, "key");
    append_headers(&ins, m);
    if (m->payload)
        bson_append_binary(&ins, "value", -1, BSON_SUBTYPE_BINARY, m->payload, (uint32_t)kept);
    else
        BSON_APPEND_NULL(&ins, "value");
    BSON_APPEND_INT64(&ins, "value_len", (int64_t)len);
    BSON_APPEND_BOOL(&ins, "truncated", truncated);
    if (intake_appointment_id(m->payload, len, appt) == 0)
        BSON_APPEND_UTF8(&ins, "appointment_id", appt);
    else
        BSON_APPEND_NULL(&ins, "appointment_id");
    BSON_APPEND_UTF8(&ins, "trace_id", t.trace_id);
    BSON_APPEND_DATE_TIME(&ins, "first_seen", now_ms);
    BSON_APPEND_UTF8(&ins, "status", dead_letter_status_name(DEAD_LETTER_OPEN));
    bson_append_document_end(&upd, &ins);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    BSON_APPEND_DATE_TIME(&set, "last_seen", now_ms);
    bson_append_document_end(&upd, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$inc", &inc);
    BSON_APPEND_INT64(&inc, "attempts", 1);
    bson_append_document_end(&upd, &inc);
    int rc = update_one(db, DEAD_LETTERS_COLLECTION, &sel, &upd, true, NULL, err);
    bson_destroy(&upd);
    bson_destroy(&sel);
    return rc;
}

int dead_letters_find(mongo_db *db, const char *id, bson_t *out, bson_error_t *err)
{
    bson_t f = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&f, "id", id);
    int rc = mongo_find_one(db, DEAD_LETTERS_COLLECTION, &f, out, err);
    bson_destroy(&f);
    return rc;
}

int dead_letters_list(mongo_db *db, const dead_letter_query *q, mongo_page *p, bson_error_t *err)
{
    bson_t f = BSON_INITIALIZER;
    if (q->has_reason)
        BSON_APPEND_UTF8(&f, "reason", intake_reason_name(q->reason));
    if (q->has_status)
        BSON_APPEND_UTF8(&f, "status", dead_letter_status_name(q->status));
    if (q->has_from || q->has_to) {
        bson_t r;
        BSON_APPEND_DOCUMENT_BEGIN(&f, "first_seen", &r);
        if (q->has_from)
            BSON_APPEND_DATE_TIME(&r, "$gte", q->from_ms);
        if (q->has_to)
            BSON_APPEND_DATE_TIME(&r, "$lt", q->to_ms);
        bson_append_document_end(&f, &r);
    }
    p->decode = dead_letters_decode;
    int rc =
        mongo_page_fill(db, DEAD_LETTERS_COLLECTION, &f, q->has_cursor ? q->cursor : NULL, p, err);
    bson_destroy(&f);
    return rc;
}

int dead_letters_update_open(mongo_db *db, const char *source, const bson_t *update, int *matched,
                             bson_error_t *err)
{
    bson_t sel = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&sel, "_id", source);
    BSON_APPEND_UTF8(&sel, "status", dead_letter_status_name(DEAD_LETTER_OPEN));
    int rc = update_one(db, DEAD_LETTERS_COLLECTION, &sel, update, false, matched, err);
    bson_destroy(&sel);
    return rc;
}

int dead_letters_count_open(mongo_db *db, int64_t counts[INTAKE_NREASONS], bson_error_t *err)
{
    for (int r = 0; r < INTAKE_NREASONS; r++) {
        bson_t f = BSON_INITIALIZER;
        BSON_APPEND_UTF8(&f, "reason", intake_reason_name((intake_reason)r));
        BSON_APPEND_UTF8(&f, "status", dead_letter_status_name(DEAD_LETTER_OPEN));
        int64_t n = mongo_count(db, DEAD_LETTERS_COLLECTION, &f, err);
        bson_destroy(&f);
        if (n < 0)
            return -1;
        counts[r] = n;
    }
    return 0;
}

int dead_letters_audit(mongo_db *db, const bson_t *doc, bson_error_t *err)
{
    return mongo_insert(db, AUDIT_COLLECTION, doc, err);
}
