#include "commits.h"

#include <jansson.h>
#include <string.h>

#include "clock.h"
#include "log.h"

void commits_init(commits *cm, rd_kafka_t *rk)
{
    *cm = (commits){.rk = rk};
}

void commits_seen(commits *cm, bool up, int64_t now_ms)
{
    cm->coordinator_up = up;
    cm->coordinator_seen_ms = now_ms;
}

void commits_stats(commits *cm, const char *json, size_t len, int64_t now_ms)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    const char *state = json_string_value(json_object_get(json_object_get(root, "cgrp"), "state"));
    commits_seen(cm, state && strcmp(state, "up") == 0, now_ms);
    json_decref(root);
}

bool commits_coordinator_up(const commits *cm, int64_t now_ms)
{
    return cm->coordinator_up && cm->coordinator_seen_ms > 0 &&
           now_ms - cm->coordinator_seen_ms < COMMITS_COORDINATOR_STALE_MS;
}

bool commits_due(const commits *cm, int64_t now_ms)
{
    return cm->uncommitted && !cm->in_flight && now_ms >= cm->next_ms &&
           commits_coordinator_up(cm, now_ms);
}

void commits_stored(commits *cm)
{
    cm->uncommitted = true;
}

void commits_result(commits *cm, rd_kafka_resp_err_t err, int64_t now_ms)
{
    cm->in_flight = false;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        commits_seen(cm, true, now_ms);
        return;
    }
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET)
        return;
    cm->uncommitted = true; /* the next round tries again */
    log_warn("cannot commit offsets; will retry", "error", rd_kafka_err2str(err), NULL);
}

void commits_if_due(commits *cm)
{
    int64_t now = clock_mono_ms();
    if (!commits_due(cm, now))
        return;
    cm->next_ms = now + COMMITS_INTERVAL_MS;
    cm->uncommitted = false;
    cm->in_flight = true;
    rd_kafka_resp_err_t e = rd_kafka_commit(cm->rk, NULL, 1);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR)
        commits_result(cm, e, now);
}

void commits_before_revoke(commits *cm, bool sync)
{
    if (!commits_coordinator_up(cm, clock_mono_ms()))
        return;
    rd_kafka_resp_err_t e = rd_kafka_commit(cm->rk, NULL, sync ? 0 : 1);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR__NO_OFFSET)
        log_warn("cannot commit offsets; the next owner re-reads from the last commit", "error",
                 rd_kafka_err2str(e), NULL);
    else
        cm->uncommitted = false;
}
