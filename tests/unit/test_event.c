#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "event.h"

#include "check_main.h"

#define APPT "0191d2f4-8e3b-7c1a-9f00-1234567890ab"
#define PHYS "7d3f1c2e-4b5a-4c6d-8e9f-0a1b2c3d4e5f"
#define PAT "c9e8d7f6-a5b4-4c3d-9e2f-1a0b9c8d7e6f"
#define START_MS INT64_C(1706695200000) /* 2024-01-31T10:00:00Z */
#define END_MS INT64_C(1706700600250)   /* 2024-01-31T11:30:00.250Z */

static const char fixed_json[] =
    "{\"appointment_id\":\"" APPT "\",\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT "\","
    "\"start_date\":\"2024-01-31T10:00:00Z\",\"end_date\":\"2024-01-31T11:30:00.250Z\","
    "\"hourly_price_cents\":20000,\"currency\":\"BRL\"}";

static event_finished fixed_event(void)
{
    event_finished ev;
    memset(&ev, 0, sizeof ev);
    strcpy(ev.appointment_id, APPT);
    strcpy(ev.physician_id, PHYS);
    strcpy(ev.patient_id, PAT);
    ev.start_ms = START_MS;
    ev.end_ms = END_MS;
    ev.hourly_price_cents = 20000;
    strcpy(ev.currency, "BRL");
    return ev;
}

/* The fields of a valid body, as raw JSON values. */
static const char *const fields[][2] = {
    {"appointment_id", "\"" APPT "\""},
    {"physician_id", "\"" PHYS "\""},
    {"patient_id", "\"" PAT "\""},
    {"start_date", "\"2024-01-31T10:00:00Z\""},
    {"end_date", "\"2024-01-31T11:30:00.250Z\""},
    {"hourly_price_cents", "20000"},
    {"currency", "\"BRL\""},
};

/* Writes a valid body into b, without `skip` and with `field` set to the raw
 * JSON `value` (either may be NULL). */
static void body(buf *b, const char *skip, const char *field, const char *value)
{
    buf_reset(b);
    buf_putc(b, '{');
    bool first = true;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (skip && strcmp(skip, fields[i][0]) == 0)
            continue;
        buf_printf(b, "%s\"%s\":%s", first ? "" : ",", fields[i][0],
                   field && strcmp(field, fields[i][0]) == 0 ? value : fields[i][1]);
        first = false;
    }
    buf_putc(b, '}');
}

/* Decodes data, expecting failure with exactly `want` as the reason and the
 * event left untouched. */
