#include "reconcile.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "auth.h"
#include "billing_store.h"
#include "clock.h"
#include "http_client.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "timefmt.h"
#include "uuid.h"
#include "worker.h"

/* One finished consultation, as the appointment service lists it. */
typedef struct seen {
    char id[UUID_STR_LEN];
    int64_t end_ms;
} seen;

/* A growing array of seen. */
typedef struct seen_list {
    seen *v;
    size_t n, cap;
} seen_list;

static void seen_push(seen_list *l, const char *id, int64_t end_ms)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    memcpy(l->v[l->n].id, id, UUID_STR_LEN);
    l->v[l->n++].end_ms = end_ms;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const seen *)a)->id, ((const seen *)b)->id);
}

static int by_end(const void *a, const void *b)
{
    int64_t x = ((const seen *)a)->end_ms, y = ((const seen *)b)->end_ms;
    return x < y ? -1 : x > y ? 1 : by_id(a, b);
}

struct reconcile {
    reconcile_opts opts;
    http_client_url url;
    char *token; /* NULL: none */
    worker w;
    /* The thread's own: the ids found billed in the last run, sorted. */
    seen_list billed;
    /* What the readers see, under mu. */
    pthread_mutex_t mu;
    bool up;
    bool have;               /* a run has succeeded */
    int64_t last_success_ms; /* when that run started */
    int64_t count;
    int64_t oldest_end_ms;
    seen_list unbilled; /* the oldest RECONCILE_LIST_MAX, oldest first */
};

/* Reads the token: the file's first line, without surrounding blanks. */
static char *read_token(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "APPOINTMENT_TOKEN_FILE: cannot read %s", path);
        return NULL;
    }
    char *tok = xcalloc(1, AUTH_TOKEN_MAX + 2);
    size_t n = fread(tok, 1, AUTH_TOKEN_MAX + 1, f);
    fclose(f);
    tok[n] = '\0';
    char *nl = strpbrk(tok, "\r\n");
    if (nl)
        *nl = '\0';
    n = strlen(tok);
    while (n > 0 && isspace((unsigned char)tok[n - 1]))
        tok[--n] = '\0';
    size_t lead = strspn(tok, " \t");
    memmove(tok, tok + lead, n - lead + 1);
    if (!tok[0] || n > AUTH_TOKEN_MAX) {
        snprintf(err, errlen, "APPOINTMENT_TOKEN_FILE: %s holds no token of at most %d bytes", path,
                 AUTH_TOKEN_MAX);
        free(tok);
        return NULL;
    }
    return tok;
}

int reconcile_configure(const config_var *vars, size_t nvars, reconcile_opts *o, char *err,
                        size_t errlen)
{
    o->appointment_url = config_str(vars, nvars, "APPOINTMENT_URL");
    o->token_file = config_str(vars, nvars, "APPOINTMENT_TOKEN_FILE");
    o->timeout_ms = RECONCILE_TIMEOUT_MS;
    int64_t interval = 0, after = 0, window = 0;
    if (config_int(vars, nvars, "RECONCILE_INTERVAL_S", 1, 86400, &interval, err, errlen) ||
        config_int(vars, nvars, "RECONCILE_AFTER_S", 0, 86400, &after, err, errlen) ||
        config_int(vars, nvars, "RECONCILE_WINDOW_S", 60, 31 * 86400, &window, err, errlen))
        return -1;
    o->interval_s = (int)interval;
    o->after_s = (int)after;
    o->window_s = (int)window;
    if (o->window_s <= o->after_s) {
        snprintf(err, errlen, "RECONCILE_WINDOW_S must be larger than RECONCILE_AFTER_S");
        return -1;
    }
    http_client_url u;
    char why[160];
    if (http_client_parse_url(o->appointment_url, &u, why, sizeof why) != 0) {
        snprintf(err, errlen, "APPOINTMENT_URL %s", why);
        return -1;
    }
    return 0;
}

reconcile *reconcile_new(const reconcile_opts *opts, char *err, size_t errlen)
{
    reconcile *r = xcalloc(1, sizeof *r);
    r->opts = *opts;
    char why[160];
    if (http_client_parse_url(opts->appointment_url, &r->url, why, sizeof why) != 0) {
        snprintf(err, errlen, "APPOINTMENT_URL %s", why);
        free(r);
        return NULL;
    }
    if (opts->token_file && opts->token_file[0] &&
        !(r->token = read_token(opts->token_file, err, errlen))) {
        free(r);
        return NULL;
    }
    r->opts.appointment_url = NULL; /* parsed; the caller's string may go */
    r->opts.token_file = NULL;
    pthread_mutex_init(&r->mu, NULL);
    worker_init(&r->w);
    return r;
}

/* Reads one page's items into got; sets *cursor to its next_cursor ("" on
 * the last page). Returns 0, or -1 with why. */
