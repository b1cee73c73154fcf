#include "day_totals.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "bsonread.h"
#include "clock.h"
#include "timefmt.h"
#include "uuid.h"

/* The calling thread's writer: its id, made at its first write, and its
 * sequence. One thread writes its marks one after another, so its documents
 * only ever see its own, growing, values. */
static _Thread_local char writer_id[UUID_STR_LEN];
static _Thread_local int64_t writer_seq;

#define MARK_ID_LEN (BUCKET_DAY_LEN + UUID_STR_LEN)
#define TOTAL_ID_LEN (BUCKET_DAY_LEN + 32 + 8)

static void month_of(const char *day, char month[DAY_MONTH_LEN])
{
    snprintf(month, DAY_MONTH_LEN, "%.7s", day);
}

int day_totals_setup(mongo_db *db, bson_error_t *err)
{
    /* A summary reads a month's documents by that equality (FerretDB serves
     * nothing else from an index). */
    static const mongo_field_index month[] = {{"month", "month", false}};
    static const mongo_field_index year[] = {{"year", "year", false}};
    return mongo_db_setup_collection(db, DAY_GEN_COLLECTION, month, 1, err) ||
                   mongo_db_setup_collection(db, DAY_TOTALS_COLLECTION, month, 1, err) ||
                   mongo_db_setup_collection(db, DAY_MONTH_TOTALS_COLLECTION, year, 1, err)
               ? -1
               : 0;
}

static int day_cmp(const void *x, const void *y)
{
    return strcmp(x, y);
}

size_t day_totals_distinct(char (*days)[BUCKET_DAY_LEN], size_t n)
{
    if (n < 2)
        return n;
    qsort(days, n, sizeof *days, day_cmp);
    size_t k = 1;
    for (size_t i = 1; i < n; i++)
        if (strcmp(days[i], days[k - 1]) != 0)
            memcpy(days[k++], days[i], sizeof *days);
    return k;
}

/* The calling thread's deferred end (day_totals_defer_ends): the days of
 * its last write, not yet marked done, and the gen to mark them with. */
static _Thread_local bool defer_ends;
static _Thread_local char pending_days[DAY_TOTALS_DEFER_MAX][BUCKET_DAY_LEN];
static _Thread_local size_t npending;
static _Thread_local int64_t pending_gen;

size_t day_marks_merge(const char (*ended)[BUCKET_DAY_LEN], size_t nended,
                       const char (*begun)[BUCKET_DAY_LEN], size_t nbegun, day_mark *out)
{
    size_t i = 0, j = 0, n = 0;
    while (i < nended || j < nbegun) {
        int c = i == nended ? 1 : j == nbegun ? -1 : strcmp(ended[i], begun[j]);
        day_mark *m = &out[n++];
        memcpy(m->day, c <= 0 ? ended[i] : begun[j], BUCKET_DAY_LEN);
        m->ends = c <= 0;
        m->begins = c >= 0;
        i += c <= 0;
        j += c >= 0;
    }
    return n;
}

typedef struct mark_ctx {
    const day_mark *marks;
    int64_t begun, gen; /* the values of a mark that begins / ends */
} mark_ctx;

/* One upsert of this writer's document of mark i's day: $max, not $set, so
 * a delayed write of an older value can never lower it. */
static void add_mark(mongoc_bulk_operation_t *bulk, size_t i, void *ctx)
{
    const mark_ctx *m = ctx;
    const day_mark *dm = &m->marks[i];
    char id[MARK_ID_LEN], month[DAY_MONTH_LEN];
    snprintf(id, sizeof id, "%s/%s", dm->day, writer_id);
    month_of(dm->day, month);
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(id));
    bson_t upd = BSON_INITIALIZER, set, max;
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$set", &set);
    BSON_APPEND_UTF8(&set, "end_day", dm->day);
    BSON_APPEND_UTF8(&set, "month", month);
    bson_append_document_end(&upd, &set);
    BSON_APPEND_DOCUMENT_BEGIN(&upd, "$max", &max);
    if (dm->begins)
        BSON_APPEND_INT64(&max, "begun", m->begun);
    if (dm->ends)
        BSON_APPEND_INT64(&max, "gen", m->gen);
    bson_append_document_end(&upd, &max);
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    mongoc_bulk_operation_update_one_with_opts(bulk, sel, &upd, opts, NULL);
    bson_destroy(opts);
    bson_destroy(&upd);
    bson_destroy(sel);
}

