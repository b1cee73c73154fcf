/* The request validators of both services: appointment/appt_request.c
 * (appt_request_*) and financial/billing_request.c (billing_request_*). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "appt_request.h"
#include "billing_request.h"
#include "json.h"
#include "timefmt.h"

#include "check_main.h"

#define PHYS "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
#define PAT "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
/* 2030-01-01T00:00:00Z */
#define NOW INT64_C(1893456000000)

/* Parses s, which must be accepted; the caller json_decref()s the result. */
static json_t *parse(const char *s)
{
    json_parse_error err;
    json_t *doc = json_parse_object(s, strlen(s), &err);
    ck_assert_msg(doc != NULL, "%s", err.msg);
    return doc;
}

static void assert_problem(const problem *p, const char *slug, const char *field,
                           const char *detail)
{
    ck_assert_int_eq(p->status, 400);
    ck_assert_str_eq(p->slug, slug);
    ck_assert_str_eq(p->field, field);
    ck_assert_str_eq(p->detail, detail);
}

START_TEST(test_start_lowercases_ids_and_reads_start_date)
{
    json_t *doc = parse("{\"physician_id\":\"2B3C1A5E-8F7D-4C2B-9A1E-1F2E3D4C5B6A\","
                        "\"patient_id\":\"" PAT "\",\"start_date\":\"2024-05-01T14:00:00Z\"}");
    appt_start_req r;
    problem p;
    ck_assert_int_eq(appt_request_start(doc, NOW, &r, &p), 0);
    ck_assert_str_eq(r.physician_id, PHYS);
    ck_assert_str_eq(r.patient_id, PAT);
    ck_assert(r.has_start);
    int64_t want = 0;
    ck_assert_int_eq(timefmt_parse("2024-05-01T14:00:00Z", 20, &want), 0);
    ck_assert_int_eq(r.start_ms, want);
    json_decref(doc);
}
END_TEST

START_TEST(test_start_without_start_date_or_with_null)
{
    json_t *doc =
        parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT "\",\"start_date\":null}");
    appt_start_req r;
    problem p;
    ck_assert_int_eq(appt_request_start(doc, NOW, &r, &p), 0);
    ck_assert(!r.has_start);
    json_decref(doc);
}
END_TEST

START_TEST(test_start_missing_and_invalid_ids_are_named)
{
    appt_start_req r;
    problem p;
    json_t *doc = parse("{\"patient_id\":\"" PAT "\"}");
    ck_assert_int_eq(appt_request_start(doc, NOW, &r, &p), -1);
    assert_problem(&p, "missing-field", "physician_id", "physician_id is required");
    json_decref(doc);
    doc = parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":{\"$gt\":\"\"}}");
    ck_assert_int_eq(appt_request_start(doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "patient_id", "patient_id must be a UUID string");
    json_decref(doc);
}
END_TEST

/* MongoDB extended JSON is only JSON here: a wrapper object in a field is
 * that field's wrong type, named like any other. */
