/* buf: a growable byte buffer, always NUL-terminated, for building JSON and
 * Prometheus text. Caller-allocated: buf_init(&b) ... buf_free(&b).
 * Not thread-safe (one owner). Appends abort on out-of-memory. */
#ifndef COMMON_BUF_H
#define COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct buf {
    char *ptr;  /* NUL-terminated contents; NULL until the first append */
    size_t len; /* bytes used, without the NUL */
    size_t cap;
} buf;

void buf_init(buf *b);
/* Releases the memory; b is empty and reusable afterwards. */
void buf_free(buf *b);
/* Empties b, keeping its memory. */
void buf_reset(buf *b);
void buf_append(buf *b, const char *data, size_t len);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
/* Appends n in decimal, without printf's parsing of a format. */
void buf_put_u64(buf *b, uint64_t n);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the contents as a NUL-terminated string ("" when empty); b still owns it. */
const char *buf_cstr(buf *b);

#endif
