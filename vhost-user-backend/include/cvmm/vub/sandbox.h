/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm/vub/sandbox.h - lock a device daemon in after its set-up: no new privileges, only the declared
 *  fds, Landlock on the filesystem, a seccomp allowlist of system calls.
 *
 *  A program declares what it needs (fds it keeps, paths it may still open, system calls beyond the
 *  daemon's own), then locks in two steps:
 *
 *      vub_sandbox_lock_fs()        while the process has ONE thread (before vub_daemon_new()):
 *                                   PR_SET_NO_NEW_PRIVS, close every fd > 2 not declared, optionally new
 *                                   namespaces and another uid/gid, then Landlock (it binds the calling
 *                                   thread and the threads it starts later, so every worker inherits it);
 *      vub_sandbox_lock_syscalls()  when the daemon is set up (serving, device started), before it runs:
 *                                   the seccomp filter, loaded on every thread (SECCOMP_FILTER_FLAG_TSYNC).
 *
 *  vub_program_main() (cvmm/vub/program.h) does both for every device unless --no-sandbox, and prints
 *  the policy with --print-sandbox.  Where the kernel has no Landlock (or an older ABI than this file
 *  knows, 7) the sandbox does what the kernel offers and logs one warning saying what is not restricted.
 *
 *  The system call allowlist.  The daemon's own list (libev's epoll and eventfds, the control socket,
 *  worker threads, guest memory mmap, logging, signals) is built in and documented, with how it was
 *  derived, in src/sandbox_syscalls.c; it is printed by vub_sandbox_print().  A device adds what its ops
 *  need (vub_sandbox_allow_syscall(), e.g. "pread64", "fallocate" for a block device).  clone is allowed
 *  only for threads (CLONE_THREAD set), clone3 fails with ENOSYS (glibc then uses clone), socket() only
 *  for the families allowed with vub_sandbox_allow_syscall_arg().  Builds with a sanitizer
 *  (-DCVMM_SANITIZE=...) add the system calls and the read-only filesystem view the sanitizer runtimes
 *  need to report and to check leaks at exit (LeakSanitizer stops the world with clone and ptrace); the
 *  printed policy names that allowance.  The coverage preset (-DCVMM_COVERAGE=1) adds what gcov needs:
 *  writing under the build tree (or $GCOV_PREFIX), its exit-time calls, and a dump of the counts in the
 *  SIGSYS handler (docs/sandbox.md); no other build has any of it.
 *
 *  A violation: any other system call raises SIGSYS (SECCOMP_RET_TRAP); the sandbox's handler writes one
 *  line "PROGRAM: error: sandbox: forbidden system call NAME (NR): killed" (PROGRAM:
 *  program_invocation_short_name) to stderr with write(2) and
 *  ends the whole process with SECCOMP_RET_KILL_PROCESS: its parent sees it killed by SIGSYS.  The
 *  forbidden call never runs, even if the device replaced the handler.  A path outside the Landlock rules
 *  fails with EACCES (the caller sees the error; nothing is killed); a ptrace of a process outside the
 *  sandbox fails with EPERM where seccomp lets ptrace through (sanitizer builds).
 *
 *  Threads: every function is `owner` (the program's main thread); the sandbox object is not shared. */
#ifndef CVMM_VUB_SANDBOX_H
#define CVMM_VUB_SANDBOX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cvmm/log.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Access to a declared path (vub_sandbox_allow_path()); a directory's rights cover everything beneath. */
#define VUB_SANDBOX_READ 1u   /* open files for reading, list directories */
#define VUB_SANDBOX_WRITE 2u  /* open files for writing, truncate them */
#define VUB_SANDBOX_CREATE 4u /* (directories) create and remove files, directories and UNIX sockets */

typedef struct vub_sandbox vub_sandbox;

/** vub_sandbox_config - how to lock (transparent; zero means: keep uid/gid and namespaces). */
typedef struct vub_sandbox_config {
    const struct cvmm_log *log; /* borrowed, must outlive the sandbox; NULL: stderr at WARN */
    bool set_ids;               /* switch to @uid/@gid (no supplementary groups) in vub_sandbox_lock_fs() */
    uid_t uid;                  /* with @set_ids: the user to become */
    gid_t gid;                  /* with @set_ids: the group to become */
    bool namespaces;            /* new user, mount and network namespaces in vub_sandbox_lock_fs() (fds already
                        open keep working: a tap, the vhost-user socket; --client connects by path) */
} vub_sandbox_config;

/** vub_sandbox_new() - an empty declaration: fds 0-2 kept, no path, the daemon's own system calls.
 *  Return: 0; -EINVAL NULL @cfg or @out; -ENOMEM.  Ownership: *out owned, vub_sandbox_free(). */
int vub_sandbox_new(const vub_sandbox_config *cfg, vub_sandbox **out);

/** vub_sandbox_free() - forget the declaration (a lock stays in force: it cannot be undone).  NULL: no-op. */
void vub_sandbox_free(vub_sandbox *sb);

/** vub_sandbox_keep_fd() - @fd stays open through vub_sandbox_lock_fs() (a backing file, a tap, a
 *  socket).  Declaring an fd twice is fine.  Return: 0; -EBADF @fd < 0 or not open; -ENOMEM.
 *  Ownership: @fd borrowed (the caller still closes it). */
int vub_sandbox_keep_fd(vub_sandbox *sb, int fd);

/** vub_sandbox_allow_path() - after the lock, @path (a file or a directory and what is beneath) may be
 *  opened with @access (VUB_SANDBOX_* bits; CREATE only for a directory).  The path must exist now.
 *  Return: 0; -EINVAL no or unknown bits, CREATE on a file, NULL/empty @path; -ENOENT (or the errno of
 *  open(O_PATH)) @path cannot be opened; -ENOMEM.  Ownership: @path copied. */
int vub_sandbox_allow_path(vub_sandbox *sb, const char *path, unsigned access);

/** vub_sandbox_allow_syscall() - allow the system call @name ("pread64") with any arguments.
 *  Return: 0 (also when already allowed); -EINVAL NULL @name, unknown to libseccomp on this
 *  architecture, or one the sandbox never allows whole (execve, execveat, clone, clone3, ptrace, socket:
 *  use vub_sandbox_allow_syscall_arg() for socket); -ENOMEM.  Ownership: @name copied. */
int vub_sandbox_allow_syscall(vub_sandbox *sb, const char *name);

/** vub_sandbox_allow_syscall_arg() - allow @name when its argument @arg (0-5) equals @value, e.g.
 *  ("socket", 0, AF_UNIX) or ("ioctl", 1, TUNSETOFFLOAD).  Several calls for one name allow any of the
 *  values; one for a name also allowed whole changes nothing.  Return: 0; -EINVAL as
 *  vub_sandbox_allow_syscall() (socket is accepted here) or @arg > 5; -ENOMEM. */
int vub_sandbox_allow_syscall_arg(vub_sandbox *sb, const char *name, unsigned arg, uint64_t value);

/** vub_sandbox_allow_syscalls() - vub_sandbox_allow_syscall() for each name of the NULL-terminated
 *  @names (NULL: none).  Return: 0; the first failure (names before it stay allowed). */
int vub_sandbox_allow_syscalls(vub_sandbox *sb, const char *const *names);

/** vub_sandbox_lock_fs() - PR_SET_NO_NEW_PRIVS; close every fd above 2 that was not declared; then (as
 *  configured) the uid/gid switch and new namespaces (mapping the process's ids to themselves); then
 *  Landlock with the declared paths (every filesystem right the kernel knows is handled; TCP
 *  bind/connect are denied from ABI 4, abstract UNIX sockets and signals outside the sandbox from ABI 6).
 *  Without Landlock it logs one warning and goes on.  Call it once, while the process has one thread.
 *  Return: 0; -EBUSY already locked, or more than one thread (nothing done, logged); -errno of a step
 *  that failed (logged; the steps before it stay in force).  Threads: owner, the only thread. */
int vub_sandbox_lock_fs(vub_sandbox *sb);

/** vub_sandbox_lock_syscalls() - install the SIGSYS handler and load the seccomp filter on every
 *  thread of the process (no new privileges first, if lock_fs was skipped).  Declarations after this
 *  change nothing.  Return: 0; -EBUSY already loaded; -EINVAL, -ENOMEM or the errno of seccomp(2)
 *  (logged; -ESRCH: a thread could not be synchronised).  Threads: owner (other threads may run). */
int vub_sandbox_lock_syscalls(vub_sandbox *sb);

/** vub_sandbox_print() - write the policy the locks apply (or applied) as one JSON object and a newline
 *  to @fd: {"no_new_privs", "kept_fds", "landlock": {"abi", "paths": [{"path", "access"}]},
 *  "seccomp": {"violation", "allow", "allow_if": [{"syscall", "arg", "value"}], "errno"},
 *  "sanitizer", "set_ids", "namespaces"}.  Return: 0; -ENOMEM; -EIO write failed.  Ownership: @fd borrowed. */
int vub_sandbox_print(const vub_sandbox *sb, int fd);

#ifdef __cplusplus
}
#endif
#endif
