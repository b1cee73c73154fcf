/* query: typed reads of URL query-string parameters ("a=1&b=x%20y"), pure
 * (no connection), shared by both services' list and summary validators.
 * Each returns 1 when the parameter is present and valid, 0 when absent
 * (outputs untouched), or -1 with a 400 "invalid-query" problem in *p naming
 * the parameter. Thread-safe. */
#ifndef COMMON_QUERY_H
#define COMMON_QUERY_H

#include <stddef.h>
#include <stdint.h>

#include "problem.h"

/* Copies parameter `name` of query (NULL: no query string), URL-decoded, into
 * out[outlen] NUL-terminated; -1 if it does not fit or is not UTF-8. */
int query_str(const char *query, const char *name, char *out, size_t outlen, problem *p);

/* Parameter `name` as a UUID, lowercase, into out[UUID_STR_LEN]. */
int query_uuid(const char *query, const char *name, char *out, problem *p);

/* Parameter `name` as a decimal integer in [min, max]. */
int query_int(const char *query, const char *name, int64_t min, int64_t max, int64_t *out,
              problem *p);

/* Parameter `name` as an RFC 3339 date-time (or the legacy form timefmt_parse
 * takes), in ms. A space past the date is read as the '+' of an offset that
 * was sent unencoded (query strings decode '+' as a space). */
int query_time(const char *query, const char *name, int64_t *out_ms, problem *p);

#endif
