/* registry_cache: an in-process cache in front of one registry lookup (a
 * physician or a patient by id), so that starting a consultation stays one
 * database round trip in the steady state.
 *
 * Rules: at most `capacity` entries, the least recently used dropped first;
 * a found record stays fresh for ttl_ms +- jitter_pct % (so entries loaded
 * together do not all expire together), an unknown id for negative_ttl_ms;
 * one load per key however many callers miss at once (the others block
 * until it ends and take its answer: single flight); registry_cache_evict
 * drops a key at once (this process's own writes); when a load fails, an
 * entry loaded within stale_ms of its expiry is served as "stale" (and the
 * load retried at most once a second), anything else fails.
 *
 * The loader runs on the calling thread, outside the cache's lock. All
 * functions are thread-safe. No I/O of its own, so tests/unit/test_registry.c
 * drives it with a fake loader and clock. */
#ifndef APPT_REGISTRY_CACHE_H
#define APPT_REGISTRY_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "uuid.h"

/* What a start needs of a physician or a patient. */
typedef struct registry_value {
    bool active;
    int64_t price_cents; /* physicians' hourly price */
    char currency[4];
} registry_value;

/* How a lookup was answered: the result label of
 * clinic_registry_cache_requests_total. */
typedef enum registry_cache_result {
    REG_CACHE_HIT = 0,  /* a fresh entry of a known id (or a concurrent load's answer) */
    REG_CACHE_MISS,     /* loaded now */
    REG_CACHE_NEGATIVE, /* a fresh entry of an unknown id */
    REG_CACHE_STALE,    /* the database failed; an expired entry served */
    REG_CACHE_RESULTS
} registry_cache_result;

/* Loads id: 1 with *out when it exists, 0 when it does not, -1 on failure
 * (the caller's ctx keeps why). */
typedef int (*registry_load_fn)(void *ctx, const char *id, registry_value *out);

typedef struct registry_cache_opts {
    size_t capacity;         /* entries, >= 1 */
    int64_t ttl_ms;          /* a found record */
    int jitter_pct;          /* 0..50 */
    int64_t negative_ttl_ms; /* an unknown id */
    int64_t stale_ms;        /* served past expiry while loads fail */
    int64_t (*now_ms)(void); /* a monotonic clock; NULL: clock_mono_ms */
} registry_cache_opts;

typedef struct registry_cache registry_cache;

/* Copies opts. Cannot fail (aborts on out-of-memory). */
registry_cache *registry_cache_new(const registry_cache_opts *opts);
/* NULL is a no-op. No lookup may be running. */
void registry_cache_free(registry_cache *c);

/* Looks id (a lowercase UUID) up, calling load(ctx, ...) on a miss. Returns
 * 1 with *out (id known), 0 (unknown), or -1 (the load failed and nothing
 * usable is cached; ctx says why). *result says how it was answered. */
int registry_cache_get(registry_cache *c, const char *id, registry_load_fn load, void *ctx,
                       registry_value *out, registry_cache_result *result);

/* Drops id's entry (a load in flight is answered but not kept fresh). */
void registry_cache_evict(registry_cache *c, const char *id);

/* Lookups answered with result so far, and loads run. */
uint64_t registry_cache_count(registry_cache *c, registry_cache_result result);
uint64_t registry_cache_loads(registry_cache *c);
/* Entries held now. */
size_t registry_cache_size(registry_cache *c);

/* ttl_ms +- jitter_pct %, picked by r (any random number). Pure. */
int64_t registry_cache_ttl(int64_t ttl_ms, int jitter_pct, uint32_t r);

#endif
