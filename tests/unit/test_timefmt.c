#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

#include "check_main.h"

#define DAY_MS INT64_C(86400000)
#define HOUR_MS INT64_C(3600000)

static int parse(const char *s, int64_t *ms)
{
    return timefmt_parse(s, strlen(s), ms);
}

/* Parses s, failing the test if it is rejected. */
static int64_t at(const char *s)
{
    int64_t ms = -1;
    ck_assert_msg(parse(s, &ms) == 0, "rejected: %s", s);
    return ms;
}

static void assert_rejected(const char *s)
{
    int64_t ms = 42;
    ck_assert_msg(parse(s, &ms) == -1, "accepted: %s", s);
    ck_assert_int_eq(ms, 42);
}

/* ---- parsing ---- */

START_TEST(test_parse_utc_z)
{
    ck_assert_int_eq(at("2024-01-31T10:00:00Z"), INT64_C(1706695200000));
}
END_TEST

START_TEST(test_parse_epoch_is_zero)
{
    ck_assert_int_eq(at("1970-01-01T00:00:00Z"), 0);
}
END_TEST

START_TEST(test_parse_accepts_lowercase_t_and_z)
{
    ck_assert_int_eq(at("2024-01-31t10:00:00z"), at("2024-01-31T10:00:00Z"));
}
END_TEST

START_TEST(test_parse_positive_offset_converts_to_utc)
{
    ck_assert_int_eq(at("2024-01-31T13:00:00+03:00"), at("2024-01-31T10:00:00Z"));
}
END_TEST

START_TEST(test_parse_negative_offset_converts_to_utc)
{
    ck_assert_int_eq(at("2024-01-31T07:00:00-03:00"), at("2024-01-31T10:00:00Z"));
}
END_TEST

START_TEST(test_parse_offset_with_minutes_converts_to_utc)
{
    ck_assert_int_eq(at("2024-01-31T15:45:00+05:45"), at("2024-01-31T10:00:00Z"));
    ck_assert_int_eq(at("2024-01-31T06:30:00-03:30"), at("2024-01-31T10:00:00Z"));
}
END_TEST

START_TEST(test_parse_offset_moves_back_into_leap_day)
{
    ck_assert_int_eq(at("2024-03-01T01:00:00+02:00"), at("2024-02-29T23:00:00Z"));
}
END_TEST

START_TEST(test_parse_offset_moves_forward_across_year_end)
{
    ck_assert_int_eq(at("2023-12-31T22:30:00-01:30"), at("2024-01-01T00:00:00Z"));
}
END_TEST

START_TEST(test_parse_minus_zero_offset_is_utc)
{
    ck_assert_int_eq(at("2024-01-31T10:00:00-00:00"), at("2024-01-31T10:00:00Z"));
    ck_assert_int_eq(at("2024-01-31T10:00:00+00:00"), at("2024-01-31T10:00:00Z"));
}
END_TEST

START_TEST(test_parse_fraction_of_one_digit_is_tenths)
{
    ck_assert_int_eq(at("2024-01-31T10:00:00.5Z"), at("2024-01-31T10:00:00Z") + 500);
}
END_TEST

START_TEST(test_parse_fraction_of_three_digits_is_milliseconds)
{
    ck_assert_int_eq(at("2024-01-31T10:00:00.123Z"), at("2024-01-31T10:00:00Z") + 123);
    ck_assert_int_eq(at("2024-01-31T10:00:00.007Z"), at("2024-01-31T10:00:00Z") + 7);
}
END_TEST

START_TEST(test_parse_fraction_of_nine_digits_truncates_to_milliseconds)
{
    ck_assert_int_eq(at("2024-01-31T10:00:00.123999999Z"), at("2024-01-31T10:00:00Z") + 123);
    ck_assert_int_eq(at("2024-01-31T10:00:00.000999Z"), at("2024-01-31T10:00:00Z"));
}
END_TEST

START_TEST(test_parse_fraction_before_offset)
{
    ck_assert_int_eq(at("2024-01-31T13:00:00.25+03:00"), at("2024-01-31T10:00:00.250Z"));
}
END_TEST

START_TEST(test_parse_rejects_fraction_without_digits)
{
    assert_rejected("2024-01-31T10:00:00.Z");
    assert_rejected("2024-01-31T10:00:00.");
}
END_TEST

