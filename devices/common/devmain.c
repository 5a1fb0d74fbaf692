/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* What devmain.h declares: the parts of the example device programs that they share. */
#include "devmain.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dev_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -EINVAL;
    *out = (unsigned)v;
    return 0;
}

void dev_log_stderr(void *opaque, enum cvmm_log_level lvl, const char *line)
{
    fprintf(stderr, "%s: %s: %s\n", (const char *)opaque, cvmm_log_level_name(lvl), line);
}

int dev_daemon_new(const char *prog, const vub_daemon_config *cfg, vub_daemon **out)
{
    int rc = vub_daemon_new(cfg, out);
    if (rc < 0)
        fprintf(stderr, "%s: cannot start the daemon: %s\n", prog, strerror(-rc));
    return rc;
}

int dev_serve(const char *prog, const vub_cmdline *cl, vub_daemon *d)
{
    int rc = vub_cmdline_serve(cl, d);
    if (rc < 0)
        fprintf(stderr, "%s: cannot serve %s%s: %s\n", prog, cl->socket_path ? "socket " : "fd",
                cl->socket_path ? cl->socket_path : "", strerror(-rc));
    return rc;
}

int dev_queue_enabled(void *ctx, vub_queue *q, bool enabled)
{
    (void)ctx;
    if (enabled && vub_queue_started(q))
        return vub_queue_kick(q);
    return 0;
}

int dev_queue_notify_after(vub_queue *q, int served)
{
    int nrc = vub_queue_notify(q);
    if (served < 0)
        return served;
    return nrc < 0 ? nrc : 0;
}

int dev_daemon_run(const char *prog, vub_daemon *d)
{
    int rc = vub_daemon_run(d);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", prog, strerror(-rc));
    return rc;
}
