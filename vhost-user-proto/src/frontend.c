/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* frontend.c - a small vhost-user front-end: the main channel's requests (cvmm/vhu/frontend.h); the
 * back-end channel is served in frontend_channel.c. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "cvmm/fd.h"
#include "cvmm/log.h"
#include "cvmm/vhu/conn.h"
#include "cvmm/vhu/frontend.h"
#include "internal.h"

int vhu_frontend_new(const vhu_frontend_config *cfg, int owned_fd, vhu_frontend **out)
{
    if (owned_fd < 0 || !out) {
        cvmm_close(&owned_fd);
        return -EINVAL;
    }
    vhu_frontend *f = calloc(1, sizeof(*f));
    if (!f) {
        cvmm_close(&owned_fd);
        return -ENOMEM;
    }
    vhu__name_copy(f->name, sizeof(f->name), cfg ? cfg->name : NULL, "vhu-frontend");
    f->log = cfg ? cfg->log : NULL;
    f->timeout_ms = vhu__timeout(cfg ? cfg->timeout_ms : 0);
    f->ctx.log = f->log;
    f->ctx.name = f->name;
    int rc = pthread_mutex_init(&f->shmem_lock, NULL);
    if (rc) {
        free(f);
        cvmm_close(&owned_fd);
        return -rc;
    }
    vhu_conn_config cc = {.log = f->log, .name = f->name, .timeout_ms = f->timeout_ms};
    rc = vhu_conn_new(&cc, owned_fd, &f->conn);
    if (rc < 0) {
        pthread_mutex_destroy(&f->shmem_lock);
        free(f);
        return rc;
    }
    *out = f;
    return 0;
}

int vhu_frontend_connect(const vhu_frontend_config *cfg, const char *path, vhu_frontend **out)
{
    if (!path || !out)
        return -EINVAL;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return -ENAMETOOLONG;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        int err = -errno;
        if (err == -EINTR)
            continue;
        cvmm_logf(cfg ? cfg->log : NULL, CVMM_LOG_WARN, "%s: connect %s: %s",
                  cfg && cfg->name ? cfg->name : "vhu-frontend", path, strerror(-err));
        cvmm_close(&fd);
        return err;
    }
    return vhu_frontend_new(cfg, fd, out);
}

void vhu_frontend_free(vhu_frontend *f)
{
    if (!f)
        return;
    vhu_conn_free(f->bconn);
    vhu_conn_free(f->conn);
    pthread_mutex_destroy(&f->shmem_lock);
    free(f);
}

int vhu_frontend_fd(const vhu_frontend *f) { return vhu_conn_fd(f->conn); }

uint64_t vhu_frontend_protocol_features(const vhu_frontend *f) { return f->ctx.protocol_features; }

static void msg_no_fds(vhu_msg *m)
{
    m->nfds = 0;
    for (uint32_t i = 0; i < VHU_MAX_FDS; i++)
        m->fds[i] = -1;
}

