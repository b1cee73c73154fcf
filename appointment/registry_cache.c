#include "registry_cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "clock.h"
#include "metrics.h"

/* How often a failing load is retried while a stale entry is served. */
#define STALE_RETRY_MS 1000

typedef struct entry {
    char key[UUID_STR_LEN];
    struct entry *chain;       /* the hash bucket's next */
    struct entry *prev, *next; /* LRU list: head is the most recently used */
    bool ready;                /* v and found hold a loaded answer */
    bool loading;              /* a caller is loading it: never freed meanwhile */
    bool dropped;              /* evicted while loading: the answer is not kept fresh */
    bool stale;                /* the last load failed; v is older */
    bool found;
    registry_value v;
    int64_t fresh_until, usable_until;
} entry;

struct registry_cache {
    pthread_mutex_t mu;
    pthread_cond_t loaded; /* broadcast when a load ends */
    registry_cache_opts o;
    entry **table;
    size_t nbuckets; /* a power of two */
    size_t count;
    entry *head, *tail;
    uint32_t seed;
    metrics_counter results[REG_CACHE_RESULTS];
    metrics_counter loads;
};

int64_t registry_cache_ttl(int64_t ttl_ms, int jitter_pct, uint32_t r)
{
    int64_t j = jitter_pct > 0 ? ttl_ms * jitter_pct / 100 : 0;
    if (j <= 0)
        return ttl_ms;
    return ttl_ms - j + (int64_t)(r % (uint64_t)(2 * j + 1));
}

registry_cache *registry_cache_new(const registry_cache_opts *opts)
{
    registry_cache *c = xcalloc(1, sizeof *c);
    c->o = *opts;
    if (c->o.capacity < 1)
        c->o.capacity = 1;
    if (!c->o.now_ms)
        c->o.now_ms = clock_mono_ms;
    c->nbuckets = 16;
    while (c->nbuckets < c->o.capacity * 2)
        c->nbuckets *= 2;
    c->table = xcalloc(c->nbuckets, sizeof *c->table);
    c->seed = (uint32_t)clock_mono_us() | 1u;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->loaded, NULL);
    return c;
}

void registry_cache_free(registry_cache *c)
{
    if (!c)
        return;
    for (entry *e = c->head, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    free(c->table);
    pthread_cond_destroy(&c->loaded);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static size_t bucket_of(const registry_cache *c, const char *key)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (const char *s = key; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return (size_t)h & (c->nbuckets - 1);
}

static entry *find(registry_cache *c, const char *key)
{
    for (entry *e = c->table[bucket_of(c, key)]; e; e = e->chain)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void lru_unlink(registry_cache *c, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        c->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        c->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(registry_cache *c, entry *e)
{
    e->next = c->head;
    e->prev = NULL;
    if (c->head)
        c->head->prev = e;
    c->head = e;
    if (!c->tail)
        c->tail = e;
}

static void remove_entry(registry_cache *c, entry *e)
{
    entry **pp = &c->table[bucket_of(c, e->key)];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    lru_unlink(c, e);
    c->count--;
    free(e);
}

/* A new entry for key, making room first (an entry being loaded is never
 * evicted: its loader and waiters still need it). */
static entry *add_entry(registry_cache *c, const char *key)
{
    for (entry *e = c->tail; c->count >= c->o.capacity && e;) {
        entry *prev = e->prev;
        if (!e->loading)
            remove_entry(c, e);
        e = prev;
    }
    entry *e = xcalloc(1, sizeof *e);
    memcpy(e->key, key, UUID_STR_LEN);
    e->key[UUID_STR_LEN - 1] = '\0';
    size_t b = bucket_of(c, e->key);
    e->chain = c->table[b];
    c->table[b] = e;
    lru_push_front(c, e);
    c->count++;
    return e;
}

static uint32_t next_random(registry_cache *c)
{
    uint32_t x = c->seed; /* xorshift32 */
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return c->seed = x;
}

/* Answers from e (ready). */
static int answer(const entry *e, registry_value *out)
{
    if (e->found)
        *out = e->v;
    return e->found ? 1 : 0;
}

int registry_cache_get(registry_cache *c, const char *id, registry_load_fn load, void *ctx,
                       registry_value *out, registry_cache_result *result)
{
    pthread_mutex_lock(&c->mu);
    entry *e;
    for (;;) {
        int64_t now = c->o.now_ms();
        e = find(c, id);
        if (e && e->loading) { /* single flight: take the loader's answer */
            pthread_cond_wait(&c->loaded, &c->mu);
            continue;
        }
        if (e && e->ready && now < e->fresh_until) {
            lru_unlink(c, e);
            lru_push_front(c, e);
            *result = e->stale ? REG_CACHE_STALE : e->found ? REG_CACHE_HIT : REG_CACHE_NEGATIVE;
            int rc = answer(e, out);
            pthread_mutex_unlock(&c->mu);
            metrics_inc(&c->results[*result]);
            return rc;
        }
        break;
    }
    if (!e)
        e = add_entry(c, id);
    e->loading = true;
    e->dropped = false;
    pthread_mutex_unlock(&c->mu);

    registry_value v;
    memset(&v, 0, sizeof v);
    int rc = load(ctx, id, &v);

    pthread_mutex_lock(&c->mu);
    int64_t now = c->o.now_ms();
    e->loading = false;
    metrics_inc(&c->loads);
    if (rc >= 0) {
        int64_t ttl = rc == 1 ? registry_cache_ttl(c->o.ttl_ms, c->o.jitter_pct, next_random(c))
                              : c->o.negative_ttl_ms;
        e->ready = true;
        e->stale = false;
        e->found = rc == 1;
        e->v = v;
        e->fresh_until = e->dropped ? now : now + ttl;
        e->usable_until = now + ttl + c->o.stale_ms;
        *result = REG_CACHE_MISS;
        rc = answer(e, out);
    } else if (e->ready && now < e->usable_until && !e->dropped) {
        e->stale = true;
        e->fresh_until =
            now + STALE_RETRY_MS < e->usable_until ? now + STALE_RETRY_MS : e->usable_until;
        *result = REG_CACHE_STALE;
        rc = answer(e, out);
    } else {
        *result = REG_CACHE_MISS;
        remove_entry(c, e);
    }
    pthread_cond_broadcast(&c->loaded);
    pthread_mutex_unlock(&c->mu);
    metrics_inc(&c->results[*result]);
    return rc;
}

void registry_cache_evict(registry_cache *c, const char *id)
{
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, id);
    if (e && e->loading)
        e->dropped = true;
    else if (e)
        remove_entry(c, e);
    pthread_mutex_unlock(&c->mu);
}

uint64_t registry_cache_count(registry_cache *c, registry_cache_result result)
{
    return metrics_get(&c->results[result]);
}

uint64_t registry_cache_loads(registry_cache *c)
{
    return metrics_get(&c->loads);
}

size_t registry_cache_size(registry_cache *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}
