#include <check.h>
#include <stdint.h>

#include "buf.h"

#include "check_main.h"

START_TEST(test_put_u64_writes_zero_as_one_digit)
{
    buf b;
    buf_init(&b);
    buf_put_u64(&b, 0);
    ck_assert_str_eq(buf_cstr(&b), "0");
    buf_free(&b);
}
END_TEST

START_TEST(test_put_u64_appends_decimal_digits_after_what_is_there)
{
    buf b;
    buf_init(&b);
    buf_puts(&b, "Content-Length: ");
    buf_put_u64(&b, 1234567);
    ck_assert_str_eq(buf_cstr(&b), "Content-Length: 1234567");
    ck_assert_uint_eq(b.len, 23);
    buf_free(&b);
}
END_TEST

START_TEST(test_put_u64_writes_the_largest_value_in_full)
{
    buf b;
    buf_init(&b);
    buf_put_u64(&b, UINT64_MAX);
    ck_assert_str_eq(buf_cstr(&b), "18446744073709551615");
    buf_free(&b);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("buf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_put_u64_writes_zero_as_one_digit);
    tcase_add_test(tc, test_put_u64_appends_decimal_digits_after_what_is_there);
    tcase_add_test(tc, test_put_u64_writes_the_largest_value_in_full);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(suite)