/* Writes, in one bulk write, the end of this thread's pending days (if any)
 * and the begun marks of days[0..n) (at seq). The pending end is cleared once
 * written. */
static int write_marks(mongo_db *db, const char (*days)[BUCKET_DAY_LEN], size_t n, int64_t seq,
                       const bson_t *opts, bson_error_t *err)
{
    if (npending + n == 0)
        return 0;
    day_mark *marks = xmalloc((npending + n) * sizeof *marks);
    size_t nmarks =
        day_marks_merge((const char(*)[BUCKET_DAY_LEN])pending_days, npending, days, n, marks);
    mark_ctx m = {marks, seq, pending_gen};
    int rc = mongo_bulk_write(db, DAY_GEN_COLLECTION, opts, nmarks, add_mark, NULL, &m, err);
    free(marks);
    if (rc == 0)
        npending = 0;
    return rc;
}

void day_totals_defer_ends(bool on)
{
    defer_ends = on;
}

int day_totals_begin(mongo_db *db, const char (*days)[BUCKET_DAY_LEN], size_t n, const bson_t *opts,
                     int64_t *seq, bson_error_t *err)
{
    if (!writer_id[0])
        uuid_v4(writer_id);
    *seq = ++writer_seq;
    return write_marks(db, days, n, *seq, opts, err);
}

int day_totals_flush(mongo_db *db, const bson_t *opts, bson_error_t *err)
{
    return write_marks(db, NULL, 0, 0, opts, err);
}

int day_totals_end(mongo_db *db, const char (*days)[BUCKET_DAY_LEN], size_t n, const bson_t *opts,
                   int64_t seq, bson_error_t *err)
{
    /* Joined to the pending days: their writes are complete too, and a gen
     * only has to grow once a write is, so the newest seq ends them all. */
    day_mark *marks = xmalloc((npending + n) * sizeof *marks);
    size_t nmarks =
        day_marks_merge((const char(*)[BUCKET_DAY_LEN])pending_days, npending, days, n, marks);
    int rc = 0;
    if (defer_ends && nmarks <= DAY_TOTALS_DEFER_MAX) {
        for (size_t i = 0; i < nmarks; i++)
            memcpy(pending_days[i], marks[i].day, BUCKET_DAY_LEN);
        npending = nmarks;
        pending_gen = seq;
    } else if (nmarks > 0) {
        for (size_t i = 0; i < nmarks; i++) {
            marks[i].ends = true;
            marks[i].begins = false;
        }
        mark_ctx m = {marks, 0, seq};
        rc = mongo_bulk_write(db, DAY_GEN_COLLECTION, opts, nmarks, add_mark, NULL, &m, err);
        if (rc == 0)
            npending = 0;
    }
    free(marks);
    return rc;
}

void day_gen_add(day_gen *g, int64_t begun, int64_t gen)
{
    g->sum += gen;
    if (begun > gen)
        g->in_flight = true;
}

bool day_totals_usable(const day_gen *g, int64_t total_gen)
{
    return !g->in_flight && g->sum == total_gen;
}

bool day_totals_storable(int64_t day_start_ms, size_t groups, int64_t now_ms)
{
    return groups > 0 && day_start_ms + 86400000 + DAY_TOTALS_SETTLE_MS <= now_ms;
}

int64_t day_totals_day_start_ms(const char *day)
{
    unsigned y = 0, m = 0, d = 0;
    if (sscanf(day, "%4u-%2u-%2u", &y, &m, &d) != 3)
        return 0;
    return timefmt_days_from_civil((int64_t)y, m, d) * 86400000;
}

bool day_totals_day_whole(const char *day, int64_t from_ms, int64_t to_ms)
{
    int64_t start = day_totals_day_start_ms(day);
    return from_ms <= start && start <= to_ms - 86400000;
}

static int64_t month_start_ms(const char *month, unsigned later)
{
    unsigned y = 0, m = 0;
    if (sscanf(month, "%4u-%2u", &y, &m) != 2 || m < 1 || m > 12)
        return 0;
    m += later;
    if (m > 12) {
        m -= 12;
        y++;
    }
    return timefmt_days_from_civil((int64_t)y, m, 1) * 86400000;
}

int64_t day_totals_month_start_ms(const char *month)
{
    return month_start_ms(month, 0);
}

