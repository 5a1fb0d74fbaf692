/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* What the blk suites share besides their fixtures: a log sink that stays quiet unless BLK_TEST_VERBOSE is
 * set, and the byte every test disk holds at each offset before anything writes it. */
#ifndef CVMM_TESTS_BLK_TEST_UTIL_H
#define CVMM_TESTS_BLK_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cvmm/log.h"

/* A cvmm_log sink: prints each line to stderr only when BLK_TEST_VERBOSE is set. */
static inline void blk_test_quiet(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    if (getenv("BLK_TEST_VERBOSE"))
        fprintf(stderr, "[%d] %s\n", (int)lvl, line);
}

/* The initial content of a test disk at byte offset @off (differs between neighbouring sectors). */
static inline uint8_t blk_test_disk_byte(uint64_t off) { return (uint8_t)(off * 7 + off / 512 + 1); }

#endif
