/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm_test_exit.h - end a forked test child (or a signal handler in one) at once, keeping its coverage.
 *
 *  _exit() skips atexit(), so a child of a --coverage build would never write the counters of the code it
 *  ran.  The coverage preset defines CVMM_COVERAGE; then cvmm_test_exit() writes them first (libgcov's
 *  __gcov_dump(), fine in a child that does nothing else afterwards).  Elsewhere it is plain _exit(). */
#ifndef CVMM_TEST_EXIT_H
#define CVMM_TEST_EXIT_H

#include <unistd.h>

#ifdef CVMM_COVERAGE
void __gcov_dump(void);
#endif

static inline void cvmm_test_exit(int code)
{
#ifdef CVMM_COVERAGE
    __gcov_dump();
#endif
    _exit(code);
}

#endif
