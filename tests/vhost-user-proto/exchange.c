/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vhost-user-proto/exchange.c - full front-end <-> back-end exchanges with the back-end in another
 * thread (scenarios in exchange.h; exchange_tsan.c runs the same ones without Criterion, under TSan). */
#include <criterion/criterion.h>

#include "exchange.h"

static int fds_at_start;
static struct cap_log cap = {.lock = PTHREAD_MUTEX_INITIALIZER};
static const struct cvmm_log logger = CAP_LOG_INIT(&cap);

static void setup(void) { fds_at_start = cvmm_test_count_fds(); }
static void teardown(void) { cr_assert_eq(cvmm_test_count_fds(), fds_at_start, "fd leaked"); }

TestSuite(exchange, .init = setup, .fini = teardown, .timeout = 120);

#define RUN(scenario)                                                                                                  \
    do {                                                                                                               \
        const char *err_ = scenario(&logger);                                                                          \
        cr_assert_null(err_, "%s", err_);                                                                              \
    } while (0)

Test(exchange, full_protocol_with_memfds_shmem_and_the_backend_channel) { RUN(scenario_full_exchange); }
Test(exchange, all_zero_shmem_config) { RUN(scenario_zero_shmem_config); }
Test(exchange, old_shmem_bit_21_never_means_shmem) { RUN(scenario_bit_21_is_not_shmem); }
Test(exchange, concurrent_backend_channel_requests) { RUN(scenario_concurrent_channel_requests); }
Test(exchange, stream_integrity_under_partial_writes) { RUN(scenario_stream_integrity_under_pressure); }
