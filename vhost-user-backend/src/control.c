/* SPDX-License-Identifier: Apache-2.0 OR BSD-3-Clause */
/* The protocol state machine: one handler per front-end message, all on the control thread.
 *
 * The endpoint (vhu_backend_recv()) has validated every message against the table before it gets here:
 * payload size, fd count, gating protocol feature, vring index < num_queues, field values.  A handler
 * returns 0 or -errno; dispatch() turns that into a REPLY_ACK when one is owed.  Handlers of messages
 * with an explicit reply send it themselves, on every path (an error form where the spec has one).
 *
 * Rings: the vq_queue of a ring belongs to its worker thread, so every change to it runs there through
 * vub__worker_call() (the control thread waits).  Ring states follow the spec's "Ring states": started by
 * SET_VRING_KICK (or in-band VRING_KICK), stopped by GET_VRING_BASE, enabled/disabled on its own by
 * SET_VRING_ENABLE (accepted at any time, also before SET_FEATURES), all enabled by a SET_FEATURES
 * without VHOST_USER_F_PROTOCOL_FEATURES. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cvmm/checked.h"
#include "cvmm/fd.h"
#include "cvmm/vhu/backend.h"
#include "cvmm/vmem/region.h"
#include "cvmm/vq/split.h"
#include "cvmm/vq/state.h"
#include "fdcheck.h"
#include "internal.h"

/* Protocol features the library always implements. */
#define PROTO_ALWAYS                                                                                                   \
    (PBIT(MQ) | PBIT(LOG_SHMFD) | PBIT(REPLY_ACK) | PBIT(BACKEND_REQ) | PBIT(BACKEND_SEND_FD) | PBIT(RESET_DEVICE) |   \
     PBIT(CONFIGURE_MEM_SLOTS) | PBIT(STATUS) | PBIT(GPA_ADDRESSES))

int vub__reply(vub_daemon *d, const vhu_msg *m, const void *p, uint32_t size, const int *fds, uint32_t nfds)
{
    int rc = vhu_backend_reply(d->ctl->conn, m, p, size, fds, nfds);
    if (rc < 0 && rc != -EINVAL)
        d->ctl->conn_dead = true;
    return rc;
}

int vub__reply_u64(vub_daemon *d, const vhu_msg *m, uint64_t v) { return vub__reply(d, m, &v, sizeof(v), NULL, 0); }

/* ---- features ---- */

struct features_call {
    enum vq_layout layout;
    bool event_idx;
    bool enable_all;
    int rc;
};

static void w_features(vub__worker *w, void *arg)
{
    struct features_call *fc = arg;
    for (unsigned i = 0; i < w->nqueues; i++) {
        vub_queue *q = w->queues[i];
        int rc = 0;
        /* A running ring keeps its layout: SET_FEATURES while rings run (LOG_ALL for migration) is fine as
         * long as the ring features stay the same. */
        if (vq_queue_layout(q->vq) != fc->layout || vq_queue_event_idx(q->vq) != fc->event_idx)
            rc = vq_queue_set_features(q->vq, fc->layout, fc->event_idx);
        if (rc < 0) {
            cvmm_logf(q->d->log, CVMM_LOG_WARN, "%s: vq%u: cannot change ring features: %s", q->d->name, q->index,
                      strerror(-rc));
            if (fc->rc == 0)
                fc->rc = rc;
        }
        if (fc->enable_all && !q->enabled) {
            q->enabled = true;
            vq_queue_set_enabled(q->vq, true);
            (void)vub__dev_queue_enabled(q->d, q, true);
        }
    }
}

