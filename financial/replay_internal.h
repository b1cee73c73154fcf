/* replay_internal: what replay.c and replay_job.c (one module, replay.h)
 * share. Not for other modules. */
#ifndef REPLAY_INTERNAL_H
#define REPLAY_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "metrics.h"
#include "replay.h"
#include "worker.h"

struct replays {
    mongo_db *db;
    buckets *bk;
    intake_currencies accepted;
    char event_source[256]; /* EVENT_SOURCE */
    int64_t max_consultation_ms;
    metrics_counter results[REPLAY_NRESULTS]; /* replays that wrote (not dry runs) */

    pthread_mutex_t mu; /* guards what follows */
    bool running;       /* a job's thread is at work */
    replay_job job;     /* the running (or last) job */
    worker thread;      /* the job's thread; joined before the next starts */
    atomic_bool cancel;

    pthread_mutex_t open_mu; /* guards the open counts */
    int64_t open[INTAKE_NREASONS];
    int64_t open_read_ms; /* monotonic; 0: never read */
};

/* The replay of doc, without the audit record: replays_one's contract. */
int replay_doc(replays *r, const bson_t *doc, bool dry_run, replay_result *res, char *detail,
               size_t detaillen, bson_error_t *err);

/* Appends "counts" (matched and one count per result) and "filter" to doc. */
void replay_append_counts(bson_t *doc, const replay_counts *c);
void replay_append_filter(bson_t *doc, const replay_filter *f);

/* Writes one audit record: action, who, when, filter, counts, trace id,
 * and the job (job_id) or the single result (job_id NULL). */
int replay_audit(replays *r, const char *action, const replay_actor *actor, const replay_filter *f,
                 const replay_counts *c, const char *job_id, bson_error_t *err);

#endif
