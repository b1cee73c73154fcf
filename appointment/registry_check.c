/* registry_check: the registry's settings, the start's check of its
 * physician and patient through the caches, and the caches' metrics
 * (registry_api.h declares them; registry_api.c has the routes). */
#include "registry_api.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "metrics.h"
#include "registry_store.h"

/* ---- configuration ---- */

int registry_configure(registry *r, const config_var *vars, size_t nvars, char *err, size_t errlen)
{
    const char *check = config_str(vars, nvars, "REGISTRY_CHECK");
    if (strcasecmp(check, "on") != 0 && strcasecmp(check, "off") != 0) {
        snprintf(err, errlen, "REGISTRY_CHECK must be on or off");
        return -1;
    }
    int64_t ttl, neg, stale, size;
    if (config_int(vars, nvars, "REGISTRY_CACHE_TTL_MS", 1, 86400000, &ttl, err, errlen) ||
        config_int(vars, nvars, "REGISTRY_CACHE_NEGATIVE_TTL_MS", 0, 3600000, &neg, err, errlen) ||
        config_int(vars, nvars, "REGISTRY_CACHE_STALE_MS", 0, 86400000, &stale, err, errlen) ||
        config_int(vars, nvars, "REGISTRY_CACHE_SIZE", 1, 10000000, &size, err, errlen))
        return -1;
    r->check = strcasecmp(check, "on") == 0;
    registry_cache_opts o = {.capacity = (size_t)size,
                             .ttl_ms = ttl,
                             .jitter_pct = 10,
                             .negative_ttl_ms = neg,
                             .stale_ms = stale};
    r->physicians = registry_cache_new(&o);
    r->patients = registry_cache_new(&o);
    if (!r->check)
        log_warn("registry check off: starts take any physician and patient ids and bill "
                 "HOURLY_PRICE",
                 NULL);
    return 0;
}

void registry_destroy(registry *r)
{
    registry_cache_free(r->physicians);
    registry_cache_free(r->patients);
    r->physicians = r->patients = NULL;
}

/* ---- the start's check ---- */

/* One of the two parties a start names: its records, its cache, its name. */
typedef struct party {
    const registry_kind *store;
    registry_cache *cache;
    const char *label; /* the metrics' kind, and the problems' words */
} party;

typedef struct load_ctx {
    mongo_db *db;
    const registry_kind *store;
    bson_error_t err;
} load_ctx;

/* A registry_load_fn: one find by _id. */
static int load(void *ctx, const char *id, registry_value *out)
{
    load_ctx *l = ctx;
    union {
        reg_meta m;
        reg_physician ph;
        reg_patient pt;
    } rec;
    int rc = registry_store_get(l->db, l->store, id, &rec, &l->err);
    if (rc != 1)
        return rc;
    out->active = rec.m.active;
    if (l->store == &registry_physicians) {
        out->price_cents = rec.ph.hourly_price_cents;
        memcpy(out->currency, rec.ph.currency, sizeof out->currency);
    }
    return 1;
}

/* Looks one party up. Returns 0 with *v, or -1 after replying. */
static int party_or_reply(http_req *req, const party *k, mongo_db *db, const char *field,
                          const char *id, registry_value *v)
{
    load_ctx l = {db, k->store, {0}};
    registry_cache_result res;
    int rc = registry_cache_get(k->cache, id, load, &l, v, &res);
    if (rc < 0) {
        http_reply_db_error(req, &l.err);
        return -1;
    }
    char detail[96];
    if (rc == 0) {
        snprintf(detail, sizeof detail, "no %s with this %s is registered", k->label, field);
        http_reply_problem(req, 422, "unknown-party", field, detail);
        return -1;
    }
    if (!v->active) {
        snprintf(detail, sizeof detail, "the %s of this %s is not active", k->label, field);
        http_reply_problem(req, 409, "inactive-party", field, detail);
        return -1;
    }
    return 0;
}

int registry_start_check_or_reply(http_req *req, registry *r, mongo_db *db,
                                  const char *physician_id, const char *patient_id,
                                  int64_t *price_cents, char currency[4])
{
    if (!r->check)
        return 0;
    registry_value ph, pt;
    party physician = {&registry_physicians, r->physicians, "physician"};
    party patient = {&registry_patients, r->patients, "patient"};
    if (party_or_reply(req, &physician, db, "physician_id", physician_id, &ph) != 0 ||
        party_or_reply(req, &patient, db, "patient_id", patient_id, &pt) != 0)
        return -1;
    *price_cents = ph.price_cents;
    memcpy(currency, ph.currency, 4);
    return 0;
}

void registry_render_metrics(registry *r, buf *out)
{
    static const char *const results[REG_CACHE_RESULTS] = {"hit", "miss", "negative", "stale"};
    const party kinds[] = {{&registry_physicians, r->physicians, "physician"},
                           {&registry_patients, r->patients, "patient"}};
    const char *name = "clinic_registry_cache_requests_total";
    char labels[64];
    metrics_family(out, name, "counter",
                   "registry lookups of starts by how the cache answered them");
    for (size_t k = 0; k < 2; k++)
        for (int i = 0; i < REG_CACHE_RESULTS; i++) {
            snprintf(labels, sizeof labels, "kind=\"%s\",result=\"%s\"", kinds[k].label,
                     results[i]);
            metrics_sample(out, name, labels,
                           registry_cache_count(kinds[k].cache, (registry_cache_result)i));
        }
    name = "clinic_registry_loads_total";
    metrics_family(out, name, "counter", "registry lookups that went to MongoDB");
    for (size_t k = 0; k < 2; k++) {
        snprintf(labels, sizeof labels, "kind=\"%s\"", kinds[k].label);
        metrics_sample(out, name, labels, registry_cache_loads(kinds[k].cache));
    }
}
