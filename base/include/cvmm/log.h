/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/log.h - the logging hook shared by every cvmm library.
 *
 *  Each top-level object's config takes a borrowed `const struct cvmm_log *` that must outlive the object;
 *  child objects inherit it.  A NULL logger writes to stderr at CVMM_LOG_WARN.  There is no process-wide
 *  logger.  A line names its object ("vq3: ..."), with no trailing newline.  This header holds the only
 *  stdio code of the libraries.
 *  Threads: cvmm_logf() may be called from any thread; the hook must be thread-safe if the objects using it
 *  run on several threads. */
#ifndef CVMM_LOG_H
#define CVMM_LOG_H

#include <stdarg.h>
#include <stdio.h>

#include "cvmm/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

enum cvmm_log_level {
    CVMM_LOG_ERROR = 0,
    CVMM_LOG_WARN = 1,
    CVMM_LOG_INFO = 2,
    CVMM_LOG_DEBUG = 3,
};

/** cvmm_log_fn - receives one formatted line (no trailing newline).  @line is valid during the call only. */
typedef void cvmm_log_fn(void *opaque, enum cvmm_log_level lvl, const char *line);

/** A logger: where an object's lines go and from which level on (transparent; borrowed by the objects). */
struct cvmm_log {
    cvmm_log_fn *fn;           /* NULL: stderr */
    void *opaque;              /* passed to fn */
    enum cvmm_log_level level; /* lines above this level are dropped before formatting */
};

#define CVMM_LOG_LINE_MAX 512

static inline const char *cvmm_log_level_name(enum cvmm_log_level lvl)
{
    switch (lvl) {
    case CVMM_LOG_ERROR: return "error";
    case CVMM_LOG_WARN: return "warn";
    case CVMM_LOG_INFO: return "info";
    default: return "debug";
    }
}

/** cvmm_log_enabled() - would a line at @lvl be written?  Lets callers skip expensive argument set-up. */
static inline int cvmm_log_enabled(const struct cvmm_log *log, enum cvmm_log_level lvl)
{
    return lvl <= (log ? log->level : CVMM_LOG_WARN);
}

static inline CVMM_PRINTF(3, 0) void cvmm_vlogf(const struct cvmm_log *log, enum cvmm_log_level lvl, const char *fmt,
                                                va_list ap)
{
    char line[CVMM_LOG_LINE_MAX];
    if (!cvmm_log_enabled(log, lvl))
        return;
    vsnprintf(line, sizeof(line), fmt, ap);
    if (log && log->fn)
        log->fn(log->opaque, lvl, line);
    else
        fprintf(stderr, "cvmm %s: %s\n", cvmm_log_level_name(lvl), line);
}

/** cvmm_logf() - format and emit one line if @lvl passes @log's level.  @log may be NULL (stderr, WARN). */
static inline CVMM_PRINTF(3, 4) void cvmm_logf(const struct cvmm_log *log, enum cvmm_log_level lvl, const char *fmt,
                                               ...)
{
    va_list ap;
    if (!cvmm_log_enabled(log, lvl))
        return;
    va_start(ap, fmt);
    cvmm_vlogf(log, lvl, fmt, ap);
    va_end(ap);
}

#ifdef __cplusplus
}
#endif
#endif
