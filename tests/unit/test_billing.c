#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "billing.h"
#include "timefmt.h"

#include "check_main.h"

#define PRICE 20000 /* R$ 200.00 per hour */
#define SECOND_MS INT64_C(1000)
#define MINUTE_MS (60 * SECOND_MS)
#define HOUR_MS (60 * MINUTE_MS)
#define DAY_MS (24 * HOUR_MS)

/* Builds an instant from its RFC 3339 text, failing the test if it is invalid. */
static int64_t at(const char *s)
{
    int64_t ms = -1;
    ck_assert_msg(timefmt_parse(s, strlen(s), &ms) == 0, "rejected: %s", s);
    return ms;
}

/* Bills a consultation that lasted `duration` ms and returns the hours. */
static int64_t hours_for(int64_t duration)
{
    int64_t start = at("2024-01-31T10:00:00Z");
    billing_amount a;
    ck_assert_int_eq(billing_compute(start, start + duration, PRICE, &a), 0);
    ck_assert_int_eq(a.total_cents, a.hours * PRICE);
    return a.hours;
}

/* Bills a consultation between two RFC 3339 instants and returns the hours. */
static int64_t hours_between(const char *start, const char *end)
{
    billing_amount a;
    ck_assert_int_eq(billing_compute(at(start), at(end), PRICE, &a), 0);
    ck_assert_int_eq(a.total_cents, a.hours * PRICE);
    return a.hours;
}

START_TEST(test_hours_minimum_one_for_zero_duration)
{
    ck_assert_int_eq(hours_for(0), 1);
}
END_TEST

START_TEST(test_hours_one_for_one_second)
{
    ck_assert_int_eq(hours_for(SECOND_MS), 1);
}
END_TEST

START_TEST(test_hours_one_for_59_minutes_59_seconds)
{
    ck_assert_int_eq(hours_for(59 * MINUTE_MS + 59 * SECOND_MS), 1);
}
END_TEST

START_TEST(test_hours_one_for_exactly_one_hour)
{
    ck_assert_int_eq(hours_for(HOUR_MS), 1);
}
END_TEST

START_TEST(test_hours_round_up_after_one_second)
{
    ck_assert_int_eq(hours_for(HOUR_MS + SECOND_MS), 2);
}
END_TEST

START_TEST(test_hours_round_up_after_one_millisecond)
{
    ck_assert_int_eq(hours_for(HOUR_MS + 1), 2);
}
END_TEST

START_TEST(test_hours_25_for_25_hours)
{
    ck_assert_int_eq(hours_for(25 * HOUR_MS), 25);
    ck_assert_int_eq(hours_for(25 * HOUR_MS + 1), 26);
}
END_TEST

START_TEST(test_hours_across_month_end)
{
    ck_assert_int_eq(hours_between("2024-01-31T23:30:00Z", "2024-02-01T01:00:00Z"), 2);
    ck_assert_int_eq(hours_between("2024-04-30T23:00:00Z", "2024-05-01T00:00:00Z"), 1);
    ck_assert_int_eq(hours_between("2024-04-30T23:00:00Z", "2024-05-01T00:00:01Z"), 2);
}
END_TEST

START_TEST(test_hours_across_year_end)
{
    ck_assert_int_eq(hours_between("2023-12-31T23:00:00Z", "2024-01-01T02:00:00Z"), 3);
    ck_assert_int_eq(hours_between("2023-12-31T23:59:59Z", "2024-01-01T00:00:01Z"), 1);
}
END_TEST

START_TEST(test_hours_across_february_29)
{
    /* 28 Feb 23:00 to 1 Mar 00:00 is 25 h in a leap year and 1 h otherwise. */
    ck_assert_int_eq(hours_between("2024-02-28T23:00:00Z", "2024-03-01T00:00:00Z"), 25);
    ck_assert_int_eq(hours_between("2023-02-28T23:00:00Z", "2023-03-01T00:00:00Z"), 1);
    ck_assert_int_eq(hours_between("2100-02-28T23:00:00Z", "2100-03-01T00:00:00Z"), 1);
    ck_assert_int_eq(hours_between("2000-02-28T23:00:00Z", "2000-03-01T00:00:00Z"), 25);
}
END_TEST

