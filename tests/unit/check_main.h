/* check_main: the one main() of every Check suite binary. It runs the suite,
 * prints Check's summary and exits nonzero when a check failed:
 *     CHECK_MAIN(money_suite)
 * A suite that needs set-up around the run calls check_run() itself. */
#ifndef TESTS_CHECK_MAIN_H
#define TESTS_CHECK_MAIN_H

#include <check.h>
#include <stdlib.h>

static inline int check_run(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#define CHECK_MAIN(suite_fn)                                                                       \
    int main(void)                                                                                 \
    {                                                                                              \
        return check_run(suite_fn());                                                              \
    }

#endif