int vhu_frontend_request(vhu_frontend *f, vhu_msg *req, vhu_msg *reply)
{
    vhu_msg local;
    vhu_msg *r = reply ? reply : &local;
    msg_no_fds(r);
    if (vhu_conn_broken(f->conn))
        return -EIO;
    req->hdr.flags &= ~VHU_FLAG_NEED_REPLY;
    if ((f->ctx.protocol_features & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_REPLY_ACK)) &&
        vhu_req_owed(req, &f->ctx) == VHU_OWED_NOTHING)
        req->hdr.flags |= VHU_FLAG_NEED_REPLY;
    int rc = vhu_validate_req(req, &f->ctx);
    if (rc < 0)
        return rc == -EPROTO ? -EPROTO : -EINVAL;
    rc = vhu_conn_send(f->conn, req);
    if (rc < 0)
        return rc;
    enum vhu_owed owed = vhu_req_owed(req, &f->ctx);
    if (owed == VHU_OWED_NOTHING)
        return 0;
    rc = vhu_conn_recv_wait(f->conn, r, f->timeout_ms);
    if (rc == -ETIMEDOUT || rc == -EBADF)
        return vhu__conn_break(f->conn, rc, rc == -EBADF ? "reply with bad fds" : "no reply");
    if (rc < 0)
        return rc;
    rc = vhu_validate_reply(r, req, &f->ctx);
    if (rc < 0) {
        vhu_msg_close_fds(r);
        return vhu__conn_break(f->conn, rc, "malformed reply");
    }
    if (owed == VHU_OWED_REPLY && f->ctx.postcopy_listening &&
        (req->hdr.request == VHU_REQ_SET_MEM_TABLE || req->hdr.request == VHU_REQ_ADD_MEM_REG)) {
        /* Spec, SET_MEM_TABLE: the front-end answers the back-end's mappings "with an empty
         * VHOST_USER_SET_MEM_TABLE as an acknowledgement" (8 zero bytes, no NEED_REPLY, no fds). */
        vhu_msg ack;
        vhu_msg_build_u64(&ack, req->hdr.request, 0, 0);
        rc = vhu_conn_send(f->conn, &ack);
        if (rc < 0) {
            vhu_msg_close_fds(r);
            return rc;
        }
    }
    if (owed == VHU_OWED_ACK && r->payload.u64 != 0) {
        cvmm_logf(f->log, CVMM_LOG_INFO, "%s: back-end nacked %s with %llu", f->name, vhu_req_name(req->hdr.request),
                  (unsigned long long)r->payload.u64);
        return -EREMOTEIO;
    }
    if (r == &local)
        vhu_msg_close_fds(&local);
    return 0;
}

static int req_noarg(vhu_frontend *f, uint32_t id, int fd)
{
    vhu_msg m;
    vhu_msg_init(&m, id, 0);
    if (fd >= 0)
        (void)vhu_msg_add_fd(&m, fd);
    return vhu_frontend_request(f, &m, NULL);
}

static int req_set_u64(vhu_frontend *f, uint32_t id, uint64_t v)
{
    vhu_msg m;
    vhu_msg_build_u64(&m, id, 0, v);
    return vhu_frontend_request(f, &m, NULL);
}

static int req_get_u64(vhu_frontend *f, uint32_t id, uint64_t *out)
{
    vhu_msg m, r;
    if (!out)
        return -EINVAL;
    vhu_msg_init(&m, id, 0);
    int rc = vhu_frontend_request(f, &m, &r);
    if (rc == 0)
        *out = r.payload.u64;
    return rc;
}

static int req_payload(vhu_frontend *f, uint32_t id, const void *p, uint32_t size, int fd, vhu_msg *reply)
{
    vhu_msg m;
    vhu_msg_init(&m, id, 0);
    if (vhu_msg_set_payload(&m, p, size) < 0)
        return -EINVAL;
    if (fd >= 0)
        (void)vhu_msg_add_fd(&m, fd);
    return vhu_frontend_request(f, &m, reply);
}

static int req_state(vhu_frontend *f, uint32_t id, uint32_t index, uint32_t num)
{
    vhu_msg m;
    vhu_msg_build_state(&m, id, 0, index, num);
    return vhu_frontend_request(f, &m, NULL);
}

int vhu_frontend_get_features(vhu_frontend *f, uint64_t *features)
{
    return req_get_u64(f, VHU_REQ_GET_FEATURES, features);
}

int vhu_frontend_set_features(vhu_frontend *f, uint64_t features)
{
    return req_set_u64(f, VHU_REQ_SET_FEATURES, features);
}

int vhu_frontend_get_protocol_features(vhu_frontend *f, uint64_t *features)
{
    return req_get_u64(f, VHU_REQ_GET_PROTOCOL_FEATURES, features);
}

