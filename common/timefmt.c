#include "timefmt.h"

#include <stdbool.h>

#define MS_PER_DAY INT64_C(86400000)

/* The range every parsed instant lies in and every formatted one is clamped
 * to: 0000-01-01T00:00:00.000Z .. 9999-12-31T23:59:59.999Z. */
#define YEAR0_MS (INT64_C(-719528) * MS_PER_DAY)
#define YEAR10000_MS (INT64_C(2932897) * MS_PER_DAY)
#define YEAR1970_MS 0

int64_t timefmt_days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t mm = (int64_t)m, dd = (int64_t)d;
    y -= mm <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;                                       /* [0, 399] */
    int64_t doy = (153 * (mm > 2 ? mm - 3 : mm + 9) + 2) / 5 + dd - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;               /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

/* The inverse of timefmt_days_from_civil (Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                      /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                    /* [0, 11] */
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool is_leap(int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n ASCII digits at s[*pos] into *out; advances *pos. Returns
 * 0, or -1 (nothing moved). */
static int digits(const char *s, size_t len, size_t *pos, size_t n, int *out)
{
    if (len - *pos < n)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[*pos + i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    *pos += n;
    *out = v;
    return 0;
}

/* Reads ngroups groups of digits of the given widths, separated by sep
 * ("2024-01-31", "10:00:00", "03:00"), into out[0..ngroups); advances *pos.
 * Returns 0, or -1 (the parse is over: *pos and out may have moved). */
static int digit_groups(const char *s, size_t len, size_t *pos, char sep, const size_t *widths,
                        int *out, int ngroups)
{
    for (int i = 0; i < ngroups; i++) {
        if (i > 0 && (*pos >= len || s[(*pos)++] != sep))
            return -1;
        if (digits(s, len, pos, widths[i], &out[i]) != 0)
            return -1;
    }
    return 0;
}

/* timefmt_parse, and with naive_ok timefmt_parse_compat: a 'T' date-time
 * may then leave out its offset too. */
static int parse(const char *s, size_t len, bool naive_ok, int64_t *out_ms)
{
    static const size_t date_widths[] = {4, 2, 2}, time_widths[] = {2, 2, 2};
    if (!s)
        return -1;
    size_t p = 0;
    int ymd[3], hms[3];
    if (digit_groups(s, len, &p, '-', date_widths, ymd, 3) != 0 || p >= len)
        return -1;
    /* 'T' is RFC 3339; a space is the Python service's form, where the offset
     * may be left out and then means UTC. */
    char sep = s[p++];
    bool legacy = sep == ' ';
    if (sep != 'T' && sep != 't' && !legacy)
        return -1;
    bool offset_optional = legacy || naive_ok;
    if (digit_groups(s, len, &p, ':', time_widths, hms, 3) != 0)
        return -1;
    int year = ymd[0], mon = ymd[1], day = ymd[2], hour = hms[0], min = hms[1], sec = hms[2];
    if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > days_in_month(year, mon) ||
        hour > 23 || min > 59 || sec > 59)
        return -1;

    int frac_ms = 0;
    if (p < len && s[p] == '.') {
        p++;
        size_t n = 0;
        while (p < len && s[p] >= '0' && s[p] <= '9') {
            if (n < 3)
                frac_ms = frac_ms * 10 + (s[p] - '0');
            n++;
            p++;
        }
        if (n < 1 || n > 9)
            return -1;
        for (size_t i = n; i < 3; i++)
            frac_ms *= 10;
    }

    int offset_min = 0;
    if (p == len) {
        if (!offset_optional)
            return -1; /* RFC 3339 requires an offset */
    } else if (s[p] == 'Z' || s[p] == 'z') {
        p++;
    } else if (s[p] == '+' || s[p] == '-') {
        int sign = s[p++] == '-' ? -1 : 1;
        int off[2]; /* hours, minutes */
        if (digit_groups(s, len, &p, ':', time_widths, off, 2) != 0 || off[0] > 23 || off[1] > 59)
            return -1;
        offset_min = sign * (off[0] * 60 + off[1]);
    } else {
        return -1;
    }
    if (p != len)
        return -1;

    int64_t days = timefmt_days_from_civil(year, (unsigned)mon, (unsigned)day);
    int64_t ms = days * MS_PER_DAY + ((int64_t)hour * 3600 + min * 60 + sec) * 1000 + frac_ms;
    /* Local time minus its offset is UTC. */
    ms -= (int64_t)offset_min * 60000;
    /* An offset can move an in-range local time out of 1970..9999 UTC. */
    if (ms < YEAR1970_MS || ms >= YEAR10000_MS)
        return -1;
    *out_ms = ms;
    return 0;
}

int timefmt_parse(const char *s, size_t len, int64_t *out_ms)
{
    return parse(s, len, false, out_ms);
}

int timefmt_parse_compat(const char *s, size_t len, int64_t *out_ms)
{
    return parse(s, len, true, out_ms);
}

static char *put_digits(char *p, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + n;
}

/* Splits a clamped ms into its civil fields; returns the ms within the day. */
static int64_t split(int64_t ms, int64_t *y, int *m, int *d)
{
    if (ms < YEAR0_MS)
        ms = YEAR0_MS;
    if (ms >= YEAR10000_MS)
        ms = YEAR10000_MS - 1;
    int64_t days = ms / MS_PER_DAY;
    int64_t rem = ms % MS_PER_DAY;
    if (rem < 0) { /* floor division for instants before 1970 */
        rem += MS_PER_DAY;
        days--;
    }
    civil_from_days(days, y, m, d);
    return rem;
}

static char *put_day(char *p, int64_t y, int m, int d)
{
    p = put_digits(p, y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    return put_digits(p, d, 2);
}

/* Writes "YYYY-MM-DDTHH:MM:SS" of the clamped ms and sets *ms_of_second to
 * its milliseconds; returns the end. */
static char *put_day_and_clock(char *out, int64_t ms, int64_t *ms_of_second)
{
    int64_t y;
    int m, d;
    int64_t rem = split(ms, &y, &m, &d);
    char *p = put_day(out, y, m, d);
    *p++ = 'T';
    p = put_digits(p, rem / 3600000, 2);
    *p++ = ':';
    p = put_digits(p, rem / 60000 % 60, 2);
    *p++ = ':';
    p = put_digits(p, rem / 1000 % 60, 2);
    *ms_of_second = rem % 1000;
    return p;
}

size_t timefmt_format(int64_t ms, char *out)
{
    int64_t frac;
    char *p = put_day_and_clock(out, ms, &frac);
    if (frac != 0) {
        *p++ = '.';
        p = put_digits(p, frac, 3);
    }
    *p++ = 'Z';
    *p = '\0';
    return (size_t)(p - out);
}

size_t timefmt_format_compat(int64_t ms, char *out)
{
    int64_t frac;
    char *p = put_day_and_clock(out, ms, &frac);
    *p++ = '.';
    p = put_digits(p, frac * 1000, 6); /* microseconds, as Python wrote them */
    *p = '\0';
    return (size_t)(p - out);
}

void timefmt_format_day(int64_t ms, char *out)
{
    int64_t y;
    int m, d;
    split(ms, &y, &m, &d);
    *put_day(out, y, m, d) = '\0';
}
