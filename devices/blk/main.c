/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-blk - a vhost-user-blk back-end: virtio-blk over a file or block device, run by the toolkit
 * (cvmm/vub/program.h).  The requests are in blk.c, the device ops in device.c. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity(), CPU_COUNT() */
#endif
#include <errno.h>
#include <linux/fs.h>
#include <sched.h>
#include <string.h>

#include "cvmm/vub.h"
#include "device.h"

static struct {
    blk_dev b; /* the device context: its disk is shared by the worker threads */
    const char *path;
    bool read_only, direct;
    uint64_t num_queues, queue_size, queue_depth;
} blk = {.b.disk.fd = -1,
         .b.disk.fd_buffered = -1,
         .num_queues = 1,
         .queue_size = 1024,
         .queue_depth = BLK_QUEUE_DEPTH_DEFAULT};

/* --aio=io_uring|sync */
static int parse_aio(void *dest, const char *value)
{
    if (!strcmp(value, "io_uring"))
        *(enum blk_aio_mode *)dest = BLK_AIO_IO_URING;
    else if (!strcmp(value, "sync"))
        *(enum blk_aio_mode *)dest = BLK_AIO_SYNC;
    else
        return -EINVAL;
    return 0;
}

static const vub_program_option blk_opts[] = {
    {.name = "blk-file",
     .type = VUB_OPT_STRING,
     .value_name = "PATH",
     .help = "disk image file or block device",
     .dest = &blk.path,
     .required = true},
    {.name = "read-only",
     .type = VUB_OPT_FLAG,
     .help = "export the disk read-only (VIRTIO_BLK_F_RO)",
     .dest = &blk.read_only},
    {.name = "num-queues",
     .type = VUB_OPT_UINT,
     .help = "request queues",
     .dest = &blk.num_queues,
     .min = 1,
     .max = VUB_MAX_QUEUES},
    {.name = "queue-size",
     .type = VUB_OPT_UINT,
     .help = "largest queue size, a power of two",
     .dest = &blk.queue_size,
     .min = 2,
     .max = VQ_MAX_SIZE},
    {.name = "queue-depth",
     .type = VUB_OPT_UINT,
     .help = "requests in flight per queue with --aio=io_uring (at most the ring's size)",
     .dest = &blk.queue_depth,
     .min = 1,
     .max = VQ_MAX_SIZE},
    {.name = "aio",
     .type = VUB_OPT_CUSTOM,
     .value_name = "io_uring|sync",
     .help = "asynchronous I/O with one io_uring per queue, or synchronous I/O on the queue's worker",
     .dest = &blk.b.aio,
     .parse = parse_aio,
     .default_text = "io_uring"},
    {.name = "direct",
     .type = VUB_OPT_FLAG,
     .help = "open the disk with O_DIRECT (bypass the host page cache)",
     .dest = &blk.direct},
};

/* The sandbox (cvmm/vub/sandbox.h; derived with scripts/sandbox-trace.sh, docs/sandbox.md): the disk's fd
 * (and with --direct its buffered twin) stays open and no path is opened after set-up.  The requests
 * (blk.c) read and write with preadv/pwritev (pread64/pwrite64 for one segment), flush with fdatasync,
 * discard and write zeroes with fallocate, and on a block device fall back to its BLKDISCARD/BLKZEROOUT
 * ioctls.  With --aio=io_uring each queue makes its ring when it starts (io_uring_setup, and
 * io_uring_register for its eventfd), submits and waits with io_uring_enter (aio.c). */
static const char *const blk_syscalls[] = {"pread64", "pwrite64", "preadv", "pwritev", "fdatasync", "fallocate", NULL};
static const char *const blk_uring_syscalls[] = {"io_uring_setup", "io_uring_enter", "io_uring_register", NULL};

