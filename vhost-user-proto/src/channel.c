/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* channel.c - the back-end channel: back-end -> front-end requests (cvmm/vhu/backend.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cvmm/fd.h"
#include "cvmm/log.h"
#include "cvmm/vhu/backend.h"
#include "cvmm/vhu/conn.h"
#include "internal.h"

struct vhu_backend_channel {
    pthread_mutex_t lock; /* one request + its answer at a time */
    vhu_conn *conn;
    const struct cvmm_log *log;
    vhu_validate_ctx ctx;
    int timeout_ms;
    bool no_need_reply;
    char name[40];
};

int vhu_backend_channel_new(const vhu_backend_channel_config *cfg, int owned_fd, vhu_backend_channel **out)
{
    if (owned_fd < 0 || !out) {
        cvmm_close(&owned_fd);
        return -EINVAL;
    }
    vhu_backend_channel *ch = calloc(1, sizeof(*ch));
    if (!ch) {
        cvmm_close(&owned_fd);
        return -ENOMEM;
    }
    vhu__name_copy(ch->name, sizeof(ch->name), cfg ? cfg->name : NULL, "vhu-backend-channel");
    ch->log = cfg ? cfg->log : NULL;
    ch->ctx.log = ch->log;
    ch->ctx.name = ch->name;
    ch->ctx.protocol_features = cfg ? cfg->protocol_features : 0;
    ch->ctx.num_queues = cfg ? cfg->num_queues : 0;
    ch->timeout_ms = vhu__timeout(cfg ? cfg->timeout_ms : 0);
    ch->no_need_reply = cfg ? cfg->no_need_reply : false;
    int rc = pthread_mutex_init(&ch->lock, NULL);
    if (rc) {
        free(ch);
        cvmm_close(&owned_fd);
        return -rc;
    }
    vhu_conn_config cc = {.log = ch->log, .name = ch->name, .timeout_ms = ch->timeout_ms};
    rc = vhu_conn_new(&cc, owned_fd, &ch->conn);
    if (rc < 0) {
        pthread_mutex_destroy(&ch->lock);
        free(ch);
        return rc;
    }
    *out = ch;
    return 0;
}

void vhu_backend_channel_free(vhu_backend_channel *ch)
{
    if (!ch)
        return;
    vhu_conn_free(ch->conn);
    pthread_mutex_destroy(&ch->lock);
    free(ch);
}

static int request_locked(vhu_backend_channel *ch, vhu_msg *req, vhu_msg *reply)
{
    if (vhu_conn_broken(ch->conn))
        return -EIO;
    req->hdr.flags &= ~VHU_FLAG_NEED_REPLY;
    const vhu_msg_rule *rule = vhu_backend_req_rule(req->hdr.request);
    if ((ch->ctx.protocol_features & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK)) && !ch->no_need_reply && rule &&
        rule->reply == VHU_REPLY_NONE)
        req->hdr.flags |= VHU_FLAG_NEED_REPLY;
    int rc = vhu_validate_backend_req(req, &ch->ctx);
    if (rc < 0)
        return rc == -EPROTO ? -EPROTO : -EINVAL;
    rc = vhu_conn_send(ch->conn, req);
    if (rc < 0)
        return rc;
    if (vhu_backend_req_owed(req, &ch->ctx) == VHU_OWED_NOTHING)
        return 0;
    rc = vhu_conn_recv_wait(ch->conn, reply, ch->timeout_ms);
    if (rc == -ETIMEDOUT)
        return vhu__conn_break(ch->conn, rc, "no answer from the front-end");
    if (rc == -EBADF)
        return vhu__conn_break(ch->conn, -EIO, "answer with truncated fds");
    if (rc < 0)
        return rc;
    rc = vhu_validate_backend_reply(reply, req, &ch->ctx);
    if (rc < 0) {
        vhu_msg_close_fds(reply);
        return vhu__conn_break(ch->conn, -EIO, "malformed answer");
    }
    if (reply->payload.u64 != 0) {
        cvmm_logf(ch->log, CVMM_LOG_INFO, "%s: front-end answered %s with %llu", ch->name,
                  vhu_backend_req_name(req->hdr.request), (unsigned long long)reply->payload.u64);
        vhu_msg_close_fds(reply);
        return -EREMOTEIO;
    }
    return 0;
}

