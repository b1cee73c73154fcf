#include "idem_expiry.h"

#include <stdlib.h>

#include "alloc.h"
#include "appt_store.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"
#include "timefmt.h"
#include "worker.h"

#define DAY_MS INT64_C(86400000)
/* How often the thread looks at the stop flag and the clock. */
#define TICK_MS 100

struct idem_expiry {
    mongo_db *db;
    const atomic_bool *ready;
    int64_t ttl_ms;
    int64_t last_ok_ms; /* the thread's: when the last sweep succeeded, 0 before */
    atomic_uint_fast64_t expired;
    char days[IDEM_EXPIRY_CATCH_UP_DAYS][BUCKET_DAY_LEN]; /* the thread's */
    worker thread;
};

size_t idem_expiry_days(int64_t now_ms, int64_t ttl_ms, size_t back, char (*days)[BUCKET_DAY_LEN])
{
    int64_t cutoff = now_ms - ttl_ms;
    if (cutoff < DAY_MS)
        return 0;
    /* Day d holds records created before (d + 1) * DAY_MS: all expired once
     * that is at or before the cutoff. */
    int64_t newest = cutoff / DAY_MS - 1;
    size_t n = 0;
    for (int64_t d = newest; d >= 0 && n < back; d--)
        timefmt_format_day(d * DAY_MS, days[n++]);
    return n;
}

size_t idem_expiry_back(int64_t now_ms, int64_t last_ok_ms)
{
    if (last_ok_ms <= 0 || now_ms < last_ok_ms)
        return IDEM_EXPIRY_CATCH_UP_DAYS;
    int64_t since = (now_ms - last_ok_ms) / DAY_MS + 2;
    return since >= IDEM_EXPIRY_CATCH_UP_DAYS ? IDEM_EXPIRY_CATCH_UP_DAYS : (size_t)since;
}

/* One sweep: deletes the expired days since the last sweep that succeeded. */
static void sweep(idem_expiry *x)
{
    int64_t now = clock_now_ms();
    size_t n = idem_expiry_days(now, x->ttl_ms, idem_expiry_back(now, x->last_ok_ms), x->days);
    int64_t deleted = 0;
    bson_error_t err;
    int rc = n > 0 ? appt_store_idem_delete_days(x->db, (const char(*)[BUCKET_DAY_LEN])x->days, n,
                                                 &deleted, &err)
                   : 0;
    atomic_fetch_add_explicit(&x->expired, (uint_fast64_t)deleted, memory_order_relaxed);
    if (rc != 0) {
        log_warn("idempotency keys not all swept; retrying at the next sweep", "error", err.message,
                 LOG_INT("deleted", deleted), NULL);
        return;
    }
    x->last_ok_ms = now;
    if (deleted > 0)
        log_info("expired idempotency keys deleted", LOG_INT("count", deleted), LOG_INT("days", n),
                 NULL);
}

static void *expiry_main(void *arg)
{
    idem_expiry *x = arg;
    int64_t next = 0; /* monotonic: the first sweep as soon as the set-up is done */
    while (!worker_stopping(&x->thread)) {
        if (clock_mono_ms() >= next && atomic_load(x->ready)) {
            sweep(x);
            next = clock_mono_ms() + IDEM_EXPIRY_INTERVAL_MS;
        }
        clock_sleep_ms(TICK_MS);
    }
    return NULL;
}

idem_expiry *idem_expiry_new(mongo_db *db, const atomic_bool *ready, int64_t ttl_ms)
{
    idem_expiry *x = xcalloc(1, sizeof *x);
    x->db = db;
    x->ready = ready;
    x->ttl_ms = ttl_ms;
    atomic_init(&x->expired, 0);
    worker_init(&x->thread);
    return x;
}

int idem_expiry_start(idem_expiry *x)
{
    return worker_start(&x->thread, expiry_main, x);
}

void idem_expiry_free(idem_expiry *x)
{
    if (!x)
        return;
    worker_join(&x->thread);
    free(x);
}

void idem_expiry_render_metrics(idem_expiry *x, buf *out)
{
    if (!x)
        return;
    metrics_single(out, "clinic_idempotency_keys_expired_total", "counter",
                   "idempotency keys deleted by the expiry sweep, past IDEMPOTENCY_TTL_S",
                   atomic_load_explicit(&x->expired, memory_order_relaxed));
}
