/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* tests/vhost-user-proto/msg.c - ids, names, wire sizes, and the encode/decode round trip of every message
 * in both directions (requests and replies, main channel and back-end channel), in memory and over a
 * socketpair with real fds. */
#include <criterion/criterion.h>
#include <stddef.h>

#include "helpers.h"

static int fds_at_start;
static int memfd = -1;
static void setup(void)
{
    fds_at_start = cvmm_test_count_fds();
    memfd = make_memfd(0x40000, 0xab);
    cr_assert_geq(memfd, 0);
}
static void teardown(void)
{
    close(memfd);
    cr_assert_eq(cvmm_test_count_fds(), fds_at_start, "fd leaked");
}

TestSuite(msg, .init = setup, .fini = teardown, .timeout = 120);

Test(msg, ids_and_bits_follow_the_spec)
{
    cr_assert_eq(VHU_REQ_GET_FEATURES, 1);
    cr_assert_eq(VHU_REQ_GET_PROTOCOL_FEATURES, 15);
    cr_assert_eq(VHU_REQ_SET_BACKEND_REQ_FD, 21);
    cr_assert_eq(VHU_REQ_GET_MAX_MEM_SLOTS, 36);
    cr_assert_eq(VHU_REQ_SET_DEVICE_STATE_FD, 42);
    cr_assert_eq(VHU_REQ_GET_SHMEM_CONFIG, 44);
    cr_assert_eq(VHU_BACKEND_REQ_SHMEM_MAP, 9);
    cr_assert_eq(VHU_BACKEND_REQ_SHMEM_UNMAP, 10);
    cr_assert_eq(VHU_PROTOCOL_F_GET_VRING_BASE_INFLIGHT, 20);
    cr_assert_eq(VHU_PROTOCOL_F_GPA_ADDRESSES, 21, "bit 21 is GPA_ADDRESSES in the spec");
    cr_assert_eq(VHU_PROTOCOL_F_SHMEM, 22, "bit 22 is SHMEM in the spec (rust-vmm 0.16 says 21)");
    cr_assert_eq(VHU_FLAG_REPLY, 0x4);
    cr_assert_eq(VHU_FLAG_NEED_REPLY, 0x8);
    cr_assert_eq(sizeof(vhu_shmem_config), 2056);
    cr_assert_eq(sizeof(vhu_mmap), 40);
    cr_assert_eq(offsetof(vhu_mmap, fd_offset), 8);
    cr_assert_eq(offsetof(vhu_shmem_config, mem_size), 8);
    cr_assert_eq(sizeof(vhu_mem_reg), 40);
    cr_assert_eq(sizeof(vhu_vring_addr), 40);
    cr_assert_eq(offsetof(vhu_iotlb_msg, type), 25);
    cr_assert_eq(offsetof(vhu_inflight, queue_size), 18);
}

Test(msg, every_id_has_a_name)
{
    for (uint32_t id = 1; id < VHU_REQ_MAX; id++) {
        cr_assert_not_null(vhu_req_name(id));
        cr_assert_str_neq(vhu_req_name(id), "UNKNOWN", "id %u", id);
        cr_assert_not_null(vhu_req_rule(id), "id %u has no rule", id);
    }
    for (uint32_t id = 1; id < VHU_BACKEND_REQ_MAX; id++) {
        cr_assert_str_neq(vhu_backend_req_name(id), "UNKNOWN", "id %u", id);
        cr_assert_not_null(vhu_backend_req_rule(id));
    }
    cr_assert_str_eq(vhu_req_name(44), "GET_SHMEM_CONFIG");
    cr_assert_str_eq(vhu_req_name(21), "SET_BACKEND_REQ_FD");
    cr_assert_str_eq(vhu_backend_req_name(9), "SHMEM_MAP");
    cr_assert_str_eq(vhu_req_name(45), "UNKNOWN");
    cr_assert_str_eq(vhu_req_name(UINT32_MAX), "UNKNOWN");
    cr_assert_str_eq(vhu_backend_req_name(11), "UNKNOWN");
    cr_assert_null(vhu_req_rule(0));
    cr_assert_null(vhu_req_rule(45));
    cr_assert_null(vhu_backend_req_rule(11));
}

