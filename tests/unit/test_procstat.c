#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "procstat.h"

#include "check_main.h"

/* A real /proc/<pid>/stat line (Linux 6.1), utime 1234, stime 56,
 * starttime 998877, vsize 123456789, rss 4321. */
#define STAT_LINE                                                                                  \
    "4242 (financial) S 1 4242 4242 0 -1 4194560 2210 0 0 0 1234 56 0 0 20 0 9 0 998877 "          \
    "123456789 4321 18446744073709551615 1 1 0 0 0 0 0 4096 17926 0 0 0 17 1 0 0 0 0 0 0 0 0 0 "   \
    "0 0 0 0\n"

START_TEST(test_stat_fields_are_read_by_position)
{
    procstat_stat st;
    ck_assert_int_eq(procstat_parse_stat(STAT_LINE, &st), 0);
    ck_assert_uint_eq(st.cpu_ticks, 1234 + 56);
    ck_assert_uint_eq(st.start_ticks, 998877);
    ck_assert_uint_eq(st.vsize_bytes, 123456789);
    ck_assert_uint_eq(st.rss_pages, 4321);
}
END_TEST

START_TEST(test_stat_command_name_may_hold_spaces_and_parentheses)
{
    const char *line = "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 10 20 0 0 20 0 1 0 300 4096 5 0\n";
    procstat_stat st;
    ck_assert_int_eq(procstat_parse_stat(line, &st), 0);
    ck_assert_uint_eq(st.cpu_ticks, 30);
    ck_assert_uint_eq(st.start_ticks, 300);
    ck_assert_uint_eq(st.rss_pages, 5);
}
END_TEST

START_TEST(test_stat_truncated_or_garbled_is_refused_and_out_untouched)
{
    procstat_stat st = {.cpu_ticks = 42};
    ck_assert_int_eq(procstat_parse_stat("", &st), -1);
    ck_assert_int_eq(procstat_parse_stat("4242 (financial) S 1 4242", &st), -1);
    ck_assert_int_eq(procstat_parse_stat("4242 financial S 1 2 3", &st), -1);
    char bad[] = STAT_LINE;
    memcpy(strstr(bad, " 1234 ") + 1, "12x4", 4); /* utime not a number */
    ck_assert_int_eq(procstat_parse_stat(bad, &st), -1);
    ck_assert_uint_eq(st.cpu_ticks, 42);
}
END_TEST

START_TEST(test_btime_is_found_among_the_other_lines)
{
    const char *text = "cpu  10 0 20 300 0 0 0 0 0 0\nintr 1 2 3\nctxt 99\nbtime 1764487000\n"
                       "processes 5\n";
    int64_t bt = 0;
    ck_assert_int_eq(procstat_parse_btime(text, &bt), 0);
    ck_assert_int_eq(bt, 1764487000);
    ck_assert_int_eq(procstat_parse_btime("btime 17\n", &bt), 0);
    ck_assert_int_eq(bt, 17);
}
END_TEST

START_TEST(test_btime_missing_or_garbled_is_refused)
{
    int64_t bt = 5;
    ck_assert_int_eq(procstat_parse_btime("cpu 1 2 3\nctxt 4\n", &bt), -1);
    ck_assert_int_eq(procstat_parse_btime("xbtime 17\n", &bt), -1);
    ck_assert_int_eq(procstat_parse_btime("btime -3\n", &bt), -1);
    ck_assert_int_eq(procstat_parse_btime("btime 12ab\n", &bt), -1);
    ck_assert_int_eq(bt, 5);
}
END_TEST

START_TEST(test_render_writes_the_process_families_of_this_process)
{
    buf b;
    buf_init(&b);
    procstat_render(&b);
    const char *text = buf_cstr(&b);
    static const char *const want[] = {
        "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total ",
        "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ",
        "# TYPE process_virtual_memory_bytes gauge\nprocess_virtual_memory_bytes ",
        "# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ",
        "# TYPE process_open_fds gauge\nprocess_open_fds ",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(strstr(text, want[i]), "missing %s in:\n%s", want[i], text);
    double rss = strtod(strstr(text, "\nprocess_resident_memory_bytes ") + 31, NULL);
    ck_assert(rss > 100 * 1024);
    buf_free(&b);
}
END_TEST

static Suite *procstat_suite(void)
{
    Suite *s = suite_create("procstat");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_stat_fields_are_read_by_position);
    tcase_add_test(tc, test_stat_command_name_may_hold_spaces_and_parentheses);
    tcase_add_test(tc, test_stat_truncated_or_garbled_is_refused_and_out_untouched);
    tcase_add_test(tc, test_btime_is_found_among_the_other_lines);
    tcase_add_test(tc, test_btime_missing_or_garbled_is_refused);
    tcase_add_test(tc, test_render_writes_the_process_families_of_this_process);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(procstat_suite)
