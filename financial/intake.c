#include "intake.h"

#include <stdio.h>
#include <string.h>

#include "json.h"
#include "money.h"
#include "uuid.h"

static const char *const reason_names[INTAKE_NREASONS] = {
    [INTAKE_UNDECODABLE] = "undecodable",
    [INTAKE_SCHEMA] = "schema",
    [INTAKE_END_BEFORE_START] = "end_before_start",
    [INTAKE_NOT_OURS] = "not_ours",
    [INTAKE_TOO_LONG] = "too_long",
    [INTAKE_TOO_LARGE] = "too_large",
    [INTAKE_CURRENCY] = "currency",
    [INTAKE_BAD_SIGNATURE] = "bad_signature",
    [INTAKE_REFUSED] = "refused",
};

const char *intake_reason_name(intake_reason r)
{
    return (unsigned)r < INTAKE_NREASONS ? reason_names[r] : reason_names[INTAKE_REFUSED];
}

int intake_reason_parse(const char *s, size_t len)
{
    for (int i = 0; i < INTAKE_NREASONS; i++)
        if (strlen(reason_names[i]) == len && memcmp(reason_names[i], s, len) == 0)
            return i;
    return -1;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

intake_reason intake_reason_of_detail(const char *detail)
{
    if (!detail)
        return INTAKE_REFUSED;
    const char *colon = strchr(detail, ':');
    if (colon) {
        /* "currency: ..." is also event_decode's word for a malformed code
         * (schema); an unaccepted currency is intake_judge's own. */
        int r = intake_reason_parse(detail, (size_t)(colon - detail));
        if (r >= 0 && r != INTAKE_CURRENCY)
            return (intake_reason)r;
    }
    /* What billing_from_event and event_decode write. */
    if (starts_with(detail, "body:"))
        return INTAKE_UNDECODABLE;
    if (starts_with(detail, "ce_type:") || starts_with(detail, "ce_source:"))
        return INTAKE_NOT_OURS;
    if (starts_with(detail, "end_date: before start_date"))
        return INTAKE_END_BEFORE_START;
    if (colon)
        return INTAKE_SCHEMA; /* "<field>: missing", "<field>: not ...", duplicate keys */
    return INTAKE_REFUSED;
}

int intake_currencies_parse(const char *s, intake_currencies *out, char *err, size_t errlen)
{
    intake_currencies c = {0};
    const char *p = s ? s : "";
    for (;;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, ",");
        size_t k = n;
        while (k > 0 && p[k - 1] == ' ')
            k--;
        if (!money_currency_valid(p, k)) {
            snprintf(err, errlen,
                     "CURRENCIES: '%.*s' is not a three-letter ISO 4217 code (e.g. BRL,USD)",
                     (int)(k > 8 ? 8 : k), p);
            return -1;
        }
        char code[EVENT_CURRENCY_LEN];
        memcpy(code, p, 3);
        code[3] = '\0';
        if (!intake_currencies_has(&c, code)) {
            if (c.n == INTAKE_CURRENCIES_MAX) {
                snprintf(err, errlen, "CURRENCIES: at most %d codes", INTAKE_CURRENCIES_MAX);
                return -1;
            }
            memcpy(c.code[c.n++], code, sizeof code);
        }
        if (p[n] != ',')
            break;
        p += n + 1;
    }
    *out = c;
    return 0;
}

bool intake_currencies_has(const intake_currencies *c, const char *code)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->code[i], code) == 0)
            return true;
    return false;
}

int intake_judge(const intake_message *m, const intake_rules *rules, int64_t created_ms, billing *b,
                 intake_reason *why, char *detail, size_t detaillen)
{
    billing x;
    if (rules->event_source && billing_check_origin(m->ce_type, m->ce_source, rules->event_source,
                                                    detail, detaillen) != 0) {
        *why = INTAKE_NOT_OURS;
        return -1;
    }
    if (billing_from_event(m->value, m->value ? m->len : 0, m->ce_type, m->ce_id, created_ms, &x,
                           detail, detaillen) != 0) {
        *why = intake_reason_of_detail(detail);
        return -1;
    }
    if (rules->max_consultation_ms > 0 &&
        billing_check_length(&x, rules->max_consultation_ms, detail, detaillen) != 0) {
        *why = INTAKE_TOO_LONG;
        return -1;
    }
    if (rules->accepted && !intake_currencies_has(rules->accepted, x.event.currency)) {
        snprintf(detail, detaillen, "currency: %s is not accepted (CURRENCIES)", x.event.currency);
        *why = INTAKE_CURRENCY;
        return -1;
    }
    *b = x;
    return 0;
}

int intake_appointment_id(const char *value, size_t len, char *out)
{
    if (!value || len == 0)
        return -1;
    json_parse_error perr;
    json_t *doc = json_parse_object(value, len, &perr);
    if (!doc)
        return -1;
    const char *s;
    size_t n;
    int rc = -1;
    if (json_get_str(doc, "appointment_id", &s, &n) == JSON_OK && uuid_normalize(s, n, out) == 0)
        rc = 0;
    json_decref(doc);
    return rc;
}
