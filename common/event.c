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

/* Converts a field's text s[0..len) into out: 0, or -1 if it is not valid. */
typedef int (*field_conv)(const char *s, size_t len, void *out);

static int conv_uuid(const char *s, size_t len, void *out)
{
    return uuid_normalize(s, len, out);
}

/* The event carries RFC 3339 only: timefmt_parse also takes the Python
 * service's space-separated form, which the schema does not allow. */
static int conv_rfc3339(const char *s, size_t len, void *out)
{
    if (len < 11 || (s[10] != 'T' && s[10] != 't'))
        return -1;
    return timefmt_parse(s, len, out);
}

static int conv_currency(const char *s, size_t len, void *out)
{
    if (!money_currency_valid(s, len))
        return -1;
    memcpy(out, s, 3);
    ((char *)out)[3] = '\0';
    return 0;
}

/* Fetches a required string field and converts it, or writes
 * "<field>: missing", "<field>: not a string" or "<field>: not <what>". */
static int get_field(const json_t *doc, const char *field, field_conv conv, void *out,
                     const char *what, char *reason, size_t reason_len)
{
    const char *s;
    size_t len;
    if (get_str(doc, field, &s, &len, reason, reason_len) != 0)
        return -1;
    if (conv(s, len, out) != 0)
        return fail(reason, reason_len, "%s: not %s", field, what);
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
    static const char uuid[] = "a UUID";
    static const char rfc3339[] = "an RFC 3339 date-time";
    if (get_field(doc, "appointment_id", conv_uuid, e.appointment_id, uuid, reason, reason_len) ||
        get_field(doc, "physician_id", conv_uuid, e.physician_id, uuid, reason, reason_len) ||
        get_field(doc, "patient_id", conv_uuid, e.patient_id, uuid, reason, reason_len) ||
        get_field(doc, "start_date", conv_rfc3339, &e.start_ms, rfc3339, reason, reason_len) ||
        get_field(doc, "end_date", conv_rfc3339, &e.end_ms, rfc3339, reason, reason_len))
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
    if (get_field(doc, "currency", conv_currency, e.currency,
                  "a three-letter uppercase ISO 4217 code", reason, reason_len) != 0)
        goto cleanup;

    *ev = e;
    rc = 0;
cleanup:
    json_decref(doc);
    return rc;
}
