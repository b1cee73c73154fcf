/* The pure parts of the dead letters: intake's reasons and currencies, the
 * kept length of a value, the records' ids, and the validation of the
 * dead-letter routes' queries and bodies (replay jobs). */
#include <check.h>
#include <string.h>

#include "dead_letter_request.h"
#include "dead_letters.h"
#include "intake.h"

#include "check_main.h"

static const char EVENT_BRL[] =
    "{\"appointment_id\":\"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b\","
    "\"physician_id\":\"3f2b8c1e-9d4a-4e6b-8a7c-2d1f0e9b8a76\","
    "\"patient_id\":\"8c6d4b2a-1e3f-4a5b-9c7d-6e8f0a1b2c3d\","
    "\"start_date\":\"2024-05-01T14:30:00Z\",\"end_date\":\"2024-05-01T15:30:00Z\","
    "\"hourly_price_cents\":20000,\"currency\":\"%s\"}";

/* The reason intake_judge gives body (NULL: billed, -1). */
static int judge(const char *body, const char *ce_type, const char *currencies)
{
    intake_currencies acc;
    char err[128];
    ck_assert_int_eq(intake_currencies_parse(currencies, &acc, err, sizeof err), 0);
    intake_message m = {body, body ? strlen(body) : 0, ce_type, NULL, NULL};
    intake_rules rules = {&acc, NULL, 0};
    billing b;
    intake_reason why;
    char detail[256];
    if (intake_judge(&m, &rules, 0, &b, &why, detail, sizeof detail) == 0)
        return -1;
    ck_assert(detail[0] != '\0');
    return (int)why;
}

static const char *with_currency(const char *code)
{
    static char text[512];
    snprintf(text, sizeof text, EVENT_BRL, code);
    return text;
}

START_TEST(test_reasons_of_what_the_consumer_refuses)
{
    ck_assert_int_eq(judge(with_currency("BRL"), NULL, "BRL"), -1);
    ck_assert_int_eq(judge(NULL, NULL, "BRL"), INTAKE_UNDECODABLE);
    ck_assert_int_eq(judge("not json {", NULL, "BRL"), INTAKE_UNDECODABLE);
    ck_assert_int_eq(judge("{\"appointment_id\":1}", NULL, "BRL"), INTAKE_SCHEMA);
    ck_assert_int_eq(judge(with_currency("brl"), NULL, "BRL"), INTAKE_SCHEMA);
    ck_assert_int_eq(judge(with_currency("BRL"), "clinic.other.v1", "BRL"), INTAKE_NOT_OURS);
    ck_assert_int_eq(judge(with_currency("USD"), NULL, "BRL"), INTAKE_CURRENCY);
    ck_assert_int_eq(judge(with_currency("USD"), NULL, "BRL,USD"), -1);
}
END_TEST

/* With an EVENT_SOURCE, the origin is judged first, as billing_check_origin
 * does: a missing type or another producer is not_ours, named by header. */
START_TEST(test_origin_is_judged_before_the_event)
{
    intake_message m = {with_currency("BRL"), strlen(with_currency("BRL")), EVENT_TYPE, NULL,
                        "clinic-appointment"};
    intake_rules rules = {NULL, "clinic-appointment", 0};
    billing b;
    intake_reason why;
    char detail[256];
    ck_assert_int_eq(intake_judge(&m, &rules, 0, &b, &why, detail, sizeof detail), 0);
    m.ce_source = "someone-else";
    ck_assert_int_eq(intake_judge(&m, &rules, 0, &b, &why, detail, sizeof detail), -1);
    ck_assert_int_eq(why, INTAKE_NOT_OURS);
    ck_assert(strncmp(detail, "ce_source:", 10) == 0);
    m.ce_type = NULL;
    m.value = "not json {";
    m.len = strlen(m.value);
    ck_assert_int_eq(intake_judge(&m, &rules, 0, &b, &why, detail, sizeof detail), -1);
    ck_assert_int_eq(why, INTAKE_NOT_OURS);
    ck_assert(strncmp(detail, "ce_type:", 8) == 0);
    ck_assert_int_eq(intake_reason_of_detail(detail), INTAKE_NOT_OURS);
}
END_TEST