/* Encode, decode, compare and validate again. */
static void round_trip(const vhu_msg *m, int (*validate)(const vhu_msg *, const vhu_validate_ctx *),
                       const vhu_validate_ctx *ctx, const char *what)
{
    uint8_t buf[VHU_HDR_SIZE + VHU_PAYLOAD_MAX];
    int len = vhu_msg_encode(m, buf, sizeof(buf));
    cr_assert_eq(len, (int)(VHU_HDR_SIZE + m->hdr.size), "%s", what);
    cr_assert_eq((size_t)len, vhu_msg_wire_size(m));
    vhu_msg d;
    cr_assert_eq(vhu_msg_decode(&d, buf, (size_t)len), 0, "%s", what);
    cr_assert_eq(memcmp(&d.hdr, &m->hdr, sizeof(d.hdr)), 0, "%s", what);
    cr_assert_eq(memcmp(d.payload.raw, m->payload.raw, m->hdr.size), 0, "%s", what);
    cr_assert_eq(d.nfds, 0);
    for (uint32_t i = 0; i < m->nfds; i++)
        vhu_msg_add_fd(&d, m->fds[i]); /* fds travel apart from the bytes */
    if (validate)
        cr_assert_eq(validate(&d, ctx), 0, "%s: decoded copy rejected", what);
}

Test(msg, every_frontend_request_round_trips)
{
    vhu_validate_ctx ctx = {.protocol_features = ALL_PF};
    for (uint32_t id = 1; id < VHU_REQ_MAX; id++) {
        vhu_msg m;
        cr_assert_eq(sample_req(id, &m, memfd), 0, "no sample for %s", vhu_req_name(id));
        cr_assert_eq(vhu_validate_req(&m, &ctx), 0, "%s rejected", vhu_req_name(id));
        round_trip(&m, vhu_validate_req, &ctx, vhu_req_name(id));
    }
}

static const vhu_msg *reply_req;
static int validate_reply_to(const vhu_msg *r, const vhu_validate_ctx *ctx)
{
    return vhu_validate_reply(r, reply_req, ctx);
}
static int validate_breply_to(const vhu_msg *r, const vhu_validate_ctx *ctx)
{
    return vhu_validate_backend_reply(r, reply_req, ctx);
}

Test(msg, every_reply_round_trips)
{
    vhu_validate_ctx ctx = {.protocol_features = ALL_PF};
    int replies = 0, acks = 0;
    for (uint32_t id = 1; id < VHU_REQ_MAX; id++) {
        vhu_msg m, r;
        sample_req(id, &m, memfd);
        m.hdr.flags |= VHU_FLAG_NEED_REPLY;
        reply_req = &m;
        if (vhu_req_owed(&m, &ctx) == VHU_OWED_REPLY) {
            cr_assert_eq(sample_reply(&m, &r, memfd), 0, "no reply sample for %s", vhu_req_name(id));
            replies++;
        } else {
            cr_assert_eq(vhu_req_owed(&m, &ctx), VHU_OWED_ACK, "%s", vhu_req_name(id));
            vhu_msg_build_u64(&r, id, VHU_FLAG_REPLY, 0);
            acks++;
        }
        cr_assert_eq(vhu_validate_reply(&r, &m, &ctx), 0, "%s reply rejected", vhu_req_name(id));
        round_trip(&r, validate_reply_to, &ctx, vhu_req_name(id));
    }
    cr_assert_eq(replies, 17, "16 always-reply requests + SET_LOG_BASE with LOG_SHMFD");
    cr_assert_eq(replies + acks, VHU_REQ_MAX - 1);
}