START_TEST(test_parse_rejects_fraction_of_ten_digits)
{
    assert_rejected("2024-01-31T10:00:00.1234567890Z");
}
END_TEST

START_TEST(test_parse_legacy_space_form_is_utc)
{
    ck_assert_int_eq(at("2024-01-31 10:00:00"), at("2024-01-31T10:00:00Z"));
}
END_TEST

START_TEST(test_parse_legacy_space_form_takes_fraction_and_offset)
{
    ck_assert_int_eq(at("2024-01-31 10:00:00.123456"), at("2024-01-31T10:00:00.123Z"));
    ck_assert_int_eq(at("2024-01-31 13:00:00+03:00"), at("2024-01-31T10:00:00Z"));
}
END_TEST

START_TEST(test_parse_rejects_rfc3339_without_offset)
{
    assert_rejected("2024-01-31T10:00:00");
    assert_rejected("2024-01-31T10:00:00.5");
}
END_TEST

/* ---- the compatibility routes' forms ---- */

static int64_t compat_at(const char *s)
{
    int64_t ms = -1;
    ck_assert_msg(timefmt_parse_compat(s, strlen(s), &ms) == 0, "rejected: %s", s);
    return ms;
}

static void assert_compat_rejected(const char *s)
{
    int64_t ms = 42;
    ck_assert_msg(timefmt_parse_compat(s, strlen(s), &ms) == -1, "accepted: %s", s);
    ck_assert_int_eq(ms, 42);
}

START_TEST(test_parse_compat_takes_the_naive_python_form_as_utc)
{
    ck_assert_int_eq(compat_at("2024-01-31T10:00:00.123456"), at("2024-01-31T10:00:00.123Z"));
    ck_assert_int_eq(compat_at("2024-01-31T10:00:00"), at("2024-01-31T10:00:00Z"));
    ck_assert_int_eq(compat_at("2024-01-31T10:00:00.5"), at("2024-01-31T10:00:00.500Z"));
}
END_TEST

