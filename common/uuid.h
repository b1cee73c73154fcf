/* uuid: RFC 9562 UUIDs as 36-char canonical lowercase strings.
 * Thread-safe; randomness from getrandom(2). */
#ifndef COMMON_UUID_H
#define COMMON_UUID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 37 /* 36 chars + NUL */

/* Random (version 4) UUID into out[UUID_STR_LEN]. Cannot fail (aborts if the
 * kernel has no entropy source at all). */
void uuid_v4(char *out);

/* Time-ordered (version 7) UUID for the given ms timestamp: ids made later
 * sort after earlier ones as strings, which list endpoints rely on. Within one
 * process ids strictly increase: the 12-bit rand_a is a counter for ids made in
 * the same ms, and a unix_ms not after the previous id's reuses (or, on counter
 * overflow, advances) that id's timestamp. Cannot fail (aborts as uuid_v4). */
void uuid_v7(char *out, int64_t unix_ms);

/* True if s[0..len) is a canonical 8-4-4-4-12 hex UUID (either case). */
bool uuid_is_valid(const char *s, size_t len);

/* Validates s[0..len) and writes its lowercase form into out[UUID_STR_LEN].
 * Returns 0, or -1 (out untouched) if it is not a UUID. */
int uuid_normalize(const char *s, size_t len, char *out);
/* The unix_ms timestamp of a version 7 UUID string (canonical, either case).
 * Returns 0 and writes *ms, or -1 (ms untouched) for anything else. Pure. */
int uuid_v7_unix_ms(const char *s, int64_t *ms);

/* The greatest version 7 UUID of millisecond unix_ms (every v7 id of that ms
 * or an earlier one sorts at or before it), written into out[UUID_STR_LEN]:
 * a list cursor that means "everything before unix_ms + 1". unix_ms is
 * clamped to 0..2^48-1. Pure. */
void uuid_v7_max(int64_t unix_ms, char *out);

#endif