Test(msg, every_backend_request_and_reply_round_trips)
{
    vhu_validate_ctx ctx = {.protocol_features = ALL_PF};
    for (uint32_t id = 1; id < VHU_BACKEND_REQ_MAX; id++) {
        vhu_msg m, r;
        cr_assert_eq(sample_backend_req(id, &m, memfd), 0);
        m.hdr.flags |= VHU_FLAG_NEED_REPLY;
        cr_assert_eq(vhu_validate_backend_req(&m, &ctx), 0, "%s rejected", vhu_backend_req_name(id));
        round_trip(&m, vhu_validate_backend_req, &ctx, vhu_backend_req_name(id));
        vhu_msg_build_u64(&r, id, VHU_FLAG_REPLY, 0);
        if (id == VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP) {
            cr_assert_eq(vhu_backend_req_owed(&m, &ctx), VHU_OWED_REPLY);
            vhu_msg_add_fd(&r, memfd);
        } else {
            cr_assert_eq(vhu_backend_req_owed(&m, &ctx), VHU_OWED_ACK);
        }
        reply_req = &m;
        round_trip(&r, validate_breply_to, &ctx, vhu_backend_req_name(id));
    }
}

/* The same over a socket: every request and explicit reply, with real fds that arrive as new fds. */
Test(msg, every_message_round_trips_over_a_socket_with_its_fds)
{
    int sv[2];
    cr_assert_eq(sockpair(sv, false), 0);
    vhu_conn *a, *b;
    cr_assert_eq(vhu_conn_new(NULL, sv[0], &a), 0);
    cr_assert_eq(vhu_conn_new(NULL, sv[1], &b), 0);
    vhu_validate_ctx ctx = {.protocol_features = ALL_PF};
    for (int pass = 0; pass < 3; pass++) {
        uint32_t max = pass == 2 ? VHU_BACKEND_REQ_MAX : VHU_REQ_MAX;
        for (uint32_t id = 1; id < max; id++) {
            vhu_msg m, got;
            if (pass == 2) {
                sample_backend_req(id, &m, memfd);
            } else {
                sample_req(id, &m, memfd);
                if (pass == 1) {
                    vhu_msg req = m;
                    if (vhu_req_owed(&req, &ctx) != VHU_OWED_REPLY)
                        continue;
                    sample_reply(&req, &m, memfd);
                }
            }
            cr_assert_eq(vhu_conn_send(a, &m), 0);
            cr_assert_eq(vhu_conn_recv(b, &got), 0);
            cr_assert_eq(memcmp(&got.hdr, &m.hdr, sizeof(m.hdr)), 0);
            cr_assert_eq(memcmp(got.payload.raw, m.payload.raw, m.hdr.size), 0);
            cr_assert_eq(got.nfds, m.nfds, "%u: fds", id);
            for (uint32_t i = 0; i < got.nfds; i++) {
                cr_assert(got.fds[i] != memfd && fd_is_open(got.fds[i]));
                cr_assert(fcntl(got.fds[i], F_GETFD) & FD_CLOEXEC, "received fds are CLOEXEC");
                cr_assert_eq(first_byte(got.fds[i], 0, 4096), 0xab, "the fd is our memfd");
            }
            for (uint32_t i = got.nfds; i < VHU_MAX_FDS; i++)
                cr_assert_eq(got.fds[i], -1);
            vhu_msg_close_fds(&got);
        }
    }
    vhu_conn_free(a);
    vhu_conn_free(b);
}

