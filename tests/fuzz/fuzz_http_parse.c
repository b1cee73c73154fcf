/* libFuzzer target for the request-line and header readers of
 * common/http_parse.c. The first input byte picks the reader (and, for
 * routes, the pattern); the rest is the path or header value, as an
 * exact-size copy (never NUL-terminated). Properties:
 *  - a route matches exactly when a segment-by-segment reference matcher
 *    says so; on a match the pattern with its captures put back is the path
 *    again, every capture is a non-empty segment inside the path (a UUID
 *    where the pattern says :uuid); without one the capture arrays are
 *    untouched;
 *  - the routed path length drops at most one trailing '/', never from "/";
 *  - a JSON content type starts (after spaces) with application/, in any
 *    case, and its media type is application/json or ends in +json;
 *  - an accepted request id is 1..HTTP_REQUEST_ID_MAX safe characters, and
 *    every such string is accepted. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_input.h"
#include "http_parse.h"
#include "uuid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The services' route patterns (appointment/appt_api.c, financial/billing_api.c,
 * common/ops.h), and a few shapes they do not use yet. */
static const char *const patterns[] = {
    "/",
    "/appointments",
    "/appointments/{id}",
    "/appointments/{id}/finish",
    "/{id:uuid}",
    "/billings",
    "/billings/summary",
    "/billings/{appointment_id}",
    "/{appointment_id:uuid}",
    "/docs",
    "/docs/{file}",
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/readyz",
    "/a/{x}/b/{y:uuid}",
    "/{x}/{y}",
    "/{x}/{y}/{z}",
};
#define NPATTERNS (sizeof patterns / sizeof patterns[0])

/* The reference: patterns whose captures are whole segments, compared one
 * '/'-separated segment at a time. */
static bool reference_match(const char *pattern, const char *path, size_t len)
{
    size_t ncap = 0;
    const char *p = pattern;
    size_t i = 0;
    for (;;) {
        const char *pe = strchr(p, '/');
        size_t pn = pe ? (size_t)(pe - p) : strlen(p);
        const char *se = memchr(path + i, '/', len - i);
        size_t sn = se ? (size_t)(se - (path + i)) : len - i;
        if (pn > 0 && p[0] == '{') {
            if (sn == 0 || ++ncap > HTTP_MAX_PARAMS)
                return false;
            if (pn > 7 && memcmp(p + pn - 6, ":uuid}", 6) == 0 && !uuid_is_valid(path + i, sn))
                return false;
        } else if (pn != sn || memcmp(p, path + i, pn) != 0) {
            return false;
        }
        if (!pe || !se)
            return !pe && !se;
        p = pe + 1;
        i += sn + 1;
    }
}

static void check_route(const char *pattern, const char *path, size_t len)
{
    const char *sentinel = "sentinel";
    const char *param[HTTP_MAX_PARAMS] = {sentinel, sentinel};
    size_t plen[HTTP_MAX_PARAMS] = {SIZE_MAX, SIZE_MAX};
    int rc = http_parse_route(pattern, path, len, param, plen);
    if ((rc == 0) != reference_match(pattern, path, len))
        abort();
    if (rc != 0) {
        for (int k = 0; k < HTTP_MAX_PARAMS; k++)
            if (param[k] != sentinel || plen[k] != SIZE_MAX)
                abort();
        return;
    }
    /* Put the captures back into the pattern: that must give the path. */
    size_t i = 0;
    int k = 0;
    for (const char *p = pattern; *p; p++) {
        if (*p != '{') {
            if (i >= len || path[i++] != *p)
                abort();
            continue;
        }
        const char *pe = strchr(p, '}');
        if (k >= HTTP_MAX_PARAMS || param[k] != path + i || plen[k] == 0 || plen[k] > len - i ||
            memchr(param[k], '/', plen[k]))
            abort();
        if (pe - p > 6 && memcmp(pe - 5, ":uuid", 5) == 0 && !uuid_is_valid(param[k], plen[k]))
            abort();
        i += plen[k++];
        p = pe;
    }
    if (i != len)
        abort();
    for (; k < HTTP_MAX_PARAMS; k++)
        if (param[k] != sentinel)
            abort();
}

static void check_path_len(const char *path, size_t len)
{
    size_t n = http_parse_path_len(path, len);
    if (n == len)
        return;
    if (n != len - 1 || len < 2 || path[len - 1] != '/')
        abort();
}

static void check_json_type(const char *ct, size_t len)
{
    if (!http_parse_is_json_type(ct, len))
        return;
    if (memchr(ct, '\0', len))
        abort();
    /* The media type, found with the string functions on a C-string copy. */
    char *z = strndup(ct, len);
    if (!z)
        return;
    const char *t = z + strspn(z, " ");
    size_t n = strcspn(t, "; ");
    bool plain = n == strlen("application/json") && strncasecmp(t, "application/json", n) == 0;
    bool suffix = n > strlen("application/+json") && strncasecmp(t, "application/", 12) == 0 &&
                  strncasecmp(t + n - strlen("+json"), "+json", strlen("+json")) == 0;
    free(z);
    if (!plain && !suffix)
        abort();
}

static bool safe_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

static void check_request_id(const char *s, size_t len)
{
    bool want = len >= 1 && len <= HTTP_REQUEST_ID_MAX;
    for (size_t i = 0; want && i < len; i++)
        want = safe_char(s[i]);
    if (http_parse_request_id_ok(s, len) != want)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 4;
    size_t n = size - 1;
    char *in = fuzz_input_copy(data + 1, n);
    if (!in)
        return 0;
    if (which == 0) {
        /* The second byte picks the pattern. */
        if (n >= 1)
            check_route(patterns[(uint8_t)in[0] % NPATTERNS], in + 1, n - 1);
    } else if (which == 1) {
        check_path_len(in, n);
    } else if (which == 2) {
        check_json_type(in, n);
    } else {
        check_request_id(in, n);
    }
    free(in);
    return 0;
}
