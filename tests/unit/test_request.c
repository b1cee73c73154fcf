/* The request validators of both services: appointment/request.c
 * (appt_request_*) and financial/request.c (fin_request_*). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../appointment/request.h"
#include "../../financial/request.h"
#include "json.h"
#include "timefmt.h"

#define PHYS "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
#define PAT "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
/* 2030-01-01T00:00:00Z */
#define NOW INT64_C(1893456000000)

/* bson_t must not be copied by value, so it is filled in place. */
static void parse(const char *s, bson_t *doc)
{
    char err[256];
    ck_assert_msg(json_parse_object(s, strlen(s), doc, err, sizeof err) == 0, "%s", err);
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
    bson_t doc;
    parse("{\"physician_id\":\"2B3C1A5E-8F7D-4C2B-9A1E-1F2E3D4C5B6A\","
          "\"patient_id\":\"" PAT "\",\"start_date\":\"2024-05-01T14:00:00Z\"}",
          &doc);
    appt_start_req r;
    problem p;
    ck_assert_int_eq(appt_request_start(&doc, NOW, &r, &p), 0);
    ck_assert_str_eq(r.physician_id, PHYS);
    ck_assert_str_eq(r.patient_id, PAT);
    ck_assert(r.has_start);
    int64_t want = 0;
    ck_assert_int_eq(timefmt_parse("2024-05-01T14:00:00Z", 20, &want), 0);
    ck_assert_int_eq(r.start_ms, want);
    bson_destroy(&doc);
}
END_TEST

START_TEST(test_start_without_start_date_or_with_null)
{
    bson_t doc;
    parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT "\",\"start_date\":null}", &doc);
    appt_start_req r;
    problem p;
    ck_assert_int_eq(appt_request_start(&doc, NOW, &r, &p), 0);
    ck_assert(!r.has_start);
    bson_destroy(&doc);
}
END_TEST

START_TEST(test_start_missing_and_invalid_ids_are_named)
{
    appt_start_req r;
    problem p;
    bson_t doc;
    parse("{\"patient_id\":\"" PAT "\"}", &doc);
    ck_assert_int_eq(appt_request_start(&doc, NOW, &r, &p), -1);
    assert_problem(&p, "missing-field", "physician_id", "physician_id is required");
    bson_destroy(&doc);
    parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":{\"$gt\":\"\"}}", &doc);
    ck_assert_int_eq(appt_request_start(&doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "patient_id", "patient_id must be a UUID string");
    bson_destroy(&doc);
}
END_TEST

START_TEST(test_start_date_in_the_future_is_rejected_beyond_the_tolerance)
{
    appt_start_req r;
    problem p;
    bson_t doc;
    parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT
          "\",\"start_date\":\"2030-01-01T00:00:01Z\"}",
          &doc);
    ck_assert_int_eq(appt_request_start(&doc, NOW, &r, &p), 0);
    bson_destroy(&doc);
    parse("{\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT
          "\",\"start_date\":\"2030-01-01T00:00:01.001Z\"}",
          &doc);
    ck_assert_int_eq(appt_request_start(&doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "start_date", "start_date must not be in the future");
    bson_destroy(&doc);
}
END_TEST

START_TEST(test_finish_end_date_optional_and_validated)
{
    appt_finish_req r = {true, 5};
    problem p;
    bson_t doc;
    parse("", &doc);
    ck_assert_int_eq(appt_request_finish(&doc, NOW, &r, &p), 0);
    ck_assert(!r.has_end);
    bson_destroy(&doc);
    parse("{\"end_date\":\"2024-05-01 15:01:00\"}", &doc);
    ck_assert_int_eq(appt_request_finish(&doc, NOW, &r, &p), 0);
    ck_assert(r.has_end);
    bson_destroy(&doc);
    parse("{\"end_date\":17}", &doc);
    ck_assert_int_eq(appt_request_finish(&doc, NOW, &r, &p), -1);
    assert_problem(&p, "invalid-field", "end_date",
                   "end_date must be an RFC 3339 date-time such as 2024-05-01T14:30:00Z");
    bson_destroy(&doc);
}
END_TEST

