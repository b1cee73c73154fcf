/* dead_letter_request: the validation of the dead-letter routes' queries and
 * bodies, pure (no connection, no database), so it is unit-tested alone.
 * Each parser fills its output only on success and otherwise returns -1 with
 * the 400 problem to answer in *p, naming the field. Thread-safe. */
#ifndef DEAD_LETTER_REQUEST_H
#define DEAD_LETTER_REQUEST_H

#include <jansson.h>
#include <stdbool.h>

#include "dead_letters.h"
#include "problem.h"

#define DEAD_LETTER_LIST_MAX 100
#define DEAD_LETTER_LIST_DEFAULT 20
#define DEAD_LETTER_NOTE_MAX 1000
/* A job names at most this many ids. */
#define REPLAY_IDS_MAX 100
#define REPLAY_LIMIT_MAX 100000
#define REPLAY_LIMIT_DEFAULT 1000
#define REPLAY_RATE_MAX 1000
#define REPLAY_RATE_DEFAULT 50

/* What a replay job replays: the open dead letters that match (ids, or
 * reason and the first_seen range), at most limit of them, at most
 * max_per_second a second; a dry run writes nothing. */
typedef struct replay_filter {
    bool has_reason, has_from, has_to, dry_run;
    intake_reason reason;
    int64_t from_ms, to_ms; /* first_seen in [from, to) */
    size_t nids;
    char ids[REPLAY_IDS_MAX][UUID_STR_LEN]; /* lowercase */
    int64_t limit;
    int64_t max_per_second;
} replay_filter;

/* GET /dead-letters: reason, status (their fixed names), from / to
 * (date-times on first_seen, to after from), cursor (an _id of at most 127
 * characters), limit (1..100, default 20). query may be NULL. */
int dead_letter_request_list(const char *query, dead_letter_query *out, problem *p);

/* POST /dead-letter-replays: {reason?, from?, to?, ids?, dry_run?,
 * max_per_second?, limit?}; no other key; ids and reason/from/to exclude
 * each other. body is the parsed object. */
int dead_letter_request_job(const json_t *body, replay_filter *out, problem *p);

/* POST /dead-letters/{id}/replay: {dry_run?} (an empty body is {}). */
int dead_letter_request_replay(const json_t *body, bool *dry_run, problem *p);

/* POST /dead-letters/{id}/discard: {"note": "..."}, required, 1..1000
 * characters; *note borrows from body. */
int dead_letter_request_discard(const json_t *body, const char **note, problem *p);

#endif