int vhu_frontend_set_protocol_features(vhu_frontend *f, uint64_t features)
{
    int rc = req_set_u64(f, VHU_REQ_SET_PROTOCOL_FEATURES, features);
    if (rc == 0)
        f->ctx.protocol_features = features;
    return rc;
}

int vhu_frontend_set_owner(vhu_frontend *f) { return req_noarg(f, VHU_REQ_SET_OWNER, -1); }
int vhu_frontend_reset_owner(vhu_frontend *f) { return req_noarg(f, VHU_REQ_RESET_OWNER, -1); }
int vhu_frontend_get_queue_num(vhu_frontend *f, uint64_t *num) { return req_get_u64(f, VHU_REQ_GET_QUEUE_NUM, num); }

int vhu_frontend_get_max_mem_slots(vhu_frontend *f, uint64_t *slots)
{
    return req_get_u64(f, VHU_REQ_GET_MAX_MEM_SLOTS, slots);
}

static bool xen(const vhu_frontend *f)
{
    return (f->ctx.protocol_features & VHU_PROTOCOL_BIT(VHU_PROTOCOL_F_XEN_MMAP)) != 0;
}

int vhu_frontend_set_mem_table(vhu_frontend *f, const vhu_mem_region *regions, const int *fds, uint32_t n)
{
    vhu_msg m;
    int rc = vhu_msg_build_mem_table(&m, 0, regions, fds, n);
    if (rc < 0)
        return rc;
    if (xen(f)) { /* XEN_MMAP layout: same regions, xen flags 0 (a plain mapping), domid 0 */
        for (uint32_t i = n; i-- > 0;) {
            vhu_mem_region r = m.payload.mem.regions[i];
            m.payload.mem_xen.regions[i].r = r;
            m.payload.mem_xen.regions[i].xen_mmap_flags = 0;
            m.payload.mem_xen.regions[i].domid = 0;
        }
        m.hdr.size = 8 + n * (uint32_t)sizeof(vhu_mem_region_xen);
    }
    vhu_msg r;
    return vhu_frontend_request(f, &m, &r);
}

static int mem_reg(vhu_frontend *f, uint32_t id, const vhu_mem_region *region, int fd)
{
    if (!region)
        return -EINVAL;
    vhu_mem_reg_xen p = {.padding = 0, .region = {.r = *region}};
    return req_payload(f, id, &p, xen(f) ? sizeof(vhu_mem_reg_xen) : sizeof(vhu_mem_reg), fd, NULL);
}

int vhu_frontend_add_mem_reg(vhu_frontend *f, const vhu_mem_region *region, int fd)
{
    if (fd < 0)
        return -EINVAL;
    return mem_reg(f, VHU_REQ_ADD_MEM_REG, region, fd);
}

int vhu_frontend_rem_mem_reg(vhu_frontend *f, const vhu_mem_region *region)
{
    return mem_reg(f, VHU_REQ_REM_MEM_REG, region, -1);
}

int vhu_frontend_set_log_base(vhu_frontend *f, const vhu_log *log, int fd)
{
    if (!log)
        return -EINVAL;
    if (fd < 0)
        return req_set_u64(f, VHU_REQ_SET_LOG_BASE, log->size);
    return req_payload(f, VHU_REQ_SET_LOG_BASE, log, sizeof(*log), fd, NULL);
}

int vhu_frontend_set_log_fd(vhu_frontend *f, int fd)
{
    if (fd < 0)
        return -EINVAL;
    return req_noarg(f, VHU_REQ_SET_LOG_FD, fd);
}

int vhu_frontend_set_vring_num(vhu_frontend *f, uint32_t index, uint32_t num)
{
    return req_state(f, VHU_REQ_SET_VRING_NUM, index, num);
}

int vhu_frontend_set_vring_addr(vhu_frontend *f, const vhu_vring_addr *addr)
{
    if (!addr)
        return -EINVAL;
    return req_payload(f, VHU_REQ_SET_VRING_ADDR, addr, sizeof(*addr), -1, NULL);
}

