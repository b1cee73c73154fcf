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

/* Converts parameter `name`'s text v (NUL-terminated, writable) into out
 * (arg: what the kind needs, or NULL). Returns 0, or -1 with the problem. */
typedef int (*query_conv)(char *v, const char *name, const void *arg, void *out, problem *p);

/* Reads parameter `name` into a buffer of vmax bytes (longer is a problem:
 * no value of the kind is that long) and converts it. The result as the
 * header says: 1, 0 (absent) or -1. */
static int query_typed(const char *query, const char *name, size_t vmax, query_conv conv,
                       const void *arg, void *out, problem *p)
{
    char v[64];
    int rc = query_str(query, name, v, vmax < sizeof v ? vmax : sizeof v, p);
    if (rc <= 0)
        return rc;
    return conv(v, name, arg, out, p) == 0 ? 1 : -1;
}

static int conv_uuid(char *v, const char *name, const void *arg, void *out, problem *p)
{
    (void)arg;
    if (uuid_normalize(v, strlen(v), out) != 0)
        return problem_set(p, 400, "invalid-query", name, "%s must be a UUID", name);
    return 0;
}

/* arg: the bounds, {min, max}. */
static int conv_int(char *v, const char *name, const void *arg, void *out, problem *p)
{
    const int64_t *range = arg;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    bool digits = (v[0] >= '0' && v[0] <= '9') || (v[0] == '-' && v[1] >= '0' && v[1] <= '9');
    if (!digits || *end || errno != 0 || n < range[0] || n > range[1])
        return problem_set(p, 400, "invalid-query", name, "%s must be an integer from %lld to %lld",
                           name, (long long)range[0], (long long)range[1]);
    *(int64_t *)out = n;
    return 0;
}

static int conv_time(char *v, const char *name, const void *arg, void *out, problem *p)
{
    (void)arg;
    /* Query strings decode '+' as a space, so "...T10:00:00+03:00" sent
     * unencoded arrives as "...T10:00:00 03:00". Past the date (where the
     * Python form puts its one space) a space can only have been a '+'. */
    size_t len = strlen(v);
    for (size_t i = 11; i < len; i++)
        if (v[i] == ' ')
            v[i] = '+';
    if (timefmt_parse(v, len, out) != 0)
        return problem_set(p, 400, "invalid-query", name,
                           "%s must be an RFC 3339 date-time such as 2024-05-01T00:00:00Z", name);
    return 0;
}

int query_uuid(const char *query, const char *name, char *out, problem *p)
{
    return query_typed(query, name, 64, conv_uuid, NULL, out, p);
}

int query_int(const char *query, const char *name, int64_t min, int64_t max, int64_t *out,
              problem *p)
{
    const int64_t range[2] = {min, max};
    return query_typed(query, name, 32, conv_int, range, out, p);
}

int query_time(const char *query, const char *name, int64_t *out_ms, problem *p)
{
    return query_typed(query, name, 64, conv_time, NULL, out_ms, p);
}
