/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* fuzz_common.c - what every fuzz target shares: the quiet logger, the fd counter, invariant failures. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cvmm_test_fds.h"
#include "fuzz_input.h"

void fuzz_log_line(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    (void)opaque;
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("CVMM_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "[%s] %s\n", cvmm_log_level_name(lvl), line);
}

const struct cvmm_log *fuzz_log(void)
{
    static const struct cvmm_log log = {.fn = fuzz_log_line, .level = CVMM_LOG_DEBUG};
    return &log;
}

int fuzz_count_fds(void) { return cvmm_test_count_fds(); }

void fuzz_dump_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char p[300], target[256];
        snprintf(p, sizeof(p), "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(p, target, sizeof(target) - 1);
        target[n > 0 ? n : 0] = '\0';
        fprintf(stderr, "  fd %s -> %s\n", e->d_name, target);
    }
    closedir(d);
}

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("fuzz invariant broken: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    abort();
}
