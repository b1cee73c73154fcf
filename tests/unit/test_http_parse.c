#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "http_parse.h"

#include "check_main.h"

#define UUID_A "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
#define UUID_B "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"

/* http_parse_route on a NUL-terminated path. */
static int route(const char *pattern, const char *path, const char **param, size_t *param_len)
{
    return http_parse_route(pattern, path, strlen(path), param, param_len);
}

START_TEST(test_route_literal_matches_exactly)
{
    const char *param[HTTP_MAX_PARAMS] = {NULL};
    size_t len[HTTP_MAX_PARAMS] = {0};
    ck_assert_int_eq(route("/appointments", "/appointments", param, len), 0);
    ck_assert_int_eq(route("/", "/", param, len), 0);
    ck_assert_int_eq(route("/appointments", "/appointment", param, len), -1);
    ck_assert_int_eq(route("/appointments", "/appointmentsx", param, len), -1);
    ck_assert_int_eq(route("/appointments", "/Appointments", param, len), -1);
    ck_assert_int_eq(route("/appointments", "", param, len), -1);
    ck_assert_ptr_null(param[0]);
}
END_TEST

START_TEST(test_route_captures_a_segment_inside_the_path)
{
    const char *param[HTTP_MAX_PARAMS] = {NULL};
    size_t len[HTTP_MAX_PARAMS] = {0};
    const char *path = "/appointments/abc/finish";
    ck_assert_int_eq(route("/appointments/{id}/finish", path, param, len), 0);
    ck_assert_ptr_eq(param[0], path + 14);
    ck_assert_uint_eq(len[0], 3);
    ck_assert_ptr_null(param[1]);
}
END_TEST

START_TEST(test_route_capture_at_the_end_takes_the_rest)
{
    const char *param[HTTP_MAX_PARAMS] = {NULL};
    size_t len[HTTP_MAX_PARAMS] = {0};
    ck_assert_int_eq(route("/billings/{appointment_id}", "/billings/x-y_z", param, len), 0);
    ck_assert_uint_eq(len[0], 5);
    ck_assert_int_eq(strncmp(param[0], "x-y_z", 5), 0);
    /* a capture is one segment: it stops at a '/' */
    ck_assert_int_eq(route("/billings/{appointment_id}", "/billings/a/b", param, len), -1);
}
END_TEST

START_TEST(test_route_capture_is_never_empty)
{
    const char *param[HTTP_MAX_PARAMS] = {NULL};
    size_t len[HTTP_MAX_PARAMS] = {0};
    ck_assert_int_eq(route("/appointments/{id}/finish", "/appointments//finish", param, len), -1);
    ck_assert_int_eq(route("/billings/{id}", "/billings/", param, len), -1);
    ck_assert_ptr_null(param[0]);
}
END_TEST

START_TEST(test_route_two_captures_in_order)
{
    const char *param[HTTP_MAX_PARAMS] = {NULL};
    size_t len[HTTP_MAX_PARAMS] = {0};
    ck_assert_int_eq(route("/a/{x}/b/{y}", "/a/one/b/three", param, len), 0);
    ck_assert_uint_eq(len[0], 3);
    ck_assert_int_eq(strncmp(param[0], "one", 3), 0);
    ck_assert_uint_eq(len[1], 5);
    ck_assert_int_eq(strncmp(param[1], "three", 5), 0);
}
END_TEST

START_TEST(test_route_refuses_more_captures_than_it_can_hold)
{
    const char *param[HTTP_MAX_PARAMS] = {NULL};
    size_t len[HTTP_MAX_PARAMS] = {0};
    ck_assert_int_eq(route("/{a}/{b}/{c}", "/x/y/z", param, len), -1);
    ck_assert_ptr_null(param[0]);
    ck_assert_ptr_null(param[1]);
}
END_TEST

