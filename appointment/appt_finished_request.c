#include "appt_finished_request.h"

#include <string.h>

#include "query.h"
#include "timefmt.h"
#include "uuid.h"

#define DAY_MS 86400000LL

/* "YYYY-MM-DD" as the ms of its midnight; -1 if s is no such day. */
static int parse_day(const char *s, size_t len, int64_t *ms)
{
    char t[32];
    if (len != BUCKET_DAY_LEN - 1)
        return -1;
    memcpy(t, s, len);
    memcpy(t + len, "T00:00:00Z", sizeof "T00:00:00Z");
    return timefmt_parse(t, strlen(t), ms);
}

static int bad_cursor(problem *p)
{
    return problem_set(p, 400, "invalid-query", "cursor",
                       "cursor must be a next_cursor of this from/to range");
}

int appt_finished_request_query(const char *query, appt_finished_query *q, problem *p)
{
    appt_finished_query out;
    memset(&out, 0, sizeof out);
    int64_t limit = APPT_FINISHED_LIMIT_DEFAULT;
    int rc;
    if ((rc = query_time(query, "from", &out.from_ms, p)) < 0)
        return -1;
    if (rc == 0)
        return problem_set(p, 400, "invalid-query", "from", "from is required");
    if ((rc = query_time(query, "to", &out.to_ms, p)) < 0)
        return -1;
    if (rc == 0)
        return problem_set(p, 400, "invalid-query", "to", "to is required");
    if (out.to_ms <= out.from_ms || out.to_ms - out.from_ms > APPT_FINISHED_RANGE_DAYS_MAX * DAY_MS)
        return problem_set(p, 400, "invalid-query", "to",
                           "to must be after from, at most %d days later",
                           APPT_FINISHED_RANGE_DAYS_MAX);
    if (query_int(query, "limit", 1, APPT_FINISHED_LIMIT_MAX, &limit, p) < 0)
        return -1;
    out.limit = (int)limit;
    char cur[APPT_FINISHED_CURSOR_LEN + 1];
    if ((rc = query_str(query, "cursor", cur, sizeof cur, p)) < 0)
        return bad_cursor(p);
    if (rc == 1) {
        const size_t day_len = BUCKET_DAY_LEN - 1;
        int64_t day_ms = 0;
        size_t len = strlen(cur);
        if (len <= day_len + 1 || cur[day_len] != '.' || parse_day(cur, day_len, &day_ms) != 0 ||
            uuid_normalize(cur + day_len + 1, len - day_len - 1, out.cursor_id) != 0 ||
            day_ms + DAY_MS <= out.from_ms || day_ms >= out.to_ms)
            return bad_cursor(p);
        memcpy(out.cursor_day, cur, day_len);
        out.has_cursor = true;
    }
    *q = out;
    return 0;
}
