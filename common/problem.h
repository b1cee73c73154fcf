/* problem: an RFC 9457 problem described without sending it, so request
 * validation can be pure (and fuzzed) and the HTTP layer answers it with
 * http_reply_problem(req, p.status, p.slug, p.field, p.detail).
 * Thread-safe (no shared state). */
#ifndef COMMON_PROBLEM_H
#define COMMON_PROBLEM_H

typedef struct problem {
    int status;       /* 400, 422 ... */
    const char *slug; /* "/problems/<slug>"; a literal */
    /* The offending field or parameter, "" when none. Copied: it may be a
     * key of the client's document, freed before the reply is sent. */
    char field[64];
    char detail[192];
} problem;

/* Fills *p; detail is printf-formatted and truncated to fit. Returns -1, so
 * validators can `return problem_set(...)`. Cannot fail. */
int problem_set(problem *p, int status, const char *slug, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