START_TEST(test_appt_list_defaults)
{
    appt_list_req r;
    problem p;
    ck_assert_int_eq(appt_request_list(NULL, &r, &p), 0);
    ck_assert(!r.has_physician && !r.has_patient && !r.has_cursor);
    ck_assert_int_eq(r.status, -1);
    ck_assert_int_eq(r.limit, APPT_LIST_DEFAULT);
}
END_TEST

START_TEST(test_appt_list_reads_every_filter)
{
    appt_list_req r;
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
    appt_list_req r;
    problem p;
    ck_assert_int_eq(appt_request_list("status=done", &r, &p), -1);
    assert_problem(&p, "invalid-query", "status", "status must be started or finished");
    ck_assert_int_eq(appt_request_list("limit=101", &r, &p), -1);
    assert_problem(&p, "invalid-query", "limit", "limit must be an integer from 1 to 100");
}
END_TEST

START_TEST(test_fin_list_reads_range_and_rejects_empty_one)
{
    fin_list_req r;
    problem p;
    ck_assert_int_eq(
        fin_request_list("from=2024-05-01T00:00:00Z&to=2024-06-01T00:00:00Z&limit=5", &r, &p), 0);
    ck_assert(r.range.has_from && r.range.has_to);
    ck_assert_int_lt(r.range.from_ms, r.range.to_ms);
    ck_assert_int_eq(r.limit, 5);
    ck_assert_int_eq(fin_request_list("from=2024-05-01T00:00:00Z&to=2024-05-01T00:00:00Z", &r, &p),
                     -1);
    assert_problem(&p, "invalid-query", "to", "to must be after from");
}
END_TEST

START_TEST(test_summary_requires_group_by_and_defaults_currency)
{
    fin_summary_req r;
    problem p;
    ck_assert_int_eq(fin_request_summary("currency=BRL", "BRL", &r, &p), -1);
    assert_problem(&p, "invalid-query", "group_by",
                   "group_by is required: physician, patient or day");
    ck_assert_int_eq(fin_request_summary("group_by=month", "BRL", &r, &p), -1);
    assert_problem(&p, "invalid-query", "group_by", "group_by must be physician, patient or day");
    ck_assert_int_eq(fin_request_summary("group_by=day", "EUR", &r, &p), 0);
    ck_assert_int_eq(r.group_by, 2);
    ck_assert_str_eq(r.currency, "EUR");
    ck_assert_int_eq(fin_request_summary("group_by=patient&currency=USD", "EUR", &r, &p), 0);
    ck_assert_int_eq(r.group_by, 1);
    ck_assert_str_eq(r.currency, "USD");
    ck_assert_int_eq(fin_request_summary("group_by=patient&currency=usd", "EUR", &r, &p), -1);
    ck_assert_str_eq(p.field, "currency");
}
END_TEST

static Suite *request_suite(void)
{
    Suite *s = suite_create("request");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_start_lowercases_ids_and_reads_start_date);
    tcase_add_test(tc, test_start_without_start_date_or_with_null);
    tcase_add_test(tc, test_start_missing_and_invalid_ids_are_named);
    tcase_add_test(tc, test_start_date_in_the_future_is_rejected_beyond_the_tolerance);
    tcase_add_test(tc, test_finish_end_date_optional_and_validated);
    tcase_add_test(tc, test_appt_list_defaults);
    tcase_add_test(tc, test_appt_list_reads_every_filter);
    tcase_add_test(tc, test_appt_list_rejects_unknown_status_and_limit_out_of_range);
    tcase_add_test(tc, test_fin_list_reads_range_and_rejects_empty_one);
    tcase_add_test(tc, test_summary_requires_group_by_and_defaults_currency);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(request_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
