#include <check.h>
#include <string.h>

#include "appt_finished_request.h"

#include "check_main.h"

#define RANGE "from=2024-05-01T00:00:00Z&to=2024-05-03T00:00:00Z"
#define CURSOR_ID "01901a2b-3c4d-7e5f-8a6b-7c8d9e0f1a2b"

START_TEST(test_query_reads_range_and_default_limit)
{
    appt_finished_query q;
    problem p;
    ck_assert_int_eq(appt_finished_request_query(RANGE, &q, &p), 0);
    ck_assert_int_eq(q.from_ms, 1714521600000LL);
    ck_assert_int_eq(q.to_ms, 1714694400000LL);
    ck_assert_int_eq(q.limit, APPT_FINISHED_LIMIT_DEFAULT);
    ck_assert(!q.has_cursor);
}
END_TEST

START_TEST(test_query_reads_a_cursor_of_the_range)
{
    appt_finished_query q;
    problem p;
    ck_assert_int_eq(
        appt_finished_request_query(RANGE "&limit=7&cursor=2024-05-02." CURSOR_ID, &q, &p), 0);
    ck_assert(q.has_cursor);
    ck_assert_str_eq(q.cursor_day, "2024-05-02");
    ck_assert_str_eq(q.cursor_id, CURSOR_ID);
    ck_assert_int_eq(q.limit, 7);
}
END_TEST

START_TEST(test_query_refusals_name_the_parameter)
{
    static const struct {
        const char *query, *field;
    } bad[] = {
        {NULL, "from"},
        {"to=2024-05-03T00:00:00Z", "from"},
        {"from=2024-05-01T00:00:00Z", "to"},
        {"from=2024-05-03T00:00:00Z&to=2024-05-03T00:00:00Z", "to"},
        {"from=2024-05-01T00:00:00Z&to=2024-06-02T00:00:00Z", "to"},
        {RANGE "&limit=0", "limit"},
        {RANGE "&limit=501", "limit"},
        {RANGE "&cursor=2024-05-02", "cursor"},
        {RANGE "&cursor=2024-05-02." CURSOR_ID "0", "cursor"},
        {RANGE "&cursor=2024-05-02_" CURSOR_ID, "cursor"},
        {RANGE "&cursor=2024-13-02." CURSOR_ID, "cursor"},
        {RANGE "&cursor=2024-04-30." CURSOR_ID, "cursor"},
        {RANGE "&cursor=2024-05-03." CURSOR_ID, "cursor"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        appt_finished_query q;
        memset(&q, 0x5a, sizeof q);
        problem p;
        ck_assert_msg(appt_finished_request_query(bad[i].query, &q, &p) == -1, "%s", bad[i].query);
        ck_assert_int_eq(p.status, 400);
        ck_assert_str_eq(p.slug, "invalid-query");
        ck_assert_msg(strcmp(p.field, bad[i].field) == 0, "%s: %s", bad[i].query, p.field);
        ck_assert_int_eq(q.limit, 0x5a5a5a5a);
    }
}
END_TEST

START_TEST(test_query_takes_a_range_of_exactly_31_days)
{
    appt_finished_query q;
    problem p;
    ck_assert_int_eq(
        appt_finished_request_query("from=2024-05-01T00:00:00Z&to=2024-06-01T00:00:00Z", &q, &p),
        0);
}
END_TEST

static Suite *appt_finished_suite(void)
{
    Suite *s = suite_create("appt_finished");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_query_reads_range_and_default_limit);
    tcase_add_test(tc, test_query_reads_a_cursor_of_the_range);
    tcase_add_test(tc, test_query_refusals_name_the_parameter);
    tcase_add_test(tc, test_query_takes_a_range_of_exactly_31_days);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(appt_finished_suite)
