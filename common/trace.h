/* trace: W3C Trace Context (traceparent, tracestate) as the services carry
 * it: from the finish request, through the outbox and the event's headers,
 * to the billing's log line, so one trace id follows a consultation across
 * both services. The services record no spans of their own: a request that
 * brings a valid traceparent is logged under its trace id and parent span;
 * one that brings none starts a trace here. Pure, thread-safe. */
#ifndef COMMON_TRACE_H
#define COMMON_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#define TRACEPARENT_LEN 56 /* "00-<32 hex>-<16 hex>-<2 hex>" + NUL */
#define TRACE_ID_LEN 33
#define TRACE_SPAN_ID_LEN 17
#define TRACESTATE_MAX 512 /* W3C: at most 32 members of at most 256 chars; we keep 511 */

/* The ids of a traceparent. */
typedef struct trace_ids {
    char trace_id[TRACE_ID_LEN];
    char span_id[TRACE_SPAN_ID_LEN]; /* the caller's (parent) span */
} trace_ids;

/* Validates s[0..len) as a version-00 traceparent ("00-" 32 lowercase hex
 * "-" 16 hex "-" 2 hex, ids not all zeros) and fills *out when ids is not
 * NULL. Returns 0, or -1 (out untouched). */
int trace_parse(const char *s, size_t len, trace_ids *out);

/* Writes a traceparent that starts a new trace (random ids, not sampled)
 * into out[TRACEPARENT_LEN]. Cannot fail. */
void trace_new(char *out);

/* True if s[0..len) may travel as a tracestate: 1..511 printable ASCII
 * characters (W3C list members are a subset; we pass them on, not parse). */
bool trace_state_valid(const char *s, size_t len);

#endif
