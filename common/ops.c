#include "ops.h"

#include "json.h"

static ops_ctx *ops_of(http_req *req)
{
    return req->app; /* an app struct's first member is its ops_ctx */
}

void ops_handle_healthz(http_req *req)
{
    static const char body[] = "{\"status\":\"ok\"}";
    http_reply(req, 200, "application/json", body, sizeof body - 1, NULL);
}

void ops_handle_metrics(http_req *req)
{
    ops_ctx *ops = ops_of(req);
    buf b;
    buf_init(&b);
    if (ops->server)
        http_server_render_metrics(ops->server, &b);
    if (ops->render_metrics)
        ops->render_metrics(req->app, &b);
    http_reply(req, 200, "text/plain; version=0.0.4", buf_cstr(&b), b.len, NULL);
    buf_free(&b);
}

void ops_handle_openapi(http_req *req)
{
    ops_ctx *ops = ops_of(req);
    http_reply(req, 200, "application/json", ops->openapi, ops->openapi_len, NULL);
}

void ops_handle_docs(http_req *req)
{
    docs_reply_index(ops_of(req)->docs, req);
}

void ops_handle_docs_asset(http_req *req)
{
    docs_reply_asset(ops_of(req)->docs, req);
}

void ops_reply_ready(http_req *req, const ops_check *checks, size_t n)
{
    bool ready = true;
    for (size_t i = 0; i < n; i++)
        ready = ready && checks[i].ok;
    buf b;
    buf_init(&b);
    buf_puts(&b, ready ? "{\"status\":\"ready\",\"checks\":{"
                       : "{\"status\":\"unavailable\",\"checks\":{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(&b, ',');
        json_append_key(&b, checks[i].name);
        json_append_cstr(&b, checks[i].state);
    }
    buf_puts(&b, "}}");
    static const char *const hdr[] = {"Retry-After", "2", NULL};
    http_reply_json(req, ready ? 200 : 503, &b, ready ? NULL : hdr);
    buf_free(&b);
}
