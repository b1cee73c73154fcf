/* day_totals: a summary's whole end days from stored day totals, exact at all
 * times without transactions (FerretDB 1.24 has none, and its updates are a
 * read then a write: no $inc or filter is atomic there; only an insert of a
 * taken _id and a write by one writer at a time are).
 *
 * Writers. Every write of billings (billing_store_insert_many: the
 * consumer, its one-by-one path, dead-letter replays) marks the distinct end
 * days it writes in DAY_GEN_COLLECTION, one document per (day, writer), a
 * writer being one thread of one process (_id "<day>/<writer uuid>"), so no
 * two writers ever write one document: `begun` = s before its insert, `gen` =
 * s after it (already-billed duplicates included; also after an error the
 * database answered, not after an outage), s a sequence of
 * the thread's own that only grows. A day's gen is the sum of its writers'
 * gens: it grows with every completed write; a writer with begun > gen has a
 * write in flight.
 *
 * Readers. DAY_TOTALS_COLLECTION holds, per (day, group_by, currency)
 * (_id "<day>/<key field>/<currency>"), the day's groups (day_totals_fold_groups)
 * and the gen they were recounted at. A summary reads the gens of its days, then their totals: a
 * total whose gen is the day's and no writer in flight is used; any other
 * day is recounted from its billings (one equality query) and its total
 * stored, unconditionally, with the gen read BEFORE the recount
 * (day_totals_storable says when).
 *
 * Why it is exact: let b be a billing of day D written before the summary
 * read D's gens (at r). If b's write was still in flight at r, its writer's
 * begun > gen there, and D is recounted after r: b is in. Otherwise its
 * writer's gen write completed before r, and a total T with T.gen = gen(r)
 * is used. T was recounted after gen(t0) = T.gen was read; gens only grow
 * and b's completion made D's gen grow, so had it come after t0, gen(r) >
 * T.gen. So it came before t0, b was inserted before it, and T's recount
 * (after t0) counted b. Billings have unique ids and a day is summed once:
 * none counts twice. A stale total stored late (an older gen over a newer)
 * only costs a recount, never a wrong answer. A writer that dies between its
 * two marks leaves its day "in flight" for good: still exact, the day
 * recounted by every summary.
 *
 * Months. A year of day totals is 366 documents of every group (at 300
 * physicians, 6 MB through FerretDB): DAY_MONTH_TOTALS_COLLECTION holds, per
 * (month, group_by, currency) (_id "<month>/<key field>/<currency>", a `year`
 * field to read a year's in one query), the groups of a whole month and the
 * month's gen: the sum of the gens of all its (day, writer) marks, read at the
 * same moment r as the day gens. A month is a bigger day and the proof above
 * carries over: a month total is used only while the month's gen sum is its
 * gen and no writer of the month is in flight. It is made from the month's
 * days as folded above (each exact at r) and stored only when every mark read
 * at r names a day the summary folded (a day whose billings' bucket was noted
 * after the summary listed its days would be missing: its gen is in the sum),
 * no writer was in flight, and the month was over for DAY_TOTALS_SETTLE_MS.
 * Months a range cuts are summed from their days. The days folded are the
 * listed ones and every whole day of the range a mark of their months names:
 * a day's billings count even when its bucket record was lost. */
#ifndef DAY_TOTALS_H
#define DAY_TOTALS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing_fold.h"
#include "buckets.h"
#include "mongo.h"

#define DAY_GEN_COLLECTION "billing_day_gen"
#define DAY_TOTALS_COLLECTION "billing_day_totals"
#define DAY_MONTH_TOTALS_COLLECTION "billing_month_totals"
#define DAY_MONTH_LEN 8 /* "YYYY-MM" + NUL */
#define DAY_YEAR_LEN 5  /* "YYYY" + NUL */

/* Creates the three collections and their `month` (marks, day totals) and
 * `year` (month totals) indexes (idempotent). */
int day_totals_setup(mongo_db *db, bson_error_t *err);

/* Sorts days[0..n) and drops repeats; returns how many remain. Pure. */
size_t day_totals_distinct(char (*days)[BUCKET_DAY_LEN], size_t n);

/* The writer marks of the calling thread on the distinct days[0..n), with
 * opts (a write concern; may be NULL): day_totals_begin before the billings
 * are written (sets *seq, also when it fails), day_totals_end with that seq
 * after they were. 0, or -1 with err (a day whose begun was written and not
 * its gen stays in flight until a later write of this thread ends). */
int day_totals_begin(mongo_db *db, const char (*days)[BUCKET_DAY_LEN], size_t n, const bson_t *opts,
                     int64_t *seq, bson_error_t *err);
int day_totals_end(mongo_db *db, const char (*days)[BUCKET_DAY_LEN], size_t n, const bson_t *opts,
                   int64_t seq, bson_error_t *err);

/* Deferred ends, for a thread that writes batch after batch (the
 * consumer): once day_totals_defer_ends(true), the thread's day_totals_end
 * only records its days (up to DAY_TOTALS_DEFER_MAX in all; more are written
 * at once), and its next day_totals_begin writes that end and the new begun
 * marks in one bulk write: a batch costs two round trips, not three. Until
 * the end is written its days stay in flight, so summaries recount them:
 * exact, only slower. day_totals_flush writes a recorded end alone (the
 * consumer: when a poll finds nothing, and before it commits offsets); 0, or
 * -1 with err (the end stays recorded). */