int64_t day_totals_month_end_ms(const char *month)
{
    return month_start_ms(month, 1);
}

size_t day_totals_months(const char (*days)[BUCKET_DAY_LEN], size_t n, int64_t from_ms,
                         int64_t to_ms, day_month *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char m[DAY_MONTH_LEN];
        month_of(days[i], m);
        if (k > 0 && strcmp(out[k - 1].month, m) == 0)
            continue;
        day_month *dm = &out[k++];
        memset(dm, 0, sizeof *dm);
        memcpy(dm->month, m, sizeof m);
        dm->whole = from_ms <= day_totals_month_start_ms(m) && day_totals_month_end_ms(m) <= to_ms;
    }
    return k;
}

void day_month_add(day_month *m, bool listed, int64_t begun, int64_t gen)
{
    day_gen_add(&m->gen, begun, gen);
    if (!listed)
        m->unlisted = true;
}

bool day_totals_month_usable(const day_month *m, int64_t total_gen)
{
    return m->whole && day_totals_usable(&m->gen, total_gen);
}

bool day_totals_month_storable(const day_month *m, size_t groups, int64_t now_ms)
{
    return m->whole && !m->unlisted && !m->gen.in_flight && groups > 0 &&
           day_totals_month_end_ms(m->month) + DAY_TOTALS_SETTLE_MS <= now_ms;
}

billing_summary_outcome day_totals_fold_groups(const bson_t *total, billing_fold *f)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, total, "groups") || !BSON_ITER_HOLDS_UTF8(&it))
        return f->outcome;
    /* One line per group, "<key> <count> <total cents>\n": a string, not an
     * array of documents, because FerretDB's cost is per value read (a
     * year's 365 totals of 50 groups were 55,000 values, 0.5 s). */
    const char *p = bson_iter_utf8(&it, NULL);
    while (f->outcome == BILLING_SUMMARY_OK && *p) {
        const char *sp = strchr(p, ' ');
        if (!sp)
            break;
        char key[UUID_STR_LEN];
        size_t klen = (size_t)(sp - p) < sizeof key - 1 ? (size_t)(sp - p) : sizeof key - 1;
        memcpy(key, p, klen);
        key[klen] = '\0';
        char *next;
        long long n = strtoll(sp + 1, &next, 10);
        long long t = strtoll(next, &next, 10);
        billing_fold_add_n(f, key, (int64_t)n, (int64_t)t);
        const char *nl = strchr(next, '\n');
        if (!nl)
            break;
        p = nl + 1;
    }
    return f->outcome;
}

int day_totals_add_billing(const bson_t *doc, void *ctx)
{
    day_totals_row *r = ctx;
    char key[UUID_STR_LEN] = "";
    int64_t total_cents = 0;
    bson_iter_t it;
    if (bson_iter_init(&it, doc)) {
        while (bson_iter_next(&it)) {
            const char *k = bson_iter_key(&it);
            if (strcmp(k, r->key_field) == 0)
                mongo_iter_str(&it, key, sizeof key);
            else if (strcmp(k, "total_cents") == 0)
                total_cents = mongo_iter_int(&it);
        }
    }
    return billing_fold_add(r->fold, key, total_cents) == BILLING_SUMMARY_OK ? 0 : 1;
}

/* One whole day of the summary. */
typedef struct day_slot {
    char day[BUCKET_DAY_LEN];
    day_gen gen;
    bool done; /* folded from its stored total */
} day_slot;

typedef struct fold_ctx {
    const day_totals_query *q;
    day_slot *slots; /* sorted by day */
    size_t n;
    day_month *months; /* sorted by month */
    size_t nmonths;
    day_slot *marked; /* whole days only marks name, until merged into slots */
    size_t nmarked, capmarked;
    billing_fold *f; /* where stored totals fold */
} fold_ctx;

static day_slot *slot_of(const fold_ctx *c, const char *day)
{
    return bsearch(day, c->slots, c->n, sizeof *c->slots, day_cmp);
}

static day_month *month_slot_of(const fold_ctx *c, const char *month)
{
    return bsearch(month, c->months, c->nmonths, sizeof *c->months, day_cmp);
}

/* A mark or total as read back. */
typedef struct day_doc {
    char end_day[BUCKET_DAY_LEN];
    char month[DAY_MONTH_LEN];
    int64_t begun, gen;
} day_doc;

