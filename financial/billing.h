/* billing: what a consultation costs and the billing an event makes, pure (no
 * broker, no database), so both are unit-tested and fuzzable.
 * A consultation is billed per started hour, at least one hour:
 * hours = max(1, ceil((end - start) / 1 h)), total = hours * hourly price, in
 * integer cents. */
#ifndef BILLING_H
#define BILLING_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "uuid.h"

typedef struct billing_amount {
    int64_t hours;       /* billed hours, >= 1 */
    int64_t total_cents; /* hours * hourly_price_cents */
} billing_amount;

/* One consultation's bill, as billing_store keeps it: the event it was made
 * from, and what billing adds. */
typedef struct billing {
    event_finished event;        /* appointment_id is a UUIDv7: sorts by creation time */
    int64_t billed_hours;        /* >= 1 */
    int64_t total_cents;         /* billed_hours * event.hourly_price_cents */
    char event_id[UUID_STR_LEN]; /* ce_id of the event that created it, or "" */
    int64_t created_ms;
} billing;
/* Computes the amount for a consultation from start_ms to end_ms (ms since the
 * epoch). Returns 0 and fills *out; -1 if end < start, the hourly price is
 * negative, or the total would overflow int64 (out untouched). */
int billing_compute(int64_t start_ms, int64_t end_ms, int64_t hourly_price_cents,
                    billing_amount *out);

/* The billing for a decoded event: event_id is its ce_id when it is a UUID
 * (kept lowercase), else "" or NULL; created_ms is recorded as the billing's
 * creation time. Returns 0 with *b filled, or -1 when the total does not fit
 * in int64 (b untouched). */
int billing_make(const event_finished *ev, const char *event_id, int64_t created_ms, billing *b);

/* The billing one consultation-finished message makes. body[0..len) is the
 * message's value; ce_type and ce_id its CloudEvents headers, NULL when
 * absent (a plain producer sends none: accepted); created_ms is recorded as
 * the billing's creation time. Returns 0 with *b filled, or -1 with a
 * one-line reason naming the field in reason[reasonlen] when the message can
 * never be billed: an empty body, another ce_type, an invalid event (see
 * event_decode), or a total that does not fit in int64. A ce_id that is not a
 * UUID is not kept (event_id ""). */
int billing_from_event(const char *body, size_t len, const char *ce_type, const char *ce_id,
                       int64_t created_ms, billing *b, char *reason, size_t reasonlen);

/* Whether a message is ours to bill at all: its CloudEvents ce_type must be
 * EVENT_TYPE and its ce_source `source` (the configured producer's,
 * EVENT_SOURCE by default), both present. Anyone who can write the topic can
 * write a well-formed event; only the appointment service's are billed.
 * Returns 0, or -1 with a one-line reason naming the header ("ce_type: ...",
 * "ce_source: ...") in reason[reasonlen]. Pure. */
int billing_check_origin(const char *ce_type, const char *ce_source, const char *source,
                         char *reason, size_t reasonlen);

/* 0 when b's consultation lasted at most max_ms; else -1 with a one-line
 * reason starting "too_long:" in reason[reasonlen]: such an event is never
 * billed (a consultation started by mistake in 1971 and finished now would
 * bill 480,000 hours). Pure. */
int billing_check_length(const billing *b, int64_t max_ms, char *reason, size_t reasonlen);

#endif
