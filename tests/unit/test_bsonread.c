/* Check suite for common/bsonread.c, the table-driven document reader, and
 * the tables the two stores read their documents with (their mongo_coll's
 * decode). */
#include <check.h>
#include <string.h>

#include "appt_store.h"
#include "billing_store.h"
#include "bsonread.h"

#include "check_main.h"

typedef struct thing {
    char name[8];
    int64_t at_ms;
    int64_t count;
    int32_t small;
    char inner[8];
    bool flag;
} thing;

static void read_flag(const bson_iter_t *it, void *out)
{
    ((thing *)out)->flag = BSON_ITER_HOLDS_BOOL(it) && bson_iter_bool(it);
}

static const bsonread_field inner_fields[] = {
    BSONREAD_STR("s", thing, inner),
};

static const bsonread_field thing_fields[] = {
    BSONREAD_STR("name", thing, name),   BSONREAD_INT("at", thing, at_ms),
    BSONREAD_INT("count", thing, count), BSONREAD_INT32("small", thing, small),
    BSONREAD_DOC("sub", inner_fields),   BSONREAD_FN("flag", read_flag),
};

static thing read_thing(const bson_t *doc)
{
    thing t;
    memset(&t, 0, sizeof t);
    bsonread_doc(doc, thing_fields, BSONREAD_COUNT(thing_fields), &t);
    return t;
}

START_TEST(test_each_kind_of_field_lands_in_its_member)
{
    bson_t *doc = BCON_NEW("name", BCON_UTF8("abc"), "at", BCON_DATE_TIME(1732924800000), "count",
                           BCON_INT32(7), "small", BCON_INT64(42), "sub", "{", "s", BCON_UTF8("in"),
                           "}", "flag", BCON_BOOL(true));
    thing t = read_thing(doc);
    ck_assert_str_eq(t.name, "abc");
    ck_assert_int_eq(t.at_ms, 1732924800000);
    ck_assert_int_eq(t.count, 7);
    ck_assert_int_eq(t.small, 42);
    ck_assert_str_eq(t.inner, "in");
    ck_assert(t.flag);
    bson_destroy(doc);
}
END_TEST

START_TEST(test_unknown_and_missing_fields_leave_the_struct_alone)
{
    bson_t *doc = BCON_NEW("other", BCON_UTF8("x"), "count", BCON_DOUBLE(3.9));
    thing t = read_thing(doc);
    ck_assert_str_eq(t.name, "");
    ck_assert_int_eq(t.at_ms, 0);
    ck_assert_int_eq(t.count, 3); /* a double, truncated */
    ck_assert(!t.flag);
    bson_destroy(doc);
}
END_TEST

START_TEST(test_a_field_of_another_type_reads_as_empty_or_zero)
{
    bson_t *doc = BCON_NEW("name", BCON_INT32(5), "at", BCON_UTF8("soon"), "sub", BCON_UTF8("no"));
    thing t = read_thing(doc);
    ck_assert_str_eq(t.name, "");
    ck_assert_int_eq(t.at_ms, 0);
    ck_assert_str_eq(t.inner, ""); /* not a document: not entered */
    bson_destroy(doc);
}
END_TEST

START_TEST(test_a_long_string_is_truncated_to_its_member)
{
    bson_t *doc = BCON_NEW("name", BCON_UTF8("far too long"));
    thing t = read_thing(doc);
    ck_assert_str_eq(t.name, "far too");
    bson_destroy(doc);
}
END_TEST

