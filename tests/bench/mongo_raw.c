/* mongo_raw: the database alone, through the services' own store functions
 * (appointment/appt_store.c, financial/billing_store.c, common/buckets.c) on their pool
 * settings (common/mongo.c), so the documents and the commands are exactly
 * the ones a start + finish + billing makes, minus HTTP and Kafka.
 *
 *   mongo_raw rw APPT_URI FIN_URI N THREADS
 *       N inserts (start), then for each: get by _id, findAndModify (finish),
 *       the published mark (MARK_BATCH ids per bulk, as a delivery-report
 *       round sends them, on MARK_THREADS threads), then the billings
 *       (billing_store_insert_many, RW_BILL_BATCH per call, as a consumer
 *       poll writes them, on BILL_THREADS threads); THREADS at once for the
 *       others, one phase after the other. One JSON line: each operation's
 *       rate and p50/p99 (a batch's latency counts for each of its items),
 *       pairs_per_s (consultations per second the database alone allows:
 *       insert + finish + mark + bill, the get left out) and
 *       db_commands_per_pair.
 *
 *   mongo_raw seed APPT_URI FIN_URI|- N THREADS published|pending [DAYS]
 *       N appointments as a clinic's would be: creation times (their UUIDv7
 *       ids, and the start dates) at random over the DAYS (365) before
 *       today (UTC), SEED_PHYSICIANS physicians and SEED_PATIENTS patients
 *       (the ids loadgen uses too), 1-3 h consultations, 0.5 % still
 *       started (none with "pending"). Phase 1, on THREADS threads: appt_store_insert (buckets
 *       noted) and, unless still started, appt_store_finish, one by one;
 *       meanwhile (with "published" and a FIN_URI other than "-") the
 *       billings the financial service would have written, through
 *       billing_store_insert_many, BILL_BATCH per call on BILL_THREADS more
 *       threads. Phase 2 (with "published"): the entries marked published
 *       (appt_store_outbox_published). With "pending" they stay pending and
 *       due (for the outbox relay). One JSON line: counts, seconds and rates
 *       of each phase, errors, database commands. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mongo.h"
#include "appt_store.h"
#include "outbox.h"
#include "clock.h"
#include "uuid.h"
#include "billing.h"
#include "billing_store.h"

/* The store functions send bulk writes in commands of at most
 * MONGO_BULK_CHUNK statements: FerretDB 1.24 holds a PostgreSQL connection
 * per matching statement until its command ends, from a pool of 150
 * (deploy/ferretdb/ferretdb.sh). The thread counts below keep the sum of
 * what concurrent commands may hold under that. */
#define MARK_BATCH 32       /* ids per appt_store_outbox_published in rw (one delivery round) */
#define SEED_MARK_BATCH 256 /* ... when seeding (the store chunks it) */
#define MARK_THREADS 2
#define BILL_BATCH 500 /* billings per billing_store_insert_many (seed; a consumer poll's most) */
#define RW_BILL_BATCH 100 /* ... in rw */
#define BILL_THREADS 2
#define SEED_PHYSICIANS 300
#define SEED_PATIENTS 5000
#define SEED_STARTED_PERMILLE 5
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

static mongo_db *adb, *fdb;
static buckets *abk, *fbk;
static atomic_long errors;
static atomic_long next_item;
static int nthreads;
static appt *appts;

static void note_error(const char *what, const bson_error_t *err)
{
    /* The first few say why; the count says how many. */
    if (atomic_fetch_add(&errors, 1) < 5)
        fprintf(stderr, "mongo_raw: %s: %s\n", what, err->message);
}

/* xorshift64*: reproducible spreads, one state per caller. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* The ids loadgen uses too (tests/bench/loadgen.c), so lists by physician or
 * patient find seeded and benchmarked consultations alike. */
static void physician_id(char out[UUID_STR_LEN], long k)
{
    snprintf(out, UUID_STR_LEN, "00000000-0000-4000-8000-%012ld", k);
}

static void patient_id(char out[UUID_STR_LEN], long k)
{
    snprintf(out, UUID_STR_LEN, "00000000-0000-4000-9000-%012ld", k);
}

/* A just-started appointment created at created_ms (its id's time). */
static void fill(appt *a, int64_t created_ms, long physician, long patient)
{
    memset(a, 0, sizeof *a);
    uuid_v7(a->id, created_ms);
    physician_id(a->physician_id, physician);
    patient_id(a->patient_id, patient);
    a->start_ms = created_ms;
    a->created_ms = created_ms;
    a->price_cents = 20000;
    memcpy(a->currency, "BRL", 4);
}