#define DAY_TOTALS_DEFER_MAX 64
void day_totals_defer_ends(bool on);
int day_totals_flush(mongo_db *db, const bson_t *opts, bson_error_t *err);

/* One writer mark of a day: the end of an earlier write, the begin of the
 * next, or both. */
typedef struct day_mark {
    char day[BUCKET_DAY_LEN];
    bool ends, begins;
} day_mark;

/* Merges the sorted distinct day lists ended[0..nended) and
 * begun[0..nbegun) into out (room for nended + nbegun), one mark per day,
 * sorted. Returns how many. Pure. */
size_t day_marks_merge(const char (*ended)[BUCKET_DAY_LEN], size_t nended,
                       const char (*begun)[BUCKET_DAY_LEN], size_t nbegun, day_mark *out);

/* What the writers' marks of one day say (day_gen_add each of them). */
typedef struct day_gen {
    int64_t sum;    /* of the writers' gens */
    bool in_flight; /* a writer has begun > gen */
} day_gen;

/* Adds one writer's marks. Pure. */
void day_gen_add(day_gen *g, int64_t begun, int64_t gen);

/* Whether a total stored at total_gen may stand for the day now. Pure. */
bool day_totals_usable(const day_gen *g, int64_t total_gen);

/* How long after its end a day's recount is stored: until then its
 * billings still arrive with nearly every batch, and a total would be out of
 * date at once (a summary recounts such a day each time). */
#define DAY_TOTALS_SETTLE_MS (3600 * 1000)

/* Whether a recount of the day starting at day_start_ms, holding `groups`
 * groups, is worth storing at now_ms: the day over for DAY_TOTALS_SETTLE_MS,
 * and something to store (an empty total for any currency asked would be a
 * document per day for every three-letter code). Pure. */
bool day_totals_storable(int64_t day_start_ms, size_t groups, int64_t now_ms);

/* The UTC midnight (ms since the epoch) of a "YYYY-MM-DD" day. Pure. */
int64_t day_totals_day_start_ms(const char *day);

/* Whether [from_ms, to_ms) (INT64_MIN, INT64_MAX: open) holds all of the
 * "YYYY-MM-DD" day. Pure. */
bool day_totals_day_whole(const char *day, int64_t from_ms, int64_t to_ms);

/* What a summary knows of one month of its whole days. */
typedef struct day_month {
    char month[DAY_MONTH_LEN]; /* "YYYY-MM" */
    day_gen gen;               /* of every (day, writer) mark of the month */
    bool whole;                /* the summary's range holds all of the month */
    bool unlisted;             /* a mark names a day the summary does not fold */
    bool done;                 /* folded from its stored month total */
} day_month;

/* The distinct months of the sorted days[0..n) into out[0..) (room for n),
 * each whole when [from_ms, to_ms) holds all of it (INT64_MIN, INT64_MAX for
 * an open end), gens zero. Returns how many. Pure. */
size_t day_totals_months(const char (*days)[BUCKET_DAY_LEN], size_t n, int64_t from_ms,
                         int64_t to_ms, day_month *out);

/* The UTC midnight (ms since the epoch) starting a "YYYY-MM" month, and the
 * one starting the month after it. Pure. */
int64_t day_totals_month_start_ms(const char *month);
int64_t day_totals_month_end_ms(const char *month);

/* Adds the marks of one (day, writer) document of m's month; `listed`:
 * whether the summary folds that day. Pure. */
void day_month_add(day_month *m, bool listed, int64_t begun, int64_t gen);

/* Whether a month total stored at total_gen may stand for the whole month m
 * now. Pure. */
bool day_totals_month_usable(const day_month *m, int64_t total_gen);

/* Whether m's total, folded from its days and holding `groups` groups, is
 * worth storing at now_ms and may be: m whole, over for
 * DAY_TOTALS_SETTLE_MS, no mark naming a day not folded, no writer in
 * flight, and something to store. Pure. */
bool day_totals_month_storable(const day_month *m, size_t groups, int64_t now_ms);

/* Folds a stored total's groups (the string `groups`, a line
 * "<key> <count> <total cents>" per group) into f. Returns f's outcome.
 * Pure. */
billing_summary_outcome day_totals_fold_groups(const bson_t *total, billing_fold *f);

/* What a summary folds: the billings collection, the billing field it groups
 * on (a total's `by`), and its currency. */
typedef struct day_totals_query {
    const char *billings;
    const char *key_field;
    const char *currency;
    int64_t from_ms, to_ms; /* the range (INT64_MIN, INT64_MAX: open): which months are whole */
} day_totals_query;

/* A mongo_find_each callback over billings projected on q->key_field and
 * total_cents (ctx: a day_totals_row): folds one into ctx's fold; non-zero
 * once the fold's outcome is not OK. */
typedef struct day_totals_row {
    const char *key_field;
    billing_fold *fold;
} day_totals_row;
int day_totals_add_billing(const bson_t *doc, void *ctx);

/* Folds into f the billings in q->currency of the whole end days
 * days[0..n) (the end days with billings in the range, as their buckets
 * say), and of every other whole day of their months that a writer's mark
 * names (its billings are there although its bucket record is not), from
 * their month totals, their day totals or recounted (see above). Returns 0, 1 when
 * f's outcome stopped it (f says why), or -1 with err. Thread-safe. */
int day_totals_fold(mongo_db *db, const day_totals_query *q, const char (*days)[BUCKET_DAY_LEN],
                    size_t n, billing_fold *f, bson_error_t *err);

#endif
