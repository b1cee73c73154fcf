/* dead_letter_api: the dead-letter routes of the financial API (part of
 * billing_api, whose route table lists them; scope billing:admin): list and
 * read dead letters, replay or discard one, and run replay jobs
 * (replay.h). A dead letter's {id} is the UUIDv5 of its source
 * "<topic>/<partition>/<offset>" (dead_letters.h). Handlers run on civetweb
 * threads; req->app is the billing_api. */
#ifndef DEAD_LETTER_API_H
#define DEAD_LETTER_API_H

#include "http.h"

/* GET /dead-letters: reason, status, from/to (first_seen), cursor, limit. */
void dead_letter_api_list(http_req *req);
/* GET /dead-letters/{id}: the record with its key, headers and value. */
void dead_letter_api_get(http_req *req);
/* POST /dead-letters/{id}/replay {dry_run?}: 200 with the result. */
void dead_letter_api_replay(http_req *req);
/* POST /dead-letters/{id}/discard {note}: 200, or 409 when not open. */
void dead_letter_api_discard(http_req *req);
/* POST /dead-letter-replays {...}: 202 with the job, 409 while one runs. */
void dead_letter_api_job_start(http_req *req);
/* GET /dead-letter-replays/{id}: the job's progress. */
void dead_letter_api_job_get(http_req *req);
/* POST /dead-letter-replays/{id}/cancel: 202, or 409 when not running. */
void dead_letter_api_job_cancel(http_req *req);

#endif