START_TEST(test_hours_with_offsets_count_real_elapsed_time)
{
    /* 10:00 at -03:00 is 13:00 UTC: one hour later is 14:00Z. */
    ck_assert_int_eq(hours_between("2024-01-31T10:00:00-03:00", "2024-01-31T14:00:00Z"), 1);
    ck_assert_int_eq(hours_between("2024-01-31T10:00:00-03:00", "2024-01-31T14:00:00.001Z"), 2);
}
END_TEST

START_TEST(test_thirty_days_without_overflow)
{
    billing_amount a;
    int64_t start = at("2024-02-15T09:00:00Z");
    ck_assert_int_eq(billing_compute(start, start + 30 * DAY_MS, PRICE, &a), 0);
    ck_assert_int_eq(a.hours, 720);
    ck_assert_int_eq(a.total_cents, INT64_C(14400000));
}
END_TEST

START_TEST(test_total_is_hours_times_hourly_price)
{
    billing_amount a;
    int64_t start = at("2024-01-31T10:00:00Z");
    ck_assert_int_eq(billing_compute(start, start + 90 * MINUTE_MS, 12345, &a), 0);
    ck_assert_int_eq(a.hours, 2);
    ck_assert_int_eq(a.total_cents, 24690);
}
END_TEST

START_TEST(test_zero_price_bills_hours_at_zero)
{
    billing_amount a;
    ck_assert_int_eq(billing_compute(0, 3 * HOUR_MS, 0, &a), 0);
    ck_assert_int_eq(a.hours, 3);
    ck_assert_int_eq(a.total_cents, 0);
}
END_TEST

START_TEST(test_end_before_start_rejected)
{
    billing_amount a = {.hours = 42, .total_cents = 42};
    int64_t start = at("2024-01-31T10:00:00Z");
    ck_assert_int_eq(billing_compute(start, start - 1, PRICE, &a), -1);
    ck_assert_int_eq(a.hours, 42);
    ck_assert_int_eq(a.total_cents, 42);
}
END_TEST

START_TEST(test_negative_price_rejected)
{
    billing_amount a = {.hours = 42, .total_cents = 42};
    ck_assert_int_eq(billing_compute(0, HOUR_MS, -1, &a), -1);
    ck_assert_int_eq(a.hours, 42);
    ck_assert_int_eq(a.total_cents, 42);
}
END_TEST

START_TEST(test_total_overflow_rejected)
{
    billing_amount a = {.hours = 42, .total_cents = 42};
    ck_assert_int_eq(billing_compute(0, HOUR_MS + 1, INT64_MAX, &a), -1);
    ck_assert_int_eq(billing_compute(0, 30 * DAY_MS, INT64_MAX / 100, &a), -1);
    ck_assert_int_eq(a.hours, 42);
    ck_assert_int_eq(a.total_cents, 42);
}
END_TEST

START_TEST(test_largest_total_that_fits_is_accepted)
{
    billing_amount a;
    ck_assert_int_eq(billing_compute(0, HOUR_MS, INT64_MAX, &a), 0);
    ck_assert_int_eq(a.hours, 1);
    ck_assert_int_eq(a.total_cents, INT64_MAX);
}
END_TEST

START_TEST(test_full_int64_span_does_not_overflow_the_duration)
{
    billing_amount a;
    /* end - start is 2^64 - 1 ms: too big for int64, fine as a count of hours. */
    ck_assert_int_eq(billing_compute(INT64_MIN, INT64_MAX, 0, &a), 0);
    ck_assert_int_eq(a.hours, (int64_t)(UINT64_MAX / 3600000 + 1));
    ck_assert_int_eq(a.total_cents, 0);
    ck_assert_int_eq(billing_compute(INT64_MIN, INT64_MAX, PRICE, &a), 0);
    ck_assert_int_eq(a.total_cents, a.hours * PRICE);
    ck_assert_int_eq(billing_compute(INT64_MIN, INT64_MAX, 10000000, &a), -1);
}
END_TEST

/* ---- billing_from_event: one message's billing, or why it has none ---- */

#define EV_APPT "0190A000-0000-7000-8000-000000000001"
#define EV_DOC "11111111-1111-4111-8111-111111111111"
#define EV_PAT "22222222-2222-4222-8222-222222222222"
#define EV_BODY(start, end, price)                                                                 \
    "{\"appointment_id\":\"" EV_APPT "\",\"physician_id\":\"" EV_DOC "\",\"patient_id\":\"" EV_PAT \
    "\",\"start_date\":\"" start "\",\"end_date\":\"" end "\",\"hourly_price_cents\":" price       \
    ",\"currency\":\"BRL\"}"
