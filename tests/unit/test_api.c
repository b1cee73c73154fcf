/* Check suite for the pure parts of common/api.c: a page of a list as JSON,
 * and the JSON fields both services' resources are written with. */
#include <check.h>
#include <string.h>

#include "api.h"
#include "json.h"

#include "check_main.h"

typedef struct item {
    char id[8];
    int64_t v;
} item;

static void append_item(buf *out, const void *x, api_dates dates)
{
    const item *it = x;
    buf_puts(out, "{\"id\":");
    json_append_cstr(out, it->id);
    api_json_int(out, "v", it->v);
    ck_assert_int_eq(dates, API_DATES_RFC3339); /* lists are the API's own routes */
    buf_putc(out, '}');
}

/* What each test writes into; emptied around each test. */
static buf out;

static void setup(void)
{
    buf_init(&out);
}

static void teardown(void)
{
    buf_free(&out);
}

START_TEST(test_the_next_cursor_is_the_last_id_only_when_more_follow)
{
    item items[2] = {{"b", 2}, {"a", 1}};
    mongo_page p = {.items = items, .item_size = sizeof *items, .limit = 2, .n = 2};
    strcpy(p.last_id, "a");
    api_page_json(&out, &p, append_item);
    p.more = true;
    api_page_json(&out, &p, append_item);
    ck_assert_str_eq(
        buf_cstr(&out),
        "{\"items\":[{\"id\":\"b\",\"v\":2},{\"id\":\"a\",\"v\":1}],\"next_cursor\":null}"
        "{\"items\":[{\"id\":\"b\",\"v\":2},{\"id\":\"a\",\"v\":1}],\"next_cursor\":\"a\"}");
}
END_TEST

START_TEST(test_an_empty_page_is_an_empty_list)
{
    mongo_page p = {.item_size = sizeof(item), .limit = 2};
    api_page_json(&out, &p, append_item);
    ck_assert_str_eq(buf_cstr(&out), "{\"items\":[],\"next_cursor\":null}");
}
END_TEST

START_TEST(test_fields_follow_the_first_with_a_comma)
{
    buf_puts(&out, "{\"a\":1");
    api_json_str(&out, "s", "x\"y");
    api_json_str(&out, "none", NULL);
    api_json_money(&out, "price", 20050);
    api_json_int(&out, "n", -3);
    api_json_time(&out, "at", true, 0, API_DATES_RFC3339);
    api_json_time(&out, "never", false, 0, API_DATES_RFC3339);
    buf_putc(&out, '}');
    ck_assert_str_eq(buf_cstr(&out), "{\"a\":1,\"s\":\"x\\\"y\",\"none\":null,\"price\":200.50,"
                                     "\"n\":-3,\"at\":\"1970-01-01T00:00:00Z\",\"never\":null}");
}
END_TEST

START_TEST(test_a_consultation_without_an_end_shows_a_null_end_date)
{
    int64_t end = 3600000;
    api_json_consultation(&out, "p", "q", 0, &end, API_DATES_RFC3339);
    api_json_consultation(&out, "p", "q", 0, NULL, API_DATES_RFC3339);
    ck_assert_str_eq(buf_cstr(&out),
                     ",\"physician_id\":\"p\",\"patient_id\":\"q\",\"start_date\":"
                     "\"1970-01-01T00:00:00Z\",\"end_date\":\"1970-01-01T01:00:00Z\""
                     ",\"physician_id\":\"p\",\"patient_id\":\"q\",\"start_date\":"
                     "\"1970-01-01T00:00:00Z\",\"end_date\":null");
}
END_TEST

START_TEST(test_compat_dates_are_naive_utc_with_microseconds)
{
    int64_t end = INT64_C(1714574096123);
    api_json_consultation(&out, "p", "q", INT64_C(1714572000000), &end, API_DATES_COMPAT);
    api_json_time(&out, "never", false, 0, API_DATES_COMPAT);
    ck_assert_str_eq(buf_cstr(&out), ",\"physician_id\":\"p\",\"patient_id\":\"q\",\"start_date\":"
                                     "\"2024-05-01T14:00:00.000000\",\"end_date\":"
                                     "\"2024-05-01T14:34:56.123000\",\"never\":null");
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_the_next_cursor_is_the_last_id_only_when_more_follow);
    tcase_add_test(tc, test_an_empty_page_is_an_empty_list);
    tcase_add_test(tc, test_fields_follow_the_first_with_a_comma);
    tcase_add_test(tc, test_a_consultation_without_an_end_shows_a_null_end_date);
    tcase_add_test(tc, test_compat_dates_are_naive_utc_with_microseconds);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(api_suite)
