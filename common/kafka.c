#include "kafka.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static void kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *msg)
{
    (void)rk;
    /* syslog levels: 0..3 error, 4 warning, 5..6 info, 7 debug */
    log_level l = level <= 3   ? LOG_ERROR
                  : level == 4 ? LOG_WARN
                  : level <= 6 ? LOG_INFO
                               : LOG_DEBUG;
    log_kv(l, msg, "component", "librdkafka", "facility", fac, NULL);
}

/* Set once at start-up, before any client exists; read-only afterwards. */
static const kafka_security *security;

void kafka_use_security(const kafka_security *s)
{
    security = s;
}

/* Applies s's properties to conf. The error names where the property came
 * from; librdkafka's reason is left out for a secret, whose value it may
 * quote. */
static int apply_security(const kafka_security *s, rd_kafka_conf_t *conf, char *err, size_t errlen)
{
    for (size_t i = 0; s && i < s->nprops; i++) {
        const kafka_prop *p = &s->props[i];
        char why[256], where[64];
        if (rd_kafka_conf_set(conf, p->name, p->value, why, sizeof why) == RD_KAFKA_CONF_OK)
            continue;
        kafka_prop_origin(p, where, sizeof where);
        snprintf(err, errlen, "%s: %s", where, p->secret ? "not accepted by librdkafka" : why);
        return -1;
    }
    return 0;
}

/* The throw-away client's notes ("no bootstrap.servers configured") would
 * only confuse the start-up log. */
static void quiet_log(const rd_kafka_t *rk, int level, const char *fac, const char *msg)
{
    (void)rk, (void)level, (void)fac, (void)msg;
}

int kafka_security_check(const kafka_security *s, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, quiet_log);
    if (apply_security(s, conf, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    /* No bootstrap.servers: the client connects nowhere, but rd_kafka_new
     * builds its TLS context, loading the CA, the certificate and its key. */
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        /* librdkafka's reason starts with the property ("ssl.ca.location
         * failed: ..."): name the variable that set it. */
        char where[64] = "KAFKA_SSL_* or KAFKA_CONFIG_FILE";
        for (size_t i = 0; i < s->nprops; i++)
            if (strncmp(why, s->props[i].name, strlen(s->props[i].name)) == 0)
                kafka_prop_origin(&s->props[i], where, sizeof where);
        snprintf(err, errlen, "%s: librdkafka refuses it: %s", where, why);
        return -1;
    }
    rd_kafka_destroy(rk); /* it owned conf */
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const char *bootstrap, const char *client_id,
                                const kafka_setting *tuning, char *err, size_t errlen)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    for (const kafka_setting *t = tuning; t && t->name; t++) {
        if (kafka_conf_set(conf, t->name, t->value, err, errlen) != 0) {
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    if (apply_security(security, conf, err, errlen) != 0 ||
        kafka_conf_set(conf, "bootstrap.servers", bootstrap, err, errlen) != 0 ||
        kafka_conf_set(conf, "client.id", client_id, err, errlen) != 0 ||
        /* a broker that is down for a while is expected; don't flood the log */
        kafka_conf_set(conf, "log.connection.close", "false", err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

rd_kafka_t *kafka_producer_new(const kafka_producer_opts *o, char *err, size_t errlen)
{
    char tmo[16], linger[16];
    snprintf(tmo, sizeof tmo, "%d", o->message_timeout_ms);
    snprintf(linger, sizeof linger, "%d", o->linger_ms);
    const kafka_setting tuning[] = {{"linger.ms", linger}, {NULL, NULL}};
    rd_kafka_conf_t *conf = kafka_conf_new(o->bootstrap, o->client_id, tuning, err, errlen);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "enable.idempotence", "false", err, errlen) != 0 ||
        kafka_conf_set(conf, "acks", "all", err, errlen) != 0 ||
        kafka_conf_set(conf, "message.timeout.ms", tmo, err, errlen) != 0 ||
        kafka_conf_set(conf, "partitioner", "murmur2_random", err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    char max_bytes[16];
    snprintf(max_bytes, sizeof max_bytes, "%d", o->message_max_bytes);
    if (o->message_max_bytes > 0 &&
        kafka_conf_set(conf, "message.max.bytes", max_bytes, err, errlen) != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, o->on_delivery);
    rd_kafka_conf_set_opaque(conf, o->opaque);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
    if (!rk) {
        snprintf(err, errlen, "cannot create the Kafka producer %s: %s", o->client_id, why);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return rk; /* it owns conf now */
}

int kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *err,
                   size_t errlen)
{
    char why[256];
    if (rd_kafka_conf_set(conf, name, value, why, sizeof why) != RD_KAFKA_CONF_OK) {
        snprintf(err, errlen, "kafka setting %s: %s", name, why);
        return -1;
    }
    return 0;
}

int kafka_message_header(const rd_kafka_message_t *m, const char *name, char *out, size_t outlen)
{
    rd_kafka_headers_t *hdrs = NULL;
    const void *val = NULL;
    size_t n = 0;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR || !hdrs ||
        rd_kafka_header_get_last(hdrs, name, &val, &n) != RD_KAFKA_RESP_ERR_NO_ERROR || !val ||
        n >= outlen)
        return -1;
    memcpy(out, val, n);
    out[n] = '\0';
    return 0;
}

void kafka_message_trace(const rd_kafka_message_t *m, trace_ids *t)
{
    char tp[TRACEPARENT_LEN + 1];
    t->trace_id[0] = t->span_id[0] = '\0';
    if (kafka_message_header(m, "traceparent", tp, sizeof tp) == 0)
        trace_parse(tp, strlen(tp), t);
}

int kafka_ping(rd_kafka_t *rk, const char *topic, int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    int rc = -1;
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1 && md->topics[0].err == 0 &&
        md->broker_cnt > 0)
        rc = 0;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return rc;
}
