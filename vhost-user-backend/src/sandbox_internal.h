/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* sandbox_internal.h - the sandbox object shared by src/sandbox*.c (cvmm/vub/sandbox.h). */
#ifndef CVMM_VUB_SANDBOX_INTERNAL_H
#define CVMM_VUB_SANDBOX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cvmm/log.h"
#include "cvmm/vub/sandbox.h"

/* A declared path: kept open (O_PATH) from the declaration to the lock, so the rule is for the object
 * declared even if the name moves. */
struct vub__sb_path {
    char *path;
    int fd;
    bool dir;
    unsigned access; /* VUB_SANDBOX_* */
};

/* A system call allowed when argument @arg equals @value. */
struct vub__sb_cond {
    int nr;
    unsigned arg;
    uint64_t value;
};

struct vub_sandbox {
    vub_sandbox_config cfg;
    const struct cvmm_log *log;
    int *fds; /* declared fds, unsorted, no duplicates */
    size_t nfds, capfds;
    struct vub__sb_path *paths;
    size_t npaths, cappaths;
    int *calls; /* syscall numbers allowed whole (device's and program's; the base list is separate) */
    size_t ncalls, capcalls;
    struct vub__sb_cond *conds;
    size_t nconds, capconds;
    int landlock_abi; /* after lock_fs: the ABI used, 0 none, -1 not probed yet */
    bool fs_locked, calls_locked;
};

/* The daemon's own allowlist (sandbox_syscalls.c): NULL-terminated names. */
const char *const *vub__sandbox_base_calls(void);
/* What a sanitizer runtime needs on top (empty in builds without a sanitizer), and its name ("" none). */
const char *const *vub__sandbox_sanitizer_calls(void);
const char *vub__sandbox_sanitizer_name(void);
/* vub__sandbox_gcov_dir() - where a sandboxed process of the coverage preset may write its gcov counts:
 * $GCOV_PREFIX when set (gcov writes below it then), else the build tree, where gcov writes each object's
 * .gcda file (VUB_SANDBOX_GCOV_DIR, vhost-user-backend/CMakeLists.txt); "" in every other build, where it
 * folds away (docs/sandbox.md). */
static inline const char *vub__sandbox_gcov_dir(void)
{
#ifdef VUB_SANDBOX_GCOV_DIR
    const char *prefix = getenv("GCOV_PREFIX");
    return prefix && *prefix ? prefix : VUB_SANDBOX_GCOV_DIR;
#else
    return "";
#endif
}

/* vub__sb_grow() - make room for one more element in *@arr (of @cap, @n used, @size each).
 * Return: 0; -ENOMEM (nothing changed). */
int vub__sb_grow(void **arr, size_t *cap, size_t n, size_t size);

/* vub__sb_landlock() - apply Landlock with @sb's paths (sandbox_landlock.c); sets sb->landlock_abi.
 * Return: 0 (also when Landlock is absent: logged); -errno (logged). */
int vub__sb_landlock(vub_sandbox *sb);

/* vub__sb_landlock_abi() - the kernel's Landlock ABI: > 0; 0 none (disabled or not built in). */
int vub__sb_landlock_abi(void);

/* vub__sb_seccomp() - build and load the filter on every thread (sandbox_seccomp.c).  Return: 0; -errno
 * (logged). */
int vub__sb_seccomp(vub_sandbox *sb);

/* vub__sb_syscall_name() - the name of native system call @nr, "?" if unknown.  Async-signal-safe. */
const char *vub__sb_syscall_name(long nr);

#endif
