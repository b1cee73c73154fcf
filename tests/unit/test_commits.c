/* The commit rules of financial/commits.c that need no broker: what shows
 * the group's coordinator, for how long, and when a commit is due. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "commits.h"

#include "check_main.h"

#define T0 INT64_C(1000000) /* a monotonic instant, ms */

static void stats(commits *cm, const char *json, int64_t now)
{
    commits_stats(cm, json, strlen(json), now);
}

START_TEST(test_nothing_seen_is_not_up)
{
    commits cm;
    commits_init(&cm, NULL);
    ck_assert(!commits_coordinator_up(&cm, T0));
    commits_stored(&cm);
    ck_assert(!commits_due(&cm, T0)); /* stored, but no coordinator seen */
}
END_TEST

START_TEST(test_statistics_show_the_coordinator)
{
    commits cm;
    commits_init(&cm, NULL);
    stats(&cm,
          "{\"name\":\"rdkafka#consumer-1\",\"cgrp\":{\"state\":\"up\",\"join_state\":\"steady\"}}",
          T0);
    ck_assert(commits_coordinator_up(&cm, T0));
    ck_assert(commits_coordinator_up(&cm, T0 + COMMITS_COORDINATOR_STALE_MS - 1));
    ck_assert(!commits_coordinator_up(&cm, T0 + COMMITS_COORDINATOR_STALE_MS));
    /* Any other state, a missing cgrp, or JSON that does not parse: down. */
    stats(&cm, "{\"cgrp\":{\"state\":\"query-coord\"}}", T0 + 10);
    ck_assert(!commits_coordinator_up(&cm, T0 + 10));
    stats(&cm, "{\"cgrp\":{\"state\":\"up\"}}", T0 + 20);
    ck_assert(commits_coordinator_up(&cm, T0 + 20));
    stats(&cm, "{\"name\":\"rdkafka#producer-1\"}", T0 + 30);
    ck_assert(!commits_coordinator_up(&cm, T0 + 30));
    stats(&cm, "{\"cgrp\":{\"state\":\"up\"}}", T0 + 40);
    stats(&cm, "{\"cgrp\":", T0 + 50);
    ck_assert(!commits_coordinator_up(&cm, T0 + 50));
    stats(&cm, "{\"cgrp\":{\"state\":1}}", T0 + 60);
    ck_assert(!commits_coordinator_up(&cm, T0 + 60));
}
END_TEST

START_TEST(test_due_needs_stored_offsets_a_coordinator_and_no_commit_in_flight)
{
    commits cm;
    commits_init(&cm, NULL);
    commits_seen(&cm, true, T0);      /* an assignment */
    ck_assert(!commits_due(&cm, T0)); /* nothing stored */
    commits_stored(&cm);
    ck_assert(commits_due(&cm, T0));
    cm.in_flight = true;
    ck_assert(!commits_due(&cm, T0));
    cm.in_flight = false;
    cm.next_ms = T0 + COMMITS_INTERVAL_MS;
    ck_assert(!commits_due(&cm, T0 + COMMITS_INTERVAL_MS - 1));
    /* The interval passed, but the last sign of the coordinator is stale. */
    ck_assert(!commits_due(&cm, T0 + COMMITS_COORDINATOR_STALE_MS));
    commits_seen(&cm, true, T0 + COMMITS_INTERVAL_MS);
    ck_assert(commits_due(&cm, T0 + COMMITS_INTERVAL_MS));
}
END_TEST

START_TEST(test_a_commit_result_shows_the_coordinator_or_keeps_the_offsets)
{
    commits cm;
    commits_init(&cm, NULL);
    cm.in_flight = true;
    commits_result(&cm, RD_KAFKA_RESP_ERR_NO_ERROR, T0);
    ck_assert(!cm.in_flight && !cm.uncommitted);
    ck_assert(commits_coordinator_up(&cm, T0));
    /* Nothing to commit is no failure. */
    cm.in_flight = true;
    commits_result(&cm, RD_KAFKA_RESP_ERR__NO_OFFSET, T0 + 1);
    ck_assert(!cm.in_flight && !cm.uncommitted);
    /* A failure keeps the offsets for the next round. */
    cm.in_flight = true;
    commits_result(&cm, RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, T0 + 2);
    ck_assert(!cm.in_flight && cm.uncommitted);
    ck_assert(commits_due(&cm, T0 + 2));
}
END_TEST

static Suite *commits_suite(void)
{
    Suite *s = suite_create("commits");
    TCase *tc = tcase_create("commits");
    tcase_add_test(tc, test_nothing_seen_is_not_up);
    tcase_add_test(tc, test_statistics_show_the_coordinator);
    tcase_add_test(tc, test_due_needs_stored_offsets_a_coordinator_and_no_commit_in_flight);
    tcase_add_test(tc, test_a_commit_result_shows_the_coordinator_or_keeps_the_offsets);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(commits_suite)
