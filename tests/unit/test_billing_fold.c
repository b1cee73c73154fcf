/* The summary's fold (financial/billing_fold.c): billings, one at a time and
 * in any order, become one group per key sorted by key, or a
 * billing_summary_outcome saying why the answer is too large. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "billing_fold.h"

#include "check_main.h"

#define PHYS_A "11111111-1111-4111-8111-111111111111"
#define PHYS_B "22222222-2222-4222-8222-222222222222"
#define PHYS_C "33333333-3333-4333-8333-333333333333"

/* One billing of a summary: its group's key and its total. */
typedef struct summary_row {
    char key[UUID_STR_LEN];
    int64_t total_cents;
} summary_row;

typedef struct summary_rows {
    const summary_row *rows;
    size_t n;
} summary_rows;

static summary_rows acc_of(const summary_row *rows, size_t n)
{
    return (summary_rows){rows, n};
}

/* Streams a->rows through a fold of max_groups, as billing_store_summary does. */
static billing_summary_outcome fold_rows(const summary_rows *a, size_t max_groups,
                                         billing_group **out, size_t *n)
{
    billing_fold f;
    billing_fold_init(&f, max_groups);
    for (size_t i = 0; i < a->n; i++)
        if (billing_fold_add(&f, a->rows[i].key, a->rows[i].total_cents) != BILLING_SUMMARY_OK)
            break;
    billing_summary_outcome o = billing_fold_finish(&f, out, n);
    billing_fold_destroy(&f);
    return o;
}

START_TEST(test_summary_fold_counts_and_totals_each_key)
{
    summary_row rows[] = {{PHYS_A, 20000}, {PHYS_A, 5000}, {PHYS_B, 100}};
    summary_rows a = acc_of(rows, 3);
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
    summary_rows a = acc_of(NULL, 0);
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
    summary_rows a = acc_of(rows, 3);
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
    summary_rows a = acc_of(rows, 2);
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

START_TEST(test_summary_fold_takes_rows_in_any_order_and_sorts_the_groups)
{
    summary_row rows[] = {{PHYS_C, 3}, {PHYS_A, 1}, {PHYS_B, 2}, {PHYS_A, 10}, {PHYS_C, 30}};
    summary_rows a = acc_of(rows, 5);
    billing_group *groups = NULL;
    size_t n = 0;
    ck_assert_int_eq(fold_rows(&a, 3, &groups, &n), BILLING_SUMMARY_OK);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(groups[0].key, PHYS_A);
    ck_assert_int_eq(groups[0].total_cents, 11);
    ck_assert_int_eq(groups[0].count, 2);
    ck_assert_str_eq(groups[1].key, PHYS_B);
    ck_assert_str_eq(groups[2].key, PHYS_C);
    ck_assert_int_eq(groups[2].total_cents, 33);
    free(groups);
}
END_TEST

START_TEST(test_summary_fold_of_many_billings_holds_its_groups_only)
{
    /* 200,000 billings over 1,000 days: the fold grows to 1,000 groups. */
    billing_fold f;
    billing_fold_init(&f, 1000);
    char key[UUID_STR_LEN];
    for (int i = 0; i < 200000; i++) {
        snprintf(key, sizeof key, "day-%04d", i % 1000);
        ck_assert_int_eq(billing_fold_add(&f, key, 100), BILLING_SUMMARY_OK);
    }
    ck_assert_uint_eq(f.n, 1000);
    ck_assert_uint_le(f.cap, 1024);
    billing_group *groups = NULL;
    size_t n = 0;
    ck_assert_int_eq(billing_fold_finish(&f, &groups, &n), BILLING_SUMMARY_OK);
    ck_assert_uint_eq(n, 1000);
    ck_assert_str_eq(groups[0].key, "day-0000");
    ck_assert_int_eq(groups[999].count, 200);
    ck_assert_int_eq(groups[999].total_cents, 20000);
    free(groups);
    billing_fold_destroy(&f);
}
END_TEST

static Suite *billing_store_suite(void)
{
    Suite *s = suite_create("billing_fold");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_summary_fold_counts_and_totals_each_key);
    tcase_add_test(tc, test_summary_fold_of_nothing_is_ok_and_empty);
    tcase_add_test(tc, test_summary_more_groups_than_the_limit_is_too_many_groups);
    tcase_add_test(tc, test_summary_group_total_beyond_int64_is_total_too_large);
    tcase_add_test(tc, test_summary_fold_takes_rows_in_any_order_and_sorts_the_groups);
    tcase_add_test(tc, test_summary_fold_of_many_billings_holds_its_groups_only);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(billing_store_suite)