static const bsonread_field day_doc_fields[] = {
    BSONREAD_STR("end_day", day_doc, end_day),
    BSONREAD_STR("month", day_doc, month),
    BSONREAD_INT("begun", day_doc, begun),
    BSONREAD_INT("gen", day_doc, gen),
};

static day_doc read_day_doc(const bson_t *doc)
{
    day_doc d;
    memset(&d, 0, sizeof d);
    bsonread_doc(doc, day_doc_fields, BSONREAD_COUNT(day_doc_fields), &d);
    return d;
}

/* The slot of a whole day of the range that only a mark names (its bucket
 * record missing), made at its first mark; NULL for a day not whole. */
static day_slot *marked_slot_of(fold_ctx *c, const char *day)
{
    for (size_t i = 0; i < c->nmarked; i++)
        if (strcmp(c->marked[i].day, day) == 0)
            return &c->marked[i];
    if (strlen(day) != BUCKET_DAY_LEN - 1 || !day_totals_day_whole(day, c->q->from_ms, c->q->to_ms))
        return NULL;
    if (c->nmarked == c->capmarked) {
        c->capmarked = c->capmarked ? 2 * c->capmarked : 8;
        c->marked = xrealloc(c->marked, c->capmarked * sizeof *c->marked);
    }
    day_slot *s = &c->marked[c->nmarked++];
    memset(s, 0, sizeof *s);
    memcpy(s->day, day, BUCKET_DAY_LEN);
    return s;
}

/* mongo_find_each over DAY_GEN_COLLECTION (a month of c's at a time): a mark
 * counts for its day and for its month (whose sum takes every mark). */
static int add_gen(const bson_t *doc, void *ctx)
{
    fold_ctx *c = ctx;
    day_doc d = read_day_doc(doc);
    char month[DAY_MONTH_LEN];
    month_of(d.end_day, month);
    day_month *m = month_slot_of(c, month);
    if (!m)
        return 0;
    day_slot *s = slot_of(c, d.end_day);
    if (!s)
        s = marked_slot_of(c, d.end_day);
    if (s)
        day_gen_add(&s->gen, d.begun, d.gen);
    day_month_add(m, s != NULL, d.begun, d.gen);
    return 0;
}

/* mongo_find_each over DAY_TOTALS_COLLECTION: a usable total is folded. */
static int add_total(const bson_t *doc, void *ctx)
{
    fold_ctx *c = ctx;
    day_doc d = read_day_doc(doc);
    day_slot *s = slot_of(c, d.end_day);
    if (!s || s->done || !day_totals_usable(&s->gen, d.gen))
        return 0;
    s->done = true;
    return day_totals_fold_groups(doc, c->f) == BILLING_SUMMARY_OK ? 0 : 1;
}

/* mongo_find_each over DAY_MONTH_TOTALS_COLLECTION: a usable month total is
 * folded, and its month done (none of its days is read). */
static int add_month_total(const bson_t *doc, void *ctx)
{
    fold_ctx *c = ctx;
    day_doc d = read_day_doc(doc);
    day_month *m = month_slot_of(c, d.month);
    if (!m || m->done || !day_totals_month_usable(m, d.gen))
        return 0;
    m->done = true;
    return day_totals_fold_groups(doc, c->f) == BILLING_SUMMARY_OK ? 0 : 1;
}

/* Runs each over the documents of coll whose `field` is `value`, with
 * `extra` equalities. */
static int find_where(mongo_db *db, const char *coll, const char *field, const char *value,
                      const bson_t *extra, int (*each)(const bson_t *, void *), void *ctx,
                      bson_error_t *err)
{
    bson_t filter = BSON_INITIALIZER;
    BSON_APPEND_UTF8(&filter, field, value);
    if (extra)
        bson_concat(&filter, extra);
    int rc = mongo_find_each(db, coll, &filter, NULL, each, ctx, err);
    bson_destroy(&filter);
    return rc;
}

typedef struct store_ctx {
    const bson_t *sel, *doc;
} store_ctx;

static void add_replace(mongoc_bulk_operation_t *bulk, size_t i, void *ctx)
{
    (void)i;
    const store_ctx *s = ctx;
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    mongoc_bulk_operation_replace_one_with_opts(bulk, s->sel, s->doc, opts, NULL);
    bson_destroy(opts);
}