static void assert_rejected_str(const char *data, size_t len, const char *want)
{
    event_finished ev, before;
    memset(&ev, 0x5a, sizeof ev);
    before = ev;
    char reason[256] = "";
    ck_assert_int_eq(event_decode(data, len, &ev, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, want);
    ck_assert_int_eq(memcmp(&ev, &before, sizeof ev), 0);
}

/* Decodes a body with `field` set to the raw JSON `value` and expects `want`. */
static void assert_field_rejected(const char *field, const char *value, const char *want)
{
    buf b;
    buf_init(&b);
    body(&b, NULL, field, value);
    assert_rejected_str(b.ptr, b.len, want);
    buf_free(&b);
}

/* Decodes a body with `field` set to the raw JSON `value`; it must succeed. */
static event_finished decode_with(const char *field, const char *value)
{
    buf b;
    buf_init(&b);
    body(&b, NULL, field, value);
    event_finished ev;
    char reason[256] = "";
    ck_assert_msg(event_decode(b.ptr, b.len, &ev, reason, sizeof reason) == 0, "%s: %s", b.ptr,
                  reason);
    buf_free(&b);
    return ev;
}

/* ---- encoding ---- */

START_TEST(test_encode_writes_exact_bytes)
{
    event_finished ev = fixed_event();
    buf b;
    buf_init(&b);
    event_encode(&ev, &b);
    ck_assert_str_eq(buf_cstr(&b), fixed_json);
    ck_assert_uint_eq(b.len, strlen(fixed_json));
    buf_free(&b);
}
END_TEST

START_TEST(test_encode_appends_to_existing_content)
{
    event_finished ev = fixed_event();
    buf b;
    buf_init(&b);
    buf_puts(&b, "value=");
    event_encode(&ev, &b);
    ck_assert_int_eq(strncmp(buf_cstr(&b), "value={\"appointment_id\"", 23), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_encode_then_decode_round_trips)
{
    event_finished ev = fixed_event(), back;
    memset(&back, 0, sizeof back);
    buf b;
    buf_init(&b);
    event_encode(&ev, &b);
    char reason[128] = "";
    ck_assert_msg(event_decode(b.ptr, b.len, &back, reason, sizeof reason) == 0, "%s", reason);
    ck_assert_int_eq(memcmp(&ev, &back, sizeof ev), 0);
    buf_free(&b);
}
END_TEST

START_TEST(test_encode_then_decode_round_trips_whole_seconds_and_zero_price)
{
    event_finished ev = fixed_event(), back;
    ev.end_ms = ev.start_ms; /* zero duration is a valid event */
    ev.hourly_price_cents = 0;
    buf b;
    buf_init(&b);
    event_encode(&ev, &b);
    char reason[128] = "";
    ck_assert_msg(event_decode(b.ptr, b.len, &back, reason, sizeof reason) == 0, "%s", reason);
    ck_assert_int_eq(back.start_ms, ev.start_ms);
    ck_assert_int_eq(back.end_ms, ev.end_ms);
    ck_assert_int_eq(back.hourly_price_cents, 0);
    buf_free(&b);
}
END_TEST

/* ---- decoding ---- */

START_TEST(test_decode_reads_every_field)
{
    event_finished ev;
    char reason[128] = "";
    ck_assert_int_eq(event_decode(fixed_json, strlen(fixed_json), &ev, reason, sizeof reason), 0);
    ck_assert_str_eq(ev.appointment_id, APPT);
    ck_assert_str_eq(ev.physician_id, PHYS);
    ck_assert_str_eq(ev.patient_id, PAT);
    ck_assert_int_eq(ev.start_ms, START_MS);
    ck_assert_int_eq(ev.end_ms, END_MS);
    ck_assert_int_eq(ev.hourly_price_cents, 20000);
    ck_assert_str_eq(ev.currency, "BRL");
}
END_TEST

START_TEST(test_decode_normalises_uppercase_uuids)
{
    event_finished ev = decode_with("appointment_id", "\"0191D2F4-8E3B-7C1A-9F00-1234567890AB\"");
    ck_assert_str_eq(ev.appointment_id, APPT);
    ev = decode_with("physician_id", "\"7D3F1C2E-4B5A-4C6D-8E9F-0A1B2C3D4E5F\"");
    ck_assert_str_eq(ev.physician_id, PHYS);
    ev = decode_with("patient_id", "\"C9E8D7F6-A5B4-4C3D-9E2F-1A0B9C8D7E6F\"");
    ck_assert_str_eq(ev.patient_id, PAT);
}
END_TEST

START_TEST(test_decode_converts_offsets_to_utc)
{
    event_finished ev = decode_with("start_date", "\"2024-01-31T07:00:00-03:00\"");
    ck_assert_int_eq(ev.start_ms, START_MS);
}
END_TEST

START_TEST(test_decode_ignores_unknown_fields)
{
    const char *data = "{\"schema_version\":2,\"notes\":{\"a\":[1,2]},\"appointment_id\":\"" APPT
                       "\",\"physician_id\":\"" PHYS "\",\"patient_id\":\"" PAT "\","
                       "\"start_date\":\"2024-01-31T10:00:00Z\",\"end_date\":\"2024-01-31T11:30:"
                       "00.250Z\",\"hourly_price_cents\":20000,\"currency\":\"BRL\",\"x\":null}";
    event_finished ev;
    char reason[128] = "";
    ck_assert_msg(event_decode(data, strlen(data), &ev, reason, sizeof reason) == 0, "%s", reason);
    ck_assert_str_eq(ev.appointment_id, APPT);
}
END_TEST

START_TEST(test_decode_accepts_integral_double_price)
{
    ck_assert_int_eq(decode_with("hourly_price_cents", "20000.0").hourly_price_cents, 20000);
}
END_TEST

START_TEST(test_decode_rejects_malformed_json)
{
    const char *data = "{\"appointment_id\":";
    event_finished ev;
    char reason[256] = "";
    ck_assert_int_eq(event_decode(data, strlen(data), &ev, reason, sizeof reason), -1);
    ck_assert_msg(strncmp(reason, "body: malformed JSON: ", 22) == 0, "reason: %s", reason);
}
END_TEST

START_TEST(test_decode_rejects_non_object)
{
    assert_rejected_str("[1,2]", 5, "body: the body must be a JSON object");
    assert_rejected_str("\"x\"", 3, "body: the body must be a JSON object");
}
END_TEST

START_TEST(test_decode_rejects_invalid_utf8)
{
    const char *data = "{\"currency\":\"\xff\"}";
    assert_rejected_str(data, strlen(data), "body: the body is not valid UTF-8");
}
END_TEST

START_TEST(test_decode_rejects_empty_body_as_missing_appointment_id)
{
    assert_rejected_str("", 0, "appointment_id: missing");
    assert_rejected_str("{}", 2, "appointment_id: missing");
}
END_TEST

START_TEST(test_decode_rejects_each_missing_field)
{
    buf b;
    buf_init(&b);
    char want[64];
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        body(&b, fields[i][0], NULL, NULL);
        snprintf(want, sizeof want, "%s: missing", fields[i][0]);
        assert_rejected_str(b.ptr, b.len, want);
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_decode_rejects_each_null_field_as_missing)
{
    buf b;
    buf_init(&b);
    char want[64];
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        body(&b, NULL, fields[i][0], "null");
        snprintf(want, sizeof want, "%s: missing", fields[i][0]);
        assert_rejected_str(b.ptr, b.len, want);
    }
    buf_free(&b);
}
END_TEST

START_TEST(test_decode_rejects_uuid_that_is_not_a_string)
{
    assert_field_rejected("appointment_id", "42", "appointment_id: not a string");
    assert_field_rejected("physician_id", "{\"$gt\":\"\"}", "physician_id: not a string");
    assert_field_rejected("patient_id", "[\"" PAT "\"]", "patient_id: not a string");
}
END_TEST

START_TEST(test_decode_rejects_invalid_uuids)
{
    assert_field_rejected("appointment_id", "\"not-a-uuid\"", "appointment_id: not a UUID");
    assert_field_rejected("physician_id", "\"7d3f1c2e4b5a4c6d8e9f0a1b2c3d4e5f\"",
                          "physician_id: not a UUID");
    assert_field_rejected("patient_id", "\"{c9e8d7f6-a5b4-4c3d-9e2f-1a0b9c8d7e6f}\"",
                          "patient_id: not a UUID");
    assert_field_rejected("patient_id", "\"c9e8d7f6-a5b4-4c3d-9e2f-1a0b9c8d7e6f \"",
                          "patient_id: not a UUID");
}
END_TEST

START_TEST(test_decode_rejects_invalid_start_date)
{
    const char *want = "start_date: not an RFC 3339 date-time";
    assert_field_rejected("start_date", "\"2024-02-30T10:00:00Z\"", want);
    assert_field_rejected("start_date", "\"2024-01-31T10:00:00\"", want);
    assert_field_rejected("start_date", "\"yesterday\"", want);
    assert_field_rejected("start_date", "\"\"", want);
    assert_field_rejected("start_date", "1706695200000", "start_date: not a string");
}
END_TEST

START_TEST(test_decode_rejects_invalid_end_date)
{
    const char *want = "end_date: not an RFC 3339 date-time";
    assert_field_rejected("end_date", "\"2023-02-29T10:00:00Z\"", want);
    assert_field_rejected("end_date", "\"2024-01-31T24:00:00Z\"", want);
    assert_field_rejected("end_date", "{\"$date\":\"2024-01-31T11:00:00Z\"}",
                          "end_date: not a string");
}
END_TEST

START_TEST(test_decode_rejects_python_space_form_dates)
{
    /* timefmt accepts it for the HTTP API; the event schema does not. */
    assert_field_rejected("start_date", "\"2024-01-31 10:00:00\"",
                          "start_date: not an RFC 3339 date-time");
}
END_TEST

START_TEST(test_decode_rejects_end_before_start)
{
    assert_field_rejected("end_date", "\"2024-01-31T09:59:59.999Z\"",
                          "end_date: before start_date");
}
END_TEST

START_TEST(test_decode_rejects_price_that_is_not_an_integer)
{
    const char *want = "hourly_price_cents: not an integer";
    assert_field_rejected("hourly_price_cents", "200.5", want);
    assert_field_rejected("hourly_price_cents", "\"20000\"", want);
    assert_field_rejected("hourly_price_cents", "true", want);
    assert_field_rejected("hourly_price_cents", "1e300", want);
    /* MongoDB extended JSON is an object here like any other, not an int64 */
    assert_field_rejected("hourly_price_cents", "{\"$numberLong\":\"20000\"}", want);
    assert_field_rejected("hourly_price_cents", "{\"$numberInt\":\"20000\"}", want);
}
END_TEST

START_TEST(test_decode_rejects_extended_json_wrappers_naming_the_field)
{
    assert_field_rejected("appointment_id", "{\"$oid\":\"65b9f1d2a1b2c3d4e5f60718\"}",
                          "appointment_id: not a string");
    assert_field_rejected("physician_id", "{\"$numberLong\":\"1\"}", "physician_id: not a string");
    assert_field_rejected("start_date", "{\"$date\":{\"$numberLong\":\"1706695200000\"}}",
                          "start_date: not a string");
    assert_field_rejected("currency", "{\"$symbol\":\"BRL\"}", "currency: not a string");
}
END_TEST

/* Which of two values would a consumer bill? Neither: the message is dead-lettered. */
START_TEST(test_decode_rejects_duplicate_key_naming_it)
{
    buf b;
    buf_init(&b);
    body(&b, NULL, NULL, NULL);
    b.len--; /* drop the closing brace, then give patient_id again */
    buf_puts(&b, ",\"patient_id\":\"" PHYS "\"}");
    assert_rejected_str(b.ptr, b.len, "patient_id: duplicate key");
    body(&b, NULL, "hourly_price_cents", "{\"cents\":1,\"cents\":2}");
    assert_rejected_str(b.ptr, b.len, "cents: duplicate key");
    buf_free(&b);
}
END_TEST

START_TEST(test_decode_rejects_nul_escape)
{
    assert_field_rejected("currency", "\"BR\\u0000\"",
                          "body: the body contains a NUL character (\\u0000)");
}
END_TEST

START_TEST(test_decode_rejects_price_above_the_maximum)
{
    assert_field_rejected("hourly_price_cents", "100000000001",
                          "hourly_price_cents: above the maximum");
    ck_assert_int_eq(decode_with("hourly_price_cents", "100000000000").hourly_price_cents,
                     100000000000);
}
END_TEST

START_TEST(test_decode_rejects_negative_price)
{
    assert_field_rejected("hourly_price_cents", "-1", "hourly_price_cents: negative");
}
END_TEST

START_TEST(test_decode_rejects_price_beyond_int64)
{
    buf b;
    buf_init(&b);
    body(&b, NULL, "hourly_price_cents", "99999999999999999999");
    event_finished ev;
    char reason[256] = "";
    ck_assert_int_eq(event_decode(b.ptr, b.len, &ev, reason, sizeof reason), -1);
    ck_assert_msg(strncmp(reason, "body: malformed JSON: ", 22) == 0, "reason: %s", reason);
    buf_free(&b);
}
END_TEST

START_TEST(test_decode_rejects_invalid_currency)
{
    const char *want = "currency: not a three-letter uppercase ISO 4217 code";
    assert_field_rejected("currency", "\"brl\"", want);
    assert_field_rejected("currency", "\"BR\"", want);
    assert_field_rejected("currency", "\"BRLX\"", want);
    assert_field_rejected("currency", "\"B1L\"", want);
    assert_field_rejected("currency", "\"\"", want);
    assert_field_rejected("currency", "986", "currency: not a string");
}
END_TEST

START_TEST(test_decode_truncates_reason_to_its_buffer)
{
    event_finished ev;
    char reason[8];
    ck_assert_int_eq(event_decode("{}", 2, &ev, reason, sizeof reason), -1);
    ck_assert_str_eq(reason, "appoint");
    ck_assert_int_eq(event_decode("{}", 2, &ev, NULL, 0), -1);
}
END_TEST

static Suite *event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_encode_writes_exact_bytes);
    tcase_add_test(tc, test_encode_appends_to_existing_content);
    tcase_add_test(tc, test_encode_then_decode_round_trips);
    tcase_add_test(tc, test_encode_then_decode_round_trips_whole_seconds_and_zero_price);
    tcase_add_test(tc, test_decode_reads_every_field);
    tcase_add_test(tc, test_decode_normalises_uppercase_uuids);
    tcase_add_test(tc, test_decode_converts_offsets_to_utc);
    tcase_add_test(tc, test_decode_ignores_unknown_fields);
    tcase_add_test(tc, test_decode_accepts_integral_double_price);
    tcase_add_test(tc, test_decode_rejects_malformed_json);
    tcase_add_test(tc, test_decode_rejects_non_object);
    tcase_add_test(tc, test_decode_rejects_invalid_utf8);
    tcase_add_test(tc, test_decode_rejects_empty_body_as_missing_appointment_id);
    tcase_add_test(tc, test_decode_rejects_each_missing_field);
    tcase_add_test(tc, test_decode_rejects_each_null_field_as_missing);
    tcase_add_test(tc, test_decode_rejects_uuid_that_is_not_a_string);
    tcase_add_test(tc, test_decode_rejects_invalid_uuids);
    tcase_add_test(tc, test_decode_rejects_invalid_start_date);
    tcase_add_test(tc, test_decode_rejects_invalid_end_date);
    tcase_add_test(tc, test_decode_rejects_python_space_form_dates);
    tcase_add_test(tc, test_decode_rejects_end_before_start);
    tcase_add_test(tc, test_decode_rejects_price_that_is_not_an_integer);
    tcase_add_test(tc, test_decode_rejects_negative_price);
    tcase_add_test(tc, test_decode_rejects_extended_json_wrappers_naming_the_field);
    tcase_add_test(tc, test_decode_rejects_duplicate_key_naming_it);
    tcase_add_test(tc, test_decode_rejects_nul_escape);
    tcase_add_test(tc, test_decode_rejects_price_above_the_maximum);
    tcase_add_test(tc, test_decode_rejects_price_beyond_int64);
    tcase_add_test(tc, test_decode_rejects_invalid_currency);
    tcase_add_test(tc, test_decode_truncates_reason_to_its_buffer);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(event_suite)