#define CE_ID "7E3C1A2B-0000-4000-8000-00000000000A"

/* billing_from_event on a string body; returns its result, reason in why. */
static int from_event(const char *body, const char *type, const char *id, billing *b, char *why)
{
    memset(why, 0, 256);
    return billing_from_event(body, body ? strlen(body) : 0, type, id, 1234, b, why, 256);
}

START_TEST(test_event_makes_its_billing)
{
    billing b;
    char why[256];
    ck_assert_int_eq(from_event(EV_BODY("2024-05-01T10:00:00Z", "2024-05-01T11:30:00Z", "20000"),
                                EVENT_TYPE, CE_ID, &b, why),
                     0);
    ck_assert_str_eq(b.event.appointment_id, "0190a000-0000-7000-8000-000000000001");
    ck_assert_str_eq(b.event.physician_id, EV_DOC);
    ck_assert_str_eq(b.event.patient_id, EV_PAT);
    ck_assert_int_eq(b.event.start_ms, at("2024-05-01T10:00:00Z"));
    ck_assert_int_eq(b.event.end_ms, at("2024-05-01T11:30:00Z"));
    ck_assert_int_eq(b.billed_hours, 2);
    ck_assert_int_eq(b.event.hourly_price_cents, 20000);
    ck_assert_int_eq(b.total_cents, 40000);
    ck_assert_str_eq(b.event.currency, "BRL");
    ck_assert_str_eq(b.event_id, "7e3c1a2b-0000-4000-8000-00000000000a");
    ck_assert_int_eq(b.created_ms, 1234);
}
END_TEST

START_TEST(test_event_without_headers_is_billed_without_event_id)
{
    billing b;
    char why[256];
    const char *body = EV_BODY("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z", "20000");
    ck_assert_int_eq(from_event(body, NULL, NULL, &b, why), 0);
    ck_assert_int_eq(b.total_cents, 20000);
    ck_assert_str_eq(b.event_id, "");
    ck_assert_int_eq(from_event(body, EVENT_TYPE, "not-a-uuid", &b, why), 0);
    ck_assert_str_eq(b.event_id, "");
}
END_TEST

