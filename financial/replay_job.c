/* replay's jobs (replay.h): one at a time on a background thread, their
 * progress kept in DEAD_LETTER_REPLAYS_COLLECTION after every dead letter. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "bsonread.h"
#include "clock.h"
#include "dead_letters.h"
#include "log.h"
#include "replay_internal.h"

#define JOB_PAGE 50

static void job_doc(bson_t *doc, const replay_job *j)
{
    BSON_APPEND_UTF8(doc, "_id", j->id);
    BSON_APPEND_UTF8(doc, "status", j->status);
    replay_append_filter(doc, &j->filter);
    replay_append_counts(doc, &j->counts);
    BSON_APPEND_UTF8(doc, "who", j->who);
    BSON_APPEND_UTF8(doc, "trace_id", j->trace_id);
    BSON_APPEND_UTF8(doc, "error", j->error);
    BSON_APPEND_DATE_TIME(doc, "created_at", j->created_ms);
    BSON_APPEND_DATE_TIME(doc, "updated_at", j->updated_ms);
    if (j->finished_ms)
        BSON_APPEND_DATE_TIME(doc, "finished_at", j->finished_ms);
}

static void decode_filter(bson_iter_t *it, replay_filter *f)
{
    bson_iter_t sub, ids;
    if (!BSON_ITER_HOLDS_DOCUMENT(it) || !bson_iter_recurse(it, &sub))
        return;
    while (bson_iter_next(&sub)) {
        const char *k = bson_iter_key(&sub);
        char s[32];
        if (strcmp(k, "reason") == 0) {
            mongo_iter_str(&sub, s, sizeof s);
            int x = intake_reason_parse(s, strlen(s));
            f->has_reason = x >= 0;
            f->reason = x >= 0 ? (intake_reason)x : INTAKE_REFUSED;
        } else if (strcmp(k, "from") == 0) {
            f->has_from = true;
            f->from_ms = mongo_iter_int(&sub);
        } else if (strcmp(k, "to") == 0) {
            f->has_to = true;
            f->to_ms = mongo_iter_int(&sub);
        } else if (strcmp(k, "dry_run") == 0) {
            f->dry_run = BSON_ITER_HOLDS_BOOL(&sub) && bson_iter_bool(&sub);
        } else if (strcmp(k, "limit") == 0) {
            f->limit = mongo_iter_int(&sub);
        } else if (strcmp(k, "max_per_second") == 0) {
            f->max_per_second = mongo_iter_int(&sub);
        } else if (strcmp(k, "ids") == 0 && BSON_ITER_HOLDS_ARRAY(&sub) &&
                   bson_iter_recurse(&sub, &ids)) {
            while (bson_iter_next(&ids) && f->nids < REPLAY_IDS_MAX)
                mongo_iter_str(&ids, f->ids[f->nids++], UUID_STR_LEN);
        }
    }
}

/* BSONREAD_FNs of a job's document. */
static void read_filter(const bson_iter_t *it, void *out)
{
    bson_iter_t copy = *it;
    decode_filter(&copy, &((replay_job *)out)->filter);
}

static const bsonread_field count_fields[] = {
    BSONREAD_INT("matched", replay_job, counts.matched),
    BSONREAD_INT("billed", replay_job, counts.by[REPLAY_BILLED]),
    BSONREAD_INT("already_billed", replay_job, counts.by[REPLAY_ALREADY_BILLED]),
    BSONREAD_INT("still_failing", replay_job, counts.by[REPLAY_STILL_FAILING]),
    BSONREAD_INT("skipped", replay_job, counts.by[REPLAY_SKIPPED]),
};

static const bsonread_field job_fields[] = {
    BSONREAD_STR("_id", replay_job, id),
    BSONREAD_STR("status", replay_job, status),
    BSONREAD_FN("filter", read_filter),
    BSONREAD_DOC("counts", count_fields),
    BSONREAD_STR("who", replay_job, who),
    BSONREAD_STR("trace_id", replay_job, trace_id),
    BSONREAD_STR("error", replay_job, error),
    BSONREAD_INT("created_at", replay_job, created_ms),
    BSONREAD_INT("updated_at", replay_job, updated_ms),
    BSONREAD_INT("finished_at", replay_job, finished_ms),
};

