#include "mongo.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "log.h"
#include "metrics.h"

/* The collection handles one pooled client has made: a handle copies the
 * client's read and write settings and names, a few thousand instructions
 * that every operation paid again. Only the thread holding the client
 * touches its entry (the pool's lock orders one holder after the next). */
typedef struct client_colls {
    _Atomic(mongoc_client_t *) client; /* NULL: a free entry */
    size_t n;
    struct {
        char *name;
        mongoc_collection_t *handle;
    } * colls;
} client_colls;

struct mongo_db {
    mongoc_client_pool_t *pool;
    char *dbname;
    atomic_uint_fast64_t commands;
    /* One entry per client the pool may make. With minPoolSize the pool
     * destroys idle clients, and a new one may reuse a freed address: then
     * an entry is dropped when its client goes back (keep_colls false). */
    client_colls *cache;
    size_t ncache;
    bool keep_colls;
};

/* Counts every command a pooled client starts: the round trips that the
 * benchmark divides by consultations, and an operator's clinic_db_commands_total. */
static void on_command_started(const mongoc_apm_command_started_t *event)
{
    mongo_db *db = mongoc_apm_command_started_get_context(event);
    atomic_fetch_add_explicit(&db->commands, 1, memory_order_relaxed);
}

/* Set while mongo_db_new parses a URI (at start-up, on main's thread). */
static _Thread_local bool parsing_uri;

/* The driver's own lines (e.g. its server monitor's, twice a second while
 * the database is down) go to our JSON log instead of raw text on stderr. */
