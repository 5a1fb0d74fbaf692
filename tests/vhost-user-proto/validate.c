/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vhost-user-proto/validate.c - every rejection path of the validator, with its exact errno and one
 * log line naming the message; the old rust-vmm SHMEM bit 21; replies; what is owed. */
#include <criterion/criterion.h>

#include "helpers.h"

static struct cap_log cap = {.lock = PTHREAD_MUTEX_INITIALIZER};
static const struct cvmm_log logger = CAP_LOG_INIT(&cap);
static vhu_validate_ctx ctx;
static int memfd = -1;

static void setup(void)
{
    memfd = make_memfd(0x10000, 1);
    cr_assert_geq(memfd, 0);
    ctx = (vhu_validate_ctx){.log = &logger, .name = "t", .protocol_features = ALL_PF, .page_size = 4096};
    cap.lines = 0;
}
static void teardown(void) { close(memfd); }

TestSuite(validate, .init = setup, .fini = teardown, .timeout = 120);

/* Assert @rc == @err and that exactly one new line was logged, naming @name. */
#define REJECTS(call, err, name)                                                                                       \
    do {                                                                                                               \
        int before_ = cap.lines;                                                                                       \
        int rc_ = (call);                                                                                              \
        cr_assert_eq(rc_, (err), "%s: got %d (%s), want %d", #call, rc_, strerror(-rc_), (err));                       \
        cr_assert_eq(cap.lines, before_ + 1, "one log line per rejection");                                            \
        cr_assert(strstr(cap.last, (name)) != NULL, "log line '%s' names %s", cap.last, (name));                       \
    } while (0)

static vhu_msg req(uint32_t id)
{
    vhu_msg m;
    cr_assert_eq(sample_req(id, &m, memfd), 0);
    return m;
}

/* ---- framing ---------------------------------------------------------------------------------------- */
Test(validate, bad_version_is_ebadmsg)
{
    vhu_msg m = req(VHU_REQ_GET_FEATURES);
    m.hdr.flags = 0x2;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "GET_FEATURES");
    m.hdr.flags = 0x0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "version 0");
}

Test(validate, unknown_flag_bits_are_ebadmsg)
{
    vhu_msg m = req(VHU_REQ_GET_FEATURES);
    m.hdr.flags |= 0x100;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "unknown flags");
}

Test(validate, reply_flag_on_a_request_is_ebadmsg)
{
    vhu_msg m = req(VHU_REQ_GET_FEATURES);
    m.hdr.flags |= VHU_FLAG_REPLY;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "REPLY flag");
    vhu_msg b;
    sample_backend_req(VHU_BACKEND_REQ_CONFIG_CHANGE_MSG, &b, -1);
    b.hdr.flags |= VHU_FLAG_REPLY;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "CONFIG_CHANGE_MSG");
}

Test(validate, payload_larger_than_max_is_ebadmsg)
{
    vhu_msg m = req(VHU_REQ_CREATE_CRYPTO_SESSION);
    m.hdr.size = VHU_PAYLOAD_MAX + 1;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "larger than");
}

Test(validate, more_than_8_fds_is_ebadf)
{
    vhu_msg m = req(VHU_REQ_GET_FEATURES);
    m.nfds = VHU_MAX_FDS + 1;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADF, "more than 8 fds");
}

Test(validate, unknown_ids_are_enotsup)
{
    uint32_t ids[] = {0, 45, 46, 0x7fffffff, UINT32_MAX};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        vhu_msg m;
        vhu_msg_init(&m, ids[i], 0);
        REJECTS(vhu_validate_req(&m, &ctx), -ENOTSUP, "unknown id");
    }
    vhu_msg b;
    vhu_msg_init(&b, 11, 0);
    REJECTS(vhu_validate_backend_req(&b, &ctx), -ENOTSUP, "unknown id");
    vhu_msg_init(&b, 0, 0);
    REJECTS(vhu_validate_backend_req(&b, &ctx), -ENOTSUP, "unknown id");
}

