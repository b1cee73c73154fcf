/* libFuzzer target for the request validators of both services
 * (appointment/appt_request.c, appt_finished_request.c, financial/billing_request.c,
 * common/query.c). The first
 * input byte picks the validator; the rest is the body (start, finish) or the
 * raw query string (lists, summary). Properties: an accepted request has
 * canonical lowercase UUIDs, dates in range, limits within bounds; a rejected
 * one carries a complete 400 problem naming a field. */
#include <ctype.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "appt_finished_request.h"
#include "appt_request.h"
#include "billing_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 2030-01-01T00:00:00Z: a fixed "now", so runs are reproducible. */
#define NOW_MS INT64_C(1893456000000)
#define YEAR10000_MS (INT64_C(2932897) * INT64_C(86400000))

static void check_uuid(const char *s)
{
    if (strnlen(s, UUID_STR_LEN) != 36 || !uuid_is_valid(s, 36))
        abort();
    for (size_t i = 0; i < 36; i++)
        if (isupper((unsigned char)s[i]))
            abort();
}

static void check_problem(const problem *p)
{
    if (p->status != 400 || !p->slug || !p->field || !p->detail[0] ||
        strnlen(p->detail, sizeof p->detail) == sizeof p->detail)
        abort();
}

static void check_time(int64_t ms)
{
    if (ms < 0 || ms >= YEAR10000_MS)
        abort();
}

static void check_range(const billing_range *r)
{
    if (r->has_from)
        check_time(r->from_ms);
    if (r->has_to)
        check_time(r->to_ms);
    if (r->has_from && r->has_to && r->to_ms <= r->from_ms)
        abort();
}

static void body(int which, const char *s, size_t n)
{
    json_parse_error err;
    json_t *doc = json_parse_object(s, n, &err);
    if (!doc)
        return;
    problem p;
    memset(&p, 0, sizeof p);
    if (which == 0) {
        appt_start_req r;
        if (appt_request_start(doc, NOW_MS, &r, &p) == 0) {
            check_uuid(r.physician_id);
            check_uuid(r.patient_id);
            if (r.has_start) {
                check_time(r.start_ms);
                if (r.start_ms > NOW_MS + APPT_FUTURE_TOLERANCE_MS)
                    abort();
            }
        } else {
            check_problem(&p);
        }
    } else {
        appt_finish_req r;
        if (appt_request_finish(doc, NOW_MS, &r, &p) == 0) {
            if (r.has_end) {
                check_time(r.end_ms);
                if (r.end_ms > NOW_MS + APPT_FUTURE_TOLERANCE_MS)
                    abort();
            }
        } else {
            check_problem(&p);
        }
    }
    json_decref(doc);
}

static void query(int which, const char *q)
{
    problem p;
    memset(&p, 0, sizeof p);
    if (which == 2) {
        appt_list_query r;
        if (appt_request_list(q, &r, &p) != 0) {
            check_problem(&p);
            return;
        }
        if (r.has_physician)
            check_uuid(r.physician_id);
        if (r.has_patient)
            check_uuid(r.patient_id);
        if (r.has_cursor)
            check_uuid(r.cursor);
        if (r.status < -1 || r.status > 1 || r.limit < 1 || r.limit > APPT_LIST_MAX)
            abort();
    } else if (which == 3) {
        billing_list_query r;
        if (billing_request_list(q, &r, &p) != 0) {
            check_problem(&p);
            return;
        }
        if (r.has_physician)
            check_uuid(r.physician_id);
        if (r.has_patient)
            check_uuid(r.patient_id);
        if (r.has_cursor)
            check_uuid(r.cursor);
        check_range(&r.range);
        if (r.limit < 1 || r.limit > BILLING_LIST_MAX)
            abort();
    } else if (which == 5) {
        appt_finished_query r;
        if (appt_finished_request_query(q, &r, &p) != 0) {
            check_problem(&p);
            return;
        }
        check_time(r.from_ms);
        check_time(r.to_ms);
        if (r.to_ms <= r.from_ms ||
            r.to_ms - r.from_ms > APPT_FINISHED_RANGE_DAYS_MAX * 86400000LL || r.limit < 1 ||
            r.limit > APPT_FINISHED_LIMIT_MAX)
            abort();
        if (r.has_cursor) {
            check_uuid(r.cursor_id);
            if (strnlen(r.cursor_day, BUCKET_DAY_LEN) != BUCKET_DAY_LEN - 1)
                abort();
        }
    } else {
        billing_summary_query r;
        if (billing_request_summary(q, "BRL", &r, &p) != 0) {
            check_problem(&p);
            return;
        }
        check_range(&r.range);
        if (r.group_by < 0 || r.group_by > 2 || strlen(r.currency) != 3)
            abort();
        for (int i = 0; i < 3; i++)
            if (r.currency[i] < 'A' || r.currency[i] > 'Z')
                abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 6;
    size_t n = size - 1;
    /* Bodies are exact-size copies (their length is passed); query strings
     * reach the validators NUL-terminated, as civetweb hands them over. */
    char *copy = malloc(n + 1);
    if (!copy)
        return 0;
    memcpy(copy, data + 1, n);
    copy[n] = '\0';
    if (which < 2) {
        body(which, copy, n);
    } else {
        if (memchr(copy, '\0', n) == NULL)
            query(which, copy);
        else
            query(which, NULL); /* the no-query-string case */
    }
    free(copy);
    return 0;
}
