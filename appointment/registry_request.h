/* registry_request: the physician and patient registry's input, pure (no
 * connection, no database): the records, their validators, the CPF check
 * digits, JSON Merge Patch (RFC 7396), the list query, If-Match, and the
 * records' JSON. Each validator fills its output only on success and
 * otherwise returns -1 with the 400 problem in *p, whose detail never quotes
 * a value (patient data is personal: it must not reach a log or an error).
 * Thread-safe. */
#ifndef APPT_REGISTRY_REQUEST_H
#define APPT_REGISTRY_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "problem.h"
#include "uuid.h"

#define REG_NAME_MAX 200      /* characters (code points) */
#define REG_SPECIALTY_MAX 100 /* characters */
#define REG_NAME_BYTES (REG_NAME_MAX * 4 + 1)
#define REG_SPECIALTY_BYTES (REG_SPECIALTY_MAX * 4 + 1)
#define REG_SYSTEM_LEN 17  /* license system: 1..16 of [A-Z0-9-] */
#define REG_LICENSE_LEN 33 /* license value: 1..32 of [A-Za-z0-9.-] */
#define REG_CPF_LEN 12     /* 11 digits */
#define REG_EMAIL_LEN 255  /* at most 254 characters */
#define REG_PHONE_LEN 33   /* at most 32 characters */
#define REG_DATE_LEN 11    /* YYYY-MM-DD */
#define REG_LIST_MAX 100
#define REG_LIST_DEFAULT 20

/* What every record starts with; the server sets all of it. */
typedef struct reg_meta {
    char id[UUID_STR_LEN];
    bool active;
    int64_t created_ms, updated_ms;
    int64_t version; /* 1 when created, +1 at each change: the ETag */
} reg_meta;

typedef struct reg_physician {
    reg_meta m; /* first */
    char name[REG_NAME_BYTES];
    char specialty[REG_SPECIALTY_BYTES];
    char license_system[REG_SYSTEM_LEN];
    char license_value[REG_LICENSE_LEN];
    int64_t hourly_price_cents; /* > 0 */
    char currency[4];
} reg_physician;

typedef struct reg_patient {
    reg_meta m; /* first */
    char name[REG_NAME_BYTES];
    char birth_date[REG_DATE_LEN];
    char cpf[REG_CPF_LEN];     /* document {"system": "CPF", "value": cpf} */
    char email[REG_EMAIL_LEN]; /* "" when absent */
    char phone[REG_PHONE_LEN]; /* "" when absent */
} reg_patient;

/* True for 11 ASCII digits, not all the same, whose two check digits are
 * right. s need not be NUL-terminated. */
bool registry_cpf_valid(const char *s, size_t len);

/* The physician of a POST or PUT body (or of a record with a merge patch
 * applied): name, specialty, license {system, value}, hourly_price (a number
 * with at most two decimals, > 0), currency, active (default true). id,
 * created_at and updated_at may be present (a representation sent back) and
 * are ignored; any other key is refused. Fills out's fields and m.active;
 * leaves the rest of m. */
int registry_request_physician(const json_t *doc, reg_physician *out, problem *p);

/* The patient of a body, likewise: name, birth_date (a real date, not after
 * today's UTC date at now_ms), document {"system": "CPF", value}, email,
 * phone (optional), active. */
int registry_request_patient(const json_t *doc, int64_t now_ms, reg_patient *out, problem *p);

/* RFC 7396: patch applied to target. Returns a new reference the caller
 * json_decref()s (target is not changed). Cannot fail (aborts on OOM). */
json_t *registry_merge_patch(const json_t *target, const json_t *patch);

typedef struct reg_list_req {
    bool has_cursor, has_specialty;
    char cursor[UUID_STR_LEN];
    char specialty[REG_SPECIALTY_BYTES];
    int active; /* -1 any, 0, 1 */
    int limit;  /* 1..REG_LIST_MAX */
} reg_list_req;

/* GET /physicians, /patients: cursor (a UUID), limit (1..100, default 20),
 * active (true | false) and, when with_specialty, specialty. */
int registry_request_list(const char *query, bool with_specialty, reg_list_req *out, problem *p);

/* The ETag of a record's version: "\"v<version>\"" into out[32]. */
void registry_etag(int64_t version, char out[32]);

/* Whether an If-Match header value (NULL: none) lets a write on a record at
 * `version` go ahead: absent, "*", or a list holding its strong ETag. */
bool registry_if_match(const char *header, int64_t version);

/* The records' JSON; writable_only leaves out id, created_at and updated_at
 * (what a merge patch applies to, and what tells whether a PUT changes
 * anything). */
void registry_append_physician(buf *out, const reg_physician *ph, bool writable_only);
void registry_append_patient(buf *out, const reg_patient *pt, bool writable_only);

#endif
