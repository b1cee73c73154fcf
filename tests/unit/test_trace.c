/* Check suite for common/trace.c: W3C traceparent parsing, new traces,
 * tracestate screening. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

#include "check_main.h"

#define TP "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

START_TEST(test_parse_reads_the_trace_and_parent_span_ids)
{
    trace_ids t;
    ck_assert_int_eq(trace_parse(TP, strlen(TP), &t), 0);
    ck_assert_str_eq(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
    ck_assert_str_eq(t.span_id, "b7ad6b7169203331");
}
END_TEST

START_TEST(test_parse_rejects_malformed_and_all_zero_ids_and_leaves_out_alone)
{
    static const char *const bad[] = {
        "",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",   /* short */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-011", /* long */
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  /* upper case */
        "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* separator */
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* version ff */
        "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  /* unknown version */
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  /* zero trace */
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  /* zero span */
        "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",  /* not hex */
    };
    trace_ids t;
    strcpy(t.trace_id, "untouched");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(trace_parse(bad[i], strlen(bad[i]), &t) == -1, "%s", bad[i]);
    ck_assert_str_eq(t.trace_id, "untouched");
    ck_assert_int_eq(trace_parse(NULL, 0, &t), -1);
    /* Reads only len bytes. */
    ck_assert_int_eq(trace_parse(TP "garbage", strlen(TP), NULL), 0);
}
END_TEST

START_TEST(test_new_traces_parse_back_and_differ)
{
    char a[TRACEPARENT_LEN], b[TRACEPARENT_LEN];
    trace_new(a);
    trace_new(b);
    ck_assert_uint_eq(strlen(a), TRACEPARENT_LEN - 1);
    ck_assert_int_eq(trace_parse(a, strlen(a), NULL), 0);
    ck_assert_int_eq(trace_parse(b, strlen(b), NULL), 0);
    ck_assert_str_ne(a, b);
    ck_assert_str_eq(a + 52, "-00"); /* not sampled */
}
END_TEST

START_TEST(test_tracestate_must_be_short_printable_ascii)
{
    ck_assert(trace_state_valid("clinic=t61rcWkgMzE,rojo=00f067aa0ba902b7", 40));
    ck_assert(!trace_state_valid("", 0));
    ck_assert(!trace_state_valid("a=\nb", 4));
    ck_assert(!trace_state_valid("a=\xc3\xa9", 4));
    char big[TRACESTATE_MAX + 1];
    memset(big, 'a', sizeof big);
    ck_assert(trace_state_valid(big, TRACESTATE_MAX - 1));
    ck_assert(!trace_state_valid(big, TRACESTATE_MAX));
}
END_TEST

static Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_parse_reads_the_trace_and_parent_span_ids);
    tcase_add_test(tc, test_parse_rejects_malformed_and_all_zero_ids_and_leaves_out_alone);
    tcase_add_test(tc, test_new_traces_parse_back_and_differ);
    tcase_add_test(tc, test_tracestate_must_be_short_printable_ascii);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(trace_suite)