START_TEST(test_an_appointment_document_reads_with_its_outbox_entry)
{
    bson_t *doc =
        BCON_NEW("_id", BCON_UTF8("0191d2f4-8e3b-7c1a-9f00-1234567890ab"), "physician_id",
                 BCON_UTF8("p"), "patient_id", BCON_UTF8("q"), "start_date", BCON_DATE_TIME(1000),
                 "end_date", BCON_DATE_TIME(2000), "status", BCON_UTF8("finished"), "price_cents",
                 BCON_INT64(20000), "currency", BCON_UTF8("BRL"), "created_at", BCON_DATE_TIME(999),
                 "outbox", "{", "state", BCON_UTF8("published"), "event_id", BCON_UTF8("e"), "time",
                 BCON_DATE_TIME(3000), "traceparent", BCON_UTF8("tp"), "attempts", BCON_INT32(2),
                 "next_attempt_at", BCON_DATE_TIME(4000), "}");
    appt a;
    appt_store_coll.decode(doc, &a);
    ck_assert_str_eq(a.id, "0191d2f4-8e3b-7c1a-9f00-1234567890ab");
    ck_assert_str_eq(a.physician_id, "p");
    ck_assert_str_eq(a.patient_id, "q");
    ck_assert_int_eq(a.start_ms, 1000);
    ck_assert_int_eq(a.end_ms, 2000);
    ck_assert(a.finished);
    ck_assert_int_eq(a.price_cents, 20000);
    ck_assert_str_eq(a.currency, "BRL");
    ck_assert_int_eq(a.created_ms, 999);
    ck_assert_int_eq(a.outbox_state, APPT_OUTBOX_PUBLISHED);
    ck_assert_str_eq(a.event_id, "e");
    ck_assert_int_eq(a.event_time_ms, 3000);
    ck_assert_str_eq(a.traceparent, "tp");
    ck_assert_str_eq(a.tracestate, "");
    ck_assert_int_eq(a.attempts, 2);
    ck_assert_int_eq(a.next_attempt_ms, 4000);
    bson_destroy(doc);
}
END_TEST

START_TEST(test_a_started_appointment_has_no_outbox_entry)
{
    bson_t *doc =
        BCON_NEW("_id", BCON_UTF8("x"), "status", BCON_UTF8("started"), "end_date", BCON_NULL);
    appt a;
    memset(&a, 0x5a, sizeof a); /* decode zeroes what the document lacks */
    appt_store_coll.decode(doc, &a);
    ck_assert(!a.finished);
    ck_assert_int_eq(a.end_ms, 0);
    ck_assert_int_eq(a.outbox_state, APPT_OUTBOX_NONE);
    ck_assert_str_eq(a.event_id, "");
    bson_destroy(doc);
}
END_TEST

START_TEST(test_a_billing_document_reads_whole)
{
    bson_t *doc = BCON_NEW(
        "_id", BCON_UTF8("a"), "appointment_id", BCON_UTF8("a"), "physician_id", BCON_UTF8("p"),
        "patient_id", BCON_UTF8("q"), "start_date", BCON_DATE_TIME(1000), "end_date",
        BCON_DATE_TIME(2000), "end_day", BCON_UTF8("1970-01-01"), "billed_hours", BCON_INT64(2),
        "hourly_price_cents", BCON_INT64(20000), "total_cents", BCON_INT64(40000), "currency",
        BCON_UTF8("BRL"), "event_id", BCON_UTF8("e"), "created_at", BCON_DATE_TIME(3000));
    billing b;
    billing_store_coll.decode(doc, &b);
    ck_assert_str_eq(b.appointment_id, "a");
    ck_assert_str_eq(b.physician_id, "p");
    ck_assert_str_eq(b.patient_id, "q");
    ck_assert_int_eq(b.start_ms, 1000);
    ck_assert_int_eq(b.end_ms, 2000);
    ck_assert_int_eq(b.billed_hours, 2);
    ck_assert_int_eq(b.hourly_price_cents, 20000);
    ck_assert_int_eq(b.total_cents, 40000);
    ck_assert_str_eq(b.currency, "BRL");
    ck_assert_str_eq(b.event_id, "e");
    ck_assert_int_eq(b.created_ms, 3000);
    bson_destroy(doc);
}
END_TEST

static Suite *bsonread_suite(void)
{
    Suite *s = suite_create("bsonread");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_each_kind_of_field_lands_in_its_member);
    tcase_add_test(tc, test_unknown_and_missing_fields_leave_the_struct_alone);
    tcase_add_test(tc, test_a_field_of_another_type_reads_as_empty_or_zero);
    tcase_add_test(tc, test_a_long_string_is_truncated_to_its_member);
    tcase_add_test(tc, test_an_appointment_document_reads_with_its_outbox_entry);
    tcase_add_test(tc, test_a_started_appointment_has_no_outbox_entry);
    tcase_add_test(tc, test_a_billing_document_reads_whole);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(bsonread_suite)
