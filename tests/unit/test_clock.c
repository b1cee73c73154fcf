#include <check.h>
#include <stdint.h>
#include <time.h>

#include "clock.h"

#include "check_main.h"

/* The wall clock in ms, read apart from clock.c. Not time(): glibc serves it
 * from the coarse clock, which can still show the previous second when the
 * precise one has passed it (a CI run saw now == after). */
static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

START_TEST(test_now_ms_matches_wall_clock)
{
    int64_t before = wall_ms();
    int64_t now = clock_now_ms();
    int64_t after = wall_ms() + 1;
    ck_assert_int_ge(now, before);
    ck_assert_int_lt(now, after);
}
END_TEST

START_TEST(test_mono_ms_never_goes_backwards)
{
    int64_t prev = clock_mono_ms();
    for (int i = 0; i < 1000; i++) {
        int64_t now = clock_mono_ms();
        ck_assert_int_ge(now, prev);
        prev = now;
    }
}
END_TEST

START_TEST(test_mono_us_agrees_with_mono_ms)
{
    int64_t ms = clock_mono_ms();
    int64_t us = clock_mono_us();
    ck_assert_int_ge(us / 1000, ms);
    ck_assert_int_lt(us / 1000, ms + 1000);
}
END_TEST

static Suite *clock_suite(void)
{
    Suite *s = suite_create("clock");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_now_ms_matches_wall_clock);
    tcase_add_test(tc, test_mono_ms_never_goes_backwards);
    tcase_add_test(tc, test_mono_us_agrees_with_mono_ms);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(clock_suite)
