/* Check suite for the pure parts of day buckets: which bucket an id falls
 * in, and which (scope, day) records a document needs. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buckets.h"
#include "appt_store.h"
#include "billing_store.h"
#include "uuid.h"

#include "check_main.h"

START_TEST(test_day_of_a_v7_id_is_the_utc_day_of_its_timestamp)
{
    char id[UUID_STR_LEN], day[BUCKET_DAY_LEN];
    uuid_v7(id, 1709251199999); /* 2024-02-29T23:59:59.999Z */
    buckets_day_of_id(id, 0, day);
    ck_assert_str_eq(day, "2024-02-29");
    uuid_v7(id, 1709251200000 + 5); /* 2024-03-01T00:00:00.005Z */
    buckets_day_of_id(id, 0, day);
    ck_assert_str_eq(day, "2024-03-01");
}
END_TEST

START_TEST(test_day_of_another_id_is_the_fallback_day)
{
    char id[UUID_STR_LEN], day[BUCKET_DAY_LEN];
    uuid_v4(id);
    buckets_day_of_id(id, 1732924800000, day); /* 2024-11-30 */
    ck_assert_str_eq(day, "2024-11-30");
    buckets_day_of_id("not a uuid", 0, day);
    ck_assert_str_eq(day, "1970-01-01");
}
END_TEST

START_TEST(test_days_sort_like_the_ids_in_them)
{
    /* The walk relies on it: a later day's ids all sort after an earlier
     * day's, as strings, like the days themselves. */
    char a[UUID_STR_LEN], b[UUID_STR_LEN], da[BUCKET_DAY_LEN], db[BUCKET_DAY_LEN];
    uuid_v7(a, 1709251199999);
    uuid_v7(b, 1709251200000);
    buckets_day_of_id(a, 0, da);
    buckets_day_of_id(b, 0, db);
    ck_assert_int_lt(strcmp(a, b), 0);
    ck_assert_int_lt(strcmp(da, db), 0);
}
END_TEST

START_TEST(test_ref_set_truncates_a_long_scope_and_keeps_the_day)
{
    bucket_ref r;
    char scope[200];
    memset(scope, 'x', sizeof scope - 1);
    scope[sizeof scope - 1] = '\0';
    bucket_ref_set(&r, scope, "2024-11-30");
    ck_assert_uint_eq(strlen(r.scope), BUCKET_SCOPE_LEN - 1);
    ck_assert_str_eq(r.day, "2024-11-30");
}
END_TEST

START_TEST(test_appointment_needs_the_all_and_physician_buckets_of_its_id_day)
{
    appt a;
    memset(&a, 0, sizeof a);
    uuid_v7(a.id, 1732924800000);
    strcpy(a.physician_id, "0191d2f4-8e3b-7c1a-9f00-1234567890ab");
    a.created_ms = 0;
    bucket_ref refs[2];
    appt_store_bucket_refs(&a, refs);
    ck_assert_str_eq(refs[0].scope, "all");
    ck_assert_str_eq(refs[0].day, "2024-11-30");
    ck_assert_str_eq(refs[1].scope, "physician/0191d2f4-8e3b-7c1a-9f00-1234567890ab");
    ck_assert_str_eq(refs[1].day, "2024-11-30");
}
END_TEST

START_TEST(test_billing_needs_its_id_day_buckets_and_its_end_day_bucket)
{
    billing b;
    memset(&b, 0, sizeof b);
    uuid_v7(b.event.appointment_id, 1732924800000); /* made 2024-11-30 */
    strcpy(b.event.physician_id, "0191d2f4-8e3b-7c1a-9f00-1234567890ab");
    b.event.end_ms = 1733011199000; /* ended 2024-11-30T23:59:59Z */
    bucket_ref refs[BILLING_MAX_REFS];
    billing_store_bucket_refs(&b, refs);
    ck_assert_str_eq(refs[0].scope, "all");
    ck_assert_str_eq(refs[0].day, "2024-11-30");
    ck_assert_str_eq(refs[1].scope, "physician/0191d2f4-8e3b-7c1a-9f00-1234567890ab");
    ck_assert_str_eq(refs[2].scope, "end");
    ck_assert_str_eq(refs[2].day, "2024-11-30");
    b.event.end_ms = 1733011200000; /* a second later: the next day */
    billing_store_bucket_refs(&b, refs);
    ck_assert_str_eq(refs[0].day, "2024-11-30");
    ck_assert_str_eq(refs[2].day, "2024-12-01");
}
END_TEST

