/* store: how a store module (appt_store, billing_store) describes its
 * collection to the layers above it: the documents an API serves by id and
 * by page, the collection of their day buckets' records, and the set-up
 * service_main runs once the database answers. A descriptor is a static
 * constant of its store; everything in it is immutable. */
#ifndef COMMON_STORE_H
#define COMMON_STORE_H

#include "buckets.h"
#include "mongo.h"

/* A collection whose lists walk day buckets, as its store exports it: its
 * documents, the collection of its buckets' records, and its set-up. */
typedef struct store_desc {
    mongo_coll docs;
    const char *records; /* for buckets_new */
    /* Creates the indexes and runs the one-time migrations (buckets_setup):
     * idempotent; 0, or -1 with err. Thread-safe. */
    int (*setup)(mongo_db *db, buckets *b, bson_error_t *err);
} store_desc;

#endif
