#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "money.h"

#include "check_main.h"

static int parse(const char *s, int64_t *cents)
{
    return money_parse(s, strlen(s), cents);
}

static void assert_rejected(const char *s)
{
    int64_t cents = 42;
    ck_assert_msg(parse(s, &cents) == -1, "accepted: \"%s\"", s);
    ck_assert_int_eq(cents, 42);
}

static void assert_parses(const char *s, int64_t want)
{
    int64_t cents = -1;
    ck_assert_msg(parse(s, &cents) == 0, "rejected: \"%s\"", s);
    ck_assert_int_eq(cents, want);
}

/* ---- formatting ---- */

START_TEST(test_format_whole_amount_has_two_decimals)
{
    char out[MONEY_STR_LEN];
    ck_assert_uint_eq(money_format(20000, out), 6);
    ck_assert_str_eq(out, "200.00");
}
END_TEST

START_TEST(test_format_amount_below_one_unit)
{
    char out[MONEY_STR_LEN];
    money_format(5, out);
    ck_assert_str_eq(out, "0.05");
    money_format(50, out);
    ck_assert_str_eq(out, "0.50");
    ck_assert_uint_eq(money_format(0, out), 4);
    ck_assert_str_eq(out, "0.00");
}
END_TEST

START_TEST(test_format_negative_amounts)
{
    char out[MONEY_STR_LEN];
    money_format(-150, out);
    ck_assert_str_eq(out, "-1.50");
    money_format(-5, out);
    ck_assert_str_eq(out, "-0.05");
}
END_TEST

START_TEST(test_format_int64_extremes)
{
    char out[MONEY_STR_LEN];
    ck_assert_uint_eq(money_format(INT64_MIN, out), 21);
    ck_assert_str_eq(out, "-92233720368547758.08");
    ck_assert_uint_eq(money_format(INT64_MAX, out), 20);
    ck_assert_str_eq(out, "92233720368547758.07");
}
END_TEST

/* ---- parsing ---- */

START_TEST(test_parse_integer_units)
{
    assert_parses("200", 20000);
    assert_parses("0", 0);
}
END_TEST

START_TEST(test_parse_one_decimal_is_tenths)
{
    assert_parses("200.0", 20000);
    assert_parses("200.5", 20050);
}
END_TEST

START_TEST(test_parse_two_decimals_are_cents)
{
    assert_parses("200.00", 20000);
    assert_parses("0.05", 5);
    assert_parses("1.99", 199);
}
END_TEST

START_TEST(test_parse_rejects_three_decimals)
{
    assert_rejected("200.000");
    assert_rejected("0.005");
}
END_TEST

START_TEST(test_parse_rejects_signs)
{
    assert_rejected("-1");
    assert_rejected("+1");
    assert_rejected("-0.50");
}
END_TEST

START_TEST(test_parse_rejects_exponents)
{
    assert_rejected("2e2");
    assert_rejected("2E2");
    assert_rejected("2.00e0");
}
END_TEST

START_TEST(test_parse_rejects_empty_and_incomplete_numbers)
{
    assert_rejected("");
    assert_rejected(".");
    assert_rejected("200.");
    assert_rejected(".50");
}
END_TEST

START_TEST(test_parse_rejects_spaces_separators_and_trailing_bytes)
{
    assert_rejected(" 200");
    assert_rejected("200 ");
    assert_rejected("200,00");
    assert_rejected("1,000.00");
    assert_rejected("200x");
    assert_rejected("R$200");
    assert_rejected("0x10");
}
END_TEST

START_TEST(test_parse_accepts_up_to_1e15_units)
{
    assert_parses("1000000000000000", INT64_C(100000000000000000));
    assert_parses("1000000000000000.00", INT64_C(100000000000000000));
    assert_parses("999999999999999.99", INT64_C(99999999999999999));
}
END_TEST

