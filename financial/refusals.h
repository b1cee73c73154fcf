/* refusals: when a billing the database refuses is given up on. A write the
 * database refuses while it otherwise answers is either a document it will
 * never take (mongo_error_is_permanent: given up at once) or an error that
 * may pass; the latter is retried, and given up on once the same message has
 * been refused `max` times in a row. Given up means dead-lettered with
 * reason "refused": one such message must not stop its partition for ever.
 * The consumer retries the first message not handled, so one message at a
 * time is tracked. Pure; the consumer thread's alone. */
#ifndef REFUSALS_H
#define REFUSALS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct refusals {
    int max;           /* refusals in a row that give a message up (>= 1) */
    int32_t partition; /* the message refused last */
    int64_t offset;
    int count; /* its refusals in a row; 0: none tracked */
} refusals;

/* Tracks nothing; gives up after max refusals (values below 1 count as 1).
 * Cannot fail. */
void refusals_init(refusals *r, int max);

/* Counts one refusal of the message at (partition, offset): true when it is
 * to be given up on now (permanent, or refused max times in a row). A refusal
 * of another message starts its count afresh. */
bool refusals_note(refusals *r, int32_t partition, int64_t offset, bool permanent);

/* The message at (partition, offset) was written or given up on: its count
 * ends. Another message's count is kept. */
void refusals_done(refusals *r, int32_t partition, int64_t offset);

#endif