static int h_set_features(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    uint64_t f = m->payload.u64;
    if (f & ~c->offered) {
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: SET_FEATURES 0x%llx has bits we did not offer (0x%llx)", d->name,
                  (unsigned long long)f, (unsigned long long)(f & ~c->offered));
        return -EINVAL;
    }
    /* A running ring keeps its layout and event idx: a set that changes them while one runs is refused
     * before anything (our features, the device's) changes.  LOG_ALL and the rest may change (migration). */
    const uint64_t ring_bits = (1ull << VUB_F_RING_PACKED) | (1ull << VUB_F_RING_EVENT_IDX);
    int started = ((f ^ c->features) & ring_bits) ? vub__first_started_ring(d) : -1;
    if (started >= 0) {
        cvmm_logf(d->log, CVMM_LOG_WARN,
                  "%s: SET_FEATURES 0x%llx changes the ring layout or event idx while "
                  "ring %d is started",
                  d->name, (unsigned long long)f, started);
        return -EBUSY;
    }
    cvmm_logf(d->log, CVMM_LOG_DEBUG, "%s: features acked 0x%llx", d->name, (unsigned long long)f);
    c->features = f;
    c->features_set = true;
    atomic_store_explicit(&d->features_acked, f, memory_order_release);
    struct features_call fc = {
        .layout = (f & (1ull << VUB_F_RING_PACKED)) ? VQ_LAYOUT_PACKED : VQ_LAYOUT_SPLIT,
        .event_idx = (f & (1ull << VUB_F_RING_EVENT_IDX)) != 0,
        .enable_all = !(f & (1ull << VHU_F_PROTOCOL_FEATURES)),
    };
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], w_features, &fc);
    int rc = vub__update_log(d);
    int rc2 = vub__dev_features_acked(d, f);
    return fc.rc < 0 ? fc.rc : rc < 0 ? rc : rc2;
}

/* Protocol features across reconnects (the one thing a reconnect carries; cvmm/vub/daemon.h).
 * The spec negotiates them per connection, and QEMU with reconnect=1, libvhost-user and DPDK start every
 * connection from nothing.  QEMU 7.2's vhost-user-rng, serving a chardev in server mode, does not: it
 * reconnects (to a restarted back-end, too) and goes on with SET_VRING_CALL, SET_FEATURES, GET_STATUS
 * (with NEED_REPLY) still believing in the previous connection's set.  So:
 *  - carried set: the protocol features in effect when the last connection that delivered a whole message
 *    ended (prev_proto, prev_valid).  A connection that delivered none (closed at once, a partial or bad
 *    header, EOF inside its first message) leaves it as it was.  Before any such connection (a new process):
 *    everything we offer except the two that change the meaning of messages, GPA_ADDRESSES and
 *    INBAND_NOTIFICATIONS, and SHMEM, newer than QEMU 7.2; the others only allow messages.
 *  - a new connection starts with the carried set; its first whole message decides, and only that message
 *    (never a stale buffer): GET_FEATURES, GET_PROTOCOL_FEATURES, SET_OWNER, RESET_OWNER start a
 *    negotiation and drop the set to 0 (every fresh front-end, QEMU's blk and net after a reconnect
 *    included); SET_PROTOCOL_FEATURES replaces it; anything else goes on with it.
 * A set negotiated as 0 is carried as 0 (prev_valid tells it from "none yet").
 * Quirk VUB_QUIRK_QEMU72_RNG_PROTO_CARRY (cvmm/vub/quirks.h). */
#define PROTO_ASSUMED_MASK (~(PBIT(GPA_ADDRESSES) | PBIT(INBAND_NOTIFICATIONS) | PBIT(SHMEM)))

static void set_proto(vub_daemon *d, uint64_t p)
{
    struct vub__ctl *c = d->ctl;
    c->proto = p;
    atomic_store_explicit(&d->proto_acked, p, memory_order_release);
    bool inband = (p & PBIT(INBAND_NOTIFICATIONS)) != 0;
    for (unsigned i = 0; i < d->nworkers; i++)
        vub__worker_call(&d->workers[i], vub__w_set_inband, &inband);
}

static int h_set_protocol_features(vub_daemon *d, vhu_msg *m)
{
    set_proto(d, m->payload.u64); /* the endpoint refused bits we did not offer */
    d->ctl->inherited = false;
    return 0;
}

/* ---- config space, shmem, status ---- */

static int h_get_config(vub_daemon *d, vhu_msg *m)
{
    const vhu_config *in = &m->payload.config;
    vhu_config *out = malloc(sizeof(*out));
    if (!out) {
        (void)vub__reply(d, m, NULL, 0, NULL, 0); /* empty payload: the spec's error form */
        return -ENOMEM;
    }
    out->offset = in->offset;
    out->size = in->size;
    out->flags = in->flags;
    int rc = vub__dev_get_config(d, in->offset, out->data, in->size);
    if (rc == 0)
        (void)vub__reply(d, m, out, VHU_CONFIG_HDR_SIZE + in->size, NULL, 0);
    else
        (void)vub__reply(d, m, NULL, 0, NULL, 0);
    free(out);
    return rc;
}

static int h_set_config(vub_daemon *d, vhu_msg *m)
{
    const vhu_config *in = &m->payload.config;
    return vub__dev_set_config(d, in->offset, in->data, in->size, in->flags);
}

