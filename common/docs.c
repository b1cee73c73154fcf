#include "docs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "buf.h"
#include "log.h"

typedef struct docs_asset {
    const char *name;
    const char *type;
    char *data;
    size_t len;
} docs_asset;

struct docs {
    buf index;
    bool ok;
    docs_asset assets[4];
};

static const docs_asset asset_list[] = {
    {"swagger-ui.css", "text/css", NULL, 0},
    {"swagger-ui-bundle.js", "application/javascript", NULL, 0},
    {"swagger-ui-standalone-preset.js", "application/javascript", NULL, 0},
    {"favicon-32x32.png", "image/png", NULL, 0},
};

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b;
    buf_init(&b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    return b.ptr ? b.ptr : xstrdup("");
}

docs *docs_new(const char *dir, const char *title)
{
    docs *d = xcalloc(1, sizeof *d);
    memcpy(d->assets, asset_list, sizeof asset_list);
    d->ok = true;
    for (size_t i = 0; i < sizeof asset_list / sizeof asset_list[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, d->assets[i].name);
        d->assets[i].data = read_file(path, &d->assets[i].len);
        if (!d->assets[i].data)
            d->ok = false;
    }
    if (!d->ok)
        log_warn("Swagger UI not found; /docs is off (run make deps or set DOCS_DIR)", "dir", dir,
                 NULL);
    buf_init(&d->index);
    /* validatorUrl null: the page must not call out to a public validator. */
    buf_printf(&d->index,
               "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<title>%s</title>"
               "<link rel=\"icon\" href=\"/docs/favicon-32x32.png\">"
               "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\"></head>\n"
               "<body><div id=\"swagger-ui\"></div>\n"
               "<script src=\"/docs/swagger-ui-bundle.js\"></script>\n"
               "<script src=\"/docs/swagger-ui-standalone-preset.js\"></script>\n"
               "<script>window.ui = SwaggerUIBundle({url: \"/openapi.json\", dom_id: "
               "\"#swagger-ui\", validatorUrl: null, deepLinking: true, presets: "
               "[SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: "
               "\"StandaloneLayout\"});</script>\n</body></html>\n",
               title);
    return d;
}

void docs_free(docs *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < sizeof d->assets / sizeof d->assets[0]; i++)
        free(d->assets[i].data);
    buf_free(&d->index);
    free(d);
}

static bool missing_or_reply(docs *d, http_req *req)
{
    if (d && d->ok)
        return false;
    http_reply_problem(req, 404, "not-found", NULL,
                       "Swagger UI is not installed here (make deps installs it; see DOCS_DIR); "
                       "the contract is at /openapi.json");
    return true;
}

void docs_reply_index(docs *d, http_req *req)
{
    if (missing_or_reply(d, req))
        return;
    http_reply(req, 200, "text/html; charset=utf-8", d->index.ptr, d->index.len, NULL);
}

void docs_reply_asset(docs *d, http_req *req)
{
    if (missing_or_reply(d, req))
        return;
    for (size_t i = 0; i < sizeof d->assets / sizeof d->assets[0]; i++) {
        const docs_asset *a = &d->assets[i];
        if (strlen(a->name) == req->param_len[0] &&
            memcmp(a->name, req->param[0], req->param_len[0]) == 0) {
            http_reply(req, 200, a->type, a->data, a->len, NULL);
            return;
        }
    }
    http_reply_problem(req, 404, "not-found", NULL, "no such file");
}
