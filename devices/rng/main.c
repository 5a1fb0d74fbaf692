/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* cvmm-rng - a vhost-user-rng back-end: virtio-rng fed by getrandom() (rng.c), run by the toolkit. */
#include "cvmm/vub.h"
#include "rng.h"

static const vub_device_ops ops = {.request = rng_request};
static const vub_device_info info = {
    .name = "rng",
    .num_queues = 1,
    .max_queue_size = 1024,
    .features = (1ull << VUB_F_VERSION_1) | (1ull << VUB_F_RING_INDIRECT_DESC) | (1ull << VUB_F_RING_EVENT_IDX) |
                (1ull << VUB_F_RING_PACKED),
    /* QEMU 7.2's vhost-user-rng forgets ADD_MEM_REG regions across a reconnect: quirk
     * VUB_QUIRK_QEMU72_RNG_MEM_SLOTS (cvmm/vub/quirks.h) says why it is not offered. */
    .protocol_features_off = 1ull << VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS,
};
/* The sandbox (cvmm/vub/sandbox.h): no fd and no path of its own; its request op calls getrandom(2) on a
 * worker.  Derived with scripts/sandbox-trace.sh (docs/sandbox.md). */
static const char *const rng_syscalls[] = {"getrandom", NULL};
static const vub_program prog = {.name = "cvmm-rng",
                                 .summary = "virtio-rng fed by getrandom()",
                                 .type = "rng",
                                 .ops = &ops,
                                 .info = &info,
                                 .sandbox_syscalls = rng_syscalls};

int main(int argc, char **argv) { return vub_program_main(&prog, argc, argv); }
