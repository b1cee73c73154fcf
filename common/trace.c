#include "trace.h"

#include <string.h>

#include "uuid.h"

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool all_zeros(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return false;
    return true;
}

int trace_parse(const char *s, size_t len, trace_ids *out)
{
    if (!s || len != TRACEPARENT_LEN - 1)
        return -1;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 2 || i == 35 || i == 52;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return -1;
    }
    /* Version ff is invalid; other future versions would have more fields. */
    if (strncmp(s, "00", 2) != 0 || all_zeros(s + 3, 32) || all_zeros(s + 36, 16))
        return -1;
    if (out) {
        memcpy(out->trace_id, s + 3, 32);
        out->trace_id[32] = '\0';
        memcpy(out->span_id, s + 36, 16);
        out->span_id[16] = '\0';
    }
    return 0;
}

/* n random lowercase hex digits (from a v4 UUID's random bits). */
static void random_hex(char *out, size_t n)
{
    size_t done = 0;
    while (done < n) {
        char u[UUID_STR_LEN];
        uuid_v4(u);
        for (size_t i = 0; i < 36 && done < n; i++) {
            /* skip the dashes, the version digit (14) and the variant digit (19) */
            if (u[i] == '-' || i == 14 || i == 19)
                continue;
            out[done++] = u[i];
        }
    }
}

void trace_new(char *out)
{
    memcpy(out, "00-", 3);
    random_hex(out + 3, 32);
    out[35] = '-';
    random_hex(out + 36, 16);
    memcpy(out + 52, "-00", 4); /* not sampled: nothing here records spans */
}

bool trace_state_valid(const char *s, size_t len)
{
    if (!s || len == 0 || len >= TRACESTATE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < 0x20 || s[i] > 0x7e)
            return false;
    return true;
}
