#include "replay_internal.h"

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

replays *replays_new(mongo_db *db, buckets *bk, const intake_currencies *accepted,
                     const char *event_source, int64_t max_consultation_ms)
{
    replays *r = xcalloc(1, sizeof *r);
    r->db = db;
    r->bk = bk;
    r->accepted = *accepted;
    snprintf(r->event_source, sizeof r->event_source, "%s", event_source);
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

/* The headers a replay reads, copied out of a stored record. */
typedef struct stored_headers {
    char ce_type[256], ce_id[256], ce_source[256]; /* as long as a stored value */
} stored_headers;

/* The stored message of doc: its value (borrowed from doc) and the three
 * CloudEvents headers (copied into *hs). */
static void stored_message(const bson_t *doc, intake_message *m, stored_headers *hs)
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
        char name[32] = "", value[256] = "";
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
            snprintf(hs->ce_type, sizeof hs->ce_type, "%s", value);
            m->ce_type = hs->ce_type;
        } else if (has_value && strcmp(name, "ce_id") == 0) {
            snprintf(hs->ce_id, sizeof hs->ce_id, "%s", value);
            m->ce_id = hs->ce_id;
        } else if (has_value && strcmp(name, "ce_source") == 0) {
            snprintf(hs->ce_source, sizeof hs->ce_source, "%s", value);
            m->ce_source = hs->ce_source;
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

int replay_doc(replays *r, const bson_t *doc, bool dry_run, replay_result *res, char *detail,
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
    stored_headers hs;
    stored_message(doc, &m, &hs);
    intake_rules rules = {&r->accepted, r->event_source, r->max_consultation_ms};
    billing b;
    intake_reason why;
    detail[0] = '\0';
    if (intake_judge(&m, &rules, clock_now_ms(), &b, &why, detail, detaillen) != 0) {
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

void replay_append_counts(bson_t *doc, const replay_counts *c)
{
    bson_t sub;
    BSON_APPEND_DOCUMENT_BEGIN(doc, "counts", &sub);
    BSON_APPEND_INT64(&sub, "matched", c->matched);
    for (int i = 0; i < REPLAY_NRESULTS; i++)
        BSON_APPEND_INT64(&sub, replay_result_name((replay_result)i), c->by[i]);
    bson_append_document_end(doc, &sub);
}

void replay_append_filter(bson_t *doc, const replay_filter *f)
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

int replay_audit(replays *r, const char *action, const replay_actor *actor, const replay_filter *f,
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
    replay_append_filter(&doc, f);
    replay_append_counts(&doc, c);
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
    return replay_audit(r, "dead_letter.replay", actor, &f, &c, NULL, err);
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