int vhu_frontend_set_vring_base(vhu_frontend *f, uint32_t index, uint32_t base)
{
    return req_state(f, VHU_REQ_SET_VRING_BASE, index, base);
}

int vhu_frontend_get_vring_base(vhu_frontend *f, uint32_t index, uint32_t *base)
{
    vhu_msg m, r;
    if (!base)
        return -EINVAL;
    vhu_msg_build_state(&m, VHU_REQ_GET_VRING_BASE, 0, index, 0);
    int rc = vhu_frontend_request(f, &m, &r);
    if (rc == 0)
        *base = r.payload.state.num;
    return rc;
}

static int vring_fd(vhu_frontend *f, uint32_t id, uint32_t index, int fd)
{
    if (index > VHU_VRING_IDX_MASK)
        return -EINVAL;
    vhu_msg m;
    vhu_msg_build_u64(&m, id, 0, index | (fd < 0 ? VHU_VRING_NOFD_MASK : 0));
    if (fd >= 0)
        (void)vhu_msg_add_fd(&m, fd);
    return vhu_frontend_request(f, &m, NULL);
}

int vhu_frontend_set_vring_kick(vhu_frontend *f, uint32_t index, int fd)
{
    return vring_fd(f, VHU_REQ_SET_VRING_KICK, index, fd);
}

int vhu_frontend_set_vring_call(vhu_frontend *f, uint32_t index, int fd)
{
    return vring_fd(f, VHU_REQ_SET_VRING_CALL, index, fd);
}

int vhu_frontend_set_vring_err(vhu_frontend *f, uint32_t index, int fd)
{
    return vring_fd(f, VHU_REQ_SET_VRING_ERR, index, fd);
}

int vhu_frontend_set_vring_enable(vhu_frontend *f, uint32_t index, bool enable)
{
    return req_state(f, VHU_REQ_SET_VRING_ENABLE, index, enable ? 1 : 0);
}

int vhu_frontend_set_vring_endian(vhu_frontend *f, uint32_t index, uint32_t big_endian)
{
    return req_state(f, VHU_REQ_SET_VRING_ENDIAN, index, big_endian);
}

int vhu_frontend_vring_kick(vhu_frontend *f, uint32_t index) { return req_state(f, VHU_REQ_VRING_KICK, index, 0); }

static int config_msg(vhu_msg *m, uint32_t id, uint32_t offset, const void *buf, uint32_t size, uint32_t flags)
{
    if (size == 0 || size > VHU_CONFIG_DATA_MAX)
        return -EINVAL;
    vhu_msg_init(m, id, 0);
    m->payload.config.offset = offset;
    m->payload.config.size = size;
    m->payload.config.flags = flags;
    if (buf)
        memcpy(m->payload.config.data, buf, size);
    else
        memset(m->payload.config.data, 0, size);
    m->hdr.size = VHU_CONFIG_HDR_SIZE + size;
    return 0;
}

int vhu_frontend_get_config(vhu_frontend *f, uint32_t offset, void *buf, uint32_t size, uint32_t flags)
{
    vhu_msg m, r;
    if (!buf || config_msg(&m, VHU_REQ_GET_CONFIG, offset, NULL, size, flags) < 0)
        return -EINVAL;
    int rc = vhu_frontend_request(f, &m, &r);
    if (rc < 0)
        return rc;
    if (r.hdr.size == 0)
        return -EREMOTEIO;
    memcpy(buf, r.payload.config.data, size);
    return 0;
}

int vhu_frontend_set_config(vhu_frontend *f, uint32_t offset, const void *buf, uint32_t size, uint32_t flags)
{
    vhu_msg m;
    if (!buf || config_msg(&m, VHU_REQ_SET_CONFIG, offset, buf, size, flags) < 0)
        return -EINVAL;
    return vhu_frontend_request(f, &m, NULL);
}

