/* intake: what the financial service makes of one appointment.finished
 * message, pure (no broker, no database), so the consumer and a replay of a
 * dead letter run exactly the same code: a billing, or a dead-letter reason
 * out of a fixed set (documented in proto/README.md) with a one-line detail.
 * Also the accepted currencies (CURRENCIES). Thread-safe: no state. */
#ifndef INTAKE_H
#define INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "billing.h"
#include "event.h"

/* Why a message is a dead letter. The names (intake_reason_name) are the
 * `reason` of a dead_letters record and of the metrics' label. */
typedef enum intake_reason {
    INTAKE_UNDECODABLE = 0,  /* "undecodable": empty, not JSON, not an object */
    INTAKE_SCHEMA,           /* "schema": a field missing, mistyped, duplicated, out of range */
    INTAKE_END_BEFORE_START, /* "end_before_start" */
    INTAKE_NOT_OURS,         /* "not_ours": another CloudEvents type */
    INTAKE_TOO_LONG,         /* "too_long": a consultation longer than allowed */
    INTAKE_TOO_LARGE,        /* "too_large": a message larger than allowed */
    INTAKE_CURRENCY,         /* "currency": a currency not in CURRENCIES */
    INTAKE_BAD_SIGNATURE,    /* "bad_signature": a signature that does not verify */
    INTAKE_REFUSED,          /* "refused": anything else the service refuses */
    INTAKE_NREASONS
} intake_reason;

/* The reason's name ("schema"); "refused" for a value out of range. Cannot
 * fail. */
const char *intake_reason_name(intake_reason r);
/* The reason named s[0..len), or -1 when s names none. */
int intake_reason_parse(const char *s, size_t len);
/* The reason a detail such as billing_from_event writes ("end_date: before
 * start_date", "ce_type: expected ...", "body: ...") stands for; a detail
 * that starts with a reason's name and ':' is that reason. Unknown details
 * are INTAKE_REFUSED. Cannot fail. */
intake_reason intake_reason_of_detail(const char *detail);

/* The currencies accepted (CURRENCIES): at most INTAKE_CURRENCIES_MAX. */
#define INTAKE_CURRENCIES_MAX 16
typedef struct intake_currencies {
    size_t n;
    char code[INTAKE_CURRENCIES_MAX][EVENT_CURRENCY_LEN];
} intake_currencies;

/* Reads a comma-separated list of ISO 4217 codes ("BRL,USD"; spaces around
 * the commas allowed, duplicates kept once). Returns 0 with *out filled, or
 * -1 with a reason in err (an empty list, a code that is not three capital
 * letters, too many codes); out untouched then. */
int intake_currencies_parse(const char *s, intake_currencies *out, char *err, size_t errlen);
/* Whether code is accepted. Cannot fail. */
bool intake_currencies_has(const intake_currencies *c, const char *code);

/* One message as the service received it: its value and the three
 * CloudEvents headers it reads (NULL when absent). Everything is borrowed. */
typedef struct intake_message {
    const char *value; /* NULL for a tombstone */
    size_t len;
    const char *ce_type;
    const char *ce_id;
    const char *ce_source;
} intake_message;

/* What the service accepts (borrowed). */
typedef struct intake_rules {
    const intake_currencies *accepted; /* NULL accepts every currency */
    /* EVENT_SOURCE: the ce_type and ce_source must be ours
     * (billing_check_origin, not_ours); NULL skips that check. */
    const char *event_source;
    int64_t max_consultation_ms; /* > 0: a longer consultation is too_long */
} intake_rules;

/* The billing m makes under rules (0, *b filled), or -1 with the reason in
 * *why and a one-line detail naming the field in detail[detaillen] (no
 * patient data: field names and codes only): first the origin
 * (billing_check_origin), then the event (billing_from_event), its length
 * (billing_check_length, too_long) and its currency; created_ms as
 * billing_from_event's. */
int intake_judge(const intake_message *m, const intake_rules *rules, int64_t created_ms, billing *b,
                 intake_reason *why, char *detail, size_t detaillen);

/* The appointment id of a message that may not decode as a whole: its
 * "appointment_id" when the value is a JSON object holding a UUID there.
 * Returns 0 with out[UUID_STR_LEN] filled (lowercase), or -1. */
int intake_appointment_id(const char *value, size_t len, char *out);

#endif
