#include "appt_request.h"

#include <string.h>

#include "json.h"
#include "query.h"
#include "timefmt.h"

/* Reads a required UUID field of the body into out. */
static int body_uuid(const json_t *doc, const char *field, char *out, problem *p)
{
    const char *s = NULL;
    size_t n = 0;
    json_status st = json_get_str(doc, field, &s, &n);
    if (st == JSON_MISSING)
        return problem_set(p, 400, "missing-field", field, "%s is required", field);
    if (st != JSON_OK || uuid_normalize(s, n, out) != 0)
        return problem_set(p, 400, "invalid-field", field, "%s must be a UUID string", field);
    return 0;
}

/* Reads an optional date-time field, not in the future; compat: in
 * timefmt_parse_compat's forms. Returns 1 when present (*out set), 0 when
 * absent, -1 with *p. */
static int body_time(const json_t *doc, const char *field, int64_t now, bool compat, int64_t *out,
                     problem *p)
{
    const char *s = NULL;
    size_t n = 0;
    json_status st = json_get_str(doc, field, &s, &n);
    if (st == JSON_MISSING)
        return 0;
    int64_t ms = 0;
    if (st != JSON_OK || (compat ? timefmt_parse_compat(s, n, &ms) : timefmt_parse(s, n, &ms)) != 0)
        return problem_set(p, 400, "invalid-field", field,
                           compat ? "%s must be a date-time such as 2024-05-01T14:30:00.000000 "
                                    "(UTC) or 2024-05-01T14:30:00Z"
                                  : "%s must be an RFC 3339 date-time such as 2024-05-01T14:30:00Z",
                           field);
    /* now + tolerance cannot overflow: now comes from the clock, not the client. */
    if (ms > now + APPT_FUTURE_TOLERANCE_MS)
        return problem_set(p, 400, "invalid-field", field, "%s must not be in the future", field);
    *out = ms;
    return 1;
}

static int start(const json_t *doc, int64_t now_ms, bool compat, appt_start_req *out, problem *p)
{
    appt_start_req r;
    memset(&r, 0, sizeof r);
    int has_start = 0;
    if (body_uuid(doc, "physician_id", r.physician_id, p) != 0 ||
        body_uuid(doc, "patient_id", r.patient_id, p) != 0 ||
        (has_start = body_time(doc, "start_date", now_ms, compat, &r.start_ms, p)) < 0)
        return -1;
    r.has_start = has_start == 1;
    *out = r;
    return 0;
}

static int finish(const json_t *doc, int64_t now_ms, bool compat, appt_finish_req *out, problem *p)
{
    appt_finish_req r = {false, 0};
    int has_end = body_time(doc, "end_date", now_ms, compat, &r.end_ms, p);
    if (has_end < 0)
        return -1;
    r.has_end = has_end == 1;
    *out = r;
    return 0;
}

int appt_request_start(const json_t *doc, int64_t now_ms, appt_start_req *out, problem *p)
{
    return start(doc, now_ms, false, out, p);
}

int appt_request_start_compat(const json_t *doc, int64_t now_ms, appt_start_req *out, problem *p)
{
    return start(doc, now_ms, true, out, p);
}

int appt_request_finish(const json_t *doc, int64_t now_ms, appt_finish_req *out, problem *p)
{
    return finish(doc, now_ms, false, out, p);
}

int appt_request_finish_compat(const json_t *doc, int64_t now_ms, appt_finish_req *out, problem *p)
{
    return finish(doc, now_ms, true, out, p);
}

int appt_request_list(const char *query, appt_list_query *out, problem *p)
{
    appt_list_query r;
    memset(&r, 0, sizeof r);
    r.status = -1;
    int has_phys, has_pat, has_cursor;
    if ((has_phys = query_uuid(query, "physician_id", r.physician_id, p)) < 0 ||
        (has_pat = query_uuid(query, "patient_id", r.patient_id, p)) < 0 ||
        (has_cursor = query_uuid(query, "cursor", r.cursor, p)) < 0)
        return -1;
    char status[16];
    int rc = query_str(query, "status", status, sizeof status, p);
    if (rc < 0)
        return -1;
    if (rc == 1) {
        if (strcmp(status, "started") == 0)
            r.status = 0;
        else if (strcmp(status, "finished") == 0)
            r.status = 1;
        else
            return problem_set(p, 400, "invalid-query", "status",
                               "status must be started or finished");
    }
    int64_t limit = APPT_LIST_DEFAULT;
    if (query_int(query, "limit", 1, APPT_LIST_MAX, &limit, p) < 0)
        return -1;
    r.limit = (int)limit;
    r.has_physician = has_phys == 1;
    r.has_patient = has_pat == 1;
    r.has_cursor = has_cursor == 1;
    *out = r;
    return 0;
}
