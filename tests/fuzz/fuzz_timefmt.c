/* libFuzzer target for common/timefmt.c: timefmt_parse on arbitrary bytes
 * (RFC 3339 and the legacy "YYYY-MM-DD HH:MM:SS" form), with the properties
 * - an accepted instant lies in 1970..9999 UTC;
 * - format(parse(x)) parses back to the same instant, and formats the same;
 * - timefmt_parse_compat takes what timefmt_parse takes, as the same
 *   instant, and what it takes formats (timefmt_format_compat) and parses
 *   back to the same instant;
 * and timefmt_format / timefmt_format_day on any int64 (clamped, in bounds). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define YEAR10000_MS (INT64_C(2932897) * INT64_C(86400000))

static void check_format_any(int64_t ms)
{
    /* Guard bytes after the documented size catch an overflow even where
     * ASan's redzone granularity would not. */
    char out[TIMEFMT_LEN + 8];
    memset(out, 'X', sizeof out);
    size_t n = timefmt_format(ms, out);
    if (n >= TIMEFMT_LEN || out[n] != '\0' || strlen(out) != n)
        abort();
    for (size_t i = TIMEFMT_LEN; i < sizeof out; i++)
        if (out[i] != 'X')
            abort();
    if (ms >= 0 && ms < YEAR10000_MS) {
        int64_t back = -1;
        if (timefmt_parse(out, n, &back) != 0 || back != ms)
            abort();
    }
    char day[11 + 8];
    memset(day, 'X', sizeof day);
    timefmt_format_day(ms, day);
    if (strlen(day) != 10 || memcmp(day, out, 10) != 0)
        abort();
}

/* timefmt_parse_compat on the input, given what timefmt_parse made of it
 * (strict_ms, or INT64_MIN when it was rejected). */
static void check_compat(const char *s, size_t size, int64_t strict_ms)
{
    int64_t ms = INT64_MIN;
    if (timefmt_parse_compat(s, size, &ms) != 0) {
        if (ms != INT64_MIN || strict_ms != INT64_MIN)
            abort(); /* left alone, and never narrower than timefmt_parse */
        return;
    }
    if (ms < 0 || ms >= YEAR10000_MS || (strict_ms != INT64_MIN && ms != strict_ms))
        abort();
    char out[TIMEFMT_LEN];
    size_t n = timefmt_format_compat(ms, out);
    int64_t back = INT64_MIN;
    if (n != 26 || timefmt_parse_compat(out, n, &back) != 0 || back != ms)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = fuzz_input_copy(data, size);
    if (!copy)
        return 0;

    int64_t ms = INT64_MIN;
    if (timefmt_parse(copy, size, &ms) == 0) {
        if (ms < 0 || ms >= YEAR10000_MS)
            abort();
        char out[TIMEFMT_LEN];
        size_t n = timefmt_format(ms, out);
        int64_t back = INT64_MIN;
        if (timefmt_parse(out, n, &back) != 0 || back != ms)
            abort();
        char again[TIMEFMT_LEN];
        if (timefmt_format(back, again) != n || memcmp(out, again, n) != 0)
            abort();
    } else if (ms != INT64_MIN) {
        abort(); /* a rejection must leave *out_ms alone */
    }
    check_compat(copy, size, ms);

    if (size >= 8) {
        int64_t raw;
        memcpy(&raw, copy, sizeof raw);
        check_format_any(raw);
    }
    free(copy);
    return 0;
}
