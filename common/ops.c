#include "ops.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "clock.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "procstat.h"
#include "version.h" /* CLINIC_VERSION, written by the Makefile */

struct ops_ready {
    pthread_mutex_t mu;
    pthread_cond_t wake; /* signalled to stop the probe thread, or to probe now */
    pthread_t thread;
    bool started;
    bool stop;
    bool now; /* probe again without waiting for the interval */
    /* The last result, under mu. probed_ms is 0 before the first probe. */
    ops_check checks[OPS_MAX_CHECKS];
    size_t n;
    int64_t probed_ms; /* monotonic time the last probe ended */
    /* The probe thread's own. */
    ops_probe_fn probe;
    void *app;
};

static ops_ctx *ops_of(http_req *req)
{
    return req->app; /* an app struct's first member is its ops_ctx */
}

/* ---- readiness ---- */

ops_ready *ops_ready_new(void)
{
    ops_ready *r = xcalloc(1, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    /* Monotonic, so a wall-clock jump neither skips nor repeats probes. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&r->wake, &attr);
    pthread_condattr_destroy(&attr);
    return r;
}

ops_check ops_check_of(const char *name, bool ok, bool needed)
{
    return (ops_check){.name = name, .state = ok ? "ok" : "down", .ok = ok, .needed = needed};
}

static bool all_needed_ok(const ops_check *checks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (checks[i].needed && !checks[i].ok)
            return false;
    return true;
}

/* What /readyz and clinic_ready say about a result age_ms old (-1: none). */
static bool ready_now(const ops_check *checks, size_t n, long age_ms)
{
    return n > 0 && age_ms >= 0 && age_ms <= OPS_PROBE_STALE_MS && all_needed_ok(checks, n);
}

/* Logs each check whose state changed, so an outage and its end show up in
 * the log once, not on every probe. */
static void log_changes(const ops_check *before, size_t nbefore, const ops_check *now, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool same = i < nbefore && strcmp(before[i].state, now[i].state) == 0;
        if (same)
            continue;
        /* A dependency going down is a warning; a state word such as the
         * consumer's "starting" is news. */
        bool bad = !now[i].ok && (now[i].needed || strcmp(now[i].state, "down") == 0);
        log_kv(bad ? LOG_WARN : LOG_INFO, "readiness check", "check", now[i].name, "state",
               now[i].state, "needed", now[i].needed ? "true" : "false", NULL);
    }
}

static void publish(ops_ready *r, const ops_check *checks, size_t n)
{
    pthread_mutex_lock(&r->mu);
    ops_check before[OPS_MAX_CHECKS];
    size_t nbefore = r->n;
    memcpy(before, r->checks, sizeof before);
    memcpy(r->checks, checks, n * sizeof *checks);
    r->n = n;
    r->probed_ms = clock_mono_ms();
    pthread_mutex_unlock(&r->mu);
    log_changes(before, nbefore, checks, n);
}

static void *probe_main(void *arg)
{
    ops_ready *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop) {
        r->now = false;
        pthread_mutex_unlock(&r->mu);
        ops_check checks[OPS_MAX_CHECKS];
        size_t n = r->probe(r->app, checks);
        publish(r, checks, n < OPS_MAX_CHECKS ? n : OPS_MAX_CHECKS);
        pthread_mutex_lock(&r->mu);
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += OPS_PROBE_INTERVAL_MS / 1000;
        until.tv_nsec += (OPS_PROBE_INTERVAL_MS % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!r->stop && !r->now && pthread_cond_timedwait(&r->wake, &r->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

int ops_probe_start(ops_ctx *ops, void *app)
{
    ops_ready *r = ops->ready;
    if (!r || !ops->probe)
        return -1;
    r->probe = ops->probe;
    r->app = app;
    if (pthread_create(&r->thread, NULL, probe_main, r) != 0)
        return -1;
    r->started = true;
    return 0;
}

/* Wakes the probe thread, to stop (stop) or to probe again at once. */
static void wake_probe(ops_ctx *ops, bool stop)
{
    ops_ready *r = ops->ready;
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    if (stop)
        r->stop = true;
    else
        r->now = true;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->mu);
}

void ops_probe_request_stop(ops_ctx *ops)
{
    wake_probe(ops, true);
}

void ops_probe_now(ops_ctx *ops)
{
    wake_probe(ops, false);
}

void ops_probe_stop(ops_ctx *ops)
{
    ops_ready *r = ops->ready;
    if (!r || !r->started)
        return;
    ops_probe_request_stop(ops);
    pthread_join(r->thread, NULL);
    r->started = false;
}

void ops_destroy(ops_ctx *ops)
{
    docs_free(ops->docs);
    ops->docs = NULL;
    ops_ready *r = ops->ready;
    if (!r)
        return;
    ops_probe_stop(ops);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->mu);
    free(r);
    ops->ready = NULL;
}

/* A copy of the last result and how old it is (-1: no probe ended yet). */
static size_t last_result(ops_ready *r, ops_check *checks, long *age_ms)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->n;
    memcpy(checks, r->checks, n * sizeof *checks);
    *age_ms = r->probed_ms ? (long)(clock_mono_ms() - r->probed_ms) : -1;
    pthread_mutex_unlock(&r->mu);
    return n;
}

void ops_ready_body(buf *out, const ops_check *checks, size_t n, long stale_ms, bool *ready)
{
    *ready = n > 0 && stale_ms <= 0 && all_needed_ok(checks, n);
    buf_puts(out, "{\"status\":");
    json_append_cstr(out, *ready ? "ready" : n == 0 ? "starting" : "unavailable");
    buf_puts(out, ",\"checks\":{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(out, ',');
        json_append_key(out, checks[i].name);
        json_append_cstr(out, checks[i].state);
    }
    buf_putc(out, '}');
    if (stale_ms > 0)
        buf_printf(out, ",\"stale_ms\":%ld", stale_ms);
    buf_putc(out, '}');
}

void ops_handle_readyz(http_req *req)
{
    ops_check checks[OPS_MAX_CHECKS];
    long age_ms;
    size_t n = last_result(ops_of(req)->ready, checks, &age_ms);
    bool ready;
    buf b;
    buf_init(&b);
    ops_ready_body(&b, checks, n, age_ms > OPS_PROBE_STALE_MS ? age_ms : 0, &ready);
    static const char *const hdr[] = {"Retry-After", "1", NULL};
    http_reply_json(req, ready ? 200 : 503, &b, ready ? NULL : hdr);
    buf_free(&b);
}

/* ---- metrics ---- */

/* clinic_build_info and what the probe thread last found. */
static void render_ops_metrics(ops_ctx *ops, buf *out)
{
    static const char info[] = "clinic_build_info";
    static const char check_up[] = "clinic_check_up";
    char labels[160];
    metrics_family(out, info, "gauge", "Always 1; the labels say which build is running.");
    snprintf(labels, sizeof labels, "version=\"%s\",service=\"%s\"", CLINIC_VERSION,
             ops->service ? ops->service : "");
    metrics_sample(out, info, labels, 1);

    ops_check checks[OPS_MAX_CHECKS];
    long age_ms;
    size_t n = last_result(ops->ready, checks, &age_ms);
    bool ready = ready_now(checks, n, age_ms);
    metrics_single(out, "clinic_ready", "gauge", "1 while /readyz answers 200.", ready ? 1 : 0);
    metrics_family(out, check_up, "gauge",
                   "1 when the last readiness check found it ok (see /readyz for its state).");
    for (size_t i = 0; i < n; i++) {
        snprintf(labels, sizeof labels, "check=\"%s\"", checks[i].name);
        metrics_sample(out, check_up, labels, checks[i].ok ? 1 : 0);
    }
}

/* ---- routes ---- */

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
    procstat_render(&b);
    render_ops_metrics(ops, &b);
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
