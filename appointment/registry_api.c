#include "registry_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "api.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "registry_store.h"
#include "service.h"

/* How often a write re-reads a record that changed under it before giving up. */
#define WRITE_ATTEMPTS 4
/* How long a write waits for the set-up before answering 503. */
#define SET_UP_WAIT_MS 5000

/* What the handlers do differently for physicians and patients. */
typedef struct api_kind {
    const registry_kind *store;
    const char *path;   /* "/physicians" */
    const char *label;  /* the metrics' kind */
    const char *unique; /* the field a duplicate names */
    const char *unique_detail;
    const char *not_found;
    bool with_specialty; /* the list's filter */
    /* A body's record into out (whose reg_meta is kept but for active). */
    int (*validate)(const json_t *doc, int64_t now_ms, void *out, problem *p);
    void (*append)(buf *out, const void *record, bool writable_only);
    api_append_fn append_full; /* append with writable_only false, for pages */
} api_kind;

static int validate_physician(const json_t *doc, int64_t now_ms, void *out, problem *p)
{
    (void)now_ms;
    return registry_request_physician(doc, out, p);
}

static int validate_patient(const json_t *doc, int64_t now_ms, void *out, problem *p)
{
    return registry_request_patient(doc, now_ms, out, p);
}

static void append_physician(buf *out, const void *record, bool writable_only)
{
    registry_append_physician(out, record, writable_only);
}

static void append_patient(buf *out, const void *record, bool writable_only)
{
    registry_append_patient(out, record, writable_only);
}

/* api_append_fn: the registries' records carry no consultation dates, so
 * the compatibility routes' date form does not apply. */
static void page_physician(buf *out, const void *record, api_dates dates)
{
    (void)dates;
    registry_append_physician(out, record, false);
}

static void page_patient(buf *out, const void *record, api_dates dates)
{
    (void)dates;
    registry_append_patient(out, record, false);
}

static const api_kind physicians = {
    &registry_physicians,
    "/physicians",
    "physician",
    "license",
    "another physician holds this license",
    "no physician with this id",
    true,
    validate_physician,
    append_physician,
    page_physician,
};

static const api_kind patients = {
    &registry_patients,
    "/patients",
    "patient",
    "document",
    "another patient holds this document",
    "no patient with this id",
    false,
    validate_patient,
    append_patient,
    page_patient,
};

static const api_kind *kind_of(const http_req *req)
{
    return strncmp(req->route->pattern, physicians.path, strlen(physicians.path)) == 0 ? &physicians
                                                                                       : &patients;
}

static registry *registry_of(http_req *req)
{
    return registry_of_request(req);
}

static mongo_db *db_of(http_req *req)
{
    return ((service_app *)req->app)->db;
}

static registry_cache *cache_of(registry *r, const api_kind *k)
{
    return k == &physicians ? r->physicians : r->patients;
}

/* ---- replies ---- */

/* Answers status with the record, its ETag, and a Location when created. */
static void reply_record(http_req *req, const api_kind *k, int status, const void *record)
{
    const reg_meta *m = record;
    char etag[32], location[64];
    registry_etag(m->version, etag);
    snprintf(location, sizeof location, "%s/%s", k->path, m->id);
    const char *const hdr[] = {"ETag", etag, status == 201 ? "Location" : NULL, location, NULL};
    if (status == 204) {
        http_reply(req, 204, "application/json", "", 0, hdr);
        return;
    }
    buf b;
    buf_init(&b);
    k->append(&b, record, false);
    http_reply_json(req, status, &b, hdr);
    buf_free(&b);
}

static void reply_duplicate(http_req *req, const api_kind *k)
{
    http_reply_problem(req, 409, "duplicate", k->unique, k->unique_detail);
}

static void reply_precondition(http_req *req)
{
    http_reply_problem(req, 412, "precondition-failed", "If-Match",
                       "the record has changed since this ETag");
}

/* ---- handlers ---- */

/* Writes wait for the set-up: a record written before the unique index
 * exists could duplicate another and keep the index from ever being made.
 * The set-up runs as soon as the database answers (a fraction of a second
 * after start), so a write waits up to SET_UP_WAIT_MS for it. Returns 0, or
 * -1 after replying 503. */
static int set_up_or_reply(http_req *req)
{
    service_app *svc = req->app;
    for (int64_t until = clock_mono_ms() + SET_UP_WAIT_MS;
         !atomic_load(&svc->setup_done) && clock_mono_ms() < until;)
        clock_sleep_ms(20);
    if (atomic_load(&svc->setup_done))
        return 0;
    bson_error_t err;
    bson_set_error(&err, MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE,
                   "the registry's collections and indexes are being set up");
    http_reply_db_error(req, &err);
    return -1;
}