/* The device's shmem config, asked once per connection (fixed for the connection, as the spec says). */
static const vhu_shmem_config *shmem_config(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    if (!c->shmem_cached) {
        (void)vub__dev_get_shmem_config(d, &c->shmem); /* zeroed on failure */
        c->shmem_cached = true;
        vub__backend_set_shmem(&d->backend, &c->shmem);
    }
    return &c->shmem;
}

static int h_get_shmem_config(vub_daemon *d, vhu_msg *m)
{
    vhu_shmem_config *zero = NULL;
    const vhu_shmem_config *cfg;
    if (vub__dev_has_shmem(d)) {
        cfg = shmem_config(d);
    } else {
        cvmm_logf(d->log, CVMM_LOG_INFO, "%s: GET_SHMEM_CONFIG: the device has no shared memory, replying zeroed",
                  d->name);
        zero = calloc(1, sizeof(*zero));
        if (!zero)
            return -ENOMEM;
        cfg = zero;
    }
    int rc = vub__reply(d, m, cfg, sizeof(*cfg), NULL, 0);
    free(zero);
    return rc;
}

/* GET_SHMEM_CONFIG the endpoint refused because F_SHMEM was not negotiated: a zeroed config, as the
 * issue asks (a front-end that sends it anyway must not wait forever).  vhu_backend_reply() accepts exactly
 * this reply without the feature (cvmm/vhu/backend.h).  Quirk VUB_QUIRK_SHMEM_CONFIG_NO_F_SHMEM. */
static void reply_zero_shmem(vub_daemon *d, vhu_msg *m)
{
    cvmm_logf(d->log, CVMM_LOG_WARN,
              "%s: GET_SHMEM_CONFIG without VHOST_USER_PROTOCOL_F_SHMEM negotiated, "
              "replying zeroed",
              d->name);
    vhu_shmem_config *zero = calloc(1, sizeof(*zero));
    if (!zero) {
        d->ctl->conn_dead = true; /* no answer possible: close, so the front-end does not wait */
        return;
    }
    if (vub__reply(d, m, zero, sizeof(*zero), NULL, 0) < 0)
        d->ctl->conn_dead = true; /* -EINVAL cannot happen for this reply; anything else broke the socket */
    free(zero);
}

/* The device's op sees every value; GET_STATUS answers what it accepted (the endpoint checked 8 bits). */
static int h_set_status(vub_daemon *d, vhu_msg *m)
{
    uint8_t accepted;
    int rc = vub__dev_set_status(d, (uint8_t)d->ctl->status, (uint8_t)m->payload.u64, &accepted);
    d->ctl->status = accepted;
    return rc;
}

/* ---- dispatch ---- */

void vub__ctl_inherit(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    c->first_seen = false;
    c->inherited = false;
    uint64_t p = (c->prev_valid ? c->prev_proto : c->offered_proto & PROTO_ASSUMED_MASK) & c->offered_proto;
    vhu_backend_set_protocol_features(c->conn, p);
    set_proto(d, p);
    c->inherited = true;
}

static void first_message(vub_daemon *d, const vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    if (c->first_seen)
        return;
    c->first_seen = true;
    switch (m->hdr.request) {
    case VHU_REQ_SET_PROTOCOL_FEATURES: /* the endpoint took the new set already; the handler does the rest */
        c->inherited = false;
        break;
    case VHU_REQ_GET_FEATURES:
    case VHU_REQ_SET_OWNER:
    case VHU_REQ_RESET_OWNER:
    case VHU_REQ_GET_PROTOCOL_FEATURES:
        if (c->inherited) {
            vhu_backend_set_protocol_features(c->conn, 0);
            set_proto(d, 0);
            c->inherited = false;
        }
        break;
    default:
        if (c->inherited)
            cvmm_logf(d->log, CVMM_LOG_INFO,
                      "%s: the front-end goes on without negotiating: assuming the "
                      "protocol features of a previous connection (0x%llx)",
                      d->name, (unsigned long long)c->proto);
        break;
    }
}