Test(msg, builders_and_fd_helpers)
{
    vhu_msg m;
    vhu_msg_init(&m, VHU_REQ_SET_FEATURES, VHU_FLAG_NEED_REPLY | VHU_VERSION_MASK);
    cr_assert_eq(m.hdr.flags, VHU_VERSION | VHU_FLAG_NEED_REPLY, "version bits are always 0x1");
    cr_assert_eq(m.hdr.size, 0);
    cr_assert(vhu_msg_need_reply(&m));
    cr_assert_not(vhu_msg_is_reply(&m));
    cr_assert_eq(vhu_msg_add_fd(&m, -1), -EBADF);
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        cr_assert_eq(vhu_msg_add_fd(&m, dup(memfd)), 0);
    cr_assert_eq(vhu_msg_add_fd(&m, memfd), -ENOSPC);
    int fd = vhu_msg_take_fd(&m, 3);
    cr_assert(fd_is_open(fd));
    cr_assert_eq(m.fds[3], -1);
    cr_assert_eq(vhu_msg_take_fd(&m, 3), -1);
    cr_assert_eq(vhu_msg_take_fd(&m, VHU_MAX_FDS), -1);
    close(fd);
    vhu_msg_close_fds(&m);
    vhu_msg_close_fds(&m); /* idempotent */
    cr_assert_eq(m.nfds, 0);
    cr_assert_eq(vhu_msg_set_payload(&m, NULL, 1), -EINVAL);
    cr_assert_eq(vhu_msg_set_payload(&m, &m, VHU_PAYLOAD_MAX + 1), -EINVAL);
    cr_assert_eq(m.hdr.size, 0, "nothing changed");
    vhu_mem_region r = {0, 4096, 0, 0};
    int bad = -1;
    cr_assert_eq(vhu_msg_build_mem_table(&m, 0, &r, &memfd, VHU_MEM_REGIONS_MAX + 1), -EINVAL);
    cr_assert_eq(vhu_msg_build_mem_table(&m, 0, &r, &bad, 1), -EINVAL);
    cr_assert_eq(vhu_msg_build_mem_table(&m, 0, NULL, NULL, 1), -EINVAL);
    cr_assert_eq(vhu_msg_build_mem_table(&m, 0, NULL, NULL, 0), 0);
    cr_assert_eq(m.hdr.size, 8);
}

Test(msg, encode_and_decode_reject_bad_frames)
{
    vhu_msg m, d;
    uint8_t buf[64];
    vhu_msg_build_u64(&m, VHU_REQ_SET_FEATURES, 0, 1);
    cr_assert_eq(vhu_msg_encode(&m, buf, 19), -ENOSPC);
    cr_assert_eq(vhu_msg_encode(&m, NULL, 0), -ENOSPC);
    m.hdr.size = VHU_PAYLOAD_MAX + 1;
    cr_assert_eq(vhu_msg_encode(&m, buf, sizeof(buf)), -EINVAL);
    m.hdr.size = 8;
    cr_assert_eq(vhu_msg_encode(&m, buf, sizeof(buf)), 20);
    cr_assert_eq(vhu_msg_decode(&d, buf, 11), -EBADMSG, "short header");
    cr_assert_eq(vhu_msg_decode(&d, buf, 19), -EBADMSG, "short payload");
    cr_assert_eq(vhu_msg_decode(&d, buf, 21), -EBADMSG, "trailing byte");
    cr_assert_eq(vhu_msg_decode(&d, NULL, 20), -EBADMSG);
    vhu_hdr h = {1, 0x2, 0};
    memcpy(buf, &h, 12);
    cr_assert_eq(vhu_msg_decode(&d, buf, 12), -EBADMSG, "version 2");
    h.flags = VHU_VERSION | 0x10;
    memcpy(buf, &h, 12);
    cr_assert_eq(vhu_msg_decode(&d, buf, 12), -EBADMSG, "unknown flag bit");
    h = (vhu_hdr){1, VHU_VERSION, VHU_PAYLOAD_MAX + 1};
    cr_assert_eq(vhu_hdr_check(&h), -EBADMSG);
    h.size = VHU_PAYLOAD_MAX;
    cr_assert_eq(vhu_hdr_check(&h), 0);
    cr_assert_eq(d.nfds, 0);
}
