#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "query.h"
#include "uuid.h"

#include "check_main.h"

START_TEST(test_str_absent_without_query_or_parameter)
{
    char out[8] = "same";
    problem p;
    ck_assert_int_eq(query_str(NULL, "a", out, sizeof out, &p), 0);
    ck_assert_int_eq(query_str("b=1", "a", out, sizeof out, &p), 0);
    ck_assert_int_eq(query_str("ab=1&ba=2", "a", out, sizeof out, &p), 0);
}
END_TEST

START_TEST(test_str_url_decodes)
{
    char out[16];
    problem p;
    ck_assert_int_eq(query_str("x=1&a=b%20c+d", "a", out, sizeof out, &p), 1);
    ck_assert_str_eq(out, "b c d");
}
END_TEST

START_TEST(test_str_too_long_is_a_problem_naming_the_parameter)
{
    char out[4];
    problem p;
    ck_assert_int_eq(query_str("status=finished", "status", out, sizeof out, &p), -1);
    ck_assert_int_eq(p.status, 400);
    ck_assert_str_eq(p.slug, "invalid-query");
    ck_assert_str_eq(p.field, "status");
    ck_assert_str_eq(p.detail, "query parameter status is too long or not UTF-8");
}
END_TEST

START_TEST(test_str_rejects_invalid_utf8)
{
    char out[16];
    problem p;
    ck_assert_int_eq(query_str("a=%ff%fe", "a", out, sizeof out, &p), -1);
}
END_TEST

START_TEST(test_uuid_lowercases_and_rejects_non_uuids)
{
    char out[UUID_STR_LEN] = "";
    problem p;
    ck_assert_int_eq(query_uuid("id=2B3C1A5E-8F7D-4C2B-9A1E-1F2E3D4C5B6A", "id", out, &p), 1);
    ck_assert_str_eq(out, "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a");
    ck_assert_int_eq(query_uuid("id=2b3c1a5e", "id", out, &p), -1);
    ck_assert_str_eq(p.detail, "id must be a UUID");
}
END_TEST

START_TEST(test_int_accepts_bounds_and_rejects_beyond)
{
    int64_t v = 0;
    problem p;
    ck_assert_int_eq(query_int("limit=1", "limit", 1, 100, &v, &p), 1);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(query_int("limit=100", "limit", 1, 100, &v, &p), 1);
    ck_assert_int_eq(v, 100);
    v = 7;
    ck_assert_int_eq(query_int("limit=0", "limit", 1, 100, &v, &p), -1);
    ck_assert_int_eq(query_int("limit=101", "limit", 1, 100, &v, &p), -1);
    ck_assert_int_eq(query_int("limit=99999999999999999999", "limit", 1, 100, &v, &p), -1);
    ck_assert_int_eq(query_int("limit=+5", "limit", 1, 100, &v, &p), -1);
    ck_assert_int_eq(query_int("limit=5x", "limit", 1, 100, &v, &p), -1);
    ck_assert_int_eq(query_int("limit=", "limit", 1, 100, &v, &p), -1);
    ck_assert_int_eq(v, 7);
    ck_assert_str_eq(p.detail, "limit must be an integer from 1 to 100");
}
END_TEST

START_TEST(test_time_reads_an_unencoded_plus_offset)
{
    int64_t a = 0, b = 0;
    problem p;
    ck_assert_int_eq(query_time("from=2024-05-01T13:00:00+03:00", "from", &a, &p), 1);
    ck_assert_int_eq(query_time("from=2024-05-01T10:00:00Z", "from", &b, &p), 1);
    ck_assert_int_eq(a, b);
    ck_assert_int_eq(query_time("from=2024-05-01+10:00:00", "from", &a, &p), 1);
    ck_assert_int_eq(a, b);
}
END_TEST

START_TEST(test_time_rejects_garbage)
{
    int64_t v = 42;
    problem p;
    ck_assert_int_eq(query_time("to=yesterday", "to", &v, &p), -1);
    ck_assert_int_eq(v, 42);
    ck_assert_str_eq(p.field, "to");
}
END_TEST

static Suite *query_suite(void)
{
    Suite *s = suite_create("query");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_str_absent_without_query_or_parameter);
    tcase_add_test(tc, test_str_url_decodes);
    tcase_add_test(tc, test_str_too_long_is_a_problem_naming_the_parameter);
    tcase_add_test(tc, test_str_rejects_invalid_utf8);
    tcase_add_test(tc, test_uuid_lowercases_and_rejects_non_uuids);
    tcase_add_test(tc, test_int_accepts_bounds_and_rejects_beyond);
    tcase_add_test(tc, test_time_reads_an_unencoded_plus_offset);
    tcase_add_test(tc, test_time_rejects_garbage);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(query_suite)