static void mongo_log(mongoc_log_level_t level, const char *domain, const char *message,
                      void *user_data)
{
    (void)user_data;
    /* What the driver says while it parses a URI may quote the password
     * (a mis-split user info reads as a host); mongo_db_new says what
     * failed, redacted. */
    if (parsing_uri)
        return;
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
    parsing_uri = true;
    mongoc_uri_t *uri = mongoc_uri_new_with_error(uri_str, &berr);
    parsing_uri = false;
    if (!uri) {
        char shown[256];
        mongo_uri_redact(uri_str, shown, sizeof shown);
        if (strcmp(shown, uri_str) != 0) /* libmongoc's reason may quote the password */
            snprintf(err, errlen,
                     "not a valid MongoDB URI (%s): is its user info "
                     "percent-encoded?",
                     shown);
        else
            snprintf(err, errlen, "not a valid MongoDB URI: %s", berr.message);
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
    int pool_size = max_pool > 0 ? max_pool : 32;
    mongoc_uri_set_option_as_int32(uri, MONGOC_URI_MAXPOOLSIZE, pool_size);

    mongo_db *db = xcalloc(1, sizeof *db);
    db->ncache = (size_t)pool_size;
    db->cache = xcalloc(db->ncache, sizeof *db->cache);
    db->keep_colls = !mongoc_uri_has_option(uri, MONGOC_URI_MINPOOLSIZE);
    const char *name = mongoc_uri_get_database(uri);
    db->dbname = xstrdup(name && name[0] ? name : "clinic");
    db->pool = mongoc_client_pool_new(uri);
    mongoc_uri_destroy(uri);
    if (!db->pool) {
        snprintf(err, errlen, "the driver rejects the URI");
        free(db->cache);
        free(db->dbname);
        free(db);
        return NULL;
    }
    mongoc_client_pool_set_error_api(db->pool, MONGOC_ERROR_API_VERSION_2);
    mongoc_apm_callbacks_t *apm = mongoc_apm_callbacks_new();
    mongoc_apm_set_command_started_cb(apm, on_command_started);
    mongoc_client_pool_set_apm_callbacks(db->pool, apm, db);
    mongoc_apm_callbacks_destroy(apm); /* the pool keeps a copy */
    if (appname)
        mongoc_client_pool_set_appname(db->pool, appname);
    return db;
}

void mongo_uri_redact(const char *uri, char *out, size_t outlen)
{
    const char *scheme = strstr(uri, "://");
    const char *at = strrchr(uri, '@');
    if (!scheme || !at || at < scheme + 3) {
        snprintf(out, outlen, "%s", uri);
        return;
    }
    snprintf(out, outlen, "%.*s[redacted]%s", (int)(scheme + 3 - uri), uri, at);
}

/* Destroys e's handles and frees the entry for another client. */
static void client_colls_drop(client_colls *e)
{
    for (size_t i = 0; i < e->n; i++) {
        mongoc_collection_destroy(e->colls[i].handle);
        free(e->colls[i].name);
    }
    free(e->colls);
    e->colls = NULL;
    e->n = 0;
    atomic_store(&e->client, NULL);
}

void mongo_db_free(mongo_db *db)
{
    if (!db)
        return;
    /* Before the pool destroys the clients the handles belong to. */
    for (size_t i = 0; i < db->ncache; i++)
        client_colls_drop(&db->cache[i]);
    mongoc_client_pool_destroy(db->pool);
    free(db->cache);
    free(db->dbname);
    free(db);
}

mongoc_client_t *mongo_db_pop(mongo_db *db)
{
    return mongoc_client_pool_pop(db->pool);
}

/* The entry of client, or NULL when it has none. */
static client_colls *client_colls_of(mongo_db *db, const mongoc_client_t *client)
{
    for (size_t i = 0; i < db->ncache; i++)
        if (atomic_load(&db->cache[i].client) == client)
            return &db->cache[i];
    return NULL;
}

void mongo_db_push(mongo_db *db, mongoc_client_t *client)
{
    if (!db->keep_colls) {
        client_colls *e = client_colls_of(db, client);
        if (e)
            client_colls_drop(e);
    }
    mongoc_client_pool_push(db->pool, client);
}

/* client's entry, made on its first use. NULL only if more clients exist
 * than the pool's size, which the pool never makes. */
static client_colls *client_colls_get(mongo_db *db, mongoc_client_t *client)
{
    client_colls *e = client_colls_of(db, client);
    for (size_t i = 0; !e && i < db->ncache; i++) {
        mongoc_client_t *none = NULL;
        if (atomic_compare_exchange_strong(&db->cache[i].client, &none, client))
            e = &db->cache[i];
    }
    return e;
}

mongoc_collection_t *mongo_db_collection(mongo_db *db, mongoc_client_t *client, const char *name)
{
    client_colls *e = client_colls_get(db, client);
    if (!e)
        abort();
    for (size_t i = 0; i < e->n; i++)
        if (strcmp(e->colls[i].name, name) == 0)
            return e->colls[i].handle;
    e->colls = xrealloc(e->colls, (e->n + 1) * sizeof *e->colls);
    e->colls[e->n].name = xstrdup(name);
    e->colls[e->n].handle = mongoc_client_get_collection(client, db->dbname, name);
    return e->colls[e->n++].handle;
}

bool mongo_db_default_write_concern(mongo_db *db)
{
    mongoc_client_t *c = mongo_db_pop(db);
    bool is_default = mongoc_write_concern_is_default(mongoc_client_get_write_concern(c));
    mongo_db_push(db, c);
    return is_default;
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
    mongo_db_push(db, c);
    return rc;
}

int mongo_find_id(mongo_db *db, const char *coll, const char *id, mongo_decode_fn decode,
                  void *item, bson_error_t *err)
{
    bson_t filter = BSON_INITIALIZER, doc;
    BSON_APPEND_UTF8(&filter, "_id", id);
    int rc = mongo_find_one(db, coll, &filter, &doc, err);
    if (rc == 1) {
        if (decode)
            decode(&doc, item);
        bson_destroy(&doc);
    }
    bson_destroy(&filter);
    return rc;
}

int mongo_get(mongo_db *db, const mongo_coll *c, const char *id, void *item, bson_error_t *err)
{
    return mongo_find_id(db, c->name, id, c->decode, item, err);
}

uint64_t mongo_db_commands(const mongo_db *db)
{
    return atomic_load_explicit(&((mongo_db *)db)->commands, memory_order_relaxed);
}

void mongo_render_metrics(const mongo_db *db, buf *out)
{
    metrics_single(out, "clinic_db_commands_total", "counter",
                   "Commands sent to the database (round trips), heartbeats excluded.",
                   mongo_db_commands(db));
}

int mongo_page_fill(mongo_db *db, const char *coll, const bson_t *filter, const char *before_id,
                    mongo_page *p, bson_error_t *err)
{
    if (p->more)
        return 0;
    bson_t f = BSON_INITIALIZER;
    bson_concat(&f, filter);
    if (before_id) {
        bson_t lt;
        BSON_APPEND_DOCUMENT_BEGIN(&f, "_id", &lt);
        BSON_APPEND_UTF8(&lt, "$lt", before_id);
        bson_append_document_end(&f, &lt);
    }
    /* One more than the room left, to know whether another item follows. */
    int want = p->limit - p->n + 1;
    bson_t *opts = BCON_NEW("sort", "{", "_id", BCON_INT32(-1), "}", "limit", BCON_INT64(want));
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *handle = mongo_db_collection(db, c, coll);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(handle, &f, opts, NULL);
    const bson_t *doc = NULL;
    while (mongoc_cursor_next(cur, &doc)) {
        if (p->n == p->limit) {
            p->more = true;
            break;
        }
        p->decode(doc, (char *)p->items + (size_t)p->n * p->item_size);
        p->n++;
        bson_iter_t id;
        if (bson_iter_init_find(&id, doc, "_id"))
            mongo_iter_str(&id, p->last_id, sizeof p->last_id);
    }
    int rc = mongoc_cursor_error(cur, err) ? -1 : 0;
    mongoc_cursor_destroy(cur);
    mongo_db_push(db, c);
    bson_destroy(opts);
    bson_destroy(&f);
    return rc;
}

int mongo_find_each(mongo_db *db, const char *coll, const bson_t *filter, const bson_t *projection,
                    int (*each)(const bson_t *doc, void *ctx), void *ctx, bson_error_t *err)
{
    bson_t opts = BSON_INITIALIZER;
    if (projection)
        BSON_APPEND_DOCUMENT(&opts, "projection", projection);
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *handle = mongo_db_collection(db, c, coll);
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(handle, filter, &opts, NULL);
    const bson_t *doc = NULL;
    int rc = 0;
    while (rc == 0 && mongoc_cursor_next(cur, &doc))
        rc = each(doc, ctx);
    if (rc == 0 && mongoc_cursor_error(cur, err))
        rc = -1;
    mongoc_cursor_destroy(cur);
    mongo_db_push(db, c);
    bson_destroy(&opts);
    return rc;
}

int mongo_bulk_write(mongo_db *db, const char *coll, const bson_t *opts, size_t n,
                     mongo_bulk_add_fn add, mongo_bulk_reply_fn on_reply, void *ctx,
                     bson_error_t *err)
{
    bson_t o = BSON_INITIALIZER;
    if (opts)
        bson_concat(&o, opts);
    BSON_APPEND_BOOL(&o, "ordered", false);
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *handle = mongo_db_collection(db, c, coll);
    int rc = 0;
    for (size_t first = 0; first < n && rc == 0; first += MONGO_BULK_CHUNK) {
        size_t count = n - first < MONGO_BULK_CHUNK ? n - first : MONGO_BULK_CHUNK;
        mongoc_bulk_operation_t *bulk =
            mongoc_collection_create_bulk_operation_with_opts(handle, &o);
        for (size_t i = first; i < first + count; i++)
            add(bulk, i, ctx);
        bson_t reply;
        bool ok = mongoc_bulk_operation_execute(bulk, &reply, err) != 0 ||
                  mongo_bulk_only_duplicates(&reply);
        if (ok && on_reply)
            on_reply(&reply, first, count, ctx);
        rc = ok ? 0 : -1;
        bson_destroy(&reply);
        mongoc_bulk_operation_destroy(bulk);
    }
    mongo_db_push(db, c);
    bson_destroy(&o);
    return rc;
}

int64_t mongo_count(mongo_db *db, const char *coll, const bson_t *filter, bson_error_t *err)
{
    bson_t cmd = BSON_INITIALIZER, reply;
    BSON_APPEND_UTF8(&cmd, "count", coll);
    BSON_APPEND_DOCUMENT(&cmd, "query", filter);
    mongoc_client_t *c = mongo_db_pop(db);
    int64_t n = -1;
    if (mongoc_client_read_command_with_opts(c, db->dbname, &cmd, NULL, NULL, &reply, err)) {
        bson_iter_t it;
        n = bson_iter_init_find(&it, &reply, "n") ? mongo_iter_int(&it) : 0;
    }
    bson_destroy(&reply);
    mongo_db_push(db, c);
    bson_destroy(&cmd);
    return n;
}

/* insert_one with opts (NULL: none). */
static int insert(mongo_db *db, const char *coll, const bson_t *doc, const bson_t *opts,
                  bson_error_t *err)
{
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *handle = mongo_db_collection(db, c, coll);
    bool ok = mongoc_collection_insert_one(handle, doc, opts, NULL, err);
    mongo_db_push(db, c);
    return ok ? 0 : -1;
}

int mongo_insert(mongo_db *db, const char *coll, const bson_t *doc, bson_error_t *err)
{
    return insert(db, coll, doc, NULL, err);
}

int mongo_insert_trusted(mongo_db *db, const char *coll, const bson_t *doc, bson_error_t *err)
{
    bson_t opts;
    mongo_opts_no_validate(&opts);
    return insert(db, coll, doc, &opts, err);
}

void mongo_opts_no_validate(bson_t *opts)
{
    /* {"validate": false}: int32 length, a boolean element, the end. */
    static const uint8_t no_validate[] = {16,  0,   0,   0,   0x08, 'v', 'a', 'l',
                                          'i', 'd', 'a', 't', 'e',  0,   0,   0};
    bson_init_static(opts, no_validate, sizeof no_validate);
}

int mongo_update(mongo_db *db, const char *coll, const bson_t *selector, const bson_t *update,
                 bool many, bson_error_t *err)
{
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *handle = mongo_db_collection(db, c, coll);
    bool ok = many ? mongoc_collection_update_many(handle, selector, update, NULL, NULL, err)
                   : mongoc_collection_update_one(handle, selector, update, NULL, NULL, err);
    mongo_db_push(db, c);
    return ok ? 0 : -1;
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

int mongo_db_setup_collection(mongo_db *db, const char *coll, const mongo_field_index *idx,
                              size_t n, bson_error_t *err)
{
    if (mongo_db_create_collection(db, coll, err) != 0)
        return -1;
    bson_t arr = BSON_INITIALIZER; /* the createIndexes "indexes" array */
    for (size_t i = 0; i < n; i++) {
        char key[24]; /* any size_t in decimal */
        snprintf(key, sizeof key, "%zu", i);
        bson_t spec, keys;
        BSON_APPEND_DOCUMENT_BEGIN(&arr, key, &spec);
        BSON_APPEND_DOCUMENT_BEGIN(&spec, "key", &keys);
        BSON_APPEND_INT32(&keys, idx[i].field, 1);
        bson_append_document_end(&spec, &keys);
        BSON_APPEND_UTF8(&spec, "name", idx[i].name);
        if (idx[i].unique)
            BSON_APPEND_BOOL(&spec, "unique", true);
        bson_append_document_end(&arr, &spec);
    }
    int rc = n > 0 ? mongo_db_create_indexes(db, coll, &arr, err) : 0;
    bson_destroy(&arr);
    return rc;
}

int mongo_db_create_collection(mongo_db *db, const char *coll, bson_error_t *err)
{
    enum { NAMESPACE_EXISTS = 48 };
    mongoc_client_t *c = mongo_db_pop(db);
    bson_t cmd = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&cmd, "create", coll);
    bool ok = mongoc_client_write_command_with_opts(c, db->dbname, &cmd, NULL, NULL, err);
    bson_destroy(&cmd);
    mongo_db_push(db, c);
    return ok || (err->domain == MONGOC_ERROR_SERVER && err->code == NAMESPACE_EXISTS) ? 0 : -1;
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
