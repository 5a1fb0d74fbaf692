/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vhost-user-proto/exchange_tsan.c - the threaded exchanges of exchange.h as a plain program, so they
 * also run under ThreadSanitizer (Criterion 2.4 cannot start under TSan: Snaipe/Criterion#274). */
#include "exchange.h"

static void quiet(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    (void)lvl;
    (void)line;
}

int main(void)
{
    static const struct cvmm_log log = {.fn = quiet, .level = CVMM_LOG_DEBUG};
    static const struct {
        const char *name;
        const char *(*fn)(const struct cvmm_log *);
    } all[] = {
        {"full_exchange", scenario_full_exchange},
        {"zero_shmem_config", scenario_zero_shmem_config},
        {"bit_21_is_not_shmem", scenario_bit_21_is_not_shmem},
        {"concurrent_channel_requests", scenario_concurrent_channel_requests},
        {"stream_integrity_under_pressure", scenario_stream_integrity_under_pressure},
    };
    int fds = cvmm_test_count_fds(), failures = 0;
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        const char *err = all[i].fn(&log);
        printf("%s %s%s%s\n", err ? "FAIL" : "ok  ", all[i].name, err ? ": " : "", err ? err : "");
        failures += err != NULL;
    }
    if (cvmm_test_count_fds() != fds) {
        printf("FAIL fd leak: %d -> %d\n", fds, cvmm_test_count_fds());
        failures++;
    }
    return failures ? 1 : 0;
}
