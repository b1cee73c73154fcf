/* bsonread: fills a C struct from a BSON document through a table that says
 * which member each field goes to, so a store declares its document's
 * fields instead of writing the loop over them:
 *     static const bsonread_field fields[] = {
 *         BSONREAD_STR("_id", appt, id),
 *         BSONREAD_INT("created_at", appt, created_ms),
 *     };
 *     bsonread_doc(doc, fields, BSONREAD_COUNT(fields), &a);
 * Lenient, as reading our own documents back should be: a missing field
 * leaves its member as it was (callers zero the struct first), one of another
 * type reads as "" or 0 (mongo_iter_str, mongo_iter_int), and unknown fields
 * are skipped. Pure (no connection) and thread-safe. */
#ifndef COMMON_BSONREAD_H
#define COMMON_BSONREAD_H

#include <stddef.h>

#include "mongo.h"

typedef enum bsonread_kind {
    BSONREAD_KIND_STR,   /* char[size]: mongo_iter_str */
    BSONREAD_KIND_INT,   /* int64_t: mongo_iter_int (a date-time, an integer or a double) */
    BSONREAD_KIND_INT32, /* int32_t: mongo_iter_int, narrowed */
    BSONREAD_KIND_DOC,   /* an embedded document, read with its own table into the same struct */
    BSONREAD_KIND_FN,    /* read(it, out) decides: for fields that map to no one member */
} bsonread_kind;

typedef struct bsonread_field {
    const char *key;
    bsonread_kind kind;
    size_t offset; /* STR, INT, INT32: of the member in the struct */
    size_t size;   /* STR: the member's size; DOC: how many fields `doc` has */
    const struct bsonread_field *doc;
    void (*read)(const bson_iter_t *it, void *out); /* FN: out is the whole struct */
} bsonread_field;

#define BSONREAD_MEMBER_SIZE(type, member) sizeof(((type *)0)->member)
#define BSONREAD_STR(key, type, member)                                                            \
    {                                                                                              \
        (key), BSONREAD_KIND_STR, offsetof(type, member), BSONREAD_MEMBER_SIZE(type, member),      \
            NULL, NULL                                                                             \
    }
#define BSONREAD_INT(key, type, member)                                                            \
    {                                                                                              \
        (key), BSONREAD_KIND_INT, offsetof(type, member), 0, NULL, NULL                            \
    }
#define BSONREAD_INT32(key, type, member)                                                          \
    {                                                                                              \
        (key), BSONREAD_KIND_INT32, offsetof(type, member), 0, NULL, NULL                          \
    }
#define BSONREAD_DOC(key, fields)                                                                  \
    {                                                                                              \
        (key), BSONREAD_KIND_DOC, 0, BSONREAD_COUNT(fields), (fields), NULL                        \
    }
#define BSONREAD_FN(key, fn)                                                                       \
    {                                                                                              \
        (key), BSONREAD_KIND_FN, 0, 0, NULL, (fn)                                                  \
    }
#define BSONREAD_COUNT(fields) (sizeof(fields) / sizeof((fields)[0]))

/* The consultation's fields an appointment's document and a billing's share
 * (a billing keeps the appointment.finished event it was made from), as rows
 * of a table on `type`: _id goes to id_member, the others to members named
 * physician_id, patient_id, start_ms, end_ms and currency, each prefixed by
 * `in` ("event." for a billing's embedded event; empty when they are the
 * struct's own). */
#define BSONREAD_CONSULTATION_FIELDS(type, id_member, in)                                          \
    BSONREAD_STR("_id", type, id_member), BSONREAD_STR("physician_id", type, in physician_id),     \
        BSONREAD_STR("patient_id", type, in patient_id),                                           \
        BSONREAD_INT("start_date", type, in start_ms), BSONREAD_INT("end_date", type, in end_ms),  \
        BSONREAD_STR("currency", type, in currency)

/* Reads every field of doc that fields[0..n) names into out (a struct of the
 * table's type); leaves the other members as they are. Cannot fail: a
 * document that is not valid BSON reads as an empty one. */
void bsonread_doc(const bson_t *doc, const bsonread_field *fields, size_t n, void *out);

/* Reads the fields of the document the iterator is in, from the next one on
 * (bson_iter_init or bson_iter_recurse leave it before the first). */
void bsonread_iter(bson_iter_t *it, const bsonread_field *fields, size_t n, void *out);

#endif
