#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "uuid.h"

#include "check_main.h"

/* uuid_v7 keeps per-process state (the last id handed out), so the v7 tests
 * use timestamps that grow in registration order: they pass whether Check
 * forks each test or runs them all in one process (CK_FORK=no). */

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* The 48-bit timestamp in the first 12 hex digits of a v7 id. */
static int64_t v7_timestamp(const char *id)
{
    char hex[13];
    memcpy(hex, id, 8);
    memcpy(hex + 8, id + 9, 4);
    hex[12] = '\0';
    return (int64_t)strtoll(hex, NULL, 16);
}

static void assert_version_and_variant(const char *id, char version)
{
    ck_assert_uint_eq(strlen(id), 36);
    ck_assert_msg(uuid_is_valid(id, 36), "invalid: %s", id);
    ck_assert_int_eq(id[14], version);
    ck_assert_msg(strchr("89ab", id[19]) != NULL, "variant is not 10: %s", id);
    for (size_t i = 0; i < 36; i++)
        ck_assert_msg(!(id[i] >= 'A' && id[i] <= 'F'), "not lowercase: %s", id);
}

/* ---- v4 ---- */

START_TEST(test_v4_is_canonical_lowercase_with_version_4_and_variant_10)
{
    for (int i = 0; i < 100; i++) {
        char id[UUID_STR_LEN];
        uuid_v4(id);
        assert_version_and_variant(id, '4');
    }
}
END_TEST

START_TEST(test_v4_ids_do_not_repeat)
{
    enum { N = 2000 };
    static char ids[N][UUID_STR_LEN];
    for (int i = 0; i < N; i++)
        uuid_v4(ids[i]);
    qsort(ids, N, UUID_STR_LEN, cmp_str);
    for (int i = 1; i < N; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
}
END_TEST

/* ---- v7 ---- */

START_TEST(test_v7_is_canonical_lowercase_with_version_7_and_variant_10)
{
    char id[UUID_STR_LEN];
    uuid_v7(id, INT64_C(1600000000000));
    assert_version_and_variant(id, '7');
}
END_TEST

START_TEST(test_v7_embeds_the_millisecond_timestamp)
{
    char id[UUID_STR_LEN];
    uuid_v7(id, INT64_C(1700000000000)); /* 0x018bcfe56800 */
    ck_assert_int_eq(strncmp(id, "018bcfe5-6800-7", 15), 0);
    ck_assert_int_eq(v7_timestamp(id), INT64_C(1700000000000));
}
END_TEST

START_TEST(test_v7_max_sorts_after_every_id_of_its_ms_and_before_the_next)
{
    char max[UUID_STR_LEN], id[UUID_STR_LEN];
    uuid_v7_max(INT64_C(1700000000000), max);
    ck_assert_str_eq(max, "018bcfe5-6800-7fff-bfff-ffffffffffff");
    ck_assert(uuid_is_valid(max, strlen(max)));
    ck_assert_int_eq(v7_timestamp(max), INT64_C(1700000000000));
    uuid_v7(id, INT64_C(1700000000001));
    ck_assert_int_lt(strcmp(max, id), 0);
    uuid_v7_max(-5, max);
    ck_assert_str_eq(max, "00000000-0000-7fff-bfff-ffffffffffff");
}
END_TEST

START_TEST(test_v7_ids_in_the_same_ms_sort_in_creation_order)
{
    const int64_t ms = INT64_C(1800000000000);
    char prev[UUID_STR_LEN], id[UUID_STR_LEN];
    uuid_v7(prev, ms);
    /* The counter starts below 2048, so 1000 more ids fit in the same ms. */
    for (int i = 0; i < 1000; i++) {
        uuid_v7(id, ms);
        ck_assert_msg(strcmp(prev, id) < 0, "%s !< %s", prev, id);
        ck_assert_int_eq(v7_timestamp(id), ms);
        memcpy(prev, id, sizeof id);
    }
}
END_TEST

START_TEST(test_v7_counter_overflow_carries_into_the_timestamp)
{
    const int64_t ms = INT64_C(1900000000000);
    char prev[UUID_STR_LEN], id[UUID_STR_LEN];
    uuid_v7(prev, ms);
    /* 12 bits from a start below 2048: 5000 ids overflow exactly once. */
    for (int i = 0; i < 5000; i++) {
        uuid_v7(id, ms);
        ck_assert_msg(strcmp(prev, id) < 0, "%s !< %s", prev, id);
        memcpy(prev, id, sizeof id);
    }
    ck_assert_int_eq(v7_timestamp(id), ms + 1);
}
END_TEST

START_TEST(test_v7_clock_stepping_back_still_sorts_after)
{
    const int64_t ms = INT64_C(2000000000000);
    char first[UUID_STR_LEN], second[UUID_STR_LEN];
    uuid_v7(first, ms);
    uuid_v7(second, ms - 1000);
    ck_assert_msg(strcmp(first, second) < 0, "%s !< %s", first, second);
    ck_assert_int_eq(v7_timestamp(second), ms);
}
END_TEST

START_TEST(test_v7_later_ms_sorts_after_and_takes_its_timestamp)
{
    const int64_t ms = INT64_C(2100000000000);
    char first[UUID_STR_LEN], second[UUID_STR_LEN];
    uuid_v7(first, ms);
    uuid_v7(second, ms + 1);
    ck_assert_msg(strcmp(first, second) < 0, "%s !< %s", first, second);
    ck_assert_int_eq(v7_timestamp(second), ms + 1);
}
END_TEST

enum { THREADS = 4, PER_THREAD = 1000 };
static char thread_ids[THREADS * PER_THREAD][UUID_STR_LEN];

/* Runs make(thread_ids[i * PER_THREAD ...]) on THREADS threads at once. */
static void run_threads(void *(*make)(void *))
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_create(&t[i], NULL, make, thread_ids[i * PER_THREAD]), 0);
    for (int i = 0; i < THREADS; i++)
        ck_assert_int_eq(pthread_join(t[i], NULL), 0);
}

