#include "money.h"

#define MONEY_MAX_UNITS INT64_C(1000000000000000) /* 1e15 */

size_t money_format(int64_t cents, char *out)
{
    /* 'uint64_t' negation so that INT64_MIN has a magnitude too */
    uint64_t mag = cents < 0 ? 0 - (uint64_t)cents : (uint64_t)cents;
    char tmp[MONEY_STR_LEN];
    size_t n = 0;
    tmp[n++] = (char)('0' + mag % 10);
    mag /= 10;
    tmp[n++] = (char)('0' + mag % 10);
    mag /= 10;
    tmp[n++] = '.';
    do {
        tmp[n++] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag > 0);
    if (cents < 0)
        tmp[n++] = '-';
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

int money_parse(const char *s, size_t len, int64_t *out_cents)
{
    if (!s)
        return -1;
    size_t p = 0;
    int64_t units = 0;
    while (p < len && s[p] >= '0' && s[p] <= '9') {
        units = units * 10 + (s[p] - '0');
        if (units > MONEY_MAX_UNITS) /* also keeps the next step from overflowing */
            return -1;
        p++;
    }
    if (p == 0)
        return -1; /* no integer part: "", ".5", "-1", "+1" */
    int64_t frac = 0;
    if (p < len && s[p] == '.') {
        p++;
        size_t start = p;
        while (p < len && p - start < 3 && s[p] >= '0' && s[p] <= '9')
            p++;
        size_t n = p - start;
        if (n < 1 || n > 2)
            return -1;
        frac = (s[start] - '0') * 10;
        if (n == 2)
            frac += s[start + 1] - '0';
    }
    if (p != len)
        return -1;
    int64_t cents = units * 100 + frac;
    if (cents > MONEY_MAX_UNITS * 100) /* "1000000000000000.01" */
        return -1;
    *out_cents = cents;
    return 0;
}

bool money_currency_valid(const char *s, size_t len)
{
    if (len != 3)
        return false;
    for (size_t i = 0; i < 3; i++)
        if (s[i] < 'A' || s[i] > 'Z')
            return false;
    return true;
}
