/* idem_expiry: the sweep that deletes expired idempotency records
 * (appt_store_idem_put), day by day: deleteMany({day}) for every UTC day
 * whose records are all past the time to live, an indexed equality on every
 * backend, the days of one sweep in bulk writes (appt_store_idem_delete_days). One background
 * thread sweeps once the store's set-up is done (then back IDEM_EXPIRY_CATCH_UP_DAYS days, so that
 * a service that was down catches up) and every IDEM_EXPIRY_INTERVAL_MS after; a sweep that fails
 * (database down) logs and is retried at the next one, reaching back to the last sweep that
 * succeeded. A record found expired before its day is swept is as good as absent already
 * (appt_store_idem_put replaces it). */
#ifndef APPOINTMENT_IDEM_EXPIRY_H
#define APPOINTMENT_IDEM_EXPIRY_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buckets.h"
#include "buf.h"
#include "mongo.h"

#define IDEM_EXPIRY_INTERVAL_MS (10 * 60 * 1000)
#define IDEM_EXPIRY_CATCH_UP_DAYS 400

typedef struct idem_expiry idem_expiry;

/* Writes into days[0..n) the UTC days ("YYYY-MM-DD") whose records have all
 * expired at now_ms under ttl_ms, newest first: the day before the one of
 * now_ms - ttl_ms and the back - 1 days before it (none before 1970).
 * Returns n (at most back). Pure. */
size_t idem_expiry_days(int64_t now_ms, int64_t ttl_ms, size_t back, char (*days)[BUCKET_DAY_LEN]);

/* How many days a sweep at now_ms reaches back when the last one that
 * succeeded ran at last_ok_ms (0: none yet, a catch-up): the days since
 * then plus two, at most IDEM_EXPIRY_CATCH_UP_DAYS. Pure. */
size_t idem_expiry_back(int64_t now_ms, int64_t last_ok_ms);

/* Creates the sweep of db's records (borrowed; outlives it) with time to
 * live ttl_ms; it waits for *ready (the store's set-up done; borrowed) before
 * its first sweep. Cannot fail. */
idem_expiry *idem_expiry_new(mongo_db *db, const atomic_bool *ready, int64_t ttl_ms);
/* Starts the thread. Returns 0, or -1 if no thread could be made. */
int idem_expiry_start(idem_expiry *x);
/* Stops the thread (after the sweep under way, if any: at most
 * IDEM_EXPIRY_CATCH_UP_DAYS / MONGO_BULK_CHUNK bulk writes) and frees.
 * NULL: no-op. */
void idem_expiry_free(idem_expiry *x);

/* Appends clinic_idempotency_keys_expired_total (records the sweep
 * deleted) to out. Thread-safe; x NULL: nothing. */
void idem_expiry_render_metrics(idem_expiry *x, buf *out);

#endif