static int read_page(const char *body, size_t len, seen_list *got, char *cursor, size_t cursor_len,
                     char *why, size_t whylen)
{
    json_parse_error perr;
    json_t *doc = json_parse_object(body, len, &perr);
    if (!doc) {
        snprintf(why, whylen, "GET /appointments/finished: %s", perr.msg);
        return -1;
    }
    int rc = -1;
    json_t *items = json_object_get(doc, "items");
    json_t *next = json_object_get(doc, "next_cursor");
    if (!json_is_array(items) || !(json_is_null(next) || json_is_string(next))) {
        snprintf(why, whylen, "GET /appointments/finished: no items or next_cursor");
        goto done;
    }
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it)
    {
        const char *id = NULL, *end = NULL;
        size_t id_len = 0, end_len = 0;
        char norm[UUID_STR_LEN];
        int64_t end_ms = 0;
        if (!json_is_object(it) || json_get_str(it, "id", &id, &id_len) != JSON_OK ||
            uuid_normalize(id, id_len, norm) != 0 ||
            json_get_str(it, "end_date", &end, &end_len) != JSON_OK ||
            timefmt_parse(end, end_len, &end_ms) != 0) {
            snprintf(why, whylen, "GET /appointments/finished: item %zu has no id or end_date", i);
            goto done;
        }
        seen_push(got, norm, end_ms);
    }
    cursor[0] = '\0';
    if (json_is_string(next))
        snprintf(cursor, cursor_len, "%s", json_string_value(next));
    rc = 0;
done:
    json_decref(doc);
    return rc;
}

/* Every consultation that finished in [from_ms, to_ms), from the
 * appointment service, into got. Returns 0, or -1 with why. */
static int fetch_finished(reconcile *r, int64_t from_ms, int64_t to_ms, seen_list *got, char *why,
                          size_t whylen)
{
    char from[TIMEFMT_LEN], to[TIMEFMT_LEN], cursor[128] = "";
    timefmt_format(from_ms, from);
    timefmt_format(to_ms, to);
    buf body;
    buf_init(&body);
    int rc = 0;
    do {
        if (worker_stopping(&r->w)) {
            snprintf(why, whylen, "stopping");
            rc = -1;
            break;
        }
        char path[512];
        snprintf(path, sizeof path, "/appointments/finished?from=%s&to=%s&limit=%d%s%s", from, to,
                 RECONCILE_PAGE, cursor[0] ? "&cursor=" : "", cursor);
        int status = 0;
        buf_reset(&body);
        if (http_client_get(&r->url, path, r->token, r->opts.timeout_ms, &status, &body, why,
                            whylen) != 0) {
            rc = -1;
            break;
        }
        if (status != 200) {
            snprintf(why, whylen, "GET /appointments/finished answered %d", status);
            rc = -1;
            break;
        }
        rc = read_page(body.ptr ? body.ptr : "", body.len, got, cursor, sizeof cursor, why, whylen);
    } while (rc == 0 && cursor[0]);
    buf_free(&body);
    return rc;
}

/* Sorts got's unbilled ones into unbilled: those neither in the last run's
 * billed ids nor found in the billings by _id (each a one-document equality
 * lookup). The billed ones become the next run's. Returns 0, or -1 with
 * why. */
static int check_billed(reconcile *r, const seen_list *got, seen_list *unbilled, char *why,
                        size_t whylen)
{
    seen_list billed = {0};
    int rc = 0;
    for (size_t i = 0; i < got->n && rc == 0; i++) {
        const seen *s = &got->v[i];
        bool known = r->billed.n && bsearch(s, r->billed.v, r->billed.n, sizeof *s, by_id);
        int found = 1;
        if (!known) {
            bson_error_t err;
            found = mongo_find_id(r->opts.db, BILLING_COLLECTION, s->id, NULL, NULL, &err);
            if (found < 0) {
                snprintf(why, whylen, "billings: %.200s", err.message);
                rc = -1;
                break;
            }
        }
        seen_push(found ? &billed : unbilled, s->id, s->end_ms);
        if (i % 64 == 63 && worker_stopping(&r->w)) {
            snprintf(why, whylen, "stopping");
            rc = -1;
        }
    }
    if (rc == 0) {
        if (billed.n)
            qsort(billed.v, billed.n, sizeof *billed.v, by_id);
        free(r->billed.v);
        r->billed = billed;
    } else {
        free(billed.v);
    }
    return rc;
}