static int blk_sandbox(const vub_program_env *env)
{
    int rc = vub_sandbox_keep_fd(env->sandbox, blk.b.disk.fd);
    if (rc == 0 && blk.b.disk.fd_buffered >= 0)
        rc = vub_sandbox_keep_fd(env->sandbox, blk.b.disk.fd_buffered);
    if (rc == 0 && blk.b.disk.is_bdev)
        rc = vub_sandbox_allow_syscall_arg(env->sandbox, "ioctl", 1, BLKDISCARD);
    if (rc == 0 && blk.b.disk.is_bdev)
        rc = vub_sandbox_allow_syscall_arg(env->sandbox, "ioctl", 1, BLKZEROOUT);
    if (rc == 0 && blk.b.aio == BLK_AIO_IO_URING)
        rc = vub_sandbox_allow_syscalls(env->sandbox, blk_uring_syscalls);
    if (rc < 0)
        cvmm_logf(env->log, CVMM_LOG_ERROR, "sandbox: cannot declare %s: %s", blk.path, strerror(-rc));
    return rc;
}

/* Workers by default: one per queue, at most one per CPU this process may run on (taskset, cgroup cpusets)
 * and the library's limit.  More workers than CPUs only take turns on them: each request then costs a
 * switch between threads (2 queues pinned to one CPU served QD1 0.73x as fast as one thread serving both). */
static unsigned default_workers(uint64_t queues)
{
    cpu_set_t set;
    unsigned cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? (unsigned)CPU_COUNT(&set) : 1u;
    uint64_t n = queues < cpus ? queues : cpus;
    if (n > VUB_MAX_WORKERS)
        n = VUB_MAX_WORKERS;
    return n ? (unsigned)n : 1u;
}

static int blk_setup(void *ctx, vub_program_env *env)
{
    (void)ctx;
    if (blk.queue_size & (blk.queue_size - 1)) {
        cvmm_logf(env->log, CVMM_LOG_ERROR, "bad value for --queue-size: '%llu' (a power of two)",
                  (unsigned long long)blk.queue_size);
        return -EINVAL;
    }
    int rc = blk_disk_open_direct(&blk.b.disk, blk.path, blk.read_only, blk.direct, env->log);
    if (rc < 0)
        return rc; /* blk_disk_open() said why */
    blk.b.queue_depth = (unsigned)blk.queue_depth;
    rc = blk_dev_init(&blk.b, (unsigned)blk.num_queues, (uint32_t)blk.queue_size);
    if (rc < 0) {
        cvmm_logf(env->log, CVMM_LOG_ERROR, "%s", strerror(-rc));
        blk_disk_close(&blk.b.disk);
        return rc;
    }
    if ((rc = blk_sandbox(env)) < 0) { /* after blk_dev_init(): it knows whether io_uring is there */
        blk_disk_close(&blk.b.disk);
        return rc;
    }
    env->info = &blk.b.info;
    if (!env->cmdline->workers) /* one worker per queue, no more than there are CPUs to run them */
        env->nworkers = default_workers(blk.num_queues);
    cvmm_logf(env->log, CVMM_LOG_INFO, "%s: %llu sectors of 512 bytes, %s, %llu queue(s), %s%s", blk.path,
              (unsigned long long)blk.b.disk.sectors, blk.read_only ? "read-only" : "read-write",
              (unsigned long long)blk.num_queues, blk.b.aio == BLK_AIO_IO_URING ? "io_uring" : "synchronous I/O",
              blk.direct ? ", O_DIRECT" : "");
    return 0;
}

static void blk_teardown(void *ctx)
{
    (void)ctx;
    blk_disk_close(&blk.b.disk);
}

static const char *const blk_features[] = {"read-only", "blk-file", NULL};
static const vub_program prog = {
    .name = "cvmm-blk",
    .summary = "virtio-blk over a file or block device",
    .type = "block",
    .features = blk_features,
    .options = blk_opts,
    .noptions = sizeof(blk_opts) / sizeof(blk_opts[0]),
    .ops = &blk_dev_ops,
    .ctx = &blk.b,
    .sandbox_syscalls = blk_syscalls,
    .setup = blk_setup,
    .teardown = blk_teardown,
};

int main(int argc, char **argv) { return vub_program_main(&prog, argc, argv); }
