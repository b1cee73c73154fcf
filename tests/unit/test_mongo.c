/* Check suite for the pure helpers of common/mongo.c: reading a bulk write's
 * reply, and the BSON readers. */
#include <check.h>
#include <stdlib.h>

#include "mongo.h"

#include "check_main.h"

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
    bson_t *reply =
        BCON_NEW("writeErrors", "[", "{", "index", BCON_INT32(0), "code", BCON_INT32(11000), "}",
                 "{", "index", BCON_INT32(1), "code", BCON_INT32(2), "}", "]");
    ck_assert(!mongo_bulk_only_duplicates(reply));
    bson_destroy(reply);
}
END_TEST

START_TEST(test_bulk_reply_with_a_write_concern_error_is_a_failure)
{
    bson_t *reply =
        BCON_NEW("writeErrors", "[", "{", "index", BCON_INT32(0), "code", BCON_INT32(11000), "}",
                 "]", "writeConcernErrors", "[", "{", "code", BCON_INT32(64), "}", "]");
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

START_TEST(test_ferretdb_losing_postgresql_is_unavailable)
{
    bson_error_t e;
    bson_set_error(&e, MONGOC_ERROR_SERVER, 1,
                   "[msg_update.go:117] FATAL: terminating connection due to administrator "
                   "command (SQLSTATE 57P01)");
    ck_assert(mongo_error_is_unavailable(&e));
    bson_set_error(&e, MONGOC_ERROR_SERVER, 1,
                   "failed to connect to `host=127.0.0.1 user=postgres database=ferretdb`: dial "
                   "error (dial tcp 127.0.0.1:5433: connect: connection refused)");
    ck_assert(mongo_error_is_unavailable(&e));
}
END_TEST

START_TEST(test_other_internal_errors_and_duplicates_are_not_outages)
{
    bson_error_t e;
    bson_set_error(&e, MONGOC_ERROR_SERVER, 1, "some handler bug");
    ck_assert(!mongo_error_is_unavailable(&e));
    bson_set_error(&e, MONGOC_ERROR_SERVER, 11000, "E11000 duplicate key error");
    ck_assert(!mongo_error_is_unavailable(&e));
    ck_assert(mongo_error_is_duplicate(&e));
    bson_set_error(&e, MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, "socket error");
    ck_assert(mongo_error_is_unavailable(&e));
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
    tcase_add_test(tc, test_ferretdb_losing_postgresql_is_unavailable);
    tcase_add_test(tc, test_other_internal_errors_and_duplicates_are_not_outages);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(mongo_suite)