START_TEST(test_unbillable_messages_name_their_field)
{
    billing b;
    char why[256];
    const char *ok = EV_BODY("2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "20000");
    ck_assert_int_eq(from_event(NULL, EVENT_TYPE, CE_ID, &b, why), -1);
    ck_assert_str_eq(why, "body: empty");
    ck_assert_int_eq(from_event("", EVENT_TYPE, CE_ID, &b, why), -1);
    ck_assert_str_eq(why, "body: empty");
    ck_assert_int_eq(from_event(ok, "clinic.other.v1", CE_ID, &b, why), -1);
    ck_assert_str_eq(why, "ce_type: expected " EVENT_TYPE);
    ck_assert_int_eq(from_event(EV_BODY("2024-05-01T11:00:00Z", "2024-05-01T10:00:00Z", "20000"),
                                NULL, NULL, &b, why),
                     -1);
    ck_assert_msg(strncmp(why, "end_date", 8) == 0, "reason: %s", why);
    /* The event's own limits keep every valid total inside int64: the
     * largest price over the longest span still fits. */
    ck_assert_int_eq(
        from_event(EV_BODY("1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "100000000000"), NULL,
                   NULL, &b, why),
        0);
    ck_assert_int_eq(b.total_cents, b.billed_hours * INT64_C(100000000000));
    ck_assert_int_eq(
        from_event(EV_BODY("2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z", "100000000001"), NULL,
                   NULL, &b, why),
        -1);
    ck_assert_msg(strncmp(why, "hourly_price_cents", 18) == 0, "reason: %s", why);
    ck_assert_int_eq(from_event("{\"appointment_id\":1}", NULL, NULL, &b, why), -1);
    ck_assert_msg(strncmp(why, "appointment_id", 14) == 0, "reason: %s", why);
}
END_TEST

START_TEST(test_length_up_to_the_maximum_is_billable_one_ms_more_is_too_long)
{
    const int64_t day = INT64_C(24) * 3600000;
    billing b;
    memset(&b, 0, sizeof b);
    b.event.start_ms = INT64_C(1714573800000);
    b.event.end_ms = b.event.start_ms + day;
    char why[256] = "";
    ck_assert_int_eq(billing_check_length(&b, day, why, sizeof why), 0);
    b.event.end_ms++;
    ck_assert_int_eq(billing_check_length(&b, day, why, sizeof why), -1);
    ck_assert_str_eq(why, "too_long: end_date is 24 hours after start_date, more than "
                          "MAX_CONSULTATION_HOURS (24)");
    /* A consultation started in 1971 and finished in 2026: never billed. */
    b.event.start_ms = INT64_C(31536000000);
    b.event.end_ms = INT64_C(1796000000000);
    ck_assert_int_eq(billing_check_length(&b, day, why, sizeof why), -1);
    ck_assert_int_eq(strncmp(why, "too_long: end_date is 490", 25), 0);
}
END_TEST

START_TEST(test_only_our_type_and_source_are_ours)
{
    const char *src = "/clinic-events/appointment";
    char why[256] = "";
    ck_assert_int_eq(billing_check_origin(EVENT_TYPE, src, src, why, sizeof why), 0);
    ck_assert_int_eq(billing_check_origin(NULL, src, src, why, sizeof why), -1);
    ck_assert_str_eq(why, "ce_type: missing, expected " EVENT_TYPE " (not ours)");
    ck_assert_int_eq(
        billing_check_origin("clinic.appointment.cancelled.v1", src, src, why, sizeof why), -1);
    ck_assert_int_eq(strncmp(why, "ce_type: another type", 21), 0);
    ck_assert_int_eq(billing_check_origin(EVENT_TYPE, NULL, src, why, sizeof why), -1);
    ck_assert_str_eq(why, "ce_source: missing, expected /clinic-events/appointment (not ours)");
    ck_assert_int_eq(billing_check_origin(EVENT_TYPE, "/intruder", src, why, sizeof why), -1);
    ck_assert_int_eq(strncmp(why, "ce_source: another producer", 27), 0);
    /* Exact match: no prefix, no case folding. */
    ck_assert_int_eq(
        billing_check_origin(EVENT_TYPE, "/clinic-events/appointmentX", src, why, sizeof why), -1);
    ck_assert_int_eq(
        billing_check_origin("CLINIC.APPOINTMENT.FINISHED.V1", src, src, why, sizeof why), -1);
}
END_TEST

static Suite *billing_suite(void)
{
    Suite *s = suite_create("billing");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_hours_minimum_one_for_zero_duration);
    tcase_add_test(tc, test_only_our_type_and_source_are_ours);
    tcase_add_test(tc, test_length_up_to_the_maximum_is_billable_one_ms_more_is_too_long);
    tcase_add_test(tc, test_hours_one_for_one_second);
    tcase_add_test(tc, test_hours_one_for_59_minutes_59_seconds);
    tcase_add_test(tc, test_hours_one_for_exactly_one_hour);
    tcase_add_test(tc, test_hours_round_up_after_one_second);
    tcase_add_test(tc, test_hours_round_up_after_one_millisecond);
    tcase_add_test(tc, test_hours_25_for_25_hours);
    tcase_add_test(tc, test_hours_across_month_end);
    tcase_add_test(tc, test_hours_across_year_end);
    tcase_add_test(tc, test_hours_across_february_29);
    tcase_add_test(tc, test_hours_with_offsets_count_real_elapsed_time);
    tcase_add_test(tc, test_thirty_days_without_overflow);
    tcase_add_test(tc, test_total_is_hours_times_hourly_price);
    tcase_add_test(tc, test_zero_price_bills_hours_at_zero);
    tcase_add_test(tc, test_end_before_start_rejected);
    tcase_add_test(tc, test_negative_price_rejected);
    tcase_add_test(tc, test_total_overflow_rejected);
    tcase_add_test(tc, test_largest_total_that_fits_is_accepted);
    tcase_add_test(tc, test_full_int64_span_does_not_overflow_the_duration);
    tcase_add_test(tc, test_event_makes_its_billing);
    tcase_add_test(tc, test_event_without_headers_is_billed_without_event_id);
    tcase_add_test(tc, test_unbillable_messages_name_their_field);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(billing_suite)