/* One run at now_ms. */
static void run_once(reconcile *r, int64_t now_ms)
{
    int64_t from = now_ms - (int64_t)r->opts.window_s * 1000;
    int64_t to = now_ms - (int64_t)r->opts.after_s * 1000;
    seen_list got = {0}, unbilled = {0};
    char why[256] = "";
    int rc = fetch_finished(r, from, to, &got, why, sizeof why);
    if (rc == 0)
        rc = check_billed(r, &got, &unbilled, why, sizeof why);
    free(got.v);
    if (rc == 0 && unbilled.n)
        qsort(unbilled.v, unbilled.n, sizeof *unbilled.v, by_end);
    pthread_mutex_lock(&r->mu);
    bool was_up = r->up, had = r->have;
    int64_t before = r->count;
    r->up = rc == 0;
    if (rc == 0) {
        r->have = true;
        r->last_success_ms = now_ms;
        r->count = (int64_t)unbilled.n;
        r->oldest_end_ms = unbilled.n ? unbilled.v[0].end_ms : 0;
        free(r->unbilled.v);
        if (unbilled.n > RECONCILE_LIST_MAX)
            unbilled.n = RECONCILE_LIST_MAX;
        r->unbilled = unbilled;
        unbilled.v = NULL;
    }
    int64_t count = r->count;
    pthread_mutex_unlock(&r->mu);
    free(unbilled.v);
    if (rc != 0 && (was_up || !had) && !worker_stopping(&r->w))
        log_warn("reconciliation failed; its numbers are stale until it succeeds", "error", why,
                 NULL);
    else if (rc == 0 && (!was_up || count != before))
        log_info("reconciled", LOG_INT("unbilled", count), NULL);
}

static void *loop(void *arg)
{
    reconcile *r = arg;
    int64_t next = clock_mono_ms();
    while (!worker_stopping(&r->w)) {
        if (clock_mono_ms() < next) {
            clock_sleep_ms(100);
            continue;
        }
        next = clock_mono_ms() + (int64_t)r->opts.interval_s * 1000;
        run_once(r, clock_now_ms());
    }
    return NULL;
}

int reconcile_start(reconcile *r)
{
    return worker_start(&r->w, loop, r);
}

void reconcile_stop(reconcile *r)
{
    if (r)
        worker_request_stop(&r->w);
}

void reconcile_free(reconcile *r)
{
    if (!r)
        return;
    worker_join(&r->w);
    pthread_mutex_destroy(&r->mu);
    free(r->billed.v);
    free(r->unbilled.v);
    free(r->token);
    free(r);
}

/* Seconds from end_ms to now_ms, 0 when none is unbilled. */
static double oldest_age_s(const reconcile *r, int64_t now_ms)
{
    return r->count && now_ms > r->oldest_end_ms ? (double)(now_ms - r->oldest_end_ms) / 1000.0
                                                 : 0.0;
}

void reconcile_render_metrics(reconcile *r, int64_t now_ms, buf *out)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    metrics_single_i(out, "clinic_reconciliation_up", "gauge",
                     "1 when the last reconciliation run succeeded, 0 when it failed (the "
                     "unbilled numbers are then stale) or none has run yet.",
                     r->up ? 1 : 0);
    metrics_single_f(out, "clinic_reconciliation_last_success_timestamp_seconds", "gauge",
                     "Unix time of the last successful reconciliation run (0: none yet).",
                     (double)r->last_success_ms / 1000.0);
    if (r->have) {
        metrics_single_i(out, "clinic_unbilled_consultations", "gauge",
                         "Consultations finished in the reconciliation window (older than "
                         "RECONCILE_AFTER_S) without a billing, as of the last successful run.",
                         r->count);
        metrics_single_f(out, "clinic_unbilled_oldest_age_seconds", "gauge",
                         "Time since the oldest unbilled consultation ended (0: none).",
                         oldest_age_s(r, now_ms));
    }
    pthread_mutex_unlock(&r->mu);
}

void reconcile_reply_unbilled(reconcile *r, http_req *req, int64_t now_ms)
{
    buf out;
    buf_init(&out);
    pthread_mutex_lock(&r->mu);
    buf_printf(&out, "{\"up\":%s,\"last_success\":", r->up ? "true" : "false");
    if (r->have)
        json_append_time(&out, r->last_success_ms);
    else
        buf_puts(&out, "null");
    if (r->have)
        buf_printf(&out, ",\"count\":%lld,\"oldest_age_seconds\":%.3f", (long long)r->count,
                   oldest_age_s(r, now_ms));
    else
        buf_puts(&out, ",\"count\":null,\"oldest_age_seconds\":null");
    buf_puts(&out, ",\"items\":[");
    for (size_t i = 0; i < r->unbilled.n; i++) {
        buf_puts(&out, i ? ",{\"appointment_id\":" : "{\"appointment_id\":");
        json_append_cstr(&out, r->unbilled.v[i].id);
        buf_puts(&out, ",\"end_date\":");
        json_append_time(&out, r->unbilled.v[i].end_ms);
        buf_putc(&out, '}');
    }
    buf_printf(&out, "],\"truncated\":%s}",
               r->have && r->count > (int64_t)r->unbilled.n ? "true" : "false");
    pthread_mutex_unlock(&r->mu);
    http_reply_json(req, 200, &out, NULL);
    buf_free(&out);
}
