/* When a billing the database refuses is given up on (financial/refusals.c),
 * and the small record that stands in for a message too large for the
 * dead-letter topic (dlq_too_large_record). */
#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dlq.h"
#include "mongo.h"
#include "refusals.h"

#include "check_main.h"

START_TEST(test_a_message_is_given_up_after_max_refusals_in_a_row)
{
    refusals r;
    refusals_init(&r, 3);
    ck_assert(!refusals_note(&r, 2, 40, false));
    ck_assert(!refusals_note(&r, 2, 40, false));
    ck_assert(refusals_note(&r, 2, 40, false));
}
END_TEST

START_TEST(test_a_permanent_refusal_is_given_up_at_once)
{
    refusals r;
    refusals_init(&r, 5);
    ck_assert(refusals_note(&r, 0, 7, true));
}
END_TEST

START_TEST(test_another_message_starts_its_own_count)
{
    refusals r;
    refusals_init(&r, 2);
    ck_assert(!refusals_note(&r, 1, 10, false));
    ck_assert(!refusals_note(&r, 1, 11, false)); /* another offset */
    ck_assert(!refusals_note(&r, 2, 11, false)); /* another partition */
    ck_assert(refusals_note(&r, 2, 11, false));
}
END_TEST

START_TEST(test_a_success_ends_the_count_of_that_message_only)
{
    refusals r;
    refusals_init(&r, 2);
    ck_assert(!refusals_note(&r, 1, 10, false));
    refusals_done(&r, 1, 9); /* another message: the count stays */
    ck_assert(refusals_note(&r, 1, 10, false));
    refusals_done(&r, 1, 10);
    ck_assert(!refusals_note(&r, 1, 10, false));
}
END_TEST

START_TEST(test_max_below_one_counts_as_one)
{
    refusals r;
    refusals_init(&r, 0);
    ck_assert_int_eq(r.max, 1);
    ck_assert(refusals_note(&r, 0, 0, false));
}
END_TEST

START_TEST(test_permanent_errors_are_the_document_s_not_the_database_s)
{
    bson_error_t e = {.domain = MONGOC_ERROR_SERVER, .code = 10334};
    ck_assert(mongo_error_is_permanent(&e)); /* BSONObjectTooLarge */
    e.code = 121;
    ck_assert(mongo_error_is_permanent(&e)); /* DocumentValidationFailure */
    e.code = 1;
    ck_assert(!mongo_error_is_permanent(&e)); /* InternalError: maybe passing */
    e.code = 11000;
    ck_assert(!mongo_error_is_permanent(&e)); /* a duplicate is "already billed" */
    e.domain = MONGOC_ERROR_STREAM;
    e.code = MONGOC_ERROR_STREAM_SOCKET;
    ck_assert(!mongo_error_is_permanent(&e));
    e.domain = MONGOC_ERROR_CLIENT;
    e.code = MONGOC_ERROR_CLIENT_TOO_BIG;
    ck_assert(mongo_error_is_permanent(&e));
}
END_TEST

START_TEST(test_too_large_record_says_where_the_message_is_and_how_it_starts)
{
    size_t len = 1000000;
    char *value = malloc(len);
    memset(value, 'x', len);
    memcpy(value, "{\"a\":\"\xff\x01\"", 9); /* quotes, a non-UTF-8 byte, a control */
    rd_kafka_message_t m = {.partition = 3,
                            .offset = 12345,
                            .payload = value,
                            .len = len,
                            .key = (void *)"k\"1",
                            .key_len = 3};
    buf out;
    buf_init(&out);
    dlq_too_large_record(&out, &m, "appointment.finished", "undecodable: not JSON");
    json_error_t jerr;
    json_t *rec = json_loads(buf_cstr(&out), 0, &jerr);
    ck_assert_msg(rec != NULL, "not JSON: %s", jerr.text);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "reason")), "too_large");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "original_reason")),
                     "undecodable: not JSON");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "source_topic")),
                     "appointment.finished");
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "source_partition")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "source_offset")), 12345);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "key")), "k\"1");
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "value_bytes")), (json_int_t)len);
    const char *head = json_string_value(json_object_get(rec, "value_head"));
    /* DLQ_HEAD_BYTES bytes, 0xff among them as U+00FF: two bytes of UTF-8. */
    ck_assert_uint_eq(json_string_length(json_object_get(rec, "value_head")), DLQ_HEAD_BYTES + 1);
    ck_assert_int_eq(strncmp(head, "{\"a\":\"\xc3\xbf\x01\"xx", 12), 0); /* 0xff as U+00FF */
    ck_assert_uint_lt(out.len, DLQ_HEAD_BYTES * 7 + 512);
    json_decref(rec);
    buf_free(&out);
    free(value);
}
END_TEST

START_TEST(test_too_large_record_of_a_message_without_key_or_value)
{
    rd_kafka_message_t m = {.partition = 0, .offset = 1};
    buf out;
    buf_init(&out);
    dlq_too_large_record(&out, &m, "t", "r");
    json_t *rec = json_loads(buf_cstr(&out), 0, NULL);
    ck_assert(rec != NULL);
    ck_assert(json_is_null(json_object_get(rec, "key")));
    ck_assert_int_eq(json_integer_value(json_object_get(rec, "value_bytes")), 0);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "value_head")), "");
    json_decref(rec);
    buf_free(&out);
}
END_TEST

static Suite *refusals_suite(void)
{
    Suite *s = suite_create("refusals");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_a_message_is_given_up_after_max_refusals_in_a_row);
    tcase_add_test(tc, test_a_permanent_refusal_is_given_up_at_once);
    tcase_add_test(tc, test_another_message_starts_its_own_count);
    tcase_add_test(tc, test_a_success_ends_the_count_of_that_message_only);
    tcase_add_test(tc, test_max_below_one_counts_as_one);
    tcase_add_test(tc, test_permanent_errors_are_the_document_s_not_the_database_s);
    tcase_add_test(tc, test_too_large_record_says_where_the_message_is_and_how_it_starts);
    tcase_add_test(tc, test_too_large_record_of_a_message_without_key_or_value);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(refusals_suite)