int vhu_frontend_send_rarp(vhu_frontend *f, const uint8_t mac[6])
{
    if (!mac)
        return -EINVAL;
    uint8_t b[8] = {0};
    memcpy(b, mac, 6);
    return req_payload(f, VHU_REQ_SEND_RARP, b, sizeof(b), -1, NULL);
}

int vhu_frontend_net_set_mtu(vhu_frontend *f, uint64_t mtu) { return req_set_u64(f, VHU_REQ_NET_SET_MTU, mtu); }

int vhu_frontend_iotlb_msg(vhu_frontend *f, const vhu_iotlb_msg *msg, uint64_t *status)
{
    vhu_msg r;
    if (!msg || !status)
        return -EINVAL;
    vhu_iotlb_msg t = *msg;
    memset(t.padding, 0, sizeof(t.padding));
    int rc = req_payload(f, VHU_REQ_IOTLB_MSG, &t, sizeof(t), -1, &r);
    if (rc == 0)
        *status = r.payload.u64;
    return rc;
}

int vhu_frontend_create_crypto_session(vhu_frontend *f, void *session, uint32_t size, uint32_t cap,
                                       uint32_t *reply_size)
{
    vhu_msg r;
    if (!session || !reply_size || size == 0 || size > cap)
        return -EINVAL;
    int rc = req_payload(f, VHU_REQ_CREATE_CRYPTO_SESSION, session, size, -1, &r);
    if (rc < 0)
        return rc;
    if (r.hdr.size > cap)
        return -ENOSPC;
    memcpy(session, r.payload.raw, r.hdr.size);
    *reply_size = r.hdr.size;
    return 0;
}

int vhu_frontend_close_crypto_session(vhu_frontend *f, uint64_t session_id)
{
    return req_set_u64(f, VHU_REQ_CLOSE_CRYPTO_SESSION, session_id);
}

int vhu_frontend_postcopy_advise(vhu_frontend *f, int *uffd)
{
    vhu_msg r;
    if (!uffd)
        return -EINVAL;
    *uffd = -1;
    int rc = req_payload(f, VHU_REQ_POSTCOPY_ADVISE, NULL, 0, -1, &r);
    if (rc == 0)
        *uffd = vhu_msg_take_fd(&r, 0);
    return rc;
}

int vhu_frontend_postcopy_listen(vhu_frontend *f)
{
    int rc = req_noarg(f, VHU_REQ_POSTCOPY_LISTEN, -1);
    if (rc == 0)
        f->ctx.postcopy_listening = true;
    return rc;
}

int vhu_frontend_postcopy_end(vhu_frontend *f, uint64_t *status)
{
    int rc = req_get_u64(f, VHU_REQ_POSTCOPY_END, status);
    if (rc == 0)
        f->ctx.postcopy_listening = false;
    return rc;
}

int vhu_frontend_get_inflight_fd(vhu_frontend *f, uint16_t num_queues, uint16_t queue_size, vhu_inflight *out, int *fd)
{
    vhu_msg r;
    if (!out || !fd)
        return -EINVAL;
    *fd = -1;
    vhu_inflight in = {.num_queues = num_queues, .queue_size = queue_size};
    int rc = req_payload(f, VHU_REQ_GET_INFLIGHT_FD, &in, sizeof(in), -1, &r);
    if (rc < 0)
        return rc;
    memset(out, 0, sizeof(*out));
    memcpy(out, &r.payload.inflight, r.hdr.size);
    *fd = vhu_msg_take_fd(&r, 0);
    return 0;
}

int vhu_frontend_set_inflight_fd(vhu_frontend *f, const vhu_inflight *inflight, int fd)
{
    if (!inflight || fd < 0)
        return -EINVAL;
    vhu_inflight in = *inflight;
    in.padding = 0;
    return req_payload(f, VHU_REQ_SET_INFLIGHT_FD, &in, sizeof(in), fd, NULL);
}

