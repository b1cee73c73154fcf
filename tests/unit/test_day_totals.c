/* The pure parts of the summaries' day totals (financial/day_totals.c): which
 * stored total may stand for its day, how a total folds into a summary, the
 * writers' distinct days. */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "day_totals.h"

#include "check_main.h"

#define PHYS_A "11111111-1111-4111-8111-111111111111"
#define PHYS_B "22222222-2222-4222-8222-222222222222"

START_TEST(test_total_at_the_days_gen_with_no_write_in_flight_is_used)
{
    day_gen g = {0, false};
    day_gen_add(&g, 3, 3);
    day_gen_add(&g, 7, 7);
    ck_assert_int_eq(g.sum, 10);
    ck_assert(day_totals_usable(&g, 10));
}
END_TEST

START_TEST(test_total_at_an_older_gen_is_recounted)
{
    day_gen g = {0, false};
    day_gen_add(&g, 3, 3);
    day_gen_add(&g, 8, 8); /* a late billing: that writer's gen grew from 7 to 8 */
    ck_assert(!day_totals_usable(&g, 10));
}
END_TEST

START_TEST(test_a_write_in_flight_makes_the_day_recounted_whatever_the_gen)
{
    day_gen g = {0, false};
    day_gen_add(&g, 3, 3);
    day_gen_add(&g, 8, 7); /* begun 8, its insert not confirmed yet */
    ck_assert_int_eq(g.sum, 10);
    ck_assert(g.in_flight);
    ck_assert(!day_totals_usable(&g, 10));
}
END_TEST

START_TEST(test_a_writer_that_only_began_counts_zero_and_is_in_flight)
{
    day_gen g = {0, false};
    day_gen_add(&g, 1, 0); /* begun, no gen field yet */
    ck_assert_int_eq(g.sum, 0);
    ck_assert(!day_totals_usable(&g, 0));
}
END_TEST

START_TEST(test_a_day_no_writer_marked_uses_a_total_at_gen_zero)
{
    /* billings written before the marks existed: their recount stood at 0 */
    day_gen g = {0, false};
    ck_assert(day_totals_usable(&g, 0));
    ck_assert(!day_totals_usable(&g, 1));
}
END_TEST

START_TEST(test_distinct_sorts_the_days_and_drops_repeats)
{
    char days[5][BUCKET_DAY_LEN] = {"2026-03-02", "2026-03-01", "2026-03-02", "2025-12-31",
                                    "2026-03-01"};
    size_t n = day_totals_distinct(days, 5);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(days[0], "2025-12-31");
    ck_assert_str_eq(days[1], "2026-03-01");
    ck_assert_str_eq(days[2], "2026-03-02");
    ck_assert_uint_eq(day_totals_distinct(days, 1), 1);
    ck_assert_uint_eq(day_totals_distinct(days, 0), 0);
}
END_TEST

START_TEST(test_day_start_is_utc_midnight)
{
    ck_assert_int_eq(day_totals_day_start_ms("1970-01-01"), 0);
    ck_assert_int_eq(day_totals_day_start_ms("1970-01-02"), 86400000);
    ck_assert_int_eq(day_totals_day_start_ms("2024-03-01"), INT64_C(1709251200000));
}
END_TEST

START_TEST(test_only_a_settled_day_with_billings_is_stored)
{
    int64_t day = day_totals_day_start_ms("2026-03-01");
    int64_t over = day + 86400000;
    ck_assert(!day_totals_storable(day, 3, day + 3600000)); /* the day still open */
    ck_assert(!day_totals_storable(day, 3, over + DAY_TOTALS_SETTLE_MS - 1));
    ck_assert(day_totals_storable(day, 3, over + DAY_TOTALS_SETTLE_MS));
    ck_assert(!day_totals_storable(day, 0, over + 86400000)); /* nothing in that currency */
}
END_TEST

START_TEST(test_a_day_is_whole_when_the_range_holds_all_of_it)
{
    int64_t day = day_totals_day_start_ms("2026-03-01");
    ck_assert(day_totals_day_whole("2026-03-01", day, day + 86400000));
    ck_assert(day_totals_day_whole("2026-03-01", INT64_MIN, INT64_MAX));
    ck_assert(!day_totals_day_whole("2026-03-01", day + 1, INT64_MAX));
    ck_assert(!day_totals_day_whole("2026-03-01", INT64_MIN, day + 86400000 - 1));
}
END_TEST

START_TEST(test_month_start_and_end_are_utc_midnights_across_a_year_end)
{
    ck_assert_int_eq(day_totals_month_start_ms("2024-02"), day_totals_day_start_ms("2024-02-01"));
    ck_assert_int_eq(day_totals_month_end_ms("2024-02"), day_totals_day_start_ms("2024-03-01"));
    ck_assert_int_eq(day_totals_month_end_ms("2025-12"), day_totals_day_start_ms("2026-01-01"));
    ck_assert_int_eq(day_totals_month_start_ms("2025-13"), 0); /* not a month */
}
END_TEST

