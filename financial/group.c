/* group: the consumer's group membership (consumer_internal.h): the group
 * consumer's configuration, the rebalance callback (take, decline or give
 * back partitions) and leaving the group at shutdown. */
#include <stdio.h>
#include <string.h>

#include "consumer_internal.h"
#include "kafka.h"
#include "log.h"
#include "clock.h"

/* How long a shutdown waits to leave the group (SIGTERM to exit: under 5 s
 * even with the broker down). */
#define CLOSE_TIMEOUT_MS 3000

/* "0,3,5" */
static void describe(const rd_kafka_topic_partition_list_t *l, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < l->cnt && used + 12 < outlen; i++)
        used += (size_t)snprintf(out + used, outlen - used, "%s%d", i ? "," : "",
                                 (int)l->elems[i].partition);
}

/* The eager calls return a code, the cooperative ones an error object: one
 * shape for both (NULL: no error). */
static rd_kafka_error_t *error_of(rd_kafka_resp_err_t e)
{
    return e == RD_KAFKA_RESP_ERR_NO_ERROR ? NULL
                                           : rd_kafka_error_new(e, "%s", rd_kafka_err2str(e));
}

/* Takes the partitions the group handed us. */
static rd_kafka_error_t *take_assignment(consumer *c, rd_kafka_t *rk, bool coop,
                                         rd_kafka_topic_partition_list_t *parts, const char *desc)
{
    log_info("partitions assigned", "partitions", desc, "protocol", coop ? "cooperative" : "eager",
             NULL);
    rd_kafka_error_t *error =
        coop ? rd_kafka_incremental_assign(rk, parts) : error_of(rd_kafka_assign(rk, parts));
    lag_add(c->lag, parts);
    c->joined = true;
    commits_seen(&c->commits, true, clock_mono_ms());
    /* While the database is down, new partitions wait too. */
    if (c->paused && parts->cnt > 0)
        rd_kafka_pause_partitions(rk, parts);
    return error;
}

/* An assignment that arrives once shutdown began (SIGTERM came before the
 * first join completed, or during a rebalance) is not taken: nothing would
 * consume it. Taking it logged "partitions assigned" after "shutting down"
 * for a member on its way out (so one partition set showed up assigned
 * twice in a row across a restart), started fetchers, and kept the
 * partitions from the next owner until the close revoked them. An empty
 * assignment is what librdkafka itself answers when a close has no rebalance
 * callback to serve it; the cooperative protocol wants the increment
 * acknowledged, and the close revokes it right after. */
static rd_kafka_error_t *decline_assignment(rd_kafka_t *rk, bool coop,
                                            rd_kafka_topic_partition_list_t *parts,
                                            const char *desc)
{
    log_debug("assignment declined: leaving the group", "partitions", desc, NULL);
    return coop ? rd_kafka_incremental_assign(rk, parts) : error_of(rd_kafka_assign(rk, NULL));
}

/* Gives back revoked (or lost) partitions. */
static rd_kafka_error_t *give_back(consumer *c, rd_kafka_t *rk, bool coop,
                                   rd_kafka_topic_partition_list_t *parts, const char *desc)
{
    bool lost = rd_kafka_assignment_lost(rk);
    log_info("partitions revoked", "partitions", desc, "lost", lost ? "true" : "false", NULL);
    /* Hand over exactly what is billed: the stored offsets. Lost partitions
     * belong to someone else already; a commit would fail. */
    if (!lost)
        commits_before_revoke(&c->commits, !c->closing);
    rd_kafka_error_t *error =
        coop ? rd_kafka_incremental_unassign(rk, parts) : error_of(rd_kafka_assign(rk, NULL));
    lag_remove(c->lag, coop ? parts : NULL);
    return error;
}