/* A mongo_decode_fn: a job's document. */
static void decode_job(const bson_t *doc, void *item)
{
    memset(item, 0, sizeof(replay_job));
    bsonread_doc(doc, job_fields, BSONREAD_COUNT(job_fields), item);
}

/* Writes the job's document as it is now (replacing the last one). */
static int save_job(replays *r, const replay_job *j, bson_error_t *err)
{
    bson_t doc = BSON_INITIALIZER, sel = BSON_INITIALIZER, set;
    bson_t upd = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&sel, "_id", j->id);
    job_doc(&doc, j);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    bson_iter_t it;
    bson_iter_init(&it, &doc);
    while (bson_iter_next(&it))
        if (strcmp(bson_iter_key(&it), "_id") != 0)
            bson_append_iter(&set, NULL, 0, &it);
    bson_append_document_end(&upd, &set);
    int rc = mongo_update(r->db, DEAD_LETTER_REPLAYS_COLLECTION, &sel, &upd, false, err);
    bson_destroy(&upd);
    bson_destroy(&sel);
    bson_destroy(&doc);
    return rc;
}

/* Sleeps ms, waking early on a cancel. */
static void pace(replays *r, int64_t ms)
{
    int64_t until = clock_mono_ms() + ms;
    while (!atomic_load(&r->cancel) && clock_mono_ms() < until)
        clock_sleep_ms(until - clock_mono_ms() < 50 ? until - clock_mono_ms() : 50);
}

/* Replays one record of a job and counts it (the job's copy j is the
 * thread's own; r->job is updated under the lock). */
static int job_step(replays *r, replay_job *j, const bson_t *doc, bson_error_t *err)
{
    replay_result res;
    char detail[DEAD_LETTER_DETAIL_MAX];
    if (replay_doc(r, doc, j->filter.dry_run, &res, detail, sizeof detail, err) != 0)
        return -1;
    j->counts.matched++;
    j->counts.by[res]++;
    j->updated_ms = clock_now_ms();
    pthread_mutex_lock(&r->mu);
    r->job.counts = j->counts;
    pthread_mutex_unlock(&r->mu);
    if (save_job(r, j, err) != 0)
        return -1;
    pace(r, 1000 / j->filter.max_per_second);
    return 0;
}

/* Walks the job's dead letters: its ids, or the open ones of its reason and
 * first_seen range, newest _id first, a page at a time. */
static int job_walk(replays *r, replay_job *j, bson_error_t *err)
{
    const replay_filter *f = &j->filter;
    for (size_t i = 0; i < f->nids && !atomic_load(&r->cancel); i++) {
        bson_t doc;
        int found = dead_letters_find(r->db, f->ids[i], &doc, err);
        if (found < 0)
            return -1;
        if (found == 0) {
            j->counts.matched++;
            j->counts.by[REPLAY_SKIPPED]++;
            continue;
        }
        int rc = job_step(r, j, &doc, err);
        bson_destroy(&doc);
        if (rc != 0)
            return -1;
    }
    if (f->nids > 0)
        return 0;
    dead_letter_query q = {
        .has_reason = f->has_reason,
        .reason = f->reason,
        .has_status = true,
        .status = DEAD_LETTER_OPEN,
        .has_from = f->has_from,
        .from_ms = f->from_ms,
        .has_to = f->has_to,
        .to_ms = f->to_ms,
        .limit = JOB_PAGE,
    };
    dead_letter *items = xmalloc(JOB_PAGE * sizeof *items);
    int rc = 0;
    for (;;) {
        mongo_page p = {.items = items, .item_size = sizeof *items, .limit = JOB_PAGE};
        if (dead_letters_list(r->db, &q, &p, err) != 0) {
            rc = -1;
            break;
        }
        for (int i = 0; i < p.n && rc == 0; i++) {
            if (atomic_load(&r->cancel) || j->counts.matched >= f->limit)
                goto out;
            bson_t doc;
            int found = dead_letters_find(r->db, items[i].id, &doc, err);
            if (found < 0)
                rc = -1;
            if (found == 1) {
                rc = job_step(r, j, &doc, err);
                bson_destroy(&doc);
            }
        }
        if (rc != 0 || !p.more)
            break;
        q.has_cursor = true;
        snprintf(q.cursor, sizeof q.cursor, "%s", p.last_id);
    }
out:
    free(items);
    return rc;
}

