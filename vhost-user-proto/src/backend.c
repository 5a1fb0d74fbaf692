/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* backend.c - the back-end endpoint: receive the front-end's requests, send replies (cvmm/vhu/backend.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cvmm/fd.h"
#include "cvmm/log.h"
#include "cvmm/vhu/backend.h"
#include "cvmm/vhu/conn.h"
#include "internal.h"

struct vhu_backend {
    vhu_conn *conn;
    int timeout_ms;
    const struct cvmm_log *log;
    uint64_t offered;
    vhu_validate_ctx ctx;
    char name[32];
};

int vhu_backend_new(const vhu_backend_config *cfg, int owned_fd, vhu_backend **out)
{
    if (owned_fd < 0 || !out) {
        cvmm_close(&owned_fd);
        return -EINVAL;
    }
    vhu_backend *b = calloc(1, sizeof(*b));
    if (!b) {
        cvmm_close(&owned_fd);
        return -ENOMEM;
    }
    vhu__name_copy(b->name, sizeof(b->name), cfg ? cfg->name : NULL, "vhu-backend");
    b->log = cfg ? cfg->log : NULL;
    b->offered = cfg ? cfg->protocol_features : 0;
    b->ctx.log = b->log;
    b->ctx.name = b->name;
    b->ctx.num_queues = cfg ? cfg->num_queues : 0;
    b->timeout_ms = vhu__timeout(cfg ? cfg->timeout_ms : 0);
    vhu_conn_config cc = {.log = b->log, .name = b->name, .timeout_ms = cfg ? cfg->timeout_ms : 0};
    int rc = vhu_conn_new(&cc, owned_fd, &b->conn);
    if (rc < 0) {
        free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void vhu_backend_free(vhu_backend *b)
{
    if (!b)
        return;
    vhu_conn_free(b->conn);
    free(b);
}

int vhu_backend_fd(const vhu_backend *b) { return vhu_conn_fd(b->conn); }

bool vhu_backend_broken(const vhu_backend *b) { return vhu_conn_broken(b->conn); }

const vhu_validate_ctx *vhu_backend_ctx(const vhu_backend *b) { return &b->ctx; }

void vhu_backend_set_num_queues(vhu_backend *b, uint32_t num_queues) { b->ctx.num_queues = num_queues; }

void vhu_backend_set_protocol_features(vhu_backend *b, uint64_t features)
{
    b->ctx.protocol_features = features & b->offered;
}

static bool all_zero(const void *p, size_t n)
{
    const unsigned char *c = p;
    for (size_t i = 0; i < n; i++)
        if (c[i])
            return false;
    return true;
}

/* GET_SHMEM_CONFIG without F_SHMEM negotiated.  The spec defines the message only "when the
 * VHOST_USER_PROTOCOL_F_SHMEM protocol feature has been successfully negotiated" and gives its reply no
 * error form, so vhu_backend_recv() rejects it (-EPROTO) and sends nothing.  A back-end may still answer a
 * front-end that sent it anyway, so that it does not wait forever: with the all-zero VhostUserShMemConfig
 * ("no VIRTIO Shared Memory Regions"), the one answer that reveals nothing the negotiation did not settle.
 * Anything else stays refused. */
static bool unnegotiated_shmem_reply(const vhu_backend *b, const vhu_msg *req)
{
    return req->hdr.request == VHU_REQ_GET_SHMEM_CONFIG && !(req->hdr.flags & VHU_FLAG_REPLY) &&
           !(b->ctx.protocol_features & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_SHMEM));
}

static int check_unnegotiated_shmem_reply(const vhu_backend *b, const vhu_msg *r)
{
    if (r->hdr.size == sizeof(vhu_shmem_config) && r->nfds == 0 &&
        all_zero(&r->payload.shmem, sizeof(vhu_shmem_config)))
        return 0;
    cvmm_logf(b->log, CVMM_LOG_WARN,
              "%s: GET_SHMEM_CONFIG reply without SHMEM negotiated: only an all-zero "
              "config of %u bytes without fds may be sent (size %u, %u fds)",
              b->name, (unsigned)sizeof(vhu_shmem_config), r->hdr.size, r->nfds);
    return -EINVAL;
}

static int send_reply(vhu_backend *b, const vhu_msg *req, const void *payload, uint32_t size, const int *fds,
                      uint32_t nfds, bool check)
{
    vhu_msg r;
    vhu_msg_init(&r, req->hdr.request, VHU_FLAG_REPLY);
    if (vhu_msg_set_payload(&r, payload, size) < 0 || nfds > VHU_MAX_FDS || (nfds && !fds)) {
        cvmm_logf(b->log, CVMM_LOG_WARN, "%s: %s reply: bad arguments (size %u, %u fds)", b->name,
                  vhu_req_name(req->hdr.request), size, nfds);
        return -EINVAL;
    }
    for (uint32_t i = 0; i < nfds; i++)
        r.fds[i] = fds[i];
    r.nfds = nfds;
    /* Error answers to rejected requests (answer_rejected()) are not checked: the request may have an
     * unknown id or lack its gating feature, and the answer is a plain u64 or an empty GET_CONFIG. */
    int rc = 0;
    if (check && unnegotiated_shmem_reply(b, req))
        rc = check_unnegotiated_shmem_reply(b, &r); /* see above */
    else if (check)
        rc = vhu_validate_reply(&r, req, &b->ctx);
    if (rc < 0)
        return -EINVAL; /* logged by the validator or above */
    return vhu_conn_send(b->conn, &r);
}

/* Answer a rejected request if the spec gives the answer an error form. */
static void answer_rejected(vhu_backend *b, const vhu_msg *m, int err)
{
    enum vhu_owed owed = vhu_req_owed(m, &b->ctx);
    if (owed == VHU_OWED_ACK) {
        uint64_t v = (uint64_t)-err;
        (void)send_reply(b, m, &v, sizeof(v), NULL, 0, false);
    } else if (owed == VHU_OWED_REPLY && m->hdr.request == VHU_REQ_GET_CONFIG) {
        (void)send_reply(b, m, NULL, 0, NULL, 0, false); /* spec: an empty GET_CONFIG reply is the error */
    } else if (owed == VHU_OWED_REPLY && err == -EPROTO && unnegotiated_shmem_reply(b, m)) {
        /* no error form (see unnegotiated_shmem_reply()): the caller answers zeroed or closes; the
         * validator logged the rejection */
    } else if (owed == VHU_OWED_REPLY) {
        cvmm_logf(b->log, CVMM_LOG_WARN, "%s: %s owes a reply that has no error form: close the connection", b->name,
                  vhu_req_name(m->hdr.request));
    }
}

static int check_protocol_features(vhu_backend *b, uint64_t v)
{
    if (v & ~b->offered) {
        cvmm_logf(b->log, CVMM_LOG_WARN, "%s: SET_PROTOCOL_FEATURES 0x%llx acks bits 0x%llx we did not offer", b->name,
                  (unsigned long long)v, (unsigned long long)(v & ~b->offered));
        return -EPROTO;
    }
    uint64_t need = VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_BACKEND_REQ) | VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK);
    if ((v & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_INBAND_NOTIFICATIONS)) && (v & need) != need) {
        cvmm_logf(b->log, CVMM_LOG_WARN,
                  "%s: SET_PROTOCOL_FEATURES 0x%llx: INBAND_NOTIFICATIONS without BACKEND_REQ and REPLY_ACK", b->name,
                  (unsigned long long)v);
        return -EPROTO;
    }
    return 0;
}