START_TEST(test_reason_of_detail_and_names_round_trip)
{
    ck_assert_int_eq(intake_reason_of_detail("end_date: before start_date"),
                     INTAKE_END_BEFORE_START);
    ck_assert_int_eq(intake_reason_of_detail("too_large: 2000000 bytes"), INTAKE_TOO_LARGE);
    ck_assert_int_eq(intake_reason_of_detail("too_long: 30 days"), INTAKE_TOO_LONG);
    ck_assert_int_eq(intake_reason_of_detail("ce_source: missing, expected x (not ours)"),
                     INTAKE_NOT_OURS);
    ck_assert_int_eq(intake_reason_of_detail("patient_id: duplicate key"), INTAKE_SCHEMA);
    ck_assert_int_eq(intake_reason_of_detail("currency: not a three-letter code"), INTAKE_SCHEMA);
    ck_assert_int_eq(intake_reason_of_detail("something else"), INTAKE_REFUSED);
    ck_assert_int_eq(intake_reason_of_detail(NULL), INTAKE_REFUSED);
    for (int i = 0; i < INTAKE_NREASONS; i++) {
        const char *n = intake_reason_name((intake_reason)i);
        ck_assert_int_eq(intake_reason_parse(n, strlen(n)), i);
    }
    ck_assert_int_eq(intake_reason_parse("nope", 4), -1);
    ck_assert_str_eq(intake_reason_name(INTAKE_NREASONS), "refused");
}
END_TEST

START_TEST(test_currencies_parse_lists_and_refuses_bad_codes)
{
    intake_currencies c;
    char err[128];
    ck_assert_int_eq(intake_currencies_parse("BRL, USD ,BRL", &c, err, sizeof err), 0);
    ck_assert_uint_eq(c.n, 2);
    ck_assert(intake_currencies_has(&c, "USD") && !intake_currencies_has(&c, "EUR"));
    ck_assert_int_eq(intake_currencies_parse("", &c, err, sizeof err), -1);
    ck_assert_int_eq(intake_currencies_parse("BRL,,USD", &c, err, sizeof err), -1);
    ck_assert_int_eq(intake_currencies_parse("BRL,usd", &c, err, sizeof err), -1);
    ck_assert(strstr(err, "CURRENCIES") != NULL);
    ck_assert_uint_eq(c.n, 2); /* untouched on failure */
}
END_TEST

START_TEST(test_appointment_id_when_decodable)
{
    char id[UUID_STR_LEN];
    const char *ev = with_currency("XXX");
    ck_assert_int_eq(intake_appointment_id(ev, strlen(ev), id), 0);
    ck_assert_str_eq(id, "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b");
    ck_assert_int_eq(intake_appointment_id("{\"appointment_id\":\"x\"}", 22, id), -1);
    ck_assert_int_eq(intake_appointment_id("nope", 4, id), -1);
    ck_assert_int_eq(intake_appointment_id(NULL, 0, id), -1);
}
END_TEST

START_TEST(test_values_over_64_kib_are_truncated)
{
    bool t;
    ck_assert_uint_eq(dead_letters_kept_len(10, &t), 10);
    ck_assert(!t);
    ck_assert_uint_eq(dead_letters_kept_len(DEAD_LETTER_VALUE_MAX, &t), DEAD_LETTER_VALUE_MAX);
    ck_assert(!t);
    ck_assert_uint_eq(dead_letters_kept_len(DEAD_LETTER_VALUE_MAX + 1, &t), DEAD_LETTER_VALUE_MAX);
    ck_assert(t);
}
END_TEST

