/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-blk - a vhost-user-blk back-end: virtio-blk over a file or block device.
 *
 *   cvmm-blk --socket-path=PATH | --fd=FDNUM  --blk-file=PATH [--read-only] [--num-queues=N]
 *            [--queue-size=N] [--workers=N] [--client] [--serve-once] [--log-level=LEVEL]
 *   cvmm-blk --print-capabilities
 *
 * Follows the vhost-user spec's back-end program conventions: no daemonizing, exit 0 on SIGTERM/SIGINT,
 * exit 1 with a message on stderr when start-up fails.  The requests are in blk.c, the device ops in
 * device.c. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "devmain.h"
#include "cvmm/vub.h"

#define PROG "cvmm-blk"

struct blk_args {
    const char *path;
    bool read_only;
    unsigned num_queues;
    unsigned queue_size;
};

static int opt_file(void *o, const char *arg)
{
    ((struct blk_args *)o)->path = arg;
    return *arg ? 0 : -EINVAL;
}
static int opt_ro(void *o, const char *arg)
{
    (void)arg;
    ((struct blk_args *)o)->read_only = true;
    return 0;
}
static int opt_queues(void *o, const char *arg)
{
    return dev_parse_uint(arg, 1, VUB_MAX_QUEUES, &((struct blk_args *)o)->num_queues);
}
static int opt_qsize(void *o, const char *arg)
{
    struct blk_args *b = o;
    int rc = dev_parse_uint(arg, 2, VQ_MAX_SIZE, &b->queue_size);
    return rc == 0 && (b->queue_size & (b->queue_size - 1)) == 0 ? 0 : -EINVAL;
}

static const vub_cmdline_option blk_opts[] = {
    {.name = "blk-file", .has_arg = true, .help = "disk image file or block device (required)", .parse = opt_file},
    {.name = "read-only", .has_arg = false, .help = "export the disk read-only (VIRTIO_BLK_F_RO)", .parse = opt_ro},
    {.name = "num-queues", .has_arg = true, .help = "request queues, 1..256 (default 1)", .parse = opt_queues},
    {.name = "queue-size", .has_arg = true, .help = "largest queue size, a power of two (default 1024)",
     .parse = opt_qsize},
};
#define NOPTS (sizeof(blk_opts) / sizeof(blk_opts[0]))

int main(int argc, char **argv)
{
    struct blk_args o = {.num_queues = 1, .queue_size = 1024};
    blk_dev b = {0}; /* the device context: its disk is shared by the worker threads */
    vub_cmdline cl;
    char err[256];
    b.disk.fd = -1;
    if (vub_cmdline_parse(argc, argv, blk_opts, NOPTS, &o, &cl, err, sizeof(err)) < 0) {
        fprintf(stderr, PROG ": %s (see --help)\n", err);
        return 1;
    }
    if (cl.help)
        return vub_cmdline_usage(STDOUT_FILENO, PROG, blk_opts, NOPTS) < 0 ? 1 : 0;
    if (cl.print_capabilities) {
        static const char *const feats[] = {"read-only", "blk-file", NULL};
        return vub_print_capabilities(STDOUT_FILENO, "block", feats) < 0 ? 1 : 0;
    }
    if (!o.path) {
        fprintf(stderr, PROG ": --blk-file=PATH is required (see --help)\n");
        return 1;
    }
    struct cvmm_log log = {.fn = dev_log_stderr, .opaque = PROG, .level = cl.log_level};
    if (blk_disk_open(&b.disk, o.path, o.read_only, &log) < 0)
        return 1; /* blk_disk_open() said why */
    vub_daemon *d = NULL;
    int rc = blk_dev_init(&b, o.num_queues, o.queue_size);
    if (rc < 0) {
        fprintf(stderr, PROG ": %s\n", strerror(-rc));
        goto out;
    }
    /* One worker per queue (up to the library's limit) unless --workers says otherwise. */
    unsigned nworkers = cl.workers ? cl.workers : o.num_queues;
    if (nworkers > VUB_MAX_WORKERS)
        nworkers = VUB_MAX_WORKERS;
    vub_daemon_config dc = {
        .ops = &blk_dev_ops,
        .info = &b.info,
        .ctx = &b,
        .nworkers = nworkers,
        .log = &log,
        .serve_once = cl.serve_once,
        .handle_signals = true,
    };
    rc = dev_daemon_new(PROG, &dc, &d);
    if (rc < 0)
        goto out;
    rc = dev_serve(PROG, &cl, d);
    if (rc < 0)
        goto out;
    cvmm_logf(&log, CVMM_LOG_INFO, "serving %s (%llu sectors of 512 bytes, %s, %u queue%s) on %s%s", o.path,
              (unsigned long long)b.disk.sectors, o.read_only ? "read-only" : "read-write", o.num_queues,
              o.num_queues == 1 ? "" : "s", cl.socket_path ? cl.socket_path : "an inherited fd",
              cl.client ? " (client)" : "");
    rc = dev_daemon_run(PROG, d);
out:
    vub_daemon_free(d);
    blk_disk_close(&b.disk);
    return rc < 0 ? 1 : 0;
}
