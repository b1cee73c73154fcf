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
    bson_destroy(doc);
    ck_assert_str_eq(t.name, "abc");
    ck_assert_int_eq(t.at_ms, 1732924800000);
    ck_assert_int_eq(t.count, 7);
    ck_assert_int_eq(t.small, 42);
    ck_assert_str_eq(t.inner, "in");
    ck_assert(t.flag);
}
END_TEST

START_TEST(test_unknown_and_missing_fields_leave_the_struct_alone)
{
    bson_t *doc = BCON_NEW("other", BCON_UTF8("x"), "count", BCON_DOUBLE(3.9));
    thing t = read_thing(doc);
    bson_destroy(doc);
    ck_assert_str_eq(t.name, "");
    ck_assert_int_eq(t.at_ms, 0);
    ck_assert_int_eq(t.count, 3); /* a double, truncated */
    ck_assert(!t.flag);
}
END_TEST

START_TEST(test_a_field_of_another_type_reads_as_empty_or_zero)
{
    bson_t *doc = BCON_NEW("name", BCON_INT32(5), "at", BCON_UTF8("soon"), "sub", BCON_UTF8("no"));
    thing t = read_thing(doc);
    bson_destroy(doc);
    ck_assert_str_eq(t.name, "");
    ck_assert_int_eq(t.at_ms, 0);
    ck_assert_str_eq(t.inner, ""); /* not a document: not entered */
}
END_TEST

START_TEST(test_a_long_string_is_truncated_to_its_member)
{
    bson_t *doc = BCON_NEW("name", BCON_UTF8("far too long"));
    thing t = read_thing(doc);
    bson_destroy(doc);
    ck_assert_str_eq(t.name, "far too");
}
END_TEST

/* A document from MongoDB Extended JSON ({"$date": ms} for a date). */
static bson_t *doc_of(const char *json)
{
    bson_error_t err;
    bson_t *doc = bson_new_from_json((const uint8_t *)json, -1, &err);
    ck_assert_msg(doc != NULL, "%s", err.message);
    return doc;
}

static appt appt_of(const char *json)
{
    bson_t *doc = doc_of(json);
    appt a;
    memset(&a, 0x5a, sizeof a); /* decode zeroes what the document lacks */
    appt_store_coll.docs.decode(doc, &a);
    bson_destroy(doc);
    return a;
}

static billing billing_of(const char *json)
{
    bson_t *doc = doc_of(json);
    billing b;
    billing_store_coll.docs.decode(doc, &b);
    bson_destroy(doc);
    return b;
}

/* The fields both documents share (BSONREAD_CONSULTATION_FIELDS), as the
 * tests below write them. */
#define SHARED                                                                                     \
    "\"physician_id\":\"p\",\"patient_id\":\"q\",\"start_date\":{\"$date\":1000},"                 \
    "\"end_date\":{\"$date\":2000},\"currency\":\"BRL\",\"created_at\":{\"$date\":999}"

static void assert_shared(const char *physician_id, const char *patient_id, int64_t start_ms,
                          int64_t end_ms, const char *currency, int64_t created_ms)
{
    ck_assert_str_eq(physician_id, "p");
    ck_assert_str_eq(patient_id, "q");
    ck_assert_int_eq(start_ms, 1000);
    ck_assert_int_eq(end_ms, 2000);
    ck_assert_str_eq(currency, "BRL");
    ck_assert_int_eq(created_ms, 999);
}

START_TEST(test_an_appointment_document_reads_with_its_outbox_entry)
{
    appt a = appt_of("{\"_id\":\"0191d2f4-8e3b-7c1a-9f00-1234567890ab\"," SHARED
                     ",\"status\":\"finished\",\"price_cents\":{\"$numberLong\":\"20000\"},"
                     "\"outbox\":{\"state\":\"published\",\"event_id\":\"e\",\"time\":{\"$date\":"
                     "3000},\"traceparent\":\"tp\",\"attempts\":2,\"next_attempt_at\":{\"$date\":"
                     "4000}}}");
    ck_assert_str_eq(a.id, "0191d2f4-8e3b-7c1a-9f00-1234567890ab");
    assert_shared(a.physician_id, a.patient_id, a.start_ms, a.end_ms, a.currency, a.created_ms);
    ck_assert(a.finished);
    ck_assert_int_eq(a.price_cents, 20000);
    ck_assert_int_eq(a.outbox_state, APPT_OUTBOX_PUBLISHED);
    ck_assert_str_eq(a.event_id, "e");
    ck_assert_int_eq(a.event_time_ms, 3000);
    ck_assert_str_eq(a.traceparent, "tp");
    ck_assert_str_eq(a.tracestate, "");
    ck_assert_int_eq(a.attempts, 2);
    ck_assert_int_eq(a.next_attempt_ms, 4000);
}
END_TEST

START_TEST(test_a_started_appointment_has_no_outbox_entry)
{
    appt a = appt_of("{\"_id\":\"x\",\"status\":\"started\",\"end_date\":null}");
    ck_assert(!a.finished);
    ck_assert_int_eq(a.end_ms, 0);
    ck_assert_int_eq(a.outbox_state, APPT_OUTBOX_NONE);
    ck_assert_str_eq(a.event_id, "");
}
END_TEST

START_TEST(test_a_billing_document_reads_whole)
{
    billing b =
        billing_of("{\"_id\":\"a\",\"appointment_id\":\"a\"," SHARED
                   ",\"end_day\":\"1970-01-01\",\"billed_hours\":2,"
                   "\"hourly_price_cents\":20000,\"total_cents\":40000,\"event_id\":\"e\"}");
    ck_assert_str_eq(b.event.appointment_id, "a");
    assert_shared(b.event.physician_id, b.event.patient_id, b.event.start_ms, b.event.end_ms,
                  b.event.currency, b.created_ms);
    ck_assert_int_eq(b.billed_hours, 2);
    ck_assert_int_eq(b.event.hourly_price_cents, 20000);
    ck_assert_int_eq(b.total_cents, 40000);
    ck_assert_str_eq(b.event_id, "e");
}
END_TEST

static Suite *bsonread_suite(void)
{
    Suite *s = suite_create("bsonread");
    TCase *reader = tcase_create("reader");
    tcase_add_test(reader, test_each_kind_of_field_lands_in_its_member);
    tcase_add_test(reader, test_unknown_and_missing_fields_leave_the_struct_alone);
    tcase_add_test(reader, test_a_field_of_another_type_reads_as_empty_or_zero);
    tcase_add_test(reader, test_a_long_string_is_truncated_to_its_member);
    suite_add_tcase(s, reader);
    /* the stores' tables, through their collections' decoders */
    TCase *stores = tcase_create("stores");
    tcase_add_test(stores, test_an_appointment_document_reads_with_its_outbox_entry);
    tcase_add_test(stores, test_a_started_appointment_has_no_outbox_entry);
    tcase_add_test(stores, test_a_billing_document_reads_whole);
    suite_add_tcase(s, stores);
    return s;
}

CHECK_MAIN(bsonread_suite)
