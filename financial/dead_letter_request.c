#include "dead_letter_request.h"

#include <string.h>

#include "json.h"
#include "query.h"
#include "timefmt.h"

/* Reads the optional query parameter `name` as one of a fixed set of names
 * (parse: intake_reason_parse or dead_letter_status_parse) into *out.
 * Returns 1 when present, 0 when absent, -1 with *p. */
static int query_name(const char *query, const char *name, int (*parse)(const char *, size_t),
                      const char *allowed, int *out, problem *p)
{
    char v[32];
    int rc = query_str(query, name, v, sizeof v, p);
    if (rc <= 0)
        return rc;
    int x = parse(v, strlen(v));
    if (x < 0)
        return problem_set(p, 400, "invalid-query", name, "%s must be one of: %s", name, allowed);
    *out = x;
    return 1;
}

#define REASONS                                                                                    \
    "undecodable, schema, end_before_start, not_ours, too_long, too_large, currency, "             \
    "bad_signature, refused"

int dead_letter_request_list(const char *query, dead_letter_query *out, problem *p)
{
    dead_letter_query r;
    memset(&r, 0, sizeof r);
    int reason = 0, status = 0, hr, hs, hf, ht, hc;
    int64_t limit = DEAD_LETTER_LIST_DEFAULT;
    if ((hr = query_name(query, "reason", intake_reason_parse, REASONS, &reason, p)) < 0 ||
        (hs = query_name(query, "status", dead_letter_status_parse, "open, replayed, discarded",
                         &status, p)) < 0 ||
        (hf = query_time(query, "from", &r.from_ms, p)) < 0 ||
        (ht = query_time(query, "to", &r.to_ms, p)) < 0 ||
        (hc = query_str(query, "cursor", r.cursor, sizeof r.cursor, p)) < 0 ||
        query_int(query, "limit", 1, DEAD_LETTER_LIST_MAX, &limit, p) < 0)
        return -1;
    if (hf == 1 && ht == 1 && r.to_ms <= r.from_ms)
        return problem_set(p, 400, "invalid-query", "to", "to must be after from");
    r.has_reason = hr == 1;
    r.reason = (intake_reason)reason;
    r.has_status = hs == 1;
    r.status = (dead_letter_status)status;
    r.has_from = hf == 1;
    r.has_to = ht == 1;
    r.has_cursor = hc == 1;
    r.limit = (int)limit;
    *out = r;
    return 0;
}

static int body_problem(problem *p, const char *field, const char *what)
{
    return problem_set(p, 400, "invalid-field", field, "%s %s", field, what);
}

/* An optional date-time field into *ms: 1 present, 0 absent, -1 with *p. */
static int body_time(const json_t *body, const char *field, int64_t *ms, problem *p)
{
    const char *s;
    size_t n;
    switch (json_get_str(body, field, &s, &n)) {
    case JSON_MISSING:
        return 0;
    case JSON_OK:
        if (timefmt_parse(s, n, ms) == 0)
            return 1;
        break;
    default:
        break;
    }
    return body_problem(p, field, "must be an RFC 3339 date-time");
}

