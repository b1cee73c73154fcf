#include "billing.h"

#include <stdio.h>
#include <string.h>

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

int billing_make(const event_finished *ev, const char *event_id, int64_t created_ms, billing *b)
{
    billing_amount amt;
    if (billing_compute(ev->start_ms, ev->end_ms, ev->hourly_price_cents, &amt) != 0)
        return -1;
    memset(b, 0, sizeof *b);
    b->event = *ev;
    b->billed_hours = amt.hours;
    b->total_cents = amt.total_cents;
    if (event_id)
        snprintf(b->event_id, sizeof b->event_id, "%s", event_id);
    b->created_ms = created_ms;
    return 0;
}

int billing_from_event(const char *body, size_t len, const char *ce_type, const char *ce_id,
                       int64_t created_ms, billing *b, char *reason, size_t reasonlen)
{
    if (len == 0 || !body) {
        snprintf(reason, reasonlen, "body: empty");
        return -1;
    }
    /* A CloudEvents type we do not know is not ours to bill, even if its body
     * looks like one. */
    if (ce_type && strcmp(ce_type, EVENT_TYPE) != 0) {
        snprintf(reason, reasonlen, "ce_type: expected %s", EVENT_TYPE);
        return -1;
    }
    event_finished ev;
    if (event_decode(body, len, &ev, reason, reasonlen) != 0)
        return -1;
    char event_id[UUID_STR_LEN] = "";
    if (ce_id && uuid_normalize(ce_id, strlen(ce_id), event_id) != 0)
        event_id[0] = '\0'; /* not a UUID: not worth keeping */
    if (billing_make(&ev, event_id, created_ms, b) != 0) {
        snprintf(reason, reasonlen, "hourly_price_cents: the total does not fit in int64");
        return -1;
    }
    return 0;
}

int billing_check_length(const billing *b, int64_t max_ms, char *reason, size_t reasonlen)
{
    int64_t lasted = b->event.end_ms - b->event.start_ms;
    if (lasted <= max_ms)
        return 0;
    snprintf(reason, reasonlen,
             "too_long: end_date is %lld hours after start_date, more than "
             "MAX_CONSULTATION_HOURS (%lld)",
             (long long)(lasted / 3600000), (long long)(max_ms / 3600000));
    return -1;
}

int billing_check_origin(const char *ce_type, const char *ce_source, const char *source,
                         char *reason, size_t reasonlen)
{
    if (!ce_type || strcmp(ce_type, EVENT_TYPE) != 0) {
        snprintf(reason, reasonlen, "ce_type: %s, expected %s (not ours)",
                 ce_type ? "another type" : "missing", EVENT_TYPE);
        return -1;
    }
    if (!ce_source || strcmp(ce_source, source) != 0) {
        snprintf(reason, reasonlen, "ce_source: %s, expected %s (not ours)",
                 ce_source ? "another producer" : "missing", source);
        return -1;
    }
    return 0;
}