void vub__ctl_dispatch(vub_daemon *d, vhu_msg *m)
{
    struct vub__ctl *c = d->ctl;
    int rc = 0;
    first_message(d, m);
    cvmm_logf(d->log, CVMM_LOG_DEBUG, "%s: %s size %u fds %u", d->name, vhu_req_name(m->hdr.request), m->hdr.size,
              m->nfds);
    if (m->nfds && !vub__msg_fds_ok(d, m)) /* wrong kind of fd: refused and answered (fdcheck.c) */
        return;
    switch (m->hdr.request) {
    case VHU_REQ_GET_FEATURES: (void)vub__reply_u64(d, m, c->offered); return;
    case VHU_REQ_SET_FEATURES: rc = h_set_features(d, m); break;
    case VHU_REQ_GET_PROTOCOL_FEATURES: (void)vub__reply_u64(d, m, c->offered_proto); return;
    case VHU_REQ_SET_PROTOCOL_FEATURES: rc = h_set_protocol_features(d, m); break;
    case VHU_REQ_SET_OWNER: c->owner = true; break;
    case VHU_REQ_RESET_OWNER: /* deprecated: the spec recommends disabling every ring */
        for (unsigned i = 0; i < d->nworkers; i++)
            vub__worker_call(&d->workers[i], vub__w_disable_all, NULL);
        break;
    case VHU_REQ_SET_MEM_TABLE: rc = vub__h_set_mem_table(d, m); break;
    case VHU_REQ_ADD_MEM_REG: rc = vub__h_add_mem_reg(d, m); break;
    case VHU_REQ_REM_MEM_REG: rc = vub__h_rem_mem_reg(d, m); break;
    case VHU_REQ_GET_MAX_MEM_SLOTS: (void)vub__reply_u64(d, m, VMEM_MAX_REGIONS); return;
    case VHU_REQ_SET_LOG_BASE: rc = vub__h_set_log_base(d, m); break;
    case VHU_REQ_SET_LOG_FD: rc = vub__h_set_log_fd(d, m); break;
    case VHU_REQ_SET_VRING_NUM: rc = vub__h_set_vring_num(d, m); break;
    case VHU_REQ_SET_VRING_ADDR: rc = vub__h_set_vring_addr(d, m); break;
    case VHU_REQ_SET_VRING_BASE: rc = vub__h_set_vring_base(d, m); break;
    case VHU_REQ_GET_VRING_BASE: (void)vub__h_get_vring_base(d, m); return;
    case VHU_REQ_SET_VRING_KICK: rc = vub__h_set_vring_kick(d, m); break;
    case VHU_REQ_SET_VRING_CALL: rc = vub__h_set_vring_fd(d, m, vub__w_set_call); break;
    case VHU_REQ_SET_VRING_ERR: rc = vub__h_set_vring_fd(d, m, vub__w_set_err); break;
    case VHU_REQ_GET_QUEUE_NUM: (void)vub__reply_u64(d, m, d->nqueues); return;
    case VHU_REQ_SET_VRING_ENABLE: rc = vub__h_set_vring_enable(d, m); break;
    case VHU_REQ_VRING_KICK: rc = vub__h_vring_kick(d, m); break;
    case VHU_REQ_SET_BACKEND_REQ_FD: vub__backend_set(&d->backend, vhu_msg_take_fd(m, 0), c->proto); break;
    case VHU_REQ_GET_CONFIG: (void)h_get_config(d, m); return;
    case VHU_REQ_SET_CONFIG: rc = h_set_config(d, m); break;
    case VHU_REQ_SET_STATUS: rc = h_set_status(d, m); break;
    case VHU_REQ_GET_STATUS: (void)vub__reply_u64(d, m, c->status); return;
    case VHU_REQ_RESET_DEVICE: rc = vub__h_reset_device(d); break;
    case VHU_REQ_GET_SHMEM_CONFIG: (void)h_get_shmem_config(d, m); return;
    case VHU_REQ_GET_INFLIGHT_FD: (void)vub__h_get_inflight_fd(d, m); return;
    case VHU_REQ_SET_INFLIGHT_FD: rc = vub__h_set_inflight_fd(d, m); break;
    case VHU_REQ_SET_DEVICE_STATE_FD: (void)vub__h_set_device_state_fd(d, m); return;
    case VHU_REQ_CHECK_DEVICE_STATE: (void)vub__h_check_device_state(d, m); return;
    case VHU_REQ_GET_SHARED_OBJECT: /* we export no dma-bufs: the answer without an fd is "not found" */
        cvmm_logf(d->log, CVMM_LOG_INFO, "%s: GET_SHARED_OBJECT: no exported object", d->name);
        (void)vub__reply(d, m, NULL, 0, NULL, 0);
        return;
    case VHU_REQ_IOTLB_MSG: /* VIRTIO_F_ACCESS_PLATFORM is never offered: no IOTLB */
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: IOTLB_MSG without an IOMMU", d->name);
        (void)vub__reply_u64(d, m, 1);
        return;
    default:
        /* Messages whose gating feature we never offer cannot get here (the endpoint refuses them);
         * the rest (GPU_SET_SOCKET, ...) are not for a generic device. */
        cvmm_logf(d->log, CVMM_LOG_WARN, "%s: %s not supported", d->name, vhu_req_name(m->hdr.request));
        rc = -ENOTSUP;
        if (vhu_req_owed(m, vhu_backend_ctx(c->conn)) == VHU_OWED_REPLY) {
            (void)vub__reply_u64(d, m, 1); /* every remaining explicit reply is a u64 status */
            return;
        }
        break;
    }
    if (vhu_backend_ack(c->conn, m, rc) < 0)
        c->conn_dead = true;
}

