/* reconcile: continuous reconciliation. Every interval it asks the
 * appointment service (its API, GET /appointments/finished: never its
 * database) for the consultations that finished between window_s and
 * after_s seconds ago, and checks that each has its billing, by _id
 * equality, one page of ids at a time (an id found billed is remembered, so
 * each is looked up until it is billed, then no more). What it found is the
 * state /metrics and GET /reconciliation/unbilled show. A run that fails
 * (the appointment service or the database does not answer) changes nothing
 * but up, which goes 0: the last counts stay, and their age says how stale
 * they are. One background thread; the readers are thread-safe. */
#ifndef RECONCILE_H
#define RECONCILE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "http.h"
#include "mongo.h"

/* How many unbilled consultations GET /reconciliation/unbilled lists (the
 * oldest); the count is exact. */
#define RECONCILE_LIST_MAX 1000
/* Each GET /appointments/finished asks for this many. */
#define RECONCILE_PAGE 500
/* How long one request to the appointment service may wait for its answer. */
#define RECONCILE_TIMEOUT_MS 10000

typedef struct reconcile_opts {
    const char *appointment_url; /* APPOINTMENT_URL: http://host:port */
    const char *token_file;      /* APPOINTMENT_TOKEN_FILE: its bearer token; NULL or "": none */
    int interval_s;              /* RECONCILE_INTERVAL_S */
    int after_s;                 /* RECONCILE_AFTER_S: younger consultations are not counted */
    int window_s;                /* RECONCILE_WINDOW_S: older ones are not looked at */
    int timeout_ms;              /* RECONCILE_TIMEOUT_MS */
    mongo_db *db;                /* borrowed; the billings' */
} reconcile_opts;

/* Its rows of the financial service's configuration table. */
#define RECONCILE_VARS                                                                             \
    {"APPOINTMENT_URL", "http://127.0.0.1:8080",                                                   \
     "the appointment service's API, which the reconciler asks what finished (http only)"},        \
        {"APPOINTMENT_TOKEN_FILE", "",                                                             \
         "file holding the bearer token (scope appointments:read) for APPOINTMENT_URL; unset: "    \
         "none"},                                                                                  \
        {"RECONCILE_INTERVAL_S", "60", "seconds between two reconciliation runs"},                 \
        {"RECONCILE_AFTER_S", "300",                                                               \
         "a consultation finished less than this many seconds ago is not yet expected billed"},    \
    {                                                                                              \
        "RECONCILE_WINDOW_S", "86400",                                                             \
            "consultations finished longer ago than this are not reconciled (at most 31 days)"     \
    }

/* Reads RECONCILE_VARS into *o (the strings borrowed from the table; db is
 * left to the caller) and checks them. Returns 0, or -1 with the reason in
 * err naming the variable. */
int reconcile_configure(const config_var *vars, size_t nvars, reconcile_opts *o, char *err,
                        size_t errlen);

typedef struct reconcile reconcile;

/* Checks the URL, reads the token file. Returns the reconciler, or NULL
 * with the reason in err naming the variable. */
reconcile *reconcile_new(const reconcile_opts *opts, char *err, size_t errlen);
/* Starts the thread; the first run is at once. 0 or -1. */
int reconcile_start(reconcile *r);
/* Asks the thread to stop (a run in progress ends at its next request).
 * NULL: no-op. */
void reconcile_stop(reconcile *r);
/* Joins the thread and frees. NULL: no-op. */
void reconcile_free(reconcile *r);

/* Appends clinic_reconciliation_up, clinic_reconciliation_last_success_
 * timestamp_seconds and, once a run has succeeded, clinic_unbilled_
 * consultations and clinic_unbilled_oldest_age_seconds (at now_ms).
 * NULL: nothing. */
void reconcile_render_metrics(reconcile *r, int64_t now_ms, buf *out);

/* Answers GET /reconciliation/unbilled: 200 with the state at now_ms (see
 * proto/financial.openapi.json, ReconciliationUnbilled). */
void reconcile_reply_unbilled(reconcile *r, http_req *req, int64_t now_ms);

#endif
