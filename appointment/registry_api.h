/* registry_api: the physician and patient registries' HTTP routes
 * (/physicians, /patients: create, get, list, merge-patch, put, deactivate,
 * with ETag / If-Match), the check a start makes against them, and their
 * cache's metrics. Handlers run on civetweb threads; req->app is the
 * appt_api, whose `reg` this module owns. Patient data never reaches a log
 * line, a metric label or a problem's detail. */
#ifndef APPT_REGISTRY_API_H
#define APPT_REGISTRY_API_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "mongo.h"
#include "registry_cache.h"

typedef struct registry {
    bool check; /* REGISTRY_CHECK: starts must name known, active people */
    registry_cache *physicians, *patients;
} registry;

/* The registry's rows of the configuration table. */
#define REGISTRY_VARS                                                                              \
    {"REGISTRY_CHECK", "on",                                                                       \
     "on: a start needs a known, active physician and patient and bills the physician's "          \
     "hourly_price; off: any ids, at HOURLY_PRICE"},                                               \
        {"REGISTRY_CACHE_TTL_MS", "30000",                                                         \
         "how long a looked-up physician or patient is reused (+-10 %)"},                          \
        {"REGISTRY_CACHE_NEGATIVE_TTL_MS", "2000", "how long an unknown id is remembered"},        \
        {"REGISTRY_CACHE_STALE_MS", "300000",                                                      \
         "how long an expired entry is still used while MongoDB does not answer"},                 \
    {                                                                                              \
        "REGISTRY_CACHE_SIZE", "10000", "most physicians and patients each cached at once"         \
    }

/* Reads REGISTRY_VARS and creates the caches; logs once when the check is
 * off. Returns 0, or -1 with the reason in err. */
int registry_configure(registry *r, const config_var *vars, size_t nvars, char *err, size_t errlen);
/* Frees the caches. */
void registry_destroy(registry *r);

/* For a start: with the check on, physician_id and patient_id must be known
 * (else 422 naming the field) and active (else 409 naming it), and the
 * physician's hourly price and currency go to *price_cents and currency;
 * with it off nothing is looked up and they are left alone. Returns 0, or
 * -1 after replying (a 503 when the database is away and nothing is
 * cached). */
int registry_start_check_or_reply(http_req *req, registry *r, mongo_db *db,
                                  const char *physician_id, const char *patient_id,
                                  int64_t *price_cents, char currency[4]);

/* Appends clinic_registry_cache_requests_total and clinic_registry_loads_total. */
void registry_render_metrics(registry *r, buf *out);

/* The route handlers; each finds its registry by the route's path. */
/* The registry of the service whose routes req came by. Defined by the
 * service that mounts the registry's handlers (appointment/appt_api.c), so
 * that this module needs none of its headers. */
registry *registry_of_request(const http_req *req);

void registry_handle_create(http_req *req);
void registry_handle_get(http_req *req);
void registry_handle_list(http_req *req);
void registry_handle_put(http_req *req);
void registry_handle_patch(http_req *req);
void registry_handle_delete(http_req *req);

#endif