int vhu_backend_recv(vhu_backend *b, vhu_msg *m)
{
    int rc = vhu_conn_recv(b->conn, m);
    if (rc == -EBADF) {
        answer_rejected(b, m, rc); /* complete frame, fds lost: m->hdr is valid, m has no fds */
        return rc;
    }
    if (rc < 0)
        return rc;
    rc = vhu_validate_req(m, &b->ctx);
    if (rc == 0 && m->hdr.request == VHU_REQ_SET_PROTOCOL_FEATURES)
        rc = check_protocol_features(b, m->payload.u64);
    if (rc < 0) {
        vhu_msg_close_fds(m);
        answer_rejected(b, m, rc);
        return rc;
    }
    switch (m->hdr.request) {
    case VHU_REQ_SET_PROTOCOL_FEATURES: b->ctx.protocol_features = m->payload.u64; break;
    case VHU_REQ_POSTCOPY_LISTEN: b->ctx.postcopy_listening = true; break;
    case VHU_REQ_POSTCOPY_END: b->ctx.postcopy_listening = false; break;
    default: break;
    }
    return 0;
}

int vhu_backend_reply(vhu_backend *b, const vhu_msg *req, const void *payload, uint32_t size, const int *fds,
                      uint32_t nfds)
{
    return send_reply(b, req, payload, size, fds, nfds, true);
}

int vhu_backend_reply_u64(vhu_backend *b, const vhu_msg *req, uint64_t v)
{
    return send_reply(b, req, &v, sizeof(v), NULL, 0, true);
}

int vhu_backend_ack(vhu_backend *b, const vhu_msg *req, int status)
{
    if (vhu_req_owed(req, &b->ctx) != VHU_OWED_ACK)
        return 0;
    uint64_t v = status < 0 ? (uint64_t)-status : (uint64_t)status;
    return send_reply(b, req, &v, sizeof(v), NULL, 0, true);
}

int vhu_backend_recv_postcopy_ack(vhu_backend *b, const vhu_msg *req)
{
    vhu_msg m;
    int rc = vhu_conn_recv_wait(b->conn, &m, b->timeout_ms);
    if (rc < 0)
        return rc;
    if (m.hdr.request != req->hdr.request) {
        cvmm_logf(b->log, CVMM_LOG_WARN, "%s: waiting for the postcopy %s acknowledgement, got %s", b->name,
                  vhu_req_name(req->hdr.request), vhu_req_name(m.hdr.request));
        rc = -EPROTO;
    } else if (m.hdr.size != sizeof(uint64_t) || m.nfds != 0) {
        cvmm_logf(b->log, CVMM_LOG_WARN, "%s: postcopy %s acknowledgement: %u bytes, %u fds", b->name,
                  vhu_req_name(req->hdr.request), m.hdr.size, m.nfds);
        rc = -EBADMSG;
    } else if (m.payload.u64 != 0) {
        cvmm_logf(b->log, CVMM_LOG_WARN, "%s: postcopy %s acknowledgement is %llu", b->name,
                  vhu_req_name(req->hdr.request), (unsigned long long)m.payload.u64);
        rc = -EREMOTEIO;
    }
    vhu_msg_close_fds(&m);
    return rc;
}