bool vub__ctl_rejected(vub_daemon *d, vhu_msg *m, int rc)
{
    struct vub__ctl *c = d->ctl;
    first_message(d, m);
    if (rc == -EPROTO && m->hdr.request == VHU_REQ_GET_SHMEM_CONFIG && !(m->hdr.flags & VHU_FLAG_REPLY) &&
        !(c->proto & PBIT(SHMEM))) {
        reply_zero_shmem(d, m);
        return !c->conn_dead;
    }
    /* The endpoint answered what has an error form; a request that owes an explicit reply without one
     * (e.g. GET_VRING_BASE of a queue we do not have) cannot be answered: close, so the front-end does not
     * wait forever. */
    if (m->hdr.request != VHU_REQ_GET_CONFIG && vhu_req_owed(m, vhu_backend_ctx(c->conn)) == VHU_OWED_REPLY)
        return false;
    if (rc == -EPROTO && m->hdr.request == VHU_REQ_SET_PROTOCOL_FEATURES)
        return false; /* bits we did not offer, or in-band without its companions: the spec says close */
    return true;
}

void vub__ctl_connected(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    c->offered = d->info->features | (1ull << VHU_F_PROTOCOL_FEATURES) | (1ull << VHU_F_LOG_ALL);
    c->offered &= ~(1ull << VUB_F_ACCESS_PLATFORM); /* no IOTLB */
    c->offered_proto = PROTO_ALWAYS | (d->info->protocol_features & VUB_PROTOCOL_OPTIONAL);
    if (d->info->track_inflight)
        c->offered_proto |= PBIT(INFLIGHT_SHMFD);
    if (vub__dev_has_config(d))
        c->offered_proto |= PBIT(CONFIG);
    if (vub__dev_has_shmem(d))
        c->offered_proto |= PBIT(SHMEM);
    if (vub__dev_has_state(d))
        c->offered_proto |= PBIT(DEVICE_STATE);
    c->offered_proto &= ~d->info->protocol_features_off;
    c->features = 0;
    c->features_set = false;
    atomic_store_explicit(&d->features_acked, 0, memory_order_release);
    c->proto = 0;
    atomic_store_explicit(&d->proto_acked, 0, memory_order_release);
    c->owner = false;
    c->status = 0;
    c->shmem_cached = false;
}

void vub__ctl_disconnected(vub_daemon *d)
{
    struct vub__ctl *c = d->ctl;
    if (c->first_seen) { /* see "Protocol features across reconnects" */
        c->prev_proto = c->proto;
        c->prev_valid = true;
    }
    vub__backend_set(&d->backend, -1, 0);
    vub__ctl_reset(d);
    if (c->xfer_running)
        (void)vub__xfer_join(d, 1000, true);
    vmem_map *empty;
    vub__mem_forget_dups(d);
    if (vmem_map_new(NULL, 0, NULL, d->log, &empty) == 0)
        (void)vub__publish(d, empty);
    vmem_log_unref(c->dlog);
    c->dlog = NULL;
    cvmm_close(&c->log_fd);
    (void)vub__set_log_call(d, -1); /* and the workers' copies */
    vub__inflight_unmap(d);
    c->features = 0;
    atomic_store_explicit(&d->features_acked, 0, memory_order_release);
    c->proto = 0;
    atomic_store_explicit(&d->proto_acked, 0, memory_order_release);
    c->shmem_cached = false;
    vub__backend_set_shmem(&d->backend, NULL);
}
