/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/program.h - a whole device program in one call.
 *
 *  vub_program_main() is what a device's main() returns: it parses the command line (the spec's back-end
 *  program conventions of cvmm/vub/cmdline.h plus the device's own typed options, checked against their
 *  ranges), answers --help (aligned, with defaults) and --print-capabilities (JSON, vhost-user.json's
 *  VHostUserBackendCapabilities), logs to stderr ("PROG: level: line"), ignores SIGPIPE, runs the device's
 *  setup(), locks the sandbox's filesystem part (cvmm/vub/sandbox.h: no new privileges, only the fds and
 *  paths setup() declared, Landlock), creates the daemon, serves --socket-path / --fd / --client, runs
 *  started(), loads the sandbox's seccomp filter on every thread, runs the daemon with SIGTERM/SIGINT
 *  stopping it cleanly (stopped() after it), and tears down:
 *
 *      static const vub_program prog = {.name = "cvmm-rng", .type = "rng", .ops = &ops, .info = &info};
 *      int main(int argc, char **argv) { return vub_program_main(&prog, argc, argv); }
 *
 *  Program options besides cmdline.h's: --no-sandbox (no sandbox at all, for debugging: logged as a
 *  warning) and --print-sandbox (run setup(), print the policy this command line would apply as JSON,
 *  vub_sandbox_print(), tear down and exit; it needs the options a real run needs).  What the program
 *  itself declares: the --fd socket; with --socket-path, create/remove rights on the socket's directory
 *  (bind replaces a stale socket, the daemon removes its socket at exit), and with --client also
 *  socket(AF_UNIX, ...) (each reconnect makes a new socket).
 *
 *  Exit status: 0 after --help, --print-capabilities, --print-sandbox or a clean stop; 1 with one line on
 *  stderr for a bad command line, a failed setup(), a sandbox that could not be applied or a daemon that
 *  could not start or serve.
 *  Threads: the program's main thread; the device's ops run as cvmm/vub/device.h says. */
#ifndef CVMM_VUB_PROGRAM_H
#define CVMM_VUB_PROGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvmm/log.h"
#include "cvmm/vub/cmdline.h"
#include "cvmm/vub/device.h"
#include "cvmm/vub/sandbox.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Kinds of device option. */
enum vub_opt_type {
    VUB_OPT_FLAG = 0,   /* no value: *(bool *)dest = true */
    VUB_OPT_UINT = 1,   /* decimal or 0x hex, in [min, max]: *(uint64_t *)dest */
    VUB_OPT_SIZE = 2,   /* as UINT, also with a K/M/G/T suffix (powers of 1024): *(uint64_t *)dest */
    VUB_OPT_STRING = 3, /* any non-empty text: *(const char **)dest borrows argv */
    VUB_OPT_CUSTOM = 4, /* parse(dest, value) decides; may be given several times */
};

/** vub_program_option - one device option (transparent).  What dest holds before parsing is the default,
 *  and --help prints it. */
typedef struct vub_program_option {
    const char *name;       /* without the dashes: "blk-file" */
    enum vub_opt_type type; /* what the value is and where it goes */
    const char *value_name; /* the value in --help ("PATH"); NULL: "N", "SIZE" or "VALUE" by type */
    const char *help;       /* one line */
    void *dest;             /* where the value goes (see the types); borrowed, must outlive the program */
    uint64_t min;           /* UINT and SIZE: smallest accepted value (min and max both 0: any) */
    uint64_t max;           /* UINT and SIZE: largest accepted value */
    bool required;          /* must be given (not checked for --help and --print-capabilities) */
    /** parse() - CUSTOM: take @value for @dest.  Return: 0; -EINVAL bad value (reported with the option). */
    int (*parse)(void *dest, const char *value);
    const char *default_text; /* CUSTOM (or any type): what --help says the default is; NULL: derived */
} vub_program_option;

