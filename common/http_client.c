#include "http_client.h"

#include <civetweb.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

int http_client_parse_url(const char *url, http_client_url *out, char *err, size_t errlen)
{
    static const char scheme[] = "http://";
    http_client_url u;
    memset(&u, 0, sizeof u);
    u.port = 80;
    if (strncmp(url, scheme, sizeof scheme - 1) != 0) {
        snprintf(err, errlen, "must start with http:// (https is not supported)");
        return -1;
    }
    const char *host = url + sizeof scheme - 1;
    const char *slash = strchr(host, '/');
    size_t hostport = slash ? (size_t)(slash - host) : strlen(host);
    const char *end_host = host + hostport;
    if (strpbrk(url, "?#@ ") || hostport == 0) {
        snprintf(err, errlen, "must be http://host[:port][/path] (no user, query or fragment)");
        return -1;
    }
    const char *colon = NULL;
    if (host[0] == '[') { /* an IPv6 address */
        const char *close = memchr(host, ']', hostport);
        if (!close || close == host + 1) {
            snprintf(err, errlen, "has a malformed IPv6 address");
            return -1;
        }
        if (close + 1 < end_host && close[1] != ':') {
            snprintf(err, errlen, "has something after its IPv6 address");
            return -1;
        }
        colon = close + 1 < end_host ? close + 1 : NULL;
        host++;
        hostport = (size_t)(close - host);
    } else {
        colon = memchr(host, ':', hostport);
        if (colon)
            hostport = (size_t)(colon - host);
    }
    if (hostport == 0 || hostport >= sizeof u.host) {
        snprintf(err, errlen, "has an empty or too long host");
        return -1;
    }
    memcpy(u.host, host, hostport);
    if (colon) {
        long port = 0;
        const char *p = colon + 1;
        for (; p < end_host && port <= 65535; p++) {
            if (*p < '0' || *p > '9')
                break;
            port = port * 10 + (*p - '0');
        }
        if (p != end_host || p == colon + 1 || port < 1 || port > 65535) {
            snprintf(err, errlen, "has a port that is not 1..65535");
            return -1;
        }
        u.port = (int)port;
    }
    if (slash) {
        size_t n = strlen(slash);
        while (n > 0 && slash[n - 1] == '/')
            n--;
        if (n >= sizeof u.prefix) {
            snprintf(err, errlen, "has a path that is too long");
            return -1;
        }
        memcpy(u.prefix, slash, n);
    }
    *out = u;
    return 0;
}

int http_client_get(const http_client_url *u, const char *path_query, const char *bearer,
                    int timeout_ms, int *status, buf *body, char *err, size_t errlen)
{
    char ebuf[256] = "";
    struct mg_connection *conn = mg_connect_client(u->host, u->port, 0, ebuf, sizeof ebuf);
    if (!conn) {
        snprintf(err, errlen, "cannot connect to %s:%d: %s", u->host, u->port, ebuf);
        return -1;
    }
    bool v6 = strchr(u->host, ':') != NULL;
    mg_printf(conn,
              "GET %s%s HTTP/1.1\r\nHost: %s%s%s:%d\r\nAccept: application/json\r\n"
              "Connection: close\r\n%s%s%s\r\n",
              u->prefix, path_query, v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
              bearer && bearer[0] ? "Authorization: Bearer " : "", bearer ? bearer : "",
              bearer && bearer[0] ? "\r\n" : "");
    int rc = -1;
    if (mg_get_response(conn, ebuf, sizeof ebuf, timeout_ms) < 0) {
        snprintf(err, errlen, "no response from %s:%d: %s", u->host, u->port, ebuf);
        goto done;
    }
    const struct mg_response_info *ri = mg_get_response_info(conn);
    char chunk[8192];
    int n;
    size_t total = 0;
    while ((n = mg_read(conn, chunk, sizeof chunk)) > 0) {
        total += (size_t)n;
        if (total > HTTP_CLIENT_BODY_MAX) {
            snprintf(err, errlen, "the response from %s:%d is larger than %u bytes", u->host,
                     u->port, HTTP_CLIENT_BODY_MAX);
            goto done;
        }
        buf_append(body, chunk, (size_t)n);
    }
    if (n < 0) {
        snprintf(err, errlen, "the response from %s:%d broke off", u->host, u->port);
        goto done;
    }
    *status = ri ? ri->status_code : 0;
    rc = 0;
done:
    mg_close_connection(conn);
    return rc;
}