/* ---- gating features ---------------------------------------------------------------------------------- */
Test(validate, every_gated_request_needs_its_feature)
{
    int gated = 0;
    for (uint32_t id = 1; id < VHU_REQ_MAX; id++) {
        const vhu_msg_rule *r = vhu_req_rule(id);
        if (r->gate < 0)
            continue;
        vhu_msg m = req(id);
        ctx.protocol_features = ALL_PF & ~VHU_PROTOCOL_BIT(r->gate);
        REJECTS(vhu_validate_req(&m, &ctx), -EPROTO, vhu_req_name(id));
        gated++;
    }
    cr_assert_eq(gated, 25);
    for (uint32_t id = 1; id < VHU_BACKEND_REQ_MAX; id++) {
        const vhu_msg_rule *r = vhu_backend_req_rule(id);
        if (r->gate < 0)
            continue;
        vhu_msg m;
        sample_backend_req(id, &m, memfd);
        ctx.protocol_features = ALL_PF & ~VHU_PROTOCOL_BIT(r->gate);
        REJECTS(vhu_validate_backend_req(&m, &ctx), -EPROTO, vhu_backend_req_name(id));
    }
}

Test(validate, the_old_rust_vmm_shmem_bit_21_never_enables_shmem)
{
    /* A peer that took bit 21 for SHMEM (rust-vmm vhost 0.16): to us it is GPA_ADDRESSES only. */
    ctx.protocol_features = VHU_PROTOCOL_BIT(21) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK);
    vhu_msg m = req(VHU_REQ_GET_SHMEM_CONFIG);
    REJECTS(vhu_validate_req(&m, &ctx), -EPROTO, "GET_SHMEM_CONFIG");
    vhu_msg b;
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EPROTO, "SHMEM_MAP");
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_UNMAP, &b, memfd);
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EPROTO, "SHMEM_UNMAP");
    /* ... and its memory table, with host virtual user addresses, is refused instead of mis-mapped. */
    m = req(VHU_REQ_SET_MEM_TABLE);
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "GPA_ADDRESSES");
    m = req(VHU_REQ_ADD_MEM_REG);
    ctx.protocol_features |= VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_CONFIGURE_MEM_SLOTS);
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "GPA_ADDRESSES");
}

Test(validate, gpa_addresses_accepts_duplicated_guest_addresses)
{
    ctx.protocol_features |= VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_GPA_ADDRESSES);
    vhu_msg m = req(VHU_REQ_SET_MEM_TABLE);
    for (uint32_t i = 0; i < m.payload.mem.nregions; i++)
        m.payload.mem.regions[i].user_addr = m.payload.mem.regions[i].guest_addr;
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
}

/* ---- sizes and fds -------------------------------------------------------------------------------------- */
Test(validate, short_and_oversized_payloads_are_ebadmsg)
{
    vhu_msg m = req(VHU_REQ_SET_FEATURES);
    m.hdr.size = 4;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "expected 8");
    m.hdr.size = 16;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "expected 8");
    m = req(VHU_REQ_GET_FEATURES);
    m.hdr.size = 8;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "GET_FEATURES");
    m = req(VHU_REQ_SET_VRING_ADDR);
    m.hdr.size = 39;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "SET_VRING_ADDR");
    m = req(VHU_REQ_GET_INFLIGHT_FD);
    m.hdr.size = 19;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "expected 20..24");
    m.hdr.size = 20; /* the spec's unpadded layout is fine */
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
    m = req(VHU_REQ_IOTLB_MSG);
    m.hdr.size = 26;
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
    m.hdr.size = 25;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "IOTLB_MSG");
    vhu_msg b;
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    b.hdr.size = 32;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "expected 40");
}

