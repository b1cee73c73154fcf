/* event: the appointment.finished contract in code (proto/ holds its JSON
 * Schema). Encoding and decoding are pure: no Kafka here. Thread-safe. */
#ifndef COMMON_EVENT_H
#define COMMON_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "uuid.h"

#define EVENT_SPECVERSION "1.0"
#define EVENT_TYPE "clinic.appointment.finished.v1"
#define EVENT_SOURCE "/clinic-events/appointment"
#define EVENT_CONTENT_TYPE "application/json"
#define EVENT_CURRENCY_LEN 4 /* ISO 4217 code + NUL */
/* R$ 1 billion an hour: far above any real price, low enough that totals and
 * summaries of realistic volumes never overflow int64 cents. */
#define EVENT_MAX_HOURLY_PRICE_CENTS INT64_C(100000000000)

typedef struct event_finished {
    char appointment_id[UUID_STR_LEN];
    char physician_id[UUID_STR_LEN];
    char patient_id[UUID_STR_LEN];
    int64_t start_ms; /* ms since the epoch, UTC */
    int64_t end_ms;
    int64_t hourly_price_cents;
    char currency[EVENT_CURRENCY_LEN]; /* "BRL" */
} event_finished;

/* Appends the event's JSON value to out:
 * {"appointment_id":..,"physician_id":..,"patient_id":..,"start_date":"..Z",
 *  "end_date":"..Z","hourly_price_cents":20000,"currency":"BRL"}. Cannot fail. */
void event_encode(const event_finished *ev, buf *out);

/* Decodes and validates a value produced by event_encode (or any producer that
 * follows the schema): UUIDs canonical (normalised to lowercase), RFC 3339
 * dates, end >= start, price an integer >= 0, currency three uppercase letters.
 * Unknown fields are ignored (forward compatibility). Returns 0 and fills *ev,
 * or -1 with a one-line reason naming the field in reason[reason_len]
 * (e.g. "end_date: before start_date", "patient_id: duplicate key" for a key
 * given twice, "body: ..." when it is not a JSON object at all): such a
 * message can never be processed. */
int event_decode(const char *data, size_t len, event_finished *ev, char *reason, size_t reason_len);

#endif