START_TEST(test_route_uuid_capture_needs_the_shape_of_a_uuid)
{
    const char *param[HTTP_MAX_PARAMS] = {NULL};
    size_t len[HTTP_MAX_PARAMS] = {0};
    ck_assert_int_eq(route("/{id:uuid}", "/" UUID_A, param, len), 0);
    ck_assert_uint_eq(len[0], 36);
    /* either case: the handler lowercases it */
    ck_assert_int_eq(route("/{id:uuid}", "/2B3C1A5E-8F7D-4C2B-9A1E-1F2E3D4C5B6A", param, len), 0);
    /* the compatibility route must not swallow every unknown path */
    ck_assert_int_eq(route("/{id:uuid}", "/docs", param, len), -1);
    ck_assert_int_eq(route("/{id:uuid}", "/" UUID_A "0", param, len), -1);
    ck_assert_int_eq(route("/{id:uuid}", "/2b3c1a5e+8f7d-4c2b-9a1e-1f2e3d4c5b6a", param, len), -1);
    /* a plain capture takes anything */
    ck_assert_int_eq(route("/{id}", "/docs", param, len), 0);
}
END_TEST

START_TEST(test_route_leaves_the_arrays_alone_without_a_match)
{
    const char *sentinel = "unchanged";
    const char *param[HTTP_MAX_PARAMS] = {sentinel, sentinel};
    size_t len[HTTP_MAX_PARAMS] = {7, 7};
    /* the first capture is read before the literal tail fails */
    ck_assert_int_eq(route("/appointments/{id}/finish", "/appointments/abc/start", param, len), -1);
    ck_assert_ptr_eq(param[0], sentinel);
    ck_assert_ptr_eq(param[1], sentinel);
    ck_assert_uint_eq(len[0], 7);
    ck_assert_uint_eq(len[1], 7);
}
END_TEST

START_TEST(test_route_reads_only_len_bytes)
{
    const char *param[HTTP_MAX_PARAMS] = {NULL};
    size_t len[HTTP_MAX_PARAMS] = {0};
    const char path[] = "/billings/abc/extra";
    ck_assert_int_eq(http_parse_route("/billings/{id}", path, 13, param, len), 0);
    ck_assert_uint_eq(len[0], 3);
    ck_assert_int_eq(http_parse_route("/billings", path, 9, param, len), 0);
    ck_assert_int_eq(http_parse_route("/billings/{id}", path, 10, param, len), -1);
}
END_TEST

START_TEST(test_route_nul_byte_in_path_never_matches)
{
    const char *param[HTTP_MAX_PARAMS] = {NULL};
    size_t len[HTTP_MAX_PARAMS] = {0};
    const char path[] = "/appointments\0";
    ck_assert_int_eq(http_parse_route("/appointments", path, sizeof path - 1, param, len), -1);
    const char cap[] = "/billings/a\0b";
    ck_assert_int_eq(http_parse_route("/billings/{id}", cap, sizeof cap - 1, param, len), 0);
    ck_assert_uint_eq(len[0], 3); /* a capture holds the byte; the handler validates it */
}
END_TEST

START_TEST(test_path_len_drops_one_trailing_slash_but_not_the_root)
{
    ck_assert_uint_eq(http_parse_path_len("/x/", 3), 2);
    ck_assert_uint_eq(http_parse_path_len("/" UUID_A "/", 38), 37);
    ck_assert_uint_eq(http_parse_path_len("/x//", 4), 3);
    ck_assert_uint_eq(http_parse_path_len("/x", 2), 2);
    ck_assert_uint_eq(http_parse_path_len("/", 1), 1);
    ck_assert_uint_eq(http_parse_path_len("", 0), 0);
}
END_TEST

/* http_parse_is_json_type on a NUL-terminated value. */
static bool json_type(const char *ct)
{
    return http_parse_is_json_type(ct, strlen(ct));
}

START_TEST(test_json_type_is_application_json_in_any_case_with_parameters)
{
    ck_assert(json_type("application/json"));
    ck_assert(json_type("Application/JSON"));
    ck_assert(json_type("application/json; charset=utf-8"));
    ck_assert(json_type("application/json;charset=UTF-8"));
    ck_assert(json_type("   application/json"));
}
END_TEST

START_TEST(test_json_type_takes_a_plus_json_suffix)
{
    ck_assert(json_type("application/merge-patch+json"));
    ck_assert(json_type("application/problem+JSON; charset=utf-8"));
    ck_assert(!json_type("application/+json")); /* no subtype before the suffix */
    ck_assert(!json_type("text/problem+json"));
}
END_TEST

