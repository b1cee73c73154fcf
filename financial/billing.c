#include "billing.h"

#define MS_PER_HOUR UINT64_C(3600000)

int billing_compute(int64_t start_ms, int64_t end_ms, int64_t hourly_price_cents,
                    billing_amount *out)
{
    if (end_ms < start_ms || hourly_price_cents < 0)
        return -1;
    /* 'uint64_t' difference: end - start can exceed INT64_MAX, never UINT64_MAX */
    uint64_t dur = (uint64_t)end_ms - (uint64_t)start_ms;
    /* Every started hour is billed in full, and at least one. */
    int64_t hours = (int64_t)(dur / MS_PER_HOUR + (dur % MS_PER_HOUR != 0));
    if (hours < 1)
        hours = 1;
    int64_t total;
    if (__builtin_mul_overflow(hours, hourly_price_cents, &total))
        return -1;
    out->hours = hours;
    out->total_cents = total;
    return 0;
}
