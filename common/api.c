#include "api.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "json.h"
#include "timefmt.h"
#include "uuid.h"

void api_reply_item(http_req *req, int status, const void *item, api_append_fn append,
                    const char *const *headers)
{
    buf b;
    buf_init(&b);
    append(&b, item, req->route->compat ? API_DATES_COMPAT : API_DATES_RFC3339);
    http_reply_json(req, status, &b, headers);
    buf_free(&b);
}

/* The name of the route's path capture: "id" of "/appointments/{id}" or of
 * "/{id:uuid}". */
static void capture_name(const char *pattern, char *out, size_t outlen)
{
    const char *s = strchr(pattern, '{');
    size_t n = s ? strcspn(++s, ":}") : 0;
    snprintf(out, outlen, "%.*s", (int)n, s ? s : "");
}

void api_handle_get(http_req *req, const api_ctx *ctx)
{
    const api_resource *r = ctx->resource;
    char field[64], id[UUID_STR_LEN];
    capture_name(req->route->pattern, field, sizeof field);
    if (http_param_uuid_or_reply(req, 0, field, id) != 0)
        return;
    void *item = xmalloc(r->docs->item_size);
    bson_error_t err;
    int found = mongo_get(ctx->db, r->docs, id, item, &err);
    if (api_found_or_reply(req, found, &err, field, r->not_found) == 0)
        api_reply_item(req, 200, item, r->append, NULL);
    free(item);
}

void api_page_json(buf *out, const mongo_page *p, api_append_fn append)
{
    buf_puts(out, "{\"items\":[");
    for (int i = 0; i < p->n; i++) {
        if (i)
            buf_putc(out, ',');
        append(out, (const char *)p->items + (size_t)i * p->item_size, API_DATES_RFC3339);
    }
    buf_puts(out, "],\"next_cursor\":");
    json_append_cstr(out, p->more && p->n > 0 ? p->last_id : NULL);
    buf_putc(out, '}');
}

void api_list(http_req *req, const api_ctx *ctx, const void *query, int limit)
{
    const api_resource *r = ctx->resource;
    size_t size = r->docs->item_size;
    mongo_page p = {.items = xcalloc((size_t)limit, size), .item_size = size, .limit = limit};
    bson_error_t err;
    if (r->list(ctx->db, ctx->bk, query, &p, &err) != 0) {
        http_reply_db_error(req, &err);
    } else {
        buf b;
        buf_init(&b);
        api_page_json(&b, &p, r->append);
        http_reply_json(req, 200, &b, NULL);
        buf_free(&b);
    }
    free(p.items);
}

int api_found_or_reply(http_req *req, int found, const bson_error_t *err, const char *field,
                       const char *not_found)
{
    if (found > 0)
        return 0;
    if (found < 0)
        http_reply_db_error(req, err);
    else
        http_reply_problem(req, 404, "not-found", field, not_found);
    return -1;
}

int api_valid_or_reply(http_req *req, int rc, const problem *p)
{
    if (rc == 0)
        return 0;
    http_reply_problem_of(req, p);
    return -1;
}

static void key(buf *out, const char *k)
{
    buf_putc(out, ',');
    json_append_key(out, k);
}

void api_json_str(buf *out, const char *k, const char *s)
{
    key(out, k);
    json_append_cstr(out, s);
}

void api_json_money(buf *out, const char *k, int64_t cents)
{
    key(out, k);
    json_append_money(out, cents);
}

void api_json_int(buf *out, const char *k, int64_t v)
{
    key(out, k);
    buf_printf(out, "%" PRId64, v);
}

void api_json_time(buf *out, const char *k, bool has, int64_t ms, api_dates dates)
{
    key(out, k);
    if (!has) {
        buf_puts(out, "null");
    } else if (dates == API_DATES_COMPAT) {
        char s[TIMEFMT_LEN];
        size_t n = timefmt_format_compat(ms, s);
        json_append_str(out, s, n);
    } else {
        json_append_time(out, ms);
    }
}

void api_json_consultation(buf *out, const char *physician_id, const char *patient_id,
                           int64_t start_ms, const int64_t *end_ms, api_dates dates)
{
    api_json_str(out, "physician_id", physician_id);
    api_json_str(out, "patient_id", patient_id);
    api_json_time(out, "start_date", true, start_ms, dates);
    api_json_time(out, "end_date", end_ms != NULL, end_ms ? *end_ms : 0, dates);
}