/* The {id} capture, or -1 after replying 400. */
static int id_or_reply(http_req *req, char id[UUID_STR_LEN])
{
    return http_param_uuid_or_reply(req, 0, "id", id);
}

/* Writes a new record (m.id set) at version 1. Returns the write's outcome
 * (having replied unless it is REG_WRITE_MOVED; REG_WRITE_FAILED also when
 * the set-up is not done). */
static registry_write create_record(http_req *req, const api_kind *k, void *record, int64_t now)
{
    reg_meta *m = record;
    m->created_ms = m->updated_ms = now;
    m->version = 1;
    if (set_up_or_reply(req) != 0)
        return REG_WRITE_FAILED;
    bson_error_t err;
    registry_write w = registry_store_put(db_of(req), k->store, record, 0, &err);
    if (w == REG_WRITE_DONE) {
        registry_cache_evict(cache_of(registry_of(req), k), m->id);
        reply_record(req, k, 201, record);
    } else if (w == REG_WRITE_DUPLICATE) {
        reply_duplicate(req, k);
    } else if (w == REG_WRITE_FAILED) {
        http_reply_db_error(req, &err);
    }
    return w;
}

/* Parses the body and validates it into record. 0, or -1 after replying. */
static int record_or_reply(http_req *req, const api_kind *k, const json_t *doc, int64_t now,
                           void *record)
{
    problem p;
    return api_valid_or_reply(req, k->validate(doc, now, record, &p), &p);
}

void registry_handle_create(http_req *req)
{
    const api_kind *k = kind_of(req);
    int64_t now = clock_now_ms();
    json_t *doc;
    if (http_body_json_or_reply(req, &doc) != 0)
        return;
    void *record = xcalloc(1, k->store->coll.item_size);
    if (record_or_reply(req, k, doc, now, record) == 0) {
        for (int i = 0; i < WRITE_ATTEMPTS; i++) {
            uuid_v7(((reg_meta *)record)->id, now);
            if (create_record(req, k, record, now) != REG_WRITE_MOVED)
                break;
        }
        if (!req->status)
            http_reply_problem(req, 500, "internal", NULL, "could not pick a new id");
    }
    free(record);
    json_decref(doc);
}

void registry_handle_get(http_req *req)
{
    const api_kind *k = kind_of(req);
    char id[UUID_STR_LEN];
    if (id_or_reply(req, id) != 0)
        return;
    void *record = xmalloc(k->store->coll.item_size);
    bson_error_t err;
    int found = registry_store_get(db_of(req), k->store, id, record, &err);
    if (api_found_or_reply(req, found, &err, "id", k->not_found) == 0)
        reply_record(req, k, 200, record);
    free(record);
}

void registry_handle_list(http_req *req)
{
    const api_kind *k = kind_of(req);
    reg_list_req q;
    problem pr;
    if (api_valid_or_reply(req, registry_request_list(req->query, k->with_specialty, &q, &pr),
                           &pr) != 0)
        return;
    size_t size = k->store->coll.item_size;
    mongo_page p = {.items = xcalloc((size_t)q.limit, size), .item_size = size, .limit = q.limit};
    bson_error_t err;
    if (registry_store_list(db_of(req), k->store, &q, &p, &err) != 0) {
        http_reply_db_error(req, &err);
    } else {
        buf b;
        buf_init(&b);
        api_page_json(&b, &p, k->append_full);
        /* The page's own tag: a hash of what it holds (FNV-1a). */
        uint64_t h = 1469598103934665603u;
        for (size_t i = 0; i < b.len; i++)
            h = (h ^ (unsigned char)b.ptr[i]) * 1099511628211u;
        char etag[32];
        snprintf(etag, sizeof etag, "\"p%016llx\"", (unsigned long long)h);
        const char *const hdr[] = {"ETag", etag, NULL};
        http_reply_json(req, 200, &b, hdr);
        buf_free(&b);
    }
    free(p.items);
}

/* What a write does to the current record: PUT replaces it with the body's
 * record, PATCH merges the body into it, DELETE deactivates it. */
typedef enum write_op { OP_PUT, OP_PATCH, OP_DELETE } write_op;