Test(validate, wrong_fd_counts_are_ebadf)
{
    vhu_msg m = req(VHU_REQ_GET_FEATURES);
    vhu_msg_add_fd(&m, memfd);
    REJECTS(vhu_validate_req(&m, &ctx), -EBADF, "GET_FEATURES");
    m = req(VHU_REQ_SET_LOG_FD);
    m.nfds = 0;
    m.fds[0] = -1;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADF, "SET_LOG_FD");
    m = req(VHU_REQ_SET_MEM_TABLE);
    m.nfds = 1;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADF, "1 fds for 2 regions");
    m = req(VHU_REQ_SET_VRING_KICK);
    m.payload.u64 |= VHU_VRING_NOFD_MASK; /* says "no fd" but carries one */
    REJECTS(vhu_validate_req(&m, &ctx), -EBADF, "no-fd bit");
    m = req(VHU_REQ_SET_VRING_CALL);
    m.nfds = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADF, "no-fd bit");
    m.payload.u64 |= VHU_VRING_NOFD_MASK;
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0, "polling: no fd and the bit set");
    m = req(VHU_REQ_SET_LOG_BASE);
    m.nfds = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADF, "SET_LOG_BASE");
    m = req(VHU_REQ_REM_MEM_REG);
    vhu_msg_add_fd(&m, memfd);
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0, "REM_MEM_REG MAY carry one fd (closed unused)");
    vhu_msg_add_fd(&m, memfd);
    REJECTS(vhu_validate_req(&m, &ctx), -EBADF, "REM_MEM_REG");
    vhu_msg b;
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    b.nfds = 0;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADF, "SHMEM_MAP");
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_UNMAP, &b, memfd);
    vhu_msg_add_fd(&b, memfd);
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADF, "SHMEM_UNMAP");
    sample_backend_req(VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG, &b, memfd);
    b.payload.area.u64 |= VHU_VRING_NOFD_MASK;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADF, "no-fd bit");
}

/* ---- memory tables ---------------------------------------------------------------------------------------- */
Test(validate, memory_table_fields)
{
    vhu_msg m = req(VHU_REQ_SET_MEM_TABLE);
    m.payload.mem.nregions = 9;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "9 regions");
    m = req(VHU_REQ_SET_MEM_TABLE);
    m.payload.mem.nregions = 1; /* size still says 2 */
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "1 regions need 40");
    m = req(VHU_REQ_SET_MEM_TABLE);
    m.payload.mem.regions[1].size = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "size 0");
    m = req(VHU_REQ_SET_MEM_TABLE);
    m.payload.mem.regions[1].guest_addr = 0x8000; /* inside region 0 */
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "overlap");
    m = req(VHU_REQ_SET_MEM_TABLE);
    m.payload.mem.regions[1].user_addr = m.payload.mem.regions[0].user_addr + 0xf000;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "overlap");
    m = req(VHU_REQ_SET_MEM_TABLE);
    m.payload.mem.regions[1].guest_addr = UINT64_MAX - 0x1000;
    REJECTS(vhu_validate_req(&m, &ctx), -EOVERFLOW, "wraps");
    m = req(VHU_REQ_SET_MEM_TABLE);
    m.payload.mem.regions[0].user_addr = UINT64_MAX;
    REJECTS(vhu_validate_req(&m, &ctx), -EOVERFLOW, "wraps");
    m = req(VHU_REQ_SET_MEM_TABLE);
    m.payload.mem.regions[0].mmap_offset = UINT64_MAX - 5;
    REJECTS(vhu_validate_req(&m, &ctx), -EOVERFLOW, "wraps");
    /* A region that ends exactly at 2^64 does not wrap. */
    m = req(VHU_REQ_SET_MEM_TABLE);
    m.payload.mem.regions[1].guest_addr = UINT64_MAX - 0x20000 + 1;
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
    /* An empty table (also QEMU's postcopy acknowledgement) is well formed. */
    cr_assert_eq(vhu_msg_build_mem_table(&m, 0, NULL, NULL, 0), 0);
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
    m = req(VHU_REQ_ADD_MEM_REG);
    m.payload.mem_reg.region.size = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "ADD_MEM_REG");
    m = req(VHU_REQ_REM_MEM_REG);
    m.payload.mem_reg.region.mmap_offset = UINT64_MAX; /* "The mmap offset is ignored" */
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
}

Test(validate, xen_mmap_changes_the_region_layout)
{
    ctx.protocol_features |= VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_XEN_MMAP);
    vhu_msg m = req(VHU_REQ_SET_MEM_TABLE); /* 32-byte regions */
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "2 regions need 88");
    vhu_mem_table_xen t = {.nregions = 1, .regions = {{{0, 0x1000, 0x7f0000000000ull, 0}, VHU_XEN_MMAP_GRANT, 3}}};
    vhu_msg_init(&m, VHU_REQ_SET_MEM_TABLE, 0);
    vhu_msg_set_payload(&m, &t, 8 + 40);
    vhu_msg_add_fd(&m, memfd);
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
    m.payload.mem_xen.regions[0].xen_mmap_flags = 0x4;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "xen mmap flags");
    m = req(VHU_REQ_ADD_MEM_REG);
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "XEN_MMAP");
    m.hdr.size = 48;
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
}