/* An optional boolean field: 0 (set or absent), -1 with *p. */
static int body_bool(const json_t *body, const char *field, bool *out, problem *p)
{
    const json_t *v = json_object_get(body, field);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return body_problem(p, field, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

/* An optional integer field in [min, max]: 0 (set or absent), -1 with *p. */
static int body_int(const json_t *body, const char *field, int64_t min, int64_t max, int64_t *out,
                    problem *p)
{
    int64_t v;
    switch (json_get_int(body, field, &v)) {
    case JSON_MISSING:
        return 0;
    case JSON_OK:
        if (v >= min && v <= max) {
            *out = v;
            return 0;
        }
        break;
    default:
        break;
    }
    return problem_set(p, 400, "invalid-field", field, "%s must be an integer from %lld to %lld",
                       field, (long long)min, (long long)max);
}

static int unknown_key(const json_t *body, const char *const *allowed, problem *p)
{
    const char *unknown;
    if (!json_has_unknown_key(body, allowed, &unknown))
        return 0;
    return problem_set(p, 400, "invalid-field", unknown, "unknown field %.64s", unknown);
}

static int job_ids(const json_t *body, replay_filter *r, problem *p)
{
    const json_t *ids = json_object_get(body, "ids");
    if (!ids || json_is_null(ids))
        return 0;
    if (!json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > REPLAY_IDS_MAX)
        return problem_set(p, 400, "invalid-field", "ids",
                           "ids must be an array of 1 to %d dead-letter ids", REPLAY_IDS_MAX);
    for (size_t i = 0; i < json_array_size(ids); i++) {
        const json_t *v = json_array_get(ids, i);
        if (!json_is_string(v) ||
            uuid_normalize(json_string_value(v), json_string_length(v), r->ids[i]) != 0)
            return body_problem(p, "ids", "must hold dead-letter ids (UUIDs)");
    }
    r->nids = json_array_size(ids);
    return 0;
}

int dead_letter_request_job(const json_t *body, replay_filter *out, problem *p)
{
    static const char *const allowed[] = {"reason",  "from",           "to",    "ids",
                                          "dry_run", "max_per_second", "limit", NULL};
    replay_filter job, *r = &job;
    memset(r, 0, sizeof *r);
    r->limit = REPLAY_LIMIT_DEFAULT;
    r->max_per_second = REPLAY_RATE_DEFAULT;
    int rc = -1, hf, ht;
    const char *s;
    size_t n;
    if (unknown_key(body, allowed, p) != 0)
        goto done;
    switch (json_get_str(body, "reason", &s, &n)) {
    case JSON_MISSING:
        break;
    case JSON_OK:
        if (intake_reason_parse(s, n) >= 0) {
            r->has_reason = true;
            r->reason = (intake_reason)intake_reason_parse(s, n);
            break;
        }
        /* fall through */
    default:
        problem_set(p, 400, "invalid-field", "reason", "reason must be one of: %s", REASONS);
        goto done;
    }
    if ((hf = body_time(body, "from", &r->from_ms, p)) < 0 ||
        (ht = body_time(body, "to", &r->to_ms, p)) < 0 || job_ids(body, r, p) < 0 ||
        body_bool(body, "dry_run", &r->dry_run, p) < 0 ||
        body_int(body, "max_per_second", 1, REPLAY_RATE_MAX, &r->max_per_second, p) < 0 ||
        body_int(body, "limit", 1, REPLAY_LIMIT_MAX, &r->limit, p) < 0)
        goto done;
    if (hf == 1 && ht == 1 && r->to_ms <= r->from_ms) {
        body_problem(p, "to", "must be after from");
        goto done;
    }
    r->has_from = hf == 1;
    r->has_to = ht == 1;
    if (r->nids > 0 && (r->has_reason || r->has_from || r->has_to)) {
        problem_set(p, 400, "invalid-field", "ids",
                    "ids name the dead letters to replay: give either ids or reason/from/to");
        goto done;
    }
    *out = *r;
    rc = 0;
done:
    return rc;
}

int dead_letter_request_replay(const json_t *body, bool *dry_run, problem *p)
{
    static const char *const allowed[] = {"dry_run", NULL};
    bool d = false;
    if (unknown_key(body, allowed, p) != 0 || body_bool(body, "dry_run", &d, p) != 0)
        return -1;
    *dry_run = d;
    return 0;
}

int dead_letter_request_discard(const json_t *body, const char **note, problem *p)
{
    static const char *const allowed[] = {"note", NULL};
    const char *s;
    size_t n;
    if (unknown_key(body, allowed, p) != 0)
        return -1;
    if (json_get_str(body, "note", &s, &n) != JSON_OK || n == 0 || n > DEAD_LETTER_NOTE_MAX)
        return problem_set(p, 400, "invalid-field", "note",
                           "note is required: a string of 1 to %d characters saying why",
                           DEAD_LETTER_NOTE_MAX);
    *note = s;
    return 0;
}
