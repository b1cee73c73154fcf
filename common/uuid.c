#include "uuid.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static void getrandom_all(unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "{\"level\":\"fatal\",\"msg\":\"getrandom failed\",\"errno\":%d}\n",
                    errno);
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

/* Random bytes come from getrandom in blocks: a request draws five times (its
 * id, its trace context, its appointment's or event's id), each a system call
 * before. Per thread, so no lock; a byte is handed out once and then wiped.
 * No service forks, so no two processes share a block. */
#define RANDOM_BLOCK 512
static _Thread_local unsigned char random_block[RANDOM_BLOCK];
static _Thread_local size_t random_left;

static void fill_random(unsigned char *p, size_t n)
{
    while (n > 0) {
        if (random_left == 0) {
            getrandom_all(random_block, sizeof random_block);
            random_left = sizeof random_block;
        }
        size_t k = n < random_left ? n : random_left;
        unsigned char *from = random_block + sizeof random_block - random_left;
        memcpy(p, from, k);
        memset(from, 0, k);
        random_left -= k;
        p += k;
        n -= k;
    }
}

/* Lowercase hex digits: what to_string writes and hex_value reads back. */
static const char hex_digits[] = "0123456789abcdef";

static void to_string(const unsigned char b[16], char *out)
{
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex_digits[b[i] >> 4];
        *p++ = hex_digits[b[i] & 15];
    }
    *p = '\0';
}

void uuid_v4(char *out)
{
    unsigned char b[16];
    fill_random(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    to_string(b, out);
}

/* The last (timestamp << 12 | rand_a) handed out by this process (RFC 9562
 * §6.2 method 1: rand_a is a 12-bit counter). Each new id takes a value above
 * it, so ids made in the same millisecond, or after the clock stepped back,
 * still sort after earlier ones; a counter overflow carries into the
 * timestamp, which then runs at most a little ahead of the clock. */
static _Atomic uint64_t v7_last;

#define V7_TS_MAX ((UINT64_C(1) << 48) - 1)

void uuid_v7(char *out, int64_t unix_ms)
{
    unsigned char b[16];
    fill_random(b, sizeof b);
    uint64_t ts = unix_ms < 0 ? 0 : (uint64_t)unix_ms;
    if (ts > V7_TS_MAX)
        ts = V7_TS_MAX;
    /* A new millisecond starts its counter at a random value below 2048, which
     * leaves at least 2048 increments before it overflows. */
    uint64_t fresh = ts << 12 | (((uint64_t)b[6] << 8 | b[7]) & 0x7ff);
    uint64_t last = atomic_load(&v7_last);
    uint64_t next;
    do {
        next = fresh > last ? fresh : last + 1;
    } while (!atomic_compare_exchange_weak(&v7_last, &last, next));

    uint64_t t = next >> 12 & V7_TS_MAX;
    for (int i = 5; i >= 0; i--) {
        b[i] = (unsigned char)(t & 0xff);
        t >>= 8;
    }
    b[6] = (unsigned char)(0x70 | (next >> 8 & 0x0f)); /* version 7 + rand_a */
    b[7] = (unsigned char)(next & 0xff);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 10 */
    to_string(b, out);
}

/* c, with the hex digits A-F lowercased. */
static char hex_lower(char c)
{
    return c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
}

/* The value of hex digit c (either case), or -1. */
static int hex_value(char c)
{
    const char *d = memchr(hex_digits, hex_lower(c), 16); /* not its NUL */
    return d ? (int)(d - hex_digits) : -1;
}

bool uuid_is_valid(const char *s, size_t len)
{
    if (!s || len != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (hex_value(s[i]) < 0) {
            return false;
        }
    }
    return true;
}

int uuid_normalize(const char *s, size_t len, char *out)
{
    if (!uuid_is_valid(s, len))
        return -1;
    for (size_t i = 0; i < 36; i++)
        out[i] = hex_lower(s[i]);
    out[36] = '\0';
    return 0;
}

int uuid_v7_unix_ms(const char *s, int64_t *ms)
{
    if (!s || !uuid_is_valid(s, strlen(s)) || s[14] != '7')
        return -1;
    /* unix_ts_ms is the first 48 bits: 8 hex digits, '-', 4 hex digits. */
    int64_t v = 0;
    for (size_t i = 0; i < 13; i++) {
        if (i == 8)
            continue;
        v = v * 16 + hex_value(s[i]);
    }
    *ms = v;
    return 0;
}

void uuid_v7_max(int64_t unix_ms, char *out)
{
    const int64_t top = (INT64_C(1) << 48) - 1;
    uint64_t ms = (uint64_t)(unix_ms < 0 ? 0 : unix_ms > top ? top : unix_ms);
    snprintf(out, UUID_STR_LEN, "%08x-%04x-7fff-bfff-ffffffffffff", (unsigned)(ms >> 16),
             (unsigned)(ms & 0xffff));
}