static void *make_v7_ids(void *arg)
{
    char(*mine)[UUID_STR_LEN] = arg;
    for (int i = 0; i < PER_THREAD; i++)
        uuid_v7(mine[i], INT64_C(2200000000000));
    return NULL;
}

START_TEST(test_v7_ids_from_concurrent_threads_are_unique_and_ordered_per_thread)
{
    run_threads(make_v7_ids);
    for (int i = 0; i < THREADS; i++)
        for (int j = 1; j < PER_THREAD; j++)
            ck_assert_int_lt(
                strcmp(thread_ids[i * PER_THREAD + j - 1], thread_ids[i * PER_THREAD + j]), 0);
    qsort(thread_ids, THREADS * PER_THREAD, UUID_STR_LEN, cmp_str);
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        ck_assert_str_ne(thread_ids[i - 1], thread_ids[i]);
}
END_TEST

static void *make_v4_ids(void *arg)
{
    char(*mine)[UUID_STR_LEN] = arg;
    for (int i = 0; i < PER_THREAD; i++)
        uuid_v4(mine[i]);
    return NULL;
}

/* Each thread draws from its own block of random bytes: no two blocks, and
 * no two draws of one block, may give the same bytes. */
START_TEST(test_v4_ids_from_concurrent_threads_do_not_repeat)
{
    run_threads(make_v4_ids);
    qsort(thread_ids, THREADS * PER_THREAD, UUID_STR_LEN, cmp_str);
    for (int i = 1; i < THREADS * PER_THREAD; i++)
        ck_assert_str_ne(thread_ids[i - 1], thread_ids[i]);
}
END_TEST

