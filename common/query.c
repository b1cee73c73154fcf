#include "query.h"

#include <bson/bson.h>
#include <civetweb.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"
#include "uuid.h"

int query_str(const char *query, const char *name, char *out, size_t outlen, problem *p)
{
    if (!query)
        return 0;
    int n = mg_get_var2(query, strlen(query), name, out, outlen, 0);
    if (n == -1)
        return 0;
    if (n < 0 || !bson_utf8_validate(out, (size_t)n, false))
        return problem_set(p, 400, "invalid-query", name,
                           "query parameter %s is too long or not UTF-8", name);
    return 1;
}

int query_uuid(const char *query, const char *name, char *out, problem *p)
{
    char v[64];
    int rc = query_str(query, name, v, sizeof v, p);
    if (rc <= 0)
        return rc;
    if (uuid_normalize(v, strlen(v), out) != 0)
        return problem_set(p, 400, "invalid-query", name, "%s must be a UUID", name);
    return 1;
}

int query_int(const char *query, const char *name, int64_t min, int64_t max, int64_t *out,
              problem *p)
{
    char v[32];
    int rc = query_str(query, name, v, sizeof v, p);
    if (rc <= 0)
        return rc;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    bool digits = (v[0] >= '0' && v[0] <= '9') || (v[0] == '-' && v[1] >= '0' && v[1] <= '9');
    if (!digits || *end || errno != 0 || n < min || n > max)
        return problem_set(p, 400, "invalid-query", name, "%s must be an integer from %lld to %lld",
                           name, (long long)min, (long long)max);
    *out = n;
    return 1;
}

int query_time(const char *query, const char *name, int64_t *out_ms, problem *p)
{
    char v[64];
    int rc = query_str(query, name, v, sizeof v, p);
    if (rc <= 0)
        return rc;
    /* Query strings decode '+' as a space, so "...T10:00:00+03:00" sent
     * unencoded arrives as "...T10:00:00 03:00". Past the date (where the
     * Python form puts its one space) a space can only have been a '+'. */
    size_t len = strlen(v);
    for (size_t i = 11; i < len; i++)
        if (v[i] == ' ')
            v[i] = '+';
    if (timefmt_parse(v, len, out_ms) != 0)
        return problem_set(p, 400, "invalid-query", name,
                           "%s must be an RFC 3339 date-time such as 2024-05-01T00:00:00Z", name);
    return 1;
}
