/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-rng - a vhost-user-rng back-end: virtio-rng fed by getrandom().
 *
 *   cvmm-rng --socket-path=PATH | --fd=FDNUM  [--client] [--serve-once] [--log-level=LEVEL]
 *   cvmm-rng --print-capabilities
 *
 * Follows the vhost-user spec's back-end program conventions: no daemonizing, exit 0 on SIGTERM/SIGINT,
 * exit 1 with a message on stderr when start-up fails.  The request handling lives in rng.c. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cvmm/vub.h"
#include "devmain.h"
#include "rng.h"

#define PROG "cvmm-rng"

static int rng_kicked(void *ctx, vub_queue *q)
{
    const struct cvmm_log *log = ctx;
    if (!vub_queue_enabled(q))
        return 0; /* a disabled ring is left alone: dev_queue_enabled() kicks it when it is enabled */
    return dev_queue_notify_after(q, rng_queue_process(vub_queue_vq(q), log));
}

static const vub_device_ops rng_ops = {
    .queue_kicked = rng_kicked,
    .queue_enabled = dev_queue_enabled,
};

int main(int argc, char **argv)
{
    vub_cmdline cl;
    char err[256];
    if (vub_cmdline_parse(argc, argv, NULL, 0, NULL, &cl, err, sizeof(err)) < 0) {
        fprintf(stderr, PROG ": %s (see --help)\n", err);
        return 1;
    }
    if (cl.help)
        return vub_cmdline_usage(STDOUT_FILENO, PROG, NULL, 0) < 0 ? 1 : 0;
    if (cl.print_capabilities)
        return vub_print_capabilities(STDOUT_FILENO, "rng", NULL) < 0 ? 1 : 0;
    struct cvmm_log log = {.fn = dev_log_stderr, .opaque = PROG, .level = cl.log_level};
    static const vub_device_info info = {
        .name = "rng",
        .num_queues = 1,
        .max_queue_size = 1024,
        .features = (1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_INDIRECT_DESC) |
                    (1ull << VUB_F_RING_EVENT_IDX) | (1ull << VUB_F_RING_PACKED),
        /* No CONFIGURE_MEM_SLOTS (bit 15), so that a restart works under QEMU 7.2.  Its vhost-user-rng
         * cannot use reconnect=1, so QEMU listens and a restarted cvmm-rng connects again (--client).
         * On that new connection QEMU does not negotiate protocol features again (vhost-user-backend
         * carries them over) and, with CONFIGURE_MEM_SLOTS, believes the back-end still holds the regions
         * it added with ADD_MEM_REG: it never sends them, and the ring addresses cannot be translated.
         * Without the feature QEMU sends the whole table with SET_MEM_TABLE on every connection.
         * tests/devices/e2e-rng-client.sh (ctest e2e-rng-client-reconnect) covers it. */
        .protocol_features_off = 1ull << VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS,
    };
    vub_daemon_config dc = {
        .ops = &rng_ops,
        .info = &info,
        .ctx = &log,
        .nworkers = cl.workers ? cl.workers : 1,
        .log = &log,
        .serve_once = cl.serve_once,
        .handle_signals = true,
    };
    vub_daemon *d = NULL;
    int rc = dev_daemon_new(PROG, &dc, &d);
    if (rc < 0)
        goto out;
    rc = dev_serve(PROG, &cl, d);
    if (rc < 0)
        goto out;
    cvmm_logf(&log, CVMM_LOG_INFO, "serving virtio-rng on %s%s", cl.socket_path ? cl.socket_path : "an inherited fd",
              cl.client ? " (client)" : "");
    rc = dev_daemon_run(PROG, d);
out:
    vub_daemon_free(d);
    return rc < 0 ? 1 : 0;
}
