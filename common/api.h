/* api: what the HTTP handlers of both services share: a resource got by its
 * id or listed a page at a time ({"items": [...], "next_cursor": id | null}),
 * the JSON fields such resources are written with, and the answer to a
 * validator's problem.
 *
 * Every *_or_reply function returns nonzero (-1) exactly when it has replied,
 * so the handler just returns; 0 means "nothing sent, go on". Thread-safe:
 * handlers call these on civetweb worker threads. */
#ifndef COMMON_API_H
#define COMMON_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buckets.h"
#include "buf.h"
#include "http.h"
#include "mongo.h"
#include "problem.h"

/* The form of the dates in a response: RFC 3339 on the API's own routes
 * ("2024-05-01T14:30:00Z"); on the original Python service's compatibility
 * routes (http_route.compat), that service's naive UTC form
 * ("2024-05-01T14:30:00.000000", timefmt_format_compat). */
typedef enum api_dates { API_DATES_RFC3339 = 0, API_DATES_COMPAT } api_dates;

/* Appends one item (a resource's struct) as a JSON object, its dates in the
 * given form. */
typedef void (*api_append_fn)(buf *out, const void *item, api_dates dates);

/* The resource an API serves by id and by page (appointments, billings):
 * a static constant of its service's API module, which its service_api
 * names. */
typedef struct api_resource {
    const mongo_coll *docs; /* its collection, whose _id is the resource's id */
    const char *not_found;  /* the 404's detail */
    api_append_fn append;   /* its JSON */
    /* A store's list: fills p (items, item_size and limit set) with the
     * page that query (the route's parsed request, as handed to api_list)
     * asks for. 0, or -1 with err. */
    int (*list)(mongo_db *db, buckets *bk, const void *query, mongo_page *p, bson_error_t *err);
} api_resource;

/* What api_handle_get and api_list work with, all borrowed: the caller (the
 * service layer, service_handle_get and service_list) fills one per
 * request from its app. */
typedef struct api_ctx {
    mongo_db *db;                 /* the pool */
    buckets *bk;                  /* the lists' day buckets */
    const api_resource *resource; /* what is served */
} api_ctx;

/* Answers status with item as JSON (append), its dates in the form of the
 * request's route (API_DATES_COMPAT on a compatibility route); headers as
 * http_reply's. */
void api_reply_item(http_req *req, int status, const void *item, api_append_fn append,
                    const char *const *headers);

/* GET of ctx's resource whose id is the route's one path capture
 * ("/appointments/{id}"): 200 with it, 400 naming the capture when it is no
 * UUID, 404, or the database error. */
void api_handle_get(http_req *req, const api_ctx *ctx);

/* The body of one page: {"items":[...],"next_cursor":...}, next_cursor being
 * p->last_id when p->more, else null; dates in RFC 3339 (only the API's own
 * routes list). Pure. */
void api_page_json(buf *out, const mongo_page *p, api_append_fn append);

/* GET of a list of ctx's resource: fetches the page query asks for, at
 * most limit items (on the heap: a page of appointments is too big for a
 * worker's stack), and answers 200 with api_page_json, or the database
 * error. */
void api_list(http_req *req, const api_ctx *ctx, const void *query, int limit);

/* rc is a validator's result (0, or -1 with *p): replies *p unless it is 0. */
int api_valid_or_reply(http_req *req, int rc, const problem *p);

/* found is a lookup's result by id (1 found, 0 not, -1 with *err): returns 0
 * when found, else replies (the database error, or 404 naming field with
 * detail not_found) and returns -1. */
int api_found_or_reply(http_req *req, int found, const bson_error_t *err, const char *field,
                       const char *not_found);

/* ---- JSON fields: each appends ,"key":value (key is a literal) ---- */

void api_json_str(buf *out, const char *key, const char *s); /* NULL: null */
void api_json_money(buf *out, const char *key, int64_t cents);
void api_json_int(buf *out, const char *key, int64_t v);
/* !has: null */
void api_json_time(buf *out, const char *key, bool has, int64_t ms, api_dates dates);

/* The consultation's fields that both resources show: physician_id,
 * patient_id, start_date and end_date (null when end_ms is NULL). */
void api_json_consultation(buf *out, const char *physician_id, const char *patient_id,
                           int64_t start_ms, const int64_t *end_ms, api_dates dates);

#endif
