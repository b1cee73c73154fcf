#include "billing_fold.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"

void billing_fold_init(billing_fold *f, size_t max_groups)
{
    memset(f, 0, sizeof *f);
    f->max_groups = max_groups;
}

/* FNV-1a: the keys are UUIDs and days, short and well spread. */
static size_t hash_of(const char *key)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (const unsigned char *p = (const unsigned char *)key; *p; p++)
        h = (h ^ *p) * UINT64_C(1099511628211);
    return (size_t)h;
}

/* The slot of key: the one holding it, or the empty one where it goes. */
static size_t slot_of(const billing_fold *f, const char *key)
{
    size_t mask = f->nslots - 1;
    for (size_t i = hash_of(key) & mask;; i = (i + 1) & mask)
        if (f->slots[i] == 0 || strcmp(f->groups[f->slots[i] - 1].key, key) == 0)
            return i;
}

/* Keeps the table at most half full, so probes stay short. */
static void grow_slots(billing_fold *f)
{
    if (f->nslots >= 2 * (f->n + 1))
        return;
    size_t nslots = f->nslots ? f->nslots * 2 : 64;
    free(f->slots);
    f->slots = xcalloc(nslots, sizeof *f->slots);
    f->nslots = nslots;
    for (size_t g = 0; g < f->n; g++)
        f->slots[slot_of(f, f->groups[g].key)] = g + 1;
}

billing_summary_outcome billing_fold_add(billing_fold *f, const char *key, int64_t total_cents)
{
    return billing_fold_add_n(f, key, 1, total_cents);
}

billing_summary_outcome billing_fold_add_n(billing_fold *f, const char *key, int64_t count,
                                           int64_t total_cents)
{
    if (f->outcome != BILLING_SUMMARY_OK)
        return f->outcome;
    char k[UUID_STR_LEN];
    strncpy(k, key, sizeof k - 1);
    k[sizeof k - 1] = '\0';
    grow_slots(f);
    size_t s = slot_of(f, k);
    if (f->slots[s] == 0) {
        if (f->n == f->max_groups)
            return f->outcome = BILLING_SUMMARY_TOO_MANY_GROUPS;
        if (f->n == f->cap) {
            f->cap = f->cap ? f->cap * 2 : 16;
            f->groups = xrealloc(f->groups, f->cap * sizeof *f->groups);
        }
        billing_group *g = &f->groups[f->n++];
        memset(g, 0, sizeof *g);
        memcpy(g->key, k, sizeof g->key);
        f->slots[s] = f->n;
    }
    billing_group *g = &f->groups[f->slots[s] - 1];
    if (__builtin_add_overflow(g->total_cents, total_cents, &g->total_cents))
        return f->outcome = BILLING_SUMMARY_TOTAL_TOO_LARGE;
    g->count += count;
    return BILLING_SUMMARY_OK;
}

static int group_key_cmp(const void *x, const void *y)
{
    return strcmp(((const billing_group *)x)->key, ((const billing_group *)y)->key);
}

billing_summary_outcome billing_fold_finish(billing_fold *f, billing_group **out, size_t *n)
{
    if (f->outcome != BILLING_SUMMARY_OK)
        return f->outcome;
    if (f->n > 1)
        qsort(f->groups, f->n, sizeof *f->groups, group_key_cmp);
    *out = f->n ? f->groups : NULL;
    *n = f->n;
    if (!f->n)
        free(f->groups);
    free(f->slots);
    billing_fold_init(f, f->max_groups);
    return BILLING_SUMMARY_OK;
}

void billing_fold_destroy(billing_fold *f)
{
    free(f->groups);
    free(f->slots);
    billing_fold_init(f, f->max_groups);
}
