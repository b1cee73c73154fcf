#include "mongo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"

struct mongo_db {
    mongoc_client_pool_t *pool;
    char *dbname;
};

/* The driver's own lines (e.g. its server monitor's, twice a second while
 * the database is down) go to our JSON log instead of raw text on stderr. */
static void mongo_log(mongoc_log_level_t level, const char *domain, const char *message,
                      void *user_data)
{
    (void)user_data;
    log_level l = level <= MONGOC_LOG_LEVEL_CRITICAL  ? LOG_ERROR
                  : level == MONGOC_LOG_LEVEL_WARNING ? LOG_WARN
                  : level <= MONGOC_LOG_LEVEL_INFO    ? LOG_INFO
                                                      : LOG_DEBUG;
    log_kv(l, message, "component", "mongoc", "facility", domain ? domain : "", NULL);
}

void mongo_global_init(void)
{
    mongoc_log_set_handler(mongo_log, NULL);
    mongoc_init();
}

void mongo_global_cleanup(void)
{
    mongoc_cleanup();
}

mongo_db *mongo_db_new(const char *uri_str, const char *appname, int max_pool, char *err,
                       size_t errlen)
{
    bson_error_t berr;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_str, &berr);
    if (!uri) {
        snprintf(err, errlen, "MONGODB_URI is not a valid MongoDB URI: %s", berr.message);
        return NULL;
    }
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, 2000);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_CONNECTTIMEOUTMS, 2000);
    if (!mongoc_uri_has_option(uri, MONGOC_URI_SOCKETTIMEOUTMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_SOCKETTIMEOUTMS, 10000);
    /* A pooled client otherwise waits out the full heartbeat before it notices
     * the server is back after an outage. */
    if (!mongoc_uri_has_option(uri, MONGOC_URI_HEARTBEATFREQUENCYMS))
        mongoc_uri_set_option_as_int32(uri, MONGOC_URI_HEARTBEATFREQUENCYMS, 1000);
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, max_pool > 0 ? max_pool : 32);

    mongo_db *db = xcalloc(1, sizeof *db);
    const char *name = mongoc_uri_get_database(uri);
    db->dbname = xstrdup(name && name[0] ? name : "clinic");
    db->pool = mongoc_client_pool_new(uri);
    mongoc_uri_destroy(uri);
    if (!db->pool) {
        snprintf(err, errlen, "MONGODB_URI was rejected by the driver");
        free(db->dbname);
        free(db);
        return NULL;
    }
    mongoc_client_pool_set_error_api(db->pool, MONGOC_ERROR_API_VERSION_2);
    if (appname)
        mongoc_client_pool_set_appname(db->pool, appname);
    return db;
}

void mongo_db_free(mongo_db *db)
{
    if (!db)
        return;
    mongoc_client_pool_destroy(db->pool);
    free(db->dbname);
    free(db);
}

mongoc_client_t *mongo_db_pop(mongo_db *db)
{
    return mongoc_client_pool_pop(db->pool);
}

void mongo_db_push(mongo_db *db, mongoc_client_t *client)
{
    mongoc_client_pool_push(db->pool, client);
}

mongoc_collection_t *mongo_db_collection(mongo_db *db, mongoc_client_t *client, const char *name)
{
    return mongoc_client_get_collection(client, db->dbname, name);
}

const char *mongo_db_name(const mongo_db *db)
{
    return db->dbname;
}

int mongo_find_one(mongo_db *db, const char *coll, const bson_t *filter, bson_t *out,
                   bson_error_t *err)
{
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *handle = mongo_db_collection(db, c, coll);
    bson_t opts = BSON_INITIALIZER;
    BSON_APPEND_INT64(&opts, "limit", 1);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(handle, filter, &opts, NULL);
    const bson_t *doc = NULL;
    int rc = 0;
    if (mongoc_cursor_next(cur, &doc)) {
        bson_copy_to(doc, out);
        rc = 1;
    } else if (mongoc_cursor_error(cur, err)) {
        rc = -1;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(&opts);
    mongoc_collection_destroy(handle);
    mongo_db_push(db, c);
    return rc;
}

int mongo_db_ping(mongo_db *db, bson_error_t *err)
{
    mongoc_client_t *c = mongo_db_pop(db);
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_INT32(&cmd, "ping", 1);
    bool ok = mongoc_client_command_simple(c, "admin", &cmd, NULL, NULL, err);
    bson_destroy(&cmd);
    mongo_db_push(db, c);
    return ok ? 0 : -1;
}

int mongo_db_create_indexes(mongo_db *db, const char *coll, const bson_t *indexes,
                            bson_error_t *err)
{
    /* One createIndexes command per index: FerretDB 1.24 (SQLite) drops the
     * connection (a server-side panic) when one command lists two or more
     * indexes that all exist already, i.e. on every restart. */
    bson_iter_t it;
    if (!bson_iter_init(&it, indexes)) {
        bson_set_error(err, MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID, "invalid index list");
        return -1;
    }
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_database_t *d = mongoc_client_get_database(c, db->dbname);
    bool ok = true;
    while (ok && bson_iter_next(&it)) {
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            continue;
        uint32_t len = 0;
        const uint8_t *data = NULL;
        bson_iter_document(&it, &len, &data);
        bson_t spec;
        if (!bson_init_static(&spec, data, len))
            continue;
        bson_t cmd = BSON_INITIALIZER, arr;
        BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
        BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &arr);
        BSON_APPEND_DOCUMENT(&arr, "0", &spec);
        bson_append_array_end(&cmd, &arr);
        ok = mongoc_database_write_command_with_opts(d, &cmd, NULL, NULL, err);
        bson_destroy(&cmd);
    }
    mongoc_database_destroy(d);
    mongo_db_push(db, c);
    return ok ? 0 : -1;
}

bool mongo_error_is_unavailable(const bson_error_t *err)
{
    if (err->domain == MONGOC_ERROR_SERVER_SELECTION || err->domain == MONGOC_ERROR_STREAM)
        return true;
    if (err->domain == MONGOC_ERROR_CLIENT && err->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
        return false;
    /* Server-side "not primary"/shutdown codes mean another node or a restart
     * will take the write: as good as unreachable for the caller. */
    switch (err->code) {
    case 6:
    case 7:
    case 89:
    case 91:
    case 189:
    case 10107:
    case 11600:
    case 11602:
    case 13435:
    case 13436:
        return err->domain == MONGOC_ERROR_SERVER || err->domain == MONGOC_ERROR_WRITE_CONCERN;
    default:
        return false;
    }
}

bool mongo_error_is_duplicate(const bson_error_t *err)
{
    return err->code == 11000 || err->code == 11001;
}

void mongo_iter_str(const bson_iter_t *it, char *out, size_t outlen)
{
    uint32_t n = 0;
    const char *s = BSON_ITER_HOLDS_UTF8(it) ? bson_iter_utf8(it, &n) : "";
    if (n >= outlen)
        n = (uint32_t)(outlen - 1);
    memcpy(out, s, n);
    out[n] = '\0';
}

int64_t mongo_iter_int(const bson_iter_t *it)
{
    if (BSON_ITER_HOLDS_DATE_TIME(it))
        return bson_iter_date_time(it);
    if (BSON_ITER_HOLDS_INT64(it))
        return bson_iter_int64(it);
    if (BSON_ITER_HOLDS_INT32(it))
        return bson_iter_int32(it);
    if (BSON_ITER_HOLDS_DOUBLE(it))
        return (int64_t)bson_iter_double(it);
    return 0;
}