START_TEST(test_months_of_the_days_are_whole_only_inside_the_range)
{
    const char days[5][BUCKET_DAY_LEN] = {"2025-12-06", "2025-12-31", "2026-01-03", "2026-02-28",
                                          "2026-03-01"};
    day_month m[5];
    /* from 2025-12-06 to 2026-03-02: December and March cut, January and February whole */
    size_t n = day_totals_months(days, 5, day_totals_day_start_ms("2025-12-06"),
                                 day_totals_day_start_ms("2026-03-02"), m);
    ck_assert_uint_eq(n, 4);
    ck_assert_str_eq(m[0].month, "2025-12");
    ck_assert(!m[0].whole);
    ck_assert_str_eq(m[1].month, "2026-01");
    ck_assert(m[1].whole);
    ck_assert_str_eq(m[2].month, "2026-02");
    ck_assert(m[2].whole);
    ck_assert_str_eq(m[3].month, "2026-03");
    ck_assert(!m[3].whole);
    ck_assert(m[1].gen.sum == 0 && !m[1].gen.in_flight && !m[1].unlisted && !m[1].done);
    /* open ends: every month whole */
    n = day_totals_months(days, 5, INT64_MIN, INT64_MAX, m);
    ck_assert_uint_eq(n, 4);
    ck_assert(m[0].whole && m[3].whole);
    ck_assert_uint_eq(day_totals_months(days, 0, INT64_MIN, INT64_MAX, m), 0);
}
END_TEST

START_TEST(test_a_month_total_at_the_sum_of_its_days_gens_is_used)
{
    day_month m = {.month = "2026-01", .whole = true};
    day_month_add(&m, true, 3, 3); /* 2026-01-02, writer x */
    day_month_add(&m, true, 5, 5); /* 2026-01-02, writer y */
    day_month_add(&m, true, 4, 4); /* 2026-01-20, writer x */
    ck_assert_int_eq(m.gen.sum, 12);
    ck_assert(day_totals_month_usable(&m, 12));
    ck_assert(!day_totals_month_usable(&m, 11)); /* stored before the last write ended */
}
END_TEST

START_TEST(test_a_late_billing_in_any_day_of_the_month_makes_its_total_old)
{
    day_month m = {.month = "2026-01", .whole = true};
    day_month_add(&m, true, 3, 3);
    day_month_add(&m, true, 6, 6); /* that writer's gen grew from 4 to 6: a late billing */
    ck_assert(!day_totals_month_usable(&m, 7));
}
END_TEST

START_TEST(test_a_write_in_flight_in_any_day_of_the_month_makes_it_summed_from_its_days)
{
    day_month m = {.month = "2026-01", .whole = true};
    day_month_add(&m, true, 3, 3);
    day_month_add(&m, true, 9, 4); /* begun 9, not confirmed */
    ck_assert_int_eq(m.gen.sum, 7);
    ck_assert(!day_totals_month_usable(&m, 7));
    ck_assert(!day_totals_month_storable(&m, 3, day_totals_month_end_ms("2026-02") + 1));
}
END_TEST

START_TEST(test_a_month_the_range_cuts_never_uses_its_total)
{
    day_month m = {.month = "2026-01", .whole = false};
    day_month_add(&m, true, 3, 3);
    ck_assert(!day_totals_month_usable(&m, 3));
    ck_assert(!day_totals_month_storable(&m, 3, day_totals_month_end_ms("2026-02")));
}
END_TEST

START_TEST(test_only_a_settled_whole_month_with_every_marked_day_folded_is_stored)
{
    day_month m = {.month = "2026-01", .whole = true};
    day_month_add(&m, true, 3, 3);
    int64_t over = day_totals_month_end_ms("2026-01");
    ck_assert(!day_totals_month_storable(&m, 3, over - 1)); /* the month still open */
    ck_assert(!day_totals_month_storable(&m, 3, over + DAY_TOTALS_SETTLE_MS - 1));
    ck_assert(day_totals_month_storable(&m, 3, over + DAY_TOTALS_SETTLE_MS));
    ck_assert(!day_totals_month_storable(&m, 0, over + DAY_TOTALS_SETTLE_MS)); /* nothing */
    /* a mark of a day the summary did not list (its billings came after the
     * list was read): its gen is in the sum, its billings not in the fold */
    day_month_add(&m, false, 2, 2);
    ck_assert(m.unlisted);
    ck_assert_int_eq(m.gen.sum, 5);
    ck_assert(!day_totals_month_storable(&m, 3, over + DAY_TOTALS_SETTLE_MS));
    /* but a total stored earlier at that sum stands for the month */
    ck_assert(day_totals_month_usable(&m, 5));
}
END_TEST

