/* json_parse: the CPU of the JSON step alone (no HTTP, no database, one
 * thread): a typical start body through json_parse_object, then through
 * appt_request_start as the handler does, and a typical event through
 * event_decode as the consumer does. Each case runs N times (default
 * 1,000,000); one line per case with the process CPU time per operation.
 *   make bench-json            or    build/bench/json_parse [N] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event.h"
#include "json.h"
#include "appt_request.h"

#define NOW_MS INT64_C(1893456000000) /* 2030-01-01T00:00:00Z */

static const char start_body[] = "{\"physician_id\":\"2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a\","
                                 "\"patient_id\":\"7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a\","
                                 "\"start_date\":\"2024-05-01T14:00:00Z\"}";

static const char event_body[] =
    "{\"appointment_id\":\"0191d2f4-8e3b-7c1a-9f00-1234567890ab\","
    "\"physician_id\":\"2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a\","
    "\"patient_id\":\"7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a\","
    "\"start_date\":\"2024-05-01T14:00:00Z\",\"end_date\":\"2024-05-01T15:01:00Z\","
    "\"hourly_price_cents\":20000,\"currency\":\"BRL\"}";

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Each case returns nonzero on a rejection, which would make the numbers
 * meaningless: the run stops. */
static int parse_start(void)
{
    json_parse_error err;
    json_t *doc = json_parse_object(start_body, sizeof start_body - 1, &err);
    if (!doc)
        return -1;
    json_decref(doc);
    return 0;
}

static int validate_start(void)
{
    json_parse_error err;
    json_t *doc = json_parse_object(start_body, sizeof start_body - 1, &err);
    if (!doc)
        return -1;
    appt_start_req r;
    problem p;
    int rc = appt_request_start(doc, NOW_MS, &r, &p);
    json_decref(doc);
    return rc;
}

static int decode_event(void)
{
    event_finished ev;
    char reason[256];
    return event_decode(event_body, sizeof event_body - 1, &ev, reason, sizeof reason);
}

static int run(const char *name, int (*op)(void), long n)
{
    for (long i = 0; i < n / 100; i++) /* warm caches and the allocator */
        if (op() != 0)
            return -1;
    double t0 = cpu_ns();
    for (long i = 0; i < n; i++)
        if (op() != 0)
            return -1;
    double ns = (cpu_ns() - t0) / (double)n;
    printf("%-32s %9.0f ns/op  (%ld runs)\n", name, ns, n);
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    if (n <= 0) {
        fprintf(stderr, "usage: %s [runs > 0]\n", argv[0]);
        return 2;
    }
    if (run("start body: parse", parse_start, n) != 0 ||
        run("start body: parse + validate", validate_start, n) != 0 ||
        run("event: event_decode", decode_event, n) != 0) {
        fprintf(stderr, "json_parse: a sample was rejected\n");
        return 1;
    }
    return 0;
}