/* Stores the total `id` of coll: head's fields, then the gen read before
 * groups[0..n) were counted, then the groups. Unconditional: a total only
 * counts while its gen is its day's or month's. */
static int store_total(mongo_db *db, const char *coll, const char *id, const bson_t *head,
                       int64_t gen, const billing_group *groups, size_t n, bson_error_t *err)
{
    buf lines;
    buf_init(&lines);
    for (size_t i = 0; i < n; i++)
        buf_printf(&lines, "%s %" PRId64 " %" PRId64 "\n", groups[i].key, groups[i].count,
                   groups[i].total_cents);
    bson_t doc = BSON_INITIALIZER;
    bson_concat(&doc, head);
    BSON_APPEND_INT64(&doc, "gen", gen);
    bson_append_utf8(&doc, "groups", -1, lines.len ? lines.ptr : "", (int)lines.len);
    buf_free(&lines);
    bson_t *sel = BCON_NEW("_id", BCON_UTF8(id));
    store_ctx sc = {sel, &doc};
    int rc = mongo_bulk_write(db, coll, NULL, 1, add_replace, NULL, &sc, err);
    bson_destroy(sel);
    bson_destroy(&doc);
    return rc;
}

static int store_day_total(mongo_db *db, const day_totals_query *q, const day_slot *s,
                           const billing_group *groups, size_t n, bson_error_t *err)
{
    char id[TOTAL_ID_LEN], month[DAY_MONTH_LEN];
    snprintf(id, sizeof id, "%s/%s/%s", s->day, q->key_field, q->currency);
    month_of(s->day, month);
    bson_t *head = BCON_NEW("end_day", BCON_UTF8(s->day), "month", BCON_UTF8(month), "by",
                            BCON_UTF8(q->key_field), "currency", BCON_UTF8(q->currency));
    int rc = store_total(db, DAY_TOTALS_COLLECTION, id, head, s->gen.sum, groups, n, err);
    bson_destroy(head);
    return rc;
}

static int store_month_total(mongo_db *db, const day_totals_query *q, const day_month *m,
                             const billing_group *groups, size_t n, bson_error_t *err)
{
    char id[TOTAL_ID_LEN], year[DAY_YEAR_LEN];
    snprintf(id, sizeof id, "%s/%s/%s", m->month, q->key_field, q->currency);
    snprintf(year, sizeof year, "%.4s", m->month);
    bson_t *head = BCON_NEW("month", BCON_UTF8(m->month), "year", BCON_UTF8(year), "by",
                            BCON_UTF8(q->key_field), "currency", BCON_UTF8(q->currency));
    int rc = store_total(db, DAY_MONTH_TOTALS_COLLECTION, id, head, m->gen.sum, groups, n, err);
    bson_destroy(head);
    return rc;
}

/* After the reads of one day or month into `part` ended with rc: hands
 * part's groups over as *groups, *n and adds them to f. Returns rc, or 1
 * when part's or f's outcome stopped it (f's outcome says why). */
static int fold_part(billing_fold *part, int rc, billing_fold *f, billing_group **groups, size_t *n)
{
    if (rc < 0)
        return rc;
    billing_summary_outcome o = billing_fold_finish(part, groups, n);
    if (o != BILLING_SUMMARY_OK) {
        f->outcome = o;
        return 1;
    }
    for (size_t i = 0; rc == 0 && i < *n; i++)
        if (billing_fold_add_n(f, (*groups)[i].key, (*groups)[i].count, (*groups)[i].total_cents) !=
            BILLING_SUMMARY_OK)
            rc = 1;
    return rc;
}

/* Recounts s's day from its billings (one equality query), folds it into f
 * and stores it. 0, 1 (f's outcome), or -1 with err. */
static int recount(mongo_db *db, const day_totals_query *q, const day_slot *s, billing_fold *f,
                   bson_error_t *err)
{
    billing_fold day;
    billing_fold_init(&day, f->max_groups);
    day_totals_row row = {q->key_field, &day};
    bson_t *filter = BCON_NEW("end_day", BCON_UTF8(s->day), "currency", BCON_UTF8(q->currency));
    bson_t *proj = BCON_NEW(q->key_field, BCON_INT32(1), "total_cents", BCON_INT32(1));
    int rc = mongo_find_each(db, q->billings, filter, proj, day_totals_add_billing, &row, err);
    bson_destroy(proj);
    bson_destroy(filter);
    billing_group *groups = NULL;
    size_t n = 0;
    rc = fold_part(&day, rc, f, &groups, &n);
    if (rc == 0 && day_totals_storable(day_totals_day_start_ms(s->day), n, clock_now_ms()))
        rc = store_day_total(db, q, s, groups, n, err);
    free(groups);
    billing_fold_destroy(&day);
    return rc;
}