int vhu_frontend_gpu_set_socket(vhu_frontend *f, int fd)
{
    if (fd < 0)
        return -EINVAL;
    return req_noarg(f, VHU_REQ_GPU_SET_SOCKET, fd);
}

int vhu_frontend_reset_device(vhu_frontend *f) { return req_noarg(f, VHU_REQ_RESET_DEVICE, -1); }

int vhu_frontend_set_status(vhu_frontend *f, uint8_t status) { return req_set_u64(f, VHU_REQ_SET_STATUS, status); }

int vhu_frontend_get_status(vhu_frontend *f, uint8_t *status)
{
    uint64_t v = 0;
    if (!status)
        return -EINVAL;
    int rc = req_get_u64(f, VHU_REQ_GET_STATUS, &v);
    if (rc < 0)
        return rc;
    if (v > 0xff) {
        cvmm_logf(f->log, CVMM_LOG_WARN, "%s: GET_STATUS reply 0x%llx is wider than 8 bits", f->name,
                  (unsigned long long)v);
        return -EBADMSG;
    }
    *status = (uint8_t)v;
    return 0;
}

int vhu_frontend_get_shared_object(vhu_frontend *f, const vhu_shared_object *obj, int *fd)
{
    vhu_msg r;
    if (!obj || !fd)
        return -EINVAL;
    *fd = -1;
    int rc = req_payload(f, VHU_REQ_GET_SHARED_OBJECT, obj, sizeof(*obj), -1, &r);
    if (rc < 0)
        return rc;
    *fd = vhu_msg_take_fd(&r, 0);
    return *fd >= 0 ? 0 : -ENOENT;
}

int vhu_frontend_set_device_state_fd(vhu_frontend *f, uint32_t direction, uint32_t phase, int fd, int *backend_fd)
{
    vhu_msg r;
    if (fd < 0 || !backend_fd)
        return -EINVAL;
    *backend_fd = -1;
    vhu_device_state s = {direction, phase};
    int rc = req_payload(f, VHU_REQ_SET_DEVICE_STATE_FD, &s, sizeof(s), fd, &r);
    if (rc < 0)
        return rc;
    if (r.payload.u64 & VHU_DEVICE_STATE_STATUS_MASK)
        return -EREMOTEIO; /* validated: no fd with an error */
    *backend_fd = vhu_msg_take_fd(&r, 0);
    return 0;
}

int vhu_frontend_check_device_state(vhu_frontend *f)
{
    uint64_t v = 0;
    int rc = req_get_u64(f, VHU_REQ_CHECK_DEVICE_STATE, &v);
    if (rc < 0)
        return rc;
    return v ? -EREMOTEIO : 0;
}

int vhu_frontend_get_shmem_config(vhu_frontend *f, vhu_shmem_config *out)
{
    vhu_msg m, r;
    if (!out)
        return -EINVAL;
    vhu_msg_init(&m, VHU_REQ_GET_SHMEM_CONFIG, 0);
    int rc = vhu_frontend_request(f, &m, &r);
    if (rc < 0)
        return rc;
    /* Spec: "The shared information will remain valid and unchanged for the entire lifetime of the
     * connection."  A back-end that changes it is refused; we keep the first answer. */
    pthread_mutex_lock(&f->shmem_lock);
    if (f->have_shmem && memcmp(&f->shmem, &r.payload.shmem, sizeof(f->shmem)) != 0) {
        pthread_mutex_unlock(&f->shmem_lock);
        cvmm_logf(f->log, CVMM_LOG_WARN, "%s: GET_SHMEM_CONFIG answer changed during the connection", f->name);
        return -EPROTO;
    }
    memcpy(&f->shmem, &r.payload.shmem, sizeof(f->shmem));
    f->have_shmem = true;
    pthread_mutex_unlock(&f->shmem_lock);
    memcpy(out, &r.payload.shmem, sizeof(*out));
    return 0;
}