static void *job_main(void *arg)
{
    replays *r = arg;
    pthread_mutex_lock(&r->mu);
    replay_job j = r->job;
    pthread_mutex_unlock(&r->mu);
    bson_error_t err;
    int rc = job_walk(r, &j, &err);
    bool cancelled = atomic_load(&r->cancel);
    snprintf(j.status, sizeof j.status, "%s",
             rc != 0     ? "failed"
             : cancelled ? "cancelled"
                         : "done");
    if (rc != 0)
        snprintf(j.error, sizeof j.error, "%.120s", err.message);
    j.finished_ms = j.updated_ms = clock_now_ms();
    /* The end is written even if a step failed: the database may be back. */
    if (save_job(r, &j, &err) != 0)
        log_warn("cannot record the end of a replay job", "job_id", j.id, "error", err.message,
                 NULL);
    replay_actor actor = {j.who, j.trace_id};
    if (replay_audit(r, "dead_letter.replay_job", &actor, &j.filter, &j.counts, j.id, &err) != 0)
        log_warn("cannot write the audit record of a replay job", "job_id", j.id, "error",
                 err.message, NULL);
    log_info("replay job ended", "job_id", j.id, "status", j.status,
             LOG_INT("matched", j.counts.matched), LOG_INT("billed", j.counts.by[REPLAY_BILLED]),
             NULL);
    pthread_mutex_lock(&r->mu);
    r->job = j;
    r->running = false;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int replays_start(replays *r, const replay_filter *f, const replay_actor *actor,
                  replay_start_outcome *outcome, replay_job *job, bson_error_t *err)
{
    pthread_mutex_lock(&r->mu);
    if (r->running) {
        *outcome = REPLAY_BUSY;
        *job = r->job;
        pthread_mutex_unlock(&r->mu);
        return 0;
    }
    /* The last job's thread has ended (running is false): reap it. */
    worker_join(&r->thread);
    worker_init(&r->thread);
    replay_job j;
    memset(&j, 0, sizeof j);
    j.created_ms = j.updated_ms = clock_now_ms();
    uuid_v7(j.id, j.created_ms);
    snprintf(j.status, sizeof j.status, "running");
    j.filter = *f;
    snprintf(j.who, sizeof j.who, "%s", actor->who);
    snprintf(j.trace_id, sizeof j.trace_id, "%s", actor->trace_id);
    bson_t doc = BSON_INITIALIZER;
    job_doc(&doc, &j);
    int rc = mongo_insert(r->db, DEAD_LETTER_REPLAYS_COLLECTION, &doc, err);
    bson_destroy(&doc);
    if (rc == 0) {
        r->job = j;
        atomic_store(&r->cancel, false);
        r->running = worker_start(&r->thread, job_main, r) == 0;
        if (!r->running) {
            bson_set_error(err, 0, 0, "cannot start the replay thread");
            rc = -1;
        }
    }
    if (rc == 0) {
        *outcome = REPLAY_STARTED;
        *job = j;
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

int replays_cancel(replays *r, const char *id)
{
    pthread_mutex_lock(&r->mu);
    bool active = r->running && strcmp(r->job.id, id) == 0;
    if (active)
        atomic_store(&r->cancel, true);
    pthread_mutex_unlock(&r->mu);
    return active ? 0 : -1;
}

int replays_get(replays *r, const char *id, replay_job *job, bson_error_t *err)
{
    return mongo_find_id(r->db, DEAD_LETTER_REPLAYS_COLLECTION, id, decode_job, job, err);
}
