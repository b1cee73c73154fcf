#include "registry_request.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "event.h"
#include "money.h"
#include "query.h"
#include "timefmt.h"

/* Read-only keys a client may send back unchanged (they are ignored). */
#define READ_ONLY_KEYS "id", "created_at", "updated_at"

bool registry_cpf_valid(const char *s, size_t len)
{
    if (!s || len != 11)
        return false;
    bool same = true;
    for (size_t i = 0; i < 11; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        same = same && s[i] == s[0];
    }
    if (same) /* 000.000.000-00 ... 999.999.999-99 pass the sums but are not CPFs */
        return false;
    for (size_t n = 9; n <= 10; n++) {
        int sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += (s[i] - '0') * (int)(n + 1 - i);
        int d = (sum * 10) % 11 % 10;
        if (d != s[n] - '0')
            return false;
    }
    return true;
}

/* Characters (UTF-8 code points) of s[0..n); -1 if it holds a control
 * character. The JSON reader has already refused invalid UTF-8. */
static long text_chars(const char *s, size_t n)
{
    long chars = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return -1;
        if ((c & 0xc0) != 0x80)
            chars++;
    }
    return chars;
}

/* A required string field: 0 with *s and *n (borrowed from doc), 1 when it
 * is there but no string, or -1 with the missing-field problem. */
static int body_required_str(const json_t *doc, const char *field, const char **s, size_t *n,
                             problem *p)
{
    json_status st = json_get_str(doc, field, s, n);
    if (st == JSON_MISSING)
        return problem_set(p, 400, "missing-field", field, "%s is required", field);
    return st == JSON_OK ? 0 : 1;
}

/* A required string of 1..max characters, no control characters, into
 * out[outlen]. */
