/* mongo_raw: the database alone, through appointment's own store functions
 * (appointment/store.c) on the services' pool settings (common/mongo.c), so
 * the operations are exactly the ones a start + finish makes, minus HTTP.
 *
 *   mongo_raw rw URI N THREADS
 *       N inserts (start), then for each: get by _id + findAndModify (finish)
 *       + update of the outbox state (the delivery report), THREADS at once.
 *       One JSON line: each operation's rate and latency p50/p99.
 *   mongo_raw preload URI N STATE
 *       N appointments by insert_many (batches of 1,000), finished with their
 *       outbox STATE "published" or "pending" (due now, for the relay), or
 *       with STATE "billings" N billings as financial writes them; ids
 *       are UUIDv7 slightly in the past, physicians and patients spread so the
 *       list indexes have something to select. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mongo.h"
#include "store.h"
#include "timefmt.h"
#include "uuid.h"

enum { OP_INSERT, OP_GET, OP_FINISH, OP_MARK, NOPS };
static const char *const op_names[NOPS] = {"insert", "get", "finish", "mark_published"};

static mongo_db *db;
static long per_thread;
static int nthreads;
static appt *appts;
static int64_t *lat[NOPS];
static atomic_long errors;
static pthread_barrier_t barrier;
static int64_t phase_us[NOPS + 1];

static void fill(appt *a, int64_t now, long i)
{
    memset(a, 0, sizeof *a);
    uuid_v7(a->id, now);
    snprintf(a->physician_id, sizeof a->physician_id, "00000000-0000-4000-8000-%012ld", i % 100);
    snprintf(a->patient_id, sizeof a->patient_id, "00000000-0000-4000-9000-%012ld", i % 10000);
    a->start_ms = now - 90 * 60 * 1000;
    a->created_ms = now;
    a->price_cents = 20000;
    memcpy(a->currency, "BRL", 4);
}

/* Runs phase op over this thread's slice; thread 0 stamps the phase clock. */
static void phase(int op, long first)
{
    pthread_barrier_wait(&barrier);
    if (op < 0 || op >= NOPS)
        return;
    if (first == 0)
        phase_us[op] = timefmt_mono_us();
    for (long i = first; i < first + per_thread; i++) {
        appt *a = &appts[i], out;
        bson_error_t err;
        int64_t t = timefmt_mono_us();
        int rc = 0;
        switch (op) {
        case OP_INSERT:
            rc = appt_store_insert(db, a, &err) == 0 ? 1 : -1;
            break;
        case OP_GET:
            rc = appt_store_get(db, a->id, &out, &err);
            break;
        case OP_FINISH:
            a->end_ms = timefmt_now_ms();
            a->finished = true;
            uuid_v4(a->event_id);
            a->event_time_ms = a->end_ms;
            rc = appt_store_finish(db, a, a->end_ms + 32000, &out, &err);
            break;
        case OP_MARK:
            rc = appt_store_outbox_published(db, a->id, a->event_id, &err) == 0 ? 1 : -1;
            break;
        }
        lat[op][i] = timefmt_mono_us() - t;
        if (rc != 1)
            atomic_fetch_add(&errors, 1);
    }
}

