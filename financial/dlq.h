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

#include "metrics.h"
#include "worker.h"

typedef struct dlq dlq;

/* A producer for `topic` (copied). Returns NULL with a reason in err. */
dlq *dlq_new(const char *bootstrap, const char *topic, char *err, size_t errlen);
/* Copies m (read from source_topic) to the dead-letter topic and waits for
 * the ack. Returns 0 once the dead letter is durable, -1 if it is not (the
 * caller pauses and retries later) or if `owner` was asked to stop meanwhile
 * (the offset is not stored, so the message is handled again after the
 * restart). */
int dlq_send(dlq *d, const rd_kafka_message_t *m, const char *source_topic, const char *reason,
             worker *owner);
/* Whether a broker answers and `topic` exists, within timeout_ms: 0 or -1.
 * Thread-safe: readiness asks it for any topic. */
int dlq_ping(dlq *d, const char *topic, int timeout_ms);
/* Messages copied and acknowledged so far. Thread-safe. */
uint64_t dlq_sent(dlq *d);
/* Drops what is still queued (each send was awaited, so anything left was
 * given up on and its offset not stored) and frees. NULL is a no-op. */
void dlq_free(dlq *d);

#endif