/* Runs on the thread that polls (the consumer thread, or the closing one). */
static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    consumer *c = opaque;
    bool coop = strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE") == 0;
    char desc[256];
    describe(parts, desc, sizeof desc);
    rd_kafka_error_t *error;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS &&
        (c->closing || worker_stopping(&c->thread))) {
        error = decline_assignment(rk, coop, parts, desc);
    } else if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        error = take_assignment(c, rk, coop, parts, desc);
    } else if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
        error = give_back(c, rk, coop, parts, desc);
    } else {
        log_error("rebalance failed", "error", rd_kafka_err2str(err), NULL);
        error = error_of(rd_kafka_assign(rk, NULL));
        lag_remove(c->lag, NULL);
    }
    if (error) {
        log_error("cannot apply the assignment", "error", rd_kafka_error_string(error), NULL);
        rd_kafka_error_destroy(error);
    }
    consumer_update_state(c);
}

rd_kafka_t *group_consumer_new(consumer *c, char *err, size_t errlen)
{
    char session[16], heartbeat[16];
    snprintf(session, sizeof session, "%d", c->opts.session_timeout_ms);
    /* The broker wants heartbeats well inside the session timeout. */
    snprintf(heartbeat, sizeof heartbeat, "%d",
             c->opts.session_timeout_ms / 3 > 100 ? c->opts.session_timeout_ms / 3 : 100);
    rd_kafka_conf_t *conf = kafka_conf_new(c->opts.bootstrap, "financial", NULL, err, errlen);
    if (!conf)
        return NULL;
    if (kafka_conf_set(conf, "group.id", c->opts.group_id, err, errlen) != 0 ||
        /* Offsets are stored by hand after each durable billing, and
         * committed by commits_if_due. */
        kafka_conf_set(conf, "enable.auto.commit", "false", err, errlen) != 0 ||
        kafka_conf_set(conf, "enable.auto.offset.store", "false", err, errlen) != 0 ||
        kafka_conf_set(conf, "auto.offset.reset", "earliest", err, errlen) != 0 ||
        kafka_conf_set(conf, "session.timeout.ms", session, err, errlen) != 0 ||
        kafka_conf_set(conf, "heartbeat.interval.ms", heartbeat, err, errlen) != 0 ||
        kafka_conf_set(conf, "statistics.interval.ms", COMMITS_STATS_INTERVAL_MS, err, errlen) !=
            0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    rd_kafka_conf_set_offset_commit_cb(conf, consumer_on_commit);
    rd_kafka_conf_set_stats_cb(conf, consumer_on_stats);
    rd_kafka_conf_set_opaque(conf, c);
    char why[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
    if (!rk) {
        snprintf(err, errlen, "cannot create the Kafka consumer: %s", why);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    /* Everything (rebalances, errors, statistics, commit results) is served
     * by rd_kafka_consumer_poll. */
    rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Leaves the group in the background and serves its callbacks here for at
 * most CLOSE_TIMEOUT_MS: the revoke commits the stored offsets when the
 * coordinator is known; when the broker does not answer, waiting longer would
 * only delay the exit, and what was not committed is billed already, so the
 * next owner's re-reads are absorbed as duplicates. */
void group_leave(consumer *c)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(c->rk);
    rd_kafka_error_t *error = rd_kafka_consumer_close_queue(c->rk, q);
    if (error) {
        log_warn("cannot leave the consumer group cleanly", "error", rd_kafka_error_string(error),
                 NULL);
        rd_kafka_error_destroy(error);
    } else {
        int64_t deadline = clock_mono_ms() + CLOSE_TIMEOUT_MS;
        while (!rd_kafka_consumer_closed(c->rk) && clock_mono_ms() < deadline) {
            rd_kafka_event_t *ev = rd_kafka_queue_poll(q, CONSUMER_POLL_MS);
            if (!ev)
                continue;
            /* The revoke arrives here as an event: apply it through the
             * rebalance callback's logic. */
            if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
                rd_kafka_topic_partition_list_t *parts = rd_kafka_event_topic_partition_list(ev);
                on_rebalance(c->rk, rd_kafka_event_error(ev), parts, c);
            }
            rd_kafka_event_destroy(ev);
        }
        if (!rd_kafka_consumer_closed(c->rk))
            log_warn("left the consumer group without the broker's answer (timed out)",
                     LOG_INT("timeout_ms", CLOSE_TIMEOUT_MS), NULL);
    }
    rd_kafka_queue_destroy(q);
}
