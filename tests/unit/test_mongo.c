/* Check suite for the pure helpers of common/mongo.c: reading a bulk write's
 * reply, and the BSON readers. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

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

START_TEST(test_a_write_that_kept_racing_is_unavailable_not_permanent)
{
    bson_error_t e;
    bson_set_error(&e, MONGO_ERROR_DOMAIN_CLINIC, MONGO_ERROR_CONTENDED, "still racing");
    ck_assert(mongo_error_is_unavailable(&e));
    ck_assert(!mongo_error_is_permanent(&e));
    ck_assert(!mongo_error_is_duplicate(&e));
}
END_TEST

START_TEST(test_uri_redaction_hides_the_user_info)
{
    char out[128];
    mongo_uri_redact("mongodb://app:s3cr3t@db:27017/clinic?tls=true", out, sizeof out);
    ck_assert_str_eq(out, "mongodb://[redacted]@db:27017/clinic?tls=true");
    /* unescaped ':' '/' '@' in the password: up to the last '@', whatever it is */
    mongo_uri_redact("mongodb://us:er:s3/cr@3t@db/x", out, sizeof out);
    ck_assert_str_eq(out, "mongodb://[redacted]@db/x");
    mongo_uri_redact("mongodb+srv://u:p@cluster.example/x", out, sizeof out);
    ck_assert_str_eq(out, "mongodb+srv://[redacted]@cluster.example/x");
    mongo_uri_redact("mongodb://127.0.0.1:27017/clinic", out, sizeof out);
    ck_assert_str_eq(out, "mongodb://127.0.0.1:27017/clinic");
    mongo_uri_redact("u:p@host", out, sizeof out); /* no scheme: nothing to find it by */
    ck_assert_str_eq(out, "u:p@host");
}
END_TEST

START_TEST(test_a_malformed_uri_error_never_quotes_the_password)
{
    char err[256];
    mongo_global_init();
    ck_assert_ptr_null(mongo_db_new("mongodb://us:er:s3cr3t@127.0.0.1/x", "t", 1, err, sizeof err));
    ck_assert_msg(!strstr(err, "s3cr3t"), "%s", err);
    ck_assert_msg(strstr(err, "mongodb://[redacted]@127.0.0.1/x"), "%s", err);
    ck_assert_ptr_null(mongo_db_new("mongodb://127.0.0.1:x/x", "t", 1, err, sizeof err));
    ck_assert_msg(strstr(err, "not a valid MongoDB URI: "), "%s", err); /* the driver's reason */
    mongo_global_cleanup();
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
    tcase_add_test(tc, test_a_write_that_kept_racing_is_unavailable_not_permanent);
    tcase_add_test(tc, test_uri_redaction_hides_the_user_info);
    tcase_add_test(tc, test_a_malformed_uri_error_never_quotes_the_password);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(mongo_suite)
