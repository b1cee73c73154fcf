/* http_parse: the readers of what a client puts in a request line and its
 * headers, kept apart from the civetweb glue (http.c) so that they can be
 * unit-tested (tests/unit/test_http_parse.c) and fuzzed
 * (tests/fuzz/fuzz_http_parse.c) on their own. Pure: strings and lengths in,
 * results out, no connection, no allocation, no shared state; thread-safe.
 * None of them needs its input NUL-terminated.
 *
 * Predicates return bool; a function that finds something returns 0, or -1
 * (outputs untouched) when there is nothing to find.
 *
 * The other hostile-input readers live with their own modules: traceparent
 * and tracestate in trace.h, query strings in query.h, bearer tokens in
 * auth.h, JSON bodies in json.h. */
#ifndef COMMON_HTTP_PARSE_H
#define COMMON_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* Most "{x}" captures a route pattern may have. */
#define HTTP_MAX_PARAMS 2
/* Longest X-Request-Id taken from a client (a longer one is replaced). */
#define HTTP_REQUEST_ID_MAX 64

/* Matches path[0..len) against a route pattern such as
 * "/appointments/{id}/finish" (a literal from the code, NUL-terminated):
 * "{x}" matches one non-empty segment (up to the next '/' or the end),
 * "{x:uuid}" only a segment shaped like a UUID, so that catch-all routes such
 * as "/{id:uuid}" do not swallow every unknown path; every other character
 * must match exactly. Returns 0 and points param[i] / param_len[i] (arrays of
 * HTTP_MAX_PARAMS) at the captures, in order, inside path; or -1 (no match,
 * or more than HTTP_MAX_PARAMS captures), arrays untouched. Entries past the
 * pattern's captures are left as they were. */
int http_parse_route(const char *pattern, const char *path, size_t len, const char **param,
                     size_t *param_len);

/* The length of path[0..len) as it is routed: one trailing '/' is dropped
 * ("/x/" is "/x"; the Python clients call "/{id}/"), except from "/" itself.
 * Cannot fail. */
size_t http_parse_path_len(const char *path, size_t len);

/* True if the Content-Type value ct[0..len) (NULL: absent) names JSON:
 * application/json or application/<anything>+json, in any case, with leading
 * spaces and parameters (";charset=utf-8") ignored. A NUL byte makes it
 * false. */
bool http_parse_is_json_type(const char *ct, size_t len);

/* True if s[0..len) (NULL: absent) may be echoed and logged as a request id:
 * 1 to HTTP_REQUEST_ID_MAX characters of [A-Za-z0-9._-]. */
bool http_parse_request_id_ok(const char *s, size_t len);

/* True if a request announces a body: a positive Content-Length, or no
 * Content-Length (civetweb's -1) but a Transfer-Encoding header. */
bool http_parse_has_body(long long content_length, bool transfer_encoding);

#endif
