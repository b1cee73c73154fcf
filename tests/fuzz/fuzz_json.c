/* libFuzzer target for common/json.c: json_parse_object on arbitrary bytes,
 * the typed getters on whatever it accepts, and a round trip of
 * json_append_str (any valid UTF-8 without NUL must come back unchanged).
 * Properties: an accepted document is an object nested at most 32 deep; a
 * rejection says why; a key named as duplicated is in the input twice. */
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzz_input.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fields the services and the event decoder look up. */
static const char *const fields[] = {
    "appointment_id",     "physician_id", "patient_id", "start_date", "end_date",
    "hourly_price_cents", "currency",     "a",          "",           NULL};

static void check_getters(const json_t *doc)
{
    for (size_t i = 0; fields[i]; i++) {
        const char *s = NULL;
        size_t n = 0;
        if (json_get_str(doc, fields[i], &s, &n) == JSON_OK) {
            /* Borrowed from doc, readable in full, with no NUL inside. */
            if (s == NULL || memchr(s, '\0', n) != NULL || s[n] != '\0')
                abort();
        }
        int64_t v = 0;
        (void)json_get_int(doc, fields[i], &v);
    }
    const char *unknown = NULL;
    (void)json_has_unknown_key(doc, fields, &unknown);
}

/* Containers nested in v, v itself counting as 1 (a scalar is 0). Only
 * called on documents already bounded (32, or jansson's own 2048). */
static int depth_of(json_t *v)
{
    int max = 0;
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int d = depth_of(json_array_get(v, i));
            max = d > max ? d : max;
        }
    } else if (json_is_object(v)) {
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
            int d = depth_of(json_object_iter_value(it));
            max = d > max ? d : max;
        }
    } else {
        return 0;
    }
    return max + 1;
}

/* The key named by a duplicate-key refusal is spelt twice in the input.
 * Checked on inputs without a backslash, where a key can only be written as
 * it decodes. A key cut to fit err.key (60 bytes or more) is matched as a
 * prefix: without its closing quote. */
static void check_duplicate_named(const char *data, size_t size, const char *key)
{
    if (memchr(data, '\\', size))
        return;
    char quoted[80];
    size_t klen = strlen(key);
    if (klen + 3 > sizeof quoted)
        abort();
    quoted[0] = '"';
    memcpy(quoted + 1, key, klen);
    size_t qlen = klen + 1;
    if (klen < 60)
        quoted[qlen++] = '"';
    int seen = 0;
    for (size_t i = 0; i + qlen <= size; i++)
        if (memcmp(data + i, quoted, qlen) == 0)
            seen++;
    if (seen < 2)
        abort();
}

/* True if s[0..n) is valid UTF-8, as jansson's string constructor checks. */
static bool valid_utf8(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    json_decref(v);
    return v != NULL;
}

/* {"a":<json_append_str(s)>} must parse and give s back byte for byte. */
static void check_string_round_trip(const char *s, size_t n)
{
    if (memchr(s, '\0', n) || !valid_utf8(s, n))
        return;
    buf b;
    buf_init(&b);
    buf_puts(&b, "{\"a\":");
    json_append_str(&b, s, n);
    buf_putc(&b, '}');
    json_parse_error err;
    json_t *doc = json_parse_object(b.ptr, b.len, &err);
    if (!doc)
        abort(); /* our own output rejected by our own parser */
    const char *got = NULL;
    size_t got_len = 0;
    if (json_get_str(doc, "a", &got, &got_len) != JSON_OK || got_len != n || memcmp(got, s, n) != 0)
        abort();
    json_decref(doc);
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;

    json_parse_error err;
    json_t *doc = json_parse_object(copy, size, &err);
    if (doc) {
        if (!json_is_object(doc))
            abort();
        check_getters(doc);
        /* The documented bound: nothing nested deeper than 32 gets through. */
        if (depth_of(doc) > 32)
            abort();
        json_decref(doc);
    } else {
        /* A rejection always says why, within its buffers. */
        if (err.msg[0] == '\0' || strnlen(err.msg, sizeof err.msg) == sizeof err.msg ||
            strnlen(err.key, sizeof err.key) == sizeof err.key)
            abort();
        if (err.duplicate_key)
            check_duplicate_named(copy, size, err.key);
        else if (err.key[0])
            abort();
    }
    check_string_round_trip(copy, size);
    free(copy);
    return 0;
}
