/* commits: the consumer's offset commits, which never hold a shutdown.
 * Offsets are stored after each durable billing (commits_stored) and
 * committed by hand: asynchronously at most once per COMMITS_INTERVAL_MS
 * (commits_if_due), and before partitions go (commits_before_revoke), but
 * only while the group's coordinator is known to answer. A commit asked
 * for without a coordinator waits in librdkafka until the session times
 * out, and rd_kafka_destroy waits for it: with the broker down that held
 * SIGTERM for the whole session timeout (10 s by default), which is why
 * librdkafka's auto commit is off. Not committing then loses nothing: the
 * next owner re-reads from the last commit, and each re-read billing is a
 * duplicate the store ignores.
 *
 * What shows the coordinator: librdkafka's statistics (cgrp.state "up"), an
 * assignment (the coordinator just handed it out), a commit's success; each
 * counts for COMMITS_COORDINATOR_STALE_MS. Used by the thread that polls the
 * consumer only (the consumer thread, or the closing one), as librdkafka
 * serves the statistics and commit results there. */
#ifndef COMMITS_H
#define COMMITS_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Stored offsets are committed at most this often. */
#define COMMITS_INTERVAL_MS 1000
/* The statistics.interval.ms the consumer asks for: the coordinator's
 * state arrives this often. */
#define COMMITS_STATS_INTERVAL_MS "1000"
/* A sign of the coordinator older than this is not trusted. */
#define COMMITS_COORDINATOR_STALE_MS 2500

typedef struct commits {
    rd_kafka_t *rk;              /* the group consumer (set by commits_init) */
    bool coordinator_up;         /* as last seen */
    int64_t coordinator_seen_ms; /* when (monotonic), 0: never */
    bool uncommitted;            /* offsets stored since the last commit */
    bool in_flight;              /* an asynchronous commit awaits its result */
    int64_t next_ms;             /* monotonic time of the next commit */
} commits;

/* Starts with nothing seen and nothing stored, committing through rk. */
void commits_init(commits *cm, rd_kafka_t *rk);

/* Records what was just seen of the coordinator, at now_ms (monotonic). */
void commits_seen(commits *cm, bool up, int64_t now_ms);
/* Reads the coordinator's state from librdkafka's statistics JSON: seen up
 * when cgrp.state is "up", down otherwise (unparsable JSON included). */
void commits_stats(commits *cm, const char *json, size_t len, int64_t now_ms);
/* Whether the coordinator answered within COMMITS_COORDINATOR_STALE_MS of
 * now_ms. Pure. */
bool commits_coordinator_up(const commits *cm, int64_t now_ms);
/* Whether commits_if_due would commit at now_ms: offsets stored, no commit
 * in flight, the interval passed, the coordinator up. Pure. */
bool commits_due(const commits *cm, int64_t now_ms);

/* Offsets were stored: the next due commit takes them. */
void commits_stored(commits *cm);
/* The result of an asynchronous commit (the offset_commit_cb's err). A
 * failure keeps the offsets for the next round and logs it. */
void commits_result(commits *cm, rd_kafka_resp_err_t err, int64_t now_ms);
/* Commits the stored offsets in the background when commits_due. */
void commits_if_due(commits *cm);
/* Commits the stored offsets before partitions go, if the coordinator is up:
 * synchronously (a rebalance: the next owner starts where this one ended),
 * or asynchronously (closing: the close waits for it, within its
 * deadline). */
void commits_before_revoke(commits *cm, bool sync);

#endif
