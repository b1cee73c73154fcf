#include <check.h>
#include <stdint.h>
#include <string.h>

#include "appt_store.h"
#include "idem_expiry.h"
#include "timefmt.h"

#include "check_main.h"

#define DAY_MS INT64_C(86400000)
#define HOUR_MS INT64_C(3600000)

static int64_t at(const char *s)
{
    int64_t ms = -1;
    ck_assert_msg(timefmt_parse(s, strlen(s), &ms) == 0, "rejected: %s", s);
    return ms;
}

/* ---- which days a sweep deletes ---- */

START_TEST(test_days_end_the_day_before_now_minus_ttl)
{
    char days[3][BUCKET_DAY_LEN];
    /* now - 24 h is 2024-03-09T10:00Z: that day still holds fresh keys. */
    size_t n = idem_expiry_days(at("2024-03-10T10:00:00Z"), DAY_MS, 3, days);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(days[0], "2024-03-08");
    ck_assert_str_eq(days[1], "2024-03-07");
    ck_assert_str_eq(days[2], "2024-03-06");
}
END_TEST

START_TEST(test_a_day_is_swept_once_its_last_key_expired)
{
    char days[1][BUCKET_DAY_LEN];
    /* A key created at 2024-03-08T23:59:59.999Z expires at 2024-03-09T23:59:59.999Z
     * with a 24 h ttl: 2024-03-08 is swept from 2024-03-10T00:00Z on. */
    ck_assert_uint_eq(idem_expiry_days(at("2024-03-10T00:00:00Z"), DAY_MS, 1, days), 1);
    ck_assert_str_eq(days[0], "2024-03-08");
    ck_assert_uint_eq(idem_expiry_days(at("2024-03-09T23:59:59.999Z"), DAY_MS, 1, days), 1);
    ck_assert_str_eq(days[0], "2024-03-07");
}
END_TEST

START_TEST(test_a_short_ttl_sweeps_yesterday)
{
    char days[2][BUCKET_DAY_LEN];
    ck_assert_uint_eq(idem_expiry_days(at("2024-03-10T12:00:00Z"), 2000, 2, days), 2);
    ck_assert_str_eq(days[0], "2024-03-09");
    ck_assert_str_eq(days[1], "2024-03-08");
}
END_TEST

START_TEST(test_days_stop_at_1970)
{
    char days[10][BUCKET_DAY_LEN];
    ck_assert_uint_eq(idem_expiry_days(3 * DAY_MS + HOUR_MS, 0, 10, days), 3);
    ck_assert_str_eq(days[0], "1970-01-03");
    ck_assert_str_eq(days[2], "1970-01-01");
    ck_assert_uint_eq(idem_expiry_days(DAY_MS - 1, 0, 10, days), 0);
    ck_assert_uint_eq(idem_expiry_days(5 * DAY_MS, 10 * DAY_MS, 10, days), 0);
}
END_TEST

START_TEST(test_back_zero_days_is_nothing)
{
    char days[1][BUCKET_DAY_LEN];
    ck_assert_uint_eq(idem_expiry_days(at("2024-03-10T12:00:00Z"), DAY_MS, 0, days), 0);
}
END_TEST

/* ---- how far back a sweep reaches ---- */

START_TEST(test_first_sweep_catches_up)
{
    ck_assert_uint_eq(idem_expiry_back(at("2024-03-10T12:00:00Z"), 0), IDEM_EXPIRY_CATCH_UP_DAYS);
}
END_TEST

START_TEST(test_a_sweep_after_a_recent_one_reaches_two_days)
{
    int64_t now = at("2024-03-10T12:00:00Z");
    ck_assert_uint_eq(idem_expiry_back(now, now - IDEM_EXPIRY_INTERVAL_MS), 2);
}
END_TEST

START_TEST(test_a_sweep_after_an_outage_reaches_back_to_the_last_success)
{
    int64_t now = at("2024-03-10T12:00:00Z");
    ck_assert_uint_eq(idem_expiry_back(now, now - 3 * DAY_MS - HOUR_MS), 5);
    ck_assert_uint_eq(idem_expiry_back(now, now - 1000 * DAY_MS), IDEM_EXPIRY_CATCH_UP_DAYS);
    /* A clock set back: catch up rather than trust it. */
    ck_assert_uint_eq(idem_expiry_back(now, now + DAY_MS), IDEM_EXPIRY_CATCH_UP_DAYS);
}
END_TEST

/* ---- when a key has expired ---- */

START_TEST(test_a_key_expires_at_its_ttl)
{
    int64_t created = at("2024-03-10T12:00:00Z");
    ck_assert(!appt_store_idem_expired(created, created, DAY_MS));
    ck_assert(!appt_store_idem_expired(created, created + DAY_MS - 1, DAY_MS));
    ck_assert(appt_store_idem_expired(created, created + DAY_MS, DAY_MS));
    ck_assert(appt_store_idem_expired(created, created + 400 * DAY_MS, DAY_MS));
}
END_TEST

START_TEST(test_a_key_from_the_future_has_not_expired)
{
    int64_t now = at("2024-03-10T12:00:00Z");
    ck_assert(!appt_store_idem_expired(now + HOUR_MS, now, 2000));
}
END_TEST

static Suite *idem_expiry_suite(void)
{
    Suite *s = suite_create("idem_expiry");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_days_end_the_day_before_now_minus_ttl);
    tcase_add_test(tc, test_a_day_is_swept_once_its_last_key_expired);
    tcase_add_test(tc, test_a_short_ttl_sweeps_yesterday);
    tcase_add_test(tc, test_days_stop_at_1970);
    tcase_add_test(tc, test_back_zero_days_is_nothing);
    tcase_add_test(tc, test_first_sweep_catches_up);
    tcase_add_test(tc, test_a_sweep_after_a_recent_one_reaches_two_days);
    tcase_add_test(tc, test_a_sweep_after_an_outage_reaches_back_to_the_last_success);
    tcase_add_test(tc, test_a_key_expires_at_its_ttl);
    tcase_add_test(tc, test_a_key_from_the_future_has_not_expired);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(idem_expiry_suite)