/* Folds month m into f from its days (their totals, or recounted), and
 * stores it as a month total when it may be. 0, 1 (f's outcome), or -1 with
 * err. */
static int fold_month(mongo_db *db, const fold_ctx *c, day_month *m, billing_fold *f,
                      bson_error_t *err)
{
    const day_totals_query *q = c->q;
    billing_fold mf;
    billing_fold_init(&mf, f->max_groups);
    fold_ctx mc = *c;
    mc.f = &mf;
    bson_t *extra = BCON_NEW("by", BCON_UTF8(q->key_field), "currency", BCON_UTF8(q->currency));
    int rc = find_where(db, DAY_TOTALS_COLLECTION, "month", m->month, extra, add_total, &mc, err);
    bson_destroy(extra);
    for (size_t i = 0; i < c->n && rc == 0; i++)
        if (strncmp(c->slots[i].day, m->month, DAY_MONTH_LEN - 1) == 0 && !c->slots[i].done)
            rc = recount(db, q, &c->slots[i], &mf, err);
    billing_group *groups = NULL;
    size_t n = 0;
    rc = fold_part(&mf, rc, f, &groups, &n);
    if (rc == 0 && day_totals_month_storable(m, n, clock_now_ms()))
        rc = store_month_total(db, q, m, groups, n, err);
    free(groups);
    billing_fold_destroy(&mf);
    return rc;
}

int day_totals_fold(mongo_db *db, const day_totals_query *q, const char (*days)[BUCKET_DAY_LEN],
                    size_t n, billing_fold *f, bson_error_t *err)
{
    if (n == 0)
        return 0;
    char(*sorted)[BUCKET_DAY_LEN] = xmalloc(n * sizeof *sorted);
    memcpy(sorted, days, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, day_cmp);
    fold_ctx c = {.q = q,
                  .slots = xcalloc(n, sizeof(day_slot)),
                  .n = n,
                  .months = xcalloc(n, sizeof(day_month)),
                  .f = f};
    for (size_t i = 0; i < n; i++)
        memcpy(c.slots[i].day, sorted[i], BUCKET_DAY_LEN);
    c.nmonths =
        day_totals_months((const char(*)[BUCKET_DAY_LEN])sorted, n, q->from_ms, q->to_ms, c.months);
    free(sorted);
    /* The gens first, then the totals: a total counts only at the gen read
     * here, which is also the gen a recount below stores. */
    int rc = 0;
    for (size_t i = 0; i < c.nmonths && rc == 0; i++)
        rc = find_where(db, DAY_GEN_COLLECTION, "month", c.months[i].month, NULL, add_gen, &c, err);
    if (c.nmarked > 0) {
        c.slots = xrealloc(c.slots, (c.n + c.nmarked) * sizeof *c.slots);
        memcpy(c.slots + c.n, c.marked, c.nmarked * sizeof *c.marked);
        c.n += c.nmarked;
        qsort(c.slots, c.n, sizeof *c.slots, day_cmp);
    }
    free(c.marked);
    /* The whole months' totals, a query per year (the months are sorted). */
    bson_t *extra = BCON_NEW("by", BCON_UTF8(q->key_field), "currency", BCON_UTF8(q->currency));
    char year[DAY_YEAR_LEN] = "";
    for (size_t i = 0; i < c.nmonths && rc == 0; i++) {
        if (!c.months[i].whole || strncmp(c.months[i].month, year, DAY_YEAR_LEN - 1) == 0)
            continue;
        snprintf(year, sizeof year, "%.4s", c.months[i].month);
        rc = find_where(db, DAY_MONTH_TOTALS_COLLECTION, "year", year, extra, add_month_total, &c,
                        err);
    }
    bson_destroy(extra);
    for (size_t i = 0; i < c.nmonths && rc == 0; i++)
        if (!c.months[i].done)
            rc = fold_month(db, &c, &c.months[i], f, err);
    free(c.months);
    free(c.slots);
    return rc;
}
