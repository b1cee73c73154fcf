#include "json.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "money.h"
#include "timefmt.h"

void json_append_str(buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    /* The characters with a two-character escape, and its second character;
     * the other control characters are written \u00XX. */
    static const char short_from[] = "\"\\\n\r\t";
    static const char short_to[] = "\"\\nrt";
    buf_putc(b, '"');
    size_t run = 0; /* start of the pending run of bytes that need no escape */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        buf_append(b, s + run, i - run);
        run = i + 1;
        /* Not the array's terminating NUL: a NUL byte is written \u0000. */
        const char *e = memchr(short_from, c, sizeof short_from - 1);
        if (e) {
            char esc[2] = {'\\', short_to[e - short_from]};
            buf_append(b, esc, 2);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(b, esc, 6);
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

/* ---- reading ---- */

/* The documented bound on nesting (the object itself is level 1). */
#define MAX_NESTING 32

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* jansson allocates with xmalloc, so out-of-memory aborts as everywhere else
 * instead of passing for a malformed body (a 400). Set once, before the first
 * parse: jansson's allocator is process-wide. */
static pthread_once_t alloc_once = PTHREAD_ONCE_INIT;

static void use_xmalloc(void)
{
    json_set_alloc_funcs(xmalloc, free);
}

/* True if data[0..len) opens more than `max` arrays or objects at once
 * (brackets inside strings do not count). jansson recurses once per level up
 * to its own bound of 2048, far too deep for a civetweb worker's stack (a
 * body 1,000 levels deep crashed the service), so depth is checked on the
 * bytes before parsing. On any valid prefix of the input the count is the
 * parser's depth exactly, and the parser stops at the first invalid byte, so
 * when this says no the parser never recurses deeper than max. */
bool json_nested_deeper_than(const char *data, size_t len, int max)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (in_str) {
            if (c == '\\')
                i++; /* the escaped byte cannot end the string */
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                return true;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return false;
}

/* Copies the NUL-terminated UTF-8 string s into out[outlen], cut on a
 * character boundary when it does not fit. */
static void copy_utf8(char *out, size_t outlen, const char *s)
{
    size_t n = strlen(s);
    if (n >= outlen) {
        n = outlen - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80) /* s[n] continues a character */
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

/* jansson refuses a duplicate key without naming it, but its error position
 * is the byte just after the key's closing quote. Walks back to the opening
 * quote (the first one not escaped by an odd run of backslashes: inside a
 * JSON string every quote is escaped) and decodes the key into out. Returns
 * 0, or -1 (out untouched) if the position does not point at a key after
 * all. */
static int duplicate_key_at(const char *data, size_t len, int pos, char *out, size_t outlen)
{
    if (pos < 2 || (size_t)pos > len || data[pos - 1] != '"')
        return -1;
    for (size_t i = (size_t)pos - 1; i-- > 0;) {
        if (data[i] != '"')
            continue;
        size_t backslashes = 0;
        while (backslashes < i && data[i - 1 - backslashes] == '\\')
            backslashes++;
        if (backslashes % 2 == 1)
            continue;
        json_error_t jerr;
        json_t *key = json_loadb(data + i, (size_t)pos - i, JSON_DECODE_ANY, &jerr);
        int rc = json_is_string(key) ? 0 : -1;
        if (rc == 0)
            copy_utf8(out, outlen, json_string_value(key));
        json_decref(key);
        return rc;
    }
    return -1;
}

/* Turns jansson's refusal of data[0..len) into *err. */
static void describe_error(const char *data, size_t len, const json_error_t *jerr,
                           json_parse_error *err)
{
    switch (json_error_code(jerr)) {
    case json_error_invalid_utf8:
        snprintf(err->msg, sizeof err->msg, "the body is not valid UTF-8");
        return;
    case json_error_stack_overflow:
        snprintf(err->msg, sizeof err->msg, "the body is nested too deeply");
        return;
    case json_error_null_character:
    case json_error_null_byte_in_key:
        snprintf(err->msg, sizeof err->msg, "the body contains a NUL character (\\u0000)");
        return;
    case json_error_duplicate_key:
        if (duplicate_key_at(data, len, jerr->position, err->key, sizeof err->key) == 0) {
            err->duplicate_key = true;
            if (err->key[0])
                snprintf(err->msg, sizeof err->msg, "%s appears more than once", err->key);
            else
                snprintf(err->msg, sizeof err->msg, "the empty key \"\" appears more than once");
            return;
        }
        break;
    default:
        break;
    }
    /* jansson ends its message with " near '<the token so far>'": up to 20
     * bytes of the body, which may be a patient's name or CPF. Say where,
     * never what. */
    const char *near = strstr(jerr->text, " near '");
    int n = near ? (int)(near - jerr->text) : (int)strlen(jerr->text);
    snprintf(err->msg, sizeof err->msg, "malformed JSON: %.*s (at byte %d)", n, jerr->text,
             jerr->position);
}

json_t *json_parse_object(const char *data, size_t len, json_parse_error *err)
{
    err->msg[0] = '\0';
    err->duplicate_key = false;
    err->key[0] = '\0';
    pthread_once(&alloc_once, use_xmalloc);
    size_t i = 0;
    while (i < len && is_ws(data[i]))
        i++;
    if (i == len)
        return json_object();
    /* jansson would say "'[' or '{' expected" for a scalar and take an array. */
    if (data[i] != '{') {
        snprintf(err->msg, sizeof err->msg, "the body must be a JSON object");
        return NULL;
    }
    /* jansson reads a raw NUL as an odd token or control character; say what it is. */
    if (memchr(data, '\0', len)) {
        snprintf(err->msg, sizeof err->msg, "the body contains a NUL byte");
        return NULL;
    }
    if (json_nested_deeper_than(data + i, len - i, MAX_NESTING)) {
        snprintf(err->msg, sizeof err->msg, "the body is nested too deeply");
        return NULL;
    }
    /* No JSON_DECODE_ANY (an object or array only; arrays never get here), no
     * JSON_DISABLE_EOF_CHECK (trailing data refused), no JSON_ALLOW_NUL. */
    json_error_t jerr;
    json_t *doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        describe_error(data, len, &jerr, err);
        return NULL;
    }
    return doc;
}

json_status json_get_str(const json_t *doc, const char *field, const char **out, size_t *out_len)
{
    const json_t *v = json_object_get(doc, field);
    if (!v || json_is_null(v))
        return JSON_MISSING;
    if (!json_is_string(v))
        return JSON_WRONG_TYPE;
    *out = json_string_value(v);
    *out_len = json_string_length(v);
    return JSON_OK;
}

json_status json_get_int(const json_t *doc, const char *field, int64_t *out)
{
    const json_t *v = json_object_get(doc, field);
    if (!v || json_is_null(v))
        return JSON_MISSING;
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return JSON_OK;
    }
    if (!json_is_real(v))
        return JSON_WRONG_TYPE;
    /* 20000.0 and 2e4 are integers written another way; beyond 2^53 a double
     * no longer holds every integer, so the value may not be the one sent. */
    double d = json_real_value(v);
    if (!isfinite(d) || d != floor(d) || fabs(d) > 9007199254740992.0)
        return JSON_WRONG_TYPE;
    *out = (int64_t)d;
    return JSON_OK;
}

bool json_has_unknown_key(const json_t *doc, const char *const *allowed, const char **unknown)
{
    /* jansson's iterator takes a non-const object but only reads it. */
    json_t *obj = (json_t *)doc;
    for (void *it = json_object_iter(obj); it; it = json_object_iter_next(obj, it)) {
        const char *k = json_object_iter_key(it);
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
