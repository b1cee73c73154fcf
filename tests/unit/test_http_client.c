#include <check.h>
#include <string.h>

#include "http_client.h"

#include "check_main.h"

/* Parses url and checks what it found. */
static void parses_as(const char *url, const char *host, int port, const char *prefix)
{
    http_client_url u;
    char err[160] = "";
    ck_assert_msg(http_client_parse_url(url, &u, err, sizeof err) == 0, "%s: %s", url, err);
    ck_assert_str_eq(u.host, host);
    ck_assert_int_eq(u.port, port);
    ck_assert_str_eq(u.prefix, prefix);
}

START_TEST(test_url_with_port_and_no_path)
{
    parses_as("http://127.0.0.1:8080", "127.0.0.1", 8080, "");
}
END_TEST

START_TEST(test_url_defaults_to_port_80_and_keeps_a_prefix_without_trailing_slash)
{
    parses_as("http://appointment/api/v1//", "appointment", 80, "/api/v1");
    parses_as("http://appointment:8080/", "appointment", 8080, "");
}
END_TEST

START_TEST(test_url_ipv6_in_brackets)
{
    parses_as("http://[::1]:9000", "::1", 9000, "");
    http_client_url u;
    char err[160];
    ck_assert_int_eq(http_client_parse_url("http://[::1]x", &u, err, sizeof err), -1);
    ck_assert_int_eq(http_client_parse_url("http://[]:80", &u, err, sizeof err), -1);
}
END_TEST

START_TEST(test_url_refusals_leave_out_untouched)
{
    static const char *const bad[] = {
        "https://a:443", "ftp://a",
        "a:8080",        "http://",
        "http://:8080",  "http://a:",
        "http://a:0",    "http://a:65536",
        "http://a:80x",  "http://u@a:80",
        "http://a/?q=1", "http://a/#f",
        "http://a b:80", "http://a:99999999999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        http_client_url u;
        memset(&u, 0x5a, sizeof u);
        char err[160] = "";
        ck_assert_msg(http_client_parse_url(bad[i], &u, err, sizeof err) == -1, "%s", bad[i]);
        ck_assert_msg(err[0] != '\0', "%s: no reason", bad[i]);
        ck_assert_int_eq(u.port, 0x5a5a5a5a);
    }
}
END_TEST

START_TEST(test_get_refused_connection_is_an_error)
{
    http_client_url u;
    char err[160];
    ck_assert_int_eq(http_client_parse_url("http://127.0.0.1:9", &u, err, sizeof err), 0);
    buf body;
    buf_init(&body);
    int status = -7;
    ck_assert_int_eq(http_client_get(&u, "/x", NULL, 1000, &status, &body, err, sizeof err), -1);
    ck_assert_int_eq(status, -7);
    ck_assert_ptr_nonnull(strstr(err, "cannot connect to 127.0.0.1:9"));
    buf_free(&body);
}
END_TEST

static Suite *http_client_suite(void)
{
    Suite *s = suite_create("http_client");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_url_with_port_and_no_path);
    tcase_add_test(tc, test_url_defaults_to_port_80_and_keeps_a_prefix_without_trailing_slash);
    tcase_add_test(tc, test_url_ipv6_in_brackets);
    tcase_add_test(tc, test_url_refusals_leave_out_untouched);
    tcase_add_test(tc, test_get_refused_connection_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(http_client_suite)
