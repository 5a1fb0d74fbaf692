/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The quirks table (cvmm/vub/quirks.h): every peer-specific workaround, its reason and its proof.
 * tests/lint/quirks.sh reads the entries below field by field: keep one field per line. */
#include "cvmm/compiler.h"
#include "cvmm/vub/quirks.h"

static const vub_quirk table[] = {
    {
        .id = VUB_QUIRK_PACKED_BASE_AVAIL_ONLY,
        .name = "VUB_QUIRK_PACKED_BASE_AVAIL_ONLY",
        .peer = "QEMU 7.2 and DPDK 22.11 virtio-user (front-ends written to the spec's older text)",
        .behaviour = "send only the avail half (bits 0-15) of a packed ring's SET_VRING_BASE, bits 16-31 zero",
        .answer = "bits 16-31 zero mean used position = avail position and used wrap = avail wrap, as QEMU's "
                  "and DPDK's back-ends take it (exact whenever no buffer is in flight, i.e. at a ring start)",
        .where = "virtio-queue/src/state.c",
        .ctest = "test-virtio-queue-queue_config",
        .test = "queue_config::vring_base_packed_avail_only_means_used_equals_avail",
    },
    {
        .id = VUB_QUIRK_QEMU72_RNG_PROTO_CARRY,
        .name = "VUB_QUIRK_QEMU72_RNG_PROTO_CARRY",
        .peer = "QEMU 7.2 vhost-user-rng with a chardev in server mode",
        .behaviour = "reconnects (to a restarted back-end too) and goes on with SET_VRING_CALL, SET_FEATURES "
                     "and GET_STATUS without negotiating protocol features again",
        .answer = "a connection whose first message does not start a negotiation keeps the protocol features "
                  "of the last connection that delivered a whole message (a new process assumes ours minus "
                  "GPA_ADDRESSES, INBAND_NOTIFICATIONS and SHMEM); see cvmm/vub/daemon.h",
        .where = "vhost-user-backend/src/control.c",
        .ctest = "test-vhost-user-backend-negotiation",
        .test = "negotiation::a_front_end_that_does_not_renegotiate_keeps_the_previous_features",
    },
    {
        .id = VUB_QUIRK_QEMU72_NET_MQ_DUP_MEM_REG,
        .name = "VUB_QUIRK_QEMU72_NET_MQ_DUP_MEM_REG",
        .peer = "QEMU 7.2 vhost-user-net with several queue pairs (one vhost device per pair, one connection)",
        .behaviour = "sends ADD_MEM_REG and REM_MEM_REG of every region once per queue pair",
        .answer = "an ADD_MEM_REG identical to a mapped region (guest address, size, user address) is counted, "
                  "not refused; REM_MEM_REG unmaps it when the count is back to zero",
        .where = "vhost-user-backend/src/mem.c",
        .ctest = "test-vhost-user-backend-memory",
        .test = "memory::the_same_region_added_twice_is_counted_not_refused",
    },
    {
        .id = VUB_QUIRK_SHMEM_CONFIG_NO_F_SHMEM,
        .name = "VUB_QUIRK_SHMEM_CONFIG_NO_F_SHMEM",
        .peer = "front-ends that ask GET_SHMEM_CONFIG without negotiating VHOST_USER_PROTOCOL_F_SHMEM",
        .behaviour = "send a request the spec gates on a feature they did not negotiate, and wait for a reply",
        .answer = "a zeroed VhostUserShMemConfig reply (no regions) and a warning, instead of no reply",
        .where = "vhost-user-backend/src/control.c",
        .ctest = "test-vhost-user-backend-backend_channel",
        .test = "backend_channel::get_shmem_config_not_negotiated_gets_a_zeroed_reply",
    },
    {
        .id = VUB_QUIRK_QEMU72_RNG_MEM_SLOTS,
        .name = "VUB_QUIRK_QEMU72_RNG_MEM_SLOTS",
        .peer = "QEMU 7.2 vhost-user-rng with a chardev in server mode",
        .behaviour = "after a reconnect does not send again the memory it added with ADD_MEM_REG (it does send "
                     "a whole SET_MEM_TABLE again)",
        .answer = "cvmm-rng does not offer CONFIGURE_MEM_SLOTS (vub_device_info.protocol_features_off), so "
                  "QEMU uses SET_MEM_TABLE, which it repeats",
        .where = "devices/rng/main.c",
        .ctest = "e2e-rng-client-reconnect",
        .test = NULL,
    },
    {
        .id = VUB_QUIRK_QEMU72_TCG_NET_MSIX,
        .name = "VUB_QUIRK_QEMU72_TCG_NET_MSIX",
        .peer = "Debian's QEMU 7.2 under TCG (the test harness only)",
        .behaviour = "can crash in vhost_net_start (msix_set_vector_notifiers) when the guest starts a "
                     "vhost-user NIC with MSI-X",
        .answer = "tests/harness/run-guest.sh --net-msix auto gives the NIC vectors=0 (INTx) under TCG",
        .where = "tests/harness/run-guest.sh",
        .ctest = "e2e-net-tap",
        .test = NULL,
    },
    {
        .id = VUB_QUIRK_DPDK_GET_VRING_BASE_NUM,
        .name = "VUB_QUIRK_DPDK_GET_VRING_BASE_NUM",
        .peer = "DPDK 22.11 virtio-user (net_virtio_user, e.g. testpmd) stopping its port",
        .behaviour = "sends GET_VRING_BASE with a non-zero num, which the spec reserves (must be 0): "
                     "virtio_user_stop_device() sets only state.index of a stack vhost_vring_state that the "
                     "previous ring's reply filled, so num is the previous ring's base (garbage for ring 0)",
        .answer = "num is treated as reserved, i.e. ignored: the ring is stopped and its base returned, and a "
                  "debug line says so; the index and every other check still apply",
        .where = "vhost-user-proto/src/validate.c",
        .ctest = "test-vhost-user-backend-vring",
        .test = "vring::get_vring_base_with_reserved_num_set_stops_the_ring_and_answers",
    },
};

const vub_quirk *vub_quirks(size_t *n)
{
    if (n)
        *n = CVMM_ARRAY_SIZE(table);
    return table;
}

const vub_quirk *vub_quirk_find(enum vub_quirk_id id)
{
    for (size_t i = 0; i < CVMM_ARRAY_SIZE(table); i++)
        if (table[i].id == id)
            return &table[i];
    return NULL;
}
