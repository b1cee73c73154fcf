/* billing_fold: a summary's groups, folded one billing at a time. A summary
 * reads its billings as a stream (one end day after another) and keeps only
 * its groups: never more than max_groups of them, whatever the number of
 * billings. Pure; one fold per summary, on one thread. */
#ifndef BILLING_FOLD_H
#define BILLING_FOLD_H

#include <stddef.h>
#include <stdint.h>

#include "uuid.h"

/* One line of a summary. */
typedef struct billing_group {
    char key[UUID_STR_LEN]; /* physician id, patient id, or "YYYY-MM-DD" */
    int64_t count;
    int64_t total_cents;
} billing_group;

/* How a summary ended, when the database answered. */
typedef enum billing_summary_outcome {
    BILLING_SUMMARY_OK = 0,
    BILLING_SUMMARY_TOO_MANY_GROUPS, /* more groups than the caller's max_groups */
    BILLING_SUMMARY_TOTAL_TOO_LARGE, /* a group's total beyond int64 */
    BILLING_SUMMARY_TOO_MANY_DAYS,   /* more end days than a summary may read */
} billing_summary_outcome;

typedef struct billing_fold {
    size_t max_groups;
    billing_group *groups; /* in the order first seen */
    size_t n, cap;
    size_t *slots;                   /* open addressing: index + 1 into groups, 0 empty */
    size_t nslots;                   /* a power of two, at least twice n */
    billing_summary_outcome outcome; /* the first failure sticks */
} billing_fold;

/* An empty fold of at most max_groups groups. Cannot fail. */
void billing_fold_init(billing_fold *f, size_t max_groups);

/* Adds one billing of total_cents to the group `key` (truncated to fit).
 * Returns the fold's outcome so far: once it is not OK nothing more is
 * added, and the caller may stop reading. */
billing_summary_outcome billing_fold_add(billing_fold *f, const char *key, int64_t total_cents);

/* Adds count billings of total_cents together to the group `key`, as
 * billing_fold_add does one: a day total's group folds in at once. */
billing_summary_outcome billing_fold_add_n(billing_fold *f, const char *key, int64_t count,
                                           int64_t total_cents);

/* The groups sorted by key: when the outcome is OK, hands them over as *out
 * (free() it; NULL when none) and *n, and the fold is empty again;
 * otherwise writes nothing. Returns the outcome. */
billing_summary_outcome billing_fold_finish(billing_fold *f, billing_group **out, size_t *n);

/* Frees what the fold still holds. Cannot fail. */
void billing_fold_destroy(billing_fold *f);

#endif
