#include "replay.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "billing_delay.h"
#include "billing_store.h"
#include "bsonread.h"
#include "clock.h"
#include "dead_letters.h"
#include "log.h"
#include "metrics.h"
#include "worker.h"

#define JOB_PAGE 50

static const char *const result_names[REPLAY_NRESULTS] = {
    [REPLAY_BILLED] = "billed",
    [REPLAY_ALREADY_BILLED] = "already_billed",
    [REPLAY_STILL_FAILING] = "still_failing",
    [REPLAY_SKIPPED] = "skipped",
};

const char *replay_result_name(replay_result r)
{
    return (unsigned)r < REPLAY_NRESULTS ? result_names[r] : result_names[REPLAY_SKIPPED];
}

struct replays {
    mongo_db *db;
    buckets *bk;
    intake_currencies accepted;
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

replays *replays_new(mongo_db *db, buckets *bk, const intake_currencies *accepted,
                     int64_t max_consultation_ms)
{
    replays *r = xcalloc(1, sizeof *r);
    r->db = db;
    r->bk = bk;
    r->accepted = *accepted;
    r->max_consultation_ms = max_consultation_ms;
    pthread_mutex_init(&r->mu, NULL);
    pthread_mutex_init(&r->open_mu, NULL);
    worker_init(&r->thread);
    atomic_init(&r->cancel, false);
    return r;
}

void replays_stop(replays *r)
{
    if (r)
        atomic_store(&r->cancel, true);
}

void replays_free(replays *r)
{
    if (!r)
        return;
    replays_stop(r);
    worker_join(&r->thread);
    pthread_mutex_destroy(&r->open_mu);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ---- one dead letter ---- */

/* The stored message of doc: its value (borrowed from doc) and the two
 * CloudEvents headers (copied into ce_type and ce_id). */
static void stored_message(const bson_t *doc, intake_message *m, char *ce_type, char *ce_id,
                           size_t n)
{
    memset(m, 0, sizeof *m);
    bson_iter_t it, arr, h;
    if (bson_iter_init_find(&it, doc, "value") && BSON_ITER_HOLDS_BINARY(&it)) {
        bson_subtype_t sub;
        uint32_t len;
        const uint8_t *data;
        bson_iter_binary(&it, &sub, &len, &data);
        m->value = (const char *)data;
        m->len = len;
    }
    if (!bson_iter_init_find(&it, doc, "headers") || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &arr))
        return;
    while (bson_iter_next(&arr)) {
        char name[32] = "", value[128] = "";
        bool has_value = false;
        if (!BSON_ITER_HOLDS_DOCUMENT(&arr) || !bson_iter_recurse(&arr, &h))
            continue;
        while (bson_iter_next(&h)) {
            if (strcmp(bson_iter_key(&h), "name") == 0) {
                mongo_iter_str(&h, name, sizeof name);
            } else if (strcmp(bson_iter_key(&h), "value") == 0 && BSON_ITER_HOLDS_UTF8(&h)) {
                mongo_iter_str(&h, value, sizeof value);
                has_value = true;
            }
        }
        /* The last one wins, as kafka_message_header's lookup does. */
        if (has_value && strcmp(name, "ce_type") == 0) {
            snprintf(ce_type, n, "%s", value);
            m->ce_type = ce_type;
        } else if (has_value && strcmp(name, "ce_id") == 0) {
            snprintf(ce_id, n, "%s", value);
            m->ce_id = ce_id;
        }
    }
}

/* Marks d still failing for why/detail: attempts + 1, last_seen now. */
static int mark_failing(replays *r, const dead_letter *d, intake_reason why, const char *detail,
                        bson_error_t *err)
{
    bson_t *upd = BCON_NEW("$set", "{", "reason", BCON_UTF8(intake_reason_name(why)), "detail",
                           BCON_UTF8(detail), "last_seen", BCON_DATE_TIME(clock_now_ms()), "}",
                           "$inc", "{", "attempts", BCON_INT64(1), "}");
    int matched;
    int rc = dead_letters_update_open(r->db, d->source, upd, &matched, err);
    bson_destroy(upd);
    return rc;
}

static int mark_replayed(replays *r, const dead_letter *d, replay_result res, bson_error_t *err)
{
    int64_t now = clock_now_ms();
    bson_t *upd = BCON_NEW(
        "$set", "{", "status", BCON_UTF8(dead_letter_status_name(DEAD_LETTER_REPLAYED)),
        "replay_result", BCON_UTF8(replay_result_name(res)), "replayed_at", BCON_DATE_TIME(now),
        "last_seen", BCON_DATE_TIME(now), "}", "$inc", "{", "attempts", BCON_INT64(1), "}");
    int matched;
    int rc = dead_letters_update_open(r->db, d->source, upd, &matched, err);
    bson_destroy(upd);
    return rc;
}

/* The replay of doc, without the audit record. */
static int replay_doc(replays *r, const bson_t *doc, bool dry_run, replay_result *res, char *detail,
                      size_t detaillen, bson_error_t *err)
{
    dead_letter d;
    dead_letters_decode(doc, &d);
    if (strcmp(d.status, dead_letter_status_name(DEAD_LETTER_DISCARDED)) == 0 || d.truncated) {
        snprintf(detail, detaillen, "%s",
                 d.truncated ? "the stored value is truncated: it cannot be replayed"
                             : "discarded");
        *res = REPLAY_SKIPPED;
        return 0;
    }
    intake_message m;
    char ce_type[128], ce_id[128];
    stored_message(doc, &m, ce_type, ce_id, sizeof ce_type);
    billing b;
    intake_reason why;
    detail[0] = '\0';
    if (intake_judge(&m, &r->accepted, r->max_consultation_ms, clock_now_ms(), &b, &why, detail,
                     detaillen) != 0) {
        *res = REPLAY_STILL_FAILING;
        if (!dry_run && mark_failing(r, &d, why, detail, err) != 0)
            return -1;
    } else if (dry_run) {
        int found =
            mongo_find_id(r->db, BILLING_COLLECTION, b.event.appointment_id, NULL, NULL, err);
        if (found < 0)
            return -1;
        *res = found ? REPLAY_ALREADY_BILLED : REPLAY_BILLED;
    } else {
        bool created;
        if (billing_store_insert_many(r->db, r->bk, &b, 1, &created, err) != 0)
            return -1;
        if (created)
            billing_delay_observe(b.event.end_ms, clock_now_ms());
        *res = created ? REPLAY_BILLED : REPLAY_ALREADY_BILLED;
        if (mark_replayed(r, &d, *res, err) != 0)
            return -1;
    }
    if (!dry_run)
        metrics_inc(&r->results[*res]);
    log_info("dead letter replayed", "id", d.id, "source", d.source, "result",
             replay_result_name(*res), "dry_run", dry_run ? "true" : "false", "appointment_id",
             d.appointment_id, NULL);
    return 0;
}

/* ---- the audit trail ---- */

static void append_counts(bson_t *doc, const replay_counts *c)
{
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "counts", &sub);
    BSON_APPEND_INT64(&sub, "matched", c->matched);
    for (int i = 0; i < REPLAY_NRESULTS; i++)
        BSON_APPEND_INT64(&sub, result_names[i], c->by[i]);
    bson_append_document_end(doc, &sub);
}

