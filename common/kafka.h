/* kafka: librdkafka set-up shared by the producer and the consumer: a conf
 * with our logging and the broker address, message header helpers, and a broker
 * reachability probe for /readyz. */
#ifndef COMMON_KAFKA_H
#define COMMON_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stddef.h>

#include "kafka_security.h"
#include "trace.h"

/* A librdkafka property and its value. */
typedef struct kafka_setting {
    const char *name;
    const char *value;
} kafka_setting;

/* A new conf with the client's tuning (batching, fetch sizes: a list ended by
 * a NULL name, or NULL), then the security properties kafka_use_security gave
 * (KAFKA_CONFIG_FILE's among them, so such a file may override the tuning),
 * bootstrap.servers, client.id, and librdkafka's log lines routed to our JSON
 * log. Returns NULL with a reason in err. The caller owns it until
 * rd_kafka_new() takes it. */
rd_kafka_conf_t *kafka_conf_new(const char *bootstrap, const char *client_id,
                                const kafka_setting *tuning, char *err, size_t errlen);

/* How a producer is built: acks=all with retries until message_timeout_ms,
 * Java-compatible key partitioning (murmur2_random). Deliberately NOT
 * librdkafka's idempotent producer: after message timeouts during a broker
 * outage it bumps the epoch and rewinds sequences, and our broker-outage test
 * caught it reporting an event delivered that the broker never appended (cf.
 * librdkafka#4134). A success report must mean "in the log"; a duplicate is
 * harmless, since the consumer writes each billing once by appointment id. */
typedef struct kafka_producer_opts {
    const char *bootstrap;
    const char *client_id;
    int message_timeout_ms; /* how long librdkafka retries one message */
    int linger_ms;
    int message_max_bytes; /* message.max.bytes; 0: librdkafka's default */
    void (*on_delivery)(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque);
    void *opaque;
} kafka_producer_opts;

/* A new producer; NULL with a reason in err. rd_kafka_destroy() it. */
rd_kafka_t *kafka_producer_new(const kafka_producer_opts *o, char *err, size_t errlen);

/* Makes every conf kafka_conf_new builds from now on carry s's properties
 * (borrowed: s must outlive every client; NULL: none). Call at start-up,
 * before any client is created and before other threads run. */
void kafka_use_security(const kafka_security *s);

/* Checks that librdkafka accepts s: every property known and its value valid,
 * the TLS files loadable (it builds a throw-away client without brokers,
 * which loads the CA, certificate and key). Returns 0, or -1 with a message
 * naming the variable (or the config file's line) in err; never a secret. */
int kafka_security_check(const kafka_security *s, char *err, size_t errlen);

/* Sets one property; on failure destroys nothing and fills err. */
int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen);

/* Copies m's last header `name` as a NUL-terminated string into out[outlen].
 * Returns 0, or -1 if absent or too long. */
int kafka_message_header(const rd_kafka_message_t *m, const char *name, char *out, size_t outlen);

/* The trace ids of m's traceparent header (both "" when it has none or it is
 * not valid), for logging the trace a message belongs to. */
void kafka_message_trace(const rd_kafka_message_t *m, trace_ids *t);

/* Asks a broker for metadata of `topic`, waiting at most timeout_ms. Returns 0
 * if a broker answered and the topic exists, -1 otherwise. Thread-safe. */
int kafka_ping(rd_kafka_t *rk, const char *topic, int timeout_ms);

#endif
