#include <check.h>
#include <stdbool.h>
#include <stdlib.h>

#include "buf.h"
#include "ops.h"

#include "check_main.h"

static const ops_check db_ok = {.name = "mongodb", .state = "ok", .ok = true, .needed = true};
static const ops_check db_down = {.name = "mongodb", .state = "down", .ok = false, .needed = true};
static const ops_check kafka_ok = {.name = "kafka", .state = "ok", .ok = true};
static const ops_check kafka_down = {.name = "kafka", .state = "down", .ok = false};
static const ops_check consumer_paused = {.name = "consumer", .state = "paused-db-down"};

static void assert_body(const ops_check *checks, size_t n, long stale_ms, bool want_ready,
                        const char *want)
{
    buf b;
    buf_init(&b);
    bool ready = !want_ready;
    ops_ready_body(&b, checks, n, stale_ms, &ready);
    ck_assert_str_eq(buf_cstr(&b), want);
    ck_assert(ready == want_ready);
    buf_free(&b);
}

START_TEST(test_ready_when_every_needed_check_is_ok)
{
    ops_check c[] = {db_ok, kafka_ok};
    assert_body(c, 2, 0, true,
                "{\"status\":\"ready\",\"checks\":{\"mongodb\":\"ok\",\"kafka\":\"ok\"}}");
}
END_TEST

START_TEST(test_a_broker_outage_keeps_it_ready)
{
    ops_check c[] = {db_ok, kafka_down, consumer_paused};
    assert_body(c, 3, 0, true,
                "{\"status\":\"ready\",\"checks\":{\"mongodb\":\"ok\",\"kafka\":\"down\","
                "\"consumer\":\"paused-db-down\"}}");
}
END_TEST

START_TEST(test_a_database_outage_makes_it_unavailable)
{
    ops_check c[] = {db_down, kafka_ok};
    assert_body(c, 2, 0, false,
                "{\"status\":\"unavailable\",\"checks\":{\"mongodb\":\"down\",\"kafka\":\"ok\"}}");
}
END_TEST

START_TEST(test_no_probe_yet_is_starting)
{
    assert_body(NULL, 0, 0, false, "{\"status\":\"starting\",\"checks\":{}}");
}
END_TEST

START_TEST(test_a_stale_result_is_unavailable_and_says_how_old)
{
    ops_check c[] = {db_ok, kafka_ok};
    assert_body(c, 2, 12345, false,
                "{\"status\":\"unavailable\",\"checks\":{\"mongodb\":\"ok\",\"kafka\":\"ok\"},"
                "\"stale_ms\":12345}");
}
END_TEST

static Suite *ops_suite(void)
{
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("readyz body");
    tcase_add_test(tc, test_ready_when_every_needed_check_is_ok);
    tcase_add_test(tc, test_a_broker_outage_keeps_it_ready);
    tcase_add_test(tc, test_a_database_outage_makes_it_unavailable);
    tcase_add_test(tc, test_no_probe_yet_is_starting);
    tcase_add_test(tc, test_a_stale_result_is_unavailable_and_says_how_old);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(ops_suite)
