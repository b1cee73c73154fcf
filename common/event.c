#include "event.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "money.h"
#include "timefmt.h"

/* Appends a fixed-size char array field, never reading past its end even if
 * the caller forgot the NUL. */
static void append_field(buf *out, const char *key, const char *s, size_t cap)
{
    json_append_key(out, key);
    json_append_str(out, s, strnlen(s, cap));
}

void event_encode(const event_finished *ev, buf *out)
{
    buf_putc(out, '{');
    append_field(out, "appointment_id", ev->appointment_id, sizeof ev->appointment_id);
    buf_putc(out, ',');
    append_field(out, "physician_id", ev->physician_id, sizeof ev->physician_id);
    buf_putc(out, ',');
    append_field(out, "patient_id", ev->patient_id, sizeof ev->patient_id);
    buf_putc(out, ',');
    json_append_key(out, "start_date");
    json_append_time(out, ev->start_ms);
    buf_putc(out, ',');
    json_append_key(out, "end_date");
    json_append_time(out, ev->end_ms);
    buf_putc(out, ',');
    json_append_key(out, "hourly_price_cents");
    buf_printf(out, "%" PRId64, ev->hourly_price_cents);
    buf_putc(out, ',');
    append_field(out, "currency", ev->currency, sizeof ev->currency);
    buf_putc(out, '}');
}

static int fail(char *reason, size_t reason_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *reason, size_t reason_len, const char *fmt, ...)
{
    if (reason && reason_len > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(reason, reason_len, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Fetches a required string field, or writes "<field>: missing" /
 * "<field>: not a string". */
static int get_str(const json_t *doc, const char *field, const char **s, size_t *len, char *reason,
                   size_t reason_len)
{
    switch (json_get_str(doc, field, s, len)) {
    case JSON_OK:
        return 0;
    case JSON_MISSING:
        return fail(reason, reason_len, "%s: missing", field);
    default:
        return fail(reason, reason_len, "%s: not a string", field);
    }
}

static int get_uuid(const json_t *doc, const char *field, char *out, char *reason,
                    size_t reason_len)
{
    const char *s;
    size_t len;
    if (get_str(doc, field, &s, &len, reason, reason_len) != 0)
        return -1;
    if (uuid_normalize(s, len, out) != 0)
        return fail(reason, reason_len, "%s: not a UUID", field);
    return 0;
}

/* The event carries RFC 3339 only: timefmt_parse also takes the Python
 * service's space-separated form, which the schema does not allow. */
static int get_time(const json_t *doc, const char *field, int64_t *out, char *reason,
                    size_t reason_len)
{
    const char *s;
    size_t len;
    if (get_str(doc, field, &s, &len, reason, reason_len) != 0)
        return -1;
    if (len < 11 || (s[10] != 'T' && s[10] != 't') || timefmt_parse(s, len, out) != 0)
        return fail(reason, reason_len, "%s: not an RFC 3339 date-time", field);
    return 0;
}

int event_decode(const char *data, size_t len, event_finished *ev, char *reason, size_t reason_len)
{
    json_parse_error err;
    json_t *doc = json_parse_object(data, len, &err);
    if (!doc) {
        if (err.duplicate_key)
            return fail(reason, reason_len, "%s: duplicate key", err.key[0] ? err.key : "\"\"");
        return fail(reason, reason_len, "body: %s", err.msg);
    }

    /* Filled here and copied out only when every field is valid. */
    event_finished e;
    memset(&e, 0, sizeof e);
    int rc = -1;
    const char *s;
    size_t n;
    if (get_uuid(doc, "appointment_id", e.appointment_id, reason, reason_len) != 0 ||
        get_uuid(doc, "physician_id", e.physician_id, reason, reason_len) != 0 ||
        get_uuid(doc, "patient_id", e.patient_id, reason, reason_len) != 0 ||
        get_time(doc, "start_date", &e.start_ms, reason, reason_len) != 0 ||
        get_time(doc, "end_date", &e.end_ms, reason, reason_len) != 0)
        goto cleanup;
    if (e.end_ms < e.start_ms) {
        fail(reason, reason_len, "end_date: before start_date");
        goto cleanup;
    }
    switch (json_get_int(doc, "hourly_price_cents", &e.hourly_price_cents)) {
    case JSON_OK:
        break;
    case JSON_MISSING:
        fail(reason, reason_len, "hourly_price_cents: missing");
        goto cleanup;
    default:
        fail(reason, reason_len, "hourly_price_cents: not an integer");
        goto cleanup;
    }
    if (e.hourly_price_cents < 0) {
        fail(reason, reason_len, "hourly_price_cents: negative");
        goto cleanup;
    }
    if (e.hourly_price_cents > EVENT_MAX_HOURLY_PRICE_CENTS) {
        fail(reason, reason_len, "hourly_price_cents: above the maximum");
        goto cleanup;
    }
    if (get_str(doc, "currency", &s, &n, reason, reason_len) != 0)
        goto cleanup;
    if (!money_currency_valid(s, n)) {
        fail(reason, reason_len, "currency: not a three-letter uppercase ISO 4217 code");
        goto cleanup;
    }
    memcpy(e.currency, s, 3);
    e.currency[3] = '\0';

    *ev = e;
    rc = 0;
cleanup:
    json_decref(doc);
    return rc;
}