static void append_filter(bson_t *doc, const replay_filter *f)
{
    bson_t sub, ids;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "filter", &sub);
    if (f->has_reason)
        BSON_APPEND_UTF8(&sub, "reason", intake_reason_name(f->reason));
    if (f->has_from)
        BSON_APPEND_DATE_TIME(&sub, "from", f->from_ms);
    if (f->has_to)
        BSON_APPEND_DATE_TIME(&sub, "to", f->to_ms);
    BSON_APPEND_ARRAY_BEGIN(&sub, "ids", &ids);
    for (size_t i = 0; i < f->nids; i++) {
        char k[24];
        snprintf(k, sizeof k, "%zu", i);
        BSON_APPEND_UTF8(&ids, k, f->ids[i]);
    }
    bson_append_array_end(&sub, &ids);
    BSON_APPEND_BOOL(&sub, "dry_run", f->dry_run);
    BSON_APPEND_INT64(&sub, "limit", f->limit);
    BSON_APPEND_INT64(&sub, "max_per_second", f->max_per_second);
    bson_append_document_end(doc, &sub);
}

/* Writes one audit record: action, who, when, filter, counts, trace id,
 * and the job or the single result. */
static int audit(replays *r, const char *action, const replay_actor *actor, const replay_filter *f,
                 const replay_counts *c, const char *job_id, bson_error_t *err)
{
    char id[UUID_STR_LEN];
    int64_t now = clock_now_ms();
    uuid_v7(id, now);
    bson_t doc = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&doc, "_id", id);
    BSON_APPEND_UTF8(&doc, "action", action);
    BSON_APPEND_UTF8(&doc, "who", actor->who);
    BSON_APPEND_DATE_TIME(&doc, "at", now);
    BSON_APPEND_UTF8(&doc, "trace_id", actor->trace_id);
    append_filter(&doc, f);
    append_counts(&doc, c);
    if (job_id)
        BSON_APPEND_UTF8(&doc, "job_id", job_id);
    int rc = dead_letters_audit(r->db, &doc, err);
    bson_destroy(&doc);
    return rc;
}

