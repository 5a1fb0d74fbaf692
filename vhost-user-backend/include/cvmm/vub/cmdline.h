/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/cmdline.h - the spec's "Back-end program conventions" for device programs.
 *
 *  Common options: --socket-path=PATH | --fd=FDNUM (exactly one, unless --print-capabilities),
 *  --client (connect to a front-end listening at --socket-path), --print-capabilities,
 *  --log-level=error|warn|info|debug, --workers=N, --serve-once, --busy-poll=USEC, --poll, --help.  A device adds its own options
 *  (--blk-file=PATH ...) through a table.  Values are given as --opt=VAL or --opt VAL.
 *  Threads: any; nothing here keeps state. */
#ifndef CVMM_VUB_CMDLINE_H
#define CVMM_VUB_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "cvmm/log.h"
#include "cvmm/vub/daemon.h"

#ifdef __cplusplus
extern "C" {
#endif

/** vub_cmdline_option - one device option. */
typedef struct vub_cmdline_option {
    const char *name; /* without the dashes: "blk-file" */
    bool has_arg;     /* takes a value */
    const char *help; /* one line for --help */
    /** parse() - @arg is the value (NULL without has_arg).  Return 0 or -EINVAL (reported as a bad value). */
    int (*parse)(void *opaque, const char *arg);
} vub_cmdline_option;

/** vub_cmdline - the parsed common options (transparent). */
typedef struct vub_cmdline {
    const char *socket_path;       /* borrowed from argv; NULL if not given */
    int fd;                        /* --fd, or -1 */
    bool client;                   /* --client */
    bool print_capabilities;       /* --print-capabilities */
    bool help;                     /* --help */
    bool serve_once;               /* --serve-once */
    unsigned workers;              /* --workers, 0 if not given */
    bool busy_poll_set;            /* --busy-poll given */
    unsigned busy_poll_us;         /* --busy-poll=USEC (0..1000000; 0: off) */
    bool poll;                     /* --poll: poll the rings for ever (vub_daemon_config.poll) */
    enum cvmm_log_level log_level; /* --log-level, default CVMM_LOG_WARN */
} vub_cmdline;

/** vub_cmdline_parse() - parse argv[1..argc).  With --print-capabilities or --help the other options are
 *  not checked (as the spec asks).  Return: 0; -EINVAL unknown option, missing or bad value, both or
 *  neither of --socket-path/--fd, --client without --socket-path, --workers out of 1..64, --busy-poll out
 *  of 0..1000000; @err (if not
 *  NULL) gets a one-line message then.  Ownership: strings in *out borrow argv. */
int vub_cmdline_parse(int argc, char *const *argv, const vub_cmdline_option *opts, size_t nopts, void *opaque,
                      vub_cmdline *out, char *err, size_t errlen);

/** vub_cmdline_usage() - write a usage text for @prog with the device's @opts to @fd.  Return: 0; -errno. */
int vub_cmdline_usage(int fd, const char *prog, const vub_cmdline_option *opts, size_t nopts);

/** vub_print_capabilities() - write {"type": @type} (vhost-user.json, VHostUserBackendCapabilities) and a
 *  newline to @fd, built with jansson, after checking it against the spec's schema: @type must be one of
 *  VHostUserBackendType ("9p", "balloon", "block", "caif", "console", "crypto", "gpu", "input", "net",
 *  "rng", "rpmsg", "rproc-serial", "scsi", "vsock", "fs"); the types with a feature list in the schema
 *  (block: "read-only", "blk-file"; input: "evdev-path", "no-grab"; gpu: "render-node", "virgl") always
 *  get "features": [@features...], the others never, so @features must be NULL or empty for them.
 *  @features may be NULL or NULL-terminated.  Return: 0; -EINVAL NULL or unknown type, or a feature the
 *  type does not have (nothing written); -ENOMEM; -EIO write failed.  Ownership: @fd borrowed. */
int vub_print_capabilities(int fd, const char *type, const char *const *features);

/** vub_cmdline_busy_poll() - vub_daemon_config.busy_poll_us for @cl: 0 (the default) without --busy-poll,
 *  -1 for --busy-poll=0 (off), else the value.  Return: that.  Threads: any. */
int vub_cmdline_busy_poll(const vub_cmdline *cl);

/** vub_cmdline_serve() - do what @cl says on @d: --socket-path (listen, or connect with --client) or --fd.
 *  Return: as vub_daemon_listen() / vub_daemon_connect() / vub_daemon_serve_fd(); -EINVAL nothing to do.
 *  Ownership: the --fd descriptor is taken by the daemon. */
int vub_cmdline_serve(const vub_cmdline *cl, vub_daemon *d);

#ifdef __cplusplus
}
#endif
#endif
