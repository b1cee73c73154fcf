/* lag: the consumer's partition table and its lag metrics. For each assigned
 * partition it keeps the next offset to handle and the last known watermarks,
 * and derives the lag (high watermark minus next offset). The consumer thread
 * changes it (lag_add, lag_remove, lag_set_next, lag_refresh); /metrics reads
 * it (lag_render) from any thread. */
#ifndef LAG_H
#define LAG_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct lag_table lag_table;

/* A table for `topic`, which must outlive it. Cannot fail. */
lag_table *lag_table_new(const char *topic);
/* NULL is a no-op. */
void lag_table_free(lag_table *t);

/* Adds the partitions of l not already in the table. */
void lag_add(lag_table *t, const rd_kafka_topic_partition_list_t *l);
/* Removes the partitions of l, or all of them when l is NULL. */
void lag_remove(lag_table *t, const rd_kafka_topic_partition_list_t *l);
/* How many partitions the table holds. */
size_t lag_count(lag_table *t);
/* Records that everything before `next` on `partition` is handled. */
void lag_set_next(lag_table *t, int32_t partition, int64_t next);
/* Refreshes each partition's lag through rk (the group consumer). Partitions
 * not being fetched (paused, or idle) need broker round trips: each at most
 * every few seconds, only when broker_up (a query to an absent broker can
 * block past its timeout), and a refresh stops asking once it spent its small
 * time budget, so the caller's loop never stalls for long. Consumer thread
 * only. */
void lag_refresh(lag_table *t, rd_kafka_t *rk, bool paused, bool broker_up);
/* Appends clinic_consumer_assigned_partitions, clinic_consumer_lag and
 * clinic_consumer_partition_lag in Prometheus text. */
void lag_render(lag_table *t, buf *out);

#endif