Test(validate, log_base_forms)
{
    vhu_msg m = req(VHU_REQ_SET_LOG_BASE);
    m.payload.log.offset = UINT64_MAX;
    REJECTS(vhu_validate_req(&m, &ctx), -EOVERFLOW, "wraps");
    m = req(VHU_REQ_SET_LOG_BASE);
    m.payload.log.size = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "log size 0");
    m = req(VHU_REQ_SET_LOG_BASE);
    m.hdr.size = 8;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "expected 16");
    ctx.protocol_features &= ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_LOG_SHMFD);
    m.nfds = 0;
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0, "legacy u64 form without LOG_SHMFD");
    cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_NOTHING);
}

/* ---- vrings -------------------------------------------------------------------------------------------- */
/* DPDK 22.11's virtio-user stops a port with GET_VRING_BASE whose reserved num is the previous ring's base
 * (VUB_QUIRK_DPDK_GET_VRING_BASE_NUM): num is ignored, the index is still checked. */
Test(validate, get_vring_base_ignores_its_reserved_num_but_checks_the_index)
{
    static const uint32_t nums[] = {1, 5, 0x8000, 0xffffffffu};
    ctx.num_queues = 2;
    for (unsigned i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
        vhu_msg m = req(VHU_REQ_GET_VRING_BASE);
        m.payload.state.index = 1;
        m.payload.state.num = nums[i];
        cr_assert_eq(vhu_validate_req(&m, &ctx), 0, "num 0x%x", nums[i]);
        cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_REPLY);
        m.payload.state.index = ctx.num_queues;
        REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "vring index");
    }
}

Test(validate, vring_fields)
{
    vhu_msg m = req(VHU_REQ_SET_VRING_NUM);
    m.payload.state.num = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "size 0");
    m.payload.state.num = VHU_VRING_SIZE_MAX + 1;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "size 32769");
    m.payload.state.num = VHU_VRING_SIZE_MAX;
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
    m = req(VHU_REQ_SET_VRING_ADDR);
    m.payload.addr.flags = 0x2;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "unknown flags");
    m = req(VHU_REQ_VRING_KICK);
    m.payload.state.num = 5;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "reserved num");
    m = req(VHU_REQ_SET_VRING_ENABLE);
    m.payload.state.num = 2;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "not 0 or 1");
    m = req(VHU_REQ_SET_VRING_ENDIAN);
    m.payload.state.num = 7;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "not 0 or 1");
    m = req(VHU_REQ_SET_VRING_KICK);
    m.payload.u64 |= 1ull << 9;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "reserved bits");
}

Test(validate, vring_index_is_checked_centrally_against_num_queues)
{
    ctx.num_queues = 2;
    uint32_t ids[] = {VHU_REQ_SET_VRING_NUM,  VHU_REQ_SET_VRING_ADDR,   VHU_REQ_SET_VRING_BASE,
                      VHU_REQ_GET_VRING_BASE, VHU_REQ_SET_VRING_ENABLE, VHU_REQ_SET_VRING_ENDIAN,
                      VHU_REQ_VRING_KICK,     VHU_REQ_SET_VRING_KICK,   VHU_REQ_SET_VRING_CALL,
                      VHU_REQ_SET_VRING_ERR};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        vhu_msg m = req(ids[i]);
        cr_assert_eq(vhu_validate_req(&m, &ctx), 0, "%s", vhu_req_name(ids[i]));
        if (ids[i] == VHU_REQ_SET_VRING_ADDR)
            m.payload.addr.index = 2;
        else if (ids[i] >= VHU_REQ_SET_VRING_KICK && ids[i] <= VHU_REQ_SET_VRING_ERR)
            m.payload.u64 = (m.payload.u64 & ~VHU_VRING_IDX_MASK) | 2;
        else
            m.payload.state.index = 2;
        REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "2 queues");
    }
    vhu_msg b;
    sample_backend_req(VHU_BACKEND_REQ_VRING_CALL, &b, -1);
    b.payload.state.index = 5;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "2 queues");
    sample_backend_req(VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG, &b, memfd);
    b.payload.area.u64 = 3;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "2 queues");
}