START_TEST(test_v7_out_of_range_timestamps_still_make_valid_ids)
{
    char id[UUID_STR_LEN];
    uuid_v7(id, -1);
    assert_version_and_variant(id, '7');
    uuid_v7(id, INT64_MAX);
    assert_version_and_variant(id, '7');
    ck_assert_int_eq(strncmp(id, "ffffffff-ffff-7", 15), 0);
}
END_TEST

/* ---- validation ---- */

START_TEST(test_is_valid_accepts_lower_upper_and_mixed_case)
{
    ck_assert(uuid_is_valid("0191d2f4-8e3b-7c1a-9f00-1234567890ab", 36));
    ck_assert(uuid_is_valid("0191D2F4-8E3B-7C1A-9F00-1234567890AB", 36));
    ck_assert(uuid_is_valid("0191d2F4-8e3B-7c1a-9F00-1234567890aB", 36));
    ck_assert(uuid_is_valid("00000000-0000-0000-0000-000000000000", 36));
}
END_TEST

START_TEST(test_is_valid_rejects_wrong_length)
{
    const char *s = "0191d2f4-8e3b-7c1a-9f00-1234567890ab0";
    ck_assert(!uuid_is_valid(s, 35));
    ck_assert(!uuid_is_valid(s, 37));
    ck_assert(!uuid_is_valid("", 0));
    ck_assert(!uuid_is_valid(NULL, 36));
}
END_TEST

START_TEST(test_is_valid_rejects_misplaced_or_missing_hyphens)
{
    ck_assert(!uuid_is_valid("0191d2f48-e3b-7c1a-9f00-1234567890ab", 36));
    ck_assert(!uuid_is_valid("0191d2f4-8e3b-7c1a-9f001-234567890ab", 36));
    ck_assert(!uuid_is_valid("0191d2f4_8e3b_7c1a_9f00_1234567890ab", 36));
    ck_assert(!uuid_is_valid("0191d2f48e3b7c1a9f001234567890ab", 32));
    ck_assert(!uuid_is_valid("{0191d2f4-8e3b-7c1a-9f00-1234567890}", 36));
}
END_TEST

START_TEST(test_is_valid_rejects_non_hex_digits)
{
    ck_assert(!uuid_is_valid("0191d2f4-8e3b-7c1a-9f00-1234567890ag", 36));
    ck_assert(!uuid_is_valid("0191d2f4-8e3b-7c1a-9f00-12345678 0ab", 36));
    ck_assert(!uuid_is_valid("0191d2f4-8e3b-7c1a-9f00-1234567890a\0", 36));
    ck_assert(!uuid_is_valid("0191d2f4-8e3b-7c1a-9f00-1234567890a\xc3", 36));
}
END_TEST

START_TEST(test_is_valid_reads_only_len_bytes)
{
    ck_assert(uuid_is_valid("0191d2f4-8e3b-7c1a-9f00-1234567890abTRAILING", 36));
}
END_TEST

START_TEST(test_normalize_lowercases_uppercase_uuid)
{
    char out[UUID_STR_LEN];
    ck_assert_int_eq(uuid_normalize("0191D2F4-8E3B-7C1A-9F00-1234567890AB", 36, out), 0);
    ck_assert_str_eq(out, "0191d2f4-8e3b-7c1a-9f00-1234567890ab");
}
END_TEST

START_TEST(test_normalize_keeps_lowercase_uuid)
{
    char out[UUID_STR_LEN];
    ck_assert_int_eq(uuid_normalize("0191d2f4-8e3b-7c1a-9f00-1234567890ab", 36, out), 0);
    ck_assert_str_eq(out, "0191d2f4-8e3b-7c1a-9f00-1234567890ab");
}
END_TEST

START_TEST(test_normalize_rejects_invalid_and_leaves_out_untouched)
{
    char out[UUID_STR_LEN] = "untouched";
    ck_assert_int_eq(uuid_normalize("not-a-uuid", 10, out), -1);
    ck_assert_int_eq(uuid_normalize("0191d2f4-8e3b-7c1a-9f00-1234567890ax", 36, out), -1);
    ck_assert_str_eq(out, "untouched");
}
END_TEST

