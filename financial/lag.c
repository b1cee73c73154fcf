#include "lag.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "alloc.h"
#include "clock.h"
#include "metrics.h"

#define LAG_QUERY_INTERVAL_MS 2000
#define LAG_QUERY_TIMEOUT_MS 500
#define LAG_QUERY_BUDGET_MS 200
#define OFFSET_NONE (-2) /* the group has no committed offset for the partition */

/* What is known about one assigned partition. */
typedef struct part_info {
    int32_t partition;
    int64_t next;                 /* offset after the last message handled and stored, or -1 */
    int64_t committed;            /* committed offset (queried while idle), OFFSET_NONE, or -1 */
    int64_t lo, hi;               /* last known watermarks, or -1 */
    int64_t lag;                  /* -1: unknown */
    int64_t hi_queried_ms;        /* last watermark query (monotonic) */
    int64_t committed_queried_ms; /* last committed-offset query (monotonic) */
} part_info;

struct lag_table {
    const char *topic;  /* borrowed from the consumer, which outlives the table */
    pthread_mutex_t mu; /* the consumer thread writes under it; the renderer reads */
    part_info *parts;
    size_t n, cap;
};

lag_table *lag_table_new(const char *topic)
{
    lag_table *t = xcalloc(1, sizeof *t);
    t->topic = topic;
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void lag_table_free(lag_table *t)
{
    if (t) {
        free(t->parts);
        pthread_mutex_destroy(&t->mu);
        free(t);
    }
}

static part_info *find(lag_table *t, int32_t partition)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->parts[i].partition == partition)
            return &t->parts[i];
    return NULL;
}

void lag_add(lag_table *t, const rd_kafka_topic_partition_list_t *l)
{
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < l->cnt; i++) {
        if (find(t, l->elems[i].partition))
            continue;
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 8;
            t->parts = xrealloc(t->parts, t->cap * sizeof *t->parts);
        }
        t->parts[t->n++] = (part_info){.partition = l->elems[i].partition,
                                       .next = -1,
                                       .committed = -1,
                                       .lo = -1,
                                       .hi = -1,
                                       .lag = -1};
    }
    pthread_mutex_unlock(&t->mu);
}

void lag_remove(lag_table *t, const rd_kafka_topic_partition_list_t *l)
{
    pthread_mutex_lock(&t->mu);
    if (!l) {
        t->n = 0;
    } else {
        for (int i = 0; i < l->cnt; i++) {
            part_info *p = find(t, l->elems[i].partition);
            if (p)
                *p = t->parts[--t->n];
        }
    }
    pthread_mutex_unlock(&t->mu);
}

size_t lag_count(lag_table *t)
{
    pthread_mutex_lock(&t->mu);
    size_t n = t->n;
    pthread_mutex_unlock(&t->mu);
    return n;
}

void lag_set_next(lag_table *t, int32_t partition, int64_t next)
{
    pthread_mutex_lock(&t->mu);
    part_info *p = find(t, partition);
    if (p)
        p->next = next;
    pthread_mutex_unlock(&t->mu);
}

/* Queries the broker for p's watermarks, or for the group's committed offset
 * when nothing was consumed yet; at most one of each per interval. */
static void query(rd_kafka_t *rk, const char *topic, part_info *p, bool need_hi,
                  bool need_committed, int64_t now)
{
    if (need_committed && now - p->committed_queried_ms >= LAG_QUERY_INTERVAL_MS) {
        p->committed_queried_ms = now;
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(one, topic, p->partition);
        if (rd_kafka_committed(rk, one, LAG_QUERY_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            one->elems[0].err == RD_KAFKA_RESP_ERR_NO_ERROR)
            p->committed = one->elems[0].offset >= 0 ? one->elems[0].offset : OFFSET_NONE;
        rd_kafka_topic_partition_list_destroy(one);
    }
    if (need_hi && now - p->hi_queried_ms >= LAG_QUERY_INTERVAL_MS) {
        p->hi_queried_ms = now;
        int64_t lo = -1, hi = -1;
        if (rd_kafka_query_watermark_offsets(rk, topic, p->partition, &lo, &hi,
                                             LAG_QUERY_TIMEOUT_MS) == RD_KAFKA_RESP_ERR_NO_ERROR) {
            p->lo = lo;
            p->hi = hi;
        }
    }
}

void lag_refresh(lag_table *t, rd_kafka_t *rk, bool paused, bool broker_up)
{
    /* Only this thread changes the table, so it reads it unlocked and
     * publishes each partition's new state under the lock. */
    if (t->n == 0)
        return;
    rd_kafka_topic_partition_list_t *pos = rd_kafka_topic_partition_list_new((int)t->n);
    for (size_t i = 0; i < t->n; i++)
        rd_kafka_topic_partition_list_add(pos, t->topic, t->parts[i].partition);
    rd_kafka_position(rk, pos);

    int64_t budget_end = clock_mono_ms() + LAG_QUERY_BUDGET_MS;
    for (size_t i = 0; i < t->n; i++) {
        part_info p = t->parts[i];
        int64_t lo = -1, hi = -1;
        /* Cached watermarks come with fetch responses: stale while paused. */
        bool fresh = !paused &&
                     rd_kafka_get_watermark_offsets(rk, t->topic, p.partition, &lo, &hi) ==
                         RD_KAFKA_RESP_ERR_NO_ERROR &&
                     hi >= 0;
        if (fresh) {
            p.lo = lo;
            p.hi = hi;
        }
        int64_t at = pos->elems[i].offset;
        int64_t next = p.next >= 0 ? p.next : at >= 0 ? at : -1;
        /* Nothing consumed since the assignment (idle, or rewound): the
         * group's committed offset is where consumption stands. */
        bool need_committed = next < 0 && p.committed == -1;
        int64_t now = clock_mono_ms();
        if ((!fresh || need_committed) && broker_up && now < budget_end)
            query(rk, t->topic, &p, !fresh, need_committed, now);
        if (next < 0)
            next = p.committed >= 0 ? p.committed : p.committed == OFFSET_NONE ? p.lo : -1;
        p.lag = p.hi >= 0 && next >= 0 ? (p.hi > next ? p.hi - next : 0) : -1;
        pthread_mutex_lock(&t->mu);
        t->parts[i] = p;
        pthread_mutex_unlock(&t->mu);
    }
    rd_kafka_topic_partition_list_destroy(pos);
}

void lag_render(lag_table *t, buf *out)
{
    static const char per_partition[] = "clinic_consumer_partition_lag";
    buf parts;
    buf_init(&parts);
    int64_t sum = 0;
    pthread_mutex_lock(&t->mu);
    size_t n = t->n;
    for (size_t i = 0; i < t->n; i++) {
        const part_info *p = &t->parts[i];
        if (p->lag < 0)
            continue;
        char labels[192];
        snprintf(labels, sizeof labels, "topic=\"%s\",partition=\"%" PRId32 "\"", t->topic,
                 p->partition);
        metrics_sample_i(&parts, per_partition, labels, p->lag);
        sum += p->lag;
    }
    pthread_mutex_unlock(&t->mu);
    metrics_single(out, "clinic_consumer_assigned_partitions", "gauge",
                   "Partitions of the topic assigned to this consumer.", n);
    metrics_single_i(out, "clinic_consumer_lag", "gauge",
                     "Events on the assigned partitions not yet handled (sum of known lags).", sum);
    metrics_family(out, per_partition, "gauge", "Events not yet handled, per assigned partition.");
    if (parts.len)
        buf_append(out, parts.ptr, parts.len);
    buf_free(&parts);
}