START_TEST(test_json_type_refuses_everything_else)
{
    ck_assert(!http_parse_is_json_type(NULL, 0));
    ck_assert(!json_type(""));
    ck_assert(!json_type("text/json"));
    ck_assert(!json_type("application/jsonx"));
    ck_assert(!json_type("application/x-www-form-urlencoded"));
    ck_assert(!json_type("multipart/form-data; boundary=application/json"));
    ck_assert(!json_type("application/js"));
}
END_TEST

START_TEST(test_json_type_reads_only_len_bytes_and_refuses_a_nul)
{
    ck_assert(http_parse_is_json_type("application/jsonXYZ", 16));
    ck_assert(!http_parse_is_json_type("application/json", 15));
    const char nul[] = "application/\0+json";
    ck_assert(!http_parse_is_json_type(nul, sizeof nul - 1));
    const char tail[] = "application/json\0";
    ck_assert(!http_parse_is_json_type(tail, sizeof tail - 1));
}
END_TEST

START_TEST(test_request_id_takes_safe_characters_up_to_the_maximum)
{
    char id[HTTP_REQUEST_ID_MAX + 2];
    memset(id, 'a', sizeof id);
    ck_assert(http_parse_request_id_ok("a", 1));
    ck_assert(http_parse_request_id_ok(UUID_A, 36));
    ck_assert(http_parse_request_id_ok("req_1.2-ABC", 11));
    ck_assert(http_parse_request_id_ok(id, HTTP_REQUEST_ID_MAX));
    ck_assert(!http_parse_request_id_ok(id, HTTP_REQUEST_ID_MAX + 1));
}
END_TEST

START_TEST(test_request_id_refuses_empty_and_what_could_break_a_header_or_a_log)
{
    ck_assert(!http_parse_request_id_ok(NULL, 0));
    ck_assert(!http_parse_request_id_ok("", 0));
    ck_assert(!http_parse_request_id_ok("a b", 3));
    ck_assert(!http_parse_request_id_ok("a\r\nSet-Cookie: x", 16));
    ck_assert(!http_parse_request_id_ok("\"quoted\"", 8));
    ck_assert(!http_parse_request_id_ok("a\0b", 3));
    ck_assert(!http_parse_request_id_ok("caf\xc3\xa9", 5));
    ck_assert(!http_parse_request_id_ok("a/b", 3));
}
END_TEST

START_TEST(test_has_body_when_length_is_positive_or_chunked_without_one)
{
    ck_assert(http_parse_has_body(1, false));
    ck_assert(http_parse_has_body(100000000, true));
    ck_assert(http_parse_has_body(-1, true));
    ck_assert(!http_parse_has_body(-1, false));
    ck_assert(!http_parse_has_body(0, false));
    /* an explicit zero length wins over a Transfer-Encoding header */
    ck_assert(!http_parse_has_body(0, true));
}
END_TEST

static Suite *http_parse_suite(void)
{
    Suite *s = suite_create("http_parse");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_route_literal_matches_exactly);
    tcase_add_test(tc, test_route_captures_a_segment_inside_the_path);
    tcase_add_test(tc, test_route_capture_at_the_end_takes_the_rest);
    tcase_add_test(tc, test_route_capture_is_never_empty);
    tcase_add_test(tc, test_route_two_captures_in_order);
    tcase_add_test(tc, test_route_refuses_more_captures_than_it_can_hold);
    tcase_add_test(tc, test_route_uuid_capture_needs_the_shape_of_a_uuid);
    tcase_add_test(tc, test_route_leaves_the_arrays_alone_without_a_match);
    tcase_add_test(tc, test_route_reads_only_len_bytes);
    tcase_add_test(tc, test_route_nul_byte_in_path_never_matches);
    tcase_add_test(tc, test_path_len_drops_one_trailing_slash_but_not_the_root);
    tcase_add_test(tc, test_json_type_is_application_json_in_any_case_with_parameters);
    tcase_add_test(tc, test_json_type_takes_a_plus_json_suffix);
    tcase_add_test(tc, test_json_type_refuses_everything_else);
    tcase_add_test(tc, test_json_type_reads_only_len_bytes_and_refuses_a_nul);
    tcase_add_test(tc, test_request_id_takes_safe_characters_up_to_the_maximum);
    tcase_add_test(tc, test_request_id_refuses_empty_and_what_could_break_a_header_or_a_log);
    tcase_add_test(tc, test_has_body_when_length_is_positive_or_chunked_without_one);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(http_parse_suite)
