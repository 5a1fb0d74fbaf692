/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* frontend_channel.c - the front-end's side of the back-end channel: SET_BACKEND_REQ_FD and serving the
 * back-end's requests (cvmm/vhu/frontend.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>

#include "cvmm/fd.h"
#include "cvmm/log.h"
#include "cvmm/vhu/conn.h"
#include "cvmm/vhu/frontend.h"
#include "internal.h"

/* ------------------------------------------------------------------------------------------------------ */
/* Back-end channel                                                                                        */

int vhu_frontend_set_backend_req_fd(vhu_frontend *f, const vhu_frontend_backend_ops *ops, void *ctx)
{
    if (!ops)
        return -EINVAL;
    if (f->bconn)
        return -EBUSY;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    int fl = fcntl(sv[0], F_GETFL);
    if (fl < 0 || fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) < 0) {
        int err = -errno;
        cvmm_close(&sv[0]);
        cvmm_close(&sv[1]);
        return err;
    }
    vhu_msg m;
    vhu_msg_init(&m, VHU_REQ_SET_BACKEND_REQ_FD, 0);
    (void)vhu_msg_add_fd(&m, sv[1]);
    int rc = vhu_frontend_request(f, &m, NULL);
    cvmm_close(&sv[1]); /* the back-end has its duplicate (or the request failed) */
    if (rc < 0) {
        cvmm_close(&sv[0]);
        return rc;
    }
    char name[64];
    snprintf(name, sizeof(name), "%.31s-backend-channel", f->name);
    vhu_conn_config cc = {.log = f->log, .name = name, .timeout_ms = f->timeout_ms};
    rc = vhu_conn_new(&cc, sv[0], &f->bconn);
    if (rc < 0)
        return rc;
    f->ops = ops;
    f->ops_ctx = ctx;
    f->bctx = f->ctx;
    f->bctx.shmem = NULL;
    return 0;
}

int vhu_frontend_backend_fd(const vhu_frontend *f) { return f->bconn ? vhu_conn_fd(f->bconn) : -1; }

static int backend_answer(vhu_frontend *f, const vhu_msg *req, uint64_t v, int fd)
{
    vhu_msg r;
    vhu_msg_build_u64(&r, req->hdr.request, VHU_FLAG_REPLY, v);
    if (fd >= 0)
        (void)vhu_msg_add_fd(&r, fd);
    return vhu_conn_send(f->bconn, &r);
}

static uint64_t status_of(int rc) { return rc < 0 ? (uint64_t)-rc : (uint64_t)rc; }

static int dispatch(vhu_frontend *f, vhu_msg *m, int *out_fd)
{
    const vhu_frontend_backend_ops *o = f->ops;
    void *c = f->ops_ctx;
    const vhu_payload *p = &m->payload;
    switch ((enum vhu_backend_req)m->hdr.request) {
    case VHU_BACKEND_REQ_IOTLB_MSG: return o->iotlb_msg ? o->iotlb_msg(c, &p->iotlb) : -ENOTSUP;
    case VHU_BACKEND_REQ_CONFIG_CHANGE_MSG: return o->config_change ? o->config_change(c) : -ENOTSUP;
    case VHU_BACKEND_REQ_VRING_HOST_NOTIFIER_MSG:
        return o->vring_host_notifier ? o->vring_host_notifier(c, &p->area, &m->fds[0]) : -ENOTSUP;
    case VHU_BACKEND_REQ_VRING_CALL: return o->vring_call ? o->vring_call(c, p->state.index) : -ENOTSUP;
    case VHU_BACKEND_REQ_VRING_ERR: return o->vring_err ? o->vring_err(c, p->state.index) : -ENOTSUP;
    case VHU_BACKEND_REQ_SHARED_OBJECT_ADD:
        return o->shared_object_add ? o->shared_object_add(c, &p->object) : -ENOTSUP;
    case VHU_BACKEND_REQ_SHARED_OBJECT_REMOVE:
        return o->shared_object_remove ? o->shared_object_remove(c, &p->object) : -ENOTSUP;
    case VHU_BACKEND_REQ_SHARED_OBJECT_LOOKUP:
        return o->shared_object_lookup ? o->shared_object_lookup(c, &p->object, out_fd) : -ENOTSUP;
    case VHU_BACKEND_REQ_SHMEM_MAP: return o->shmem_map ? o->shmem_map(c, &p->mmap, &m->fds[0]) : -ENOTSUP;
    case VHU_BACKEND_REQ_SHMEM_UNMAP: return o->shmem_unmap ? o->shmem_unmap(c, &p->mmap) : -ENOTSUP;
    default: return -ENOTSUP; /* not reached: the validator knows the same ids */
    }
}

int vhu_frontend_backend_serve(vhu_frontend *f, int timeout_ms)
{
    if (!f->bconn)
        return -ENOTCONN;
    vhu_msg m;
    int rc = timeout_ms == 0 ? vhu_conn_recv(f->bconn, &m) : vhu_conn_recv_wait(f->bconn, &m, timeout_ms);
    if (rc < 0 && rc != -EBADF)
        return rc;
    pthread_mutex_lock(&f->shmem_lock);
    if (f->have_shmem)
        memcpy(&f->bshmem, &f->shmem, sizeof(f->bshmem));
    f->bctx.shmem = f->have_shmem ? &f->bshmem : NULL;
    pthread_mutex_unlock(&f->shmem_lock);
    if (rc == 0)
        rc = vhu_validate_backend_req(&m, &f->bctx);
    enum vhu_owed owed = vhu_backend_req_owed(&m, &f->bctx);
    if (rc < 0) {
        vhu_msg_close_fds(&m);
        if (owed != VHU_OWED_NOTHING)
            (void)backend_answer(f, &m, status_of(rc), -1);
        return rc;
    }
    int out_fd = -1;
    int res = dispatch(f, &m, &out_fd);
    vhu_msg_close_fds(&m);
    if (owed == VHU_OWED_REPLY) { /* SHARED_OBJECT_LOOKUP: fd and 0, or no fd and non-zero */
        if (res == 0 && out_fd < 0)
            res = -EIO;
        rc = backend_answer(f, &m, status_of(res), res == 0 ? out_fd : -1);
    } else if (owed == VHU_OWED_ACK) {
        rc = backend_answer(f, &m, status_of(res), -1);
    }
    cvmm_close(&out_fd);
    return rc < 0 ? rc : 0;
}