/* ---- config, iotlb, inflight, status, device state --------------------------------------------------------- */
Test(validate, config_offset_and_size)
{
    vhu_msg m = req(VHU_REQ_GET_CONFIG);
    m.payload.config.size = 9; /* payload carries 8 */
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "for 9 config bytes");
    m = req(VHU_REQ_SET_CONFIG);
    m.payload.config.size = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "config size 0");
    m = req(VHU_REQ_SET_CONFIG);
    m.payload.config.offset = VHU_CONFIG_SPACE_MAX - 4;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "beyond 4096");
    m.payload.config.offset = UINT32_MAX - 3;
    REJECTS(vhu_validate_req(&m, &ctx), -EOVERFLOW, "wraps");
    m = req(VHU_REQ_SET_CONFIG);
    m.payload.config.flags = 2;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "config flags 2");
    m.payload.config.flags = VHU_CONFIG_FLAG_MIGRATION;
    cr_assert_eq(vhu_validate_req(&m, &ctx), 0);
    m = req(VHU_REQ_GET_CONFIG);
    m.hdr.size = VHU_CONFIG_HDR_SIZE; /* no data at all */
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "expected 13..4096");
}

Test(validate, iotlb_fields)
{
    vhu_msg m = req(VHU_REQ_IOTLB_MSG);
    m.payload.iotlb.type = VHU_IOTLB_MISS; /* a back-end type, not a front-end one */
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "iotlb type 1");
    m = req(VHU_REQ_IOTLB_MSG);
    m.payload.iotlb.perm = 4;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "iotlb perm 4");
    m = req(VHU_REQ_IOTLB_MSG);
    m.payload.iotlb.iova = UINT64_MAX - 10;
    REJECTS(vhu_validate_req(&m, &ctx), -EOVERFLOW, "wraps");
    m = req(VHU_REQ_IOTLB_MSG);
    m.payload.iotlb.size = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "iotlb update");
    vhu_msg b;
    sample_backend_req(VHU_BACKEND_REQ_IOTLB_MSG, &b, -1);
    b.payload.iotlb.type = VHU_IOTLB_UPDATE;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "not allowed in this direction");
}

Test(validate, inflight_status_and_device_state_fields)
{
    vhu_msg m = req(VHU_REQ_GET_INFLIGHT_FD);
    m.payload.inflight.num_queues = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "0 queues");
    m = req(VHU_REQ_SET_INFLIGHT_FD);
    m.payload.inflight.mmap_size = 0;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "mmap size 0");
    m = req(VHU_REQ_SET_INFLIGHT_FD);
    m.payload.inflight.mmap_offset = UINT64_MAX;
    REJECTS(vhu_validate_req(&m, &ctx), -EOVERFLOW, "wraps");
    m = req(VHU_REQ_SET_STATUS);
    m.payload.u64 = 0x100;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "8 bits");
    m = req(VHU_REQ_SET_DEVICE_STATE_FD);
    m.payload.transfer_state.direction = 2;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "direction 2");
    m = req(VHU_REQ_SET_DEVICE_STATE_FD);
    m.payload.transfer_state.phase = 1;
    REJECTS(vhu_validate_req(&m, &ctx), -EBADMSG, "phase 1");
}

/* ---- shared memory -------------------------------------------------------------------------------------------- */
static vhu_shmem_config sparse_config(void)
{
    vhu_shmem_config c = {.nregions = 2};
    c.mem_size[0] = 0x10000;
    c.mem_size[2] = 0x200000;
    return c;
}

Test(validate, shmem_config_rules)
{
    vhu_shmem_config c = sparse_config();
    cr_assert_eq(vhu_validate_shmem_config(&c, &ctx), 0, "sparse shmids 0 and 2");
    vhu_shmem_config zero = {0};
    cr_assert_eq(vhu_validate_shmem_config(&zero, &ctx), 0, "no regions at all");
    c.mem_size[2] = 0x200000 + 512;
    REJECTS(vhu_validate_shmem_config(&c, &ctx), -EBADMSG, "not a multiple of the page size");
    c = sparse_config();
    c.nregions = 3;
    REJECTS(vhu_validate_shmem_config(&c, &ctx), -EBADMSG, "nregions 3 but 2 non-zero");
    c.nregions = 257;
    REJECTS(vhu_validate_shmem_config(&c, &ctx), -EBADMSG, "nregions 257");
    c = sparse_config();
    c.mem_size[255] = 4096;
    REJECTS(vhu_validate_shmem_config(&c, &ctx), -EBADMSG, "nregions 2 but 3");
    c.nregions = 3;
    cr_assert_eq(vhu_validate_shmem_config(&c, &ctx), 0, "shmid 255 is the last valid index");
}