START_TEST(test_parse_rejects_more_than_1e15_units)
{
    assert_rejected("1000000000000000.01");
    assert_rejected("1000000000000001");
    assert_rejected("99999999999999999999999999");
}
END_TEST

START_TEST(test_parse_leading_zeros_keep_the_value)
{
    assert_parses("0200.50", 20050);
    assert_parses("000000000000000000000001", 100);
}
END_TEST

START_TEST(test_parse_reads_only_len_bytes)
{
    int64_t cents = -1;
    ck_assert_int_eq(money_parse("200.00xyz", 6, &cents), 0);
    ck_assert_int_eq(cents, 20000);
    ck_assert_int_eq(money_parse("200.00xyz", 4, &cents), -1);
}
END_TEST

START_TEST(test_parse_rejects_embedded_nul)
{
    int64_t cents = 42;
    ck_assert_int_eq(money_parse("200\0", 4, &cents), -1);
    ck_assert_int_eq(money_parse("2\0"
                                 "0",
                                 3, &cents),
                     -1);
    ck_assert_int_eq(cents, 42);
}
END_TEST

START_TEST(test_parse_failure_leaves_output_alone)
{
    int64_t cents = 42;
    ck_assert_int_eq(money_parse(NULL, 0, &cents), -1);
    ck_assert_int_eq(cents, 42);
}
END_TEST

START_TEST(test_format_then_parse_round_trips)
{
    static const int64_t values[] = {0,   1,   9,     10,       99,
                                     100, 101, 20000, 12345678, INT64_C(100000000000000000)};
    char out[MONEY_STR_LEN];
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        size_t n = money_format(values[i], out);
        int64_t back = -1;
        ck_assert_msg(money_parse(out, n, &back) == 0, "rejected: %s", out);
        ck_assert_int_eq(back, values[i]);
    }
}
END_TEST

START_TEST(test_currency_valid_is_three_capital_letters)
{
    ck_assert(money_currency_valid("BRL", 3));
    ck_assert(money_currency_valid("USD", 3));
    ck_assert(!money_currency_valid("BR", 2));
    ck_assert(!money_currency_valid("BRLX", 4));
    ck_assert(!money_currency_valid("brl", 3));
    ck_assert(!money_currency_valid("B1L", 3));
    ck_assert(!money_currency_valid("B\0L", 3));
    ck_assert(!money_currency_valid("", 0));
    /* only len bytes are read */
    ck_assert(money_currency_valid("EURO", 3));
}
END_TEST

static Suite *money_suite(void)
{
    Suite *s = suite_create("money");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_format_whole_amount_has_two_decimals);
    tcase_add_test(tc, test_format_amount_below_one_unit);
    tcase_add_test(tc, test_format_negative_amounts);
    tcase_add_test(tc, test_format_int64_extremes);
    tcase_add_test(tc, test_parse_integer_units);
    tcase_add_test(tc, test_parse_one_decimal_is_tenths);
    tcase_add_test(tc, test_parse_two_decimals_are_cents);
    tcase_add_test(tc, test_parse_rejects_three_decimals);
    tcase_add_test(tc, test_parse_rejects_signs);
    tcase_add_test(tc, test_parse_rejects_exponents);
    tcase_add_test(tc, test_parse_rejects_empty_and_incomplete_numbers);
    tcase_add_test(tc, test_parse_rejects_spaces_separators_and_trailing_bytes);
    tcase_add_test(tc, test_parse_accepts_up_to_1e15_units);
    tcase_add_test(tc, test_parse_rejects_more_than_1e15_units);
    tcase_add_test(tc, test_parse_leading_zeros_keep_the_value);
    tcase_add_test(tc, test_parse_reads_only_len_bytes);
    tcase_add_test(tc, test_parse_rejects_embedded_nul);
    tcase_add_test(tc, test_parse_failure_leaves_output_alone);
    tcase_add_test(tc, test_format_then_parse_round_trips);
    tcase_add_test(tc, test_currency_valid_is_three_capital_letters);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(money_suite)
