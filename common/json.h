/* json: small JSON helpers. Writing appends to a buf; reading parses a
 * request or event body with libbson and pulls typed fields out of it.
 * Thread-safe (no shared state). */
#ifndef COMMON_JSON_H
#define COMMON_JSON_H

#include <bson/bson.h>
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

/* Parses data[0..len) as one JSON object into *out (initialised here; the
 * caller bson_destroy()s it only when 0 is returned). An empty or
 * whitespace-only body is an empty object. Returns -1 with a reason in err for
 * malformed JSON (including anything but whitespace after the object, and
 * integer literals outside int64), a top-level value that is not an object,
 * nesting deeper than 32, a NUL byte, or invalid UTF-8. */
int json_parse_object(const char *data, size_t len, bson_t *out, char *err, size_t errlen);

/* Looks up a top-level string field. *out and *out_len borrow from doc. JSON null
 * counts as missing. A string with an embedded NUL is the wrong type. */
json_status json_get_str(const bson_t *doc, const char *field, const char **out, size_t *out_len);
/* Looks up a top-level integer field (int32 or int64, or a double with no
 * fraction within +-2^53). */
json_status json_get_int(const bson_t *doc, const char *field, int64_t *out);

/* True if doc has a top-level key other than the NULL-terminated list `allowed`;
 * the first such key is stored in *unknown (borrowed). */
bool json_has_unknown_key(const bson_t *doc, const char *const *allowed, const char **unknown);

#endif