/* A stored total of groups "<key> <count> <total>\n". */
static void total_of(bson_t *doc, const char *const *keys, const int64_t *counts,
                     const int64_t *totals, size_t n)
{
    bson_init(doc);
    BSON_APPEND_UTF8(doc, "end_day", "2026-03-01");
    BSON_APPEND_INT64(doc, "gen", 4);
    char lines[512] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(lines + strlen(lines), sizeof lines - strlen(lines),
                 "%s %" PRId64 " %" PRId64 "\n", keys[i], counts[i], totals[i]);
    BSON_APPEND_UTF8(doc, "groups", lines);
}

START_TEST(test_a_total_folds_its_counts_and_totals_with_other_days)
{
    const char *const keys[] = {PHYS_A, PHYS_B};
    const int64_t counts[] = {3, 1}, totals[] = {60000, 15000};
    bson_t doc;
    total_of(&doc, keys, counts, totals, 2);
    billing_fold f;
    billing_fold_init(&f, 10);
    ck_assert_int_eq(billing_fold_add(&f, PHYS_A, 20000), BILLING_SUMMARY_OK); /* another day */
    ck_assert_int_eq(day_totals_fold_groups(&doc, &f), BILLING_SUMMARY_OK);
    billing_group *groups = NULL;
    size_t n = 0;
    ck_assert_int_eq(billing_fold_finish(&f, &groups, &n), BILLING_SUMMARY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(groups[0].key, PHYS_A);
    ck_assert_int_eq(groups[0].count, 4);
    ck_assert_int_eq(groups[0].total_cents, 80000);
    ck_assert_str_eq(groups[1].key, PHYS_B);
    ck_assert_int_eq(groups[1].count, 1);
    ck_assert_int_eq(groups[1].total_cents, 15000);
    free(groups);
    billing_fold_destroy(&f);
    bson_destroy(&doc);
}
END_TEST

START_TEST(test_a_total_beyond_the_group_limit_stops_the_fold)
{
    const char *const keys[] = {PHYS_A, PHYS_B};
    const int64_t counts[] = {1, 1}, totals[] = {100, 100};
    bson_t doc;
    total_of(&doc, keys, counts, totals, 2);
    billing_fold f;
    billing_fold_init(&f, 1);
    ck_assert_int_eq(day_totals_fold_groups(&doc, &f), BILLING_SUMMARY_TOO_MANY_GROUPS);
    billing_fold_destroy(&f);
    bson_destroy(&doc);
}
END_TEST

START_TEST(test_a_total_overflowing_int64_is_total_too_large)
{
    const char *const keys[] = {PHYS_A};
    const int64_t counts[] = {2}, totals[] = {INT64_MAX};
    bson_t doc;
    total_of(&doc, keys, counts, totals, 1);
    billing_fold f;
    billing_fold_init(&f, 10);
    ck_assert_int_eq(billing_fold_add(&f, PHYS_A, 1), BILLING_SUMMARY_OK);
    ck_assert_int_eq(day_totals_fold_groups(&doc, &f), BILLING_SUMMARY_TOTAL_TOO_LARGE);
    billing_fold_destroy(&f);
    bson_destroy(&doc);
}
END_TEST

START_TEST(test_a_total_with_no_groups_or_a_broken_line_folds_what_it_can)
{
    bson_t *doc = BCON_NEW("groups", BCON_UTF8(""));
    billing_fold f;
    billing_fold_init(&f, 10);
    ck_assert_int_eq(day_totals_fold_groups(doc, &f), BILLING_SUMMARY_OK);
    ck_assert_uint_eq(f.n, 0);
    bson_destroy(doc);
    doc = BCON_NEW("groups", BCON_UTF8("2026-03-01 2 300\nbroken"));
    ck_assert_int_eq(day_totals_fold_groups(doc, &f), BILLING_SUMMARY_OK);
    ck_assert_uint_eq(f.n, 1);
    ck_assert_str_eq(f.groups[0].key, "2026-03-01");
    ck_assert_int_eq(f.groups[0].count, 2);
    ck_assert_int_eq(f.groups[0].total_cents, 300);
    billing_fold_destroy(&f);
    bson_destroy(doc);
}
END_TEST

START_TEST(test_a_billing_row_folds_by_the_query_key_field)
{
    bson_t *doc = BCON_NEW("_id", BCON_UTF8("x"), "physician_id", BCON_UTF8(PHYS_A), "patient_id",
                           BCON_UTF8(PHYS_B), "total_cents", BCON_INT64(12345));
    billing_fold f;
    billing_fold_init(&f, 10);
    day_totals_row row = {"patient_id", &f};
    ck_assert_int_eq(day_totals_add_billing(doc, &row), 0);
    ck_assert_uint_eq(f.n, 1);
    ck_assert_str_eq(f.groups[0].key, PHYS_B);
    ck_assert_int_eq(f.groups[0].total_cents, 12345);
    billing_fold_destroy(&f);
    bson_destroy(doc);
}
END_TEST

START_TEST(test_marks_merge_ends_and_begins_one_mark_per_day_sorted)
{
    const char ended[][BUCKET_DAY_LEN] = {"2026-01-02", "2026-01-05", "2026-03-01"};
    const char begun[][BUCKET_DAY_LEN] = {"2025-12-31", "2026-01-05", "2026-02-01", "2026-03-02"};
    day_mark out[7];
    size_t n = day_marks_merge(ended, 3, begun, 4, out);
    ck_assert_uint_eq(n, 6);
    const char *days[] = {"2025-12-31", "2026-01-02", "2026-01-05",
                          "2026-02-01", "2026-03-01", "2026-03-02"};
    const bool ends[] = {false, true, true, false, true, false};
    const bool begins[] = {true, false, true, true, false, true};
    for (size_t i = 0; i < n; i++) {
        ck_assert_str_eq(out[i].day, days[i]);
        ck_assert_msg(out[i].ends == ends[i] && out[i].begins == begins[i], "mark %zu", i);
    }
}
END_TEST

START_TEST(test_marks_merge_of_one_empty_list_is_the_other)
{
    const char days[][BUCKET_DAY_LEN] = {"2026-01-02", "2026-01-05"};
    day_mark out[2];
    ck_assert_uint_eq(day_marks_merge(days, 2, NULL, 0, out), 2);
    ck_assert(out[0].ends && !out[0].begins && out[1].ends && !out[1].begins);
    ck_assert_str_eq(out[1].day, "2026-01-05");
    ck_assert_uint_eq(day_marks_merge(NULL, 0, days, 2, out), 2);
    ck_assert(!out[0].ends && out[0].begins && !out[1].ends && out[1].begins);
    ck_assert_uint_eq(day_marks_merge(NULL, 0, NULL, 0, out), 0);
}
END_TEST

static Suite *day_totals_suite(void)
{
    Suite *s = suite_create("day_totals");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_total_at_the_days_gen_with_no_write_in_flight_is_used);
    tcase_add_test(tc, test_total_at_an_older_gen_is_recounted);
    tcase_add_test(tc, test_a_write_in_flight_makes_the_day_recounted_whatever_the_gen);
    tcase_add_test(tc, test_a_writer_that_only_began_counts_zero_and_is_in_flight);
    tcase_add_test(tc, test_a_day_no_writer_marked_uses_a_total_at_gen_zero);
    tcase_add_test(tc, test_distinct_sorts_the_days_and_drops_repeats);
    tcase_add_test(tc, test_day_start_is_utc_midnight);
    tcase_add_test(tc, test_only_a_settled_day_with_billings_is_stored);
    tcase_add_test(tc, test_a_total_folds_its_counts_and_totals_with_other_days);
    tcase_add_test(tc, test_a_total_beyond_the_group_limit_stops_the_fold);
    tcase_add_test(tc, test_a_total_overflowing_int64_is_total_too_large);
    tcase_add_test(tc, test_a_total_with_no_groups_or_a_broken_line_folds_what_it_can);
    tcase_add_test(tc, test_a_billing_row_folds_by_the_query_key_field);
    tcase_add_test(tc, test_marks_merge_ends_and_begins_one_mark_per_day_sorted);
    tcase_add_test(tc, test_marks_merge_of_one_empty_list_is_the_other);
    tcase_add_test(tc, test_a_day_is_whole_when_the_range_holds_all_of_it);
    tcase_add_test(tc, test_month_start_and_end_are_utc_midnights_across_a_year_end);
    tcase_add_test(tc, test_months_of_the_days_are_whole_only_inside_the_range);
    tcase_add_test(tc, test_a_month_total_at_the_sum_of_its_days_gens_is_used);
    tcase_add_test(tc, test_a_late_billing_in_any_day_of_the_month_makes_its_total_old);
    tcase_add_test(tc,
                   test_a_write_in_flight_in_any_day_of_the_month_makes_it_summed_from_its_days);
    tcase_add_test(tc, test_a_month_the_range_cuts_never_uses_its_total);
    tcase_add_test(tc, test_only_a_settled_whole_month_with_every_marked_day_folded_is_stored);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(day_totals_suite)