START_TEST(test_start_extended_json_wrappers_are_named_as_wrong_type)
{
    static const char *const cases[][2] = {
        {"physician_id", "{\"$numberLong\":\"1\"}"},
        {"physician_id", "{\"$oid\":\"65b9f1d2a1b2c3d4e5f60718\"}"},
        {"patient_id", "{\"$binary\":{\"base64\":\"\",\"subType\":\"04\"}}"},
        {"patient_id", "{\"$uuid\":\"" PAT "\"}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char body[256], detail[64];
        if (strcmp(cases[i][0], "physician_id") == 0)
            snprintf(body, sizeof body, "{\"physician_id\":%s,\"patient_id\":\"" PAT "\"}",
                     cases[i][1]);
        else
            snprintf(body, sizeof body, "{\"physician_id\":\"" PHYS "\",\"patient_id\":%s}",
                     cases[i][1]);
        json_t *doc = parse(body);
        appt_start_req r;
        problem p;
        ck_assert_int_eq(appt_request_start(doc, NOW, &r, &p), -1);
        snprintf(detail, sizeof detail, "%s must be a UUID string", cases[i][0]);
        assert_problem(&p, "invalid-field", cases[i][0], detail);
        json_decref(doc);
    }
    json_t *doc = parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT
                        "\",\"start_date\":{\"$date\":{\"$numberLong\":\"0\"}}}");
    appt_start_req r;
    problem p;
    ck_assert_int_eq(appt_request_start(doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "start_date",
                   "start_date must be an RFC 3339 date-time such as 2024-05-01T14:30:00Z");
    json_decref(doc);
}
END_TEST

START_TEST(test_finish_extended_json_date_is_named_as_wrong_type)
{
    json_t *doc = parse("{\"end_date\":{\"$date\":\"2024-05-01T15:01:00Z\"}}");
    appt_finish_req r;
    problem p;
    ck_assert_int_eq(appt_request_finish(doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "end_date",
                   "end_date must be an RFC 3339 date-time such as 2024-05-01T14:30:00Z");
    json_decref(doc);
}
END_TEST

/* A key given twice never reaches the validators: the parser refuses it and
 * names the key, which the HTTP layer answers as the problem's field. */
START_TEST(test_duplicate_key_is_refused_before_validation_naming_it)
{
    static const char body[] =
        "{\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT "\",\"patient_id\":\"" PHYS "\"}";
    json_parse_error err;
    ck_assert_ptr_null(json_parse_object(body, strlen(body), &err));
    ck_assert_str_eq(err.key, "patient_id");
    ck_assert_str_eq(err.msg, "patient_id appears more than once");
}
END_TEST

START_TEST(test_start_date_in_the_future_is_rejected_beyond_the_tolerance)
{
    appt_start_req r;
    problem p;
    json_t *doc = parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT
                        "\",\"start_date\":\"2030-01-01T00:00:01Z\"}");
    ck_assert_int_eq(appt_request_start(doc, NOW, &r, &p), 0);
    json_decref(doc);
    doc = parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT
                "\",\"start_date\":\"2030-01-01T00:00:01.001Z\"}");
    ck_assert_int_eq(appt_request_start(doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "start_date", "start_date must not be in the future");
    json_decref(doc);
}
END_TEST

START_TEST(test_finish_end_date_optional_and_validated)
{
    appt_finish_req r = {true, 5};
    problem p;
    json_t *doc = parse("");
    ck_assert_int_eq(appt_request_finish(doc, NOW, &r, &p), 0);
    ck_assert(!r.has_end);
    json_decref(doc);
    doc = parse("{\"end_date\":\"2024-05-01 15:01:00\"}");
    ck_assert_int_eq(appt_request_finish(doc, NOW, &r, &p), 0);
    ck_assert(r.has_end);
    json_decref(doc);
    doc = parse("{\"end_date\":17}");
    ck_assert_int_eq(appt_request_finish(doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "end_date",
                   "end_date must be an RFC 3339 date-time such as 2024-05-01T14:30:00Z");
    json_decref(doc);
}
END_TEST

START_TEST(test_compat_start_and_finish_take_naive_dates_the_others_refuse)
{
    appt_start_req r;
    appt_finish_req f;
    problem p;
    int64_t want = 0;
    ck_assert_int_eq(timefmt_parse("2024-05-01T14:30:00.123Z", 24, &want), 0);
    json_t *doc = parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT
                        "\",\"start_date\":\"2024-05-01T14:30:00.123456\"}");
    ck_assert_int_eq(appt_request_start_compat(doc, NOW, &r, &p), 0);
    ck_assert(r.has_start);
    ck_assert_int_eq(r.start_ms, want);
    ck_assert_int_eq(appt_request_start(doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "start_date",
                   "start_date must be an RFC 3339 date-time such as 2024-05-01T14:30:00Z");
    json_decref(doc);
    doc = parse("{\"end_date\":\"2024-05-01T14:30:00.123456\"}");
    ck_assert_int_eq(appt_request_finish_compat(doc, NOW, &f, &p), 0);
    ck_assert(f.has_end);
    ck_assert_int_eq(f.end_ms, want);
    ck_assert_int_eq(appt_request_finish(doc, NOW, &f, &p), -1);
    json_decref(doc);
}
END_TEST

START_TEST(test_compat_requests_validate_as_the_others)
{
    appt_start_req r;
    appt_finish_req f;
    problem p;
    json_t *doc = parse("{\"physician_id\":\"42\",\"patient_id\":\"" PAT "\"}");
    ck_assert_int_eq(appt_request_start_compat(doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "physician_id", "physician_id must be a UUID string");
    json_decref(doc);
    doc = parse("{\"end_date\":\"2024-05-01T14:30:00+01\"}");
    ck_assert_int_eq(appt_request_finish_compat(doc, NOW, &f, &p), -1);
    assert_problem(&p, "invalid-field", "end_date",
                   "end_date must be a date-time such as 2024-05-01T14:30:00.000000 (UTC) or "
                   "2024-05-01T14:30:00Z");
    json_decref(doc);
    doc = parse("{\"end_date\":\"2030-01-01T00:00:01.001000\"}");
    ck_assert_int_eq(appt_request_finish_compat(doc, NOW, &f, &p), -1);
    assert_problem(&p, "invalid-field", "end_date", "end_date must not be in the future");
    json_decref(doc);
}
END_TEST

START_TEST(test_appt_list_defaults)
{
    appt_list_query r;
    problem p;
    ck_assert_int_eq(appt_request_list(NULL, &r, &p), 0);
    ck_assert(!r.has_physician && !r.has_patient && !r.has_cursor);
    ck_assert_int_eq(r.status, -1);
    ck_assert_int_eq(r.limit, APPT_LIST_DEFAULT);
}
END_TEST

START_TEST(test_appt_list_reads_every_filter)
{
    appt_list_query r;
    problem p;
    ck_assert_int_eq(appt_request_list("physician_id=" PHYS "&patient_id=" PAT "&cursor=" PHYS
                                       "&status=started&limit=100",
                                       &r, &p),
                     0);
    ck_assert(r.has_physician && r.has_patient && r.has_cursor);
    ck_assert_str_eq(r.physician_id, PHYS);
    ck_assert_str_eq(r.patient_id, PAT);
    ck_assert_str_eq(r.cursor, PHYS);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.limit, 100);
}
END_TEST

START_TEST(test_appt_list_rejects_unknown_status_and_limit_out_of_range)
{
    appt_list_query r;
    problem p;
    ck_assert_int_eq(appt_request_list("status=done", &r, &p), -1);
    assert_problem(&p, "invalid-query", "status", "status must be started or finished");
    ck_assert_int_eq(appt_request_list("limit=101", &r, &p), -1);
    assert_problem(&p, "invalid-query", "limit", "limit must be an integer from 1 to 100");
}
END_TEST

START_TEST(test_billing_list_reads_range_and_rejects_empty_one)
{
    billing_list_query r;
    problem p;
    ck_assert_int_eq(
        billing_request_list("from=2024-05-01T00:00:00Z&to=2024-06-01T00:00:00Z&limit=5", &r, &p),
        0);
    ck_assert(r.range.has_from && r.range.has_to);
    ck_assert_int_lt(r.range.from_ms, r.range.to_ms);
    ck_assert_int_eq(r.limit, 5);
    ck_assert_int_eq(
        billing_request_list("from=2024-05-01T00:00:00Z&to=2024-05-01T00:00:00Z", &r, &p), -1);
    assert_problem(&p, "invalid-query", "to", "to must be after from");
}
END_TEST

START_TEST(test_summary_requires_group_by_and_defaults_currency)
{
    billing_summary_query r;
    problem p;
    ck_assert_int_eq(billing_request_summary("currency=BRL", "BRL", &r, &p), -1);
    assert_problem(&p, "invalid-query", "group_by",
                   "group_by is required: physician, patient or day");
    ck_assert_int_eq(billing_request_summary("group_by=month", "BRL", &r, &p), -1);
    assert_problem(&p, "invalid-query", "group_by", "group_by must be physician, patient or day");
    ck_assert_int_eq(billing_request_summary("group_by=day", "EUR", &r, &p), 0);
    ck_assert_int_eq(r.group_by, 2);
    ck_assert_str_eq(r.currency, "EUR");
    ck_assert_int_eq(billing_request_summary("group_by=patient&currency=USD", "EUR", &r, &p), 0);
    ck_assert_int_eq(r.group_by, 1);
    ck_assert_str_eq(r.currency, "USD");
    ck_assert_int_eq(billing_request_summary("group_by=patient&currency=usd", "EUR", &r, &p), -1);
    ck_assert_str_eq(p.field, "currency");
}
END_TEST

START_TEST(test_summary_group_by_reads_into_the_store_enum_and_names_it_back)
{
    static const struct {
        const char *query, *name;
        billing_group_by by;
    } cases[] = {
        {"group_by=physician", "physician", BILLING_BY_PHYSICIAN},
        {"group_by=patient", "patient", BILLING_BY_PATIENT},
        {"group_by=day", "day", BILLING_BY_DAY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        billing_summary_query r;
        problem p;
        ck_assert_int_eq(billing_request_summary(cases[i].query, "BRL", &r, &p), 0);
        ck_assert_int_eq(r.group_by, cases[i].by);
        ck_assert_str_eq(billing_request_group_name(r.group_by), cases[i].name);
    }
}
END_TEST

static Suite *request_suite(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_start_lowercases_ids_and_reads_start_date);
    tcase_add_test(tc, test_start_without_start_date_or_with_null);
    tcase_add_test(tc, test_start_missing_and_invalid_ids_are_named);
    tcase_add_test(tc, test_start_extended_json_wrappers_are_named_as_wrong_type);
    tcase_add_test(tc, test_finish_extended_json_date_is_named_as_wrong_type);
    tcase_add_test(tc, test_duplicate_key_is_refused_before_validation_naming_it);
    tcase_add_test(tc, test_start_date_in_the_future_is_rejected_beyond_the_tolerance);
    tcase_add_test(tc, test_finish_end_date_optional_and_validated);
    tcase_add_test(tc, test_compat_start_and_finish_take_naive_dates_the_others_refuse);
    tcase_add_test(tc, test_compat_requests_validate_as_the_others);
    tcase_add_test(tc, test_appt_list_defaults);
    tcase_add_test(tc, test_appt_list_reads_every_filter);
    tcase_add_test(tc, test_appt_list_rejects_unknown_status_and_limit_out_of_range);
    tcase_add_test(tc, test_billing_list_reads_range_and_rejects_empty_one);
    tcase_add_test(tc, test_summary_requires_group_by_and_defaults_currency);
    tcase_add_test(tc, test_summary_group_by_reads_into_the_store_enum_and_names_it_back);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(request_suite)