START_TEST(test_v7_unix_ms_reads_back_the_timestamp_it_was_made_with)
{
    char id[UUID_STR_LEN];
    int64_t ms = 0;
    uuid_v7(id, 1732924800123); /* 2024-11-30T00:00:00.123Z */
    ck_assert_int_eq(uuid_v7_unix_ms(id, &ms), 0);
    ck_assert_int_ge(ms, 1732924800123);
    ck_assert_int_le(ms, 1732924800123 + 1); /* a counter overflow may carry one ms */
    ck_assert_int_eq(uuid_v7_unix_ms("0191D2F4-8E3B-7C1A-9F00-1234567890AB", &ms), 0);
    ck_assert_int_eq(ms, 0x0191d2f48e3b);
}
END_TEST

START_TEST(test_v7_unix_ms_rejects_other_versions_and_non_uuids)
{
    int64_t ms = 42;
    char v4[UUID_STR_LEN];
    uuid_v4(v4);
    ck_assert_int_eq(uuid_v7_unix_ms(v4, &ms), -1);
    ck_assert_int_eq(uuid_v7_unix_ms("0191d2f4-8e3b-7c1a-9f00-1234567890a", &ms), -1);
    ck_assert_int_eq(uuid_v7_unix_ms("0191d2f48e3b-7c1a-9f00-1234567890abc", &ms), -1);
    ck_assert_int_eq(uuid_v7_unix_ms("", &ms), -1);
    ck_assert_int_eq(uuid_v7_unix_ms(NULL, &ms), -1);
    ck_assert_int_eq(ms, 42);
}
END_TEST

static Suite *uuid_suite(void)
{
    Suite *s = suite_create("uuid");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_v4_is_canonical_lowercase_with_version_4_and_variant_10);
    tcase_add_test(tc, test_v4_ids_do_not_repeat);
    tcase_add_test(tc, test_v7_is_canonical_lowercase_with_version_7_and_variant_10);
    tcase_add_test(tc, test_v7_embeds_the_millisecond_timestamp);
    tcase_add_test(tc, test_v7_ids_in_the_same_ms_sort_in_creation_order);
    tcase_add_test(tc, test_v7_counter_overflow_carries_into_the_timestamp);
    tcase_add_test(tc, test_v7_clock_stepping_back_still_sorts_after);
    tcase_add_test(tc, test_v7_later_ms_sorts_after_and_takes_its_timestamp);
    tcase_add_test(tc, test_v7_ids_from_concurrent_threads_are_unique_and_ordered_per_thread);
    tcase_add_test(tc, test_v4_ids_from_concurrent_threads_do_not_repeat);
    tcase_add_test(tc, test_v7_out_of_range_timestamps_still_make_valid_ids);
    tcase_add_test(tc, test_is_valid_accepts_lower_upper_and_mixed_case);
    tcase_add_test(tc, test_is_valid_rejects_wrong_length);
    tcase_add_test(tc, test_is_valid_rejects_misplaced_or_missing_hyphens);
    tcase_add_test(tc, test_is_valid_rejects_non_hex_digits);
    tcase_add_test(tc, test_is_valid_reads_only_len_bytes);
    tcase_add_test(tc, test_normalize_lowercases_uppercase_uuid);
    tcase_add_test(tc, test_normalize_keeps_lowercase_uuid);
    tcase_add_test(tc, test_normalize_rejects_invalid_and_leaves_out_untouched);
    tcase_add_test(tc, test_v7_unix_ms_reads_back_the_timestamp_it_was_made_with);
    tcase_add_test(tc, test_v7_unix_ms_rejects_other_versions_and_non_uuids);
    tcase_add_test(tc, test_v7_max_sorts_after_every_id_of_its_ms_and_before_the_next);
    suite_add_tcase(s, tc);
    return s;
}

CHECK_MAIN(uuid_suite)