/** vub_program_env - what setup() gets, and may change, before the daemon starts (transparent). */
typedef struct vub_program_env {
    const struct cvmm_log *log;  /* the program's logger; it outlives the daemon */
    const vub_cmdline *cmdline;  /* the common options (--workers, --socket-path, --serve-once...) */
    const vub_device_info *info; /* the device description (vub_program.info); setup() may point it
                                    elsewhere, e.g. at one that depends on the options */
    unsigned nworkers;           /* worker threads: --workers if given, else vub_program.workers; setup()
                                    may change it (0: as vub_daemon_new()) */
    void *ctx;                   /* the device ops' context: vub_program.ctx; setup() may point it at a
                                    device it made (setup/started/stopped/teardown keep vub_program.ctx) */
    vub_sandbox *sandbox;        /* never NULL: setup() declares here what the device keeps using after
                                    it: vub_sandbox_keep_fd() for every fd it opened (the others are
                                    closed), vub_sandbox_allow_path() for files it opens later,
                                    vub_sandbox_allow_syscall*() for its ops' system calls beyond
                                    vub_program.sandbox_syscalls.  Borrowed until setup() returns. */
} vub_program_env;

/** vub_program - a device program (transparent; borrowed by vub_program_main()). */
typedef struct vub_program {
    const char *name;                    /* program name in messages and --help: "cvmm-rng" */
    const char *summary;                 /* one line under the usage line; may be NULL */
    const char *type;                    /* VHostUserBackendType printed by --print-capabilities: "rng" */
    const char *const *features;         /* capability features (e.g. "read-only"), NULL-terminated; NULL: none */
    const vub_program_option *options;   /* the device's options; may be NULL with noptions 0 */
    size_t noptions;                     /* entries of @options */
    const vub_device_ops *ops;           /* the device (cvmm/vub/device.h) */
    const vub_device_info *info;         /* its facts; setup() may point this elsewhere */
    void *ctx;                           /* passed to every op and to setup()/teardown() */
    unsigned workers;                    /* default worker threads (--workers overrides); 0: as vub_daemon_new() */
    const char *const *sandbox_syscalls; /* system calls the device's ops need beyond the daemon's own
                                            (cvmm/vub/sandbox.h), NULL-terminated; NULL: none */
    /** setup() - after the command line, before the daemon exists: open the device's files, check option
     *  combinations, change @env (info, nworkers) if the device depends on them, and declare what it
     *  keeps to @env->sandbox.  It must not start threads (the sandbox's filesystem lock needs the
     *  program's only thread; start them in started()).
     *  Return: 0; -errno (the program logs nothing more and exits 1: setup logs why).  NULL: nothing. */
    int (*setup)(void *ctx, vub_program_env *env);
    /** started() - the daemon @d is serving (listening, connected or given the --fd) and about to run: a
     *  device that needs the daemon itself (vub_daemon_backend(), its own watchers on vub_daemon_loop())
     *  starts them here.  Return: 0; -errno (logged by started; the daemon is freed and the program exits
     *  1 without calling stopped()).  NULL: nothing.  Threads: main (the daemon's loop is not running).
     *  Landlock is on already (files outside the declared paths cannot be opened), seccomp not yet. */
    int (*started)(void *ctx, vub_daemon *d);
    /** stopped() - vub_daemon_run() returned, @d is not freed yet: undo started().  NULL: nothing. */
    void (*stopped)(void *ctx, vub_daemon *d);
    /** teardown() - after the daemon is freed, when setup() had succeeded.  NULL: nothing. */
    void (*teardown)(void *ctx);
} vub_program;

/** vub_program_main() - run @p with the program's arguments, as the header says.
 *  Return: the exit status for main() (0 or 1).  Threads: the main thread, once. */
int vub_program_main(const vub_program *p, int argc, char **argv);

/** vub_program_log_stderr() - the cvmm_log_fn vub_program_main() uses: "@opaque: level: line" on stderr,
 *  with one write(2) per line (lines of concurrent threads do not interleave).  @opaque is the program
 *  name (const char *).  Threads: any. */
void vub_program_log_stderr(void *opaque, enum cvmm_log_level lvl, const char *line);

/** vub_program_parse_u64() - the number parser of VUB_OPT_UINT (@size false) and VUB_OPT_SIZE (@size
 *  true): decimal or 0x hex digits only, a K/M/G/T suffix (binary) when @size, within [@min, @max] (both
 *  0: any).  Return: 0 (*@out set); -EINVAL anything else, an overflow included.  Threads: any. */
int vub_program_parse_u64(const char *s, bool size, uint64_t min, uint64_t max, uint64_t *out);

#ifdef __cplusplus
}
#endif
#endif
