/* timefmt: RFC 3339 timestamps <-> milliseconds since the Unix epoch (UTC).
 * Pure (the clocks are in clock.h). Thread-safe. */
#ifndef COMMON_TIMEFMT_H
#define COMMON_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* "2024-02-29T23:59:59.123Z" plus NUL fits. */
#define TIMEFMT_LEN 32

/* Parses an RFC 3339 date-time ("2024-01-31T10:00:00Z", "...T10:00:00.5+03:00",
 * 't'/'z' accepted; offset required) or the original Python service's
 * "YYYY-MM-DD HH:MM:SS" (space separator; the offset may be omitted and then
 * means UTC; a fraction or offset may follow as in RFC 3339). Fractions have
 * 1..9 digits and are truncated to milliseconds. Rejects out-of-range fields
 * (month 13, Feb 30, Feb 29 outside leap years, hour 24, leap second 60,
 * offset hour 24), years outside 1970..9999 (before or after applying the
 * offset), trailing bytes, and embedded NULs. `s` need not be NUL-terminated.
 * Returns 0 and writes *out_ms, or -1 and leaves it alone. */
int timefmt_parse(const char *s, size_t len, int64_t *out_ms);

/* timefmt_parse's forms, and also the naive form the original Python
 * service's clients send (Python's isoformat() of a naive datetime,
 * "2024-05-01T14:30:00.123456"): a 'T' date-time without an offset, meaning
 * UTC. For that service's compatibility routes only: RFC 3339, which the
 * other routes take, requires the offset. Returns as timefmt_parse. */
int timefmt_parse_compat(const char *s, size_t len, int64_t *out_ms);

/* Formats ms as "YYYY-MM-DDTHH:MM:SSZ", or with ".mmm" when ms % 1000 != 0.
 * `out` must hold TIMEFMT_LEN bytes. Returns the length written. Cannot fail;
 * ms outside years 0000..9999 is clamped into them (never overflows out). */
size_t timefmt_format(int64_t ms, char *out);

/* Formats ms as the original Python service wrote its dates: UTC without an
 * offset, always six fraction digits ("2024-05-01T14:30:00.123000"), which
 * Python 3.7's datetime.fromisoformat reads (it rejects "Z"). `out` must
 * hold TIMEFMT_LEN bytes. Returns the length written (26). Cannot fail;
 * clamped as timefmt_format. */
size_t timefmt_format_compat(int64_t ms, char *out);

/* Formats the UTC day "YYYY-MM-DD" of ms into out (>= 11 bytes), clamped as
 * timefmt_format does. Cannot fail. */
void timefmt_format_day(int64_t ms, char *out);

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * algorithm). No validation. */
int64_t timefmt_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
