/* Every response the http module and the handlers send. */
#include <civetweb.h>
#include <stdio.h>
#include <string.h>

#include "http_internal.h"
#include "json.h"
#include "log.h"
#include "mongo.h"

const char *http_reply_status_title(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

void http_reply(http_req *req, int status, const char *content_type, const char *body, size_t len,
                const char *const *headers)
{
    if (req->status)
        return; /* one response per request */
    req->status = status;
    http_count_status(req);
    buf h;
    buf_init(&h);
    /* Appended piece by piece: printf's parsing of one long format was a
     * good part of what a response cost. */
    buf_puts(&h, "HTTP/1.1 ");
    buf_put_u64(&h, (uint64_t)(status > 0 ? status : 0));
    buf_putc(&h, ' ');
    buf_puts(&h, http_reply_status_title(status));
    buf_puts(&h, "\r\nContent-Type: ");
    buf_puts(&h, content_type);
    buf_puts(&h, "\r\nContent-Length: ");
    buf_put_u64(&h, len);
    buf_puts(&h, "\r\nX-Request-Id: ");
    buf_puts(&h, req->request_id);
    buf_puts(&h, "\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n");
    for (const char *const *p = headers; p && p[0]; p += 2) {
        buf_puts(&h, p[0]);
        buf_puts(&h, ": ");
        buf_puts(&h, p[1]);
        buf_puts(&h, "\r\n");
    }
    buf_puts(&h, "\r\n");
    /* One write for head and body: two small writes meet Nagle and the
     * client's delayed ACK and cost ~40 ms per response. */
    if (len && strcmp(req->method, "HEAD") != 0)
        buf_append(&h, body, len);
    mg_write(req->conn, h.ptr, h.len);
    buf_free(&h);
}

void http_reply_json(http_req *req, int status, const buf *body, const char *const *headers)
{
    http_reply(req, status, "application/json", body->ptr ? body->ptr : "", body->len, headers);
}

void http_reply_problem_with(http_req *req, int status, const char *slug, const char *field,
                             const char *detail, const char *const *headers)
{
    buf b;
    buf_init(&b);
    buf_puts(&b, "{\"type\":\"/problems/");
    buf_puts(&b, slug);
    buf_puts(&b, "\",\"title\":");
    json_append_cstr(&b, http_reply_status_title(status));
    buf_printf(&b, ",\"status\":%d,\"detail\":", status);
    json_append_cstr(&b, detail);
    if (field) {
        buf_puts(&b, ",\"field\":");
        json_append_cstr(&b, field);
    }
    buf_puts(&b, ",\"request_id\":");
    json_append_cstr(&b, req->request_id);
    buf_putc(&b, '}');
    http_reply(req, status, "application/problem+json", b.ptr, b.len, headers);
    buf_free(&b);
}

void http_reply_problem_close(http_req *req, int status, const char *slug, const char *field,
                              const char *detail)
{
    static const char *const hdr[] = {"Connection", "close", NULL};
    http_reply_problem_with(req, status, slug, field, detail, hdr);
}

void http_reply_problem(http_req *req, int status, const char *slug, const char *field,
                        const char *detail)
{
    http_reply_problem_with(req, status, slug, field, detail, NULL);
}

void http_reply_problem_of(http_req *req, const problem *p)
{
    http_reply_problem(req, p->status, p->slug, p->field[0] ? p->field : NULL, p->detail);
}

/* 503 with Retry-After, for a dependency that is down. */
static void reply_unavailable(http_req *req, const char *what)
{
    static const char *const retry[] = {"Retry-After", "2", NULL};
    char detail[160];
    snprintf(detail, sizeof detail, "%s is unreachable; retry shortly", what);
    http_reply_problem_with(req, 503, "unavailable", NULL, detail, retry);
}

void http_reply_db_error(http_req *req, const bson_error_t *err)
{
    if (mongo_error_is_unavailable(err)) {
        reply_unavailable(req, "the database");
        return;
    }
    log_error("database error", "error", err->message, "request_id", req->request_id, "trace_id",
              req->trace.trace_id, "span_id", req->trace.span_id, NULL);
    http_reply_problem(req, 500, "internal", NULL, "the database rejected the operation");
}