int replays_one(replays *r, const bson_t *doc, bool dry_run, const replay_actor *actor,
                replay_result *res, char *detail, size_t detaillen, bson_error_t *err)
{
    if (replay_doc(r, doc, dry_run, res, detail, detaillen, err) != 0)
        return -1;
    replay_filter f;
    memset(&f, 0, sizeof f);
    dead_letter d;
    dead_letters_decode(doc, &d);
    f.nids = 1;
    snprintf(f.ids[0], sizeof f.ids[0], "%s", d.id);
    f.dry_run = dry_run;
    f.limit = 1;
    replay_counts c = {.matched = 1};
    c.by[*res] = 1;
    return audit(r, "dead_letter.replay", actor, &f, &c, NULL, err);
}

/* ---- jobs ---- */

static void job_doc(bson_t *doc, const replay_job *j)
{
    BSON_APPEND_UTF8(doc, "_id", j->id);
    BSON_APPEND_UTF8(doc, "status", j->status);
    append_filter(doc, &j->filter);
    append_counts(doc, &j->counts);
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
    if (audit(r, "dead_letter.replay_job", &actor, &j.filter, &j.counts, j.id, &err) != 0)
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

/* ---- metrics ---- */

void replays_render_metrics(replays *r, buf *out)
{
    pthread_mutex_lock(&r->open_mu);
    int64_t now = clock_mono_ms();
    if (r->open_read_ms == 0 || now - r->open_read_ms >= DEAD_LETTERS_OPEN_REFRESH_MS) {
        int64_t counts[INTAKE_NREASONS];
        bson_error_t err;
        if (dead_letters_count_open(r->db, counts, &err) == 0)
            memcpy(r->open, counts, sizeof counts);
        r->open_read_ms = now; /* a failed read is not retried at every scrape either */
    }
    int64_t open[INTAKE_NREASONS];
    memcpy(open, r->open, sizeof open);
    pthread_mutex_unlock(&r->open_mu);

    char labels[64];
    static const char open_name[] = "clinic_dead_letters_open";
    metrics_family(out, open_name, "gauge",
                   "Dead letters waiting for an operator, by reason (read from the collection)");
    for (int i = 0; i < INTAKE_NREASONS; i++) {
        snprintf(labels, sizeof labels, "reason=\"%s\"", intake_reason_name((intake_reason)i));
        metrics_sample_i(out, open_name, labels, open[i]);
    }
    static const char replays_name[] = "clinic_dead_letter_replays_total";
    metrics_family(out, replays_name, "counter", "Dead letters replayed (not dry runs), by result");
    for (int i = 0; i < REPLAY_NRESULTS; i++) {
        snprintf(labels, sizeof labels, "result=\"%s\"", result_names[i]);
        metrics_sample(out, replays_name, labels, metrics_get(&r->results[i]));
    }
}
