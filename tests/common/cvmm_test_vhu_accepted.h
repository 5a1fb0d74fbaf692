/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/** cvmm_test_vhu_accepted.h - what a front-end request that vhu_validate_req() accepted guarantees to its
 *  handler: its table row (payload size, fd count, gating feature), no reply flag, the field ranges the
 *  handlers rely on, and an owed answer of a known kind.  Checked on every accepted message by the fuzz
 *  suite (tests/vhost-user-proto/fuzz.c) and the libFuzzer target (fuzz/proto_msg.c). */
#ifndef CVMM_TEST_VHU_ACCEPTED_H
#define CVMM_TEST_VHU_ACCEPTED_H

#include <stddef.h>

#include "cvmm/vhu.h"

#define CVMM_TEST_VHU_REQUIRE(cond)                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            return #cond;                                                                                              \
    } while (0)

/** cvmm_test_vhu_accepted() - check @m, accepted under @c.  Return: NULL; else the first guarantee it
 *  breaks, as the text of the failed condition. */
static inline const char *cvmm_test_vhu_accepted(const vhu_msg *m, const vhu_validate_ctx *c)
{
    const vhu_msg_rule *r = vhu_req_rule(m->hdr.request);
    CVMM_TEST_VHU_REQUIRE(r != NULL);
    CVMM_TEST_VHU_REQUIRE(m->hdr.size >= r->size_min && m->hdr.size <= r->size_max);
    CVMM_TEST_VHU_REQUIRE(m->nfds >= r->fds_min && m->nfds <= r->fds_max);
    CVMM_TEST_VHU_REQUIRE(r->gate < 0 || (c->protocol_features & VHU_PROTOCOL_BIT(r->gate)));
    CVMM_TEST_VHU_REQUIRE(!vhu_msg_is_reply(m));
    switch (m->hdr.request) {
    case VHU_REQ_SET_MEM_TABLE:
        if (!(c->protocol_features & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_XEN_MMAP)))
            CVMM_TEST_VHU_REQUIRE(m->payload.mem.nregions <= VHU_MEM_REGIONS_MAX && m->nfds == m->payload.mem.nregions);
        break;
    case VHU_REQ_SET_VRING_NUM:
        CVMM_TEST_VHU_REQUIRE(m->payload.state.num >= 1 && m->payload.state.num <= VHU_VRING_SIZE_MAX);
        /* fallthrough */
    case VHU_REQ_SET_VRING_BASE:
    case VHU_REQ_GET_VRING_BASE:
    case VHU_REQ_SET_VRING_ENABLE:
        CVMM_TEST_VHU_REQUIRE(!c->num_queues || m->payload.state.index < c->num_queues);
        break;
    case VHU_REQ_GET_CONFIG:
    case VHU_REQ_SET_CONFIG:
        CVMM_TEST_VHU_REQUIRE(m->payload.config.size >= 1 &&
                              (uint64_t)m->payload.config.offset + m->payload.config.size <= VHU_CONFIG_SPACE_MAX);
        CVMM_TEST_VHU_REQUIRE(m->hdr.size == VHU_CONFIG_HDR_SIZE + m->payload.config.size);
        break;
    default: break;
    }
    enum vhu_owed o = vhu_req_owed(m, c);
    CVMM_TEST_VHU_REQUIRE(o == VHU_OWED_NOTHING || o == VHU_OWED_REPLY || o == VHU_OWED_ACK);
    return NULL;
}

#undef CVMM_TEST_VHU_REQUIRE

#endif
