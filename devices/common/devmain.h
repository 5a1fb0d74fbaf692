/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* devmain.h - pieces of the example device programs that they share (cvmm-device-common).
 *  Not a library API: these helpers print to stderr, which library code must not do.
 *  Threads: the main thread, before and after vub_daemon_run(), unless said otherwise. */
#ifndef CVMM_DEVICES_DEVMAIN_H
#define CVMM_DEVICES_DEVMAIN_H

#include "cvmm/log.h"
#include "cvmm/vub.h"

#ifdef __cplusplus
extern "C" {
#endif

/** dev_parse_uint() - a decimal number in [@min, @max] (digits only: no sign, no spaces, no base prefix).
 *  Return: 0 and *@out set; -EINVAL otherwise (*@out may be changed). */
int dev_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);

/** dev_log_stderr() - a cvmm_log_fn writing "@opaque: level: line" to stderr; @opaque is the program name. */
void dev_log_stderr(void *opaque, enum cvmm_log_level lvl, const char *line);

/** dev_daemon_new() - vub_daemon_new(), saying "@prog: cannot start the daemon: ..." on stderr if it fails.
 *  Return: as vub_daemon_new(). */
int dev_daemon_new(const char *prog, const vub_daemon_config *cfg, vub_daemon **out);

/** dev_serve() - vub_cmdline_serve(), saying "@prog: cannot serve socket PATH: ..." (or "fd") on stderr if it
 *  fails.  Return: as vub_cmdline_serve(). */
int dev_serve(const char *prog, const vub_cmdline *cl, vub_daemon *d);

/** dev_queue_enabled() - a queue_enabled op for devices that serve a ring from queue_kicked() and leave a
 *  disabled ring alone there: a started ring that is enabled is kicked, since requests may have arrived while
 *  it was disabled.  Return: 0; as vub_queue_kick().  Threads: as the op. */
int dev_queue_enabled(void *ctx, vub_queue *q, bool enabled);

/** dev_queue_notify_after() - notify the driver of @q after a queue_kicked() op served it, even if serving
 *  failed with @served < 0 (chains may have been used before).  Return: 0; @served if < 0, else the
 *  vub_queue_notify() error.  Threads: as the op. */
int dev_queue_notify_after(vub_queue *q, int served);

/** dev_daemon_run() - vub_daemon_run(), saying "@prog: <strerror>" on stderr if it fails.
 *  Return: as vub_daemon_run(). */
int dev_daemon_run(const char *prog, vub_daemon *d);

#ifdef __cplusplus
}
#endif
#endif
