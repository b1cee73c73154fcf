/* replay: dead letters run again through today's intake and billing
 * (intake_judge, billing_store_insert_many: the consumer's own code),
 * inside the service, never republished. One at a time from a request
 * (replays_one), or as a job (replays_start) on a background thread of
 * the financial process: one job at a time, cancellable, its progress kept
 * in DEAD_LETTER_REPLAYS_COLLECTION after every dead letter so any request
 * can read it. Every replay writes an audit record.
 *
 * A replay: a discarded or truncated record is skipped; one that bills is
 * billed once (the billing's id is the appointment id, so a second replay
 * finds it: already_billed) and becomes replayed; one that still fails stays
 * open with attempts + 1 and the new reason and detail. A dry run writes no
 * billing and no dead letter. Thread-safe unless said otherwise.
 * replay.c replays and audits; replay_job.c runs the jobs. */
#ifndef REPLAY_H
#define REPLAY_H

#include <stdbool.h>
#include <stdint.h>

#include "buckets.h"
#include "buf.h"
#include "dead_letter_request.h"
#include "intake.h"
#include "mongo.h"

typedef enum replay_result {
    REPLAY_BILLED = 0,     /* "billed" (a dry run: would be) */
    REPLAY_ALREADY_BILLED, /* "already_billed" */
    REPLAY_STILL_FAILING,  /* "still_failing" */
    REPLAY_SKIPPED,        /* "skipped": discarded, truncated, not found */
    REPLAY_NRESULTS
} replay_result;

/* "billed", "already_billed", "still_failing", "skipped". Cannot fail. */
const char *replay_result_name(replay_result r);

typedef struct replay_counts {
    int64_t matched; /* dead letters the job looked at */
    int64_t by[REPLAY_NRESULTS];
} replay_counts;

/* A job as its document holds it. */
typedef struct replay_job {
    char id[UUID_STR_LEN];
    char status[16]; /* "running", "done", "cancelled", "failed" */
    replay_filter filter;
    replay_counts counts;
    char who[80];
    char trace_id[33];
    char error[128];
    int64_t created_ms, updated_ms, finished_ms; /* finished_ms 0 while running */
} replay_job;

typedef struct replays replays;

/* Who asked, for the audit trail: a client id and the request's trace id
 * (borrowed). */
typedef struct replay_actor {
    const char *who;
    const char *trace_id;
} replay_actor;

/* A replayer over db and bk (borrowed; they outlive it) accepting the
 * currencies in *accepted (copied), the events of event_source (copied;
 * EVENT_SOURCE) and consultations of at most max_consultation_ms, as the
 * consumer does. Cannot fail. */
replays *replays_new(mongo_db *db, buckets *bk, const intake_currencies *accepted,
                     const char *event_source, int64_t max_consultation_ms);
/* Cancels a running job, waits for its thread and frees. NULL is a no-op.
 * Call from the thread that created it, once no request runs. */
void replays_free(replays *r);
/* Asks a running job to stop soon (at shutdown). NULL is a no-op. */
void replays_stop(replays *r);

/* Replays the record doc (as dead_letters_find gave it) and writes an audit
 * record for actor. Returns 0 with *res and a detail (the still-failing
 * reason, or why it was skipped) in detail[detaillen], or -1 with err. */
int replays_one(replays *r, const bson_t *doc, bool dry_run, const replay_actor *actor,
                replay_result *res, char *detail, size_t detaillen, bson_error_t *err);

typedef enum replay_start_outcome {
    REPLAY_STARTED = 0,
    REPLAY_BUSY, /* another job is running: its id is in *job */
} replay_start_outcome;

/* Starts a job for f: writes its document, then starts the thread. Returns
 * 0 with the outcome and the job (as written, or the running one) in *job,
 * or -1 with err (no job then). */
int replays_start(replays *r, const replay_filter *f, const replay_actor *actor,
                  replay_start_outcome *outcome, replay_job *job, bson_error_t *err);
/* Asks job `id` to stop. Returns 0 when it is the running job, -1 when it is
 * not (finished, or unknown). */
int replays_cancel(replays *r, const char *id);
/* Reads job `id`: 1 with *job, 0 when none, -1 with err. */
int replays_get(replays *r, const char *id, replay_job *job, bson_error_t *err);

/* Appends clinic_dead_letters_open{reason} (every reason, 0 included; read
 * from the collection at most every DEAD_LETTERS_OPEN_REFRESH_MS, the last
 * values kept while the database is down) and
 * clinic_dead_letter_replays_total{result}. */
#define DEAD_LETTERS_OPEN_REFRESH_MS 5000
void replays_render_metrics(replays *r, buf *out);

#endif
