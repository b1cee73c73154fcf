/* log: one JSON object per line, string and typed integer fields. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#include "check_main.h"

/* Runs one log call with stderr sent to a temporary file; returns its text. */
static char *captured(void (*emit)(void))
{
    static char text[4096];
    FILE *tmp = tmpfile();
    ck_assert_ptr_nonnull(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    ck_assert_int_ge(saved, 0);
    ck_assert_int_ge(dup2(fileno(tmp), STDERR_FILENO), 0);
    emit();
    fflush(stderr);
    ck_assert_int_ge(dup2(saved, STDERR_FILENO), 0);
    close(saved);
    rewind(tmp);
    size_t n = fread(text, 1, sizeof text - 1, tmp);
    text[n] = '\0';
    fclose(tmp);
    return text;
}

static void emit_mixed(void)
{
    log_info("polled", "topic", "t\"1", LOG_INT("partition", 3), LOG_INT("offset", INT64_MAX),
             LOG_INT("lag", -2), "group", "g", NULL);
}

START_TEST(test_integer_fields_are_json_numbers_between_strings)
{
    ck_assert_int_eq(log_init("svc", "info"), 0);
    const char *line = captured(emit_mixed);
    ck_assert_msg(strstr(line, "\"service\":\"svc\",\"msg\":\"polled\",\"topic\":\"t\\\"1\","
                               "\"partition\":3,\"offset\":9223372036854775807,\"lag\":-2,"
                               "\"group\":\"g\"}\n"),
                  "got %s", line);
    ck_assert_ptr_eq(strchr(line, '\n'), line + strlen(line) - 1);
}
END_TEST

static void emit_debug(void)
{
    log_debug("hidden", LOG_INT("n", 1), NULL);
}

START_TEST(test_levels_below_the_minimum_write_nothing)
{
    ck_assert_int_eq(log_init("svc", "INFO"), 0);
    ck_assert_str_eq(captured(emit_debug), "");
    ck_assert_int_eq(log_init("svc", "debug"), 0);
    ck_assert_ptr_nonnull(strstr(captured(emit_debug), "\"msg\":\"hidden\",\"n\":1}"));
    ck_assert_int_eq(log_init("svc", "verbose"), -1);
    ck_assert_str_eq(captured(emit_debug), "");
}
END_TEST

static Suite *log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_integer_fields_are_json_numbers_between_strings);
    tcase_add_test(tc, test_levels_below_the_minimum_write_nothing);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(log_suite)
