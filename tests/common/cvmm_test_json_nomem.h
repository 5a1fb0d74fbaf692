/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm_test_json_nomem.h - make jansson run out of memory after a given number of allocations, through
 *  its own hook (json_set_alloc_funcs()): the JSON writers' -ENOMEM paths, at every step. */
#ifndef CVMM_TEST_JSON_NOMEM_H
#define CVMM_TEST_JSON_NOMEM_H

#include <jansson.h>
#include <stdlib.h>

static int cvmm_test_json_allocs_left;

static inline void *cvmm_test_json_failing_malloc(size_t n)
{
    if (cvmm_test_json_allocs_left <= 0)
        return NULL;
    cvmm_test_json_allocs_left--;
    return malloc(n);
}

/** cvmm_test_json_allow() - from now on jansson's next @n allocations succeed and the rest fail; @n < 0:
 *  all succeed again (malloc and free). */
static inline void cvmm_test_json_allow(int n)
{
    cvmm_test_json_allocs_left = n;
    json_set_alloc_funcs(n < 0 ? malloc : cvmm_test_json_failing_malloc, free);
}

#endif