Test(validate, shmem_map_and_unmap_fields)
{
    vhu_msg b;
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    b.payload.mmap.len = 0;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "length 0");
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    b.payload.mmap.flags = 2;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "unknown flags");
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    b.payload.mmap.len = 0x1800;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "not aligned");
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    b.payload.mmap.fd_offset = 0x800;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "not aligned");
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    b.payload.mmap.fd_offset = UINT64_MAX - 0xfff;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EOVERFLOW, "wraps");
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_UNMAP, &b, -1);
    b.payload.mmap.shm_offset = UINT64_MAX - 0xfff;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EOVERFLOW, "wraps");
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_UNMAP, &b, -1);
    b.payload.mmap.fd_offset = 3; /* not used by UNMAP */
    b.payload.mmap.flags = 0xff;
    cr_assert_eq(vhu_validate_backend_req(&b, &ctx), 0);
    /* With the front-end's config the range must fall inside a used region. */
    vhu_shmem_config c = sparse_config();
    ctx.shmem = &c;
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    cr_assert_eq(vhu_validate_backend_req(&b, &ctx), 0);
    b.payload.mmap.shm_offset = 0x200000 - 0x1000; /* last page + one more */
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EFAULT, "outside its region");
    b.payload.mmap.shmid = 1; /* unused id */
    b.payload.mmap.shm_offset = 0;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EFAULT, "shmid 1");
    b.payload.mmap.shmid = 0;
    b.payload.mmap.len = 0x10000;
    cr_assert_eq(vhu_validate_backend_req(&b, &ctx), 0, "the whole of region 0");
}

Test(validate, host_notifier_fields)
{
    vhu_msg b;
    sample_backend_req(VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG, &b, memfd);
    b.payload.area.u64 |= 1ull << 12;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "reserved bits");
    sample_backend_req(VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG, &b, memfd);
    b.payload.area.size = 0;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "size 0");
    sample_backend_req(VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG, &b, memfd);
    b.payload.area.offset = UINT64_MAX;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EOVERFLOW, "wraps");
    sample_backend_req(VHU_BACKEND_REQ_VRING_CALL, &b, -1);
    b.payload.state.num = 1;
    REJECTS(vhu_validate_backend_req(&b, &ctx), -EBADMSG, "reserved num");
}

/* ---- replies ----------------------------------------------------------------------------------------------- */
Test(validate, replies)
{
    vhu_msg q = req(VHU_REQ_GET_VRING_BASE), r;
    sample_reply(&q, &r, -1);
    r.hdr.flags &= ~VHU_FLAG_REPLY;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADMSG, "REPLY flag missing");
    sample_reply(&q, &r, -1);
    r.hdr.request = VHU_REQ_GET_FEATURES;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EPROTO, "we asked GET_VRING_BASE");
    sample_reply(&q, &r, -1);
    r.payload.state.index = 0;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADMSG, "we asked 1");
    q = req(VHU_REQ_GET_CONFIG);
    sample_reply(&q, &r, -1);
    r.payload.config.offset = 0;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADMSG, "does not match");
    r.hdr.size = 0;
    cr_assert_eq(vhu_validate_reply(&r, &q, &ctx), 0, "an empty GET_CONFIG reply is the spec's error");
    q = req(VHU_REQ_GET_SHMEM_CONFIG);
    sample_reply(&q, &r, -1);
    r.payload.shmem.mem_size[3] = 4096;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADMSG, "nregions 2 but 3");
    sample_reply(&q, &r, -1);
    r.hdr.size = 2048;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADMSG, "expected 2056");
    q = req(VHU_REQ_GET_INFLIGHT_FD);
    sample_reply(&q, &r, memfd);
    r.nfds = 0;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADF, "0 fds for mmap size");
    q = req(VHU_REQ_SET_DEVICE_STATE_FD);
    sample_reply(&q, &r, memfd);
    r.payload.u64 = 5; /* an error, yet an fd */
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADF, "error status with an fd");
    r.payload.u64 = 0x200;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADMSG, "reserved bits");
    q = req(VHU_REQ_POSTCOPY_ADVISE);
    sample_reply(&q, &r, memfd);
    r.nfds = 0;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADF, "POSTCOPY_ADVISE");
    /* An ack must be a bare u64. */
    q = req(VHU_REQ_SET_FEATURES);
    q.hdr.flags |= VHU_FLAG_NEED_REPLY;
    vhu_msg_build_u64(&r, VHU_REQ_SET_FEATURES, VHU_FLAG_REPLY, 0);
    r.hdr.size = 4;
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADMSG, "expected 8");
    vhu_msg_build_u64(&r, VHU_REQ_SET_FEATURES, VHU_FLAG_REPLY, 0);
    vhu_msg_add_fd(&r, memfd);
    REJECTS(vhu_validate_reply(&r, &q, &ctx), -EBADF, "SET_FEATURES");
}