static void *worker(void *arg)
{
    long first = (long)(intptr_t)arg * per_thread;
    for (int op = 0; op < NOPS; op++)
        phase(op, first);
    pthread_barrier_wait(&barrier);
    if (first == 0)
        phase_us[NOPS] = timefmt_mono_us();
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int rw(long n)
{
    per_thread = n / nthreads;
    n = per_thread * nthreads;
    appts = calloc((size_t)n, sizeof *appts);
    for (int op = 0; op < NOPS; op++)
        lat[op] = calloc((size_t)n, sizeof *lat[op]);
    int64_t now = timefmt_now_ms();
    for (long i = 0; i < n; i++)
        fill(&appts[i], now, i);
    bson_error_t err;
    if (appt_store_init(db, &err) != 0) {
        fprintf(stderr, "mongo_raw: indexes: %s\n", err.message);
        return 1;
    }
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    pthread_t th[256];
    for (int t = 0; t < nthreads; t++)
        pthread_create(&th[t], NULL, worker, (void *)(intptr_t)t);
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    printf("{\"n\":%ld,\"threads\":%d,\"errors\":%ld", n, nthreads, atomic_load(&errors));
    double pair_s = 0;
    for (int op = 0; op < NOPS; op++) {
        double secs = (double)(phase_us[op + 1] - phase_us[op]) / 1e6;
        qsort(lat[op], (size_t)n, sizeof *lat[op], cmp_i64);
        printf(",\"%s_per_s\":%.1f,\"%s_p50_ms\":%.2f,\"%s_p99_ms\":%.2f", op_names[op],
               (double)n / secs, op_names[op], (double)lat[op][n / 2] / 1000.0, op_names[op],
               (double)lat[op][(long)((double)(n - 1) * 0.99)] / 1000.0);
        pair_s += secs;
    }
    /* Every start + finish needs all four: the database alone bounds pairs/s here. */
    printf(",\"pairs_per_s\":%.1f}\n", (double)n / pair_s);
    return atomic_load(&errors) ? 1 : 0;
}

/* A finished appointment whose outbox entry is in `state`. */
static bson_t *appt_doc(const appt *a, const char *event_id, const char *state)
{
    bson_t *d = bson_new();
    BSON_APPEND_UTF8(d, "_id", a->id);
    BSON_APPEND_UTF8(d, "physician_id", a->physician_id);
    BSON_APPEND_UTF8(d, "patient_id", a->patient_id);
    BSON_APPEND_DATE_TIME(d, "start_date", a->start_ms);
    BSON_APPEND_DATE_TIME(d, "end_date", a->created_ms);
    BSON_APPEND_UTF8(d, "status", "finished");
    BSON_APPEND_INT64(d, "price_cents", a->price_cents);
    BSON_APPEND_UTF8(d, "currency", a->currency);
    BSON_APPEND_DATE_TIME(d, "created_at", a->created_ms);
    bson_t ob;
    BSON_APPEND_DOCUMENT_BEGIN(d, "outbox", &ob);
    BSON_APPEND_UTF8(&ob, "state", state);
    BSON_APPEND_UTF8(&ob, "event_id", event_id);
    BSON_APPEND_DATE_TIME(&ob, "time", a->created_ms);
    BSON_APPEND_UTF8(&ob, "traceparent", "");
    BSON_APPEND_INT32(&ob, "attempts", 0);
    BSON_APPEND_DATE_TIME(&ob, "next_attempt_at", 0);
    bson_append_document_end(d, &ob);
    return d;
}

/* The billing financial/store.c writes for that appointment (2 hours). */
static bson_t *billing_doc(const appt *a, const char *event_id)
{
    char day[TIMEFMT_LEN];
    timefmt_format_day(a->created_ms, day);
    bson_t *d = bson_new();
    BSON_APPEND_UTF8(d, "_id", a->id);
    BSON_APPEND_UTF8(d, "appointment_id", a->id);
    BSON_APPEND_UTF8(d, "physician_id", a->physician_id);
    BSON_APPEND_UTF8(d, "patient_id", a->patient_id);
    BSON_APPEND_DATE_TIME(d, "start_date", a->start_ms);
    BSON_APPEND_DATE_TIME(d, "end_date", a->created_ms);
    BSON_APPEND_UTF8(d, "end_day", day);
    BSON_APPEND_INT64(d, "billed_hours", 2);
    BSON_APPEND_INT64(d, "hourly_price_cents", a->price_cents);
    BSON_APPEND_INT64(d, "total_cents", 2 * a->price_cents);
    BSON_APPEND_UTF8(d, "currency", a->currency);
    BSON_APPEND_UTF8(d, "event_id", event_id);
    BSON_APPEND_DATE_TIME(d, "created_at", a->created_ms);
    return d;
}

/* state: "published" or "pending" (appointments), or "billings". */
static int preload(long n, const char *state)
{
    bool billings = strcmp(state, "billings") == 0;
    bson_error_t err;
    if (!billings && appt_store_init(db, &err) != 0) {
        fprintf(stderr, "mongo_raw: indexes: %s\n", err.message);
        return 1;
    }
    mongoc_client_t *c = mongo_db_pop(db);
    mongoc_collection_t *coll = mongo_db_collection(db, c, billings ? "billings" : APPT_COLLECTION);
    int64_t t0 = timefmt_mono_us(), now = timefmt_now_ms();
    enum { BATCH = 1000 };
    bson_t *docs[BATCH];
    int rc = 0;
    for (long done = 0; done < n && rc == 0;) {
        size_t k = 0;
        for (; k < BATCH && done < n; k++, done++) {
            appt a;
            /* Spread over the last day, older than anything the run creates. */
            fill(&a, now - 86400000 + done * 86400000 / n, done);
            char event_id[UUID_STR_LEN];
            uuid_v4(event_id);
            docs[k] = billings ? billing_doc(&a, event_id) : appt_doc(&a, event_id, state);
        }
        if (!mongoc_collection_insert_many(coll, (const bson_t **)docs, k, NULL, NULL, &err)) {
            fprintf(stderr, "mongo_raw: insert_many: %s\n", err.message);
            rc = 1;
        }
        for (size_t i = 0; i < k; i++)
            bson_destroy(docs[i]);
    }
    double secs = (double)(timefmt_mono_us() - t0) / 1e6;
    mongoc_collection_destroy(coll);
    mongo_db_push(db, c);
    printf("{\"n\":%ld,\"seconds\":%.3f,\"per_s\":%.1f}\n", n, secs, (double)n / secs);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "rw") != 0 && strcmp(argv[1], "preload") != 0)) {
        fprintf(stderr,
                "usage: mongo_raw rw URI N THREADS | preload URI N published|pending|billings\n");
        return 2;
    }
    mongo_global_init();
    char why[256];
    bool is_rw = strcmp(argv[1], "rw") == 0;
    nthreads = is_rw ? atoi(argv[4]) : 1;
    if (nthreads < 1 || nthreads > 256)
        return 2;
    db = mongo_db_new(argv[2], "bench", nthreads + 1, why, sizeof why);
    if (!db) {
        fprintf(stderr, "mongo_raw: %s\n", why);
        return 1;
    }
    int rc = is_rw ? rw(atol(argv[3])) : preload(atol(argv[3]), argv[4]);
    mongo_db_free(db);
    mongo_global_cleanup();
    return rc;
}
