#include "http_parse.h"

#include <string.h>
#include <strings.h>

#include "uuid.h"

int http_parse_route(const char *pattern, const char *path, size_t len, const char **param,
                     size_t *param_len)
{
    const char *cap[HTTP_MAX_PARAMS];
    size_t cap_len[HTTP_MAX_PARAMS];
    size_t ncap = 0;
    const char *p = pattern;
    size_t i = 0;
    while (*p && i < len) {
        if (*p == '{') {
            const char *pe = strchr(p, '}');
            if (!pe || ncap == HTTP_MAX_PARAMS)
                return -1;
            const char *slash = memchr(path + i, '/', len - i);
            size_t n = slash ? (size_t)(slash - (path + i)) : len - i;
            if (n == 0)
                return -1;
            /* uuid_is_valid checks the shape only; handlers still normalise. */
            if (pe - p > 6 && strncmp(pe - 5, ":uuid", 5) == 0 && !uuid_is_valid(path + i, n))
                return -1;
            cap[ncap] = path + i;
            cap_len[ncap++] = n;
            p = pe + 1;
            i += n;
            continue;
        }
        if (*p != path[i])
            return -1;
        p++;
        i++;
    }
    if (*p || i != len)
        return -1;
    for (size_t k = 0; k < ncap; k++) {
        param[k] = cap[k];
        param_len[k] = cap_len[k];
    }
    return 0;
}

size_t http_parse_path_len(const char *path, size_t len)
{
    return len > 1 && path[len - 1] == '/' ? len - 1 : len;
}

bool http_parse_is_json_type(const char *ct, size_t len)
{
    if (!ct || memchr(ct, '\0', len))
        return false;
    size_t i = 0;
    while (i < len && ct[i] == ' ')
        i++;
    size_t end = i;
    while (end < len && ct[end] != ';' && ct[end] != ' ')
        end++;
    const char *t = ct + i;
    size_t n = end - i;
    if (n == 16 && strncasecmp(t, "application/json", 16) == 0)
        return true;
    return n > 17 && strncasecmp(t, "application/", 12) == 0 &&
           strncasecmp(t + n - 5, "+json", 5) == 0;
}

bool http_parse_request_id_ok(const char *s, size_t len)
{
    if (!s || len == 0 || len > HTTP_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok)
            return false;
    }
    return true;
}

bool http_parse_has_body(long long content_length, bool transfer_encoding)
{
    return content_length > 0 || (content_length < 0 && transfer_encoding);
}
