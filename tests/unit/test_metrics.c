#include <check.h>
#include <stdlib.h>

#include "buf.h"
#include "metrics.h"

#include "check_main.h"

static void assert_renders_f(double v, const char *want)
{
    buf b;
    buf_init(&b);
    metrics_sample_f(&b, "x", NULL, v);
    ck_assert_str_eq(buf_cstr(&b), want);
    buf_free(&b);
}

START_TEST(test_doubles_print_in_their_shortest_exact_form)
{
    assert_renders_f(0.03, "x 0.03\n");
    assert_renders_f(1796026281.75, "x 1796026281.75\n");
    assert_renders_f(0.1 + 0.2, "x 0.30000000000000004\n"); /* not 0.3: it reads back as another */
    assert_renders_f(0, "x 0\n");
}
END_TEST

START_TEST(test_single_writes_help_type_and_the_sample_under_one_name)
{
    buf b;
    buf_init(&b);
    metrics_single(&b, "clinic_things_total", "counter", "Things.", 7);
    ck_assert_str_eq(buf_cstr(&b), "# HELP clinic_things_total Things.\n"
                                   "# TYPE clinic_things_total counter\n"
                                   "clinic_things_total 7\n");
    buf_free(&b);
}
END_TEST

START_TEST(test_labelled_samples_keep_their_labels)
{
    buf b;
    buf_init(&b);
    metrics_sample_i(&b, "clinic_lag", "partition=\"3\"", -1);
    metrics_sample_f(&b, "clinic_x", "a=\"b\"", 2.5);
    ck_assert_str_eq(buf_cstr(&b), "clinic_lag{partition=\"3\"} -1\nclinic_x{a=\"b\"} 2.5\n");
    buf_free(&b);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_doubles_print_in_their_shortest_exact_form);
    tcase_add_test(tc, test_single_writes_help_type_and_the_sample_under_one_name);
    tcase_add_test(tc, test_labelled_samples_keep_their_labels);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(metrics_suite)
