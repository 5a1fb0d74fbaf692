/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The blk suites run twice (tests/devices/CMakeLists.txt): with io_uring (the default) and, as
 * test-devices-blk_*-sync, with BLK_TEST_AIO=sync, the synchronous path. */
#ifndef CVMM_TESTS_BLK_TEST_AIO_H
#define CVMM_TESTS_BLK_TEST_AIO_H

#include <stdlib.h>
#include <string.h>

#include "device.h"

static inline enum blk_aio_mode blk_test_aio(void)
{
    const char *m = getenv("BLK_TEST_AIO");
    return m && !strcmp(m, "sync") ? BLK_AIO_SYNC : BLK_AIO_IO_URING;
}

#endif
