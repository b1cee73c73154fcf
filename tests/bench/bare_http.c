/* bare_http: the HTTP ceiling for the benchmarks. civetweb with the options
 * common/http.c gives mg_start, and one handler that reads the body (as the
 * services must) and answers a fixed 201 JSON of the size of a started
 * appointment. What the services spend beyond this is their own work.
 *
 *   bare_http PORT [THREADS]      runs until SIGTERM/SIGINT */
#include <civetweb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static const char reply[] =
    "{\"id\":\"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\","
    "\"physician_id\":\"2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a\","
    "\"patient_id\":\"7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a\","
    "\"start_date\":\"2024-05-01T14:00:00Z\",\"end_date\":null,\"price\":200.00,"
    "\"currency\":\"BRL\",\"status\":\"started\"}";

static int begin_request(struct mg_connection *conn)
{
    char sink[4096];
    while (mg_read(conn, sink, sizeof sink) > 0)
        ;
    /* The same headers the services send, so the bytes on the wire match,
     * and like them (common/http.c) head and body in one write. */
    char out[1024];
    int n = snprintf(out, sizeof out,
                     "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nX-Request-Id: 6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n"
                     "Location: /appointments/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b\r\n\r\n%s",
                     sizeof reply - 1, reply);
    mg_write(conn, out, (size_t)n);
    return 201;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bare_http PORT [THREADS]\n");
        return 2;
    }
    char ports[64];
    snprintf(ports, sizeof ports, "127.0.0.1:%s", argv[1]);
    const char *threads = argc > 2 ? argv[2] : "16";
    /* Keep in step with http_server_start() in common/http.c. */
    const char *options[] = {"listening_ports", ports, "num_threads", threads, "request_timeout_ms",
                             "10000", "enable_keep_alive", "yes", "keep_alive_timeout_ms", "30000",
                             "max_request_size", "16384",
                             /* Responses larger than a segment must not
                              * wait for an ACK (Nagle) before their tail. */
                             "tcp_nodelay", "1", NULL};
    struct mg_callbacks cb;
    memset(&cb, 0, sizeof cb);
    cb.begin_request = begin_request;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    struct mg_context *ctx = mg_start(&cb, NULL, options);
    if (!ctx) {
        fprintf(stderr, "bare_http: cannot listen on %s\n", ports);
        return 1;
    }
    while (!stop)
        usleep(100 * 1000);
    mg_stop(ctx);
    return 0;
}