/* What financial's consumer writes for finished appointment a: the event
 * appointment's outbox makes of it, billed by financial's own mapping. */
static int billing_of(const appt *a, billing *b)
{
    event_finished ev;
    outbox_event_of(a, &ev);
    /* the consumer's write, a moment after the finish */
    return billing_make(&ev, a->event_id, a->end_ms + 150, b);
}

static int cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static double secs_since(int64_t t0_us)
{
    return (double)(clock_mono_us() - t0_us) / 1e6;
}

static uint64_t commands(void)
{
    return mongo_db_commands(adb) + (fdb ? mongo_db_commands(fdb) : 0);
}

static int init_stores(void)
{
    bson_error_t err;
    if (appt_store_init(adb, abk, &err) != 0) {
        fprintf(stderr, "mongo_raw: appointment indexes: %s\n", err.message);
        return -1;
    }
    if (fdb && billing_store_init(fdb, fbk, &err) != 0) {
        fprintf(stderr, "mongo_raw: billing indexes: %s\n", err.message);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ rw */

enum { OP_INSERT, OP_GET, OP_FINISH, OP_MARK, OP_BILL, NOPS };
static const char *const op_names[NOPS] = {"insert", "get", "finish", "mark_published", "bill"};
static const long op_batch[NOPS] = {1, 1, 1, MARK_BATCH, RW_BILL_BATCH};

static long rw_n;
static int64_t *lat[NOPS];
static pthread_barrier_t barrier;
static int64_t phase_us[NOPS + 1];

static int phase_threads(int op)
{
    int t = op == OP_MARK ? MARK_THREADS : op == OP_BILL ? BILL_THREADS : nthreads;
    return t < nthreads ? t : nthreads;
}

/* Finishes a at its end_ms, its entry due at retry_at_ms: one findAndModify
 * (a is started and ends after its start). -1 with err when that did not
 * finish it. */
static int finish_one(const appt *a, int64_t retry_at_ms, bson_error_t *err)
{
    appt out;
    appt_finish_outcome outcome;
    if (appt_store_finish(adb, a, true, INT64_C(24) * 3600000, retry_at_ms, &out, &outcome, err) !=
        0)
        return -1;
    if (outcome == APPT_FINISH_DONE)
        return 0;
    bson_set_error(err, 0, 0, "finish matched nothing");
    return -1;
}

/* Items [i, i + k) of op, as one call for the batched ops. */
static void run_op(int op, long i, long k)
{
    appt *a = &appts[i], out;
    bson_error_t err;
    bool found = false;
    switch (op) {
    case OP_INSERT:
        if (appt_store_insert(adb, abk, a, &err) != 0)
            note_error("insert", &err);
        break;
    case OP_GET:
        if (appt_store_get(adb, a->id, &out, &found, &err) != 0)
            note_error("get", &err);
        else if (!found) {
            bson_set_error(&err, 0, 0, "appointment not found");
            note_error("get", &err);
        }
        break;
    case OP_FINISH:
        a->end_ms = clock_now_ms();
        a->finished = true;
        uuid_v4(a->event_id);
        a->event_time_ms = a->end_ms;
        if (finish_one(a, a->end_ms + 32000, &err) != 0)
            note_error("finish", &err);
        break;
    case OP_MARK: {
        char(*ids)[UUID_STR_LEN] = malloc((size_t)k * sizeof *ids);
        for (long j = 0; j < k; j++)
            memcpy(ids[j], appts[i + j].id, UUID_STR_LEN);
        if (appt_store_outbox_published(adb, (const char(*)[UUID_STR_LEN])ids, (size_t)k, &err) !=
            0)
            note_error("mark published", &err);
        free(ids);
        break;
    }
    case OP_BILL: {
        billing *bills = malloc((size_t)k * sizeof *bills);
        bool *created = malloc((size_t)k * sizeof *created);
        for (long j = 0; j < k; j++)
            billing_of(&appts[i + j], &bills[j]);
        if (billing_store_insert_many(fdb, fbk, bills, (size_t)k, created, &err) != 0)
            note_error("bill", &err);
        free(created);
        free(bills);
        break;
    }
    }
}

/* Runs thread t's slice of phase op; thread 0 stamps the phase clock. */
static void phase(int op, int t)
{
    pthread_barrier_wait(&barrier);
    if (t == 0)
        phase_us[op] = clock_mono_us();
    int nt = phase_threads(op);
    if (t >= nt)
        return;
    long per = rw_n / nt, first = t * per, end = t == nt - 1 ? rw_n : first + per;
    for (long i = first; i < end; i += op_batch[op]) {
        long k = end - i < op_batch[op] ? end - i : op_batch[op];
        int64_t t0 = clock_mono_us();
        run_op(op, i, k);
        int64_t took = clock_mono_us() - t0;
        for (long j = 0; j < k; j++)
            lat[op][i + j] = took;
    }
}

static void *rw_worker(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int op = 0; op < NOPS; op++)
        phase(op, t);
    pthread_barrier_wait(&barrier);
    if (t == 0)
        phase_us[NOPS] = clock_mono_us();
    return NULL;
}

static int rw(long n)
{
    rw_n = n;
    appts = calloc((size_t)n, sizeof *appts);
    for (int op = 0; op < NOPS; op++)
        lat[op] = calloc((size_t)n, sizeof *lat[op]);
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    int64_t now = clock_now_ms();
    for (long i = 0; i < n; i++) {
        fill(&appts[i], now, (long)(rnd(&s) % SEED_PHYSICIANS), (long)(rnd(&s) % SEED_PATIENTS));
        appts[i].start_ms = now - 90 * 60 * 1000;
    }
    if (init_stores() != 0)
        return 1;
    uint64_t cmd0 = commands();
    pthread_barrier_init(&barrier, NULL, (unsigned)nthreads);
    pthread_t th[256];
    for (int t = 0; t < nthreads; t++)
        pthread_create(&th[t], NULL, rw_worker, (void *)(intptr_t)t);
    for (int t = 0; t < nthreads; t++)
        pthread_join(th[t], NULL);
    uint64_t cmds = commands() - cmd0;
    printf("{\"n\":%ld,\"threads\":%d,\"mark_batch\":%d,\"mark_threads\":%d,\"bill_batch\":%d,"
           "\"bill_threads\":%d,\"errors\":%ld",
           n, nthreads, MARK_BATCH, phase_threads(OP_MARK), RW_BILL_BATCH, phase_threads(OP_BILL),
           atomic_load(&errors));
    double pair_s = 0;
    for (int op = 0; op < NOPS; op++) {
        double secs = (double)(phase_us[op + 1] - phase_us[op]) / 1e6;
        qsort(lat[op], (size_t)n, sizeof *lat[op], cmp_i64);
        printf(",\"%s_per_s\":%.1f,\"%s_p50_ms\":%.2f,\"%s_p99_ms\":%.2f", op_names[op],
               (double)n / secs, op_names[op], (double)lat[op][n / 2] / 1000.0, op_names[op],
               (double)lat[op][(long)((double)(n - 1) * 0.99)] / 1000.0);
        if (op != OP_GET)
            pair_s += secs;
    }
    /* Every consultation needs insert, finish, mark and bill: the database
     * alone bounds pairs/s here (the get is GET /appointments/{id}, not on
     * that path). */
    printf(",\"pairs_per_s\":%.1f,\"db_commands_per_pair\":%.2f}\n", (double)n / pair_s,
           (double)cmds / (double)n);
    return atomic_load(&errors) ? 1 : 0;
}

/* ------------------------------------------------------------------ seed */

static long seed_n;
static bool seed_published;
static atomic_long seeded_started, seeded_finished, marked, billed;
static atomic_long next_bill;

/* Phase 1: insert (+ finish) one by one, chunks of 64 from a shared counter. */
static void *seed_appt_worker(void *arg)
{
    (void)arg;
    /* Pending and due now (the relay's work), or due only tomorrow, so a
     * running relay leaves them alone until phase 2 marks them. */
    int64_t retry_at = seed_published ? clock_now_ms() + 24 * HOUR_MS : 0;
    for (;;) {
        long i0 = atomic_fetch_add(&next_item, 64);
        if (i0 >= seed_n)
            break;
        long i1 = i0 + 64 < seed_n ? i0 + 64 : seed_n;
        for (long i = i0; i < i1; i++) {
            appt *a = &appts[i];
            bson_error_t err;
            if (appt_store_insert(adb, abk, a, &err) != 0) {
                note_error("insert", &err); /* fails the run */
                continue;
            }
            if (!a->finished) {
                atomic_fetch_add(&seeded_started, 1);
                continue;
            }
            if (finish_one(a, seed_published ? retry_at : a->end_ms, &err) != 0) {
                note_error("finish", &err);
                continue;
            }
            atomic_fetch_add(&seeded_finished, 1);
        }
    }
    return NULL;
}

/* Phase 2: the published marks, SEED_MARK_BATCH finished ones per call. */
static void *seed_mark_worker(void *arg)
{
    (void)arg;
    char(*ids)[UUID_STR_LEN] = malloc(SEED_MARK_BATCH * sizeof *ids);
    size_t nids = 0;
    for (;;) {
        long i = atomic_fetch_add(&next_item, 1);
        if (i < seed_n && appts[i].finished)
            memcpy(ids[nids++], appts[i].id, UUID_STR_LEN);
        if (nids == SEED_MARK_BATCH || (i >= seed_n && nids > 0)) {
            bson_error_t err;
            if (appt_store_outbox_published(adb, (const char(*)[UUID_STR_LEN])ids, nids, &err) != 0)
                note_error("mark published", &err);
            else
                atomic_fetch_add(&marked, (long)nids);
            nids = 0;
        }
        if (i >= seed_n)
            break;
    }
    free(ids);
    return NULL;
}

/* Phase 1 too: the billings, BILL_BATCH per billing_store_insert_many. */
static void *seed_bill_worker(void *arg)
{
    (void)arg;
    billing *bills = malloc(BILL_BATCH * sizeof *bills);
    bool *created = malloc(BILL_BATCH * sizeof *created);
    for (;;) {
        long i0 = atomic_fetch_add(&next_bill, BILL_BATCH);
        if (i0 >= seed_n)
            break;
        long i1 = i0 + BILL_BATCH < seed_n ? i0 + BILL_BATCH : seed_n;
        size_t k = 0;
        for (long i = i0; i < i1; i++)
            if (appts[i].finished && billing_of(&appts[i], &bills[k]) == 0)
                k++;
        bson_error_t err;
        if (k > 0 && billing_store_insert_many(fdb, fbk, bills, k, created, &err) != 0) {
            note_error("bill", &err);
            continue;
        }
        long made = 0;
        for (size_t j = 0; j < k; j++)
            made += created[j];
        atomic_fetch_add(&billed, made);
    }
    free(created);
    free(bills);
    return NULL;
}

/* Runs fn on nt threads and fn2 on nt2 more, from item 0; returns the
 * seconds until fn's threads are done (*secs2: fn2's). */
static double run_phase(void *(*fn)(void *), int nt, void *(*fn2)(void *), int nt2, double *secs2)
{
    pthread_t th[256 + BILL_THREADS];
    int64_t t0 = clock_mono_us();
    atomic_store(&next_item, 0);
    atomic_store(&next_bill, 0);
    for (int t = 0; t < nt + nt2; t++)
        pthread_create(&th[t], NULL, t < nt ? fn : fn2, NULL);
    for (int t = 0; t < nt; t++)
        pthread_join(th[t], NULL);
    double secs = secs_since(t0);
    for (int t = nt; t < nt + nt2; t++)
        pthread_join(th[t], NULL);
    if (secs2)
        *secs2 = secs_since(t0);
    return secs;
}

static int seed(long n, int days)
{
    seed_n = n;
    appts = calloc((size_t)n, sizeof *appts);
    int64_t *when = calloc((size_t)n, sizeof *when);
    if (!appts || !when)
        return 1;
    /* Creation times at random over the DAYS before today (UTC), each ending
     * before today began: today's buckets hold only what the benchmark's own
     * consultations add. Sorted, because uuid_v7 never goes back in time
     * within a process: ids must be made oldest first to carry their times. */
    uint64_t s = (uint64_t)clock_now_ms() | 1;
    int64_t now = clock_now_ms(), today = now - now % DAY_MS;
    int64_t span = (int64_t)days * DAY_MS - 3 * HOUR_MS;
    for (long i = 0; i < n; i++)
        when[i] = today - 3 * HOUR_MS - (int64_t)(rnd(&s) % (uint64_t)span);
    qsort(when, (size_t)n, sizeof *when, cmp_i64);
    for (long i = 0; i < n; i++) {
        appt *a = &appts[i];
        fill(a, when[i], (long)(rnd(&s) % SEED_PHYSICIANS), (long)(rnd(&s) % SEED_PATIENTS));
        if (seed_published && rnd(&s) % 1000 < SEED_STARTED_PERMILLE)
            continue; /* still started (none when seeding the relay's work) */
        a->finished = true;
        a->end_ms = a->start_ms + HOUR_MS + (int64_t)(rnd(&s) % (uint64_t)(2 * HOUR_MS));
        uuid_v4(a->event_id);
        a->event_time_ms = a->end_ms;
    }
    free(when);
    if (init_stores() != 0)
        return 1;

    uint64_t cmd0 = commands();
    int64_t t0 = clock_mono_us();
    double bill_s = 0;
    double appt_s = run_phase(seed_appt_worker, nthreads, seed_bill_worker,
                              seed_published && fdb ? BILL_THREADS : 0, &bill_s);
    double mark_s = seed_published ? run_phase(seed_mark_worker, MARK_THREADS, NULL, 0, NULL) : 0;
    double all_s = secs_since(t0);
    uint64_t cmds = commands() - cmd0;
    long fin = atomic_load(&seeded_finished), bil = atomic_load(&billed);
    printf("{\"n\":%ld,\"threads\":%d,\"days\":%d,\"physicians\":%d,\"patients\":%d,"
           "\"started\":%ld,\"finished\":%ld,\"marked\":%ld,\"billings\":%ld,\"errors\":%ld,"
           "\"insert_finish_seconds\":%.3f,\"insert_finish_per_s\":%.1f,"
           "\"mark_seconds\":%.3f,\"mark_threads\":%d,\"mark_batch\":%d,"
           "\"bill_seconds\":%.3f,\"bill_threads\":%d,\"bill_batch\":%d,\"billings_per_s\":%.1f,"
           "\"seconds\":%.3f,\"db_commands\":%llu}\n",
           n, nthreads, days, SEED_PHYSICIANS, SEED_PATIENTS, atomic_load(&seeded_started), fin,
           atomic_load(&marked), bil, atomic_load(&errors), appt_s, (double)n / appt_s, mark_s,
           MARK_THREADS, SEED_MARK_BATCH, bill_s, BILL_THREADS, BILL_BATCH,
           bill_s > 0 ? (double)bil / bill_s : 0.0, all_s, (unsigned long long)cmds);
    return atomic_load(&errors) ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

static mongo_db *open_db(const char *uri, int pool)
{
    char why[256];
    mongo_db *db = mongo_db_new(uri, "bench", pool, why, sizeof why);
    if (!db)
        fprintf(stderr, "mongo_raw: %s: %s\n", uri, why);
    return db;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: mongo_raw rw APPT_URI FIN_URI N THREADS\n"
            "       mongo_raw seed APPT_URI FIN_URI|- N THREADS published|pending [DAYS]\n");
    return 2;
}

int main(int argc, char **argv)
{
    bool is_rw = argc == 6 && strcmp(argv[1], "rw") == 0;
    bool is_seed = (argc == 7 || argc == 8) && strcmp(argv[1], "seed") == 0 &&
                   (strcmp(argv[6], "published") == 0 || strcmp(argv[6], "pending") == 0);
    if (!is_rw && !is_seed)
        return usage();
    nthreads = atoi(argv[5]);
    long n = atol(argv[4]);
    int days = argc == 8 ? atoi(argv[7]) : 365;
    if (nthreads < 1 || nthreads > 256 || n < 1 || days < 1)
        return usage();
    mongo_global_init();
    abk = buckets_new(APPT_BUCKETS_COLLECTION);
    fbk = buckets_new(BILLING_BUCKETS_COLLECTION);
    adb = open_db(argv[2], nthreads + 1);
    bool want_fin = strcmp(argv[3], "-") != 0;
    if (want_fin)
        fdb = open_db(argv[3], nthreads + BILL_THREADS + 1);
    int rc = 1;
    if (adb && (fdb || !want_fin)) {
        if (is_rw) {
            rc = fdb ? rw(n) : usage();
        } else {
            seed_published = strcmp(argv[6], "published") == 0;
            rc = seed(n, days);
        }
    }
    mongo_db_free(fdb);
    mongo_db_free(adb);
    buckets_free(fbk);
    buckets_free(abk);
    mongo_global_cleanup();
    return rc;
}