int vhu_backend_channel_request(vhu_backend_channel *ch, vhu_msg *req, vhu_msg *reply)
{
    vhu_msg local;
    if (!reply)
        reply = &local;
    reply->nfds = 0;
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        reply->fds[i] = -1;
    pthread_mutex_lock(&ch->lock);
    int rc = request_locked(ch, req, reply);
    pthread_mutex_unlock(&ch->lock);
    if (reply == &local)
        vhu_msg_close_fds(&local);
    return rc;
}

static int simple(vhu_backend_channel *ch, uint32_t id, const void *payload, uint32_t size, int fd)
{
    vhu_msg m;
    vhu_msg_init(&m, id, 0);
    (void)vhu_msg_set_payload(&m, payload, size);
    if (fd >= 0)
        (void)vhu_msg_add_fd(&m, fd);
    return vhu_backend_channel_request(ch, &m, NULL);
}

int vhu_backend_channel_iotlb_msg(vhu_backend_channel *ch, const vhu_iotlb_msg *msg)
{
    vhu_iotlb_msg t = *msg;
    memset(t.padding, 0, sizeof(t.padding));
    return simple(ch, VHU_BACKEND_REQ_IOTLB_MSG, &t, sizeof(t), -1);
}

int vhu_backend_channel_config_change(vhu_backend_channel *ch)
{
    return simple(ch, VHU_BACKEND_REQ_CONFIG_CHANGE_MSG, NULL, 0, -1);
}

int vhu_backend_channel_vring_host_notifier(vhu_backend_channel *ch, uint32_t index, uint64_t size, uint64_t offset,
                                            int fd)
{
    vhu_vring_area a = {.u64 = (uint64_t)index | (fd < 0 ? VHU_VRING_NOFD_MASK : 0), .size = size, .offset = offset};
    if (index > VHU_VRING_IDX_MASK)
        return -EINVAL;
    return simple(ch, VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG, &a, sizeof(a), fd);
}

int vhu_backend_channel_vring_call(vhu_backend_channel *ch, uint32_t index)
{
    vhu_vring_state s = {index, 0};
    return simple(ch, VHU_BACKEND_REQ_VRING_CALL, &s, sizeof(s), -1);
}

int vhu_backend_channel_vring_err(vhu_backend_channel *ch, uint32_t index)
{
    vhu_vring_state s = {index, 0};
    return simple(ch, VHU_BACKEND_REQ_VRING_ERR, &s, sizeof(s), -1);
}

int vhu_backend_channel_shared_object_add(vhu_backend_channel *ch, const vhu_shared_object *obj)
{
    return simple(ch, VHU_BACKEND_REQ_SHARED_OBJECT_ADD, obj, sizeof(*obj), -1);
}

int vhu_backend_channel_shared_object_remove(vhu_backend_channel *ch, const vhu_shared_object *obj)
{
    return simple(ch, VHU_BACKEND_REQ_SHARED_OBJECT_REMOVE, obj, sizeof(*obj), -1);
}

int vhu_backend_channel_shared_object_lookup(vhu_backend_channel *ch, const vhu_shared_object *obj, int *out_fd)
{
    vhu_msg m, r;
    *out_fd = -1;
    vhu_msg_init(&m, VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP, 0);
    (void)vhu_msg_set_payload(&m, obj, sizeof(*obj));
    int rc = vhu_backend_channel_request(ch, &m, &r);
    if (rc == 0)
        *out_fd = vhu_msg_take_fd(&r, 0); /* validated: status 0 comes with exactly one fd */
    return rc;
}

static int mmap_req(vhu_backend_channel *ch, uint32_t id, const vhu_mmap *map, int fd)
{
    vhu_mmap mm = *map;
    memset(mm.padding, 0, sizeof(mm.padding));
    return simple(ch, id, &mm, sizeof(mm), fd);
}

int vhu_backend_channel_shmem_map(vhu_backend_channel *ch, const vhu_mmap *map, int fd)
{
    if (fd < 0)
        return -EBADF;
    return mmap_req(ch, VHU_BACKEND_REQ_SHMEM_MAP, map, fd);
}

int vhu_backend_channel_shmem_unmap(vhu_backend_channel *ch, const vhu_mmap *map)
{
    return mmap_req(ch, VHU_BACKEND_REQ_SHMEM_UNMAP, map, -1);
}
