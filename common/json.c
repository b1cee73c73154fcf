#include "json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "money.h"
#include "timefmt.h"

void json_append_str(buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"':
            buf_append(b, "\\\"", 2);
            break;
        case '\\':
            buf_append(b, "\\\\", 2);
            break;
        case '\n':
            buf_append(b, "\\n", 2);
            break;
        case '\r':
            buf_append(b, "\\r", 2);
            break;
        case '\t':
            buf_append(b, "\\t", 2);
            break;
        default: {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, esc, 6);
        }
        }
    }
    buf_append(b, s + run, len - run);
    buf_putc(b, '"');
}

void json_append_cstr(buf *b, const char *s)
{
    if (!s)
        buf_append(b, "null", 4);
    else
        json_append_str(b, s, strlen(s));
}

void json_append_key(buf *b, const char *key)
{
    buf_putc(b, '"');
    buf_puts(b, key);
    buf_append(b, "\":", 2);
}

void json_append_money(buf *b, int64_t cents)
{
    char tmp[MONEY_STR_LEN];
    size_t n = money_format(cents, tmp);
    buf_append(b, tmp, n);
}

void json_append_time(buf *b, int64_t ms)
{
    char tmp[TIMEFMT_LEN];
    size_t n = timefmt_format(ms, tmp);
    buf_putc(b, '"');
    buf_append(b, tmp, n);
    buf_putc(b, '"');
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* True if the integer literal t[0..n) (optional '-', then digits) is outside
 * int64: libbson wraps some of those around silently (99999999999999999999
 * parses as 7766279631452241919) instead of rejecting them. */
static bool int_out_of_range(const char *t, size_t n)
{
    bool neg = n > 0 && t[0] == '-';
    if (neg) {
        t++;
        n--;
    }
    while (n > 1 && t[0] == '0') { /* not valid JSON anyway; libbson says so */
        t++;
        n--;
    }
    const char *limit = neg ? "9223372036854775808" : "9223372036854775807";
    return n > 19 || (n == 19 && memcmp(t, limit, 19) > 0);
}

/* True when the string s[n] just closed is an object key (a ':' follows)
 * that libbson would read as an extended-JSON number wrapper: it turns
 * {"$numberLong":"20000"} into a plain int64, so a field that must be a JSON
 * integer would accept an object. A key that begins with an escaped '$' is
 * refused too, since the unescaped name could be the same wrapper. */
static bool is_number_wrapper_key(const char *s, size_t n, const char *rest, size_t rest_len)
{
    size_t j = 0;
    while (j < rest_len && is_ws(rest[j]))
        j++;
    if (j == rest_len || rest[j] != ':')
        return false;
    return (n >= 7 && memcmp(s, "$number", 7) == 0) || (n >= 6 && memcmp(s, "\\u0024", 6) == 0);
}

/* Checks what libbson's parser does not, on the bytes from the opening '{':
 * nesting deeper than max_depth (it recurses without a bound we control, so a
 * deep body must be a 400 and not a stack risk), integers outside int64, and
 * bytes after the top-level object (it stops at the first object and ignores
 * the rest, so '{"a":1}{"b":2}' would pass). Only a valid prefix is tracked
 * exactly; malformed input that gets past this is left to libbson. */
static const char *check_structure(const char *data, size_t len, int max_depth)
{
    int depth = 0;
    bool in_str = false;
    size_t str_start = 0;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_str) {
            if (c == '\\') {
                i++;
            } else if (c == '"') {
                in_str = false;
                if (is_number_wrapper_key(data + str_start, i - str_start, data + i + 1,
                                          len - i - 1))
                    return "malformed JSON: MongoDB extended JSON ($number...) is not accepted";
            }
            continue;
        }
        if (c == '"') {
            in_str = true;
            str_start = i + 1;
        } else if (c == '{' || c == '[') {
            if (++depth > max_depth)
                return "the body is nested too deeply";
        } else if (c == '}' || c == ']') {
            if (--depth == 0) {
                for (size_t j = i + 1; j < len; j++)
                    if (!is_ws(data[j]))
                        return "malformed JSON: data after the object";
                return NULL;
            }
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t start = i;
            bool integer = true;
            while (i + 1 < len && (data[i + 1] == '-' || data[i + 1] == '+' || data[i + 1] == '.' ||
                                   data[i + 1] == 'e' || data[i + 1] == 'E' ||
                                   (data[i + 1] >= '0' && data[i + 1] <= '9'))) {
                i++;
                if (data[i] == '.' || data[i] == 'e' || data[i] == 'E')
                    integer = false;
            }
            if (integer && int_out_of_range(data + start, i + 1 - start))
                return "malformed JSON: integer out of range";
        }
    }
    return NULL;
}

int json_parse_object(const char *data, size_t len, bson_t *out, char *err, size_t errlen)
{
    size_t i = 0;
    while (i < len && is_ws(data[i]))
        i++;
    if (i == len) {
        bson_init(out);
        return 0;
    }
    if (data[i] != '{') {
        snprintf(err, errlen, "the body must be a JSON object");
        return -1;
    }
    if (memchr(data, '\0', len)) {
        snprintf(err, errlen, "the body contains a NUL byte");
        return -1;
    }
    if (!bson_utf8_validate(data, len, false)) {
        snprintf(err, errlen, "the body is not valid UTF-8");
        return -1;
    }
    const char *bad = check_structure(data + i, len - i, 32);
    if (bad) {
        snprintf(err, errlen, "%s", bad);
        return -1;
    }
    bson_error_t berr;
    if (!bson_init_from_json(out, data, (ssize_t)len, &berr)) {
        snprintf(err, errlen, "malformed JSON: %s", berr.message);
        return -1;
    }
    return 0;
}

json_status json_get_str(const bson_t *doc, const char *field, const char **out, size_t *out_len)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, field))
        return JSON_MISSING;
    if (BSON_ITER_HOLDS_NULL(&it))
        return JSON_MISSING;
    if (!BSON_ITER_HOLDS_UTF8(&it))
        return JSON_WRONG_TYPE;
    uint32_t n = 0;
    const char *s = bson_iter_utf8(&it, &n);
    if (memchr(s, '\0', n))
        return JSON_WRONG_TYPE;
    *out = s;
    *out_len = n;
    return JSON_OK;
}

json_status json_get_int(const bson_t *doc, const char *field, int64_t *out)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, field))
        return JSON_MISSING;
    switch (bson_iter_type(&it)) {
    case BSON_TYPE_INT32:
        *out = bson_iter_int32(&it);
        return JSON_OK;
    case BSON_TYPE_INT64:
        *out = bson_iter_int64(&it);
        return JSON_OK;
    case BSON_TYPE_DOUBLE: {
        double d = bson_iter_double(&it);
        if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
            return JSON_WRONG_TYPE;
        *out = (int64_t)d;
        return JSON_OK;
    }
    case BSON_TYPE_NULL:
        return JSON_MISSING;
    default:
        return JSON_WRONG_TYPE;
    }
}

bool json_has_unknown_key(const bson_t *doc, const char *const *allowed, const char **unknown)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, doc))
        return false;
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            if (strcmp(*a, k) == 0) {
                ok = true;
                break;
            }
        if (!ok) {
            *unknown = k;
            return true;
        }
    }
    return false;
}