START_TEST(test_parse_compat_takes_what_parse_takes)
{
    static const char *const forms[] = {"2024-01-31T10:00:00Z", "2024-01-31T13:00:00.5+03:00",
                                        "2024-01-31 10:00:00", "2024-01-31 10:00:00.123456",
                                        "2024-01-31t10:00:00z"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        ck_assert_int_eq(compat_at(forms[i]), at(forms[i]));
}
END_TEST

START_TEST(test_parse_compat_rejects_what_is_no_date_time)
{
    assert_compat_rejected("2024-13-01T10:00:00");
    assert_compat_rejected("2024-02-30T10:00:00.000000");
    assert_compat_rejected("2024-01-31T10:00:00.");
    assert_compat_rejected("2024-01-31T10:00:00.1234567890");
    assert_compat_rejected("2024-01-31X10:00:00");
    assert_compat_rejected("2024-01-31T10:00");
    assert_compat_rejected("2024-01-31T10:00:00 ");
    assert_compat_rejected("1969-12-31T23:59:59.999999");
    assert_compat_rejected("");
}
END_TEST

START_TEST(test_format_compat_is_naive_utc_with_six_fraction_digits)
{
    char out[TIMEFMT_LEN];
    ck_assert_uint_eq(timefmt_format_compat(0, out), 26);
    ck_assert_str_eq(out, "1970-01-01T00:00:00.000000");
    ck_assert_uint_eq(timefmt_format_compat(INT64_C(1709251199123), out), 26);
    ck_assert_str_eq(out, "2024-02-29T23:59:59.123000");
    timefmt_format_compat(INT64_C(1706695200005), out);
    ck_assert_str_eq(out, "2024-01-31T10:00:00.005000");
    timefmt_format_compat(INT64_MAX, out);
    ck_assert_str_eq(out, "9999-12-31T23:59:59.999000");
}
END_TEST

START_TEST(test_parse_rejects_fields_not_of_two_digits)
{
    assert_rejected("2024-1-31T10:00:00Z");
    assert_rejected("2024-01-1T10:00:00Z");
    assert_rejected("2024-01-31T1:00:00Z");
    assert_rejected("2024-01-31T10:0:00Z");
    assert_rejected("2024-01-31T10:00:0Z");
    assert_rejected("2024-001-31T10:00:00Z");
    assert_rejected("24-01-31T10:00:00Z");
    assert_rejected("02024-01-31T10:00:00Z");
}
END_TEST

START_TEST(test_parse_rejects_signs_and_spaces_in_fields)
{
    assert_rejected("2024-+1-31T10:00:00Z");
    assert_rejected("2024-01-31T-1:00:00Z");
    assert_rejected("2024-01-31T 1:00:00Z");
    assert_rejected("+2024-01-31T10:00:00Z");
}
END_TEST

START_TEST(test_parse_rejects_wrong_separators)
{
    assert_rejected("2024/01/31T10:00:00Z");
    assert_rejected("2024-01-31X10:00:00Z");
    assert_rejected("2024-01-31_10:00:00Z");
    assert_rejected("2024-01-31T10.00.00Z");
    assert_rejected("2024-01-31  10:00:00");
}
END_TEST

START_TEST(test_parse_rejects_empty_and_date_only)
{
    assert_rejected("");
    assert_rejected("2024-01-31");
    assert_rejected("2024-01-31T");
    assert_rejected("2024-01-31T10:00");
    assert_rejected("2024-01-31T10:00Z");
}
END_TEST

START_TEST(test_parse_rejects_month_out_of_range)
{
    assert_rejected("2024-00-10T10:00:00Z");
    assert_rejected("2024-13-10T10:00:00Z");
}
END_TEST

START_TEST(test_parse_rejects_day_out_of_range)
{
    assert_rejected("2024-01-00T10:00:00Z");
    assert_rejected("2024-01-32T10:00:00Z");
    assert_rejected("2024-04-31T10:00:00Z");
    assert_rejected("2024-06-31T10:00:00Z");
    assert_rejected("2024-09-31T10:00:00Z");
    assert_rejected("2024-11-31T10:00:00Z");
    ck_assert_int_eq(at("2024-12-31T10:00:00Z"), at("2025-01-01T10:00:00Z") - DAY_MS);
}
END_TEST

START_TEST(test_parse_rejects_february_30)
{
    assert_rejected("2024-02-30T10:00:00Z");
    assert_rejected("2023-02-30T10:00:00Z");
}
END_TEST

START_TEST(test_parse_accepts_february_29_in_leap_years)
{
    ck_assert_int_eq(at("2024-02-29T00:00:00Z"), at("2024-03-01T00:00:00Z") - DAY_MS);
    ck_assert_int_eq(at("2000-02-29T00:00:00Z"), at("2000-03-01T00:00:00Z") - DAY_MS);
    ck_assert_int_eq(at("2400-02-29T00:00:00Z"), at("2400-03-01T00:00:00Z") - DAY_MS);
    ck_assert_int_eq(at("1972-02-29T00:00:00Z"), at("1972-03-01T00:00:00Z") - DAY_MS);
}
END_TEST

START_TEST(test_parse_rejects_february_29_in_common_years)
{
    assert_rejected("2023-02-29T00:00:00Z");
    assert_rejected("2100-02-29T00:00:00Z");
    assert_rejected("2200-02-29T00:00:00Z");
    assert_rejected("2300-02-29T00:00:00Z");
}
END_TEST

START_TEST(test_parse_rejects_hour_24)
{
    assert_rejected("2024-01-31T24:00:00Z");
}
END_TEST

START_TEST(test_parse_rejects_minute_60)
{
    assert_rejected("2024-01-31T10:60:00Z");
}
END_TEST

START_TEST(test_parse_rejects_leap_second)
{
    assert_rejected("2016-12-31T23:59:60Z");
}
END_TEST

START_TEST(test_parse_rejects_malformed_offsets)
{
    assert_rejected("2024-01-31T10:00:00+3:00");
    assert_rejected("2024-01-31T10:00:00+0300");
    assert_rejected("2024-01-31T10:00:00+03");
    assert_rejected("2024-01-31T10:00:00+03:0");
    assert_rejected("2024-01-31T10:00:00+24:00");
    assert_rejected("2024-01-31T10:00:00+03:60");
    assert_rejected("2024-01-31T10:00:00 +03:00");
    assert_rejected("2024-01-31T10:00:00UTC");
    assert_rejected("2024-01-31T10:00:00GMT");
}
END_TEST

START_TEST(test_parse_rejects_trailing_bytes)
{
    assert_rejected("2024-01-31T10:00:00Z ");
    assert_rejected("2024-01-31T10:00:00ZZ");
    assert_rejected("2024-01-31T10:00:00+03:00x");
    assert_rejected("2024-01-31 10:00:00 ");
    assert_rejected("2024-01-31T10:00:00Z\n");
}
END_TEST

START_TEST(test_parse_rejects_embedded_nul)
{
    int64_t ms = 42;
    ck_assert_int_eq(timefmt_parse("2024-01-31T10:00:00Z\0", 21, &ms), -1);
    ck_assert_int_eq(timefmt_parse("2024-01\0-31T10:00:00Z", 21, &ms), -1);
    ck_assert_int_eq(timefmt_parse("2024-01-31T10:00:00\0Z", 21, &ms), -1);
    ck_assert_int_eq(ms, 42);
}
END_TEST

START_TEST(test_parse_reads_only_len_bytes)
{
    int64_t ms = -1;
    const char *s = "2024-01-31T10:00:00Zgarbage";
    ck_assert_int_eq(timefmt_parse(s, 20, &ms), 0);
    ck_assert_int_eq(ms, INT64_C(1706695200000));
    ck_assert_int_eq(timefmt_parse(s, 19, &ms), -1);
}
END_TEST

START_TEST(test_parse_rejects_years_before_1970)
{
    assert_rejected("1969-12-31T23:59:59Z");
    assert_rejected("0000-01-01T00:00:00Z");
}
END_TEST

START_TEST(test_parse_rejects_offset_moving_before_1970)
{
    assert_rejected("1970-01-01T00:30:00+01:00");
    ck_assert_int_eq(at("1970-01-01T01:00:00+01:00"), 0);
}
END_TEST

START_TEST(test_parse_rejects_offset_moving_past_9999)
{
    assert_rejected("9999-12-31T23:30:00-01:00");
}
END_TEST

START_TEST(test_parse_accepts_last_instant_of_9999)
{
    ck_assert_int_eq(at("9999-12-31T23:59:59.999Z"), INT64_C(253402300799999));
}
END_TEST

START_TEST(test_parse_failure_leaves_output_alone)
{
    int64_t ms = 42;
    ck_assert_int_eq(parse("2024-02-30T10:00:00Z", &ms), -1);
    ck_assert_int_eq(ms, 42);
    ck_assert_int_eq(timefmt_parse(NULL, 0, &ms), -1);
    ck_assert_int_eq(ms, 42);
}
END_TEST

/* ---- formatting ---- */

START_TEST(test_format_whole_seconds_without_fraction)
{
    char out[TIMEFMT_LEN];
    ck_assert_uint_eq(timefmt_format(0, out), 20);
    ck_assert_str_eq(out, "1970-01-01T00:00:00Z");
    ck_assert_uint_eq(timefmt_format(INT64_C(1706695200000), out), 20);
    ck_assert_str_eq(out, "2024-01-31T10:00:00Z");
}
END_TEST

START_TEST(test_format_milliseconds_with_three_digits)
{
    char out[TIMEFMT_LEN];
    ck_assert_uint_eq(timefmt_format(INT64_C(1709251199123), out), 24);
    ck_assert_str_eq(out, "2024-02-29T23:59:59.123Z");
    timefmt_format(INT64_C(1706695200005), out);
    ck_assert_str_eq(out, "2024-01-31T10:00:00.005Z");
    timefmt_format(INT64_C(1706695200500), out);
    ck_assert_str_eq(out, "2024-01-31T10:00:00.500Z");
}
END_TEST

START_TEST(test_format_before_epoch)
{
    char out[TIMEFMT_LEN];
    timefmt_format(-1, out);
    ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
}
END_TEST

START_TEST(test_format_clamps_out_of_range)
{
    char out[TIMEFMT_LEN];
    ck_assert_uint_lt(timefmt_format(INT64_MAX, out), TIMEFMT_LEN);
    ck_assert_str_eq(out, "9999-12-31T23:59:59.999Z");
    ck_assert_uint_lt(timefmt_format(INT64_MIN, out), TIMEFMT_LEN);
    ck_assert_str_eq(out, "0000-01-01T00:00:00Z");
}
END_TEST

START_TEST(test_format_then_parse_round_trips)
{
    char out[TIMEFMT_LEN];
    /* A prime step visits every hour, minute, second and ms pattern over the years. */
    for (int64_t ms = 0; ms < INT64_C(253402300800000); ms += INT64_C(7919) * 1000003) {
        size_t n = timefmt_format(ms, out);
        ck_assert_uint_eq(n, strlen(out));
        int64_t back = -1;
        ck_assert_msg(timefmt_parse(out, n, &back) == 0, "rejected: %s", out);
        ck_assert_int_eq(back, ms);
        /* and the compatibility routes' form */
        n = timefmt_format_compat(ms, out);
        back = -1;
        ck_assert_msg(timefmt_parse_compat(out, n, &back) == 0, "rejected: %s", out);
        ck_assert_int_eq(back, ms);
    }
}
END_TEST

START_TEST(test_parse_then_format_round_trips)
{
    static const char *const canonical[] = {
        "1970-01-01T00:00:00Z",     "1999-12-31T23:59:59Z",     "2000-02-29T12:00:00Z",
        "2024-02-29T23:59:59.123Z", "2024-03-01T00:00:00.001Z", "2100-03-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z",
    };
    char out[TIMEFMT_LEN];
    for (size_t i = 0; i < sizeof canonical / sizeof canonical[0]; i++) {
        timefmt_format(at(canonical[i]), out);
        ck_assert_str_eq(out, canonical[i]);
    }
}
END_TEST

START_TEST(test_format_day)
{
    char out[11];
    timefmt_format_day(INT64_C(1709251199123), out);
    ck_assert_str_eq(out, "2024-02-29");
    timefmt_format_day(0, out);
    ck_assert_str_eq(out, "1970-01-01");
}
END_TEST

START_TEST(test_format_day_clamps_out_of_range)
{
    char out[11];
    timefmt_format_day(INT64_MAX, out);
    ck_assert_str_eq(out, "9999-12-31");
    timefmt_format_day(INT64_MIN, out);
    ck_assert_str_eq(out, "0000-01-01");
}
END_TEST

/* ---- calendar ---- */

START_TEST(test_days_from_civil_known_dates)
{
    ck_assert_int_eq(timefmt_days_from_civil(1970, 1, 1), 0);
    ck_assert_int_eq(timefmt_days_from_civil(1969, 12, 31), -1);
    ck_assert_int_eq(timefmt_days_from_civil(2000, 1, 1), 10957);
    ck_assert_int_eq(timefmt_days_from_civil(2000, 3, 1), 11017);
    ck_assert_int_eq(timefmt_days_from_civil(2024, 2, 29), 19782);
    ck_assert_int_eq(timefmt_days_from_civil(0, 1, 1), -719528);
}
END_TEST

START_TEST(test_days_from_civil_counts_leap_days)
{
    /* From 28 February to 1 March: two days in a leap year, one otherwise. */
    ck_assert_int_eq(timefmt_days_from_civil(2024, 3, 1) - timefmt_days_from_civil(2024, 2, 28), 2);
    ck_assert_int_eq(timefmt_days_from_civil(2000, 3, 1) - timefmt_days_from_civil(2000, 2, 28), 2);
    ck_assert_int_eq(timefmt_days_from_civil(2023, 3, 1) - timefmt_days_from_civil(2023, 2, 28), 1);
    ck_assert_int_eq(timefmt_days_from_civil(1900, 3, 1) - timefmt_days_from_civil(1900, 2, 28), 1);
    ck_assert_int_eq(timefmt_days_from_civil(2100, 3, 1) - timefmt_days_from_civil(2100, 2, 28), 1);
    ck_assert_int_eq(timefmt_days_from_civil(2025, 1, 1) - timefmt_days_from_civil(2024, 1, 1),
                     366);
    ck_assert_int_eq(timefmt_days_from_civil(2101, 1, 1) - timefmt_days_from_civil(2100, 1, 1),
                     365);
}
END_TEST

static Suite *timefmt_suite(void)
{
    Suite *s = suite_create("timefmt");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_utc_z);
    tcase_add_test(tc, test_parse_epoch_is_zero);
    tcase_add_test(tc, test_parse_accepts_lowercase_t_and_z);
    tcase_add_test(tc, test_parse_positive_offset_converts_to_utc);
    tcase_add_test(tc, test_parse_negative_offset_converts_to_utc);
    tcase_add_test(tc, test_parse_offset_with_minutes_converts_to_utc);
    tcase_add_test(tc, test_parse_offset_moves_back_into_leap_day);
    tcase_add_test(tc, test_parse_offset_moves_forward_across_year_end);
    tcase_add_test(tc, test_parse_minus_zero_offset_is_utc);
    tcase_add_test(tc, test_parse_fraction_of_one_digit_is_tenths);
    tcase_add_test(tc, test_parse_fraction_of_three_digits_is_milliseconds);
    tcase_add_test(tc, test_parse_fraction_of_nine_digits_truncates_to_milliseconds);
    tcase_add_test(tc, test_parse_fraction_before_offset);
    tcase_add_test(tc, test_parse_rejects_fraction_without_digits);
    tcase_add_test(tc, test_parse_rejects_fraction_of_ten_digits);
    tcase_add_test(tc, test_parse_legacy_space_form_is_utc);
    tcase_add_test(tc, test_parse_legacy_space_form_takes_fraction_and_offset);
    tcase_add_test(tc, test_parse_rejects_rfc3339_without_offset);
    tcase_add_test(tc, test_parse_rejects_fields_not_of_two_digits);
    tcase_add_test(tc, test_parse_compat_takes_the_naive_python_form_as_utc);
    tcase_add_test(tc, test_parse_compat_takes_what_parse_takes);
    tcase_add_test(tc, test_parse_compat_rejects_what_is_no_date_time);
    tcase_add_test(tc, test_format_compat_is_naive_utc_with_six_fraction_digits);
    tcase_add_test(tc, test_parse_rejects_signs_and_spaces_in_fields);
    tcase_add_test(tc, test_parse_rejects_wrong_separators);
    tcase_add_test(tc, test_parse_rejects_empty_and_date_only);
    tcase_add_test(tc, test_parse_rejects_month_out_of_range);
    tcase_add_test(tc, test_parse_rejects_day_out_of_range);
    tcase_add_test(tc, test_parse_rejects_february_30);
    tcase_add_test(tc, test_parse_accepts_february_29_in_leap_years);
    tcase_add_test(tc, test_parse_rejects_february_29_in_common_years);
    tcase_add_test(tc, test_parse_rejects_hour_24);
    tcase_add_test(tc, test_parse_rejects_minute_60);
    tcase_add_test(tc, test_parse_rejects_leap_second);
    tcase_add_test(tc, test_parse_rejects_malformed_offsets);
    tcase_add_test(tc, test_parse_rejects_trailing_bytes);
    tcase_add_test(tc, test_parse_rejects_embedded_nul);
    tcase_add_test(tc, test_parse_reads_only_len_bytes);
    tcase_add_test(tc, test_parse_rejects_years_before_1970);
    tcase_add_test(tc, test_parse_rejects_offset_moving_before_1970);
    tcase_add_test(tc, test_parse_rejects_offset_moving_past_9999);
    tcase_add_test(tc, test_parse_accepts_last_instant_of_9999);
    tcase_add_test(tc, test_parse_failure_leaves_output_alone);
    tcase_add_test(tc, test_format_whole_seconds_without_fraction);
    tcase_add_test(tc, test_format_milliseconds_with_three_digits);
    tcase_add_test(tc, test_format_before_epoch);
    tcase_add_test(tc, test_format_clamps_out_of_range);
    tcase_add_test(tc, test_format_then_parse_round_trips);
    tcase_add_test(tc, test_parse_then_format_round_trips);
    tcase_add_test(tc, test_format_day);
    tcase_add_test(tc, test_format_day_clamps_out_of_range);
    tcase_add_test(tc, test_days_from_civil_known_dates);
    tcase_add_test(tc, test_days_from_civil_counts_leap_days);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(timefmt_suite)
