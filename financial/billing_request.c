#include "billing_request.h"

#include <string.h>

#include "money.h"
#include "query.h"

/* The group_by values, by billing_group_by. */
static const struct {
    const char *name;
    billing_group_by by;
} group_names[] = {
    {"physician", BILLING_BY_PHYSICIAN},
    {"patient", BILLING_BY_PATIENT},
    {"day", BILLING_BY_DAY},
};

const char *billing_request_group_name(billing_group_by g)
{
    for (size_t i = 0; i < sizeof group_names / sizeof group_names[0]; i++)
        if (group_names[i].by == g)
            return group_names[i].name;
    return group_names[0].name;
}

/* Reads the optional from/to pair (end_date range [from, to)). */
static int range(const char *query, billing_range *out, problem *p)
{
    billing_range r = {false, 0, false, 0};
    int f = query_time(query, "from", &r.from_ms, p);
    if (f < 0)
        return -1;
    int t = query_time(query, "to", &r.to_ms, p);
    if (t < 0)
        return -1;
    if (f == 1 && t == 1 && r.to_ms <= r.from_ms)
        return problem_set(p, 400, "invalid-query", "to", "to must be after from");
    if (f == 1 && t == 1 && r.to_ms - r.from_ms > (int64_t)BILLING_RANGE_MAX_DAYS * 86400000)
        return problem_set(p, 422, "range-too-long", "to", "to must be at most %d days after from",
                           BILLING_RANGE_MAX_DAYS);
    r.has_from = f == 1;
    r.has_to = t == 1;
    *out = r;
    return 0;
}

int billing_request_list(const char *query, billing_list_query *out, problem *p)
{
    billing_list_query r;
    memset(&r, 0, sizeof r);
    int has_phys, has_pat, has_cursor;
    int64_t limit = BILLING_LIST_DEFAULT;
    if ((has_phys = query_uuid(query, "physician_id", r.physician_id, p)) < 0 ||
        (has_pat = query_uuid(query, "patient_id", r.patient_id, p)) < 0 ||
        (has_cursor = query_uuid(query, "cursor", r.cursor, p)) < 0 ||
        range(query, &r.range, p) < 0 ||
        query_int(query, "limit", 1, BILLING_LIST_MAX, &limit, p) < 0)
        return -1;
    r.has_physician = has_phys == 1;
    r.has_patient = has_pat == 1;
    r.has_cursor = has_cursor == 1;
    r.limit = (int)limit;
    *out = r;
    return 0;
}

static int group_by(const char *query, billing_group_by *out, problem *p)
{
    char v[16];
    int rc = query_str(query, "group_by", v, sizeof v, p);
    if (rc < 0)
        return -1;
    for (size_t i = 0; rc == 1 && i < sizeof group_names / sizeof group_names[0]; i++) {
        if (strcmp(v, group_names[i].name) == 0) {
            *out = group_names[i].by;
            return 0;
        }
    }
    return problem_set(p, 400, "invalid-query", "group_by", "%s",
                       rc == 0 ? "group_by is required: physician, patient or day"
                               : "group_by must be physician, patient or day");
}

static int currency(const char *query, const char *def, char *out, problem *p)
{
    char v[8];
    int rc = query_str(query, "currency", v, sizeof v, p);
    if (rc < 0)
        return -1;
    if (rc == 0) {
        memcpy(out, def, EVENT_CURRENCY_LEN);
        return 0;
    }
    if (!money_currency_valid(v, strlen(v)))
        return problem_set(p, 400, "invalid-query", "currency",
                           "currency must be a three-letter ISO 4217 code such as BRL");
    memcpy(out, v, EVENT_CURRENCY_LEN);
    return 0;
}

int billing_request_summary(const char *query, const char *default_currency,
                            billing_summary_query *out, problem *p)
{
    billing_summary_query r;
    memset(&r, 0, sizeof r);
    if (group_by(query, &r.group_by, p) < 0 || range(query, &r.range, p) < 0 ||
        currency(query, default_currency, r.currency, p) < 0)
        return -1;
    *out = r;
    return 0;
}