static int body_text(const json_t *doc, const char *field, long max, char *out, size_t outlen,
                     problem *p)
{
    const char *s = NULL;
    size_t n = 0;
    int rc = body_required_str(doc, field, &s, &n, p);
    if (rc < 0)
        return -1;
    long chars = rc == 0 ? text_chars(s, n) : -1;
    if (chars < 1 || chars > max || n >= outlen)
        return problem_set(p, 400, "invalid-field", field,
                           "%s must be a string of 1 to %ld characters without control characters",
                           field, max);
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* An optional string of 1..max bytes, each in `allowed` (NULL: any visible
 * ASCII). Returns 0 (out "" when absent), or -1. */
static int body_ascii(const json_t *doc, const char *field, size_t max, const char *allowed,
                      char *out, const char *shape, problem *p)
{
    const char *s = NULL;
    size_t n = 0;
    json_status st = json_get_str(doc, field, &s, &n);
    if (st == JSON_MISSING) {
        out[0] = '\0';
        return 0;
    }
    bool ok = st == JSON_OK && n >= 1 && n <= max;
    for (size_t i = 0; ok && i < n; i++)
        ok = allowed ? strchr(allowed, s[i]) != NULL : s[i] > 0x20 && s[i] < 0x7f;
    if (!ok)
        return problem_set(p, 400, "invalid-field", field, "%s must be %s", field, shape);
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* "active": optional boolean, default true. */
static int body_active(const json_t *doc, bool *out, problem *p)
{
    const json_t *v = json_object_get(doc, "active");
    if (!v || json_is_null(v)) {
        *out = true;
        return 0;
    }
    if (!json_is_boolean(v))
        return problem_set(p, 400, "invalid-field", "active", "active must be true or false");
    *out = json_is_true(v);
    return 0;
}

/* A required object field {"system": ..., "value": ...} with nothing else. */
static int body_coded(const json_t *doc, const char *field, const json_t **system,
                      const json_t **value, problem *p)
{
    const json_t *o = json_object_get(doc, field);
    if (!o || json_is_null(o))
        return problem_set(p, 400, "missing-field", field, "%s is required", field);
    static const char *const allowed[] = {"system", "value", NULL};
    const char *unknown = NULL;
    if (!json_is_object(o) || json_has_unknown_key(o, allowed, &unknown))
        return problem_set(p, 400, "invalid-field", field,
                           "%s must be an object with system and value", field);
    *system = json_object_get(o, "system");
    *value = json_object_get(o, "value");
    if (!json_is_string(*system) || !json_is_string(*value))
        return problem_set(p, 400, "invalid-field", field,
                           "%s must be an object with system and value strings", field);
    return 0;
}

static bool all_in(const char *s, size_t n, size_t max, const char *allowed)
{
    if (n < 1 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!s[i] || !strchr(allowed, s[i]))
            return false;
    return true;
}

static int unknown_key(const json_t *doc, const char *const *allowed, problem *p)
{
    const char *unknown = NULL;
    if (!json_has_unknown_key(doc, allowed, &unknown))
        return 0;
    /* A key is the client's text, not personal data; but keep it short. */
    return problem_set(p, 400, "unknown-field", unknown, "%.64s is not a field of this resource",
                       unknown);
}

#define UPPER "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#define DIGITS "0123456789"

/* "hourly_price": a JSON number > 0 with at most two decimals. */
static int body_price(const json_t *doc, int64_t *out, problem *p)
{
    const json_t *v = json_object_get(doc, "hourly_price");
    if (!v || json_is_null(v))
        return problem_set(p, 400, "missing-field", "hourly_price", "hourly_price is required");
    int64_t cents = -1;
    if (json_is_integer(v) && json_integer_value(v) > 0 &&
        json_integer_value(v) <= EVENT_MAX_HOURLY_PRICE_CENTS / 100) {
        cents = json_integer_value(v) * 100;
    } else if (json_is_real(v)) {
        double c = json_real_value(v) * 100.0;
        double r = nearbyint(c);
        if (isfinite(c) && fabs(c - r) < 1e-6 * (fabs(c) + 1) && r >= 1 &&
            r <= (double)EVENT_MAX_HOURLY_PRICE_CENTS)
            cents = (int64_t)r;
    }
    if (cents < 1)
        return problem_set(p, 400, "invalid-field", "hourly_price",
                           "hourly_price must be a number above 0 with at most two decimals "
                           "(at most 1000000000.00)");
    *out = cents;
    return 0;
}

int registry_request_physician(const json_t *doc, reg_physician *out, problem *p)
{
    static const char *const allowed[] = {"name",     "specialty", "license",      "hourly_price",
                                          "currency", "active",    READ_ONLY_KEYS, NULL};
    reg_physician ph;
    memset(&ph, 0, sizeof ph);
    const json_t *system = NULL, *value = NULL;
    if (unknown_key(doc, allowed, p) ||
        body_text(doc, "name", REG_NAME_MAX, ph.name, sizeof ph.name, p) ||
        body_text(doc, "specialty", REG_SPECIALTY_MAX, ph.specialty, sizeof ph.specialty, p) ||
        body_coded(doc, "license", &system, &value, p))
        return -1;
    const char *sys = json_string_value(system), *val = json_string_value(value);
    size_t sn = json_string_length(system), vn = json_string_length(value);
    if (!all_in(sys, sn, REG_SYSTEM_LEN - 1, UPPER DIGITS "-") ||
        !all_in(val, vn, REG_LICENSE_LEN - 1, UPPER "abcdefghijklmnopqrstuvwxyz" DIGITS ".-"))
        return problem_set(p, 400, "invalid-field", "license",
                           "license.system must be 1 to 16 of A-Z, 0-9 and -, license.value 1 "
                           "to 32 letters, digits, . and -");
    memcpy(ph.license_system, sys, sn);
    memcpy(ph.license_value, val, vn);
    if (body_price(doc, &ph.hourly_price_cents, p))
        return -1;
    const char *cur = NULL;
    size_t cn = 0;
    int rc = body_required_str(doc, "currency", &cur, &cn, p);
    if (rc < 0)
        return -1;
    if (rc || !money_currency_valid(cur, cn))
        return problem_set(p, 400, "invalid-field", "currency",
                           "currency must be an ISO 4217 code of three capital letters");
    memcpy(ph.currency, cur, 3);
    bool active = true;
    if (body_active(doc, &active, p))
        return -1;
    ph.m = out->m;
    ph.m.active = active;
    *out = ph;
    return 0;
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* s[0..n) is a real date YYYY-MM-DD from year 1850 on. */
static bool date_valid(const char *s, size_t n)
{
    if (n != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (size_t i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
    int m = (s[5] - '0') * 10 + (s[6] - '0');
    int d = (s[8] - '0') * 10 + (s[9] - '0');
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1850 || m < 1 || m > 12 || d < 1)
        return false;
    return d <= mdays[m - 1] + (m == 2 && leap(y));
}

/* A plausible e-mail address: visible ASCII, one '@' with text on both
 * sides and a '.' in the domain. */
static bool email_valid(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && !strchr(at + 1, '@') && strchr(at + 1, '.') && at[1] != '.' &&
           s[strlen(s) - 1] != '.';
}

int registry_request_patient(const json_t *doc, int64_t now_ms, reg_patient *out, problem *p)
{
    static const char *const allowed[] = {"name",  "birth_date", "document",     "email",
                                          "phone", "active",     READ_ONLY_KEYS, NULL};
    reg_patient pt;
    memset(&pt, 0, sizeof pt);
    bool active = true;
    if (unknown_key(doc, allowed, p) ||
        body_text(doc, "name", REG_NAME_MAX, pt.name, sizeof pt.name, p))
        return -1;
    const char *s = NULL;
    size_t n = 0;
    int rc = body_required_str(doc, "birth_date", &s, &n, p);
    if (rc < 0)
        return -1;
    char today[REG_DATE_LEN];
    timefmt_format_day(now_ms, today);
    if (rc || !date_valid(s, n) || memcmp(s, today, 10) > 0)
        return problem_set(p, 400, "invalid-field", "birth_date",
                           "birth_date must be a date YYYY-MM-DD, from 1850 on and not in the "
                           "future");
    memcpy(pt.birth_date, s, 10);
    const json_t *system = NULL, *value = NULL;
    if (body_coded(doc, "document", &system, &value, p))
        return -1;
    if (strcmp(json_string_value(system), "CPF") != 0 ||
        !registry_cpf_valid(json_string_value(value), json_string_length(value)))
        return problem_set(p, 400, "invalid-field", "document",
                           "document must be {\"system\": \"CPF\", \"value\": 11 digits with "
                           "valid check digits}");
    memcpy(pt.cpf, json_string_value(value), 11);
    if (body_ascii(doc, "email", REG_EMAIL_LEN - 1, NULL, pt.email, "an e-mail address", p) ||
        (pt.email[0] && !email_valid(pt.email) &&
         problem_set(p, 400, "invalid-field", "email", "email must be an e-mail address")) ||
        body_ascii(doc, "phone", REG_PHONE_LEN - 1, DIGITS "+ -()", pt.phone,
                   "1 to 32 of digits, +, space, -, ( and )", p) ||
        body_active(doc, &active, p))
        return -1;
    pt.m = out->m;
    pt.m.active = active;
    *out = pt;
    return 0;
}

json_t *registry_merge_patch(const json_t *target, const json_t *patch)
{
    if (!json_is_object(patch))
        return json_deep_copy(patch);
    json_t *result = json_is_object(target) ? json_deep_copy(target) : json_object();
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)patch, key, value)
    {
        if (json_is_null(value)) {
            json_object_del(result, key);
        } else {
            json_t *merged = registry_merge_patch(json_object_get(result, key), value);
            json_object_set_new(result, key, merged);
        }
    }
    return result;
}

int registry_request_list(const char *query, bool with_specialty, reg_list_req *out, problem *p)
{
    reg_list_req r;
    memset(&r, 0, sizeof r);
    r.active = -1;
    int64_t limit = REG_LIST_DEFAULT;
    char active[8];
    int rc = query_uuid(query, "cursor", r.cursor, p);
    if (rc < 0)
        return -1;
    r.has_cursor = rc == 1;
    if (query_int(query, "limit", 1, REG_LIST_MAX, &limit, p) < 0)
        return -1;
    r.limit = (int)limit;
    rc = query_str(query, "active", active, sizeof active, p);
    if (rc < 0 || (rc == 1 && strcmp(active, "true") != 0 && strcmp(active, "false") != 0))
        return problem_set(p, 400, "invalid-query", "active", "active must be true or false");
    if (rc == 1)
        r.active = strcmp(active, "true") == 0;
    if (with_specialty) {
        rc = query_str(query, "specialty", r.specialty, sizeof r.specialty, p);
        if (rc < 0)
            return -1;
        long chars = rc == 1 ? text_chars(r.specialty, strlen(r.specialty)) : 0;
        if (rc == 1 && (chars < 1 || chars > REG_SPECIALTY_MAX))
            return problem_set(p, 400, "invalid-query", "specialty",
                               "specialty must be 1 to 100 characters");
        r.has_specialty = rc == 1;
    }
    *out = r;
    return 0;
}

void registry_etag(int64_t version, char out[32])
{
    snprintf(out, 32, "\"v%" PRId64 "\"", version);
}

bool registry_if_match(const char *header, int64_t version)
{
    if (!header)
        return true;
    char tag[32];
    registry_etag(version, tag);
    size_t tn = strlen(tag);
    const char *s = header;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        size_t n = strcspn(s, ",");
        size_t end = n;
        while (end > 0 && (s[end - 1] == ' ' || s[end - 1] == '\t'))
            end--;
        if ((end == 1 && s[0] == '*') || (end == tn && memcmp(s, tag, tn) == 0))
            return true;
        s += n;
    }
    return false;
}

/* Appends ,"key": (key is a literal of ours). */
static void json_field(buf *out, const char *key)
{
    buf_putc(out, ',');
    json_append_key(out, key);
}

static void append_meta(buf *out, const reg_meta *m, bool writable_only)
{
    if (!writable_only) {
        json_field(out, "created_at");
        json_append_time(out, m->created_ms);
        json_field(out, "updated_at");
        json_append_time(out, m->updated_ms);
    }
}

static void open_record(buf *out, const reg_meta *m, bool writable_only)
{
    buf_putc(out, '{');
    if (!writable_only) {
        json_append_key(out, "id");
        json_append_cstr(out, m->id);
        buf_putc(out, ',');
    }
    json_append_key(out, "active");
    buf_puts(out, m->active ? "true" : "false");
}

/* ,"key":{"system":system,"value":value} */
static void append_coded(buf *out, const char *key, const char *system, const char *value)
{
    buf_putc(out, ',');
    json_append_key(out, key);
    buf_puts(out, "{\"system\":");
    json_append_cstr(out, system);
    json_field(out, "value");
    json_append_cstr(out, value);
    buf_putc(out, '}');
}

void registry_append_physician(buf *out, const reg_physician *ph, bool writable_only)
{
    open_record(out, &ph->m, writable_only);
    json_field(out, "name");
    json_append_cstr(out, ph->name);
    json_field(out, "specialty");
    json_append_cstr(out, ph->specialty);
    append_coded(out, "license", ph->license_system, ph->license_value);
    json_field(out, "hourly_price");
    json_append_money(out, ph->hourly_price_cents);
    json_field(out, "currency");
    json_append_cstr(out, ph->currency);
    append_meta(out, &ph->m, writable_only);
    buf_putc(out, '}');
}

void registry_append_patient(buf *out, const reg_patient *pt, bool writable_only)
{
    open_record(out, &pt->m, writable_only);
    json_field(out, "name");
    json_append_cstr(out, pt->name);
    json_field(out, "birth_date");
    json_append_cstr(out, pt->birth_date);
    append_coded(out, "document", "CPF", pt->cpf);
    if (pt->email[0]) {
        json_field(out, "email");
        json_append_cstr(out, pt->email);
    }
    if (pt->phone[0]) {
        json_field(out, "phone");
        json_append_cstr(out, pt->phone);
    }
    append_meta(out, &pt->m, writable_only);
    buf_putc(out, '}');
}
