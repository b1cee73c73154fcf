/* dlq: the dead-letter producer. A message that can never be billed is copied
 * unchanged (key, value, headers) to the dead-letter topic with dlq_reason,
 * dlq_source_topic, dlq_source_partition and dlq_source_offset headers added,
 * and each copy is awaited until the broker acknowledges it, so its offset is
 * stored only once the dead letter is durable. Used by the consumer thread
 * alone; dlq_ping is thread-safe. */
#ifndef DLQ_H
#define DLQ_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "buf.h"
#include "metrics.h"
#include "worker.h"

typedef struct dlq dlq;

/* A producer for `topic` (copied). Returns NULL with a reason in err. */
dlq *dlq_new(const char *bootstrap, const char *topic, char *err, size_t errlen);
/* Copies m (read from source_topic) to the dead-letter topic and waits for
 * the ack; a copy the topic refuses as too large is replaced by
 * dlq_too_large_record. Returns 0 once the dead letter is durable, -1 if it is not (the
 * caller pauses and retries later) or if `owner` was asked to stop meanwhile
 * (the offset is not stored, so the message is handled again after the
 * restart). */
int dlq_send(dlq *d, const rd_kafka_message_t *m, const char *source_topic, const char *reason,
             worker *owner);
/* Room for a dead letter's reason (the dlq_reason header). */
#define DLQ_REASON_LEN 256

/* How many bytes of a too-large message's value its record keeps. */
#define DLQ_HEAD_BYTES 1024

/* The record dlq_send writes instead of m when the dead-letter topic refuses
 * m's copy as too large (the reason header then says "too_large"): JSON with
 * reason, original_reason, source_topic, source_partition, source_offset,
 * key (null when none), value_bytes and value_head, its first DLQ_HEAD_BYTES
 * bytes; every byte that is not printable ASCII as \u00XX, so any message
 * makes valid JSON. Pure. */
void dlq_too_large_record(buf *out, const rd_kafka_message_t *m, const char *source_topic,
                          const char *reason);
/* Whether a broker answers and `topic` exists, within timeout_ms: 0 or -1.
 * Thread-safe: readiness asks it for any topic. */
int dlq_ping(dlq *d, const char *topic, int timeout_ms);
/* Messages copied and acknowledged so far. Thread-safe. */
uint64_t dlq_sent(dlq *d);
/* Drops what is still queued (each send was awaited, so anything left was
 * given up on and its offset not stored) and frees. NULL is a no-op. */
void dlq_free(dlq *d);

#endif