Test(validate, backend_replies)
{
    vhu_msg q, r;
    sample_backend_req(VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, &q, -1);
    vhu_msg_build_u64(&r, VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, VHU_FLAG_REPLY, 0);
    REJECTS(vhu_validate_backend_reply(&r, &q, &ctx), -EBADF, "0 fds with status 0");
    vhu_msg_build_u64(&r, VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, VHU_FLAG_REPLY, 2);
    cr_assert_eq(vhu_validate_backend_reply(&r, &q, &ctx), 0, "failure without fd");
    vhu_msg_add_fd(&r, memfd);
    REJECTS(vhu_validate_backend_reply(&r, &q, &ctx), -EBADF, "1 fds with status 2");
    r.hdr.request = VHU_BACKEND_REQ_SHMEM_MAP;
    REJECTS(vhu_validate_backend_reply(&r, &q, &ctx), -EPROTO, "we asked SHARED_OBJECT_LOOKUP");
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_UNMAP, &q, -1);
    q.hdr.flags |= VHU_FLAG_NEED_REPLY;
    vhu_msg_build_u64(&r, VHU_BACKEND_REQ_SHMEM_UNMAP, VHU_FLAG_REPLY, 0);
    r.hdr.size = 0;
    REJECTS(vhu_validate_backend_reply(&r, &q, &ctx), -EBADMSG, "expected 8");
}

Test(validate, what_is_owed)
{
    vhu_msg m = req(VHU_REQ_SET_FEATURES);
    cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_NOTHING);
    m.hdr.flags |= VHU_FLAG_NEED_REPLY;
    cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_ACK);
    ctx.protocol_features &= ~VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK);
    cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_NOTHING, "NEED_REPLY without REPLY_ACK is ignored");
    ctx.protocol_features = ALL_PF;
    m = req(VHU_REQ_GET_FEATURES);
    m.hdr.flags |= VHU_FLAG_NEED_REPLY;
    cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_REPLY, "explicit replies are not doubled by an ack");
    m = req(VHU_REQ_SET_MEM_TABLE);
    cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_NOTHING);
    ctx.postcopy_listening = true;
    cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_REPLY, "postcopy: the table comes back");
    vhu_msg_init(&m, 99, VHU_FLAG_NEED_REPLY);
    cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_ACK, "an unknown id still gets its nack");
    vhu_msg b;
    sample_backend_req(VHU_BACKEND_REQ_SHMEM_MAP, &b, memfd);
    cr_assert_eq(vhu_backend_req_owed(&b, &ctx), VHU_OWED_NOTHING);
    b.hdr.flags |= VHU_FLAG_NEED_REPLY;
    cr_assert_eq(vhu_backend_req_owed(&b, &ctx), VHU_OWED_ACK);
}

Test(validate, null_context_means_nothing_negotiated)
{
    vhu_msg m = req(VHU_REQ_GET_FEATURES);
    cr_assert_eq(vhu_validate_req(&m, NULL), 0);
    m = req(VHU_REQ_GET_SHMEM_CONFIG);
    cr_assert_eq(vhu_validate_req(&m, NULL), -EPROTO);
    vhu_shmem_config c = {.nregions = 1, .mem_size = {[7] = 1}};
    cr_assert_eq(vhu_validate_shmem_config(&c, NULL), -EBADMSG);
}
