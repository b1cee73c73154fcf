/* The summary's fold (financial/billing_store.c): rows sorted by key become
 * one group per key, or a billing_summary_outcome saying why the answer is
 * too large. fold_rows is static and needs no database: the file is
 * included to reach it. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../financial/billing_store.c"

#include "check_main.h"

#define PHYS_A "11111111-1111-4111-8111-111111111111"
#define PHYS_B "22222222-2222-4222-8222-222222222222"
#define PHYS_C "33333333-3333-4333-8333-333333333333"

/* rows[0..n), already sorted by key as billing_store_summary sorts them. */
static summary_acc acc_of(summary_row *rows, size_t n)
{
    return (summary_acc){.group_by = BILLING_BY_PHYSICIAN, .rows = rows, .n = n, .cap = n};
}

START_TEST(test_summary_fold_counts_and_totals_each_key)
{
    summary_row rows[] = {{PHYS_A, 20000}, {PHYS_A, 5000}, {PHYS_B, 100}};
    summary_acc a = acc_of(rows, 3);
    billing_group *groups = NULL;
    size_t n = 0;
    ck_assert_int_eq(fold_rows(&a, 10, &groups, &n), BILLING_SUMMARY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(groups[0].key, PHYS_A);
    ck_assert_int_eq(groups[0].count, 2);
    ck_assert_int_eq(groups[0].total_cents, 25000);
    ck_assert_str_eq(groups[1].key, PHYS_B);
    ck_assert_int_eq(groups[1].count, 1);
    ck_assert_int_eq(groups[1].total_cents, 100);
    free(groups);
}
END_TEST

START_TEST(test_summary_fold_of_nothing_is_ok_and_empty)
{
    summary_acc a = acc_of(NULL, 0);
    billing_group placeholder;
    billing_group *groups = &placeholder; /* must become NULL */
    size_t n = 7;
    ck_assert_int_eq(fold_rows(&a, 10, &groups, &n), BILLING_SUMMARY_OK);
    ck_assert_ptr_null(groups);
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(test_summary_more_groups_than_the_limit_is_too_many_groups)
{
    summary_row rows[] = {{PHYS_A, 1}, {PHYS_B, 1}, {PHYS_C, 1}};
    summary_acc a = acc_of(rows, 3);
    billing_group *groups = NULL;
    size_t n = 42;
    ck_assert_int_eq(fold_rows(&a, 2, &groups, &n), BILLING_SUMMARY_TOO_MANY_GROUPS);
    /* Nothing is handed back. */
    ck_assert_ptr_null(groups);
    ck_assert_uint_eq(n, 42);
    /* Exactly the limit is fine. */
    ck_assert_int_eq(fold_rows(&a, 3, &groups, &n), BILLING_SUMMARY_OK);
    ck_assert_uint_eq(n, 3);
    free(groups);
}
END_TEST

START_TEST(test_summary_group_total_beyond_int64_is_total_too_large)
{
    summary_row rows[] = {{PHYS_A, INT64_MAX}, {PHYS_A, 1}};
    summary_acc a = acc_of(rows, 2);
    billing_group *groups = NULL;
    size_t n = 42;
    ck_assert_int_eq(fold_rows(&a, 10, &groups, &n), BILLING_SUMMARY_TOTAL_TOO_LARGE);
    ck_assert_ptr_null(groups);
    ck_assert_uint_eq(n, 42);
    /* The same amounts in two groups fit. */
    memcpy(rows[1].key, PHYS_B, sizeof rows[1].key);
    ck_assert_int_eq(fold_rows(&a, 10, &groups, &n), BILLING_SUMMARY_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(groups[0].total_cents, INT64_MAX);
    free(groups);
}
END_TEST

static Suite *billing_store_suite(void)
{
    Suite *s = suite_create("billing_store");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_summary_fold_counts_and_totals_each_key);
    tcase_add_test(tc, test_summary_fold_of_nothing_is_ok_and_empty);
    tcase_add_test(tc, test_summary_more_groups_than_the_limit_is_too_many_groups);
    tcase_add_test(tc, test_summary_group_total_beyond_int64_is_total_too_large);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(billing_store_suite)
