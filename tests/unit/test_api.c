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

static void append_item(buf *out, const void *x)
{
    const item *it = x;
    buf_puts(out, "{\"id\":");
    json_append_cstr(out, it->id);
    api_json_int(out, "v", it->v);
    buf_putc(out, '}');
}

static void assert_page(const mongo_page *p, const char *want)
{
    buf b;
    buf_init(&b);
    api_page_json(&b, p, append_item);
    ck_assert_str_eq(buf_cstr(&b), want);
    buf_free(&b);
}

START_TEST(test_a_last_page_has_no_next_cursor)
{
    item items[2] = {{"b", 2}, {"a", 1}};
    mongo_page p = {.items = items, .item_size = sizeof *items, .limit = 5, .n = 2};
    strcpy(p.last_id, "a");
    assert_page(&p,
                "{\"items\":[{\"id\":\"b\",\"v\":2},{\"id\":\"a\",\"v\":1}],\"next_cursor\":null}");
}
END_TEST

START_TEST(test_a_full_page_with_more_points_at_its_last_id)
{
    item items[2] = {{"b", 2}, {"a", 1}};
    mongo_page p = {.items = items, .item_size = sizeof *items, .limit = 2, .n = 2, .more = true};
    strcpy(p.last_id, "a");
    assert_page(
        &p, "{\"items\":[{\"id\":\"b\",\"v\":2},{\"id\":\"a\",\"v\":1}],\"next_cursor\":\"a\"}");
}
END_TEST

START_TEST(test_an_empty_page_is_an_empty_list)
{
    mongo_page p = {.item_size = sizeof(item), .limit = 2};
    assert_page(&p, "{\"items\":[],\"next_cursor\":null}");
}
END_TEST

START_TEST(test_fields_follow_the_first_with_a_comma)
{
    buf b;
    buf_init(&b);
    buf_puts(&b, "{\"a\":1");
    api_json_str(&b, "s", "x\"y");
    api_json_str(&b, "none", NULL);
    api_json_money(&b, "price", 20050);
    api_json_int(&b, "n", -3);
    api_json_time(&b, "at", true, 0);
    api_json_time(&b, "never", false, 0);
    buf_putc(&b, '}');
    ck_assert_str_eq(buf_cstr(&b), "{\"a\":1,\"s\":\"x\\\"y\",\"none\":null,\"price\":200.50,"
                                   "\"n\":-3,\"at\":\"1970-01-01T00:00:00Z\",\"never\":null}");
    buf_free(&b);
}
END_TEST

START_TEST(test_a_consultation_without_an_end_shows_a_null_end_date)
{
    buf b;
    buf_init(&b);
    int64_t end = 3600000;
    api_json_consultation(&b, "p", "q", 0, &end);
    api_json_consultation(&b, "p", "q", 0, NULL);
    ck_assert_str_eq(buf_cstr(&b), ",\"physician_id\":\"p\",\"patient_id\":\"q\",\"start_date\":"
                                   "\"1970-01-01T00:00:00Z\",\"end_date\":\"1970-01-01T01:00:00Z\""
                                   ",\"physician_id\":\"p\",\"patient_id\":\"q\",\"start_date\":"
                                   "\"1970-01-01T00:00:00Z\",\"end_date\":null");
    buf_free(&b);
}
END_TEST

static Suite *api_suite(void)
{
    Suite *s = suite_create("api");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_a_last_page_has_no_next_cursor);
    tcase_add_test(tc, test_a_full_page_with_more_points_at_its_last_id);
    tcase_add_test(tc, test_an_empty_page_is_an_empty_list);
    tcase_add_test(tc, test_fields_follow_the_first_with_a_comma);
    tcase_add_test(tc, test_a_consultation_without_an_end_shows_a_null_end_date);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(api_suite)