/* Builds next from cur for op. 0, or -1 after replying 400. */
static int next_or_reply(http_req *req, const api_kind *k, write_op op, const json_t *body,
                         int64_t now, const void *cur, void *next)
{
    size_t size = k->store->coll.item_size;
    memcpy(next, cur, size);
    if (op == OP_DELETE) {
        ((reg_meta *)next)->active = false;
        return 0;
    }
    if (op == OP_PUT)
        return record_or_reply(req, k, body, now, next);
    buf b;
    buf_init(&b);
    k->append(&b, cur, true);
    json_t *target = json_loadb(b.ptr, b.len, 0, NULL);
    buf_free(&b);
    json_t *merged = registry_merge_patch(target, body);
    int rc = record_or_reply(req, k, merged, now, next);
    json_decref(merged);
    json_decref(target);
    return rc;
}

/* Whether next changes anything of cur a client can write. */
static bool changes(const api_kind *k, const void *cur, const void *next)
{
    buf a, b;
    buf_init(&a);
    buf_init(&b);
    k->append(&a, cur, true);
    k->append(&b, next, true);
    bool differ = a.len != b.len || memcmp(a.ptr, b.ptr, a.len) != 0;
    buf_free(&a);
    buf_free(&b);
    return differ;
}

/* Writes op on the record with the {id} capture, compare-and-swap on its
 * version, re-reading it when another write got in first (unless the client
 * named the version it saw: then 412). */
static void write_record(http_req *req, write_op op)
{
    const api_kind *k = kind_of(req);
    char id[UUID_STR_LEN];
    json_t *body = NULL;
    if (id_or_reply(req, id) != 0)
        return;
    if (op == OP_PATCH) {
        const char *ct = http_header(req, "Content-Type");
        if (!ct || strncasecmp(ct, "application/merge-patch+json", 28) != 0 ||
            (ct[28] && ct[28] != ';' && ct[28] != ' ')) {
            http_reply_problem(req, 415, "unsupported-media-type", "Content-Type",
                               "a PATCH body must be application/merge-patch+json");
            return;
        }
    }
    if (op != OP_DELETE && http_body_json_or_reply(req, &body) != 0)
        return;
    const char *if_match = http_header(req, "If-Match");
    int64_t now = clock_now_ms();
    size_t size = k->store->coll.item_size;
    void *cur = xmalloc(size), *next = xmalloc(size);
    registry *r = registry_of(req);
    bson_error_t err;
    for (int attempt = 0; attempt < WRITE_ATTEMPTS && !req->status; attempt++) {
        int rc = registry_store_get(db_of(req), k->store, id, cur, &err);
        if (rc < 0) {
            http_reply_db_error(req, &err);
        } else if (rc == 0 && op != OP_PUT) {
            http_reply_problem(req, 404, "not-found", "id", k->not_found);
        } else if (rc == 0 && if_match) {
            reply_precondition(req); /* nothing matches a record that does not exist */
        } else if (rc == 0) {
            memset(next, 0, size);
            memcpy(((reg_meta *)next)->id, id, UUID_STR_LEN);
            if (record_or_reply(req, k, body, now, next) == 0)
                create_record(req, k, next, now); /* MOVED: created meanwhile, go again */
        } else if (!registry_if_match(if_match, ((reg_meta *)cur)->version)) {
            reply_precondition(req);
        } else if (next_or_reply(req, k, op, body, now, cur, next) != 0) {
            /* replied 400 */
        } else if (!changes(k, cur, next)) {
            reply_record(req, k, op == OP_DELETE ? 204 : 200, cur); /* updated_at kept */
        } else if (op != OP_DELETE && set_up_or_reply(req) != 0) {
            /* replied 503 (deactivating touches no unique key: it may go ahead) */
        } else {
            reg_meta *m = next;
            m->version = ((reg_meta *)cur)->version + 1;
            m->updated_ms = now;
            registry_write w =
                registry_store_put(db_of(req), k->store, next, ((reg_meta *)cur)->version, &err);
            if (w == REG_WRITE_DONE) {
                registry_cache_evict(cache_of(r, k), id);
                reply_record(req, k, op == OP_DELETE ? 204 : 200, next);
            } else if (w == REG_WRITE_DUPLICATE) {
                reply_duplicate(req, k);
            } else if (w == REG_WRITE_FAILED) {
                http_reply_db_error(req, &err);
            } else if (if_match) {
                reply_precondition(req);
            }
        }
    }
    if (!req->status)
        http_reply_problem(req, 409, "conflict", "id",
                           "the record kept changing under this write; try again");
    free(next);
    free(cur);
    json_decref(body);
}

void registry_handle_put(http_req *req)
{
    write_record(req, OP_PUT);
}

void registry_handle_patch(http_req *req)
{
    write_record(req, OP_PATCH);
}

void registry_handle_delete(http_req *req)
{
    write_record(req, OP_DELETE);
}
