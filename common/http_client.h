/* http_client: GET requests to another service's API over plain HTTP
 * (HTTP/1.1, one connection per request, closed after it), on civetweb's
 * client (mg_connect_client, mg_get_response). For a service calling
 * another inside one network (the reconciler reading the appointment
 * service); no TLS, no redirects, no proxies. Thread-safe: nothing is
 * shared between calls. */
#ifndef COMMON_HTTP_CLIENT_H
#define COMMON_HTTP_CLIENT_H

#include <stddef.h>

#include "buf.h"

#define HTTP_CLIENT_HOST_MAX 256
#define HTTP_CLIENT_PREFIX_MAX 256
/* The largest response body read; a larger one is an error. */
#define HTTP_CLIENT_BODY_MAX (8u << 20)

/* Where a service answers: http://host[:port][/prefix]. */
typedef struct http_client_url {
    char host[HTTP_CLIENT_HOST_MAX];
    int port;                            /* 80 when not given */
    char prefix[HTTP_CLIENT_PREFIX_MAX]; /* "" or "/api", no trailing '/' */
} http_client_url;

/* Parses url ("http://127.0.0.1:8080", "http://appointment:8080/"): the
 * scheme must be http, the host non-empty (a name, an IPv4 address, or an
 * IPv6 one in brackets), the port 1..65535, no user info, query or
 * fragment. Returns 0 with *out, or -1 with the reason in err. Pure. */
int http_client_parse_url(const char *url, http_client_url *out, char *err, size_t errlen);

/* GETs u's prefix + path_query ("/appointments/finished?from=..."), with
 * "Authorization: Bearer <bearer>" unless bearer is NULL or "", waiting at
 * most timeout_ms for the response head. Returns 0 with the status in
 * *status and the body appended to body, or -1 with the reason in err
 * (cannot connect, no response in time, a body beyond
 * HTTP_CLIENT_BODY_MAX). */
int http_client_get(const http_client_url *u, const char *path_query, const char *bearer,
                    int timeout_ms, int *status, buf *body, char *err, size_t errlen);

#endif