START_TEST(test_ids_are_uuidv5_of_the_source)
{
    char src[DEAD_LETTER_SOURCE_MAX], a[UUID_STR_LEN], b[UUID_STR_LEN];
    dead_letters_source("appointment.finished", 3, 42, src);
    ck_assert_str_eq(src, "appointment.finished/3/42");
    dead_letters_id_of(src, a);
    dead_letters_id_of(src, b);
    ck_assert_str_eq(a, b);
    ck_assert(uuid_is_valid(a, strlen(a)));
    ck_assert_int_eq(a[14], '5');
    ck_assert(strchr("89ab", a[19]) != NULL);
    dead_letters_source("appointment.finished", 3, 43, src);
    dead_letters_id_of(src, b);
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(test_list_query_filters_and_limits)
{
    dead_letter_query q;
    problem p;
    ck_assert_int_eq(dead_letter_request_list(NULL, &q, &p), 0);
    ck_assert_int_eq(q.limit, DEAD_LETTER_LIST_DEFAULT);
    ck_assert(!q.has_reason && !q.has_status && !q.has_cursor);
    ck_assert_int_eq(
        dead_letter_request_list("reason=currency&status=open&limit=100&cursor=t%2F0%2F9", &q, &p),
        0);
    ck_assert_int_eq(q.reason, INTAKE_CURRENCY);
    ck_assert_int_eq(q.status, DEAD_LETTER_OPEN);
    ck_assert_str_eq(q.cursor, "t/0/9");
    ck_assert_int_eq(dead_letter_request_list("reason=nope", &q, &p), -1);
    ck_assert_str_eq(p.field, "reason");
    ck_assert_int_eq(dead_letter_request_list("status=closed", &q, &p), -1);
    ck_assert_str_eq(p.field, "status");
    ck_assert_int_eq(dead_letter_request_list("limit=101", &q, &p), -1);
    ck_assert_int_eq(
        dead_letter_request_list("from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", &q, &p), -1);
    ck_assert_str_eq(p.field, "to");
}
END_TEST

/* dead_letter_request_job on the JSON text s: 0 or -1 (with p's field). */
static int job(const char *s, replay_filter *f, problem *p)
{
    json_error_t e;
    json_t *body = json_loads(s, 0, &e);
    ck_assert_ptr_nonnull(body);
    int rc = dead_letter_request_job(body, f, p);
    json_decref(body);
    return rc;
}

START_TEST(test_replay_job_filter_validation)
{
    replay_filter f;
    problem p;
    ck_assert_int_eq(job("{}", &f, &p), 0);
    ck_assert(!f.has_reason && !f.dry_run && f.nids == 0);
    ck_assert_int_eq(f.limit, REPLAY_LIMIT_DEFAULT);
    ck_assert_int_eq(f.max_per_second, REPLAY_RATE_DEFAULT);
    ck_assert_int_eq(job("{\"reason\":\"currency\",\"from\":\"2024-05-01T00:00:00Z\","
                         "\"dry_run\":true,\"max_per_second\":5,\"limit\":10}",
                         &f, &p),
                     0);
    ck_assert(f.has_reason && f.reason == INTAKE_CURRENCY && f.has_from && !f.has_to);
    ck_assert(f.dry_run && f.max_per_second == 5 && f.limit == 10);
    ck_assert_int_eq(job("{\"ids\":[\"0190A1B2-C3D4-7E5F-8A6B-7C8D9E0F1A2B\"]}", &f, &p), 0);
    ck_assert_uint_eq(f.nids, 1);
    ck_assert_str_eq(f.ids[0], "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b");

    static const struct {
        const char *body, *field;
    } bad[] = {
        {"{\"reason\":\"nope\"}", "reason"},
        {"{\"reason\":1}", "reason"},
        {"{\"from\":\"yesterday\"}", "from"},
        {"{\"from\":\"2024-05-02T00:00:00Z\",\"to\":\"2024-05-01T00:00:00Z\"}", "to"},
        {"{\"ids\":[]}", "ids"},
        {"{\"ids\":[\"x\"]}", "ids"},
        {"{\"ids\":[\"0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b\"],\"reason\":\"schema\"}", "ids"},
        {"{\"dry_run\":\"yes\"}", "dry_run"},
        {"{\"max_per_second\":0}", "max_per_second"},
        {"{\"max_per_second\":1001}", "max_per_second"},
        {"{\"limit\":0}", "limit"},
        {"{\"limit\":100001}", "limit"},
        {"{\"other\":1}", "other"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_msg(job(bad[i].body, &f, &p) == -1, "accepted %s", bad[i].body);
        ck_assert_int_eq(p.status, 400);
        ck_assert_str_eq(p.field, bad[i].field);
    }
}
END_TEST

START_TEST(test_discard_needs_a_note)
{
    problem p;
    const char *note;
    json_t *ok = json_pack("{s:s}", "note", "test data");
    ck_assert_int_eq(dead_letter_request_discard(ok, &note, &p), 0);
    ck_assert_str_eq(note, "test data");
    json_decref(ok);
    json_t *bad[] = {json_object(), json_pack("{s:s}", "note", ""), json_pack("{s:i}", "note", 1)};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_int_eq(dead_letter_request_discard(bad[i], &note, &p), -1);
        ck_assert_str_eq(p.field, "note");
        json_decref(bad[i]);
    }
}
END_TEST

static Suite *dead_letters_suite(void)
{
    Suite *s = suite_create("dead_letters");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_reasons_of_what_the_consumer_refuses);
    tcase_add_test(tc, test_origin_is_judged_before_the_event);
    tcase_add_test(tc, test_reason_of_detail_and_names_round_trip);
    tcase_add_test(tc, test_currencies_parse_lists_and_refuses_bad_codes);
    tcase_add_test(tc, test_appointment_id_when_decodable);
    tcase_add_test(tc, test_values_over_64_kib_are_truncated);
    tcase_add_test(tc, test_ids_are_uuidv5_of_the_source);
    tcase_add_test(tc, test_list_query_filters_and_limits);
    tcase_add_test(tc, test_replay_job_filter_validation);
    tcase_add_test(tc, test_discard_needs_a_note);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(dead_letters_suite)