START_TEST(test_a_physicians_list_walks_its_own_buckets_and_any_other_all)
{
    char scope[BUCKET_SCOPE_LEN];
    buckets_scope("0191d2f4-8e3b-7c1a-9f00-1234567890ab", scope);
    ck_assert_str_eq(scope, "physician/0191d2f4-8e3b-7c1a-9f00-1234567890ab");
    buckets_scope(NULL, scope);
    ck_assert_str_eq(scope, "all");
}
END_TEST

START_TEST(test_people_filter_holds_an_equality_for_each_one_given)
{
    char scope[BUCKET_SCOPE_LEN];
    bson_t f = BSON_INITIALIZER;
    buckets_people_filter(&f, NULL, "q", scope);
    ck_assert_str_eq(scope, "all");
    ck_assert(!bson_has_field(&f, "physician_id"));
    bson_iter_t it;
    ck_assert(bson_iter_init_find(&it, &f, "patient_id"));
    ck_assert_str_eq(bson_iter_utf8(&it, NULL), "q");
    bson_reinit(&f);
    buckets_people_filter(&f, "p", NULL, scope);
    bool physician = bson_has_field(&f, "physician_id"), patient = bson_has_field(&f, "patient_id");
    bson_destroy(&f);
    ck_assert_str_eq(scope, "physician/p");
    ck_assert(physician && !patient);
}
END_TEST

START_TEST(test_resume_cursor_is_the_last_id_of_the_day_before)
{
    char cursor[UUID_STR_LEN], day[BUCKET_DAY_LEN], later[UUID_STR_LEN];
    ck_assert_int_eq(buckets_resume_cursor("2024-03-01", cursor), 0);
    /* 2024-03-01T00:00:00Z is 1709251200000 ms: the day before's last ms. */
    int64_t ms = 0;
    ck_assert_int_eq(uuid_v7_unix_ms(cursor, &ms), 0);
    ck_assert_int_eq(ms, INT64_C(1709251199999));
    buckets_day_of_id(cursor, 0, day);
    ck_assert_str_eq(day, "2024-02-29");
    /* Every id of the day before sorts before it, the day's first after. */
    uuid_v7(later, INT64_C(1709251200000));
    ck_assert_int_lt(strcmp(cursor, later), 0);
    ck_assert_int_eq(buckets_resume_cursor("2024-13-01", cursor), -1);
    ck_assert_int_eq(buckets_resume_cursor("not a day", cursor), -1);
    ck_assert_int_eq(buckets_resume_cursor("2024-03-01x", cursor), -1);
}
END_TEST

static Suite *buckets_suite(void)
{
    Suite *s = suite_create("buckets");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_day_of_a_v7_id_is_the_utc_day_of_its_timestamp);
    tcase_add_test(tc, test_day_of_another_id_is_the_fallback_day);
    tcase_add_test(tc, test_days_sort_like_the_ids_in_them);
    tcase_add_test(tc, test_ref_set_truncates_a_long_scope_and_keeps_the_day);
    tcase_add_test(tc, test_appointment_needs_the_all_and_physician_buckets_of_its_id_day);
    tcase_add_test(tc, test_billing_needs_its_id_day_buckets_and_its_end_day_bucket);
    tcase_add_test(tc, test_a_physicians_list_walks_its_own_buckets_and_any_other_all);
    tcase_add_test(tc, test_people_filter_holds_an_equality_for_each_one_given);
    tcase_add_test(tc, test_resume_cursor_is_the_last_id_of_the_day_before);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(buckets_suite)
