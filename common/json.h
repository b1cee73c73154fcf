/* json: small JSON helpers. Writing appends to a buf; reading parses a
 * request or event body with jansson (plain, strict JSON: libbson's reader
 * speaks MongoDB Extended JSON and is not for client input) and pulls typed
 * fields out of it. Thread-safe (no shared state). */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* ---- writing ---- */

/* Appends s[0..len) as a quoted JSON string, escaping quotes, backslashes and
 * control characters. Bytes >= 0x80 are copied as they are (callers pass
 * UTF-8 that was validated on input). */
void json_append_str(buf *b, const char *s, size_t len);
/* The same for a NUL-terminated string; NULL appends `null`. */
void json_append_cstr(buf *b, const char *s);
/* Appends `"key":` (key is a literal from our code, not escaped). */
void json_append_key(buf *b, const char *key);
/* Appends cents as a JSON number with two decimals (20000 -> 200.00). */
void json_append_money(buf *b, int64_t cents);
/* Appends ms as a quoted RFC 3339 UTC string. */
void json_append_time(buf *b, int64_t ms);

/* ---- reading ---- */

typedef enum json_status {
    JSON_OK = 0,
    JSON_MISSING = 1,    /* field absent (or JSON null, when allowed) */
    JSON_WRONG_TYPE = 2, /* present with another type or invalid content */
} json_status;

/* True if the JSON text data[0..len) opens more than max arrays or objects
 * at once (brackets inside strings do not count): checked before jansson
 * parses, since jansson recurses once per level. Pure. */
bool json_nested_deeper_than(const char *data, size_t len, int max);

/* Why json_parse_object refused a body. */
typedef struct json_parse_error {
    /* One line for a problem's detail or a dead letter's reason, e.g.
     * "malformed JSON: ..." or "patient_id appears more than once". */
    char msg[192];
    /* Set when the refusal is a key given twice in one object: key is that
     * key (decoded, cut on a UTF-8 boundary to fit), the field to name. */
    bool duplicate_key;
    char key[64];
} json_parse_error;

/* Parses data[0..len) as one JSON object. Returns a new reference that the
 * caller json_decref()s, or NULL with *err filled. An empty or
 * whitespace-only body is an empty object. Refused: malformed JSON (including
 * anything but whitespace after the object), a top-level value that is not
 * an object, a key that appears twice in one object (at any depth), nesting
 * deeper than 32, numbers outside int64 / double, a NUL byte or a \u0000
 * escape, and invalid UTF-8. Aborts on out-of-memory, like xmalloc. */
json_t *json_parse_object(const char *data, size_t len, json_parse_error *err);

/* Looks up a top-level string field. *out and *out_len borrow from doc (valid
 * until it is json_decref'd); the string never holds a NUL. JSON null counts
 * as missing. */
json_status json_get_str(const json_t *doc, const char *field, const char **out, size_t *out_len);
/* Looks up a top-level integer field: a JSON integer (int64), or a number
 * with a fraction or exponent whose value is integral within +-2^53. */
json_status json_get_int(const json_t *doc, const char *field, int64_t *out);

/* True if doc has a top-level key other than the NULL-terminated list `allowed`;
 * the first such key (in document order) is stored in *unknown (borrowed). */
bool json_has_unknown_key(const json_t *doc, const char *const *allowed, const char **unknown);

#endif
