/* alloc: allocation wrappers that abort on out-of-memory (like redis's
 * zmalloc), so ENOMEM does not clutter every path. Thread-safe. */
#ifndef COMMON_ALLOC_H
#define COMMON_ALLOC_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
/* Copies of s / of s[0..len) with a NUL; the caller frees them. */
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t len);

#endif
