/* Check suite for the pure helpers of common/mongo.c: reading a bulk write's
 * reply, and the BSON readers. */
#include <check.h>
#include <stdlib.h>

#include "mongo.h"

START_TEST(test_bulk_reply_with_only_duplicate_key_errors_counts_as_applied)
{
    bson_t *reply = BCON_NEW("nInserted", BCON_INT32(0), "writeErrors", "[", "{", "index",
                             BCON_INT32(0), "code", BCON_INT32(11000), "}", "{", "index",
                             BCON_INT32(3), "code", BCON_INT32(11000), "}", "]");
    ck_assert(mongo_bulk_only_duplicates(reply));
    bson_destroy(reply);
}
END_TEST

START_TEST(test_bulk_reply_with_another_error_is_a_failure)
{
    bson_t *reply = BCON_NEW("writeErrors", "[", "{", "index", BCON_INT32(0), "code",
                             BCON_INT32(11000), "}", "{", "index", BCON_INT32(1), "code",
                             BCON_INT32(2), "}", "]");
    ck_assert(!mongo_bulk_only_duplicates(reply));
    bson_destroy(reply);
}
END_TEST

START_TEST(test_bulk_reply_with_a_write_concern_error_is_a_failure)
{
    bson_t *reply = BCON_NEW("writeErrors", "[", "{", "index", BCON_INT32(0), "code",
                             BCON_INT32(11000), "}", "]", "writeConcernErrors", "[", "{", "code",
                             BCON_INT32(64), "}", "]");
    ck_assert(!mongo_bulk_only_duplicates(reply));
    bson_destroy(reply);
}
END_TEST

START_TEST(test_bulk_reply_without_write_errors_is_not_a_duplicate_case)
{
    /* A failure with no write errors (a network error) must not pass. */
    bson_t *reply = BCON_NEW("nInserted", BCON_INT32(0));
    ck_assert(!mongo_bulk_only_duplicates(reply));
    bson_t empty = BSON_INITIALIZER;
    ck_assert(!mongo_bulk_only_duplicates(&empty));
    bson_destroy(reply);
}
END_TEST

static Suite *mongo_suite(void)
{
    Suite *s = suite_create("mongo");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bulk_reply_with_only_duplicate_key_errors_counts_as_applied);
    tcase_add_test(tc, test_bulk_reply_with_another_error_is_a_failure);
    tcase_add_test(tc, test_bulk_reply_with_a_write_concern_error_is_a_failure);
    tcase_add_test(tc, test_bulk_reply_without_write_errors_is_not_a_duplicate_case);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mongo_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
