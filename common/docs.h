/* docs: serves Swagger UI at /docs (the npm package swagger-ui-dist, installed
 * by `make deps` into .deps/swagger-ui) pointed at the service's own
 * /openapi.json. The few files it needs are read once at start-up and served
 * from memory. Thread-safe after docs_new(). */
#ifndef COMMON_DOCS_H
#define COMMON_DOCS_H

#include "http.h"

typedef struct docs docs;

/* Loads Swagger UI from dir. Never fails: with the files missing, /docs
 * answers 404 problem+json saying how to install them (logged once here). */
docs *docs_new(const char *dir, const char *title);
void docs_free(docs *d);

/* GET /docs: the page. */
void docs_reply_index(docs *d, http_req *req);
/* GET /docs/{file}: one of Swagger UI's assets (param 0), 404 otherwise. */
void docs_reply_asset(docs *d, http_req *req);

#endif
